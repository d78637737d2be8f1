/* exec.c - one admitted execution: limits, slot, sandbox; see exec.h. */
#include "exec.h"

#include "admit.h"
#include "api.h"
#include "egress.h"
#include "metrics.h"
#include "spec.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exec_limits(const struct service *svc, const struct lang *lang,
		 const struct exec_request *er, struct limits *out)
{
	*out = svc->cfg.defaults;
	limits_overlay(out, &lang->limits);
	limits_overlay(out, &er->limits);
	limits_clamp(out, &svc->cfg.floors, &svc->cfg.ceilings);
}

static int req_gone(void *ctx)
{
	return http_client_gone(ctx);
}

/* Lower the ceilings to a tenant's own, field by field. */
static void tenant_ceilings(const struct tenant *t, struct limits *ceil)
{
	struct limits_partial q;
	unsigned bit;

	memset(&q, 0, sizeof(q));
	for (bit = 1; bit & LIM_ALL; bit <<= 1) {
		double tv;

		if (!(t->ceilings.set & bit)) {
			continue;
		}
		tv = limits_get(&t->ceilings.v, bit);
		if (tv < limits_get(ceil, bit)) {
			limits_set(&q, bit, tv);
		}
	}
	limits_overlay(ceil, &q);
}

static int wait_err(struct http_req *req, int rc, const char *what,
		    struct isobox_err *err)
{
	if (rc == -ETIMEDOUT || rc == -E2BIG) {
		metrics_add(1, "isobox_rejections_total{reason=\"capacity\"}");
		return err_set(err, 429, "capacity", "%s", what);
	}
	if (rc == -ENOSPC) {
		return err_set(err, 507, "store_full",
			       "the state database is full; the operator "
			       "must raise db_map_bytes");
	}
	if (rc == -ECANCELED) {
		snprintf(req->outcome, sizeof(req->outcome), "client_gone");
		return err_set(err, 499, "client_gone",
			       "the client went away while waiting for a "
			       "sandbox");
	}
	return err_set(err, 500, "internal", "cannot admit the run: %s",
		       strerror(-rc));
}

int exec_run(struct service *svc, struct http_req *req, const struct lang *lang,
	     const struct exec_request *er, const struct sandbox_hooks *hooks,
	     void (*on_admitted)(void *ctx), struct exec_run **out,
	     struct isobox_err *err)
{
	struct exec_run *run;
	struct limits lim;
	struct slots ts = {0};
	int64_t t0 = now_ms();
	int64_t deadline;
	int tslot = -1;
	int slot = -1;
	int admitted = 0;
	int rc;

	*out = NULL;
	if (er->network) {
		if (!svc->cfg.allow_network) {
			return err_set(err, 403, "network_unavailable",
				       "network access is not enabled on this "
				       "server; send \"network\": false");
		}
		if (!req->tenant.network) {
			return err_set(err, 403, "network_unavailable",
				       "this API key may not use the network "
				       "(its entry has no \"network: true\"); "
				       "send \"network\": false");
		}
		/* Every network run: the firewall is still in place. */
		if (egress_ready(svc, err) < 0) {
			return -1;
		}
	}
	exec_limits(svc, lang, er, &lim);
	if (req->tenant.ceilings.set) {
		struct limits ceil = svc->cfg.ceilings;

		tenant_ceilings(&req->tenant, &ceil);
		limits_clamp(&lim, &svc->cfg.floors, &ceil);
	}
	deadline = now_ms() + svc->cfg.queue_timeout_ms;
	/* The tenant's own cap first, then the global one, then memory. */
	if (req->tenant.concurrency > 0) {
		char *dir = xasprintf("%s/tenants/%s", svc->cfg.run_dir,
				      req->tenant.name);
		char *parent = xasprintf("%s/tenants", svc->cfg.run_dir);

		mkdir(parent, 0700);
		free(parent);
		rc = slots_init(&ts, dir, req->tenant.concurrency);
		free(dir);
		if (rc < 0) {
			/* Without its slots the tenant's cap cannot hold:
			 * refuse rather than run uncapped. */
			rc = wait_err(req, rc, "", err);
			goto fail;
		}
		tslot = slots_acquire(&ts, deadline, req_gone, req);
		if (tslot < 0) {
			rc = wait_err(req, tslot,
				      "this key's sandboxes are all "
				      "busy; retry shortly",
				      err);
			goto fail;
		}
	}
	slot = slots_acquire(&svc->slots, deadline, req_gone, req);
	if (slot < 0) {
		char msg[96];

		snprintf(msg, sizeof(msg),
			 "all %d sandboxes are busy; retry shortly",
			 svc->cfg.concurrency);
		rc = wait_err(req, slot, msg, err);
		goto fail;
	}
	rc = admit_acquire(svc, req->id, spec_memory(lang, &lim), deadline,
			   req_gone, req);
	if (rc < 0) {
		rc = wait_err(req, rc,
			      rc == -E2BIG ? "the run needs more memory than "
					     "the sandbox slice has"
					   : "not enough sandbox memory is "
					     "free; retry shortly",
			      err);
		goto fail;
	}
	admitted = 1;
	metrics_observe("isobox_queue_wait_seconds", "",
			(double)(now_ms() - t0) / 1000.0);
	if (on_admitted) {
		on_admitted(hooks ? hooks->ctx : NULL);
	}
	run = xcalloc(1, sizeof(*run));
	run->svc = svc;
	run->lim = lim;
	rc = sandbox_execute(svc, lang, er, &run->lim, req->id, hooks,
			     &run->res, err);
	*out = run;
	if (rc < 0 && err->status == 499) {
		snprintf(req->outcome, sizeof(req->outcome), "client_gone");
	}
	if (rc == 0) {
		api_outcome(req, &run->res);
		if (run->res.pooled && lang->prestart) {
			metrics_add(1, "isobox_prestart_total{result=\"%s\"}",
				    run->res.run.prestarted ? "used"
							    : "skipped");
		}
		metrics_add(1,
			    "isobox_executions_total{language=\"%s\","
			    "outcome=\"%s\"}",
			    lang->name, req->outcome);
		{
			char labels[96];

			snprintf(labels, sizeof(labels), "language=\"%s\"",
				 lang->name);
			metrics_observe("isobox_execution_duration_seconds",
					labels,
					(double)(now_ms() - t0) / 1000.0);
		}
	} else if (err->status != 499) {
		metrics_add(1,
			    "isobox_executions_total{language=\"%s\","
			    "outcome=\"failed\"}",
			    lang->name);
	}
fail:
	if (admitted) {
		admit_release(svc, req->id);
	}
	if (slot >= 0) {
		slots_release(slot);
	}
	if (tslot >= 0) {
		slots_release(tslot);
	}
	if (ts.dir) {
		slots_free(&ts);
	}
	return rc < 0 ? -1 : 0;
}

static void exec_after(void *p)
{
	struct exec_run *run = p;

	while (run) {
		struct exec_run *next = run->next;

		sandbox_release(run->svc, &run->res);
		free(run);
		run = next;
	}
}

void exec_finish(struct http_req *req, struct exec_run *run)
{
	if (run == NULL) {
		return;
	}
	if (req->log_extra == NULL) {
		req->log_extra = json_object_new_object();
	}
	json_object_object_add(req->log_extra, "warm",
			       json_object_new_boolean(run->res.pooled));
	json_object_object_add(
	    req->log_extra, "prestarted",
	    json_object_new_boolean(run->res.run.prestarted));
	json_object_object_add(req->log_extra, "sandboxReadyMs",
			       json_object_new_int64(run->res.t_start));
	json_object_object_add(req->log_extra, "sandboxMs",
			       json_object_new_int64(run->res.t_total));
	if (req->after == exec_after) {
		run->next = req->after_ctx;
	} else if (req->after != NULL) {
		/* Someone else owns the slot: release now rather than leak. */
		log_warn("exec: request %s already has after-work; removing "
			 "the sandbox before the answer completes",
			 req->id);
		exec_after(run);
		return;
	}
	req->after = exec_after;
	req->after_ctx = run;
}
