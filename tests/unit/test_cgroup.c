/* test_cgroup.c - reading the slice's state from a fake cgroup tree: what
 * is returned when the slice is there, missing, or half unreadable (a
 * limit that cannot be read must not pass for "unlimited" silently). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup.h"
#include "util.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/isobox-cgroup-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *rel, const char *text)
{
	char *p = xasprintf("%s/%s", root, rel);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static void mk(const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);

	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
}

static void test_v2_slice(void **state)
{
	struct slice_state st;
	char why[128];

	(void)state;
	put("cgroup.controllers", "memory pids\n");
	/* Missing: -ENOENT, and not ready. */
	assert_int_equal(cgroup_slice_read(root, "/isobox.slice", &st),
			 -ENOENT);
	assert_int_equal(st.exists, 0);
	assert_int_equal(cgroup_slice_ready(&st, why, sizeof(why)), 0);

	mk("isobox.slice");
	mk("isobox.slice/sandbox1");
	put("isobox.slice/memory.max", "1073741824\n");
	put("isobox.slice/memory.current", "4096\n");
	put("isobox.slice/pids.max", "max\n");
	assert_int_equal(cgroup_slice_read(root, "/isobox.slice", &st), 0);
	assert_int_equal(st.v2, 1);
	assert_int_equal(st.exists, 1);
	assert_int_equal(st.memory_limit, 1073741824);
	assert_int_equal(st.memory_usage, 4096);
	assert_int_equal(st.pids_limit, -1);
	assert_int_equal(st.children, 1);
	/* No pids cap: readable, but not ready. */
	assert_int_equal(cgroup_slice_ready(&st, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "pids"));
	put("isobox.slice/pids.max", "512\n");
	assert_int_equal(cgroup_slice_read(root, "isobox.slice", &st), 0);
	assert_int_equal(cgroup_slice_ready(&st, why, sizeof(why)), 1);

	/* A limit that cannot be read is an error, not "unlimited". */
	put("isobox.slice/memory.max", "lots\n");
	assert_int_equal(cgroup_slice_read(root, "isobox.slice", &st), -EINVAL);
	assert_int_equal(st.memory_limit, -1);
	put("isobox.slice/memory.max", "1073741824\n");
	{
		char *p = xasprintf("%s/isobox.slice/memory.current", root);

		assert_int_equal(unlink(p), 0);
		free(p);
	}
	assert_int_equal(cgroup_slice_read(root, "isobox.slice", &st), -ENOENT);
	assert_int_equal(st.exists, 1);
	assert_int_equal(st.memory_limit, 1073741824);
}

#define ID_A "a6a8406d843f895242c25a47a6d6ab6fd4d2f2847cc87355bc2c29156b937b78"
#define ID_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int exists(const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);
	struct stat st;
	int r = stat(p, &st) == 0;

	free(p);
	return r;
}

/* Orphan cgroups of a v1 host: each controller is searched once (a symlink
 * naming the same hierarchy is skipped), only container-shaped names count
 * (a cgroupfs id, a systemd docker-ID.scope), and removal goes deepest
 * first and leaves everything else alone. */
static void test_v1_orphans(void **state)
{
	char ids[8][65];
	char *link;
	char *target;
	int killed = -1;
	int n;

	(void)state;
	mk("v1");
	mk("v1/memory");
	mk("v1/memory/isobox.slice");
	mk("v1/memory/isobox.slice/" ID_A);
	mk("v1/memory/isobox.slice/" ID_A "/nested");
	mk("v1/memory/isobox.slice/docker-" ID_B ".scope");
	mk("v1/memory/isobox.slice/not-a-container");
	mk("v1/memory/isobox.slice/"
	   "A6A8406D843F895242C25A47A6D6AB6FD4D2F2847CC87355BC2C29156B937B78");
	mk("v1/pids");
	mk("v1/pids/isobox.slice");
	mk("v1/pids/isobox.slice/" ID_A);
	mk("v1/cpu,cpuacct");
	link = xasprintf("%s/v1/cpu", root);
	target = xasprintf("%s/v1/memory", root);
	assert_int_equal(symlink(target, link), 0);
	free(link);
	free(target);
	put("v1/memory/isobox.slice/memory.limit_in_bytes", "1\n");

	link = xasprintf("%s/v1", root);
	n = cgroup_slice_ids(link, "/isobox.slice", ids, 8);
	assert_int_equal(n, 2);
	assert_true((strcmp(ids[0], ID_A) == 0 && strcmp(ids[1], ID_B) == 0) ||
		    (strcmp(ids[1], ID_A) == 0 && strcmp(ids[0], ID_B) == 0));
	assert_int_equal(cgroup_slice_ids(link, "isobox.slice", ids, 1), 1);
	assert_int_equal(cgroup_slice_ids(link, "other.slice", ids, 8), 0);

	/* never a path that is not a container's */
	assert_int_equal(
	    cgroup_remove_container(link, "isobox.slice", "../memory", &killed),
	    0);
	assert_int_equal(killed, 0);

	assert_int_equal(
	    cgroup_remove_container(link, "isobox.slice", ID_A, &killed), 1);
	assert_int_equal(killed, 0);
	assert_false(exists("v1/memory/isobox.slice/" ID_A));
	assert_false(exists("v1/pids/isobox.slice/" ID_A));
	assert_true(exists("v1/memory/isobox.slice/docker-" ID_B ".scope"));
	assert_true(exists("v1/memory/isobox.slice/not-a-container"));
	assert_true(exists("v1/memory/isobox.slice/memory.limit_in_bytes"));

	assert_int_equal(
	    cgroup_remove_container(link, "isobox.slice", ID_B, &killed), 1);
	assert_false(exists("v1/memory/isobox.slice/docker-" ID_B ".scope"));
	assert_int_equal(cgroup_slice_ids(link, "isobox.slice", ids, 8), 0);
	free(link);
}

/* A process whose parent calls itself "containerd-shim" counts as a live
 * engine's sandbox; one whose parent is anything else does not. */
static void test_attached(void **state)
{
	int p[2];
	pid_t shim;
	pid_t child = 0;
	char *text;
	char *r;

	(void)state;
	mk("v2");
	put("v2/cgroup.controllers", "memory pids\n");
	mk("v2/isobox.slice");
	mk("v2/isobox.slice/" ID_A);
	mk("v2/isobox.slice/" ID_B);
	mk("v2/isobox.slice/" ID_B "/inner");
	r = xasprintf("%s/v2", root);

	text = xasprintf("%d\n", (int)getpid());
	put("v2/isobox.slice/" ID_A "/cgroup.procs", text);
	free(text);
	assert_int_equal(cgroup_container_shim(r, "isobox.slice", ID_A), 0);

	assert_int_equal(pipe(p), 0);
	shim = fork();
	assert_true(shim >= 0);
	if (shim == 0) {
		pid_t g;

		prctl(PR_SET_NAME, "containerd-shim", 0, 0, 0);
		g = fork();
		if (g == 0) {
			pause();
			_exit(0);
		}
		if (write(p[1], &g, sizeof(g)) != sizeof(g)) {
			_exit(1);
		}
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &child, sizeof(child)), sizeof(child));
	text = xasprintf("%d\n", (int)child);
	put("v2/isobox.slice/" ID_B "/inner/cgroup.procs", text);
	free(text);
	assert_int_equal(cgroup_container_shim(r, "isobox.slice", ID_B), shim);
	assert_int_equal(cgroup_container_shim(r, "isobox.slice", ID_A), 0);
	assert_int_equal(cgroup_container_shim(r, "isobox.slice", "x"), -1);

	kill(child, SIGKILL);
	kill(shim, SIGKILL);
	waitpid(shim, NULL, 0);
	close(p[0]);
	close(p[1]);
	free(r);
}

static char *get(const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);
	FILE *f = fopen(p, "r");
	char buf[32] = "";

	free(p);
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	return xstrdup(buf);
}

static void expect(const char *rel, const char *want)
{
	char *got = get(rel);

	assert_string_equal(got, want);
	free(got);
}

/* A warm sandbox's weight: v1 cpu.shares (cgroupfs and systemd layouts),
 * v2 cpu.weight; nothing written for an id that is not one, or that has no
 * cgroup. */
/* cgroup_shim_args of a shim-like process (sh waiting on a pipe) with
 * the given flags after its script. */
static int shim_args_of(char *id, size_t idsize, char *addr, size_t addrsize,
			const char *a1, const char *a2, const char *a3,
			const char *a4, const char *a5)
{
	int p[2];
	int ok;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		execl("/bin/sh", "/bin/sh", "-c", "read x; :", "shim", a1, a2,
		      a3, a4, a5, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	usleep(100 * 1000); /* until the exec */
	ok = cgroup_shim_args(pid, id, idsize, addr, addrsize);
	close(p[1]);
	waitpid(pid, NULL, 0);
	if (ok && cgroup_shim_args(pid, id, idsize, addr, addrsize)) {
		return -1; /* read from a reaped pid */
	}
	return ok;
}

/* -id and -address are read in every form Go's flag package takes; a
 * process without them, or gone, gives nothing. */
static void test_shim_args(void **state)
{
	char id[65];
	char addr[32];

	(void)state;
	assert_int_equal(shim_args_of(id, sizeof(id), addr, sizeof(addr),
				      "-namespace", "moby", "-id", ID_A,
				      "-address=/run/c.sock"),
			 1);
	assert_string_equal(id, ID_A);
	assert_string_equal(addr, "/run/c.sock");
	assert_int_equal(shim_args_of(id, sizeof(id), addr, sizeof(addr),
				      "--address", "/a", "--id=abc", "-x", "y"),
			 1);
	assert_string_equal(id, "abc");
	assert_string_equal(addr, "/a");
	/* no -address; an -address too long for the buffer; a flag without
	 * its value */
	assert_int_equal(shim_args_of(id, sizeof(id), addr, sizeof(addr), "-id",
				      "abc", "-namespace", "moby", "-idx"),
			 0);
	assert_int_equal(
	    shim_args_of(id, sizeof(id), addr, sizeof(addr), "-address",
			 "/var/run/docker/containerd/containerd.sock", "-id",
			 "abc", "-x"),
	    0);
	assert_int_equal(shim_args_of(id, sizeof(id), addr, sizeof(addr), "-x",
				      "y", "-address", "/a", "-id"),
			 0);
}

static void test_cpu_weight(void **state)
{
	char *r;

	(void)state;
	mk("w1");
	mk("w1/cpu");
	mk("w1/cpu/isobox.slice");
	mk("w1/cpu/isobox.slice/" ID_A);
	mk("w1/cpu/isobox.slice/docker-" ID_B ".scope");
	put("w1/cpu/isobox.slice/" ID_A "/cpu.shares", "1024\n");
	put("w1/cpu/isobox.slice/docker-" ID_B ".scope/cpu.shares", "1024\n");
	put("w1/cpu/isobox.slice/cpu.shares", "1024\n");
	r = xasprintf("%s/w1", root);
	assert_int_equal(
	    cgroup_cpu_weight(r, "/isobox.slice", ID_A, CGROUP_CPU_LOW), 0);
	expect("w1/cpu/isobox.slice/" ID_A "/cpu.shares", "2");
	expect("w1/cpu/isobox.slice/docker-" ID_B ".scope/cpu.shares",
	       "1024\n");
	assert_int_equal(
	    cgroup_cpu_weight(r, "isobox.slice", ID_B, CGROUP_CPU_LOW), 0);
	expect("w1/cpu/isobox.slice/docker-" ID_B ".scope/cpu.shares", "2");
	assert_int_equal(
	    cgroup_cpu_weight(r, "isobox.slice", ID_A, CGROUP_CPU_NORMAL), 0);
	expect("w1/cpu/isobox.slice/" ID_A "/cpu.shares", "1024");
	/* not an id: never a path of its own making */
	assert_int_equal(
	    cgroup_cpu_weight(r, "isobox.slice", "..", CGROUP_CPU_LOW),
	    -EINVAL);
	assert_int_equal(
	    cgroup_cpu_weight(r, "isobox.slice", "../" ID_A, CGROUP_CPU_LOW),
	    -EINVAL);
	expect("w1/cpu/isobox.slice/cpu.shares", "1024\n");
	assert_int_equal(
	    cgroup_cpu_weight(r, "other.slice", ID_A, CGROUP_CPU_LOW), -ENOENT);
	free(r);

	mk("w2");
	mk("w2/isobox.slice");
	mk("w2/isobox.slice/" ID_A);
	put("w2/isobox.slice/" ID_A "/cpu.weight", "100\n");
	r = xasprintf("%s/w2", root);
	assert_int_equal(
	    cgroup_cpu_weight(r, "isobox.slice", ID_A, CGROUP_CPU_LOW), 0);
	expect("w2/isobox.slice/" ID_A "/cpu.weight", "1");
	assert_int_equal(
	    cgroup_cpu_weight(r, "isobox.slice", ID_A, CGROUP_CPU_NORMAL), 0);
	expect("w2/isobox.slice/" ID_A "/cpu.weight", "100");
	assert_int_equal(
	    cgroup_cpu_weight(r, "isobox.slice", ID_B, CGROUP_CPU_LOW),
	    -ENOENT);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v2_slice),
	    cmocka_unit_test(test_v1_orphans),
	    cmocka_unit_test(test_attached),
	    cmocka_unit_test(test_shim_args),
	    cmocka_unit_test(test_cpu_weight),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
