/* pool.h - the warm pool: sandboxes created and started ahead of time, their
 * guest already waiting for a job on stdin, shared by every FastCGI
 * process through the LMDB "pool" table. A request claims one in a single
 * write transaction (so no sandbox is ever handed out twice), attaches,
 * sends its job and removes the sandbox after that one job.
 *
 * A warm sandbox only serves a request whose container-level limits are
 * the ones it was made with (memory, cpus, tmpfs size, and pids no higher);
 * wall time, output cap and the exact pids limit are per job, enforced by
 * the guest and the host as on the cold path. */
#ifndef ISOBOX_POOL_H
#define ISOBOX_POOL_H

#include <stdint.h>

#include "limits.h"
#include "registry.h"
#include "service.h"

enum pool_state {
	POOL_READY = 1,	  /* started, waiting to be claimed */
	POOL_CLAIMED = 2, /* handed to a request */
};

/* Value of one pool table row (key: the container id). */
struct pool_entry {
	uint32_t version;   /* 1 */
	uint32_t state;	    /* enum pool_state */
	int64_t created_ms; /* wall clock */
	int64_t claimed_ms;
	int64_t memory_bytes;
	int64_t tmpfs_bytes;
	int64_t pids;
	double cpus;
	char lang[64];
	char image[160];
	char owner[320]; /* the claimer (service owner string) */
};

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
