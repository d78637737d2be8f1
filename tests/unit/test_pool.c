/* test_pool.c - which warm sandbox may serve which run: one made with the
 * run's memory, tmpfs and cpus, and at least its pids (pool_shape_fits);
 * anything else would hand a run limits it did not ask for. And how many
 * a language's demand asks for (pool_demand_decay, pool_demand_target). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pool.h"

static struct limits shape(void)
{
	struct limits l;

	memset(&l, 0, sizeof(l));
	l.memory_bytes = 256LL << 20;
	l.tmpfs_bytes = 64LL << 20;
	l.cpus = 1.0;
	l.pids = 64;
	return l;
}

static void test_same_shape_fits(void **state)
{
	struct limits have = shape();
	struct limits want = shape();

	(void)state;
	assert_true(pool_shape_fits(&have, &want));
	/* Per-job limits are not part of the shape. */
	want.wall_time_ms = have.wall_time_ms + 1000;
	want.output_bytes = have.output_bytes + 1;
	assert_true(pool_shape_fits(&have, &want));
}

static void test_fewer_pids_fit(void **state)
{
	struct limits have = shape();
	struct limits want = shape();

	(void)state;
	want.pids = 16;
	assert_true(pool_shape_fits(&have, &want));
	want.pids = 65;
	assert_false(pool_shape_fits(&have, &want));
}

static void test_other_container_limits_do_not_fit(void **state)
{
	struct limits have = shape();
	struct limits want;

	(void)state;
	want = shape();
	want.memory_bytes = 128LL << 20; /* smaller is not the same cap */
	assert_false(pool_shape_fits(&have, &want));
	want = shape();
	want.memory_bytes = 512LL << 20;
	assert_false(pool_shape_fits(&have, &want));
	want = shape();
	want.tmpfs_bytes = 32LL << 20;
	assert_false(pool_shape_fits(&have, &want));
	want = shape();
	want.cpus = 0.5;
	assert_false(pool_shape_fits(&have, &want));
}

/* Demand halves every 10 s and is gone after enough of them. */
static void test_demand_decays(void **state)
{
	(void)state;
	assert_true(pool_demand_decay(8.0, 0) == 8.0);
	assert_true(pool_demand_decay(8.0, 10000) == 4.0);
	assert_true(pool_demand_decay(8.0, 20000) == 2.0);
	/* In between: less than before, more than after. */
	assert_true(pool_demand_decay(8.0, 5000) < 8.0);
	assert_true(pool_demand_decay(8.0, 5000) > 4.0);
	assert_true(pool_demand_decay(8.0, 3600000) == 0.0);
}

/* One recent request wants one warm sandbox; a steady stream wants more,
 * never past max; an idle language or a max of 0 wants none. */
static void test_demand_target(void **state)
{
	(void)state;
	assert_int_equal(pool_demand_target(1.0, 100, 300000, 4), 1);
	/* 1.4 requests/s leave a score of about 20: 2.8 more arrive while
	 * one sandbox is made (2 s). */
	assert_int_equal(pool_demand_target(20.0, 100, 300000, 4), 3);
	assert_int_equal(pool_demand_target(1000.0, 100, 300000, 4), 4);
	assert_int_equal(pool_demand_target(1000.0, 300000, 300000, 4), 0);
	assert_int_equal(pool_demand_target(5.0, 100, 300000, 0), 0);
	assert_int_equal(pool_demand_target(0.0, 299999, 300000, 2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_shape_fits),
	    cmocka_unit_test(test_fewer_pids_fit),
	    cmocka_unit_test(test_other_container_limits_do_not_fit),
	    cmocka_unit_test(test_demand_decays),
	    cmocka_unit_test(test_demand_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
