/* test_kv.c - the KV layer of /v1/memory on the store's durable
 * environment: put/get/delete, preconditions (compare-and-set,
 * create-only), exact quotas, TTL (404 from the instant of expiry, before
 * any sweep; a bounded sweep frees the quota), listings by prefix with
 * cursors, long keys in their hashed form, records of another version
 * refused, and group commit under several threads (exact counters and
 * quotas, fewer commits than writes). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv.h"
#include "store.h"
#include "util.h"

static char root[] = "/tmp/isobox-test-kv-XXXXXX";
static int env_n;

struct fixture {
	struct store s;
	struct kv kv;
	uint8_t tenant[KV_TENANT_BYTES];
};

static int fx_setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct isobox_err err;
	char *dir = xasprintf("%s/db%d", root, env_n++);

	store_init(&f->s);
	if (store_env_open(&f->s, STORE_STATE, dir, 64 << 20, &err) < 0) {
		free(dir);
		free(f);
		return -1;
	}
	free(dir);
	kv_init(&f->kv, &f->s);
	kv_tenant_id("alice", f->tenant);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fixture *f = *state;

	kv_free(&f->kv);
	store_close(&f->s);
	free(f);
	return 0;
}

/* A put of value (NUL-terminated) at now with the given caps; returns
 * kv_write's value and the error status in *status. */
static int put_full(struct fixture *f, const char *ns, const char *key,
		    size_t key_len, const char *value, int64_t now,
		    int64_t expires, int64_t qbytes, int64_t qkeys,
		    kv_precond_fn pre, void *ctx, struct kv_meta *out,
		    int *status)
{
	struct kv_write w;
	struct isobox_err e;
	int rc;

	memset(&w, 0, sizeof(w));
	memset(&e, 0, sizeof(e));
	w.tenant = f->tenant;
	w.ns = ns;
	w.key = key;
	w.key_len = key_len;
	w.content_type = "text/plain";
	w.value = value;
	w.len = strlen(value);
	w.now_ms = now;
	w.expires_ms = expires;
	w.quota_bytes = qbytes;
	w.quota_keys = qkeys;
	w.pre = pre;
	w.ctx = ctx;
	rc = kv_write(&f->kv, &w, out, &e);
	if (status) {
		*status = rc < 0 ? e.status : 0;
	}
	return rc;
}

static int put(struct fixture *f, const char *key, const char *value)
{
	return put_full(f, "ns", key, strlen(key), value, 1000, 0, 1 << 20,
			1000, NULL, NULL, NULL, NULL);
}

struct got {
	char value[4096];
	struct kv_meta m;
};

static int copy_value(void *ctx, const struct kv_meta *m, const void *value,
		      size_t len)
{
	struct got *g = ctx;

	assert_true(len < sizeof(g->value));
	memcpy(g->value, value, len);
	g->value[len] = '\0';
	g->m = *m;
	return 0;
}

/* kv_get of key at now: 0 with g filled, or the error status. */
static int get_at(struct fixture *f, const char *key, size_t key_len,
		  int64_t now, struct got *g)
{
	struct isobox_err e;

	memset(g, 0, sizeof(*g));
	if (kv_get(&f->kv, f->tenant, "ns", key, key_len, now, NULL, copy_value,
		   g, NULL, &e) < 0) {
		return e.status;
	}
	return 0;
}

static int del(struct fixture *f, const char *key, kv_precond_fn pre, void *ctx)
{
	struct kv_write w;
	struct isobox_err e;

	memset(&w, 0, sizeof(w));
	w.del = 1;
	w.tenant = f->tenant;
	w.ns = "ns";
	w.key = key;
	w.key_len = strlen(key);
	w.now_ms = 1000;
	w.pre = pre;
	w.ctx = ctx;
	return kv_write(&f->kv, &w, NULL, &e) < 0 ? e.status : 0;
}

static void usage(struct fixture *f, int64_t *bytes, int64_t *keys)
{
	struct kv_usage u;
	struct isobox_err e;

	assert_int_equal(kv_usage_get(&f->kv, f->tenant, &u, NULL, NULL, &e),
			 0);
	*bytes = u.bytes;
	*keys = u.keys;
}

static void test_put_get_delete(void **state)
{
	struct fixture *f = *state;
	struct got g;
	struct kv_meta out;
	uint8_t other[KV_TENANT_BYTES];
	struct isobox_err e;
	int64_t b;
	int64_t k;

	assert_int_equal(get_at(f, "a", 1, 1000, &g), 404);
	assert_int_equal(put_full(f, "ns", "a", 1, "hello", 1000, 0, 1 << 20,
				  1000, NULL, NULL, &out, NULL),
			 0);
	/* sha256("hello") */
	assert_string_equal(out.etag, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e"
				      "5c1fa7425e73043362938b9824");
	assert_int_equal(get_at(f, "a", 1, 1001, &g), 0);
	assert_string_equal(g.value, "hello");
	assert_string_equal(g.m.content_type, "text/plain");
	assert_string_equal(g.m.etag, out.etag);
	assert_int_equal(g.m.size, 5);
	usage(f, &b, &k);
	assert_int_equal(b, 1 + 5);
	assert_int_equal(k, 1);
	/* Replacing keeps created, changes the value and the charge. */
	assert_int_equal(put_full(f, "ns", "a", 1, "hi", 2000, 0, 1 << 20, 1000,
				  NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(get_at(f, "a", 1, 2001, &g), 0);
	assert_string_equal(g.value, "hi");
	assert_int_equal(g.m.created_ms, 1000);
	assert_int_equal(g.m.updated_ms, 2000);
	usage(f, &b, &k);
	assert_int_equal(b, 1 + 2);
	/* Another tenant does not see it. */
	kv_tenant_id("bob", other);
	assert_int_equal(kv_get(&f->kv, other, "ns", "a", 1, 2001, NULL, NULL,
				NULL, NULL, &e),
			 -1);
	assert_int_equal(e.status, 404);
	assert_int_equal(del(f, "a", NULL, NULL), 0);
	assert_int_equal(get_at(f, "a", 1, 2001, &g), 404);
	assert_int_equal(del(f, "a", NULL, NULL), 0); /* absent is fine */
	usage(f, &b, &k);
	assert_int_equal(b, 0);
	assert_int_equal(k, 0);
}

/* If-Match: the etag in ctx must be the current one. */
static int pre_match(void *ctx, const struct kv_meta *cur)
{
	return cur && strcmp(cur->etag, ctx) == 0 ? 0 : -1;
}

/* If-None-Match: *: the item must not exist. */
static int pre_absent(void *ctx, const struct kv_meta *cur)
{
	(void)ctx;
	return cur ? -1 : 0;
}

static void test_preconditions(void **state)
{
	struct fixture *f = *state;
	struct kv_meta m1;
	struct kv_meta m2;
	struct got g;
	int st;

	assert_int_equal(put_full(f, "ns", "c", 1, "1", 1000, 0, 1 << 20, 1000,
				  pre_absent, NULL, &m1, &st),
			 0);
	/* Create-only again: 412, the value stays. */
	assert_int_equal(put_full(f, "ns", "c", 1, "x", 1000, 0, 1 << 20, 1000,
				  pre_absent, NULL, NULL, &st),
			 -1);
	assert_int_equal(st, 412);
	/* Compare-and-set with the current etag wins once. */
	assert_int_equal(put_full(f, "ns", "c", 1, "2", 1000, 0, 1 << 20, 1000,
				  pre_match, m1.etag, &m2, &st),
			 0);
	assert_int_equal(put_full(f, "ns", "c", 1, "3", 1000, 0, 1 << 20, 1000,
				  pre_match, m1.etag, NULL, &st),
			 -1);
	assert_int_equal(st, 412);
	assert_int_equal(get_at(f, "c", 1, 1000, &g), 0);
	assert_string_equal(g.value, "2");
	/* A conditional delete with a stale etag is refused. */
	assert_int_equal(del(f, "c", pre_match, m1.etag), 412);
	assert_int_equal(del(f, "c", pre_match, m2.etag), 0);
	assert_int_equal(get_at(f, "c", 1, 1000, &g), 404);
}

static void test_quota(void **state)
{
	struct fixture *f = *state;
	int64_t b;
	int64_t k;
	int st;

	/* 10 bytes: "k1" + "abcd" = 6 fits, "k2" + "abcd" = 12 does not. */
	assert_int_equal(put_full(f, "ns", "k1", 2, "abcd", 1, 0, 10, 100, NULL,
				  NULL, NULL, &st),
			 0);
	assert_int_equal(put_full(f, "ns", "k2", 2, "abcd", 1, 0, 10, 100, NULL,
				  NULL, NULL, &st),
			 -1);
	assert_int_equal(st, 413);
	/* Exactly at the cap fits. */
	assert_int_equal(put_full(f, "ns", "k2", 2, "ab", 1, 0, 10, 100, NULL,
				  NULL, NULL, &st),
			 0);
	usage(f, &b, &k);
	assert_int_equal(b, 10);
	assert_int_equal(k, 2);
	/* Key count cap. */
	assert_int_equal(put_full(f, "ns", "k3", 2, "", 1, 0, 1000, 2, NULL,
				  NULL, NULL, &st),
			 -1);
	assert_int_equal(st, 413);
	/* A write that does not grow the tenant fits even over a lowered
	 * quota. */
	assert_int_equal(
	    put_full(f, "ns", "k1", 2, "a", 1, 0, 5, 1, NULL, NULL, NULL, &st),
	    0);
}

static void test_ttl_and_sweep(void **state)
{
	struct fixture *f = *state;
	struct isobox_err e;
	struct got g;
	char key[16];
	int64_t b;
	int64_t k;
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		assert_int_equal(put_full(f, "ns", key, strlen(key), "v", 1000,
					  5000, 1 << 20, 1000, NULL, NULL, NULL,
					  NULL),
				 0);
	}
	assert_int_equal(put(f, "forever", "v"), 0);
	assert_int_equal(get_at(f, "t0", 2, 4999, &g), 0);
	/* Gone from the instant it expires, before any sweep. */
	assert_int_equal(get_at(f, "t0", 2, 5000, &g), 404);
	/* Nothing is due before: the sweep removes nothing. */
	assert_int_equal(kv_sweep(&f->kv, 4999, 100, &e), 0);
	usage(f, &b, &k);
	assert_int_equal(k, 6);
	/* Bounded: at most max per call. */
	assert_int_equal(kv_sweep(&f->kv, 5000, 2, &e), 2);
	usage(f, &b, &k);
	assert_int_equal(k, 4);
	assert_int_equal(kv_sweep(&f->kv, 5000, 100, &e), 3);
	usage(f, &b, &k);
	assert_int_equal(k, 1);
	assert_int_equal(b, 7 + 1);
	assert_int_equal(get_at(f, "forever", 7, 99999, &g), 0);
	/* A replaced item's old index row does not remove the new one. */
	assert_int_equal(put_full(f, "ns", "r", 1, "v", 1000, 6000, 1 << 20,
				  1000, NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(put(f, "r", "w"), 0); /* no expiry now */
	assert_int_equal(kv_sweep(&f->kv, 7000, 100, &e), 0);
	assert_int_equal(get_at(f, "r", 1, 7000, &g), 0);
}

struct listing {
	char keys[32][KV_KEY_MAX + 1];
	int n;
};

static void collect(void *ctx, const struct kv_item *it)
{
	struct listing *l = ctx;

	assert_true(l->n < 32);
	memcpy(l->keys[l->n], it->key, it->key_len);
	l->keys[l->n][it->key_len] = '\0';
	l->n++;
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	const char *keys[] = {"a/1", "a/2", "a/3", "a/4", "a/5", "b/1"};
	struct listing l;
	struct isobox_err e;
	uint8_t next[KV_CURSOR_MAX];
	uint8_t cur[KV_CURSOR_MAX];
	size_t next_len;
	size_t cur_len = 0;
	size_t i;
	int pages = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(put(f, keys[i], "v"), 0);
	}
	assert_int_equal(put_full(f, "other", "a/9", 3, "v", 1000, 0, 1 << 20,
				  1000, NULL, NULL, NULL, NULL),
			 0);
	/* Prefix "a/", pages of 2: a/1 a/2 | a/3 a/4 | a/5. */
	memset(&l, 0, sizeof(l));
	do {
		assert_int_equal(kv_list(&f->kv, f->tenant, "ns", "a/", 2, cur,
					 cur_len, 2, 1000, collect, &l, next,
					 &next_len, &e),
				 0);
		memcpy(cur, next, next_len);
		cur_len = next_len;
		pages++;
	} while (next_len > 0 && pages < 10);
	assert_int_equal(pages, 3);
	assert_int_equal(l.n, 5);
	for (i = 0; i < 5; i++) {
		assert_string_equal(l.keys[i], keys[i]);
	}
	/* No prefix: the namespace only (not "other"). */
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_list(&f->kv, f->tenant, "ns", "", 0, NULL, 0, 100,
				 1000, collect, &l, next, &next_len, &e),
			 0);
	assert_int_equal(l.n, 6);
	assert_int_equal(next_len, 0);
	/* A cursor no listing returns. */
	memset(cur, 'x', sizeof(cur));
	assert_int_equal(kv_list(&f->kv, f->tenant, "ns", "", 0, cur,
				 KV_KEY_NATURAL + 1, 10, 1000, collect, &l,
				 next, &next_len, &e),
			 -1);
	assert_int_equal(e.status, 400);
}

static void test_long_keys(void **state)
{
	struct fixture *f = *state;
	char k1[KV_KEY_MAX + 1];
	char k2[KV_KEY_MAX + 1];
	struct listing l;
	struct isobox_err e;
	struct got g;
	uint8_t next[KV_CURSOR_MAX];
	size_t next_len;

	/* Two keys longer than KV_KEY_NATURAL that share their first 400
	 * bytes (more than the head the item key keeps): different rows. */
	memset(k1, 'k', KV_KEY_MAX);
	memcpy(k2, k1, KV_KEY_MAX);
	k1[KV_KEY_MAX] = k2[KV_KEY_MAX] = '\0';
	k2[KV_KEY_MAX - 1] = 'z';
	assert_int_equal(put_full(f, "ns", k1, KV_KEY_MAX, "one", 1000, 0,
				  1 << 20, 1000, NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(put_full(f, "ns", k2, KV_KEY_MAX, "two", 1000, 0,
				  1 << 20, 1000, NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(put_full(f, "ns", k1, KV_KEY_NATURAL + 1, "three",
				  1000, 0, 1 << 20, 1000, NULL, NULL, NULL,
				  NULL),
			 0);
	assert_int_equal(get_at(f, k1, KV_KEY_MAX, 1000, &g), 0);
	assert_string_equal(g.value, "one");
	assert_int_equal(get_at(f, k2, KV_KEY_MAX, 1000, &g), 0);
	assert_string_equal(g.value, "two");
	assert_int_equal(get_at(f, k1, KV_KEY_NATURAL + 1, 1000, &g), 0);
	assert_string_equal(g.value, "three");
	assert_int_equal(get_at(f, k1, KV_KEY_NATURAL, 1000, &g), 404);
	/* A prefix longer than the kept head still selects by the full key. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(kv_list(&f->kv, f->tenant, "ns", k2, KV_KEY_MAX - 1,
				 NULL, 0, 10, 1000, collect, &l, next,
				 &next_len, &e),
			 0);
	assert_int_equal(l.n, 2); /* k1 and k2, not the 333-byte one */
	assert_int_equal(strlen(l.keys[0]), KV_KEY_MAX);
	/* Over KV_KEY_MAX: refused. */
	assert_int_equal(kv_get(&f->kv, f->tenant, "ns", k1, KV_KEY_MAX + 1,
				1000, NULL, NULL, NULL, NULL, &e),
			 -1);
	assert_int_equal(e.status, 400);
}

/* A record written as another version of the format is refused, not
 * decoded as this one. */
static void test_wrong_version(void **state)
{
	struct fixture *f = *state;
	struct store_txn t;
	struct store_rec r;
	struct got g;
	uint8_t ik[KV_TENANT_BYTES + 4] = {0};

	assert_int_equal(put(f, "v", "value"), 0);
	/* The item key of ns/v: TENANT + "ns" + NUL + "v". */
	memcpy(ik, f->tenant, KV_TENANT_BYTES);
	memcpy(ik + KV_TENANT_BYTES, "ns\0v", 4);
	assert_int_equal(get_at(f, "v", 1, 1000, &g), 0);
	assert_int_equal(store_txn_begin(&f->s, STORE_STATE, 1, &t), 0);
	store_rec_init(&r, STORE_KV, KV_REC_VERSION + 1);
	store_rec_i64(&r, 1);
	assert_int_equal(store_put_bin(&t, STORE_KV, ik, sizeof(ik), &r), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(get_at(f, "v", 1, 1000, &g), 500);
	/* A write over it is refused too (its charge is unknown). */
	assert_int_equal(put(f, "v", "again"), -1);
}

/* Group commit: threads incrementing one counter by compare-and-set end
 * at exactly threads x rounds, and a quota raced by every thread is
 * never exceeded. */
#define THREADS 8
#define ROUNDS	50

struct worker {
	struct fixture *f;
	int id;
	int quota_ok;
	int bad; /* answers other than the expected ones (checked by the
		  * main thread: cmocka's asserts are not for threads) */
};

static void *cas_worker(void *arg)
{
	struct worker *w = arg;
	int done = 0;

	while (done < ROUNDS) {
		struct got g;
		char v[32];
		char etag[65];
		int st = 0;

		if (get_at(w->f, "ctr", 3, 1000, &g) != 0) {
			w->bad++;
			break;
		}
		snprintf(etag, sizeof(etag), "%s", g.m.etag);
		snprintf(v, sizeof(v), "%d", atoi(g.value) + 1);
		if (put_full(w->f, "ns", "ctr", 3, v, 1000, 0, 1 << 20, 1000,
			     pre_match, etag, NULL, &st) == 0) {
			done++;
		} else if (st != 412) {
			w->bad++;
			break;
		}
	}
	/* Then each thread tries 10 new keys against a 20-key cap. */
	for (done = 0; done < 10; done++) {
		char key[32];
		int st = 0;

		snprintf(key, sizeof(key), "q%d-%d", w->id, done);
		if (put_full(w->f, "ns", key, strlen(key), "v", 1000, 0,
			     1 << 20, 20, NULL, NULL, NULL, &st) == 0) {
			w->quota_ok++;
		} else if (st != 413) {
			w->bad++;
		}
	}
	return NULL;
}

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	pthread_t tid[THREADS];
	struct worker w[THREADS];
	struct got g;
	uint64_t commits0;
	uint64_t writes0;
	int64_t b;
	int64_t k;
	int stored = 0;
	int i;

	assert_int_equal(put(f, "ctr", "0"), 0);
	commits0 = f->kv.commits;
	writes0 = f->kv.writes;
	for (i = 0; i < THREADS; i++) {
		w[i].f = f;
		w[i].id = i;
		w[i].quota_ok = 0;
		w[i].bad = 0;
		assert_int_equal(
		    pthread_create(&tid[i], NULL, cas_worker, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(tid[i], NULL);
		stored += w[i].quota_ok;
		assert_int_equal(w[i].bad, 0);
	}
	assert_int_equal(get_at(f, "ctr", 3, 1000, &g), 0);
	assert_int_equal(atoi(g.value), THREADS * ROUNDS);
	/* "ctr" is one key: 19 more fit under the cap of 20. */
	assert_int_equal(stored, 19);
	usage(f, &b, &k);
	assert_int_equal(k, 20);
	/* Writes shared commits: fewer commits than writes. */
	print_message("group commit: %llu commits for %llu writes\n",
		      (unsigned long long)(f->kv.commits - commits0),
		      (unsigned long long)(f->kv.writes - writes0));
	assert_true(f->kv.commits - commits0 < f->kv.writes - writes0);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);
	int rc = system(cmd);

	(void)state;
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_get_delete, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_preconditions, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_quota, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_ttl_and_sweep, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_list, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_long_keys, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_version, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, fx_setup,
					    fx_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
