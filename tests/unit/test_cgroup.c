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
#include <sys/stat.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v2_slice),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
