/* test_pool.c - which warm sandbox may serve which run: one made with the
 * run's memory, tmpfs and cpus, and at least its pids (pool_shape_fits);
 * anything else would hand a run limits it did not ask for. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_shape_fits),
	    cmocka_unit_test(test_fewer_pids_fit),
	    cmocka_unit_test(test_other_container_limits_do_not_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
