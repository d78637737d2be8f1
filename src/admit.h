/* admit.h - memory admission: the memory caps of all sandboxes that exist
 * at once (running jobs and warm ones) never add up to more than the slice
 * allows, so the slice's own cap is never what kills a run.
 *
 * Every reservation is a row of the runtime table "admit" (holder id ->
 * bytes, since, owner), and the table "admit_sum" keeps their running
 * total, changed in the same transaction as the rows. So a waiter checks
 * one row in a read transaction, and takes the writer lock only when its
 * bytes fit.
 *
 * A row with an owner ("host:pid:start", the service's) dies with that
 * process: a recount (at most once a second across processes, by whoever
 * waits, and by admit_recount) drops the rows of dead owners and rewrites
 * the total, so a crash never leaks admitted memory. A row without an
 * owner is held until released: the warm pool keeps its sandboxes' memory
 * that way (admit_hold_txn), in the same transaction that records the
 * sandbox, so the two cannot disagree. Admission knows nothing of the pool
 * and decodes none of its rows. */
#ifndef ISOBOX_ADMIT_H
#define ISOBOX_ADMIT_H

#include <stdint.h>

#include "service.h"
#include "store.h"

/* The slice's memory budget in bytes (-1: unknown / unlimited);
 * svc->admit_budget_bytes when that is set (> 0). */
int64_t admit_budget(struct service *svc);
/* Admit bytes for id, waiting until deadline_ms (now_ms clock) or
 * cancelled(ctx). 0 when admitted (or when there is no budget or no
 * store: the slice cap still holds); -ETIMEDOUT when it never fitted;
 * -E2BIG when it can never fit (larger than the whole budget); -ENOSPC
 * when the state store is full; -ECANCELED. The row is owned by this
 * process until admit_release. */
int admit_acquire(struct service *svc, const char *id, int64_t bytes,
		  int64_t deadline_ms, int (*cancelled)(void *), void *ctx);
/* Set the function admit_acquire calls when bytes do not fit: it may free
 * memory held without an owner (the warm pool's: pool_shed) and returns
 * the bytes it freed. Admission only calls it; it never reads what the
 * holder keeps. NULL: none. Set once at start-up, before any request. */
void admit_set_reclaim(int64_t (*fn)(struct service *svc, int64_t bytes));
/* One attempt without waiting: 1 admitted, 0 no room now, -errno. */
int admit_try(struct service *svc, const char *id, int64_t bytes);
/* Drop id's row (no-op when there is none). */
void admit_release(struct service *svc, const char *id);
/* Inside the caller's write transaction: a row for id that no process
 * owns (held until admit_drop_txn), or drop id's row. Neither checks the
 * budget: a holder reserves with admit_try first and converts the row in
 * the transaction that records what it made. 0 or -errno (admit_drop_txn:
 * -ENOENT when there was no row). */
int admit_hold_txn(struct store_txn *t, const char *id, int64_t bytes);
int admit_drop_txn(struct store_txn *t, const char *id);
/* Sum of reserved memory now (one row read). */
int64_t admit_in_use(struct service *svc);
/* Drop the rows of dead owners and rewrite the total from the rows (one
 * write transaction over the whole table: housekeeping only). Returns the
 * rows dropped, or -errno. */
long admit_recount(struct service *svc);

#endif
