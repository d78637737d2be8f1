/* test_router.c - the route table: 404 for an unknown path, 405 with the
 * methods for Allow, HEAD wherever GET is, which routes are public. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

static void test_found(void **state)
{
	const struct route *r;
	char allow[64];

	(void)state;
	assert_int_equal(
	    router_match("POST", "/execute", &r, allow, sizeof(allow)), 200);
	assert_non_null(r);
	assert_string_equal(r->name, "execute");
	assert_ptr_equal(r->fn, api_execute);
	assert_int_equal(
	    router_match("GET", "/api/v2/runtimes", &r, allow, sizeof(allow)),
	    200);
	assert_string_equal(r->name, "piston_runtimes");
	assert_int_equal(router_match("POST", "/mcp", &r, allow, sizeof(allow)),
			 200);
	assert_ptr_equal(r->fn, api_mcp);
	/* HEAD is answered wherever GET is, by the GET handler. */
	assert_int_equal(
	    router_match("HEAD", "/openapi.yaml", &r, allow, sizeof(allow)),
	    200);
	assert_string_equal(r->method, "GET");
	assert_string_equal(r->name, "openapi");
}

static void test_not_found(void **state)
{
	const struct route *r = (const struct route *)1;
	char allow[64] = "stale";

	(void)state;
	assert_int_equal(
	    router_match("GET", "/no/such/route", &r, allow, sizeof(allow)),
	    404);
	assert_null(r);
	assert_string_equal(allow, "");
	/* Exact paths: no prefix, no trailing slash, no query. */
	assert_int_equal(
	    router_match("POST", "/execute/", &r, allow, sizeof(allow)), 404);
	assert_int_equal(
	    router_match("POST", "/executes", &r, allow, sizeof(allow)), 404);
	assert_int_equal(router_match("GET", "", &r, allow, sizeof(allow)),
			 404);
}

static void test_method_not_allowed(void **state)
{
	const struct route *r;
	char allow[64];

	(void)state;
	assert_int_equal(
	    router_match("GET", "/execute", &r, allow, sizeof(allow)), 405);
	assert_null(r);
	assert_string_equal(allow, "POST");
	assert_int_equal(
	    router_match("DELETE", "/healthz", &r, allow, sizeof(allow)), 405);
	assert_string_equal(allow, "GET");
	/* GET /mcp (the server-to-client stream) is not offered. */
	assert_int_equal(router_match("GET", "/mcp", &r, allow, sizeof(allow)),
			 405);
	assert_string_equal(allow, "POST");
	/* HEAD is not GET's stand-in for a POST-only path. */
	assert_int_equal(
	    router_match("HEAD", "/execute", &r, allow, sizeof(allow)), 405);
	/* A short buffer is cut, never overrun. */
	assert_int_equal(router_match("GET", "/execute", &r, allow, 3), 405);
	assert_string_equal(allow, "PO");
}

static void test_table(void **state)
{
	const struct route *t;
	size_t n;
	size_t i;
	size_t j;

	(void)state;
	t = router_routes(&n);
	assert_true(n >= 10);
	for (i = 0; i < n; i++) {
		const struct route *r;
		char allow[64];

		assert_non_null(t[i].fn);
		assert_true(t[i].path[0] == '/');
		/* Every row is reachable: no earlier row shadows it. */
		assert_int_equal(router_match(t[i].method, t[i].path, &r, allow,
					      sizeof(allow)),
				 200);
		assert_ptr_equal(r, &t[i]);
		for (j = 0; j < i; j++) {
			assert_string_not_equal(t[i].name, t[j].name);
		}
	}
	/* Probes and descriptions are open; what runs code needs a key. */
	assert_true(router_route_public("healthz"));
	assert_true(router_route_public("openapi"));
	assert_true(router_route_public("runtimes"));
	assert_false(router_route_public("execute"));
	assert_false(router_route_public("piston_execute"));
	assert_false(router_route_public("mcp"));
	assert_false(router_route_public("no_such_route"));
	/* Code runs and memory calls take tokens; probes and preflights do
	 * not. */
	for (i = 0; i < n; i++) {
		int limited = strcmp(t[i].method, "POST") == 0 ||
			      strncmp(t[i].name, "memory_", 7) == 0;

		if (strcmp(t[i].name, "memory_preflight") == 0) {
			limited = 0;
		}
		assert_int_equal(router_route_limited(&t[i]), limited);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_found),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_method_not_allowed),
	    cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
