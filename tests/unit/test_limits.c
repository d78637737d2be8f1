/* test_limits.c - partial limits overlay only what they name, clamping holds
 * every field inside [floor, ceiling], and request values that are not
 * sensible numbers are refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limits.h"

static const struct limits base = {
    .memory_bytes = 256 << 20,
    .cpus = 1.0,
    .pids = 64,
    .output_bytes = 64 << 10,
    .wall_time_ms = 5000,
    .compile_wall_time_ms = 15000,
    .compile_memory_bytes = 512 << 20,
    .tmpfs_bytes = 64 << 20,
};

static const struct limits lo = {
    .memory_bytes = 8 << 20,
    .cpus = 0.1,
    .pids = 1,
    .output_bytes = 1 << 10,
    .wall_time_ms = 100,
    .compile_wall_time_ms = 1000,
    .compile_memory_bytes = 64 << 20,
    .tmpfs_bytes = 1 << 20,
};

static const struct limits hi = {
    .memory_bytes = 512 << 20,
    .cpus = 2.0,
    .pids = 256,
    .output_bytes = 256 << 10,
    .wall_time_ms = 20000,
    .compile_wall_time_ms = 60000,
    .compile_memory_bytes = 1 << 30,
    .tmpfs_bytes = 256 << 20,
};

static void test_overlay(void **state)
{
	struct limits l = base;
	struct limits_partial p = {0};

	(void)state;
	/* Nothing set: nothing changes, even with values in p.v. */
	p.v.memory_bytes = 1;
	limits_overlay(&l, &p);
	assert_memory_equal(&l, &base, sizeof(l));

	p = (struct limits_partial){0};
	assert_int_equal(limits_set(&p, LIM_WALL, 1234), 0);
	assert_int_equal(limits_set(&p, LIM_CPUS, 0.5), 0);
	assert_int_equal(p.set, LIM_WALL | LIM_CPUS);
	limits_overlay(&l, &p);
	assert_int_equal(l.wall_time_ms, 1234);
	assert_true(l.cpus == 0.5);
	assert_int_equal(l.memory_bytes, base.memory_bytes);
	assert_int_equal(l.pids, base.pids);
	assert_int_equal(l.compile_wall_time_ms, base.compile_wall_time_ms);
	assert_int_equal(l.tmpfs_bytes, base.tmpfs_bytes);

	/* Every field can be set. */
	p = (struct limits_partial){0};
	assert_int_equal(limits_set(&p, LIM_MEMORY, 1), 0);
	assert_int_equal(limits_set(&p, LIM_PIDS, 2), 0);
	assert_int_equal(limits_set(&p, LIM_OUTPUT, 3), 0);
	assert_int_equal(limits_set(&p, LIM_COMPILE_WALL, 4), 0);
	assert_int_equal(limits_set(&p, LIM_COMPILE_MEMORY, 5), 0);
	assert_int_equal(limits_set(&p, LIM_TMPFS, 6), 0);
	limits_overlay(&l, &p);
	assert_int_equal(l.memory_bytes, 1);
	assert_int_equal(l.pids, 2);
	assert_int_equal(l.output_bytes, 3);
	assert_int_equal(l.compile_wall_time_ms, 4);
	assert_int_equal(l.compile_memory_bytes, 5);
	assert_int_equal(l.tmpfs_bytes, 6);
	assert_int_equal(l.wall_time_ms, 1234);
}

static void test_clamp(void **state)
{
	struct limits l = base;
	struct limits big = {
	    .memory_bytes = INT64_MAX,
	    .cpus = 64,
	    .pids = 100000,
	    .output_bytes = 1LL << 40,
	    .wall_time_ms = 3600000,
	    .compile_wall_time_ms = 3600000,
	    .compile_memory_bytes = 1LL << 40,
	    .tmpfs_bytes = 1LL << 40,
	};
	struct limits small = {0};

	(void)state;
	/* In range: unchanged. */
	limits_clamp(&l, &lo, &hi);
	assert_memory_equal(&l, &base, sizeof(l));

	limits_clamp(&big, &lo, &hi);
	assert_memory_equal(&big, &hi, sizeof(big));

	small.cpus = 0.001;
	small.pids = -5;
	limits_clamp(&small, &lo, &hi);
	assert_memory_equal(&small, &lo, sizeof(small));

	/* A NaN CPU share lands on the floor, never passes through. */
	l = base;
	l.cpus = NAN;
	limits_clamp(&l, &lo, &hi);
	assert_true(l.cpus == lo.cpus);

	/* Exactly on the bounds stays put. */
	l = hi;
	limits_clamp(&l, &lo, &hi);
	assert_memory_equal(&l, &hi, sizeof(l));
}

static void test_field_names(void **state)
{
	static const struct {
		const char *camel;
		const char *snake;
		unsigned bit;
	} names[] = {
	    {"memoryBytes", "memory_bytes", LIM_MEMORY},
	    {"cpus", "cpus", LIM_CPUS},
	    {"pids", "pids", LIM_PIDS},
	    {"outputBytes", "output_bytes", LIM_OUTPUT},
	    {"wallTimeMs", "wall_time_ms", LIM_WALL},
	    {"compileWallTimeMs", "compile_wall_time_ms", LIM_COMPILE_WALL},
	    {"compileMemoryBytes", "compile_memory_bytes", LIM_COMPILE_MEMORY},
	    {"tmpfsBytes", "tmpfs_bytes", LIM_TMPFS},
	};
	unsigned all = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(limits_field(names[i].camel), names[i].bit);
		assert_int_equal(limits_field(names[i].snake), names[i].bit);
		assert_string_equal(limits_name(names[i].bit), names[i].camel);
		all |= names[i].bit;
	}
	assert_int_equal(all, LIM_ALL);
	assert_int_equal(limits_field("memory"), 0);
	assert_int_equal(limits_field("MemoryBytes"), 0);
	assert_int_equal(limits_field("memoryBytes "), 0);
	assert_int_equal(limits_field(""), 0);
	assert_int_equal(limits_field(NULL), 0);
	assert_null(limits_name(0));
	assert_null(limits_name(LIM_MEMORY | LIM_CPUS));
}

static void test_set_rejects(void **state)
{
	struct limits_partial p = {0};

	(void)state;
	assert_int_equal(limits_set(&p, LIM_PIDS, -1), -1);
	assert_int_equal(limits_set(&p, LIM_PIDS, NAN), -1);
	assert_int_equal(limits_set(&p, LIM_PIDS, INFINITY), -1);
	assert_int_equal(limits_set(&p, LIM_PIDS, 1.5), -1);
	assert_int_equal(limits_set(&p, LIM_MEMORY, 1e19), -1);
	assert_int_equal(limits_set(&p, LIM_CPUS, -0.5), -1);
	assert_int_equal(limits_set(&p, LIM_CPUS, NAN), -1);
	assert_int_equal(limits_set(&p, LIM_CPUS, -INFINITY), -1);
	assert_int_equal(limits_set(&p, 0, 1), -1);
	assert_int_equal(limits_set(&p, LIM_PIDS | LIM_CPUS, 1), -1);
	assert_int_equal(limits_set(&p, 1u << 12, 1), -1);
	/* Refused values leave p untouched. */
	assert_int_equal(p.set, 0);

	/* Fractions are fine for CPUs, whole numbers for the rest. */
	assert_int_equal(limits_set(&p, LIM_CPUS, 0.25), 0);
	assert_int_equal(limits_set(&p, LIM_PIDS, 0), 0);
	assert_int_equal(limits_set(&p, LIM_MEMORY, 9007199254740992.0), 0);
	assert_int_equal(p.set, LIM_CPUS | LIM_PIDS | LIM_MEMORY);
	assert_true(p.v.cpus == 0.25);
	assert_int_equal(p.v.memory_bytes, 9007199254740992LL);
}

static void test_get(void **state)
{
	(void)state;
	assert_true(limits_get(&base, LIM_MEMORY) == 268435456.0);
	assert_true(limits_get(&base, LIM_CPUS) == 1.0);
	assert_true(limits_get(&base, LIM_TMPFS) == 67108864.0);
	assert_true(limits_get(&base, 0) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_overlay),
	    cmocka_unit_test(test_clamp),
	    cmocka_unit_test(test_field_names),
	    cmocka_unit_test(test_set_rejects),
	    cmocka_unit_test(test_get),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
