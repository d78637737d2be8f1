/* relay.c - reading the guest's frames for one job and judging how the
 * sandbox ended; see relay.h. */
#include "relay.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"

static struct stage_result *stage_of(struct relay *r, int stage)
{
	return stage == WIRE_STAGE_COMPILE ? &r->res->compile : &r->res->run;
}

/* Keep a DISPLAY bundle of the job, within the run stage's output cap. */
static void on_display(struct relay *r, const uint8_t *p, size_t n)
{
	struct sandbox_result *res = r->res;
	struct stage_result *st = &res->run;
	int64_t used = (int64_t)(st->out.len + st->err.len + res->display.len);
	uint8_t h[5];

	if (used + (int64_t)n + 5 > r->lim->output_bytes) {
		st->truncated = 1;
		return;
	}
	h[0] = p[0];
	wire_be32(h + 1, (uint32_t)(n - 1));
	buf_add(&res->display, h, sizeof(h));
	buf_add(&res->display, p + 1, n - 1);
	res->ndisplay++;
}

void relay_on_record(struct relay *r, const struct wire_rec *rec)
{
	struct stage_result *st;
	const uint8_t *pl;
	size_t len;
	uint32_t id;
	long long v;

	r->ready = 1; /* a warm sandbox said READY before we attached */
	if (rec->type == WIRE_READY) {
		return;
	}
	if (rec->type == WIRE_SYNCED) {
		return; /* a session driver's; not part of any job */
	}
	if (wire_rec_id(rec, &id) < 0) {
		r->protocol = 1;
		return;
	}
	pl = rec->payload + 4;
	len = rec->len - 4;
	switch (rec->type) {
	case WIRE_OUT:
	case WIRE_RESULT:
	case WIRE_DISPLAY:
	case WIRE_FAIL:
	case WIRE_DONE:
	case WIRE_FSTAT:
	case WIRE_FENTRY:
	case WIRE_FDATA:
		break;
	default:
		r->protocol = 1;
		return;
	}
	if (id != r->job_id) {
		return; /* stale: an earlier job's or an operation's */
	}
	switch (rec->type) {
	case WIRE_OUT: {
		const uint8_t *p = pl + 2;
		size_t n;
		int64_t used;

		if (len < 2 || (pl[1] != 1 && pl[1] != 2) ||
		    (pl[0] != WIRE_STAGE_COMPILE && pl[0] != WIRE_STAGE_RUN)) {
			r->protocol = 1;
			return;
		}
		st = stage_of(r, pl[0]);
		st->ran = 1;
		n = len - 2;
		/* The host enforces the cap too: the guest is inside the
		 * boundary and is not trusted to. */
		used = (int64_t)(st->out.len + st->err.len);
		if (pl[0] == WIRE_STAGE_RUN) {
			used += (int64_t)r->res->display.len;
		}
		if (used + (int64_t)n > r->lim->output_bytes) {
			n = used >= r->lim->output_bytes
				? 0
				: (size_t)(r->lim->output_bytes - used);
			st->truncated = 1;
		}
		if (n == 0) {
			return;
		}
		buf_add(pl[1] == 1 ? &st->out : &st->err, p, n);
		if (r->hooks && r->hooks->on_output &&
		    r->hooks->on_output(r->hooks->ctx, pl[0], pl[1], p, n) !=
			0) {
			r->gone = 1;
		}
		break;
	}
	case WIRE_RESULT:
		if (len < 1 ||
		    (pl[0] != WIRE_STAGE_COMPILE && pl[0] != WIRE_STAGE_RUN)) {
			r->protocol = 1;
			return;
		}
		st = stage_of(r, pl[0]);
		st->ran = 1;
		if (pl[0] == WIRE_STAGE_COMPILE) {
			r->compile_reported = 1;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_EXIT, &v)) {
			st->exit_code = (int)v;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_SIGNAL, &v)) {
			st->signal = (int)v;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_TIMED_OUT, &v) && v) {
			st->timed_out = 1;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_TRUNCATED, &v) && v) {
			st->truncated = 1;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_DURATION, &v)) {
			st->duration_ms = v;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_PRESTARTED, &v) &&
		    v) {
			st->prestarted = 1;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_KERNEL_COUNT, &v)) {
			st->kernel_count = v;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_KERNEL_INTERRUPTED,
				&v) &&
		    v) {
			st->kernel_interrupted = 1;
		}
		if (wire_kv_get(pl + 1, len - 1, WIRE_RES_KERNEL_RESTARTED,
				&v) &&
		    v) {
			st->kernel_restarted = 1;
		}
		break;
	case WIRE_DISPLAY:
		if (len < 1 || (pl[0] != WIRE_DISPLAY_DATA &&
				pl[0] != WIRE_DISPLAY_RESULT &&
				pl[0] != WIRE_DISPLAY_ERROR)) {
			r->protocol = 1;
			return;
		}
		on_display(r, pl, len);
		break;
	case WIRE_FAIL: {
		/* code NUL sentence; the sentence is what a user reads. */
		const uint8_t *nul = memchr(pl, '\0', len);
		const uint8_t *m = nul ? nul + 1 : pl;
		size_t mn = len - (size_t)(m - pl);

		r->failed = 1;
		snprintf(r->fail, sizeof(r->fail), "%.*s",
			 (int)(mn > 200 ? 200 : mn), (const char *)m);
		break;
	}
	case WIRE_DONE:
		r->done = 1;
		break;
	default:
		/* FSTAT, FENTRY, FDATA with a job's id: not a job's answer. */
		r->protocol = 1;
	}
}

int relay_display_next(const struct sandbox_result *res, size_t *off, int *kind,
		       const uint8_t **p, size_t *n)
{
	const uint8_t *b = (const uint8_t *)res->display.p;
	uint32_t l;

	if (b == NULL || *off + 5 > res->display.len) {
		return 0;
	}
	l = wire_get32(b + *off + 1);
	if (l > res->display.len - *off - 5) {
		return 0;
	}
	*kind = b[*off];
	*p = b + *off + 5;
	*n = l;
	*off += 5 + l;
	return 1;
}

int relay_on_mux(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct relay *r = ctx;

	if (stream == 2) {
		size_t room = GUEST_LOG_MAX - r->guest_log.len;

		buf_add(&r->guest_log, p, n < room ? n : room);
		return 0;
	}
	while (n > 0 && !r->protocol) {
		size_t used = 0;
		struct wire_rec rec;
		int rc = wire_dec_feed(&r->dec, p, n, &used, &rec);

		if (rc < 0) {
			r->protocol = 1;
			break;
		}
		p += used;
		n -= used;
		if (rc == 1) {
			relay_on_record(r, &rec);
		}
	}
	return r->protocol ? 1 : 0;
}

/* 1 when the sandbox's memory cgroup, the engine or the kernel log
 * recorded an OOM kill. The engine learns of it asynchronously, so it is
 * asked a few times. */
static int relay_oom(struct service *svc, const char *id)
{
	int i;

	if (cgroup_oom_kills(service_cgroup_parent(svc), id) > 0) {
		return 1;
	}
	for (i = 0; i < 4; i++) {
		struct isobox_err e;
		json_object *ins;
		json_object *state;
		json_object *v;
		int oom = 0;

		ins = docker_container_inspect(&svc->docker, id, &e);
		if (ins && json_object_object_get_ex(ins, "State", &state) &&
		    json_object_object_get_ex(state, "OOMKilled", &v)) {
			oom = json_object_get_boolean(v);
		}
		json_object_put(ins);
		if (oom) {
			return 1;
		}
		usleep(75 * 1000);
	}
	/* The engine removed the cgroup and did not notice the kill (seen
	 * under load): the kernel's own record of it. */
	return cgroup_oom_logged(id) > 0;
}

/* The sandbox ended without the guest's DONE. An OOM kill, the host's
 * wall-time kill, or the runtime dying because the program's forks hit
 * the container's pids cap is a result of the run; anything else (the
 * engine stopped it, gVisor died on its own) is a failure of the sandbox,
 * not the program's exit: returns 0 then, and the caller answers 503.
 *
 * The pids case: on the ptrace platform every stub process of the Sentry
 * gets a host thread for each Sentry thread that ever ran in it, so a
 * program that keeps forking and exiting within its RLIMIT_NPROC still
 * grows the Sentry's host threads, and when the pids cgroup refuses one
 * the Sentry panics (docs/THREAT_MODEL.md section 8.8). The cgroup's
 * pids.events, or the kernel log once the cgroup is gone, tells. */
int relay_judge_end(struct service *svc, struct relay *r, int host_timeout,
		    int64_t elapsed_ms)
{
	struct sandbox_result *res = r->res;
	struct stage_result *st;
	int oom = 0;

	/* The stage that was running when the sandbox ended. */
	st = res->has_compile && !r->compile_reported ? &res->compile
						      : &res->run;
	if (!host_timeout) {
		int refused = cgroup_pids_refused(service_cgroup_parent(svc),
						  res->container_id);

		oom = relay_oom(svc, res->container_id);
		if (!oom && refused <= 0) {
			return 0;
		}
		if (!oom) {
			log_warn(
			    "%.12s: the runtime died after the pids cgroup "
			    "refused the program's forks: reported as "
			    "SIGKILL",
			    res->container_id);
		}
	}
	st->ran = 1;
	if (st->duration_ms == 0) {
		st->duration_ms = elapsed_ms;
	}
	st->oom_killed = oom;
	st->timed_out = host_timeout;
	st->signal = SIGKILL;
	st->exit_code = 128 + SIGKILL;
	return 1;
}

/* Under gVisor's ptrace platform the kernel's OOM killer may kill just the
 * host process backing the user's task: the sandbox lives on and the guest
 * reports a plain SIGKILL. The engine still records the OOM event, so a
 * SIGKILL the guest did not send itself is checked against it. */
void relay_check_oom(struct service *svc, struct sandbox_result *res)
{
	struct stage_result *st = res->run.ran ? &res->run : &res->compile;

	if (st->signal == SIGKILL && !st->timed_out && !st->truncated &&
	    relay_oom(svc, res->container_id)) {
		st->oom_killed = 1;
	}
}

int relay_oom_killed(struct service *svc, const char *id)
{
	return relay_oom(svc, id);
}
