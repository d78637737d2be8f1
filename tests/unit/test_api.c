/* test_api.c - the front doors' shared helpers (api_util.c): program
 * output made JSON-safe, multi-byte characters held back across chunks so
 * that no stream event or interleaving splits one, base64, times, and the
 * memory name checks /v1/memory and the MCP memory tools share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"

static void test_utf8_clean(void **state)
{
	size_t n;
	char *s;

	(void)state;
	s = api_utf8_clean((const uint8_t *)"a\xc3\xa9z", 4, &n);
	assert_int_equal(n, 4);
	assert_string_equal(s, "a\xc3\xa9z");
	free(s);
	/* A stray continuation byte and an overlong '/' are each one
	 * U+FFFD per bad byte. */
	s = api_utf8_clean((const uint8_t *)"\x80x\xc0\xaf", 4, &n);
	assert_string_equal(s, "\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(n, 10);
	free(s);
}

static void test_utf8_tail(void **state)
{
	(void)state;
	assert_int_equal(api_utf8_tail((const uint8_t *)"ab", 2), 0);
	assert_int_equal(api_utf8_tail((const uint8_t *)"a\xe2\x82", 3), 2);
	assert_int_equal(api_utf8_tail((const uint8_t *)"a\xe2\x82\xac", 4), 0);
	assert_int_equal(api_utf8_tail((const uint8_t *)"\xf0\x9f\x98", 3), 3);
	/* Invalid, not cut short: nothing to wait for. */
	assert_int_equal(api_utf8_tail((const uint8_t *)"a\xff", 2), 0);
}

static void test_hold_back(void **state)
{
	struct api_utf8_hold h;
	struct buf out = {0};
	struct buf run = {0};

	(void)state;
	memset(&h, 0, sizeof(h));
	/* "€" (e2 82 ac) cut after its first byte on stdout. */
	api_utf8_hold_feed(&h, 'r', 1, (const uint8_t *)"x\xe2", 2, &out);
	assert_int_equal(out.len, 1);
	assert_string_equal(out.p, "x");
	/* stderr meanwhile, and the compile stage's stdout, are separate. */
	api_utf8_hold_feed(&h, 'r', 2, (const uint8_t *)"E", 1, &out);
	api_utf8_hold_feed(&h, 'c', 1, (const uint8_t *)"\xac", 1, &out);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.p, "xE\xac", 3);
	/* The rest of it: the whole character comes out at once. */
	api_utf8_hold_feed(&h, 'r', 1, (const uint8_t *)"\x82\xac!", 3, &run);
	assert_int_equal(run.len, 4);
	assert_string_equal(run.p, "\xe2\x82\xac!");
	/* What is still held comes out with flush, once. */
	api_utf8_hold_feed(&h, 'r', 2, (const uint8_t *)"\xf0\x9f", 2, &run);
	assert_int_equal(run.len, 4);
	api_utf8_hold_flush(&h, 'r', 2, &run);
	assert_int_equal(run.len, 6);
	api_utf8_hold_flush(&h, 'r', 2, &run);
	assert_int_equal(run.len, 6);
	buf_free(&out);
	buf_free(&run);
}

static void test_json_bytes(void **state)
{
	json_object *o;

	(void)state;
	o = api_json_bytes("a\0b\xff", 4);
	assert_int_equal(json_object_get_string_len(o), 6);
	assert_memory_equal(json_object_get_string(o), "a\0b\xef\xbf\xbd", 6);
	json_object_put(o);
}

static void test_is_json(void **state)
{
	(void)state;
	assert_true(api_is_json("application/json"));
	assert_true(api_is_json("Application/JSON; charset=utf-8"));
	assert_false(api_is_json("application/jsonp"));
	assert_false(api_is_json("text/plain"));
	assert_false(api_is_json(""));
}

static void test_base64(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} v[] = {
	    {"", 0, ""},
	    {"f", 1, "Zg=="},
	    {"fo", 2, "Zm8="},
	    {"foo", 3, "Zm9v"},
	    {"foob", 4, "Zm9vYg=="},
	    {"\x00\x01\xfe\xff", 4, "AAH+/w=="},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *b = api_base64(v[i].in, v[i].n);

		assert_string_equal(b, v[i].out);
		free(b);
	}
}

static void test_time_json(void **state)
{
	json_object *t;

	(void)state;
	t = api_time_json(INT64_C(1796291573031));
	assert_string_equal(json_object_get_string(t),
			    "2026-12-03T09:52:53.031Z");
	json_object_put(t);
	t = api_time_json(0);
	assert_string_equal(json_object_get_string(t),
			    "1970-01-01T00:00:00.000Z");
	json_object_put(t);
}

static void test_memory_names(void **state)
{
	struct config cfg;
	struct isobox_err err;
	char ns[130];

	(void)state;
	assert_true(api_memory_ns_ok("agent"));
	assert_true(api_memory_ns_ok("A-z_0.9:x"));
	assert_false(api_memory_ns_ok(""));
	assert_false(api_memory_ns_ok("a b"));
	assert_false(api_memory_ns_ok("a/b"));
	memset(ns, 'n', sizeof(ns));
	ns[128] = '\0';
	assert_true(api_memory_ns_ok(ns));
	ns[128] = 'n';
	ns[129] = '\0';
	assert_false(api_memory_ns_ok(ns));

	memset(&cfg, 0, sizeof(cfg));
	cfg.memory_max_key_bytes = 4;
	assert_int_equal(api_memory_key_check(&cfg, "a/b", 3, &err), 0);
	assert_int_equal(api_memory_key_check(&cfg, "abcd", 4, &err), 0);
	assert_int_equal(api_memory_key_check(&cfg, "abcde", 5, &err), -1);
	assert_string_equal(err.code, "invalid_key");
	assert_int_equal(err.status, 400);
	assert_int_equal(api_memory_key_check(&cfg, "", 0, &err), -1);
	assert_int_equal(api_memory_key_check(&cfg, "\xff", 1, &err), -1);
	assert_int_equal(api_memory_key_check(&cfg, "a\0b", 3, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8_clean),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_time_json),
	    cmocka_unit_test(test_memory_names),
	    cmocka_unit_test(test_utf8_tail),
	    cmocka_unit_test(test_hold_back),
	    cmocka_unit_test(test_json_bytes),
	    cmocka_unit_test(test_is_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
