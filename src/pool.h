/* pool.h - the warm pool: sandboxes created and started ahead of time, their
 * guest already waiting for a job on stdin, shared by every FastCGI
 * process through the LMDB "pool" table. A request claims one in a single
 * write transaction (so no sandbox is ever handed out twice), attaches,
 * sends its job and removes the sandbox after that one job.
 *
 * A warm sandbox only serves a request whose container-level limits are
 * the ones it was made with (memory, cpus, tmpfs size, and pids no higher);
 * wall time, output cap and the exact pids limit are per job, enforced by
 * the guest and the host as on the cold path.
 *
 * Each warm sandbox's memory is reserved as an admission row
 * ("pool:<container id>", admit.h) written in the same transaction as its
 * pool row, and dropped in the one that claims or removes it: the pool
 * reports what it reserves, and its rows stay private to pool.c. */
#ifndef ISOBOX_POOL_H
#define ISOBOX_POOL_H

#include <stdint.h>

#include "limits.h"
#include "registry.h"
#include "service.h"

/* 1 when a warm sandbox made with limits have can serve a run that wants
 * want: the same memory, tmpfs size and cpus, and no more pids than it was
 * made with. Pure (exposed for tests). */
int pool_shape_fits(const struct limits *have, const struct limits *want);

/* The limits a warm sandbox of lang is made with. */
void pool_shape(const struct service *svc, const struct lang *lang,
		struct limits *out);
/* Claim a warm sandbox for lang that can honour lim. Returns its container
 * id (caller frees) or NULL when none matches (take the cold path). */
char *pool_claim(struct service *svc, const struct lang *lang,
		 const struct limits *lim);
/* Drop the row of a claimed sandbox (after use). */
void pool_forget(struct service *svc, const char *id);
/* Recycle expired or dead warm sandboxes and refill to pool_size. Only one
 * process does it at a time (flock); others return at once. */
void pool_maintain(struct service *svc);

/* At shutdown: remove the warm sandboxes this process made that nobody
 * has claimed (other processes refill the pool as they need). */
void pool_drain_own(struct service *svc);

struct pool_stats {
	int ready;
	int claimed;
};
void pool_stats(struct service *svc, struct pool_stats *st);

#endif
