/* admit.c - memory admission against the slice's cap; see admit.h. */
#include "admit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cgroup.h"
#include "pool.h"
#include "spec.h"

int64_t admit_budget(struct service *svc)
{
	struct slice_state st;

	cgroup_slice_read("/sys/fs/cgroup", svc->cfg.cgroup_parent, &st);
	return st.exists ? st.memory_limit : -1;
}

/* Sum what is committed, dropping rows of dead owners. Runs inside txn. */
static int64_t committed(struct service *svc, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k;
	MDB_val v;
	int64_t sum = 0;
	int rc;

	if (mdb_cursor_open(txn, svc->store.admit, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct admission a;

			if (v.mv_size != sizeof(a)) {
				mdb_cursor_del(cur, 0);
				continue;
			}
			memcpy(&a, v.mv_data, sizeof(a));
			if (!service_owner_alive(svc, a.owner)) {
				mdb_cursor_del(cur, 0);
				continue;
			}
			sum += a.bytes;
		}
		mdb_cursor_close(cur);
	}
	if (mdb_cursor_open(txn, svc->store.pool, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct pool_entry e;

			/* A claimed one is counted by its claimer's own
			 * admission row. */
			if (v.mv_size == sizeof(e)) {
				memcpy(&e, v.mv_data, sizeof(e));
				if (e.state == POOL_READY) {
					sum += e.memory_bytes +
					       SPEC_MEMORY_OVERHEAD;
				}
			}
		}
		mdb_cursor_close(cur);
	}
	return sum;
}

/* One attempt. 1 admitted, 0 no room, -ENOSPC when the store is full,
 * -1 on another store error (admit anyway: the slice cap still holds). */
static int try_admit(struct service *svc, const char *id, int64_t bytes,
		     int64_t budget)
{
	MDB_txn *txn;
	int64_t sum;
	int rc;

	if (mdb_txn_begin(svc->store.env, NULL, 0, &txn) != 0) {
		return -1;
	}
	sum = committed(svc, txn);
	if (sum + bytes > budget) {
		/* Keep the clean-up of dead rows. */
		mdb_txn_commit(txn);
		return 0;
	}
	if (id) {
		struct admission a;
		MDB_val k = {strlen(id), (void *)id};
		MDB_val v = {sizeof(a), &a};

		memset(&a, 0, sizeof(a));
		a.bytes = bytes;
		a.since_ms = wall_ms();
		snprintf(a.owner, sizeof(a.owner), "%s", svc->owner);
		rc = mdb_put(txn, svc->store.admit, &k, &v, 0);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return rc == MDB_MAP_FULL ? -ENOSPC : -1;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc == MDB_MAP_FULL) {
		return -ENOSPC;
	}
	return rc == 0 ? 1 : -1;
}

int admit_acquire(struct service *svc, const char *id, int64_t bytes,
		  int64_t deadline_ms, int (*cancelled)(void *), void *ctx)
{
	int64_t budget = admit_budget(svc);

	if (svc->store.env == NULL || budget < 0) {
		return 0;
	}
	if (bytes > budget) {
		return -E2BIG;
	}
	for (;;) {
		struct timespec ts = {0, 25 * 1000 * 1000};
		int rc = try_admit(svc, id, bytes, budget);

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
	MDB_txn *txn;
	MDB_val k = {strlen(id), (void *)id};

	if (svc->store.env == NULL ||
	    mdb_txn_begin(svc->store.env, NULL, 0, &txn) != 0) {
		return;
	}
	if (mdb_del(txn, svc->store.admit, &k, NULL) == 0) {
		mdb_txn_commit(txn);
	} else {
		mdb_txn_abort(txn);
	}
}

int admit_fits(struct service *svc, int64_t bytes)
{
	int64_t budget = admit_budget(svc);

	if (svc->store.env == NULL || budget < 0) {
		return 1;
	}
	return try_admit(svc, NULL, bytes, budget) == 1;
}

int64_t admit_in_use(struct service *svc)
{
	MDB_txn *txn;
	int64_t sum;

	if (svc->store.env == NULL ||
	    mdb_txn_begin(svc->store.env, NULL, 0, &txn) != 0) {
		return 0;
	}
	sum = committed(svc, txn);
	mdb_txn_commit(txn);
	return sum;
}
