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

/* A valid request with `levels` nested objects in all (the request object
 * itself is the first) under a key the parser ignores. */
static void nested(char *b, size_t size, int levels)
{
	size_t n = 0;
	int i;

	n += (size_t)snprintf(b, size,
			      "{\"language\":\"py\",\"code\":\"x\","
			      "\"ignored\":");
	for (i = 1; i < levels; i++) {
		n += (size_t)snprintf(b + n, size - n, "{\"a\":");
	}
	n += (size_t)snprintf(b + n, size - n, "1");
	for (i = 0; i < levels; i++) {
		n += (size_t)snprintf(b + n, size - n, "}");
	}
	assert_true(n < size);
}

static void test_deep_nesting(void **state)
{
	struct exec_request r;
	struct isobox_err e;
	char body[1024];

	(void)state;
	/* Just inside the cap: a request like any other. */
	nested(body, sizeof(body), REQUEST_MAX_DEPTH - 1);
	assert_int_equal(parse(body, &r, &e), 0);
	assert_string_equal(r.language, "py");
	request_free(&r);
	/* One level more, or far more: refused for its depth alone. */
	nested(body, sizeof(body), REQUEST_MAX_DEPTH);
	expect_err(body, 400, "invalid_json");
	assert_int_equal(parse(body, &r, &e), -1);
	assert_non_null(strstr(e.msg, "nesting too deep"));
	nested(body, sizeof(body), 100);
	assert_int_equal(parse(body, &r, &e), -1);
	assert_non_null(strstr(e.msg, "nesting too deep"));
}

/* request_json_parse, the one parser of every body: strict RFC 8259, and
 * only white space after the value. */
static void test_json_parse(void **state)
{
	/* json-c 0.16's strict mode still lets single-quoted keys, NaN,
	 * Infinity and "1." through: not pinned here (a known gap). */
	static const char *const bad[] = {
	    "['a']",	   "{\"a\":1,}",
	    "[1,]",	   "{\"a\":1} x",
	    "{\"a\":1}{}", "",
	    "   ",	   "{",
	    "nul",	   "1 2",
	    "01",	   ".5",
	    "[TRUE]",	   "{\"a\":\"\\x\"}",
	};
	struct isobox_err e;
	json_object *o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		o = request_json_parse(bad[i], strlen(bad[i]), &e);
		if (o != NULL) {
			fail_msg("accepted %s", bad[i]);
		}
		assert_int_equal(e.status, 400);
		assert_string_equal(e.code, "invalid_json");
	}
	/* A NUL byte after the value is not white space. */
	o = request_json_parse("{}\0", 3, &e);
	assert_null(o);
	assert_non_null(strstr(e.msg, "trailing data"));
	o = request_json_parse(" {\"a\":[1,2]} \r\n\t", 15, &e);
	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_object));
	json_object_put(o);
	/* A bare number is a complete value (for Piston and MCP, which look
	 * at the type themselves). */
	o = request_json_parse("42", 2, &e);
	assert_non_null(o);
	assert_int_equal(json_object_get_int(o), 42);
	json_object_put(o);
	/* Not NUL-terminated: only n bytes are read. */
	o = request_json_parse("[1]]]", 3, &e);
	assert_non_null(o);
	json_object_put(o);
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
	    cmocka_unit_test(test_json_parse),
	    cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
