/* sandbox.h - one execution: the hardened container spec and the life of
 * one sandbox (create, attach, start, send the job, relay the guest's
 * frames, judge the outcome). The host is authoritative for the outer wall
 * time, the output cap and OOM (read from the engine). */
#ifndef ISOBOX_SANDBOX_H
#define ISOBOX_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"
#include "registry.h"
#include "request.h"
#include "service.h"
#include "util.h"
#include "wire.h"

/* gVisor's Sentry lives inside the container's memory cgroup; about 20 MiB
 * were measured for it at start-up, so the cgroup gets this much on top of
 * the limit the user asked for. */
#define SANDBOX_MEMORY_OVERHEAD (48LL * 1024 * 1024)

/* The memory cap of the container for lang under lim: the larger of the
 * run and (compiled languages) compile limits, plus the Sentry's share. */
int64_t sandbox_memory(const struct lang *lang, const struct limits *lim);

struct stage_result {
	int ran;	/* the stage started */
	struct buf out; /* stdout bytes */
	struct buf err; /* stderr bytes */
	int exit_code;	/* exit status, or 128 + signal */
	int signal;	/* terminating signal or 0 */
	int timed_out;
	int oom_killed;
	int truncated;
	int prestarted; /* the guest handed it to a prestarted interpreter */
	int64_t duration_ms;
};

struct sandbox_result {
	int has_compile; /* the language has a compile stage */
	struct stage_result compile;
	struct stage_result run;
	char *container_id; /* still to be removed: see sandbox_release */
	int pooled;	    /* it came warm from the pool */
	int guest_done;	    /* the guest sent DONE: it exits on its own */
	/* Where the time went, for logs and benchmarks (ms). */
	int64_t t_create, t_attach, t_start, t_total;
};

/* Output callback: stage is 'c' or 'r', stream 1 or 2. Return non-zero
 * when the client is gone: the sandbox is then killed. */
struct sandbox_hooks {
	void *ctx;
	int (*on_output)(void *ctx, int stage, int stream, const uint8_t *p,
			 size_t n);
	int (*cancelled)(void *ctx); /* polled a few times a second */
};

/* Run req with lang under lim (already clamped). Blocks until done. On
 * success returns 0 and fills res (even when the program failed, timed out
 * or ran out of memory: that is a result, not an error). On failure
 * returns -1 with err set (503 docker_unavailable, image_unavailable,
 * sandbox_failed; 499 client_gone when hooks say the client left). In both
 * cases call sandbox_release(svc, res) afterwards: it removes the container
 * and frees res. request_id names the container. */
int sandbox_execute(struct service *svc, const struct lang *lang,
		    const struct exec_request *req, const struct limits *lim,
		    const char *request_id, const struct sandbox_hooks *hooks,
		    struct sandbox_result *res, struct isobox_err *err);
void sandbox_release(struct service *svc, struct sandbox_result *res);

/* Build the container spec (exposed for unit tests and isoboxctl). Caller
 * puts the object. network 0: NetworkMode none and the runtime; 1: the
 * egress_network with network_runtime and egress_dns as its resolvers (the
 * caller has verified the firewall: egress_ready). */
json_object *sandbox_spec(struct service *svc, const struct lang *lang,
			  const struct limits *lim, const char *request_id,
			  int64_t deadline_wall_ms, const char *kind,
			  int network);

/* Encode the job for the guest into out (expanding {source}/{files} and
 * appending args). Returns 0 or -1 when it does not fit the framing. */
int sandbox_job_encode(const struct lang *lang, const struct exec_request *req,
		       const struct limits *lim, struct wire_buf *out);
/* Append the HANDOFF record for a warm sandbox whose guest prestarted the
 * language's interpreter (nothing when the language has no "prestart").
 * Sent only to warm sandboxes, ahead of the job. Returns 0 or -1. */
int sandbox_handoff_encode(const struct lang *lang,
			   const struct exec_request *req,
			   struct wire_buf *out);

#endif
