/* spec.h - the container's shape, built in one place: image, runtime,
 * network, mounts and tmpfs, limits, labels, hardening. One-shot runs and
 * the warm pool (and later sessions) all get their containers from here.
 * Pure: builds JSON, talks to nobody. */
#ifndef ISOBOX_SPEC_H
#define ISOBOX_SPEC_H

#include <json-c/json.h>
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

/* Build the container spec (exposed for unit tests and isoboxctl). Caller
 * puts the object. network 0: NetworkMode none and the runtime; 1: the
 * egress_network with network_runtime and egress_dns as its resolvers (the
 * caller has verified the firewall: egress_ready). */
json_object *spec_container(struct service *svc, const struct lang *lang,
			    const struct limits *lim, const char *request_id,
			    int64_t deadline_wall_ms, const char *kind,
			    int network);

#endif
