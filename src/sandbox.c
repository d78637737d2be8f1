/* sandbox.c - the life of one sandbox; see sandbox.h.
 *
 * The container is created with stdin open, attached (hijacked) before it
 * starts so no byte is missed, and then fed one framed job. Everything the
 * guest says comes back on the container's stdout, multiplexed by the
 * engine: stdout frames carry the guest's records, stderr frames the
 * guest's own diagnostics. The shape of the container is spec.c's, the
 * job's encoding job.c's, reading the answer relay.c's. */
#include "sandbox.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "mux.h"
#include "pool.h"
#include "relay.h"
#include "spec.h"

/* Time for create/attach/start and the guest's own bookkeeping. */
#define HOST_GRACE_MS 3000

/* Create, pulling a digest-pinned image once if the engine lacks it. */
static int create_container(struct service *svc, const struct lang *lang,
			    json_object *spec, char **id,
			    struct isobox_err *err)
{
	if (docker_container_create(&svc->docker, spec, id, err) == 0) {
		return 0;
	}
	if (strcmp(err->code, "image_unavailable") != 0 || lang->image_local) {
		if (lang->image_local &&
		    strcmp(err->code, "image_unavailable") == 0) {
			err_set(err, 503, "image_unavailable",
				"the pinned image for %s (%s = %s) is not in "
				"the engine; run scripts/build-images",
				lang->name, lang->image, lang->image_ref);
		}
		return -1;
	}
	log_info("pulling %s for %s", lang->image_ref, lang->name);
	if (docker_image_pull(&svc->docker, lang->image_ref, err) < 0) {
		return -1;
	}
	return docker_container_create(&svc->docker, spec, id, err);
}

/* Get a sandbox for the job: a warm one from the pool when one fits (its
 * guest is already waiting), else a fresh one. Attached on return. */
static int open_sandbox(struct service *svc, const struct lang *lang,
			const struct limits *lim, const char *request_id,
			int64_t budget, int try_pool, int network,
			struct sandbox_result *res, struct docker_stream *ds,
			struct isobox_err *err)
{
	int64_t t0 = now_ms();
	json_object *spec;
	char *pooled = try_pool ? pool_claim(svc, lang, lim) : NULL;

	if (pooled) {
		res->container_id = pooled;
		res->pooled = 1;
		if (docker_attach(&svc->docker, pooled, ds, err) == 0) {
			res->t_create = res->t_attach = res->t_start =
			    now_ms() - t0;
			return 0;
		}
		log_warn("pool: attaching %.12s failed (%s); cold path", pooled,
			 err->msg);
		sandbox_release(svc, res);
		t0 = now_ms();
	}
	spec = spec_container(svc, lang, lim, request_id,
			      wall_ms() + budget + 60000, "run", network);
	if (create_container(svc, lang, spec, &res->container_id, err) < 0) {
		json_object_put(spec);
		return -1;
	}
	json_object_put(spec);
	res->t_create = now_ms() - t0;
	if (docker_attach(&svc->docker, res->container_id, ds, err) < 0) {
		return -1;
	}
	res->t_attach = now_ms() - t0;
	if (docker_container_start(&svc->docker, res->container_id, err) < 0) {
		return -1;
	}
	res->t_start = now_ms() - t0;
	return 0;
}

int sandbox_execute(struct service *svc, const struct lang *lang,
		    const struct exec_request *req, const struct limits *lim,
		    const char *request_id, const struct sandbox_hooks *hooks,
		    struct sandbox_result *res, struct isobox_err *err)
{
	struct wire_buf job = {0};
	struct wire_buf hand = {0};
	struct docker_stream ds;
	struct relay r;
	struct mux_dec mux;
	int64_t t0 = now_ms();
	int64_t budget = lim->wall_time_ms + HOST_GRACE_MS +
			 (lang->compile ? lim->compile_wall_time_ms : 0);
	int64_t deadline;
	int host_timeout;
	int try_pool = !req->network;
	int rc = -1;
	uint8_t rbuf[65536];

	memset(res, 0, sizeof(*res));
	memset(&ds, 0, sizeof(ds));
	ds.fd = -1;
	if (lang->image_ref == NULL) {
		return err_set(err, 503, "image_unavailable",
			       "the image for %s (%s) has not been built; run "
			       "scripts/build-images",
			       lang->name, lang->image);
	}
	if (job_encode(lang, req, lim, 0, &job) < 0 ||
	    job_handoff_encode(lang, req, &hand) < 0) {
		wire_buf_free(&job);
		wire_buf_free(&hand);
		return err_set(err, 413, "body_too_large",
			       "the program and its input do not fit in one "
			       "job");
	}
again:
	memset(&r, 0, sizeof(r));
	r.hooks = hooks;
	r.res = res;
	r.lim = lim;
	res->has_compile = lang->compile != NULL;
	mux_init(&mux);
	host_timeout = 0;
	if (open_sandbox(svc, lang, lim, request_id, budget, try_pool,
			 req->network, res, &ds, err) < 0) {
		goto out;
	}
	deadline = now_ms() + budget;
	/* Only a warm sandbox may have an interpreter waiting (a cold one's
	 * guest is not even asked to understand HANDOFF). */
	if (res->pooled && hand.len > 0 &&
	    docker_stream_send(&ds, hand.p, hand.len, deadline) < 0) {
		log_warn("sending the handoff to %.12s failed",
			 res->container_id);
	}
	if (docker_stream_send(&ds, job.p, job.len, deadline) < 0) {
		/* The sandbox may already be gone (e.g. OOM at start). */
		log_warn("sending the job to %.12s failed", res->container_id);
	}
	while (!r.done && !r.protocol) {
		int64_t left = deadline - now_ms();
		long n;

		if (left <= 0) {
			host_timeout = 1;
			break;
		}
		if (r.gone || (hooks && hooks->cancelled &&
			       hooks->cancelled(hooks->ctx))) {
			r.gone = 1;
			break;
		}
		n = docker_stream_recv(&ds, rbuf, sizeof(rbuf),
				       (int)(left < 250 ? left : 250));
		if (n == -2) {
			continue;
		}
		if (n <= 0) {
			break; /* the container's output ended */
		}
		if (mux_feed(&mux, rbuf, (size_t)n, relay_on_mux, &r) < 0) {
			r.protocol = 1;
		}
	}
	docker_stream_close(&ds);
	if (r.gone) {
		err_set(err, 499, "client_gone",
			"the client disconnected; the sandbox was killed");
		goto out;
	}
	if (r.failed) {
		err_set(err, 500, "sandbox_failed",
			"the guest refused the job: %s", r.fail);
		goto out;
	}
	if (r.protocol) {
		err_set(err, 503, "sandbox_failed",
			"the sandbox broke the guest protocol");
		goto out;
	}
	if (!r.done) {
		int oom = 0;

		if (host_timeout) {
			struct isobox_err e;

			docker_container_kill(&svc->docker, res->container_id,
					      &e);
		}
		if (!r.ready && !host_timeout) {
			oom = relay_oom_killed(svc, res->container_id);
			if (!oom && res->pooled) {
				/* A warm sandbox that died while waiting
				 * (an engine restart): run cold instead. */
				log_warn("pool: %.12s was dead; cold path",
					 res->container_id);
				sandbox_release(svc, res);
				try_pool = 0;
				goto again;
			}
			if (!oom) {
				err_set(err, 503, "sandbox_failed",
					"the sandbox ended before its guest "
					"started: %.300s",
					r.guest_log.p ? r.guest_log.p : "");
				goto out;
			}
		}
		if (!relay_judge_end(svc, &r, host_timeout,
				     now_ms() - deadline + budget)) {
			err_set(err, 503, "sandbox_failed",
				"the sandbox ended before the program "
				"finished (stopped by the engine or the "
				"runtime failed): %.200s",
				r.guest_log.p ? r.guest_log.p : "");
			goto out;
		}
	} else {
		res->guest_done = 1;
		relay_check_oom(svc, res);
	}
	rc = 0;
out:
	res->t_total = now_ms() - t0;
	if (r.guest_log.len) {
		log_warn("guest diagnostics for %s: %.300s", request_id,
			 r.guest_log.p);
	}
	buf_free(&r.guest_log);
	wire_dec_free(&r.dec);
	wire_buf_free(&job);
	wire_buf_free(&hand);
	if (ds.curl) {
		docker_stream_close(&ds);
	}
	return rc;
}

void sandbox_release(struct service *svc, struct sandbox_result *res)
{
	struct isobox_err e;

	if (res->container_id) {
		if (res->pooled) {
			pool_forget(svc, res->container_id);
		}
		/* After DONE the guest exits by itself within milliseconds:
		 * removing a stopped container spares the engine a kill
		 * (one runtime invocation and a signal). The response has
		 * already gone out, so this wait costs the client nothing. */
		if (res->guest_done) {
			docker_container_wait(&svc->docker, res->container_id,
					      2000, &e);
		}
		if (docker_container_remove(&svc->docker, res->container_id,
					    &e) < 0) {
			/* The reaper will find it by its labels. */
			log_warn("removing %.12s failed: %s", res->container_id,
				 e.msg);
		}
		free(res->container_id);
	}
	buf_free(&res->compile.out);
	buf_free(&res->compile.err);
	buf_free(&res->run.out);
	buf_free(&res->run.err);
	buf_free(&res->display);
	memset(res, 0, sizeof(*res));
}
