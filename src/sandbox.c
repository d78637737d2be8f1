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

/* One job and what every attempt at it shares. */
struct sandbox_job {
	struct service *svc;
	const struct lang *lang;
	const struct exec_request *req;
	const struct limits *lim;
	const char *request_id;
	const struct sandbox_hooks *hooks;
	struct wire_buf job;  /* the encoded job */
	struct wire_buf hand; /* its HANDOFF record for a warm sandbox */
	int64_t budget;	      /* the host's wall time for the whole job */
};

/* How an attempt ended: a result, an error, or a warm sandbox that was
 * dead before it got the job (try again cold). */
enum attempt_end {
	ATTEMPT_RESULT = 0,
	ATTEMPT_ERROR = -1,
	ATTEMPT_COLD = 1,
};

/* Get a sandbox for the job: a warm one from the pool when one fits (its
 * guest is already waiting), else a fresh one. Attached on return. */
static int open_sandbox(const struct sandbox_job *j, int try_pool,
			struct sandbox_result *res, struct docker_stream *ds,
			struct isobox_err *err)
{
	struct service *svc = j->svc;
	int64_t t0 = now_ms();
	struct spec_desc d;
	json_object *spec;
	char *pooled = try_pool ? pool_claim(svc, j->lang, j->lim) : NULL;

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
	memset(&d, 0, sizeof(d));
	d.lang = j->lang;
	d.lim = j->lim;
	d.request_id = j->request_id;
	d.deadline_wall_ms = wall_ms() + j->budget + 60000;
	d.kind = "run";
	d.network = j->req->network;
	spec = spec_container(svc, &d);
	if (create_container(svc, j->lang, spec, &res->container_id, err) < 0) {
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

/* Send the job (and to a warm sandbox its HANDOFF first). A failed send is
 * only logged: the sandbox may already be gone (e.g. OOM at start), and
 * the verdict comes from how it ended. */
static void send_job(const struct sandbox_job *j,
		     const struct sandbox_result *res, struct docker_stream *ds,
		     int64_t deadline)
{
	/* Only a warm sandbox may have an interpreter waiting (a cold one's
	 * guest is not even asked to understand HANDOFF). */
	if (res->pooled && j->hand.len > 0 &&
	    docker_stream_send(ds, j->hand.p, j->hand.len, deadline) < 0) {
		log_warn("sending the handoff to %.12s failed",
			 res->container_id);
	}
	if (docker_stream_send(ds, j->job.p, j->job.len, deadline) < 0) {
		log_warn("sending the job to %.12s failed", res->container_id);
	}
}

/* Feed the sandbox's output to r until the guest is done, breaks the
 * protocol, the output ends, the client leaves (r->gone) or deadline
 * passes. Returns 1 when the deadline passed (the host's timeout). */
static int relay_until_end(const struct sandbox_job *j, struct relay *r,
			   struct docker_stream *ds, int64_t deadline)
{
	const struct sandbox_hooks *hooks = j->hooks;
	struct mux_dec mux;
	uint8_t rbuf[65536];

	mux_init(&mux);
	while (!r->done && !r->protocol) {
		int64_t left = deadline - now_ms();
		long n;

		if (left <= 0) {
			return 1;
		}
		if (r->gone || (hooks && hooks->cancelled &&
				hooks->cancelled(hooks->ctx))) {
			r->gone = 1;
			return 0;
		}
		n = docker_stream_recv(ds, rbuf, sizeof(rbuf),
				       (int)(left < 250 ? left : 250));
		if (n == -ETIMEDOUT) {
			continue;
		}
		if (n <= 0) {
			return 0; /* the container's output ended */
		}
		if (mux_feed(&mux, rbuf, (size_t)n, relay_on_mux, r) < 0) {
			r->protocol = 1;
		}
	}
	return 0;
}

/* The verdict on a sandbox that ended without the guest's DONE. */
static enum attempt_end judge_no_done(const struct sandbox_job *j,
				      struct relay *r,
				      struct sandbox_result *res,
				      int host_timeout, int64_t elapsed_ms,
				      struct isobox_err *err)
{
	struct service *svc = j->svc;

	if (host_timeout) {
		struct isobox_err e;

		docker_container_kill(&svc->docker, res->container_id, &e);
	} else if (!r->ready && !relay_oom_killed(svc, res->container_id)) {
		if (res->pooled) {
			/* A warm sandbox that died while waiting (an
			 * engine restart): run cold instead. */
			log_warn("pool: %.12s was dead; cold path",
				 res->container_id);
			return ATTEMPT_COLD;
		}
		err_set(err, 503, "sandbox_failed",
			"the sandbox ended before its guest started: %.300s",
			r->guest_log.p ? r->guest_log.p : "");
		return ATTEMPT_ERROR;
	}
	if (!relay_judge_end(svc, r, host_timeout, elapsed_ms)) {
		err_set(err, 503, "sandbox_failed",
			"the sandbox ended before the program finished "
			"(stopped by the engine or the runtime failed): "
			"%.200s",
			r->guest_log.p ? r->guest_log.p : "");
		return ATTEMPT_ERROR;
	}
	return ATTEMPT_RESULT;
}

/* One attempt at the job: open a sandbox, send, relay, judge. */
static enum attempt_end attempt(const struct sandbox_job *j, int try_pool,
				struct sandbox_result *res,
				struct isobox_err *err)
{
	struct docker_stream ds;
	struct relay r;
	enum attempt_end end = ATTEMPT_ERROR;
	int64_t deadline;
	int host_timeout;

	memset(&ds, 0, sizeof(ds));
	ds.fd = -1;
	memset(&r, 0, sizeof(r));
	r.hooks = j->hooks;
	r.res = res;
	r.lim = j->lim;
	res->has_compile = j->lang->compile != NULL;
	if (open_sandbox(j, try_pool, res, &ds, err) < 0) {
		goto out;
	}
	deadline = now_ms() + j->budget;
	send_job(j, res, &ds, deadline);
	host_timeout = relay_until_end(j, &r, &ds, deadline);
	docker_stream_close(&ds);
	if (r.gone) {
		err_set(err, 499, "client_gone",
			"the client disconnected; the sandbox was killed");
	} else if (r.failed) {
		err_set(err, 500, "sandbox_failed",
			"the guest refused the job: %s", r.fail);
	} else if (r.protocol) {
		err_set(err, 503, "sandbox_failed",
			"the sandbox broke the guest protocol");
	} else if (!r.done) {
		end = judge_no_done(j, &r, res, host_timeout,
				    now_ms() - deadline + j->budget, err);
	} else {
		res->guest_done = 1;
		relay_check_oom(j->svc, res);
		end = ATTEMPT_RESULT;
	}
out:
	if (r.guest_log.len) {
		log_warn("guest diagnostics for %s: %.300s", j->request_id,
			 r.guest_log.p);
	}
	buf_free(&r.guest_log);
	wire_dec_free(&r.dec);
	if (ds.curl) {
		docker_stream_close(&ds);
	}
	return end;
}

int sandbox_execute(struct service *svc, const struct lang *lang,
		    const struct exec_request *req, const struct limits *lim,
		    const char *request_id, const struct sandbox_hooks *hooks,
		    struct sandbox_result *res, struct isobox_err *err)
{
	struct sandbox_job j;
	enum attempt_end end;
	int64_t t0 = now_ms();

	memset(res, 0, sizeof(*res));
	if (lang->image_ref == NULL) {
		return err_set(err, 503, "image_unavailable",
			       "the image for %s (%s) has not been built; run "
			       "scripts/build-images",
			       lang->name, lang->image);
	}
	memset(&j, 0, sizeof(j));
	j.svc = svc;
	j.lang = lang;
	j.req = req;
	j.lim = lim;
	j.request_id = request_id;
	j.hooks = hooks;
	j.budget = lim->wall_time_ms + HOST_GRACE_MS +
		   (lang->compile ? lim->compile_wall_time_ms : 0);
	if (job_encode(lang, req, lim, 0, &j.job) < 0 ||
	    job_handoff_encode(lang, req, &j.hand) < 0) {
		wire_buf_free(&j.job);
		wire_buf_free(&j.hand);
		return err_set(err, 413, "body_too_large",
			       "the program and its input do not fit in one "
			       "job");
	}
	/* A network run never takes a warm sandbox (they have none). */
	end = attempt(&j, !req->network, res, err);
	if (end == ATTEMPT_COLD) {
		sandbox_release(svc, res);
		end = attempt(&j, 0, res, err);
	}
	res->t_total = now_ms() - t0;
	wire_buf_free(&j.job);
	wire_buf_free(&j.hand);
	return end == ATTEMPT_RESULT ? 0 : -1;
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
