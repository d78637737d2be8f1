/* bstore.h - the btrfs store: one subvolume per session workspace and per
 * volume, under store_root/<kind>/<id>, each with a qgroup limit; snapshots
 * (fork, copy), usage, free space and a listing for the reaper. Only
 * ioctls of <linux/btrfs.h>; the btrfs CLI is never run by the service.
 *
 * Layout on disk (store_root is a btrfs mount with quotas enabled, made by
 * scripts/setup-host):
 *
 *   store_root/sessions/<id>   subvolume, root dir owned by 65534:65534
 *   store_root/volumes/<id>    the same
 *
 * The kind directories are plain directories, mode 0700, owned by root: a
 * sandbox only ever sees one subvolume, bind-mounted, never its parent.
 *
 * Ids are data, not paths: 1..BSTORE_ID_MAX characters of [A-Za-z0-9_-],
 * the first one alphanumeric (so never ".", ".." or a hidden name). Every
 * call checks its id and answers -EINVAL for a bad one, before any system
 * call.
 *
 * Limits are on EXCLUSIVE bytes (the qgroup's max_excl): the data only this
 * subvolume holds. A fresh subvolume shares nothing, so there exclusive ==
 * referenced; the difference is for snapshots. A fork of a session holding
 * 400 MiB starts at ~0 exclusive bytes: with an exclusive limit of 512 MiB
 * it may write 512 MiB of its own, which is what a limit on "what a session
 * can write" means, and what its fork really costs the disk (the shared
 * 400 MiB are stored once). A referenced limit would count the inherited
 * 400 MiB against the fork and leave it 112 MiB. The consequence to know:
 * when the source of a snapshot is deleted, the extents it shared become
 * exclusive to the fork, which may then be over its limit (it can delete,
 * not write, until it is under). Referenced bytes (what `du` inside the
 * sandbox sees) are reported too, for display.
 *
 * Accounting lag: the kernel enforces a limit at write time, exactly (the
 * sandbox gets EDQUOT at the cap), but the numbers bstore_usage reads are
 * updated at transaction commit (every 30 s, or bstore_sync). Call
 * bstore_sync before bstore_usage when the numbers must include writes just
 * made (a usage report right after a step, a test); never needed for the
 * limit itself.
 *
 * Errors: 0 / -errno (util.h). The ones callers act on: -EINVAL (bad id or
 * kind), -ENOENT (no such subvolume), -EEXIST (the id is taken), -ENOSPC /
 * -EDQUOT (the filesystem or a qgroup is full), -ENOTTY (store_root is not
 * btrfs), -ENODATA (quotas are not enabled). bstore_open and
 * bstore_space_check also fill a struct isobox_err.
 *
 * Thread-safety: a struct bstore is read-only after bstore_open; every call
 * may run in any thread and any process at once. Two creators of the same
 * id: one gets -EEXIST. The caller (the session and volume modules) owns
 * the ids and their rows; this module never invents ids. */
#ifndef ISOBOX_BSTORE_H
#define ISOBOX_BSTORE_H

#include <stdint.h>

#include "util.h"

#define BSTORE_ID_MAX 64
/* The sandbox's user: owner of every subvolume's root directory. */
#define BSTORE_UID 65534
#define BSTORE_GID 65534

/* X(ID, "directory name"). Adding a kind is adding a line. */
#define BSTORE_KINDS(X)                                                        \
	X(SESSIONS, "sessions")                                                \
	X(VOLUMES, "volumes")

enum bstore_kind {
#define BSTORE_KIND_ENUM(id, name) BSTORE_##id,
	BSTORE_KINDS(BSTORE_KIND_ENUM)
#undef BSTORE_KIND_ENUM
	    BSTORE_NKINDS
};

struct bstore {
	char *root;		    /* store_root, as configured */
	int root_fd;		    /* O_DIRECTORY of store_root, or -1 */
	int kind_fd[BSTORE_NKINDS]; /* O_DIRECTORY of root/<kind>, or -1 */
	int64_t reserve_bytes;	    /* bstore_space_check keeps this free */
};

/* Mark b closed (no fds), so bstore_close and bstore_ready are safe on a
 * store that was never opened. */
void bstore_init(struct bstore *b);
/* 1 when b is open (bstore_open succeeded), else 0. */
int bstore_ready(const struct bstore *b);
/* Open the store at root: check that it is btrfs (-ENOTTY) with quotas
 * enabled (-ENODATA), create the kind directories (0700, root). 0, or -1
 * with 503 storage_unavailable and a sentence in err (b is then closed).
 * reserve_bytes: free space bstore_space_check keeps. */
int bstore_open(struct bstore *b, const char *root, int64_t reserve_bytes,
		struct isobox_err *err);
/* Close the fds (safe on a closed or zeroed-then-failed store). */
void bstore_close(struct bstore *b);

/* 1 when id is a valid subvolume id (see above), else 0. */
int bstore_id_ok(const char *id);
/* "sessions", "volumes"; NULL for an unknown kind. */
const char *bstore_kind_name(enum bstore_kind k);

/* Create the empty subvolume kind/id, its root dir owned by 65534:65534 with
 * mode (0700 or 0755 are the useful ones; only 0777 bits are kept), and
 * its exclusive limit (limit_bytes <= 0: no limit; a stale qgroup of a
 * reused subvolume id is overwritten either way). On a failure after the
 * subvolume exists, it is deleted again. 0, -EINVAL, -EEXIST, -ENOSPC,
 * -errno. */
int bstore_create(struct bstore *b, enum bstore_kind k, const char *id,
		  unsigned mode, int64_t limit_bytes);

/* Writable snapshot of src_kind/src_id as dst_kind/dst_id (a session fork,
 * a volume copy, a volume's contents into a session ...), with its own
 * exclusive limit (limit_bytes <= 0: none; the source's limit is not
 * inherited). Cost: one transaction commit, whatever the size of the
 * tree (2-15 ms for 100 MiB in test_bstore here), plus writing out the
 * source's data not yet on disk (a snapshot right after a large write
 * pays for that write's flush). The snapshot is consistent at
 * one instant; a sandbox writing into the source at that moment may have
 * some of its writes in it and others not. 0, -EINVAL, -ENOENT (no source),
 * -EEXIST (destination taken), -ENOSPC, -errno. */
int bstore_snapshot(struct bstore *b, enum bstore_kind src_kind,
		    const char *src_id, enum bstore_kind dst_kind,
		    const char *dst_id, int64_t limit_bytes);

/* Delete the subvolume kind/id with everything in it (one ioctl; the
 * kernel frees the extents in the background), then its qgroup 0/<subvolid>
 * when the kernel lets it go already. Kernels since 6.8 drop the qgroup by
 * themselves once the tree is freed; on older ones it lingers as "stale"
 * until bstore_qgroup_sweep removes it. A subvolume still bind-mounted into
 * a running container may be refused (-EBUSY): stop the sandbox first.
 * 0, -EINVAL, -ENOENT, -EBUSY, -errno. */
int bstore_delete(struct bstore *b, enum bstore_kind k, const char *id);

/* Set the exclusive limit of kind/id to bytes (<= 0: remove the limit).
 * Lowering it below current usage is allowed: further writes then fail
 * with EDQUOT until usage falls under it. 0, -EINVAL, -ENOENT, -errno. */
int bstore_limit_set(struct bstore *b, enum bstore_kind k, const char *id,
		     int64_t bytes);

struct bstore_usage {
	uint64_t subvolid;  /* the qgroup is 0/<subvolid> */
	int64_t referenced; /* bytes the tree references (what du shows) */
	int64_t exclusive;  /* bytes only this subvolume holds: the limit's */
	int64_t limit;	    /* exclusive limit in bytes, 0: none */
	int inconsistent;   /* 1: the kernel flags the qgroup numbers as
			     * not to be trusted (a rescan runs or is
			     * needed: bstore_quota_check) */
};
/* The qgroup numbers of kind/id as of the last transaction commit (see
 * bstore_sync). 0, -EINVAL, -ENOENT (no subvolume, or no qgroup for it),
 * -errno. */
int bstore_usage(struct bstore *b, enum bstore_kind k, const char *id,
		 struct bstore_usage *u);

/* Check the quota tree's status: 0 when the numbers are consistent, 1
 * when a rescan is running (started here when the kernel had flagged
 * them inconsistent, e.g. after an unclean shutdown or a qgroup removed
 * while still charged), -ENODATA when quotas are off, -errno. While
 * inconsistent, usage numbers and limits are approximate. For start-up
 * and the reaper. */
int bstore_quota_check(struct bstore *b);

/* Commit the filesystem's transaction (BTRFS_IOC_SYNC): afterwards
 * bstore_usage includes every write that finished before the call. Costs
 * a commit (milliseconds to a second under load): not per request. 0 or
 * -errno. */
int bstore_sync(struct bstore *b);

struct bstore_space {
	int64_t total; /* bytes of the filesystem */
	int64_t avail; /* bytes a new write may still get (statfs f_bavail) */
};
/* statfs of store_root. 0 or -errno. */
int bstore_space(struct bstore *b, struct bstore_space *s);
/* 0 when at least need + reserve_bytes are available, else -1 with 507
 * storage_full in err (also when statfs fails: fail closed). Callers check
 * before creating a session or volume, or accepting an upload. */
int bstore_space_check(struct bstore *b, int64_t need, struct isobox_err *err);

/* Call fn(id, ctx) for every subvolume of kind k whose name is a valid id,
 * in directory order (for a reaper that removes subvolumes without a row).
 * Entries that are not subvolumes or not valid ids are skipped. fn returns
 * 0 to continue, < 0 to stop (that value is returned). fn may delete the
 * subvolume it is given. Returns how many ids fn was given, or -errno. */
int bstore_list(struct bstore *b, enum bstore_kind k,
		int (*fn)(const char *id, void *ctx), void *ctx);

/* Remove level-0 qgroups whose subvolume is gone and whose space is freed
 * and accounted (zero usage as of the last commit: removing a qgroup that
 * is still charged would make every number inconsistent), i.e. the
 * "stale" qgroups older kernels leave. Returns how many were
 * removed, or -errno. Cheap (two tree searches); for the reaper. */
int bstore_qgroup_sweep(struct bstore *b);

/* An O_DIRECTORY fd of the subvolume's root (the root fsapi.h works
 * beneath), opened without following a symlink. Caller closes. >= 0, or
 * -EINVAL, -ENOENT, -ENOTDIR, -errno. */
int bstore_open_root(struct bstore *b, enum bstore_kind k, const char *id);

/* The host path of kind/id ("store_root/sessions/<id>"), for the bind
 * mount of the container spec; caller frees. NULL for a bad id or kind. */
char *bstore_path(const struct bstore *b, enum bstore_kind k, const char *id);

#endif
