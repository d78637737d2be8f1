/* test_config.c - the configuration an operator writes: defaults that pass
 * their own validation, a full isobox.yaml, errors that point at the file,
 * line and key, and environment overrides on top. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define FIXTURE(name) TEST_SRCDIR "/tests/unit/fixtures/config/" name

static const char *const env_vars[] = {
    "ISOBOX_CONFIG",
    "ISOBOX_REGISTRY",
    "ISOBOX_IMAGES_LOCK",
    "ISOBOX_GUEST",
    "ISOBOX_STATE_DIR",
    "ISOBOX_RUN_DIR",
    "ISOBOX_THREADS",
    "ISOBOX_CONCURRENCY",
    "ISOBOX_QUEUE_TIMEOUT_MS",
    "ISOBOX_API_KEY",
    "ISOBOX_RATE_PER_MIN",
    "ISOBOX_RATE_BURST",
    "ISOBOX_ALLOW_NETWORK",
    "ISOBOX_EGRESS_NETWORK",
    "ISOBOX_EGRESS_DNS",
    "ISOBOX_CGROUP_PARENT",
    "ISOBOX_RUNTIME",
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_API_VERSION",
    "ISOBOX_RATELIMIT_MAX_BUCKETS",
    "ISOBOX_STORE_ROOT",
    "ISOBOX_STORE_IMAGE",
    "ISOBOX_STORE_SIZE",
    "ISOBOX_STORE_RESERVE_BYTES",
    NULL,
};

/* Every test starts from an environment without overrides, whatever the
 * machine running the tests has set. */
static int clear_env(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; env_vars[i] != NULL; i++) {
		unsetenv(env_vars[i]);
	}
	return 0;
}

static void test_defaults_valid(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_validate(&c, &err), 0);
	assert_int_equal(c.threads, 8);
	assert_int_equal(c.concurrency, 4);
	assert_int_equal(c.queue_timeout_ms, 10000);
	assert_int_equal(c.max_body_bytes, 4 * 1024 * 1024);
	assert_int_equal(c.max_files, 64);
	assert_int_equal(c.allow_network, 0);
	assert_int_equal(c.rate_per_min, 30);
	assert_int_equal(c.rate_burst, 10);
	assert_string_equal(c.images_lock, "/var/lib/isobox/images.lock");
	assert_string_equal(c.state_dir, "/var/lib/isobox");
	assert_string_equal(c.run_dir, "/run/isobox");
	assert_string_equal(c.egress_network, "isobox-egress");
	assert_string_equal(c.egress_dns, "");
	assert_string_equal(c.api_key, "");
	assert_string_equal(c.cgroup_parent, "isobox.slice");
	assert_string_equal(c.docker_host, "unix:///var/run/docker.sock");
	assert_int_equal(c.docker_tls_verify, 0);
	assert_string_equal(c.docker_cert_path, "");
	assert_string_equal(c.docker_api_version, "1.41");
	assert_string_equal(c.runtime, "runsc-isobox");
	assert_string_equal(c.network_runtime, "runsc-isobox-net");
	assert_non_null(strstr(c.registry, "/registry"));
	assert_non_null(strstr(c.guest_path, "/isobox-guest"));
	assert_int_equal(c.defaults.memory_bytes, 256 << 20);
	assert_true(c.defaults.cpus == 1.0);
	assert_int_equal(c.defaults.wall_time_ms, 5000);
	assert_int_equal(c.floors.memory_bytes, 8 << 20);
	assert_int_equal(c.ceilings.compile_memory_bytes, 1 << 30);
	assert_int_equal(c.ceilings.tmpfs_bytes, 256 << 20);
	config_free(&c);
}

static void test_empty_file_gives_defaults(void **state)
{
	struct config c;
	struct config d;
	struct isobox_err err = {0};

	(void)state;
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), 0);
	config_defaults(&d);
	assert_int_equal(c.threads, d.threads);
	assert_string_equal(c.docker_host, d.docker_host);
	assert_memory_equal(&c.defaults, &d.defaults, sizeof(d.defaults));
	assert_memory_equal(&c.floors, &d.floors, sizeof(d.floors));
	assert_memory_equal(&c.ceilings, &d.ceilings, sizeof(d.ceilings));
	config_free(&c);
	config_free(&d);
}

static void test_full_file(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	assert_int_equal(config_load(&c, FIXTURE("full.yaml"), &err), 0);
	assert_int_equal(c.threads, 16);
	assert_string_equal(c.registry, "/opt/isobox/registry");
	assert_string_equal(c.images_lock, "/opt/isobox/images.lock");
	assert_string_equal(c.guest_path, "/opt/isobox/isobox-guest");
	assert_string_equal(c.state_dir, "/srv/isobox/state");
	assert_string_equal(c.run_dir, "/srv/isobox/run");
	assert_int_equal(c.concurrency, 12);
	assert_int_equal(c.queue_timeout_ms, 2500);
	assert_int_equal(c.max_body_bytes, 8 * 1024 * 1024);
	assert_int_equal(c.max_files, 32);
	assert_int_equal(c.allow_network, 1);
	assert_string_equal(c.egress_network, "egress-test");
	assert_string_equal(c.egress_dns, "198.51.100.53,203.0.113.53");
	assert_string_equal(c.api_key, "s3cret");
	assert_int_equal(c.rate_per_min, 120);
	assert_int_equal(c.rate_burst, 20);
	assert_string_equal(c.cgroup_parent, "test.slice");
	assert_string_equal(c.docker_host, "tcp://10.0.0.5:2376");
	assert_int_equal(c.docker_tls_verify, 1);
	assert_string_equal(c.docker_cert_path, "/etc/isobox/docker-certs");
	assert_string_equal(c.docker_api_version, "1.43");
	assert_string_equal(c.runtime, "runsc-test");
	assert_string_equal(c.network_runtime, "runsc-test-net");
	/* Named limits change; the others keep their defaults. */
	assert_int_equal(c.defaults.memory_bytes, 128 << 20);
	assert_true(c.defaults.cpus == 0.5);
	assert_int_equal(c.defaults.wall_time_ms, 3000);
	assert_int_equal(c.defaults.pids, 64);
	assert_int_equal(c.floors.pids, 4);
	assert_int_equal(c.floors.memory_bytes, 8 << 20);
	assert_int_equal(c.ceilings.memory_bytes, 1 << 30);
	assert_true(c.ceilings.cpus == 1.5);
	assert_int_equal(c.ceilings.tmpfs_bytes, 128 << 20);
	config_free(&c);
}

static void test_unknown_key(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	assert_int_equal(config_load(&c, FIXTURE("unknown_key.yaml"), &err),
			 -1);
	assert_non_null(strstr(err.msg, "unknown_key.yaml:3:"));
	assert_non_null(strstr(err.msg, "unknown key 'thread'"));
	/* c was freed: freeing again is harmless. */
	assert_null(c.registry);
	config_free(&c);
}

static void test_wrong_type(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	assert_int_equal(config_load(&c, FIXTURE("wrong_type.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "wrong_type.yaml:4:"));
	assert_non_null(strstr(err.msg, "docker.tls_verify"));
	assert_non_null(strstr(err.msg, "'maybe'"));

	assert_int_equal(config_load(&c, FIXTURE("wrong_type_int.yaml"), &err),
			 -1);
	assert_non_null(strstr(err.msg, "wrong_type_int.yaml:3:"));
	assert_non_null(strstr(err.msg, "concurrency"));
	assert_non_null(strstr(err.msg, "integer"));
}

static void test_syntax_error(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	assert_int_equal(config_load(&c, FIXTURE("syntax.yaml"), &err), -1);
	/* FILE:LINE:COL: problem */
	assert_non_null(strstr(err.msg, "syntax.yaml:"));
	assert_non_null(strstr(err.msg, ":3:"));
}

static void test_missing_file(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	/* Named explicitly: must exist. */
	assert_int_equal(config_load(&c, FIXTURE("nope.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "nope.yaml"));

	setenv("ISOBOX_CONFIG", FIXTURE("nope.yaml"), 1);
	assert_int_equal(config_load(&c, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "nope.yaml"));

	/* ISOBOX_CONFIG names the file when no path is given. */
	setenv("ISOBOX_CONFIG", FIXTURE("full.yaml"), 1);
	assert_int_equal(config_load(&c, NULL, &err), 0);
	assert_int_equal(c.threads, 16);
	config_free(&c);
}

static void test_missing_default_file(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	/* The built-in default path may be missing (when it is present on
	 * this machine, its content is not ours to predict). */
	if (access(ISOBOX_DEFAULT_CONFIG, F_OK) == 0) {
		skip();
	}
	assert_int_equal(config_load(&c, NULL, &err), 0);
	assert_int_equal(c.threads, 8);
	config_free(&c);
}

static void test_nested_errors(void **state)
{
	char dir[] = "/tmp/isobox-test-config-XXXXXX";
	char path[128];
	struct config c;
	struct isobox_err err = {0};
	static const struct {
		const char *yaml;
		const char *want[2];
	} cases[] = {
	    {"docker:\n  hots: unix:///x\n", {":2:", "unknown key 'hots'"}},
	    {"limits:\n  defaults:\n    memory: 1\n",
	     {":3:", "unknown key 'memory' in limits.defaults"}},
	    {"limits:\n  ceiling: {}\n", {":2:", "unknown key 'ceiling'"}},
	    {"limits:\n  defaults:\n    pids: 1.5\n",
	     {":3:", "limits.defaults.pids"}},
	    {"limits:\n  defaults:\n    cpus: -1\n",
	     {":3:", "limits.defaults.cpus"}},
	    {"threads: [1, 2]\n", {":1:", "threads: expected an integer"}},
	    {"threads: 1000\n", {":1:", "out of range"}},
	    {"docker: yes\n", {":1:", "docker: expected a mapping"}},
	    {"threads: 1\nthreads: 2\n", {":2:", "duplicate key 'threads'"}},
	    {"- threads\n", {":1:", "expected a mapping"}},
	    {"registry: \"\"\n", {"registry", "must not be empty"}},
	    {"docker:\n  host: http://x\n", {"docker.host", "unix://"}},
	    {"docker:\n  api_version: v1\n", {"api_version", "1.41"}},
	};
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/isobox.yaml", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(cases[i].yaml, f);
		fclose(f);
		memset(&err, 0, sizeof(err));
		assert_int_equal(config_load(&c, path, &err), -1);
		if (strstr(err.msg, cases[i].want[0]) == NULL ||
		    strstr(err.msg, cases[i].want[1]) == NULL) {
			fail_msg("case %zu: got \"%s\"", i, err.msg);
		}
	}
	unlink(path);
	rmdir(dir);
}

static void test_env_overrides(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	setenv("ISOBOX_CONCURRENCY", "16", 1);
	setenv("ISOBOX_THREADS", "3", 1);
	setenv("ISOBOX_QUEUE_TIMEOUT_MS", "0", 1);
	setenv("ISOBOX_ALLOW_NETWORK", "on", 1);
	setenv("ISOBOX_API_KEY", "k", 1);
	setenv("ISOBOX_REGISTRY", "/tmp/reg", 1);
	setenv("ISOBOX_RUNTIME", "runsc-other", 1);
	setenv("DOCKER_HOST", "tcp://127.0.0.1:2375", 1);
	setenv("DOCKER_API_VERSION", "1.44", 1);
	/* Empty means unset: the default stays. */
	setenv("ISOBOX_CGROUP_PARENT", "", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), 0);
	assert_int_equal(c.concurrency, 16);
	assert_int_equal(c.threads, 3);
	assert_int_equal(c.queue_timeout_ms, 0);
	assert_int_equal(c.allow_network, 1);
	assert_string_equal(c.api_key, "k");
	assert_string_equal(c.registry, "/tmp/reg");
	assert_string_equal(c.runtime, "runsc-other");
	assert_string_equal(c.docker_host, "tcp://127.0.0.1:2375");
	assert_string_equal(c.docker_api_version, "1.44");
	assert_string_equal(c.cgroup_parent, "isobox.slice");
	assert_int_equal(c.docker_tls_verify, 0);
	config_free(&c);

	/* The environment wins over the file. */
	assert_int_equal(config_load(&c, FIXTURE("full.yaml"), &err), 0);
	assert_int_equal(c.concurrency, 16);
	assert_string_equal(c.docker_host, "tcp://127.0.0.1:2375");
	assert_string_equal(c.api_key, "k");
	config_free(&c);

	/* ISOBOX_API_KEY="" turns a configured key off. */
	setenv("ISOBOX_API_KEY", "", 1);
	assert_int_equal(config_load(&c, FIXTURE("full.yaml"), &err), 0);
	assert_string_equal(c.api_key, "");
	config_free(&c);
}

/* The store keys: defaults, sizes from the environment, and paths that
 * must be absolute. */
static void test_store_keys(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), 0);
	assert_string_equal(c.store_root, "/var/lib/isobox/store");
	assert_string_equal(c.store_image, "/var/lib/isobox/store.img");
	assert_int_equal(c.store_size, 8LL << 30);
	assert_int_equal(c.store_reserve_bytes, 512LL << 20);
	config_free(&c);
	setenv("ISOBOX_STORE_ROOT", "/srv/store", 1);
	setenv("ISOBOX_STORE_SIZE", "16GiB", 1);
	setenv("ISOBOX_STORE_RESERVE_BYTES", "0", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), 0);
	assert_string_equal(c.store_root, "/srv/store");
	assert_int_equal(c.store_size, 16LL << 30);
	assert_int_equal(c.store_reserve_bytes, 0);
	config_free(&c);
	setenv("ISOBOX_STORE_SIZE", "1M", 1); /* below 256 MiB */
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "ISOBOX_STORE_SIZE"));
	unsetenv("ISOBOX_STORE_SIZE");
	setenv("ISOBOX_STORE_ROOT", "relative/store", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "store_root"));
	unsetenv("ISOBOX_STORE_ROOT");
	unsetenv("ISOBOX_STORE_RESERVE_BYTES");
}

static void test_docker_tls_env(void **state)
{
	struct config c;
	struct isobox_err err = {0};
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	(void)state;
	setenv("HOME", "/home/tester", 1);
	/* Like the docker CLI, any non-empty value turns TLS on, "0" too. */
	setenv("DOCKER_TLS_VERIFY", "0", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), 0);
	assert_int_equal(c.docker_tls_verify, 1);
	assert_string_equal(c.docker_cert_path, "/home/tester/.docker");
	config_free(&c);

	setenv("DOCKER_CERT_PATH", "/certs", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), 0);
	assert_string_equal(c.docker_cert_path, "/certs");
	config_free(&c);

	/* Empty: TLS stays as configured (off by default). */
	setenv("DOCKER_TLS_VERIFY", "", 1);
	unsetenv("DOCKER_CERT_PATH");
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), 0);
	assert_int_equal(c.docker_tls_verify, 0);
	assert_string_equal(c.docker_cert_path, "");
	config_free(&c);

	if (home != NULL) {
		setenv("HOME", home, 1);
		free(home);
	} else {
		unsetenv("HOME");
	}
}

static void test_bad_env_value(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	setenv("ISOBOX_THREADS", "eight", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "ISOBOX_THREADS"));
	assert_non_null(strstr(err.msg, "eight"));
	unsetenv("ISOBOX_THREADS");

	setenv("ISOBOX_CONCURRENCY", "0", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "ISOBOX_CONCURRENCY"));
	assert_non_null(strstr(err.msg, "out of range"));
	unsetenv("ISOBOX_CONCURRENCY");

	setenv("ISOBOX_ALLOW_NETWORK", "perhaps", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "ISOBOX_ALLOW_NETWORK"));
	unsetenv("ISOBOX_ALLOW_NETWORK");

	setenv("ISOBOX_RATE_BURST", "10 ", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "ISOBOX_RATE_BURST"));
	unsetenv("ISOBOX_RATE_BURST");

	setenv("DOCKER_HOST", "ssh://user@host", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "docker.host"));
	unsetenv("DOCKER_HOST");
}

/* egress_dns: a YAML list or a string, ISOBOX_EGRESS_DNS on top; every
 * entry must be an IPv4 address. */
static void test_egress_dns(void **state)
{
	static const char *const bad[] = {
	    "198.51.100.1, example.com",
	    "::1",
	    "1.2.3",
	    "300.1.1.1",
	    "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,"
	    "1.1.1.9",
	    NULL,
	};
	struct config c;
	struct isobox_err err = {0};
	char dns[CONFIG_MAX_DNS][16];
	size_t i;

	(void)state;
	assert_int_equal(config_dns_list(" 198.51.100.53,203.0.113.053 ", dns,
					 CONFIG_MAX_DNS),
			 -1); /* a leading zero is not a dotted quad */
	assert_int_equal(
	    config_dns_list("198.51.100.53, 203.0.113.5", dns, CONFIG_MAX_DNS),
	    2);
	assert_string_equal(dns[0], "198.51.100.53");
	assert_string_equal(dns[1], "203.0.113.5");
	assert_int_equal(config_dns_list("", dns, CONFIG_MAX_DNS), 0);

	setenv("ISOBOX_EGRESS_DNS", "203.0.113.9", 1);
	assert_int_equal(config_load(&c, FIXTURE("full.yaml"), &err), 0);
	assert_string_equal(c.egress_dns, "203.0.113.9");
	config_free(&c);
	for (i = 0; bad[i]; i++) {
		setenv("ISOBOX_EGRESS_DNS", bad[i], 1);
		assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err),
				 -1);
		assert_non_null(strstr(err.msg, "egress_dns"));
	}
	/* The message names the wrong entry, even past the count limit. */
	setenv("ISOBOX_EGRESS_DNS", "198.51.100.1, example.com", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "example.com"));
	setenv("ISOBOX_EGRESS_DNS",
	       "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,"
	       "1.1.1.8,1.1.1.9,nope",
	       1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "nope"));
	assert_int_equal(config_dns_list("1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,"
					 "1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8",
					 dns, CONFIG_MAX_DNS),
			 CONFIG_MAX_DNS);
	unsetenv("ISOBOX_EGRESS_DNS");
	setenv("ISOBOX_EGRESS_NETWORK", "bad/name", 1);
	assert_int_equal(config_load(&c, FIXTURE("empty.yaml"), &err), -1);
	assert_non_null(strstr(err.msg, "egress_network"));
	unsetenv("ISOBOX_EGRESS_NETWORK");
}

static void test_floors_above_ceilings(void **state)
{
	struct config c;
	struct isobox_err err = {0};

	(void)state;
	assert_int_equal(config_load(&c, FIXTURE("floors_above.yaml"), &err),
			 -1);
	assert_non_null(strstr(err.msg, "limits.floors.wallTimeMs (30000)"));
	assert_non_null(strstr(err.msg, "limits.ceilings.wallTimeMs (20000)"));

	config_defaults(&c);
	c.floors.cpus = 3.0;
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "limits.floors.cpus"));

	c.floors.cpus = 0.1;
	c.defaults.memory_bytes = c.ceilings.memory_bytes + 1;
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "limits.defaults.memoryBytes"));

	c.defaults.memory_bytes = c.floors.memory_bytes - 1;
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "limits.floors.memoryBytes"));

	/* A zero floor would mean "unlimited" to the engine. */
	c.defaults.memory_bytes = 256 << 20;
	c.floors.tmpfs_bytes = 0;
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "limits.floors.tmpfsBytes"));

	c.floors.tmpfs_bytes = 1 << 20;
	c.threads = 0;
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "threads"));
	c.threads = 256;
	c.concurrency = 4097;
	assert_int_equal(config_validate(&c, &err), -1);
	assert_non_null(strstr(err.msg, "concurrency"));
	c.concurrency = 4096;
	assert_int_equal(config_validate(&c, &err), 0);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_defaults_valid, clear_env),
	    cmocka_unit_test_setup(test_empty_file_gives_defaults, clear_env),
	    cmocka_unit_test_setup(test_full_file, clear_env),
	    cmocka_unit_test_setup(test_unknown_key, clear_env),
	    cmocka_unit_test_setup(test_wrong_type, clear_env),
	    cmocka_unit_test_setup(test_syntax_error, clear_env),
	    cmocka_unit_test_setup(test_missing_file, clear_env),
	    cmocka_unit_test_setup(test_missing_default_file, clear_env),
	    cmocka_unit_test_setup(test_nested_errors, clear_env),
	    cmocka_unit_test_setup(test_env_overrides, clear_env),
	    cmocka_unit_test_setup(test_store_keys, clear_env),
	    cmocka_unit_test_setup(test_docker_tls_env, clear_env),
	    cmocka_unit_test_setup(test_bad_env_value, clear_env),
	    cmocka_unit_test_setup(test_egress_dns, clear_env),
	    cmocka_unit_test_setup(test_floors_above_ceilings, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
