/* test_request.c - JSON validation of execution requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

static int parse(const char *body, struct exec_request *r, struct isobox_err *e)
{
	memset(e, 0, sizeof(*e));
	return request_parse(body, strlen(body), 4, r, e);
}

static void expect_err(const char *body, int status, const char *code)
{
	struct exec_request r;
	struct isobox_err e;

	assert_int_equal(parse(body, &r, &e), -1);
	assert_int_equal(e.status, status);
	assert_string_equal(e.code, code);
	assert_true(strlen(e.msg) > 0);
}

static void test_minimal(void **state)
{
	struct exec_request r;
	struct isobox_err e;

	(void)state;
	assert_int_equal(
	    parse("{\"language\":\"py\",\"code\":\"print(1)\"}", &r, &e), 0);
	assert_string_equal(r.language, "py");
	assert_null(r.version);
	assert_int_equal(r.nfiles, 1);
	assert_null(r.files[0].name);
	assert_memory_equal(r.files[0].data, "print(1)", 8);
	assert_non_null(r.args);
	assert_null(r.args[0]);
	assert_int_equal(r.network, 0);
	request_free(&r);
}

static void test_full(void **state)
{
	struct exec_request r;
	struct isobox_err e;
	const char *body =
	    "{\"language\":\"python\",\"version\":\"3.11\","
	    "\"files\":[{\"name\":\"main.py\",\"content\":\"aGk=\","
	    "\"encoding\":\"base64\"},{\"name\":\"pkg/m.py\","
	    "\"content\":\"6869\",\"encoding\":\"hex\"}],"
	    "\"stdin\":\"in\\u0000put\",\"args\":[\"a\",\"b c\"],"
	    "\"limits\":{\"memoryBytes\":1048576,\"cpus\":0.5,"
	    "\"wallTimeMs\":-5},\"network\":false}";

	(void)state;
	assert_int_equal(parse(body, &r, &e), 0);
	assert_string_equal(r.version, "3.11");
	assert_int_equal(r.nfiles, 2);
	assert_string_equal(r.files[1].name, "pkg/m.py");
	assert_int_equal(r.files[0].len, 2);
	assert_memory_equal(r.files[0].data, "hi", 2);
	assert_memory_equal(r.files[1].data, "hi", 2);
	assert_int_equal(r.stdin_len, 6);
	assert_memory_equal(r.stdin_data, "in\0put", 6);
	assert_int_equal(r.nargs, 2);
	assert_string_equal(r.args[1], "b c");
	assert_true(r.limits.set & LIM_MEMORY);
	assert_true(r.limits.set & LIM_CPUS);
	assert_int_equal(r.limits.v.memory_bytes, 1048576);
	/* negative limits are clamped later, not rejected */
	assert_true(r.limits.set & LIM_WALL);
	assert_int_equal(r.limits.v.wall_time_ms, 0);
	request_free(&r);
}

static void test_errors(void **state)
{
	(void)state;
	expect_err("", 400, "invalid_json");
	expect_err("{", 400, "invalid_json");
	expect_err("{} x", 400, "invalid_json");
	expect_err("[1]", 400, "invalid_json");
	expect_err("{}", 400, "language_required");
	expect_err("{\"language\":\"\"}", 400, "language_required");
	expect_err("{\"language\":5,\"code\":\"\"}", 400, "invalid_field");
	expect_err("{\"language\":\"py\"}", 400, "no_source");
	expect_err("{\"language\":\"py\",\"files\":[]}", 400, "no_source");
	expect_err("{\"language\":\"py\",\"code\":1}", 400, "invalid_field");
	expect_err("{\"language\":\"py\",\"code\":\"\",\"files\":[]}", 400,
		   "invalid_field");
	expect_err("{\"language\":\"py\",\"code\":\"\",\"limits\":5}", 400,
		   "invalid_field");
	expect_err("{\"language\":\"py\",\"code\":\"\",\"limits\":"
		   "{\"pids\":\"9\"}}",
		   400, "invalid_field");
	expect_err("{\"language\":\"py\",\"code\":\"\",\"limits\":"
		   "{\"bogus\":1}}",
		   400, "invalid_field");
	expect_err("{\"language\":\"py\",\"code\":\"\",\"args\":[1]}", 400,
		   "invalid_field");
	expect_err("{\"language\":\"py\",\"code\":\"\",\"network\":1}", 400,
		   "invalid_field");
	expect_err("{\"language\":\"py\",\"code\":\"\",\"stdin\":[]}", 400,
		   "invalid_field");
	expect_err("{\"language\":\"py\",\"files\":[{\"name\":\"a\","
		   "\"content\":\"!\",\"encoding\":\"base64\"}]}",
		   400, "invalid_field");
	expect_err("{\"language\":\"py\",\"files\":[{\"name\":\"a\","
		   "\"content\":\"x\",\"encoding\":\"rot13\"}]}",
		   400, "invalid_field");
}

static void test_file_names(void **state)
{
	static const char *const bad[] = {
	    "../x", "/etc/passwd", "a/../../b", "",
	    "./a",  "a//b",	   "a\\u0000b", "a\\nb",
	};
	size_t i;
	char body[512];

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"language\":\"py\",\"files\":[{\"name\":\"%s\","
			 "\"content\":\"\"}]}",
			 bad[i]);
		expect_err(body, 400, "invalid_file_name");
	}
	expect_err("{\"language\":\"py\",\"files\":[{\"name\":\"a\","
		   "\"content\":\"\"},{\"name\":\"a\",\"content\":\"\"}]}",
		   400, "invalid_file_name");
	expect_err("{\"language\":\"py\",\"files\":[{\"name\":\"a\","
		   "\"content\":\"\"},{\"content\":\"\"}]}",
		   400, "invalid_file_name");
	expect_err("{\"language\":\"py\",\"files\":[{\"content\":\"\"},"
		   "{\"name\":\"b\",\"content\":\"\"},{\"name\":\"c\","
		   "\"content\":\"\"},{\"name\":\"d\",\"content\":\"\"},"
		   "{\"name\":\"e\",\"content\":\"\"}]}",
		   400, "too_many_files");
}

/* A valid request whose ignored field "x" nests arrays so that the body
 * holds `containers` JSON containers in all (the object included). */
static char *nested(int containers)
{
	struct buf b = {0};
	int i;

	buf_adds(&b, "{\"language\":\"py\",\"code\":\"1\",\"x\":");
	for (i = 1; i < containers; i++) {
		buf_adds(&b, "[");
	}
	buf_adds(&b, "1");
	for (i = 1; i < containers; i++) {
		buf_adds(&b, "]");
	}
	buf_adds(&b, "}");
	return buf_steal(&b, NULL);
}

/* The depth cap is ours (below json-c's default of 32): a request nested
 * one level under it parses, one at it is refused as too deep, whatever
 * else it holds. Removing or raising the cap fails the second half. */
static void test_deep_nesting(void **state)
{
	struct exec_request r;
	struct isobox_err e;
	char *body;

	(void)state;
	body = nested(REQUEST_MAX_DEPTH - 1);
	assert_int_equal(parse(body, &r, &e), 0);
	request_free(&r);
	free(body);
	body = nested(REQUEST_MAX_DEPTH);
	assert_int_equal(parse(body, &r, &e), -1);
	assert_int_equal(e.status, 400);
	assert_string_equal(e.code, "invalid_json");
	assert_non_null(strstr(e.msg, "nesting too deep"));
	free(body);
}

/* A file and a directory of the same name cannot both be written: 400,
 * in either order, before any sandbox is asked. */
static void test_file_dir_clash(void **state)
{
	(void)state;
	expect_err("{\"language\":\"py\",\"files\":[{\"name\":\"m.py\","
		   "\"content\":\"\"},{\"name\":\"d/f\",\"content\":\"\"},"
		   "{\"name\":\"d\",\"content\":\"\"}]}",
		   400, "invalid_file_name");
	expect_err("{\"language\":\"py\",\"files\":[{\"name\":\"m.py\","
		   "\"content\":\"\"},{\"name\":\"d\",\"content\":\"\"},"
		   "{\"name\":\"d/e/f\",\"content\":\"\"}]}",
		   400, "invalid_file_name");
	{
		struct exec_request r;
		struct isobox_err e;

		/* A shared prefix that is not a directory is fine. */
		assert_int_equal(
		    parse("{\"language\":\"py\",\"files\":[{\"name\":"
			  "\"d\",\"content\":\"\"},{\"name\":\"dx/f\","
			  "\"content\":\"\"}]}",
			  &r, &e),
		    0);
		request_free(&r);
	}
}

static void test_base64(void **state)
{
	size_t n = 0;
	uint8_t *p;

	(void)state;
	p = request_base64_decode("aGVsbG8=", 8, &n);
	assert_non_null(p);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "hello", 5);
	free(p);
	p = request_base64_decode("aGVsbG8", 7, &n);
	assert_non_null(p);
	assert_int_equal(n, 5);
	free(p);
	assert_null(request_base64_decode("a", 1, &n));
	assert_null(request_base64_decode("aG=Vs", 5, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_file_names),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_file_dir_clash),
	    cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
