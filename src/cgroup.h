/* cgroup.h - checks on the capped parent cgroup ("slice") that every
 * sandbox runs under. Handles cgroup v1 and v2, and both Docker cgroup
 * drivers: with cgroupfs the parent is the path /<name>; with the systemd
 * driver "isobox.slice" is a systemd slice (same directory name at the
 * root of the hierarchy). */
#ifndef ISOBOX_CGROUP_H
#define ISOBOX_CGROUP_H

#include <stddef.h>
#include <stdint.h>

struct slice_state {
	int v2; /* unified hierarchy */
	int exists;
	int64_t memory_limit; /* bytes, -1 when unlimited */
	int64_t memory_usage; /* bytes */
	int64_t pids_limit;   /* -1 when unlimited */
	int children;	      /* child cgroups (running sandboxes) */
};

/* Read the slice's state. root is normally "/sys/fs/cgroup" (tests may
 * point it elsewhere). Returns 0 when everything was read; -ENOENT when the
 * slice does not exist (st->exists 0); another -errno when a file of an
 * existing slice could not be read (that field keeps its default: -1, i.e.
 * "unlimited", for a limit, so a caller that must not fail open checks the
 * return value, not only the fields). */
int cgroup_slice_read(const char *root, const char *slice,
		      struct slice_state *st);
/* 1 when the slice exists with a memory and a pids cap; otherwise 0 and a
 * sentence in why. */
int cgroup_slice_ready(const struct slice_state *st, char *why, size_t n);

/* OOM kills recorded in a container's own memory cgroup under parent (as
 * given to the engine: "/isobox.slice" or a systemd slice name), or -ENOENT
 * when the cgroup is not there (any more). Reads cgroup v1 memory.oom_control
 * or v2 memory.events. */
int cgroup_oom_kills(const char *parent, const char *container_id);
/* 1 when the kernel log records a memory-cgroup OOM kill in the container's
 * cgroup ("oom_memcg=.../ID"), 0 when not, -errno when /dev/kmsg cannot be
 * read. For when the engine removed the cgroup before it was asked. */
int cgroup_oom_logged(const char *container_id);
/* Forks and clones refused in a container's pids cgroup because a pids.max
 * was reached (v1 or v2 pids.events "max"). When the cgroup is gone (the
 * engine removes it as soon as the container ends), the kernel log is
 * searched for the pids controller's "fork rejected" line naming the
 * container: 1 if found, else 0. -errno when neither can be read (another
 * host's engine, no permission). */
int cgroup_pids_refused(const char *parent, const char *container_id);

/* A sandbox's cgroups outlive it when the runtime dies with it (a dockerd
 * or shim killed mid-run never runs "runsc delete"). These two find and
 * remove such orphans under the slice, in every hierarchy under root
 * (v1: each controller's directory, symlinked aliases skipped; v2: the
 * one tree).
 *
 * The container ids (64 lowercase hex) that own a child cgroup of slice,
 * named "ID" (cgroupfs driver) or "docker-ID.scope" (systemd driver):
 * stores up to max of them in ids (each 65 bytes with its NUL), without
 * repeats, and returns how many. */
int cgroup_slice_ids(const char *root, const char *slice, char (*ids)[65],
		     int max);
/* Kill every process in container id's cgroups under slice (SIGKILL; the
 * deepest cgroups first) and remove the cgroups. 1 when none is left, 0
 * when some could not be removed yet (processes still dying: call again
 * later). *killed counts the processes signalled. Only for a container the
 * engine no longer knows: it kills whatever runs there. */
int cgroup_remove_container(const char *root, const char *slice, const char *id,
			    int *killed);
/* The pid of a live containerd shim that is the parent of a process in
 * container id's cgroups under slice (a sandbox some engine still runs:
 * maybe another dockerd on the host that shares the slice), the first one
 * found; 0 when no process there has one; -1 when id is not a container
 * id or the tree is too deep to judge (take it as a shim's). */
long cgroup_container_shim(const char *root, const char *slice, const char *id);
/* From live shim pid's command line: the values of its -id and -address
 * flags (the container it serves and its containerd's socket), copied
 * into id and address. 1 when both are there and fit, else 0. */
int cgroup_shim_args(long pid, char *id, size_t idsize, char *address,
		     size_t addrsize);

/* A warm sandbox's CPU weight while it waits (pool.c): low, so that what it
 * does before its claim (a prestarted compiler's warm-up) takes only CPU
 * that runs leave idle; normal again at the claim, the weight every other
 * sandbox has. Writes the container's v1 cpu.shares (2 low, 1024 normal)
 * or v2 cpu.weight (1 low, 100 normal) under slice, cgroupfs or systemd
 * layout, in the first of those that exists. 0, or -errno (-EINVAL for an
 * id that is not 64 lowercase hex digits; -ENOENT when no such file). */
#define CGROUP_CPU_LOW	  0
#define CGROUP_CPU_NORMAL 1
int cgroup_cpu_weight(const char *root, const char *slice, const char *id,
		      int weight);

#endif
