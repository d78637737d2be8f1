/* admit.c - memory admission against the slice's cap: reservation rows and
 * their running total in the runtime store; see admit.h. */
#include "admit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cgroup.h"

/* admit row, version 1: bytes (i64), since_ms (i64), owner (str, "" for
 * rows held until released). admit_sum "total", version 1: bytes (i64),
 * recount_ms (i64: wall clock of the last recount). */
#define ROW_VERSION	 1
#define SUM_VERSION	 1
#define SUM_KEY		 "total"
#define RECOUNT_EVERY_MS 1000
#define POLL_MS		 25

/* What may free unowned memory for a run that does not fit (pool_shed). */
static int64_t (*reclaim)(struct service *svc, int64_t bytes);

void admit_set_reclaim(int64_t (*fn)(struct service *svc, int64_t bytes))
{
	reclaim = fn;
}

struct admission {
	int64_t bytes;
	int64_t since_ms;
	char owner[320];
};

struct admit_sum {
	int64_t bytes;
	int64_t recount_ms;
};

int64_t admit_budget(struct service *svc)
{
	struct slice_state st;

	if (svc->admit_budget_bytes > 0) {
		return svc->admit_budget_bytes;
	}
	cgroup_slice_read("/sys/fs/cgroup", svc->cfg.cgroup_parent, &st);
	return st.exists ? st.memory_limit : -1;
}

static int row_decode(const struct store_val *v, struct admission *a)
{
	struct store_dec d;
	int rc = store_dec_open(&d, v, STORE_ADMIT, ROW_VERSION);

	a->bytes = store_dec_i64(&d);
	a->since_ms = store_dec_i64(&d);
	store_dec_str(&d, a->owner, sizeof(a->owner));
	return rc < 0 ? rc : store_dec_end(&d);
}

/* The sum of every readable row (when the total row is missing). */
static int64_t rows_sum(struct store_txn *t)
{
	struct store_cursor c;
	struct store_val k;
	struct store_val v;
	int64_t sum = 0;

	if (store_cursor_open(t, STORE_ADMIT, &c) < 0) {
		return 0;
	}
	while (store_cursor_next(&c, &k, &v) == 0) {
		struct admission a;

		if (row_decode(&v, &a) == 0) {
			sum += a.bytes;
		}
	}
	store_cursor_close(&c);
	return sum;
}

/* The running total; -ENOENT when there is none yet (or it is unreadable). */
static int sum_read(struct store_txn *t, struct admit_sum *s)
{
	struct store_val v;
	struct store_dec d;
	int rc = store_get(t, STORE_ADMIT_SUM, SUM_KEY, &v);

	if (rc < 0) {
		return rc;
	}
	rc = store_dec_open(&d, &v, STORE_ADMIT_SUM, SUM_VERSION);
	s->bytes = store_dec_i64(&d);
	s->recount_ms = store_dec_i64(&d);
	if (rc == 0) {
		rc = store_dec_end(&d);
	}
	return rc < 0 ? -ENOENT : 0;
}

static int sum_write(struct store_txn *t, const struct admit_sum *s)
{
	struct store_rec r;

	store_rec_init(&r, STORE_ADMIT_SUM, SUM_VERSION);
	store_rec_i64(&r, s->bytes < 0 ? 0 : s->bytes);
	store_rec_i64(&r, s->recount_ms);
	return store_put(t, STORE_ADMIT_SUM, SUM_KEY, &r);
}

/* The total for a write: read, or rebuilt from the rows (recount_ms 0, so
 * the next waiter also drops dead owners). */
static void sum_load(struct store_txn *t, struct admit_sum *s)
{
	if (sum_read(t, s) < 0) {
		s->bytes = rows_sum(t);
		s->recount_ms = 0;
	}
}

/* Write id's row (replacing one) and the total. */
static int row_put(struct store_txn *t, const char *id, int64_t bytes,
		   const char *owner)
{
	struct admit_sum s;
	struct admission old;
	struct store_val v;
	struct store_rec r;
	int rc;

	sum_load(t, &s);
	if (store_get(t, STORE_ADMIT, id, &v) == 0 &&
	    row_decode(&v, &old) == 0) {
		s.bytes -= old.bytes;
	}
	store_rec_init(&r, STORE_ADMIT, ROW_VERSION);
	store_rec_i64(&r, bytes);
	store_rec_i64(&r, wall_ms());
	store_rec_str(&r, owner);
	rc = store_put(t, STORE_ADMIT, id, &r);
	if (rc < 0) {
		return rc;
	}
	s.bytes += bytes;
	return sum_write(t, &s);
}

int admit_hold_txn(struct store_txn *t, const char *id, int64_t bytes)
{
	return row_put(t, id, bytes, NULL);
}

int admit_drop_txn(struct store_txn *t, const char *id)
{
	struct admit_sum s;
	struct admission a;
	struct store_val v;
	int rc = store_get(t, STORE_ADMIT, id, &v);

	if (rc < 0) {
		return rc;
	}
	sum_load(t, &s);
	if (row_decode(&v, &a) == 0) {
		s.bytes -= a.bytes;
	}
	rc = store_del(t, STORE_ADMIT, id);
	if (rc < 0) {
		return rc;
	}
	return sum_write(t, &s);
}

struct recount {
	struct service *svc;
	int64_t sum;
};

static int dead_row(const struct store_val *k, const struct store_val *v,
		    void *ctx)
{
	struct recount *rc = ctx;
	struct admission a;

	(void)k;
	if (row_decode(v, &a) < 0) {
		return 1;
	}
	if (a.owner[0] && !service_owner_alive(rc->svc, a.owner)) {
		return 1;
	}
	rc->sum += a.bytes;
	return 0;
}

/* Recount in one write transaction, unless another process did so within
 * min_age_ms. Rows dropped, or -errno. */
static long recount(struct service *svc, int64_t min_age_ms)
{
	struct store_txn t;
	struct admit_sum s;
	struct recount ctx = {svc, 0};
	int64_t now = wall_ms();
	long dropped;
	int rc = store_txn_begin(&svc->store, STORE_RUN, 1, &t);

	if (rc < 0) {
		return rc;
	}
	if (min_age_ms > 0 && sum_read(&t, &s) == 0 &&
	    now - s.recount_ms < min_age_ms) {
		store_txn_abort(&t);
		return 0;
	}
	/* The table holds one row per running or warm sandbox: small. */
	dropped =
	    store_sweep_txn(&t, STORE_ADMIT, NULL, (size_t)-1, dead_row, &ctx);
	if (dropped < 0) {
		store_txn_abort(&t);
		return dropped;
	}
	s.bytes = ctx.sum;
	s.recount_ms = now;
	rc = sum_write(&t, &s);
	if (rc == 0) {
		rc = store_txn_commit(&t);
	}
	store_txn_abort(&t);
	return rc < 0 ? rc : dropped;
}

long admit_recount(struct service *svc)
{
	if (!store_ready(&svc->store, STORE_RUN)) {
		return 0;
	}
	return recount(svc, 0);
}

/* One attempt. 1 admitted, 0 no room (*stale: the total is due for a
 * recount), -errno. The check is a read transaction; the writer lock is
 * taken only when the bytes seem to fit, and the check repeated under it. */
static int try_admit(struct service *svc, const char *id, int64_t bytes,
		     int64_t budget, int *stale)
{
	struct store_txn t;
	struct admit_sum s;
	int rc = store_txn_begin(&svc->store, STORE_RUN, 0, &t);

	*stale = 0;
	if (rc < 0) {
		return rc;
	}
	rc = sum_read(&t, &s);
	store_txn_abort(&t);
	if (rc < 0) {
		*stale = 1;
		s.bytes = 0;
		s.recount_ms = 0;
	}
	if (s.bytes + bytes > budget) {
		*stale = wall_ms() - s.recount_ms >= RECOUNT_EVERY_MS;
		return 0;
	}
	rc = store_txn_begin(&svc->store, STORE_RUN, 1, &t);
	if (rc < 0) {
		return rc;
	}
	sum_load(&t, &s);
	if (s.bytes + bytes > budget) {
		store_txn_abort(&t);
		*stale = wall_ms() - s.recount_ms >= RECOUNT_EVERY_MS;
		return 0;
	}
	rc = row_put(&t, id, bytes, svc->owner);
	if (rc == 0) {
		rc = store_txn_commit(&t);
	}
	store_txn_abort(&t);
	return rc < 0 ? rc : 1;
}

int admit_try(struct service *svc, const char *id, int64_t bytes)
{
	int64_t budget = admit_budget(svc);
	int stale;
	int rc;

	if (!store_ready(&svc->store, STORE_RUN) || budget < 0) {
		return 1;
	}
	if (bytes > budget) {
		return 0;
	}
	rc = try_admit(svc, id, bytes, budget, &stale);
	if (rc == 0 && stale && recount(svc, RECOUNT_EVERY_MS) > 0) {
		rc = try_admit(svc, id, bytes, budget, &stale);
	}
	return rc;
}

int admit_acquire(struct service *svc, const char *id, int64_t bytes,
		  int64_t deadline_ms, int (*cancelled)(void *), void *ctx)
{
	int64_t budget = admit_budget(svc);

	if (!store_ready(&svc->store, STORE_RUN) || budget < 0) {
		return 0;
	}
	if (bytes > budget) {
		return -E2BIG;
	}
	for (;;) {
		struct timespec ts = {0, POLL_MS * 1000 * 1000};
		int stale;
		int rc = try_admit(svc, id, bytes, budget, &stale);

		if (rc == 0 && stale && recount(svc, RECOUNT_EVERY_MS) > 0) {
			continue; /* dead owners' memory came free */
		}
		if (rc == 0 && reclaim && reclaim(svc, bytes) > 0) {
			continue; /* warm sandboxes gave theirs up */
		}
		if (rc == -ENOSPC) {
			return -ENOSPC;
		}
		if (rc != 0) {
			return 0; /* admitted, or the store failed open */
		}
		if (now_ms() >= deadline_ms) {
			return -ETIMEDOUT;
		}
		if (cancelled && cancelled(ctx)) {
			return -ECANCELED;
		}
		nanosleep(&ts, NULL);
	}
}

void admit_release(struct service *svc, const char *id)
{
	struct store_txn t;

	if (store_txn_begin(&svc->store, STORE_RUN, 1, &t) < 0) {
		return;
	}
	if (admit_drop_txn(&t, id) == 0) {
		store_txn_commit(&t);
	}
	store_txn_abort(&t);
}

int64_t admit_in_use(struct service *svc)
{
	struct store_txn t;
	struct admit_sum s;

	if (store_txn_begin(&svc->store, STORE_RUN, 0, &t) < 0) {
		return 0;
	}
	if (sum_read(&t, &s) < 0) {
		s.bytes = rows_sum(&t);
	}
	store_txn_abort(&t);
	return s.bytes;
}
