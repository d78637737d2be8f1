/* test_relay.c - relay.c reading a guest's answer (protocol 2): records of
 * the job's id are kept, records of other ids (stale output of an earlier
 * step, answers of file operations) are ignored, DISPLAY bundles are kept
 * within the output cap, and malformed records are a protocol error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relay.h"

struct fixture {
	struct relay r;
	struct sandbox_result res;
	struct limits lim;
	struct sandbox_hooks hooks;
	int calls;
	int stop_after;
};

static int on_output(void *ctx, int stage, int stream, const uint8_t *p,
		     size_t n)
{
	struct fixture *f = ctx;

	(void)stage;
	(void)stream;
	(void)p;
	(void)n;
	f->calls++;
	return f->stop_after && f->calls >= f->stop_after;
}

static struct fixture *fx(uint32_t id)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->lim.output_bytes = 100;
	f->hooks.ctx = f;
	f->hooks.on_output = on_output;
	f->r.hooks = &f->hooks;
	f->r.res = &f->res;
	f->r.lim = &f->lim;
	f->r.job_id = id;
	return f;
}

static void fx_free(struct fixture *f)
{
	wire_dec_free(&f->r.dec);
	buf_free(&f->r.guest_log);
	buf_free(&f->res.compile.out);
	buf_free(&f->res.compile.err);
	buf_free(&f->res.run.out);
	buf_free(&f->res.run.err);
	buf_free(&f->res.display);
	free(f);
}

/* Feed the encoded stream as the guest's stdout, in pieces of 3 bytes. */
static int feed(struct fixture *f, const struct wire_buf *b)
{
	size_t off;
	int rc = 0;

	for (off = 0; off < b->len && rc == 0; off += 3) {
		size_t n = b->len - off < 3 ? b->len - off : 3;

		rc = relay_on_mux(&f->r, 1, b->p + off, n);
	}
	return rc;
}

static void put_result(struct wire_buf *b, uint32_t id, uint8_t stage,
		       int exit_code)
{
	struct wire_buf kv = {0};

	wire_raw_add(&kv, &stage, 1);
	wire_kv_add(&kv, WIRE_RES_EXIT, exit_code);
	wire_kv_add(&kv, WIRE_RES_DURATION, 42);
	wire_put_id(b, WIRE_RESULT, id, kv.p, kv.len, NULL, 0);
	wire_buf_free(&kv);
}

static void test_own_id_kept_stale_ignored(void **state)
{
	struct fixture *f = fx(7);
	struct wire_buf b = {0};

	(void)state;
	wire_put(&b, WIRE_READY, "isobox-guest 2", 14);
	/* An earlier step's output, result and DONE: not this job's. */
	wire_put_out(&b, 6, WIRE_STAGE_RUN, 1, "stale", 5);
	put_result(&b, 6, WIRE_STAGE_RUN, 9);
	wire_put_id(&b, WIRE_DONE, 6, NULL, 0, NULL, 0);
	/* A file operation's answer of another id. */
	wire_put_id(&b, WIRE_FDATA, 99, "zz", 2, NULL, 0);
	wire_put_id(&b, WIRE_FSTAT, 99, "x", 1, NULL, 0);
	wire_put(&b, WIRE_SYNCED, "0123456789abcdef", 16);
	wire_put_out(&b, 7, WIRE_STAGE_RUN, 1, "mine", 4);
	wire_put_out(&b, 7, WIRE_STAGE_RUN, 2, "err", 3);
	put_result(&b, 7, WIRE_STAGE_RUN, 3);
	assert_int_equal(feed(f, &b), 0);
	assert_false(f->r.done);
	assert_false(f->r.protocol);
	assert_int_equal(f->res.run.out.len, 4);
	assert_memory_equal(f->res.run.out.p, "mine", 4);
	assert_int_equal(f->res.run.err.len, 3);
	assert_int_equal(f->res.run.exit_code, 3);
	assert_int_equal(f->res.run.duration_ms, 42);
	assert_int_equal(f->calls, 2);
	b.len = 0;
	wire_put_id(&b, WIRE_DONE, 7, NULL, 0, NULL, 0);
	assert_int_equal(feed(f, &b), 0);
	assert_true(f->r.done);
	wire_buf_free(&b);
	fx_free(f);
}

static void test_fail_sentence(void **state)
{
	struct fixture *f = fx(1);
	struct wire_buf b = {0};

	(void)state;
	wire_put_fail(&b, 2, WIRE_ERR_BAD_JOB, "not mine");
	wire_put_fail(&b, 1, WIRE_ERR_BAD_JOB, "the job has no RUN record");
	assert_int_equal(feed(f, &b), 0);
	assert_true(f->r.failed);
	assert_string_equal(f->r.fail, "the job has no RUN record");
	wire_buf_free(&b);
	fx_free(f);
}

static void test_display_kept_and_capped(void **state)
{
	struct fixture *f = fx(3);
	struct wire_buf b = {0};
	const char *bundle = "{\"text/plain\":\"42\"}";
	size_t off = 0;
	const uint8_t *p;
	size_t n;
	int kind;
	char big[80];

	(void)state;
	wire_put_id(&b, WIRE_DISPLAY, 3, "m", 1, bundle, strlen(bundle));
	wire_put_id(&b, WIRE_DISPLAY, 4, "d", 1, "stale", 5);
	wire_put_id(&b, WIRE_DISPLAY, 3, "e", 1, NULL, 0);
	assert_int_equal(feed(f, &b), 0);
	assert_int_equal(f->res.ndisplay, 2);
	assert_int_equal(relay_display_next(&f->res, &off, &kind, &p, &n), 1);
	assert_int_equal(kind, WIRE_DISPLAY_RESULT);
	assert_int_equal(n, strlen(bundle));
	assert_memory_equal(p, bundle, n);
	assert_int_equal(relay_display_next(&f->res, &off, &kind, &p, &n), 1);
	assert_int_equal(kind, WIRE_DISPLAY_ERROR);
	assert_int_equal(n, 0);
	assert_int_equal(relay_display_next(&f->res, &off, &kind, &p, &n), 0);
	assert_false(f->res.run.truncated);
	/* Past the output cap (100 bytes, shared with stdout/stderr): the
	 * bundle is dropped whole and the run is marked truncated. */
	memset(big, 'x', sizeof(big));
	b.len = 0;
	wire_put_id(&b, WIRE_DISPLAY, 3, "d", 1, big, sizeof(big));
	assert_int_equal(feed(f, &b), 0);
	assert_int_equal(f->res.ndisplay, 2);
	assert_true(f->res.run.truncated);
	/* And stdout gets only what is left under the cap. */
	b.len = 0;
	wire_put_out(&b, 3, WIRE_STAGE_RUN, 1, big, sizeof(big));
	assert_int_equal(feed(f, &b), 0);
	assert_int_equal(f->res.run.out.len + f->res.display.len, 100);
	wire_buf_free(&b);
	fx_free(f);
}

static void test_output_cap_and_client_gone(void **state)
{
	struct fixture *f = fx(0);
	struct wire_buf b = {0};
	char big[150];

	(void)state;
	memset(big, 'y', sizeof(big));
	f->stop_after = 1;
	wire_put_out(&b, 0, WIRE_STAGE_COMPILE, 2, big, sizeof(big));
	assert_int_equal(feed(f, &b), 0);
	assert_int_equal(f->res.compile.err.len, 100);
	assert_true(f->res.compile.truncated);
	assert_true(f->r.gone);
	wire_buf_free(&b);
	fx_free(f);
}

/* One malformed record: a protocol error, whatever its id. */
static void expect_protocol(uint8_t type, const void *p, size_t n)
{
	struct fixture *f = fx(5);
	struct wire_buf b = {0};

	wire_put(&b, type, p, n);
	assert_int_equal(feed(f, &b), 1);
	assert_true(f->r.protocol);
	wire_buf_free(&b);
	fx_free(f);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_protocol(WIRE_OUT, "\0\0\0\5r", 5);	 /* no stream */
	expect_protocol(WIRE_OUT, "\0\0\0\5r\3x", 7);	 /* stream 3 */
	expect_protocol(WIRE_OUT, "\0\0\0\5z\1x", 7);	 /* stage z */
	expect_protocol(WIRE_RESULT, "\0\0\0\5", 4);	 /* no stage */
	expect_protocol(WIRE_DONE, "\0\0\0", 3);	 /* short id */
	expect_protocol(WIRE_OUT, "", 0);		 /* no id */
	expect_protocol(WIRE_DISPLAY, "\0\0\0\5q{}", 7); /* kind q */
	expect_protocol(WIRE_DISPLAY, "\0\0\0\5", 4);	 /* no kind */
	expect_protocol(WIRE_FDATA, "\0\0\0\5ab", 6);	 /* job's id */
	expect_protocol(WIRE_FENTRY, "\0\0\0\5ab", 6);	 /* job's id */
	expect_protocol('Z', "\0\0\0\5", 4);		 /* unknown */
	expect_protocol(WIRE_GO, "\0\0\0\5", 4);	 /* host's type */
}

static void test_oversize_is_protocol(void **state)
{
	struct fixture *f = fx(5);
	uint8_t hdr[WIRE_HDR_LEN] = {WIRE_OUT, 0x01, 0, 0, 1};

	(void)state;
	assert_int_equal(relay_on_mux(&f->r, 1, hdr, sizeof(hdr)), 1);
	assert_true(f->r.protocol);
	/* The guest's stderr is kept, bounded, not parsed. */
	assert_int_equal(relay_on_mux(&f->r, 2, (const uint8_t *)"oops", 4), 0);
	assert_int_equal(f->r.guest_log.len, 4);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_own_id_kept_stale_ignored),
	    cmocka_unit_test(test_fail_sentence),
	    cmocka_unit_test(test_display_kept_and_capped),
	    cmocka_unit_test(test_output_cap_and_client_gone),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_oversize_is_protocol),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
