/* exec.h - admitting and running one parsed execution request: the limits
 * it gets (config defaults, then the language's, then the request's,
 * clamped into the configured floors and ceilings and the tenant's own),
 * a concurrency slot, memory admission, the sandbox. Every front door
 * (/execute, the Piston API, the MCP tool, later session steps) goes
 * through exec_run, so they all admit work alike.
 *
 * Execution does not know HTTP: a front door describes its caller in a
 * struct exec_ctx and renders the struct exec_run it gets back. */
#ifndef ISOBOX_EXEC_H
#define ISOBOX_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "registry.h"
#include "request.h"
#include "sandbox.h"
#include "service.h"

/* Who asks for a run and how to reach them. Borrowed for the duration of
 * exec_run; every callback gets ctx. */
struct exec_ctx {
	/* The tenant: its name (slot directory), concurrency cap, network
	 * flag and ceilings (which only ever lower the configured ones). */
	const struct tenant *tenant;
	const char *request_id; /* names the container and the admission */
	void *ctx;
	/* 1 once nobody waits for the answer any more: the wait for a slot
	 * ends, or the sandbox is killed. Polled a few times a second. May
	 * be NULL. */
	int (*cancelled)(void *ctx);
	/* Output as it arrives: stage 'c' or 'r', stream 1 (stdout) or 2
	 * (stderr). Return non-zero when the client is gone (the sandbox is
	 * then killed). May be NULL. */
	int (*on_output)(void *ctx, int stage, int stream, const uint8_t *p,
			 size_t n);
	/* Called once the run is admitted, before the sandbox starts (e.g.
	 * to open an event stream). May be NULL. */
	void (*on_admitted)(void *ctx);
};

/* One finished run: what a front door renders. Owned by the caller, who
 * hands it to exec_release once the answer is out. */
struct exec_run {
	struct service *svc;
	struct limits lim;	   /* the limits applied, after clamping */
	struct sandbox_result res; /* valid when exec_run returned 0 */
	/* Free for the caller: runs of one request (an MCP batch) chained
	 * for one exec_release. */
	struct exec_run *next;
};

/* The limits er gets with lang on this service: defaults, the language's,
 * the request's, then clamped. */
void exec_limits(const struct service *svc, const struct lang *lang,
		 const struct exec_request *er, struct limits *out);

/* Lower ceil to tenant t's own ceilings, field by field: a tenant's
 * ceiling above the configured one changes nothing. */
void exec_tenant_ceilings(const struct tenant *t, struct limits *ceil);

/* Run er with lang for x: check the network flag (allow_network, the
 * tenant's network flag, then the egress firewall: egress_ready), compute
 * the limits (lowered to the tenant's own ceilings), wait for admission
 * (the tenant's slot, a global slot, sandbox memory; up to
 * queue_timeout_ms, or until x->cancelled), call x->on_admitted once
 * admitted, run the sandbox, then give the admission back.
 *
 * Returns 0 with *out set: the program ran (whatever its outcome; see
 * exec_outcome). Returns -1 with err set: 403 network_unavailable (off on
 * this server or for this tenant), 503 network_unavailable (firewall not
 * verified), 429 capacity, 507 store_full, 500 internal, the errors of
 * sandbox_execute (503 ..., 413 body_too_large), or 499 client_gone
 * (x->cancelled said so: there is nobody to answer). On -1, *out may still
 * be set when a sandbox was started. Either way hand *out (NULL is fine)
 * to exec_release once the answer is sent. */
int exec_run(struct service *svc, const struct exec_ctx *x,
	     const struct lang *lang, const struct exec_request *er,
	     struct exec_run **out, struct isobox_err *err);

/* How a finished run ended, for logs and metrics: "ok", "error" (non-zero
 * exit), "compile_error", "timeout", "oom" or "truncated". Static string. */
const char *exec_outcome(const struct exec_run *run);

/* 1 when a prestarted process served a stage of run: the interpreter
 * (run stage) or the compiler server ("prestartStage: compile"). */
int exec_prestarted(const struct exec_run *run);

/* Remove run's sandbox (and those of the runs chained on run->next) and
 * free them. Slow (the engine is asked): call it after the answer is
 * complete. NULL is a no-op. */
void exec_release(struct exec_run *run);

#endif
