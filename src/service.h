/* service.h - the process-wide context of isobox.fcgi: configuration, the
 * engine client, the concurrency slots and this process's identity. It is
 * built once at start-up and passed by pointer to every handler; nothing
 * in it changes per request (the catalogue has its own refcounted swap). */
#ifndef ISOBOX_SERVICE_H
#define ISOBOX_SERVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bstore.h"
#include "config.h"
#include "docker.h"
#include "slots.h"
#include "store.h"
#include "kv.h"

struct service {
	struct config cfg;
	char *config_path; /* as given, or NULL for the default */
	struct docker docker;
	struct slots slots;
	struct store store;	    /* STORE_RUN in run_dir/db, STORE_STATE in
				     * state_dir/db */
	struct bstore bstore;	    /* store_root: workspaces and volumes;
				     * bstore_ready() is 0 when the host has
				     * no store (features that need it
				     * answer 503 storage_unavailable) */
	int64_t admit_budget_bytes; /* > 0: the memory budget instead of the
				     * slice's cap (tests, benchmarks) */
	/* The durable key-value store of /v1/memory (kv.h): its tables live in
	 * STORE_STATE; its group-commit queue is this process's. */
	struct kv kv;
	/* Housekeeping (pool refill, reaping) waits on this; service_kick
	 * wakes it early, e.g. right after a warm sandbox was claimed. */
	pthread_mutex_t hk_lock;
	pthread_cond_t hk_cond;
	int hk_kicked;
	char hostname[256];
	char owner[320]; /* "host:pid:start" label of the sandboxes we own */
	char deployment[80]; /* "host:<hash of run_dir>": processes sharing
			      * this run_dir share state and the pool */
	int64_t started_ms;
	/* Set once by the signal thread (or main at exit), read by every
	 * worker and housekeeping loop: an atomic, not a volatile. */
	atomic_int stopping;
	/* CgroupParent as the engine needs it: with the cgroupfs driver a
	 * relative parent would land under dockerd's own cgroup, so it is made
	 * absolute; with the systemd driver it stays a slice name. Resolved
	 * from /info on first use (see service_cgroup_parent). */
	char cgroup_parent[256];
	int cgroup_parent_known;
	int cgroup_systemd;
	/* Container ids whose cgroups the last service_reap_cgroups found
	 * under the slice with no container behind them (housekeeping
	 * thread only). */
	char (*cg_suspects)[65];
	int cg_nsuspects;
	/* The -address of our engine's containerd shims (their containerd's
	 * socket), learnt from the shim of a container the engine lists;
	 * empty until one is seen (housekeeping thread only). */
	char engine_shim_address[256];
};

/* The CgroupParent to give the engine. Asks the engine once; until it
 * answers, the absolute cgroupfs form is assumed. Thread-safe. */
const char *service_cgroup_parent(struct service *s);

/* Load the config, set up the engine client and the slots, and load the
 * catalogue; open the btrfs store (best effort: a host without one only
 * logs a warning and leaves s->bstore closed). Returns 0, or -1 with a
 * sentence in err. */
int service_init(struct service *s, const char *config_path,
		 struct isobox_err *err);
void service_free(struct service *s);
/* Fill hostname and owner ("host:pid:start") for this process (again in
 * a forked child). */
void service_identity(struct service *s);
/* Open both store environments (run_dir/db, state_dir/db, creating the
 * directories) after store_init, with the table bounds from s->cfg. 0, or
 * -1 with 500 store_unavailable in err. Called by service_init; tests
 * call it on a service whose cfg they filled. */
int service_open_store(struct service *s, struct isobox_err *err);

/* Wake the housekeeping thread now. */
void service_kick(struct service *s);
/* 1 when the "host:pid:start" owner names a live process on this host (or
 * another host's process, which is not ours to judge). */
int service_owner_alive(const struct service *s, const char *owner);

/* Remove sandboxes labelled isobox.managed=1 whose owner process on this
 * host is gone, or whose deadline passed more than a minute ago. Only one
 * process sweeps at a time (an flock in run_dir). Returns how many were
 * removed, or -1 when the engine could not be asked. */
int service_reap(struct service *s);
/* Remove the cgroups under the slice whose container the engine no longer
 * knows (a runtime killed with its dockerd leaves them behind, sometimes
 * with a sandbox process still in them): kill what runs there, rmdir them.
 * Reads the slice first and asks the engine only when it has children, so
 * a cgroup made meanwhile belongs to a container the list already has. A
 * cgroup is removed on the second call that finds it unknown, and not
 * while one of its processes is a live containerd shim's child.
 * Returns how many containers' cgroups were removed, or -1 when the engine
 * could not be asked (then nothing is touched). */
int service_reap_cgroups(struct service *s);

#endif
