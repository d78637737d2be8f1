/* test_spec.c - the container's shape (spec_container): hardening, limits,
 * labels, network and mounts, as the engine receives them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spec.h"

#define MiB (1024LL * 1024)

struct fixture {
	struct service svc;
	struct lang lang;
	struct limits lim;
	struct spec_desc d;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	config_defaults(&f->svc.cfg);
	free(f->svc.cfg.egress_dns);
	f->svc.cfg.egress_dns = xstrdup("198.51.100.53, 192.0.2.1");
	snprintf(f->svc.owner, sizeof(f->svc.owner), "host:42:1000");
	snprintf(f->svc.deployment, sizeof(f->svc.deployment), "host:abcd");
	/* Known, so that no engine is asked for its cgroup driver. */
	snprintf(f->svc.cgroup_parent, sizeof(f->svc.cgroup_parent),
		 "/isobox.slice");
	f->svc.cgroup_parent_known = 1;
	f->lang.name = "python";
	f->lang.version = "3.11";
	f->lang.image_ref = "sha256:0123";
	f->lim.memory_bytes = 128 * MiB;
	f->lim.cpus = 0.5;
	f->lim.pids = 32;
	f->lim.output_bytes = MiB;
	f->lim.wall_time_ms = 5000;
	f->lim.compile_wall_time_ms = 10000;
	f->lim.compile_memory_bytes = 256 * MiB;
	f->lim.tmpfs_bytes = 16 * MiB;
	f->d.lang = &f->lang;
	f->d.lim = &f->lim;
	f->d.request_id = "0123456789abcdef";
	f->d.deadline_wall_ms = 1700000000000LL;
	f->d.kind = "run";
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	config_free(&f->svc.cfg);
	free(f);
	return 0;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static int64_t num(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static int boolean(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_boolean));
	return json_object_get_boolean(v);
}

/* The string array a equals the NULL-terminated want. */
static void assert_strings(json_object *a, const char *const *want)
{
	size_t n = 0;

	assert_true(json_object_is_type(a, json_type_array));
	for (; want[n]; n++) {
		assert_true(n < json_object_array_length(a));
		assert_string_equal(
		    json_object_get_string(json_object_array_get_idx(a, n)),
		    want[n]);
	}
	assert_int_equal(json_object_array_length(a), n);
}

/* The string array a ends with the NULL-terminated want. */
static void assert_tail(json_object *a, const char *const *want)
{
	size_t n = 0;
	size_t len;

	while (want[n]) {
		n++;
	}
	assert_true(json_object_is_type(a, json_type_array));
	len = json_object_array_length(a);
	assert_true(len >= n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(
		    json_object_get_string(
			json_object_array_get_idx(a, len - n + i)),
		    want[i]);
	}
}

static void test_hardening(void **state)
{
	struct fixture *f = *state;
	json_object *spec = spec_container(&f->svc, &f->d);
	json_object *host = get(spec, "HostConfig");
	static const char *const drop[] = {"ALL", NULL};
	static const char *const add[] = {"SETUID", "SETGID", "KILL", NULL};
	static const char *const cmd[] = {"/.isobox/guest", NULL};
	json_object *sec;
	char *prof;

	assert_string_equal(str(spec, "Image"), "sha256:0123");
	assert_strings(get(spec, "Cmd"), cmd);
	assert_string_equal(str(spec, "WorkingDir"), "/box");
	assert_true(boolean(spec, "OpenStdin"));
	assert_true(boolean(spec, "StdinOnce"));
	assert_false(boolean(spec, "Tty"));
	assert_true(boolean(spec, "NetworkDisabled"));
	assert_string_equal(str(host, "Runtime"), f->svc.cfg.runtime);
	assert_string_equal(str(host, "NetworkMode"), "none");
	assert_false(json_object_object_get_ex(host, "Dns", NULL));
	assert_true(boolean(host, "ReadonlyRootfs"));
	assert_strings(get(host, "CapDrop"), drop);
	assert_strings(get(host, "CapAdd"), add);
	/* no-new-privileges and exactly our profile: never unconfined. */
	sec = get(host, "SecurityOpt");
	assert_int_equal(json_object_array_length(sec), 2);
	assert_string_equal(
	    json_object_get_string(json_object_array_get_idx(sec, 0)),
	    "no-new-privileges");
	prof = spec_seccomp_profile();
	assert_true(
	    strncmp(json_object_get_string(json_object_array_get_idx(sec, 1)),
		    "seccomp=", 8) == 0);
	assert_string_equal(
	    json_object_get_string(json_object_array_get_idx(sec, 1)) + 8,
	    prof);
	free(prof);
	assert_false(boolean(host, "Privileged"));
	assert_false(boolean(host, "AutoRemove"));
	assert_string_equal(str(host, "IpcMode"), "private");
	assert_string_equal(str(host, "CgroupParent"), "/isobox.slice");
	assert_string_equal(str(get(host, "LogConfig"), "Type"), "none");
	json_object_put(spec);
}

/* The profile: default allow, the refused list holds each attack class,
 * clone's namespace flags and personality's flags are refused by masked
 * rules that keep plain fork and the personality query allowed. */
static void test_seccomp_profile(void **state)
{
	static const char *const must[] = {
	    "unshare", "mount",		  "keyctl",	 "add_key",
	    "bpf",     "perf_event_open", "userfaultfd", "kexec_load",
	    "setns",   "init_module",	  "syslog",	 NULL};
	char *text = spec_seccomp_profile();
	json_object *p = json_tokener_parse(text);
	json_object *rules, *names, *r, *arg;
	size_t i, clone_rules = 0, persona_rules = 0;
	const char *const *m;

	(void)state;
	assert_non_null(p);
	assert_string_equal(str(p, "defaultAction"), "SCMP_ACT_ALLOW");
	rules = get(p, "syscalls");
	names = get(json_object_array_get_idx(rules, 0), "names");
	for (m = must; *m; m++) {
		int found = 0;

		for (i = 0; i < json_object_array_length(names); i++) {
			found |=
			    strcmp(json_object_get_string(
				       json_object_array_get_idx(names, i)),
				   *m) == 0;
		}
		assert_true(found);
	}
	for (i = 1; i < json_object_array_length(rules); i++) {
		const char *n;
		int64_t mask, want;

		r = json_object_array_get_idx(rules, i);
		assert_string_equal(str(r, "action"), "SCMP_ACT_ERRNO");
		n = json_object_get_string(
		    json_object_array_get_idx(get(r, "names"), 0));
		arg = json_object_array_get_idx(get(r, "args"), 0);
		assert_string_equal(str(arg, "op"), "SCMP_CMP_MASKED_EQ");
		mask = json_object_get_int64(get(arg, "value"));
		want = json_object_get_int64(get(arg, "valueTwo"));
		if (strcmp(n, "clone") == 0) {
			clone_rules++;
			/* fork's flags (SIGCHLD) and threads' never match */
			assert_int_not_equal(0x11 & mask, want);
			assert_int_not_equal(0x3d0f00 & mask, want);
		} else {
			assert_string_equal(n, "personality");
			persona_rules++;
			assert_int_not_equal(0xffffffffLL & mask, want);
			assert_int_not_equal(0, want);
		}
	}
	assert_int_equal(clone_rules, 7);
	assert_int_equal(persona_rules, 10);
	json_object_put(p);
	free(text);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	json_object *spec = spec_container(&f->svc, &f->d);
	json_object *host = get(spec, "HostConfig");
	json_object *tmpfs = get(host, "Tmpfs");
	const char *box;
	const char *tmp;

	/* No swap, and the Sentry's share on top of the user's memory. */
	assert_int_equal(num(host, "Memory"), 128 * MiB + SPEC_MEMORY_OVERHEAD);
	assert_int_equal(num(host, "MemorySwap"), num(host, "Memory"));
	assert_int_equal(num(host, "MemorySwappiness"), 0);
	assert_int_equal(spec_memory(&f->lang, &f->lim),
			 128 * MiB + SPEC_MEMORY_OVERHEAD);
	/* The Sentry's own threads: 512 + 16 per allowed task. */
	assert_int_equal(num(host, "PidsLimit"), 512 + 16 * 32);
	assert_int_equal(num(host, "NanoCpus"), 500000000);
	/* /box belongs to the user (uid 65534) through the mount itself. */
	box = str(tmpfs, "/box");
	assert_non_null(strstr(box, "size=16777216,"));
	assert_non_null(strstr(box, "mode=0755,uid=65534,gid=65534"));
	assert_non_null(strstr(box, "nosuid,nodev,noexec"));
	tmp = str(tmpfs, "/tmp");
	assert_non_null(strstr(tmp, "size=16777216,mode=1777,"));
	assert_non_null(strstr(tmp, "noexec"));
	json_object_put(spec);

	/* A compiled language: the larger of run and compile memory, and a
	 * language that needs exec on its tmpfs gets it. */
	f->lang.compile = (char *[]){"cc", NULL};
	f->lang.tmpfs_exec = 1;
	spec = spec_container(&f->svc, &f->d);
	host = get(spec, "HostConfig");
	assert_int_equal(num(host, "Memory"), 256 * MiB + SPEC_MEMORY_OVERHEAD);
	assert_int_equal(num(host, "MemorySwap"), num(host, "Memory"));
	assert_non_null(strstr(str(get(host, "Tmpfs"), "/box"), ",exec"));
	json_object_put(spec);
	f->lang.compile = NULL;
	f->lang.tmpfs_exec = 0;
}

static void test_labels(void **state)
{
	struct fixture *f = *state;
	json_object *spec = spec_container(&f->svc, &f->d);
	json_object *l = get(spec, "Labels");

	assert_string_equal(str(l, "isobox.managed"), "1");
	assert_string_equal(str(l, "isobox.owner"), "host:42:1000");
	assert_string_equal(str(l, "isobox.deployment"), "host:abcd");
	assert_string_equal(str(l, "isobox.deadline"), "1700000000000");
	assert_string_equal(str(l, "isobox.kind"), "run");
	assert_string_equal(str(l, "isobox.request"), "0123456789abcdef");
	assert_string_equal(str(l, "isobox.language"), "python");
	assert_string_equal(str(l, "isobox.network"), "0");
	json_object_put(spec);
}

static void test_network(void **state)
{
	struct fixture *f = *state;
	json_object *spec;
	json_object *host;
	static const char *const dns[] = {"198.51.100.53", "192.0.2.1", NULL};

	f->d.network = 1;
	spec = spec_container(&f->svc, &f->d);
	host = get(spec, "HostConfig");
	assert_false(boolean(spec, "NetworkDisabled"));
	assert_string_equal(str(host, "Runtime"), f->svc.cfg.network_runtime);
	assert_string_equal(str(host, "NetworkMode"),
			    f->svc.cfg.egress_network);
	assert_strings(get(host, "Dns"), dns);
	assert_int_equal(json_object_array_length(get(host, "DnsSearch")), 0);
	assert_string_equal(str(get(spec, "Labels"), "isobox.network"), "1");
	/* The hardening does not depend on the network. */
	assert_true(boolean(host, "ReadonlyRootfs"));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
				get(host, "CapDrop"), 0)),
			    "ALL");
	json_object_put(spec);
	f->d.network = 0;
}

static void test_mounts_and_guest_args(void **state)
{
	struct fixture *f = *state;
	struct spec_mount m[2] = {
	    {"/srv/isobox/ws/s1", "/workspace", 0},
	    {"/srv/isobox/vol/data", "/data", 1},
	};
	static const char *const args[] = {"--session", "--workdir",
					   "/workspace", NULL};
	static const char *const cmd[] = {"/.isobox/guest", "--session",
					  "--workdir", "/workspace", NULL};
	json_object *spec;
	json_object *binds;
	char *guest;

	spec = spec_container(&f->svc, &f->d);
	binds = get(get(spec, "HostConfig"), "Binds");
	assert_int_equal(json_object_array_length(binds), 1);
	json_object_put(spec);

	f->d.mounts = m;
	f->d.nmounts = 2;
	f->d.guest_args = args;
	f->d.kind = "session";
	spec = spec_container(&f->svc, &f->d);
	binds = get(get(spec, "HostConfig"), "Binds");
	guest = xasprintf("%s:/.isobox/guest:ro", f->svc.cfg.guest_path);
	{
		const char *const want[] = {
		    guest, "/srv/isobox/ws/s1:/workspace:rw",
		    "/srv/isobox/vol/data:/data:ro", NULL};

		assert_strings(binds, want);
	}
	free(guest);
	assert_strings(get(spec, "Cmd"), cmd);
	assert_string_equal(str(get(spec, "Labels"), "isobox.kind"), "session");
	/* Still read-only at the root: only the mounts are writable. */
	assert_true(boolean(get(spec, "HostConfig"), "ReadonlyRootfs"));
	json_object_put(spec);
	f->d.mounts = NULL;
	f->d.nmounts = 0;
	f->d.guest_args = NULL;
	f->d.kind = "run";
}

static void test_pool_prestart(void **state)
{
	struct fixture *f = *state;
	char *pre[] = {"python3", "-q", NULL};
	char *env[] = {"PYTHONUNBUFFERED=1", NULL};
	json_object *spec;

	f->lang.prestart = pre;
	f->lang.env = env;
	/* A one-shot run never prestarts: only warm sandboxes do. */
	spec = spec_container(&f->svc, &f->d);
	assert_int_equal(json_object_array_length(get(spec, "Cmd")), 1);
	/* ... and has no bootstraps bound. */
	assert_int_equal(
	    json_object_array_length(get(get(spec, "HostConfig"), "Binds")), 1);
	json_object_put(spec);
	f->d.kind = "pool";
	spec = spec_container(&f->svc, &f->d);
	{
		/* The bootstraps from beside the guest, read-only. */
		const char *g = f->svc.cfg.guest_path;
		const char *slash = strrchr(g, '/');
		char *guest = xasprintf("%s:/.isobox/guest:ro", g);
		char *boot = xasprintf("%.*s/prestart:/.isobox/prestart:ro",
				       (int)(slash - g), g);
		const char *const want[] = {guest, boot, NULL};

		assert_non_null(slash);
		assert_strings(get(get(spec, "HostConfig"), "Binds"), want);
		free(guest);
		free(boot);
	}
	{
		const char *const want[] = {"--prestart", "python3", "-q",
					    NULL};

		assert_tail(get(spec, "Cmd"), want);
	}
	json_object_put(spec);
	f->lang.prestart = NULL;
	f->lang.env = NULL;
	f->d.kind = "run";
}

/* A compiler server ("prestartStage: compile") starts in a warm sandbox
 * only, told which stage it stands in for; never in a session's. */
static void test_pool_prestart_compile(void **state)
{
	struct fixture *f = *state;
	char *pre[] = {"jc-server", NULL};
	char *comp[] = {"jc", "{files}", NULL};
	const char *const want[] = {"--prestart-stage", "compile", "--prestart",
				    "jc-server", NULL};
	json_object *spec;

	f->lang.prestart = pre;
	f->lang.prestart_compile = 1;
	f->lang.compile = comp;
	f->d.kind = "session";
	spec = spec_container(&f->svc, &f->d);
	assert_int_equal(json_object_array_length(get(spec, "Cmd")), 1);
	json_object_put(spec);
	f->d.kind = "pool";
	spec = spec_container(&f->svc, &f->d);
	assert_tail(get(spec, "Cmd"), want);
	json_object_put(spec);
	/* Without a compile stage there is nothing for it to serve. */
	f->lang.compile = NULL;
	spec = spec_container(&f->svc, &f->d);
	assert_int_equal(json_object_array_length(get(spec, "Cmd")), 1);
	json_object_put(spec);
	f->lang.prestart = NULL;
	f->lang.prestart_compile = 0;
	f->d.kind = "run";
}

/* prestartFifo: the guest is told where to hand the bootstrap its argv. */
static void test_pool_prestart_fifo(void **state)
{
	struct fixture *f = *state;
	char *pre[] = {"emacs", "-l", "boot.el", NULL};
	char *run[] = {"emacs", "--script", "{source}", NULL};
	const char *const want[] = {
	    "--prestart-fifo", "/tmp/go", "--prestart", "emacs", "-l",
	    "boot.el",	       NULL};
	char **old_run = f->lang.run;
	json_object *spec;

	f->lang.prestart = pre;
	f->lang.prestart_fifo = "/tmp/go";
	f->lang.run = run;
	f->d.kind = "pool";
	spec = spec_container(&f->svc, &f->d);
	assert_tail(get(spec, "Cmd"), want);
	json_object_put(spec);
	f->lang.prestart = NULL;
	f->lang.prestart_fifo = NULL;
	f->lang.run = old_run;
	f->d.kind = "run";
}

/* A runPrestart bootstrap is started beside the compiler server, each of
 * its arguments after --prestart-run, before --prestart. */
static void test_pool_run_prestart(void **state)
{
	struct fixture *f = *state;
	char *pre[] = {"jc-server", NULL};
	char *rpre[] = {"sh", "-c", "exec jr", NULL};
	char *comp[] = {"jc", "{files}", NULL};
	const char *const want[] = {"--prestart-stage",
				    "compile",
				    "--prestart-run",
				    "sh",
				    "--prestart-run",
				    "-c",
				    "--prestart-run",
				    "exec jr",
				    "--prestart",
				    "jc-server",
				    NULL};
	json_object *spec;

	f->lang.prestart = pre;
	f->lang.prestart_compile = 1;
	f->lang.run_prestart = rpre;
	f->lang.compile = comp;
	f->d.kind = "pool";
	spec = spec_container(&f->svc, &f->d);
	assert_tail(get(spec, "Cmd"), want);
	json_object_put(spec);
	f->d.kind = "session";
	spec = spec_container(&f->svc, &f->d);
	assert_int_equal(json_object_array_length(get(spec, "Cmd")), 1);
	json_object_put(spec);
	f->lang.compile = NULL;
	f->lang.prestart = NULL;
	f->lang.run_prestart = NULL;
	f->lang.prestart_compile = 0;
	f->d.kind = "run";
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hardening, setup, teardown),
	    cmocka_unit_test(test_seccomp_profile),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_network, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mounts_and_guest_args, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pool_prestart_compile, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pool_run_prestart, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pool_prestart_fifo, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pool_prestart, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
