/* exec.h - admitting and running one parsed execution request: the limits
 * it gets (config defaults, then the language's, then the request's,
 * clamped into the configured floors and ceilings), a concurrency slot, the
 * sandbox. Every front door (/execute, the Piston API, the MCP tool) goes
 * through exec_run, so they all admit work alike. */
#ifndef ISOBOX_EXEC_H
#define ISOBOX_EXEC_H

#include "http.h"
#include "registry.h"
#include "request.h"
#include "sandbox.h"
#include "service.h"

/* One admitted run. Owned by the caller until exec_finish. */
struct exec_run {
	struct service *svc;
	struct limits lim;	   /* the limits applied, after clamping */
	struct sandbox_result res; /* valid when exec_run returned 0 */
	struct exec_run *next;	   /* more runs of the same request */
};

/* The limits er gets with lang on this service: defaults, the language's,
 * the request's, then clamped. */
void exec_limits(const struct service *svc, const struct lang *lang,
		 const struct exec_request *er, struct limits *out);

/* Run er with lang for req: check the network flag (allow_network, the
 * tenant's network flag, then the egress firewall: egress_ready), compute the
 * limits (lowered to req->tenant's own ceilings), wait for admission (the
 * tenant's slot, a global slot, sandbox memory; up to queue_timeout_ms, or
 * until req's client leaves), call on_admitted(hooks->ctx) if non-NULL once
 * admitted (e.g. to open an event stream), run the sandbox with hooks (may
 * be NULL), then give the admission back.
 *
 * Returns 0 with *out set: the program ran (whatever its outcome; see
 * out->res). Returns -1 with err set: 403 network_unavailable (off on
 * this server or for this key), 503 network_unavailable (firewall not
 * verified), 429
 * capacity, 500 internal, the errors of sandbox_execute (503 ...), or 499
 * client_gone (req->outcome is then already "client_gone" and there is
 * nobody to answer). On -1, *out may still be set when a sandbox was
 * started. Either way hand *out (NULL is fine) to exec_finish once the
 * answer is sent. */
int exec_run(struct service *svc, struct http_req *req, const struct lang *lang,
	     const struct exec_request *er, const struct sandbox_hooks *hooks,
	     void (*on_admitted)(void *ctx), struct exec_run **out,
	     struct isobox_err *err);

/* Record run's timings in req's access log and have its sandbox removed
 * after the answer is complete (the client does not wait for it). Takes
 * ownership of run; NULL is a no-op. A request may finish several runs
 * (an MCP batch): they are all removed, and the log shows the last. */
void exec_finish(struct http_req *req, struct exec_run *run);

#endif
