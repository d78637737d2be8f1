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
 * Which languages are warm, and how many, follows demand: every request
 * (hit or miss) adds one to its (language, version)'s score in a shared
 * row of the same table, halved every 10 s. A language asked for within
 * its idle time (catalogue pool.idle_ms, else pool_idle_ms) wants one warm
 * sandbox plus the requests expected while another is made, at most its
 * max (catalogue pool.max, else pool_max); one idle longer wants none.
 * pool_languages keep at least pool_size of their default version. The
 * maintainer fills in demand order while the sandboxes' memory stays under
 * pool_memory_budget_bytes, and removes the ones beyond a target.
 *
 * Each warm sandbox's memory is reserved as an admission row
 * ("pool:<container id>", admit.h) written in the same transaction as its
 * pool row, and dropped in the one that claims or removes it: the pool
 * reports what it reserves, and its rows stay private to pool.c. A run
 * that finds no memory calls pool_shed (through admit_set_reclaim): warm
 * sandboxes never keep memory from a run. */
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

/* A demand score dt_ms later (halved every 10 s). Pure. */
double pool_demand_decay(double score, int64_t dt_ms);
/* Warm sandboxes wanted for a score (already decayed) whose last request
 * was idle_for_ms ago: 0 once idle_ms have passed (or max is 0), else 1
 * plus the requests expected while one sandbox is made, at most max.
 * Pure. */
int pool_demand_target(double score, int64_t idle_for_ms, int64_t idle_ms,
		       int max);
/* The memory all warm sandboxes may hold: pool_memory_budget_bytes, or
 * half the admission budget when that is 0 (2 GiB when there is none). */
int64_t pool_budget(struct service *svc);

/* The limits a warm sandbox of lang is made with. */
void pool_shape(const struct service *svc, const struct lang *lang,
		struct limits *out);
/* Claim a warm sandbox for lang that can honour lim, and count the request
 * in lang's demand either way. Returns its container id (caller frees) or
 * NULL when none matches (take the cold path). A warm sandbox waits at a
 * low CPU weight (cgroup_cpu_weight); the claim gives it the normal one. */
char *pool_claim(struct service *svc, const struct lang *lang,
		 const struct limits *lim);
/* Drop the row of a claimed sandbox (after use). */
void pool_forget(struct service *svc, const char *id);
/* Recycle expired or dead warm sandboxes, remove those beyond each
 * language's target and fill up to the targets within the budget. Only
 * one process does it at a time (flock); others return at once. */
void pool_maintain(struct service *svc);

/* At shutdown: remove the warm sandboxes this process made that nobody
 * has claimed (other processes refill the pool as they need). */
void pool_drain_own(struct service *svc);

/* Remove waiting warm sandboxes until at least bytes of their memory came
 * free (or none is left), and keep the maintainer from refilling for a few
 * seconds. Returns the bytes freed. For admit_set_reclaim. */
int64_t pool_shed(struct service *svc, int64_t bytes);

/* Append the pool's gauges to a /metrics answer: the budget and its use,
 * and per language and version asked for: target, ready, claimed, hits,
 * misses, demand. */
void pool_metrics(struct service *svc, struct buf *b);

struct pool_stats {
	int ready;
	int claimed;
};
void pool_stats(struct service *svc, struct pool_stats *st);

#endif
