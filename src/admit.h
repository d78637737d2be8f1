/* admit.h - memory admission: the memory caps of all sandboxes that exist
 * at once (running jobs and warm ones) never add up to more than the slice
 * allows, so the slice's own cap is never what kills a run.
 *
 * Each admitted run is a row of the shared LMDB table "admit" (request id
 * -> struct admission). Rows of processes that died are ignored and
 * dropped, so a crash never leaks admitted memory. Warm sandboxes are
 * counted from the pool table. */
#ifndef ISOBOX_ADMIT_H
#define ISOBOX_ADMIT_H

#include <stdint.h>

#include "service.h"

struct admission {
	int64_t bytes;
	int64_t since_ms;
	char owner[320];
};

/* The slice's memory budget in bytes (-1: unknown / unlimited). */
int64_t admit_budget(struct service *svc);
/* Admit bytes for request id, waiting until deadline_ms (now_ms clock) or
 * cancelled(ctx). 0 when admitted; -ETIMEDOUT when it never fitted;
 * -E2BIG when it can never fit (larger than the whole budget);
 * -ENOSPC when the state store is full; -ECANCELED. */
int admit_acquire(struct service *svc, const char *id, int64_t bytes,
		  int64_t deadline_ms, int (*cancelled)(void *), void *ctx);
void admit_release(struct service *svc, const char *id);
/* 1 when bytes more would still fit now (for the pool's refills). */
int admit_fits(struct service *svc, int64_t bytes);
/* Sum of admitted and warm memory now. */
int64_t admit_in_use(struct service *svc);

#endif
