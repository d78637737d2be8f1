/* spec.h - the container's shape, built in one place: image, runtime,
 * network, mounts and tmpfs, limits, labels, hardening. One-shot runs and
 * the warm pool (and later sessions) all get their containers from here.
 * Pure: builds JSON, talks to nobody. */
#ifndef ISOBOX_SPEC_H
#define ISOBOX_SPEC_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"
#include "registry.h"
#include "service.h"

/* gVisor's Sentry lives inside the container's memory cgroup; about 20 MiB
 * were measured for it at start-up, so the cgroup gets this much on top of
 * the limit the user asked for. */
#define SPEC_MEMORY_OVERHEAD (48LL * 1024 * 1024)

/* The memory cap of the container for lang under lim: the larger of the
 * run and (compiled languages) compile limits, plus the Sentry's share. */
int64_t spec_memory(const struct lang *lang, const struct limits *lim);

/* The seccomp profile (OCI/Docker JSON) every sandbox gets through
 * HostConfig.SecurityOpt "seccomp=<json>": allow by default, refuse with
 * EPERM the calls a program without capabilities has no business making
 * (unshare, mount, keyctl, bpf, perf_event_open, userfaultfd, namespace
 * flags of clone, ...). Enforced inside gVisor by runsc --oci-seccomp.
 * Returns a new string the caller frees; never NULL. */
char *spec_seccomp_profile(void);

/* An extra bind mount: host path (or volume name) onto target inside the
 * container. Sessions mount their workspace this way. */
struct spec_mount {
	const char *host;
	const char *target;
	int read_only;
};

/* What the container is for. Everything is borrowed for the duration of
 * spec_container only. */
struct spec_desc {
	const struct lang *lang;
	const struct limits *lim; /* already clamped */
	const char *request_id;	  /* isobox.request label */
	int64_t deadline_wall_ms; /* isobox.deadline label: the reaper's */
	const char *kind;	  /* isobox.kind: "run", "pool" (warm), ... */
	int network;		  /* 0: NetworkMode none and the runtime; 1: the
				   * egress_network with network_runtime and egress_dns
				   * as its resolvers (the caller has verified the
				   * firewall: egress_ready) */
	const struct spec_mount *mounts; /* nmounts extra binds, may be NULL */
	size_t nmounts;
	/* Extra arguments for the guest (e.g. "--workdir", "/workspace"),
	 * NULL-terminated, right after its path; NULL for none. */
	const char *const *guest_args;
	/* A session's sandbox: stdin stays open when a driver detaches
	 * (StdinOnce false, so any process may attach again: chan.h), and
	 * the isobox.session label names its session. NULL otherwise. */
	const char *session_id;
	/* RLIMIT_FSIZE of its jobs when not lim->tmpfs_bytes (> 0): the
	 * prestarted interpreter must get the jobs' own (a session's jobs
	 * have none: the workspace's quota caps them). */
	int64_t fsize_bytes;
};

/* Build the container spec for d: image, guest command, labels, runtime
 * and network, limits, tmpfs, the guest's own read-only bind and d's
 * mounts, hardening. Exposed for the unit tests. Caller puts the object. */
json_object *spec_container(struct service *svc, const struct spec_desc *d);

#endif
