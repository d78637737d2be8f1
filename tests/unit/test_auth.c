/* test_auth.c - API keys, tenants, the keys file, and how the client
 * address is chosen behind proxies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "ratelimit.h"

#define KEYS(name) TEST_SRCDIR "/tests/unit/fixtures/keys/" name

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/isobox-auth-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *write_file(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void test_open_when_no_keys(void **state)
{
	struct isobox_err e;
	struct tenant t;
	struct keyring *k = auth_load("", "", &e);

	(void)state;
	assert_non_null(k);
	assert_int_equal(auth_check(k, NULL, &t, &e), 0);
	assert_string_equal(t.name, "public");
	assert_int_equal(t.kind, TENANT_OPEN);
	auth_free(k);
}

static void test_api_key(void **state)
{
	struct isobox_err e;
	struct tenant t;
	struct keyring *k = auth_load("s3cret", "", &e);

	(void)state;
	assert_non_null(k);
	assert_int_equal(auth_check(k, "s3cret", &t, &e), 0);
	assert_string_equal(t.name, "default");
	assert_int_equal(t.kind, TENANT_KEY);
	assert_int_equal(auth_check(k, NULL, &t, &e), -1);
	assert_int_equal(t.kind, TENANT_NONE);
	assert_int_equal(e.status, 401);
	assert_string_equal(e.code, "unauthorized");
	assert_int_equal(auth_check(k, "", &t, &e), -1);
	assert_int_equal(auth_check(k, "s3cret ", &t, &e), -1);
	assert_int_equal(auth_check(k, "S3CRET", &t, &e), -1);
	auth_free(k);
}

static void test_keys_file(void **state)
{
	struct isobox_err e;
	struct tenant t;
	char h[65];
	char *text;
	char *path;
	struct keyring *k;

	(void)state;
	auth_sha256_hex("alice-key", h);
	text = xasprintf("keys:\n"
			 "  - name: alice\n"
			 "    sha256: %s\n"
			 "    concurrency: 2\n"
			 "    rate_per_min: 60\n"
			 "    network: false\n"
			 "    ceilings: {wallTimeMs: 1000}\n",
			 h);
	path = write_file("keys.yaml", text);
	k = auth_load("", path, &e);
	assert_non_null(k);
	assert_int_equal(k->n, 1);
	assert_int_equal(auth_check(k, "alice-key", &t, &e), 0);
	assert_string_equal(t.name, "alice");
	assert_int_equal(t.concurrency, 2);
	assert_int_equal(t.rate_per_min, 60);
	assert_true(t.ceilings.set & LIM_WALL);
	assert_int_equal(t.ceilings.v.wall_time_ms, 1000);
	assert_int_equal(auth_check(k, "bob-key", &t, &e), -1);
	auth_free(k);
	free(text);
	free(path);
}

static void test_keys_file_errors(void **state)
{
	struct isobox_err e;
	char *p;

	(void)state;
	p = write_file("bad1.yaml", "keys:\n  - name: x\n    sha256: abc\n");
	assert_null(auth_load("", p, &e));
	assert_non_null(strstr(e.msg, "sha256"));
	free(p);
	p = write_file("bad2.yaml", "keys:\n  - name: 'a b'\n    sha256: "
				    "00000000000000000000000000000000000000000"
				    "00000000000000000000000\n");
	assert_null(auth_load("", p, &e));
	assert_non_null(strstr(e.msg, ":2:"));
	free(p);
	p = write_file("bad3.yaml", "keys:\n  - name: x\n    sha: 1\n");
	assert_null(auth_load("", p, &e));
	assert_non_null(strstr(e.msg, "sha"));
	free(p);
	/* A configured keys file that is missing is an error... */
	assert_non_null(p = xasprintf("%s/none.yaml", dir));
	assert_null(auth_load("", p, &e));
	assert_non_null(strstr(e.msg, "none.yaml"));
	free(p);
	/* ...and one that lists no keys lets nobody in. */
	p = write_file("empty.yaml", "keys: []\n");
	{
		struct keyring *k = auth_load("", p, &e);
		struct tenant t;

		assert_non_null(k);
		assert_int_equal(k->n, 0);
		assert_int_equal(auth_check(k, NULL, &t, &e), -1);
		assert_int_equal(e.status, 401);
		assert_int_equal(auth_check(k, "anything", &t, &e), -1);
		auth_free(k);
	}
	free(p);
}

/* A keys-file name is data: names that would be a path trick (".", "..",
 * "a/b"), the keyless callers' or the api_key's tenant ("public",
 * "default", in any case), "no tenant" ("-", "") or a second entry of a
 * tenant are refused at load, naming the file, the line and the name. */
static void expect_bad_name(const char *file, const char *shown)
{
	struct isobox_err e;

	memset(&e, 0, sizeof(e));
	assert_null(auth_load("", file, &e));
	assert_string_equal(e.code, "config_invalid");
	assert_non_null(strstr(e.msg, ":3:"));
	assert_non_null(strstr(e.msg, shown));
	/* With the api_key as well: still refused, not merged. */
	assert_null(auth_load("s3cret", file, &e));
}

static void test_tenant_names_are_data(void **state)
{
	(void)state;
	expect_bad_name(KEYS("name_dotdot.yaml"), "'..': name must be");
	expect_bad_name(KEYS("name_dot.yaml"), "'.': name must be");
	expect_bad_name(KEYS("name_dash.yaml"), "'-': name must be");
	expect_bad_name(KEYS("name_leading_dash.yaml"), "'-x': name must be");
	expect_bad_name(KEYS("name_slash.yaml"), "'a/b': name must be");
	expect_bad_name(KEYS("name_empty.yaml"), "'': name must be");
	expect_bad_name(KEYS("name_public.yaml"), "'public': name is reserved");
	expect_bad_name(KEYS("name_public_upper.yaml"),
			"'PUBLIC': name is reserved");
	expect_bad_name(KEYS("name_default.yaml"),
			"'default': name is reserved");
}

static void test_tenant_name_twice(void **state)
{
	struct isobox_err e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_null(auth_load("", KEYS("name_twice.yaml"), &e));
	assert_non_null(strstr(e.msg, ":5:"));
	assert_non_null(strstr(e.msg, "'Alice' is used twice"));
}

static void test_tenant_good_names(void **state)
{
	struct isobox_err e;
	struct tenant t;
	struct keyring *k = auth_load("s3cret", KEYS("good.yaml"), &e);

	(void)state;
	assert_non_null(k);
	assert_int_equal(k->n, 3);
	assert_int_equal(auth_check(k, "alice-key", &t, &e), 0);
	assert_string_equal(t.name, "alice");
	assert_int_equal(t.kind, TENANT_KEY);
	assert_int_equal(auth_check(k, "bob-key", &t, &e), 0);
	assert_string_equal(t.name, "bob.example-1_x");
	assert_int_equal(t.kind, TENANT_KEY);
	auth_free(k);
}

/* A reload that meets a bad file keeps the keys in force and says so. */
static void test_reload_keeps_previous_keys(void **state)
{
	struct isobox_err e;
	struct tenant t;
	struct keyring *k;
	char *path = xasprintf("%s/reload.yaml", dir);
	char *cmd;

	(void)state;
	cmd = xasprintf("cp '%s' '%s'", KEYS("good.yaml"), path);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(auth_reload("", path, 1), 1);
	cmd = xasprintf("cp '%s' '%s'", KEYS("name_dotdot.yaml"), path);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(auth_reload("", path, 1), -EINVAL);
	k = auth_get();
	assert_non_null(k);
	assert_int_equal(k->n, 2);
	assert_int_equal(auth_check(k, "alice-key", &t, &e), 0);
	assert_string_equal(t.name, "alice");
	auth_put(k);
	/* Unchanged since the failed attempt: not re-read. */
	assert_int_equal(auth_reload("", path, 0), 0);
	free(path);
}

static void test_presented(void **state)
{
	(void)state;
	assert_string_equal(auth_presented("k1", "Bearer k2"), "k1");
	assert_string_equal(auth_presented(NULL, "Bearer k2"), "k2");
	assert_string_equal(auth_presented("", "bearer   k3"), "k3");
	assert_null(auth_presented(NULL, "Basic abc"));
	assert_null(auth_presented(NULL, "Bearer "));
	assert_null(auth_presented(NULL, NULL));
}

static void test_client_ip(void **state)
{
	char ip[64];

	(void)state;
	/* Untrusted peer: headers are ignored. */
	ratelimit_client_ip("203.0.113.5", "1.2.3.4", "", ip, sizeof(ip));
	assert_string_equal(ip, "203.0.113.5");
	ratelimit_client_ip("203.0.113.5", "1.2.3.4", "127.0.0.1/32", ip,
			    sizeof(ip));
	assert_string_equal(ip, "203.0.113.5");
	/* Trusted proxy: the right-most untrusted hop. */
	ratelimit_client_ip("127.0.0.1", "9.9.9.9, 198.51.100.7", "127.0.0.1",
			    ip, sizeof(ip));
	assert_string_equal(ip, "198.51.100.7");
	ratelimit_client_ip("10.0.0.2", "198.51.100.7, 10.0.0.9", "10.0.0.0/8",
			    ip, sizeof(ip));
	assert_string_equal(ip, "198.51.100.7");
	ratelimit_client_ip("::1", "2001:db8::1", "::1/128", ip, sizeof(ip));
	assert_string_equal(ip, "2001:db8::1");
	/* Every hop trusted: the left-most one. */
	ratelimit_client_ip("127.0.0.1", "127.0.0.2", "127.0.0.0/8", ip,
			    sizeof(ip));
	assert_string_equal(ip, "127.0.0.2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_when_no_keys),
	    cmocka_unit_test(test_api_key),
	    cmocka_unit_test(test_keys_file),
	    cmocka_unit_test(test_keys_file_errors),
	    cmocka_unit_test(test_tenant_names_are_data),
	    cmocka_unit_test(test_tenant_name_twice),
	    cmocka_unit_test(test_tenant_good_names),
	    cmocka_unit_test(test_reload_keeps_previous_keys),
	    cmocka_unit_test(test_presented),
	    cmocka_unit_test(test_client_ip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
