/* test_exec.c - the pure parts of exec: a tenant's ceilings only ever
 * lower the configured ones, and how a finished run's outcome is named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "exec.h"

#define MiB (1024LL * 1024)

static void global_ceilings(struct limits *c)
{
	memset(c, 0, sizeof(*c));
	c->memory_bytes = 512 * MiB;
	c->cpus = 2;
	c->pids = 128;
	c->output_bytes = 4 * MiB;
	c->wall_time_ms = 30000;
	c->compile_wall_time_ms = 60000;
	c->compile_memory_bytes = 1024 * MiB;
	c->tmpfs_bytes = 64 * MiB;
}

static void test_ceilings_only_lower(void **state)
{
	struct tenant t;
	struct limits c;
	struct limits want;

	(void)state;
	memset(&t, 0, sizeof(t));
	/* Lower memory and cpus, higher wall time and pids. */
	limits_set(&t.ceilings, LIM_MEMORY, (double)(128 * MiB));
	limits_set(&t.ceilings, LIM_CPUS, 0.5);
	limits_set(&t.ceilings, LIM_WALL, 600000);
	limits_set(&t.ceilings, LIM_PIDS, 4096);
	global_ceilings(&c);
	global_ceilings(&want);
	want.memory_bytes = 128 * MiB;
	want.cpus = 0.5;
	exec_tenant_ceilings(&t, &c);
	assert_memory_equal(&c, &want, sizeof(c));
}

static void test_ceilings_unset_change_nothing(void **state)
{
	struct tenant t;
	struct limits c;
	struct limits want;

	(void)state;
	memset(&t, 0, sizeof(t));
	global_ceilings(&c);
	global_ceilings(&want);
	exec_tenant_ceilings(&t, &c);
	assert_memory_equal(&c, &want, sizeof(c));
	/* A value present but not flagged in .set is ignored. */
	t.ceilings.v.memory_bytes = 1;
	exec_tenant_ceilings(&t, &c);
	assert_memory_equal(&c, &want, sizeof(c));
	/* Equal to the configured ceiling: unchanged. */
	limits_set(&t.ceilings, LIM_OUTPUT, (double)(4 * MiB));
	exec_tenant_ceilings(&t, &c);
	assert_memory_equal(&c, &want, sizeof(c));
}

static void test_ceilings_every_field(void **state)
{
	unsigned bit;

	(void)state;
	for (bit = 1; bit & LIM_ALL; bit <<= 1) {
		struct tenant t;
		struct limits c;

		memset(&t, 0, sizeof(t));
		global_ceilings(&c);
		limits_set(&t.ceilings, bit, 1);
		exec_tenant_ceilings(&t, &c);
		assert_true(limits_get(&c, bit) == 1);
		global_ceilings(&c);
		limits_set(&t.ceilings, bit, 1e12);
		exec_tenant_ceilings(&t, &c);
		{
			struct limits g;

			global_ceilings(&g);
			assert_true(limits_get(&c, bit) == limits_get(&g, bit));
		}
	}
}

static void test_outcome(void **state)
{
	struct exec_run run;

	(void)state;
	memset(&run, 0, sizeof(run));
	run.res.run.ran = 1;
	assert_string_equal(exec_outcome(&run), "ok");
	run.res.run.exit_code = 3;
	assert_string_equal(exec_outcome(&run), "error");
	run.res.run.truncated = 1;
	assert_string_equal(exec_outcome(&run), "truncated");
	run.res.run.timed_out = 1;
	assert_string_equal(exec_outcome(&run), "timeout");
	run.res.run.oom_killed = 1;
	assert_string_equal(exec_outcome(&run), "oom");

	/* A compiled language whose compile failed: the compile stage is
	 * judged, and a plain failure is compile_error. */
	memset(&run, 0, sizeof(run));
	run.res.has_compile = 1;
	run.res.compile.ran = 1;
	run.res.compile.exit_code = 1;
	assert_string_equal(exec_outcome(&run), "compile_error");
	run.res.compile.timed_out = 1;
	assert_string_equal(exec_outcome(&run), "timeout");
	/* Once the program ran, its own stage decides. */
	memset(&run, 0, sizeof(run));
	run.res.has_compile = 1;
	run.res.compile.ran = 1;
	run.res.run.ran = 1;
	assert_string_equal(exec_outcome(&run), "ok");
	run.res.run.oom_killed = 1;
	assert_string_equal(exec_outcome(&run), "oom");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ceilings_only_lower),
	    cmocka_unit_test(test_ceilings_unset_change_nothing),
	    cmocka_unit_test(test_ceilings_every_field),
	    cmocka_unit_test(test_outcome),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
