/* test_chan.c - the answers of file operations as chan.c reads them
 * (FSTAT, FDATA, FENTRY, DONE with flags, FAIL with its code), records of
 * other ids ignored, malformed answers flagged, and the HTTP status of each
 * FAIL code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chan.h"

struct sink {
	uint8_t data[64];
	size_t n;
	char names[4][64];
	struct chan_stat st[4];
	size_t entries;
	int stop_at;
};

static int take(void *ctx, const uint8_t *p, size_t n)
{
	struct sink *s = ctx;

	assert_true(s->n + n <= sizeof(s->data));
	memcpy(s->data + s->n, p, n);
	s->n += n;
	return s->stop_at && (int)s->n >= s->stop_at;
}

static int entry(void *ctx, const struct chan_stat *st, const char *name)
{
	struct sink *s = ctx;

	assert_true(s->entries < 4);
	s->st[s->entries] = *st;
	strcpy(s->names[s->entries], name);
	s->entries++;
	return 0;
}

/* Feed every record of b to o. */
static void feed(struct chan_op *o, const struct wire_buf *b)
{
	struct wire_dec d = {0};
	size_t off = 0;

	while (off < b->len) {
		struct wire_rec rec;
		size_t used = 0;
		int rc =
		    wire_dec_feed(&d, b->p + off, b->len - off, &used, &rec);

		assert_true(rc >= 0);
		off += used;
		if (rc == 1) {
			chan_op_record(o, &rec);
		}
	}
	wire_dec_free(&d);
}

static void stat_bytes(uint8_t *p, uint8_t type, uint32_t mode, uint64_t size,
		       int64_t mtime)
{
	p[0] = type;
	wire_be32(p + 1, mode);
	wire_be64(p + 5, size);
	wire_be64(p + 13, (uint64_t)mtime);
}

static void test_get_answer(void **state)
{
	struct chan_op o;
	struct chan_stat st;
	struct sink s;
	struct wire_buf b = {0};
	uint8_t sb[WIRE_STAT_LEN];

	(void)state;
	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	o.id = 21;
	o.st = &st;
	o.write = take;
	o.ctx = &s;
	stat_bytes(sb, WIRE_FT_FILE, 0640, 5, -1500);
	wire_put(&b, WIRE_READY, "isobox-guest 2", 14);
	wire_put_id(&b, WIRE_FDATA, 20, "stale", 5, NULL, 0);
	wire_put_out(&b, 20, WIRE_STAGE_RUN, 1, "job", 3);
	wire_put_id(&b, WIRE_FSTAT, 21, sb, sizeof(sb), NULL, 0);
	wire_put_id(&b, WIRE_FDATA, 21, "hel", 3, NULL, 0);
	wire_put_id(&b, WIRE_FDATA, 21, "lo", 2, NULL, 0);
	wire_put_id(&b, WIRE_DONE, 21, NULL, 0, NULL, 0);
	/* After DONE nothing more is taken. */
	wire_put_id(&b, WIRE_FDATA, 21, "late", 4, NULL, 0);
	feed(&o, &b);
	assert_true(o.done);
	assert_false(o.failed);
	assert_false(o.bad);
	assert_true(o.got_stat);
	assert_int_equal(st.type, WIRE_FT_FILE);
	assert_int_equal(st.mode, 0640);
	assert_int_equal(st.size, 5);
	assert_int_equal(st.mtime_ms, -1500);
	assert_int_equal(s.n, 5);
	assert_memory_equal(s.data, "hello", 5);
	wire_buf_free(&b);
}

static void test_list_answer_and_flags(void **state)
{
	struct chan_op o;
	struct sink s;
	struct wire_buf b = {0};
	uint8_t sb[WIRE_STAT_LEN];
	uint8_t flags = WIRE_DONE_TRUNCATED;

	(void)state;
	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	o.id = 5;
	o.on_entry = entry;
	o.ctx = &s;
	stat_bytes(sb, WIRE_FT_DIR, 0755, 0, 1);
	wire_put_id(&b, WIRE_FENTRY, 5, sb, sizeof(sb), "sub", 3);
	stat_bytes(sb, WIRE_FT_SYMLINK, 0777, 11, 2);
	wire_put_id(&b, WIRE_FENTRY, 5, sb, sizeof(sb), "link", 4);
	wire_put_id(&b, WIRE_DONE, 5, &flags, 1, NULL, 0);
	feed(&o, &b);
	assert_true(o.done && !o.bad);
	assert_int_equal(o.flags, WIRE_DONE_TRUNCATED);
	assert_int_equal(s.entries, 2);
	assert_string_equal(s.names[0], "sub");
	assert_int_equal(s.st[0].type, WIRE_FT_DIR);
	assert_string_equal(s.names[1], "link");
	assert_int_equal(s.st[1].type, WIRE_FT_SYMLINK);
	assert_int_equal(s.st[1].size, 11);
	wire_buf_free(&b);
}

static void test_fail_answer(void **state)
{
	struct chan_op o;
	struct wire_buf b = {0};

	(void)state;
	memset(&o, 0, sizeof(o));
	o.id = 9;
	wire_put_fail(&b, 8, WIRE_ERR_QUOTA, "not mine");
	wire_put_fail(&b, 9, WIRE_ERR_SYMLINK, "a component is a link");
	wire_put_id(&b, WIRE_DONE, 9, NULL, 0, NULL, 0);
	feed(&o, &b);
	assert_true(o.done && o.failed && !o.bad);
	assert_string_equal(o.code, "symlink");
	assert_string_equal(o.msg, "a component is a link");
	wire_buf_free(&b);
}

/* One malformed answer of the operation's id. */
static void expect_bad(int with_write, int with_entry, uint8_t type,
		       const void *p, size_t n)
{
	struct chan_op o;
	struct sink s;
	struct wire_buf b = {0};

	memset(&o, 0, sizeof(o));
	memset(&s, 0, sizeof(s));
	o.id = 3;
	o.ctx = &s;
	o.write = with_write ? take : NULL;
	o.on_entry = with_entry ? entry : NULL;
	wire_put_id(&b, type, 3, p, n, NULL, 0);
	feed(&o, &b);
	assert_true(o.bad);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.entries, 0);
	wire_buf_free(&b);
}

static void test_malformed_answers(void **state)
{
	uint8_t sb[WIRE_STAT_LEN + 4] = {WIRE_FT_FILE};

	(void)state;
	expect_bad(1, 0, WIRE_FDATA, "x", 1);		  /* before FSTAT */
	expect_bad(0, 0, WIRE_FDATA, "x", 1);		  /* not a download */
	expect_bad(1, 0, WIRE_FSTAT, sb, 5);		  /* short stat */
	expect_bad(0, 1, WIRE_FENTRY, sb, WIRE_STAT_LEN); /* no name */
	memcpy(sb + WIRE_STAT_LEN, "a\0b", 3);
	expect_bad(0, 1, WIRE_FENTRY, sb, WIRE_STAT_LEN + 3); /* NUL */
	expect_bad(0, 0, WIRE_FENTRY, sb, WIRE_STAT_LEN + 1); /* not a list */
	expect_bad(1, 1, WIRE_OUT, "r\1x", 3); /* a job's record */
}

static void test_fail_status(void **state)
{
	(void)state;
	assert_int_equal(chan_fail_status(WIRE_ERR_NOT_FOUND), 404);
	assert_int_equal(chan_fail_status(WIRE_ERR_INVALID_PATH), 400);
	assert_int_equal(chan_fail_status(WIRE_ERR_SYMLINK), 400);
	assert_int_equal(chan_fail_status(WIRE_ERR_NOT_REGULAR), 400);
	assert_int_equal(chan_fail_status(WIRE_ERR_IS_DIR), 409);
	assert_int_equal(chan_fail_status(WIRE_ERR_NOT_DIR), 409);
	assert_int_equal(chan_fail_status(WIRE_ERR_QUOTA), 413);
	assert_int_equal(chan_fail_status(WIRE_ERR_NO_SPACE), 413);
	assert_int_equal(chan_fail_status(WIRE_ERR_TOO_LARGE), 413);
	assert_int_equal(chan_fail_status(WIRE_ERR_DENIED), 403);
	assert_int_equal(chan_fail_status(WIRE_ERR_IO), 500);
	assert_int_equal(chan_fail_status("made_up"), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_answer),
	    cmocka_unit_test(test_list_answer_and_flags),
	    cmocka_unit_test(test_fail_answer),
	    cmocka_unit_test(test_malformed_answers),
	    cmocka_unit_test(test_fail_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
