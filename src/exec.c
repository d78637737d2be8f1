/* exec.c - one admitted execution: network check, limits, admission,
 * sandbox, metrics; see exec.h. Knows nothing of HTTP. */
#include "exec.h"

#include "admit.h"
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

/* Lower the ceilings to a tenant's own, field by field. */
void exec_tenant_ceilings(const struct tenant *t, struct limits *ceil)
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

static int wait_err(int rc, const char *what, struct isobox_err *err)
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
		return err_set(err, 499, "client_gone",
			       "the client went away while waiting for a "
			       "sandbox");
	}
	return err_set(err, 500, "internal", "cannot admit the run: %s",
		       strerror(-rc));
}

/* May this run use the network? Every network run checks that the
 * firewall is still in place. */
static int check_network(struct service *svc, const struct exec_ctx *x,
			 const struct exec_request *er, struct isobox_err *err)
{
	if (!er->network) {
		return 0;
	}
	if (!svc->cfg.allow_network) {
		return err_set(err, 403, "network_unavailable",
			       "network access is not enabled on this "
			       "server; send \"network\": false");
	}
	if (!x->tenant->network) {
		return err_set(err, 403, "network_unavailable",
			       "this API key may not use the network "
			       "(its entry has no \"network: true\"); "
			       "send \"network\": false");
	}
	return egress_ready(svc, err) < 0 ? -1 : 0;
}

/* What a run holds while admitted. */
struct exec_hold {
	struct slots ts; /* the tenant's own slots, if it has a cap */
	int tslot;
	int slot;
	int admitted; /* memory admission under the request id */
};

static void hold_release(struct service *svc, const struct exec_ctx *x,
			 struct exec_hold *h)
{
	if (h->admitted) {
		admit_release(svc, x->request_id);
	}
	if (h->slot >= 0) {
		slots_release(h->slot);
	}
	if (h->tslot >= 0) {
		slots_release(h->tslot);
	}
	if (h->ts.dir) {
		slots_free(&h->ts);
	}
}

/* Admission: the tenant's own cap first, then the global one, then
 * memory, all against one deadline. Returns 0 with h holding all three,
 * or -1 with err set (h then holds what must still be released). */
static int hold_acquire(struct service *svc, const struct exec_ctx *x,
			int64_t bytes, struct exec_hold *h,
			struct isobox_err *err)
{
	const struct tenant *t = x->tenant;
	int64_t deadline = now_ms() + svc->cfg.queue_timeout_ms;
	int rc;

	memset(h, 0, sizeof(*h));
	h->tslot = h->slot = -1;
	if (t->concurrency > 0) {
		char *dir =
		    xasprintf("%s/tenants/%s", svc->cfg.run_dir, t->name);
		char *parent = xasprintf("%s/tenants", svc->cfg.run_dir);

		mkdir(parent, 0700);
		free(parent);
		rc = slots_init(&h->ts, dir, t->concurrency);
		free(dir);
		if (rc < 0) {
			/* Without its slots the tenant's cap cannot hold:
			 * refuse rather than run uncapped. */
			return wait_err(rc, "", err);
		}
		h->tslot =
		    slots_acquire(&h->ts, deadline, x->cancelled, x->ctx);
		if (h->tslot < 0) {
			return wait_err(h->tslot,
					"this key's sandboxes are all "
					"busy; retry shortly",
					err);
		}
	}
	h->slot = slots_acquire(&svc->slots, deadline, x->cancelled, x->ctx);
	if (h->slot < 0) {
		char msg[96];

		snprintf(msg, sizeof(msg),
			 "all %d sandboxes are busy; retry shortly",
			 svc->cfg.concurrency);
		return wait_err(h->slot, msg, err);
	}
	rc = admit_acquire(svc, x->request_id, bytes, deadline, x->cancelled,
			   x->ctx);
	if (rc < 0) {
		return wait_err(rc,
				rc == -E2BIG ? "the run needs more memory than "
					       "the sandbox slice has"
					     : "not enough sandbox memory is "
					       "free; retry shortly",
				err);
	}
	h->admitted = 1;
	return 0;
}

/* The run's metrics: its outcome and duration, or a failure (a client
 * that left is not one). */
static void count_run(const struct lang *lang, const struct exec_run *run,
		      int rc, const struct isobox_err *err, int64_t t0)
{
	char labels[96];

	if (rc < 0) {
		if (err->status != 499) {
			metrics_add(1,
				    "isobox_executions_total{language=\"%s\","
				    "outcome=\"failed\"}",
				    lang->name);
		}
		return;
	}
	if (run->res.pooled && lang->prestart) {
		metrics_add(1, "isobox_prestart_total{result=\"%s\"}",
			    exec_prestarted(run) ? "used" : "skipped");
	}
	metrics_add(1,
		    "isobox_executions_total{language=\"%s\","
		    "outcome=\"%s\"}",
		    lang->name, exec_outcome(run));
	snprintf(labels, sizeof(labels), "language=\"%s\"", lang->name);
	metrics_observe("isobox_execution_duration_seconds", labels,
			(double)(now_ms() - t0) / 1000.0);
}

int exec_run(struct service *svc, const struct exec_ctx *x,
	     const struct lang *lang, const struct exec_request *er,
	     struct exec_run **out, struct isobox_err *err)
{
	struct sandbox_hooks hooks;
	struct exec_hold hold;
	struct exec_run *run;
	struct limits lim;
	int64_t t0 = now_ms();
	int rc;

	*out = NULL;
	if (check_network(svc, x, er, err) < 0) {
		return -1;
	}
	exec_limits(svc, lang, er, &lim);
	if (x->tenant->ceilings.set) {
		struct limits ceil = svc->cfg.ceilings;

		exec_tenant_ceilings(x->tenant, &ceil);
		limits_clamp(&lim, &svc->cfg.floors, &ceil);
	}
	if (hold_acquire(svc, x, spec_memory(lang, &lim), &hold, err) < 0) {
		hold_release(svc, x, &hold);
		return -1;
	}
	metrics_observe("isobox_queue_wait_seconds", "",
			(double)(now_ms() - t0) / 1000.0);
	if (x->on_admitted) {
		x->on_admitted(x->ctx);
	}
	run = xcalloc(1, sizeof(*run));
	run->svc = svc;
	run->lim = lim;
	hooks.ctx = x->ctx;
	hooks.on_output = x->on_output;
	hooks.cancelled = x->cancelled;
	rc = sandbox_execute(svc, lang, er, &run->lim, x->request_id, &hooks,
			     &run->res, err);
	*out = run;
	count_run(lang, run, rc, err, t0);
	hold_release(svc, x, &hold);
	return rc < 0 ? -1 : 0;
}

int exec_prestarted(const struct exec_run *run)
{
	return run->res.run.prestarted || run->res.compile.prestarted;
}

const char *exec_outcome(const struct exec_run *run)
{
	const struct sandbox_result *r = &run->res;
	const struct stage_result *st =
	    r->has_compile && !r->run.ran ? &r->compile : &r->run;

	if (st->oom_killed) {
		return "oom";
	}
	if (st->timed_out) {
		return "timeout";
	}
	if (st->truncated) {
		return "truncated";
	}
	if (r->has_compile && !r->run.ran) {
		return "compile_error";
	}
	return st->exit_code != 0 ? "error" : "ok";
}

void exec_release(struct exec_run *run)
{
	while (run) {
		struct exec_run *next = run->next;

		sandbox_release(run->svc, &run->res);
		free(run);
		run = next;
	}
}
