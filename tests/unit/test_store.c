/* test_store.c - the store module: environments open and reopen (the
 * durable one checks its schema version), typed records round-trip and
 * are refused when of another version or table or malformed, a full map
 * is a clean -ENOSPC (507), sweeps respect their per-transaction
 * bound, and walks visit what they are asked to and stop when told. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "util.h"

static char root[] = "/tmp/isobox-test-store-XXXXXX";

static void open_env(struct store *s, enum store_env e, const char *name,
		     int64_t map)
{
	struct isobox_err err;
	char *dir = xasprintf("%s/%s", root, name);

	memset(&err, 0, sizeof(err));
	assert_int_equal(store_env_open(s, e, dir, map, &err), 0);
	free(dir);
}

static void put_i64(struct store *s, enum store_table tb, const char *key,
		    int64_t v)
{
	struct store_txn t;
	struct store_rec r;

	assert_int_equal(store_txn_begin(s, STORE_RUN, 1, &t), 0);
	store_rec_init(&r, tb, 1);
	store_rec_i64(&r, v);
	assert_int_equal(store_put(&t, tb, key, &r), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

static void test_open_close_reopen(void **state)
{
	struct store s;
	struct isobox_err err;
	struct store_txn t;
	struct store_rec r;
	char *dir = xasprintf("%s/state", root);

	(void)state;
	store_init(&s);
	assert_false(store_ready(&s, STORE_RUN));
	open_env(&s, STORE_RUN, "run", 1 << 20);
	open_env(&s, STORE_STATE, "state", 1 << 20);
	assert_true(store_ready(&s, STORE_RUN));
	assert_true(store_ready(&s, STORE_STATE));
	/* The durable environment has its schema row. */
	assert_int_equal(store_txn_begin(&s, STORE_STATE, 0, &t), 0);
	assert_int_equal(store_count(&t, STORE_META), 1); /* "schema" */
	store_txn_abort(&t);
	store_close(&s);
	assert_false(store_ready(&s, STORE_RUN));

	/* Reopening the durable one finds its schema. */
	store_init(&s);
	open_env(&s, STORE_STATE, "state", 1 << 20);
	/* Another schema version is refused. */
	assert_int_equal(store_txn_begin(&s, STORE_STATE, 1, &t), 0);
	store_rec_init(&r, STORE_META, 1);
	store_rec_i64(&r, STORE_SCHEMA_VERSION + 1);
	assert_int_equal(store_put(&t, STORE_META, "schema", &r), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	store_close(&s);
	store_init(&s);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_env_open(&s, STORE_STATE, dir, 1 << 20, &err),
			 -1);
	assert_int_equal(err.status, 500);
	assert_string_equal(err.code, "store_unavailable");
	assert_false(store_ready(&s, STORE_STATE));
	store_close(&s);
	free(dir);
}

static void test_record_round_trip(void **state)
{
	struct store s;
	struct store_txn t;
	struct store_rec r;
	struct store_val v;
	struct store_dec d;
	char str[16];

	(void)state;
	store_init(&s);
	open_env(&s, STORE_RUN, "rt", 1 << 20);
	assert_int_equal(store_txn_begin(&s, STORE_RUN, 1, &t), 0);
	store_rec_init(&r, STORE_POOL, 3);
	store_rec_i64(&r, -1234567890123LL);
	store_rec_f64(&r, 0.25);
	store_rec_str(&r, "hello");
	assert_int_equal(store_put(&t, STORE_POOL, "k1", &r), 0);
	assert_int_equal(store_txn_commit(&t), 0);

	assert_int_equal(store_txn_begin(&s, STORE_RUN, 0, &t), 0);
	assert_int_equal(store_get(&t, STORE_POOL, "nope", &v), -ENOENT);
	assert_int_equal(store_get(&t, STORE_POOL, "k1", &v), 0);
	assert_int_equal(store_dec_open(&d, &v, STORE_POOL, 3), 0);
	assert_int_equal(store_dec_i64(&d), -1234567890123LL);
	assert_true(store_dec_f64(&d) == 0.25);
	store_dec_str(&d, str, sizeof(str));
	assert_string_equal(str, "hello");
	assert_int_equal(store_dec_end(&d), 0);

	/* Another version, another table: refused before any field. */
	assert_int_equal(store_dec_open(&d, &v, STORE_POOL, 4),
			 -EPROTONOSUPPORT);
	assert_int_equal(store_dec_open(&d, &v, STORE_BUCKETS, 3), -EPROTO);
	/* Fields missing or left over are malformed. */
	assert_int_equal(store_dec_open(&d, &v, STORE_POOL, 3), 0);
	store_dec_i64(&d);
	assert_int_equal(store_dec_end(&d), -EPROTO);
	assert_int_equal(store_dec_open(&d, &v, STORE_POOL, 3), 0);
	store_dec_i64(&d);
	store_dec_f64(&d);
	store_dec_str(&d, str, sizeof(str));
	assert_int_equal(store_dec_i64(&d), 0);
	assert_int_equal(store_dec_end(&d), -EPROTO);
	/* A string longer than the caller's buffer is not cut silently. */
	assert_int_equal(store_dec_open(&d, &v, STORE_POOL, 3), 0);
	store_dec_i64(&d);
	store_dec_f64(&d);
	store_dec_str(&d, str, 5);
	assert_int_equal(store_dec_end(&d), -EPROTO);
	/* A truncated value. */
	{
		struct store_val cut = {v.p, v.n - 1};

		assert_int_equal(store_dec_open(&d, &cut, STORE_POOL, 3), 0);
		store_dec_i64(&d);
		store_dec_f64(&d);
		store_dec_str(&d, str, sizeof(str));
		assert_int_equal(store_dec_end(&d), -EPROTO);
	}
	store_txn_abort(&t);

	/* Bad keys and an overlong record are refused. */
	assert_int_equal(store_txn_begin(&s, STORE_RUN, 1, &t), 0);
	assert_int_equal(store_put(&t, STORE_POOL, "", &r), -EINVAL);
	store_rec_init(&r, STORE_POOL, 1);
	while (!r.bad) {
		store_rec_str(&r, "0123456789abcdef0123456789abcdef");
	}
	assert_int_equal(store_put(&t, STORE_POOL, "k2", &r), -EINVAL);
	store_txn_abort(&t);
	store_close(&s);
}

static void test_map_full(void **state)
{
	struct store s;
	struct isobox_err err;
	int i;
	int rc = 0;

	(void)state;
	store_init(&s);
	open_env(&s, STORE_RUN, "full", 1 << 20);
	for (i = 0; i < 100000 && rc == 0; i++) {
		struct store_txn t;
		struct store_rec r;
		char key[32];

		snprintf(key, sizeof(key), "row%08d", i);
		assert_int_equal(store_txn_begin(&s, STORE_RUN, 1, &t), 0);
		store_rec_init(&r, STORE_BUCKETS, 1);
		while (r.n < 900) {
			store_rec_str(&r, "0123456789abcdef0123456789abcdef");
		}
		rc = store_put(&t, STORE_BUCKETS, key, &r);
		if (rc == 0) {
			rc = store_txn_commit(&t);
		}
		store_txn_abort(&t);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(i > 100); /* it did hold rows before filling up */
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_err(&err, rc, "test"), -1);
	assert_int_equal(err.status, 507);
	assert_string_equal(err.code, "store_full");
	/* What was committed is still there and readable. */
	{
		struct store_txn t;
		struct store_val v;

		assert_int_equal(store_txn_begin(&s, STORE_RUN, 0, &t), 0);
		assert_int_equal(
		    store_get(&t, STORE_BUCKETS, "row00000000", &v), 0);
		store_txn_abort(&t);
	}
	store_close(&s);
}

static int drop_even(const struct store_val *k, const struct store_val *v,
		     void *ctx)
{
	struct store_dec d;
	int64_t n;
	int *calls = ctx;

	(void)k;
	(*calls)++;
	if (store_dec_open(&d, v, STORE_ADMIT, 1) < 0) {
		return 0;
	}
	n = store_dec_i64(&d);
	return n % 2 == 0;
}

static size_t rows(struct store *s, enum store_table tb)
{
	struct store_txn t;
	size_t n;

	assert_int_equal(store_txn_begin(s, STORE_RUN, 0, &t), 0);
	n = store_count(&t, tb);
	store_txn_abort(&t);
	return n;
}

static void test_sweep_bound(void **state)
{
	struct store s;
	struct store_txn t;
	struct store_stats before;
	struct store_stats after;
	int calls = 0;
	long n;
	int i;

	(void)state;
	store_init(&s);
	open_env(&s, STORE_RUN, "sweep", 1 << 22);
	for (i = 0; i < 100; i++) {
		char key[16];

		snprintf(key, sizeof(key), "r%03d", i);
		put_i64(&s, STORE_ADMIT, key, i);
	}
	assert_int_equal(rows(&s, STORE_ADMIT), 100);

	/* In one transaction: at most max_look rows looked at, from start,
	 * wrapping around. */
	assert_int_equal(store_txn_begin(&s, STORE_RUN, 1, &t), 0);
	n = store_sweep_txn(&t, STORE_ADMIT, "r095", 10, drop_even, &calls);
	assert_int_equal(calls, 10);
	assert_int_equal(n, 5); /* 096 098 000 002 004 */
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(rows(&s, STORE_ADMIT), 95);

	/* A whole-table sweep in batches: every even row goes, each batch
	 * its own transaction. */
	calls = 0;
	store_stats_get(&before);
	n = store_sweep(&s, STORE_ADMIT, 7, drop_even, &calls);
	store_stats_get(&after);
	assert_int_equal(n, 45);
	assert_int_equal(calls, 95);
	assert_true(after.write_txns - before.write_txns >= 95 / 7);
	assert_int_equal(rows(&s, STORE_ADMIT), 50);
	store_close(&s);
}

/* Counts the rows it sees, records the last key, and ends the walk at
 * the row stop names (returning 7) or with -EIO at the row fail names. */
struct walk_seen {
	int rows;
	char last[16];
	const char *stop;
	const char *fail;
};

static int walk_count(struct store_txn *t, const struct store_val *k,
		      const struct store_val *v, void *p)
{
	struct walk_seen *w = p;
	size_t n = k->n < sizeof(w->last) - 1 ? k->n : sizeof(w->last) - 1;

	(void)t;
	(void)v;
	w->rows++;
	memcpy(w->last, k->p, n);
	w->last[n] = '\0';
	if (w->stop && strcmp(w->last, w->stop) == 0) {
		return 7;
	}
	if (w->fail && strcmp(w->last, w->fail) == 0) {
		return -EIO;
	}
	return 0;
}

/* A walk visits every row in key order, or only a prefix's; it ends where
 * the visitor says, passing on the visitor's value or error; a walk of an
 * environment that is not open is -ENODEV, and one of an empty range
 * sees nothing. */
static void test_walk(void **state)
{
	struct store s;
	struct store_txn t;
	struct walk_seen w;
	int i;

	(void)state;
	store_init(&s);
	assert_int_equal(store_walk(&s, STORE_ADMIT, NULL, 0, walk_count, &w),
			 -ENODEV);
	open_env(&s, STORE_RUN, "walk", 1 << 22);
	for (i = 0; i < 30; i++) {
		char key[16];

		snprintf(key, sizeof(key), "%c%02d", i < 20 ? 'a' : 'b', i);
		put_i64(&s, STORE_ADMIT, key, i);
	}

	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk(&s, STORE_ADMIT, NULL, 0, walk_count, &w),
			 0);
	assert_int_equal(w.rows, 30);
	assert_string_equal(w.last, "b29");

	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk(&s, STORE_ADMIT, "b", 1, walk_count, &w),
			 0);
	assert_int_equal(w.rows, 10);
	assert_string_equal(w.last, "b29");

	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk(&s, STORE_ADMIT, "c", 1, walk_count, &w),
			 0);
	assert_int_equal(w.rows, 0);

	memset(&w, 0, sizeof(w));
	w.stop = "a04";
	assert_int_equal(store_walk(&s, STORE_ADMIT, NULL, 0, walk_count, &w),
			 7);
	assert_int_equal(w.rows, 5);

	/* Inside a caller's transaction, which stays usable after. */
	memset(&w, 0, sizeof(w));
	w.fail = "b21";
	assert_int_equal(store_txn_begin(&s, STORE_RUN, 0, &t), 0);
	assert_int_equal(
	    store_walk_txn(&t, STORE_ADMIT, "b", 1, walk_count, &w), -EIO);
	assert_int_equal(w.rows, 2);
	assert_int_equal(store_count(&t, STORE_ADMIT), 30);
	store_txn_abort(&t);
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

/* Write n records of 64 KiB into STORE_STATE's meta table (it takes any
 * key), one transaction. */
static int fill(struct store *s, int first, int n)
{
	static uint8_t blob[65536];
	struct store_txn t;
	int i;

	if (store_txn_begin(s, STORE_STATE, 1, &t) < 0) {
		return -1;
	}
	for (i = first; i < first + n; i++) {
		struct store_rec r;
		char key[32];
		void *p;

		snprintf(key, sizeof(key), "blob%d", i);
		store_rec_init(&r, STORE_META, 1);
		if (store_put_reserve(&t, STORE_META, key, strlen(key), &r,
				      sizeof(blob), &p) < 0) {
			store_txn_abort(&t);
			return -1;
		}
		memcpy(p, blob, sizeof(blob));
	}
	return store_txn_commit(&t);
}

/* Another process opens the same environment with a larger map and fills
 * it past this process's map: this process's next transaction adopts the
 * new size (LMDB's MDB_MAP_RESIZED, taken with no transaction of ours
 * open) and can write past its own old map too. */
static void test_map_grown_elsewhere(void **state)
{
	struct store s;
	pid_t pid;
	int st;

	(void)state;
	store_init(&s);
	open_env(&s, STORE_STATE, "grow", 1 << 20);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store c;
		struct isobox_err err;
		char *dir = xasprintf("%s/grow", root);

		store_init(&c);
		if (store_env_open(&c, STORE_STATE, dir, 16 << 20, &err) < 0 ||
		    fill(&c, 0, 48) < 0) {
			_exit(1);
		}
		store_close(&c);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* 3 MiB already in a 1 MiB map of ours; 3 MiB more still fits the
	 * adopted 16 MiB. */
	assert_int_equal(fill(&s, 48, 48), 0);
	store_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_close_reopen),
	    cmocka_unit_test(test_record_round_trip),
	    cmocka_unit_test(test_map_full),
	    cmocka_unit_test(test_sweep_bound),
	    cmocka_unit_test(test_walk),
	    cmocka_unit_test(test_map_grown_elsewhere),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
