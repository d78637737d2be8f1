/* test_ratelimit.c - ratelimit_take: a bucket allows its burst and then
 * says how long to wait, refills at its rate, buckets are independent per
 * key, and ever new client addresses (100,000 IPv6 ones) never grow the
 * table past its bound: full buckets are swept, and when none is, new
 * addresses share one overflow bucket. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"
#include "store.h"
#include "util.h"

static char root[] = "/tmp/isobox-test-ratelimit-XXXXXX";
static int n_env;

#define T0 1700000000000LL

static void fresh(struct store *s, size_t bound)
{
	struct isobox_err err;
	char *dir = xasprintf("%s/db%d", root, n_env++);

	store_init(s);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_env_open(s, STORE_RUN, dir, 256LL << 20, &err),
			 0);
	store_bound_set(s, STORE_BUCKETS, bound);
	free(dir);
}

/* Rows of the bucket table; its expiry index never has more. */
static size_t buckets(struct store *s)
{
	struct store_txn t;
	size_t n;

	assert_int_equal(store_txn_begin(s, STORE_RUN, 0, &t), 0);
	n = store_count(&t, STORE_BUCKETS);
	assert_true(store_count(&t, STORE_BUCKETS_FULL) <= n);
	store_txn_abort(&t);
	return n;
}

static void test_burst_then_wait(void **state)
{
	struct store s;
	int i;
	int wait;

	(void)state;
	fresh(&s, 0);
	/* 60 a minute: one a second, three at once. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(ratelimit_take_at(&s, "ip:a", 60, 3, T0), 0);
	}
	wait = ratelimit_take_at(&s, "ip:a", 60, 3, T0);
	assert_true(wait >= 1 && wait <= 2);
	/* Refused takes do not dig the bucket deeper. */
	assert_true(ratelimit_take_at(&s, "ip:a", 60, 3, T0 + 1) <= 2);
	/* A second later one more is there, and only one. */
	assert_int_equal(ratelimit_take_at(&s, "ip:a", 60, 3, T0 + 1000), 0);
	assert_true(ratelimit_take_at(&s, "ip:a", 60, 3, T0 + 1000) >= 1);
	/* Never more than the burst, however long it rested. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(
		    ratelimit_take_at(&s, "ip:a", 60, 3, T0 + 3600000), 0);
	}
	assert_true(ratelimit_take_at(&s, "ip:a", 60, 3, T0 + 3600000) >= 1);
	store_close(&s);
}

static void test_keys_independent(void **state)
{
	struct store s;

	(void)state;
	fresh(&s, 0);
	assert_int_equal(ratelimit_take_at(&s, "ip:a", 60, 1, T0), 0);
	assert_true(ratelimit_take_at(&s, "ip:a", 60, 1, T0) >= 1);
	/* Another address and a tenant key have their own buckets. */
	assert_int_equal(ratelimit_take_at(&s, "ip:b", 60, 1, T0), 0);
	assert_int_equal(ratelimit_take_at(&s, "key:t", 60, 1, T0), 0);
	assert_true(ratelimit_take_at(&s, "key:t", 60, 1, T0) >= 1);
	assert_true(ratelimit_take_at(&s, "ip:b", 60, 1, T0) >= 1);
	/* per_min 0 is no limit, and takes no row. */
	assert_int_equal(ratelimit_take_at(&s, "ip:c", 0, 1, T0), 0);
	assert_int_equal(buckets(&s), 3);
	store_close(&s);
}

static void ipv6_key(char *out, size_t n, int i)
{
	snprintf(out, n, "ip:2001:db8:%x:%x::%x", (i >> 16) & 0xffff,
		 i & 0xffff, (i * 7919) & 0xffff);
}

/* 100,000 distinct addresses at the service's default rate (30 a minute,
 * burst 10: a bucket is full again 2 s after one take), one a millisecond:
 * the table never passes its bound, and every address is served (the
 * swept buckets had nothing to remember). */
static void test_many_addresses_bounded(void **state)
{
	struct store s;
	size_t bound = 10000;
	size_t most = 0;
	int refused = 0;
	int i;

	(void)state;
	fresh(&s, bound);
	for (i = 0; i < 100000; i++) {
		char key[96];

		ipv6_key(key, sizeof(key), i);
		refused += ratelimit_take_at(&s, key, 30, 10, T0 + i) != 0;
		if (i % 1000 == 999) {
			size_t n = buckets(&s);

			most = n > most ? n : most;
		}
	}
	assert_true(most <= bound);
	assert_true(buckets(&s) <= bound);
	assert_true(most > bound / 2); /* the bound, not luck, held it */
	assert_int_equal(refused, 0);
	/* The housekeeping sweep empties it once everything is full again. */
	assert_true(ratelimit_sweep(&s, T0 + 100000 + 2001) > 0);
	assert_int_equal(buckets(&s), 0);
	store_close(&s);
}

/* The same with a frozen clock: no bucket is ever full again, so nothing
 * can be swept. New addresses then share the overflow bucket, which
 * limits all of them together, while known addresses and tenants keep
 * their own. */
static void test_overflow_shared(void **state)
{
	struct store s;
	size_t bound = 100;
	int allowed = 0;
	int i;

	(void)state;
	fresh(&s, bound);
	assert_int_equal(ratelimit_take_at(&s, "ip:known", 30, 10, T0), 0);
	for (i = 0; i < 100000; i++) {
		char key[96];

		ipv6_key(key, sizeof(key), i);
		allowed += ratelimit_take_at(&s, key, 30, 10, T0) == 0;
	}
	assert_true(buckets(&s) <= bound);
	/* 98 own buckets (one row stays for the overflow one, one is
	 * "known"), then 10 (one burst) for all the rest together. */
	assert_int_equal(allowed, 98 + 10);
	assert_int_equal(ratelimit_take_at(&s, "ip:known", 30, 10, T0), 0);
	/* Tenant buckets are bounded by the key file, not by this. */
	assert_int_equal(ratelimit_take_at(&s, "key:t", 30, 10, T0), 0);
	store_close(&s);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);
	int rc;

	(void)state;
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_wait),
	    cmocka_unit_test(test_keys_independent),
	    cmocka_unit_test(test_many_addresses_bounded),
	    cmocka_unit_test(test_overflow_shared),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
