/* test_wire.c - the host <-> guest framing: records survive a round trip
 * whole or fed a byte at a time, oversize records are refused, and file
 * names are checked the way the API promises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

/* Decode every record of buf, feeding chunk bytes at a time (0: all). */
struct decoded {
	uint8_t type[16];
	uint8_t *payload[16];
	size_t len[16];
	size_t n;
};

static void decode_all(const struct wire_buf *b, size_t chunk,
		       struct decoded *out)
{
	struct wire_dec d = {0};
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	while (off < b->len) {
		size_t n = chunk ? chunk : b->len - off;
		size_t used = 0;
		struct wire_rec rec;
		int rc;

		if (n > b->len - off) {
			n = b->len - off;
		}
		rc = wire_dec_feed(&d, b->p + off, n, &used, &rec);
		assert_true(rc >= 0);
		assert_true(used <= n);
		off += used;
		if (rc == 1) {
			assert_true(out->n < 16);
			out->type[out->n] = rec.type;
			out->len[out->n] = rec.len;
			out->payload[out->n] = malloc(rec.len + 1);
			if (rec.len) {
				memcpy(out->payload[out->n], rec.payload,
				       rec.len);
			}
			out->n++;
		} else {
			/* 0 means the input was used up. */
			assert_int_equal(used, n);
		}
	}
	wire_dec_free(&d);
}

static void decoded_free(struct decoded *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->payload[i]);
	}
}

static void build_job(struct wire_buf *b)
{
	struct wire_buf env = {0};
	struct wire_buf lim = {0};

	assert_int_equal(wire_put_file(b, "main.py", "print(42)\n", 10), 0);
	assert_int_equal(wire_str_add(&env, "A=1"), 0);
	assert_int_equal(wire_str_add(&env, "B=two"), 0);
	assert_int_equal(wire_put(b, WIRE_ENV, env.p, env.len), 0);
	assert_int_equal(wire_kv_add(&lim, WIRE_LIMIT_RUN_WALL_MS, 5000), 0);
	assert_int_equal(wire_kv_add(&lim, WIRE_LIMIT_PIDS, -3), 0);
	assert_int_equal(wire_put(b, WIRE_LIMITS, lim.p, lim.len), 0);
	assert_int_equal(
	    wire_put_out(b, 0x01020304, WIRE_STAGE_RUN, 2, "err", 3), 0);
	assert_int_equal(wire_put(b, WIRE_GO, NULL, 0), 0);
	wire_buf_free(&env);
	wire_buf_free(&lim);
}

static void check_job(const struct decoded *d)
{
	long long v;

	assert_int_equal(d->n, 5);
	assert_int_equal(d->type[0], WIRE_FILE);
	assert_int_equal(d->len[0], 2 + 7 + 10);
	assert_int_equal(d->payload[0][0], 0);
	assert_int_equal(d->payload[0][1], 7);
	assert_memory_equal(d->payload[0] + 2, "main.py", 7);
	assert_memory_equal(d->payload[0] + 9, "print(42)\n", 10);

	assert_int_equal(d->type[1], WIRE_ENV);
	assert_int_equal(d->len[1], 10);
	assert_memory_equal(d->payload[1], "A=1\0B=two\0", 10);

	assert_int_equal(d->type[2], WIRE_LIMITS);
	assert_int_equal(
	    wire_kv_get(d->payload[2], d->len[2], WIRE_LIMIT_RUN_WALL_MS, &v),
	    1);
	assert_int_equal(v, 5000);
	assert_int_equal(
	    wire_kv_get(d->payload[2], d->len[2], WIRE_LIMIT_PIDS, &v), 1);
	assert_int_equal(v, -3);

	assert_int_equal(d->type[3], WIRE_OUT);
	assert_int_equal(d->len[3], 9);
	assert_memory_equal(d->payload[3], "\001\002\003\004r\002err", 9);

	assert_int_equal(d->type[4], WIRE_GO);
	assert_int_equal(d->len[4], 0);
}

static void test_round_trip(void **state)
{
	struct wire_buf b = {0};
	struct decoded d;

	(void)state;
	build_job(&b);
	decode_all(&b, 0, &d);
	check_job(&d);
	decoded_free(&d);
	wire_buf_free(&b);
}

static void test_byte_at_a_time(void **state)
{
	struct wire_buf b = {0};
	struct decoded d;
	size_t chunk;

	(void)state;
	build_job(&b);
	decode_all(&b, 1, &d);
	check_job(&d);
	decoded_free(&d);
	/* Odd chunk sizes that split headers and payloads anywhere. */
	for (chunk = 2; chunk < 12; chunk++) {
		decode_all(&b, chunk, &d);
		check_job(&d);
		decoded_free(&d);
	}
	wire_buf_free(&b);
}

static void test_oversize_rejected(void **state)
{
	struct wire_dec d = {0};
	struct wire_rec rec;
	size_t used;
	uint8_t hdr[WIRE_HDR_LEN] = {WIRE_STDIN, 0, 0, 0, 11};
	uint32_t big = WIRE_MAX_PAYLOAD + 1;
	uint8_t hdr2[WIRE_HDR_LEN] = {WIRE_STDIN, (uint8_t)(big >> 24),
				      (uint8_t)(big >> 16), (uint8_t)(big >> 8),
				      (uint8_t)big};
	struct wire_buf b = {0};
	static uint8_t huge[WIRE_MAX_PAYLOAD + 1];

	(void)state;
	d.max = 10;
	assert_int_equal(wire_dec_feed(&d, hdr, sizeof(hdr), &used, &rec), -1);
	wire_dec_free(&d);

	/* Exactly max is fine. */
	memset(&d, 0, sizeof(d));
	d.max = 11;
	assert_int_equal(wire_dec_feed(&d, hdr, sizeof(hdr), &used, &rec), 0);
	assert_int_equal(used, sizeof(hdr));
	wire_dec_free(&d);

	/* The default cap is WIRE_MAX_PAYLOAD, and it is checked from the
	 * header alone, before any payload arrives. */
	memset(&d, 0, sizeof(d));
	assert_int_equal(wire_dec_feed(&d, hdr2, sizeof(hdr2), &used, &rec),
			 -1);
	wire_dec_free(&d);

	/* The encoder refuses to build one. */
	assert_int_equal(wire_put(&b, WIRE_STDIN, huge, sizeof(huge)), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(wire_put_file(&b, "a", huge, WIRE_MAX_PAYLOAD), -1);
	assert_int_equal(b.len, 0);
	wire_buf_free(&b);
}

static void test_kv_get(void **state)
{
	static const uint8_t p[] = "pids=64\0pid=7\0bad=12x\0empty=\0neg=-5";
	/* sizeof includes the final NUL, so every entry is terminated. */
	long long v = 99;

	(void)state;
	assert_int_equal(wire_kv_get(p, sizeof(p), "pids", &v), 1);
	assert_int_equal(v, 64);
	assert_int_equal(wire_kv_get(p, sizeof(p), "pid", &v), 1);
	assert_int_equal(v, 7);
	assert_int_equal(wire_kv_get(p, sizeof(p), "neg", &v), 1);
	assert_int_equal(v, -5);
	v = 99;
	assert_int_equal(wire_kv_get(p, sizeof(p), "bad", &v), 0);
	assert_int_equal(wire_kv_get(p, sizeof(p), "empty", &v), 0);
	assert_int_equal(wire_kv_get(p, sizeof(p), "missing", &v), 0);
	assert_int_equal(wire_kv_get(p, sizeof(p), "pi", &v), 0);
	assert_int_equal(v, 99);
	/* A last entry without its NUL is not read. */
	assert_int_equal(wire_kv_get(p, sizeof(p) - 1, "neg", &v), 0);
	assert_int_equal(wire_kv_get(p, 0, "pids", &v), 0);
}

static void test_list_split(void **state)
{
	static const uint8_t argv[] = "python3\0main.py\0\0x";
	char **v;
	size_t n = 123;

	(void)state;
	/* "python3", "main.py", "" and "x" (the literal's NUL ends it). */
	v = wire_list_split(argv, sizeof(argv), &n);
	assert_non_null(v);
	assert_int_equal(n, 4);
	assert_string_equal(v[0], "python3");
	assert_string_equal(v[1], "main.py");
	assert_string_equal(v[2], "");
	assert_string_equal(v[3], "x");
	assert_null(v[4]);
	free(v);

	/* Missing trailing NUL: malformed. */
	assert_null(wire_list_split(argv, sizeof(argv) - 1, &n));

	/* Empty payload: an empty vector. */
	n = 123;
	v = wire_list_split(argv, 0, &n);
	assert_non_null(v);
	assert_int_equal(n, 0);
	assert_null(v[0]);
	free(v);

	/* One empty string. */
	v = wire_list_split((const uint8_t *)"", 1, &n);
	assert_non_null(v);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "");
	assert_null(v[1]);
	free(v);

	/* count may be NULL. */
	v = wire_list_split(argv, sizeof(argv), NULL);
	assert_non_null(v);
	free(v);
}

static int name_ok(const char *s)
{
	return wire_name_ok(s, strlen(s));
}

static void test_name_ok(void **state)
{
	char name[300];

	(void)state;
	assert_int_equal(name_ok("a.py"), 0);
	assert_int_equal(name_ok("pkg/mod.py"), 0);
	assert_int_equal(name_ok("données/日本語.txt"), 0);
	assert_int_equal(name_ok(".hidden"), 0);
	assert_int_equal(name_ok("a..b"), 0);
	assert_int_equal(name_ok("...."), 0);
	assert_int_equal(name_ok("a/b/c/d/e/f/g/h"), 0); /* 8 levels */

	assert_int_equal(name_ok(""), -1);
	assert_int_equal(name_ok("/x"), -1);
	assert_int_equal(name_ok("."), -1);
	assert_int_equal(name_ok(".."), -1);
	assert_int_equal(name_ok("a/../b"), -1);
	assert_int_equal(name_ok("a/.."), -1);
	assert_int_equal(name_ok("./a"), -1);
	assert_int_equal(name_ok("a/./b"), -1);
	assert_int_equal(name_ok("a//b"), -1);
	assert_int_equal(name_ok("a/"), -1);
	assert_int_equal(name_ok("a\nb"), -1);
	assert_int_equal(name_ok("a\x01"), -1);
	assert_int_equal(name_ok("a\x7f"), -1);
	assert_int_equal(name_ok("a/b/c/d/e/f/g/h/i"), -1); /* 9 levels */
	/* An embedded NUL counts as a control character. */
	assert_int_equal(wire_name_ok("a\0b", 3), -1);

	memset(name, 'n', sizeof(name));
	assert_int_equal(wire_name_ok(name, 255), 0);
	assert_int_equal(wire_name_ok(name, 256), -1);
}

static void test_put_id_and_fail(void **state)
{
	struct wire_buf b = {0};
	struct decoded d;
	uint32_t id = 0;
	struct wire_rec rec;

	(void)state;
	assert_int_equal(
	    wire_put_id(&b, WIRE_FGET, 0x0a0b0c0d, "HEAD", 4, "path/x", 6), 0);
	assert_int_equal(wire_put_id(&b, WIRE_DONE, 9, NULL, 0, NULL, 0), 0);
	assert_int_equal(wire_put_fail(&b, 3, WIRE_ERR_NOT_FOUND, "gone"), 0);
	decode_all(&b, 1, &d);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.type[0], WIRE_FGET);
	assert_int_equal(d.len[0], 14);
	assert_memory_equal(d.payload[0], "\x0a\x0b\x0c\x0dHEADpath/x", 14);
	rec.type = d.type[0];
	rec.payload = d.payload[0];
	rec.len = d.len[0];
	assert_int_equal(wire_rec_id(&rec, &id), 0);
	assert_int_equal(id, 0x0a0b0c0d);
	assert_int_equal(d.len[1], 4);
	assert_memory_equal(d.payload[1], "\0\0\0\x09", 4);
	/* FAIL: id | code | NUL | sentence. */
	assert_int_equal(d.len[2], 4 + 10 + 4);
	assert_memory_equal(d.payload[2], "\0\0\0\x03not_found\0gone", 18);
	rec.len = 3;
	assert_int_equal(wire_rec_id(&rec, &id), -1);
	decoded_free(&d);
	wire_buf_free(&b);
}

static void test_be(void **state)
{
	uint8_t p[8];

	(void)state;
	wire_be32(p, 0x01020304);
	assert_memory_equal(p, "\x01\x02\x03\x04", 4);
	assert_int_equal(wire_get32(p), 0x01020304);
	wire_be64(p, 0x0102030405060708ull);
	assert_memory_equal(p, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_true(wire_get64(p) == 0x0102030405060708ull);
	wire_be64(p, (uint64_t)-2);
	assert_true((int64_t)wire_get64(p) == -2);
}

static int check_calls;

static int refuse_x(uint8_t type, uint32_t len)
{
	check_calls++;
	return type == 'X' || (type == WIRE_NOOP && len != 0);
}

static void test_check_hook_and_reset(void **state)
{
	struct wire_dec d = {0};
	struct wire_rec rec;
	size_t used;
	static const uint8_t noop[WIRE_HDR_LEN] = {0, 0, 0, 0, 0};
	static const uint8_t bad[] = {'X', 0, 0, 0, 2, 'a', 'b'};
	static const uint8_t zero_len[] = {0, 0, 0, 1, 0};
	static const uint8_t half[] = {'I', 0, 0, 0, 9, 'h'};
	static const uint8_t ok[] = {'I', 0, 0, 0, 1, 'k'};

	(void)state;
	d.check = refuse_x;
	/* Type 0 with length 0: a complete, empty record (a no-op). */
	assert_int_equal(wire_dec_feed(&d, noop, sizeof(noop), &used, &rec), 1);
	assert_int_equal(rec.type, WIRE_NOOP);
	assert_int_equal(rec.len, 0);
	/* Refused from the header alone; hdr keeps it for a rescan. */
	assert_int_equal(wire_dec_feed(&d, bad, sizeof(bad), &used, &rec), -1);
	assert_int_equal(used, WIRE_HDR_LEN);
	assert_memory_equal(d.hdr, bad, WIRE_HDR_LEN);
	wire_dec_reset(&d);
	assert_int_equal(
	    wire_dec_feed(&d, zero_len, sizeof(zero_len), &used, &rec), -1);
	wire_dec_reset(&d);
	/* A reset forgets a half record. */
	assert_int_equal(wire_dec_feed(&d, half, sizeof(half), &used, &rec), 0);
	wire_dec_reset(&d);
	assert_int_equal(wire_dec_feed(&d, ok, sizeof(ok), &used, &rec), 1);
	assert_int_equal(rec.len, 1);
	assert_int_equal(rec.payload[0], 'k');
	assert_int_equal(check_calls, 5);
	wire_dec_free(&d);
}

static void test_session_constants(void **state)
{
	struct wire_buf b = {0};
	static const uint8_t hdr[] = WIRE_SYNC_HDR;
	uint8_t nonce[WIRE_NONCE_LEN] = {0};

	(void)state;
	/* The header a resyncing guest scans for is SYNC's own. */
	assert_int_equal(wire_put(&b, WIRE_SYNC, nonce, sizeof(nonce)), 0);
	assert_memory_equal(b.p, hdr, WIRE_HDR_LEN);
	/* The padding completes any partial record a session accepts: a
	 * header missing up to 4 bytes and the longest payload. */
	assert_true(WIRE_PAD_LEN >= WIRE_HDR_LEN - 1 + WIRE_SESSION_MAX);
	/* A data piece and its id fit a session record. */
	assert_true(WIRE_SESSION_MAX >= 4 + WIRE_CHUNK_MAX);
	/* A FGET with the longest path fits too. */
	assert_true(WIRE_SESSION_MAX >= 4 + 16 + WIRE_PATH_MAX);
	wire_buf_free(&b);
}

static void test_path_ok(void **state)
{
	char p[WIRE_PATH_MAX + 2];
	size_t i;
	size_t n = 0;

	(void)state;
	assert_int_equal(wire_path_ok("a", 1), 0);
	assert_int_equal(wire_path_ok("", 0), -1);
	assert_int_equal(wire_path_ok("a/../b", 6), -1);
	assert_int_equal(wire_path_ok("/a", 2), -1);
	assert_int_equal(wire_path_ok("a\0b", 3), -1);
	/* 32 levels pass, 33 do not (wire_name_ok stops at 8). */
	for (i = 0; i < WIRE_PATH_DEPTH; i++) {
		p[n++] = 'd';
		p[n++] = '/';
	}
	assert_int_equal(wire_path_ok(p, n - 1), 0);
	assert_int_equal(wire_name_ok(p, n - 1), -1);
	p[n++] = 'x';
	assert_int_equal(wire_path_ok(p, n), -1);
	memset(p, 'n', sizeof(p));
	assert_int_equal(wire_path_ok(p, WIRE_PATH_MAX), 0);
	assert_int_equal(wire_path_ok(p, WIRE_PATH_MAX + 1), -1);
}

/* Feed stream to a session decoder in pieces of chunk; the records' types
 * and lengths, and how many desyncs were reported. */
static size_t sess_run(const uint8_t *p, size_t n, size_t chunk, uint8_t *types,
		       uint8_t last_payload[16], int *desyncs)
{
	struct wire_sess s = {0};
	size_t off = 0;
	size_t nrec = 0;

	wire_sess_init(&s);
	*desyncs = 0;
	while (off < n) {
		size_t piece = n - off < chunk ? n - off : chunk;
		size_t used = 0;
		struct wire_rec rec;
		int desync = 0;
		int r =
		    wire_sess_feed(&s, p + off, piece, &used, &rec, &desync);

		assert_true(used <= piece);
		*desyncs += desync;
		off += used;
		if (r == 1) {
			assert_true(wire_host_type(rec.type));
			assert_true(rec.len <= WIRE_SESSION_MAX);
			if (nrec < 64) {
				types[nrec] = rec.type;
			}
			nrec++;
			if (rec.type == WIRE_SYNC && rec.len == 16) {
				memcpy(last_payload, rec.payload, 16);
			}
		} else {
			assert_int_equal(used, piece);
		}
	}
	wire_sess_free(&s);
	return nrec;
}

static void test_session_resync(void **state)
{
	static const uint8_t nonce[16] = "0123456789abcdef";
	struct wire_buf b = {0};
	uint8_t types[64];
	uint8_t got[16];
	int desyncs;
	size_t n;
	size_t chunk;
	size_t cut;

	(void)state;
	/* Garbage (an unknown type), then a job record and SYNC: the job
	 * record is skipped by the scan, SYNC is found. */
	for (chunk = 1; chunk < 9; chunk += 7) {
		b.len = 0;
		wire_raw_add(&b, "\xff\0\0\0\1", 5);
		wire_put(&b, WIRE_GO, NULL, 0);
		wire_put(&b, WIRE_SYNC, nonce, 16);
		wire_put(&b, WIRE_BYE, NULL, 0);
		memset(got, 0, sizeof(got));
		n = sess_run(b.p, b.len, chunk, types, got, &desyncs);
		assert_int_equal(n, 2);
		assert_int_equal(types[0], WIRE_SYNC);
		assert_int_equal(types[1], WIRE_BYE);
		assert_memory_equal(got, nonce, 16);
		assert_int_equal(desyncs, 1);
	}
	/* An oversize length is a framing error too; a SYNC header inside
	 * the refused header's length bytes is still found. */
	b.len = 0;
	wire_raw_add(&b, "I\0\xff\xff\xff", 5);
	wire_raw_add(&b, "zz", 2);
	wire_put(&b, WIRE_SYNC, nonce, 16);
	n = sess_run(b.p, b.len, 3, types, got, &desyncs);
	assert_int_equal(n, 1);
	assert_int_equal(desyncs, 1);
	/* The takeover rule: a record cut anywhere (header or payload) is
	 * completed by WIRE_PAD_LEN zeros; the last record is our SYNC. */
	for (cut = 1; cut < 12; cut++) {
		uint8_t *pad = calloc(1, WIRE_PAD_LEN);

		b.len = 0;
		wire_raw_add(&b, "p\0\1\0\040abcdefghij", cut);
		wire_raw_add(&b, pad, WIRE_PAD_LEN);
		wire_put(&b, WIRE_SYNC, nonce, 16);
		free(pad);
		memset(got, 0, sizeof(got));
		n = sess_run(b.p, b.len, 4096, types, got, &desyncs);
		assert_true(n >= 1);
		assert_memory_equal(got, nonce, 16);
	}
	/* Type 0 with a payload is a framing error, empty it is a no-op. */
	b.len = 0;
	wire_raw_add(&b, "\0\0\0\0\0", 5);
	wire_raw_add(&b, "\0\0\0\0\3abc", 8);
	n = sess_run(b.p, b.len, 2, types, got, &desyncs);
	assert_int_equal(n, 1);
	assert_int_equal(types[0], WIRE_NOOP);
	assert_int_equal(desyncs, 1);
	wire_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_byte_at_a_time),
	    cmocka_unit_test(test_oversize_rejected),
	    cmocka_unit_test(test_kv_get),
	    cmocka_unit_test(test_list_split),
	    cmocka_unit_test(test_name_ok),
	    cmocka_unit_test(test_put_id_and_fail),
	    cmocka_unit_test(test_be),
	    cmocka_unit_test(test_check_hook_and_reset),
	    cmocka_unit_test(test_session_constants),
	    cmocka_unit_test(test_path_ok),
	    cmocka_unit_test(test_session_resync),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
