/* sandbox.c - the life of one sandbox; see sandbox.h.
 *
 * The container is created with stdin open, attached (hijacked) before it
 * starts so no byte is missed, and then fed one framed job. Everything the
 * guest says comes back on the container's stdout, multiplexed by the
 * engine: stdout frames carry the guest's records, stderr frames the
 * guest's own diagnostics. */
#include "sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "mux.h"
#include "pool.h"

/* The container's pids cap, for the host threads of the Sentry, its gofer
 * and the ptrace platform's stub processes. Every stub gets a host thread
 * for each Sentry thread that ever ran in it, so a program that keeps
 * forking and exiting within its RLIMIT_NPROC (the real limit on the
 * user's processes) still multiplies them: measured on runsc 20221219, a
 * python fork bomb peaked at 365 host tasks with pids 16 over 5 s, 566
 * over 20 s, 1246 with pids 64 over 5 s. When the cap refuses a thread
 * the Sentry panics; judge_abnormal_end reports that as the program's
 * SIGKILL (docs/THREAT_MODEL.md section 8.8). The cap keeps a sandbox from
 * taking the slice's whole pids budget from its neighbours. */
#define SENTRY_PIDS_BASE     512
#define SENTRY_PIDS_PER_TASK 16
/* Time for create/attach/start and the guest's own bookkeeping. */
#define HOST_GRACE_MS 3000
#define GUEST_LOG_MAX 4096
/* RLIMIT_NOFILE of user code. */
#define SANDBOX_NOFILE 256

static json_object *str_array(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (; v && *v; v++) {
		json_object_array_add(a, json_object_new_string(*v));
	}
	return a;
}

int64_t sandbox_memory(const struct lang *lang, const struct limits *lim)
{
	int64_t mem = lim->memory_bytes;

	if (lang->compile && lim->compile_memory_bytes > mem) {
		mem = lim->compile_memory_bytes;
	}
	return mem + SANDBOX_MEMORY_OVERHEAD;
}

/* The guest's command: a warm sandbox of a language with a "prestart"
 * bootstrap starts it at once with the language's env and the rlimits a
 * job of this shape gets (see sandbox_job_encode). */
static json_object *guest_cmd(const struct lang *lang, const struct limits *lim,
			      const char *kind)
{
	json_object *a = json_object_new_array();
	char *s;
	size_t i;

	json_object_array_add(a, json_object_new_string("/.isobox/guest"));
	if (strcmp(kind, "pool") != 0 || lang->prestart == NULL ||
	    lang->compile != NULL) {
		return a;
	}
	for (i = 0; lang->env && lang->env[i]; i++) {
		json_object_array_add(a,
				      json_object_new_string("--prestart-env"));
		json_object_array_add(a, json_object_new_string(lang->env[i]));
	}
	s = xasprintf("%s=%lld", WIRE_LIMIT_PIDS, (long long)lim->pids);
	json_object_array_add(a, json_object_new_string("--prestart-limit"));
	json_object_array_add(a, json_object_new_string(s));
	free(s);
	s = xasprintf("%s=%lld", WIRE_LIMIT_FSIZE, (long long)lim->tmpfs_bytes);
	json_object_array_add(a, json_object_new_string("--prestart-limit"));
	json_object_array_add(a, json_object_new_string(s));
	free(s);
	s = xasprintf("%s=%d", WIRE_LIMIT_NOFILE, SANDBOX_NOFILE);
	json_object_array_add(a, json_object_new_string("--prestart-limit"));
	json_object_array_add(a, json_object_new_string(s));
	free(s);
	json_object_array_add(a, json_object_new_string("--prestart"));
	for (i = 0; lang->prestart[i]; i++) {
		json_object_array_add(
		    a, json_object_new_string(lang->prestart[i]));
	}
	return a;
}

json_object *sandbox_spec(struct service *svc, const struct lang *lang,
			  const struct limits *lim, const char *request_id,
			  int64_t deadline_wall_ms, const char *kind,
			  int network)
{
	static const char *const caps[] = {"SETUID", "SETGID", "KILL", NULL};
	static const char *const drop[] = {"ALL", NULL};
	static const char *const secopt[] = {"no-new-privileges", NULL};
	json_object *spec = json_object_new_object();
	json_object *host = json_object_new_object();
	json_object *labels = json_object_new_object();
	json_object *tmpfs = json_object_new_object();
	json_object *binds = json_object_new_array();
	json_object *logcfg = json_object_new_object();
	int64_t mem = sandbox_memory(lang, lim);
	char *s;

	json_object_object_add(spec, "Image",
			       json_object_new_string(lang->image_ref));
	json_object_object_add(spec, "Cmd", guest_cmd(lang, lim, kind));
	json_object_object_add(spec, "Entrypoint", json_object_new_array());
	json_object_object_add(spec, "Env", json_object_new_array());
	json_object_object_add(spec, "User", json_object_new_string("0:0"));
	json_object_object_add(spec, "WorkingDir",
			       json_object_new_string("/box"));
	json_object_object_add(spec, "Hostname",
			       json_object_new_string("sandbox"));
	json_object_object_add(spec, "AttachStdin", json_object_new_boolean(1));
	json_object_object_add(spec, "AttachStdout",
			       json_object_new_boolean(1));
	json_object_object_add(spec, "AttachStderr",
			       json_object_new_boolean(1));
	json_object_object_add(spec, "OpenStdin", json_object_new_boolean(1));
	json_object_object_add(spec, "StdinOnce", json_object_new_boolean(1));
	json_object_object_add(spec, "Tty", json_object_new_boolean(0));
	json_object_object_add(spec, "NetworkDisabled",
			       json_object_new_boolean(!network));

	json_object_object_add(labels, "isobox.managed",
			       json_object_new_string("1"));
	json_object_object_add(labels, "isobox.owner",
			       json_object_new_string(svc->owner));
	s = xasprintf("%lld", (long long)deadline_wall_ms);
	json_object_object_add(labels, "isobox.deadline",
			       json_object_new_string(s));
	free(s);
	json_object_object_add(labels, "isobox.kind",
			       json_object_new_string(kind));
	/* Which deployment (shared state) it belongs to: several deployments
	 * may share one engine, and each manages only its own pool. */
	json_object_object_add(labels, "isobox.deployment",
			       json_object_new_string(svc->deployment));
	json_object_object_add(labels, "isobox.request",
			       json_object_new_string(request_id));
	json_object_object_add(labels, "isobox.language",
			       json_object_new_string(lang->name));
	json_object_object_add(labels, "isobox.network",
			       json_object_new_string(network ? "1" : "0"));
	json_object_object_add(spec, "Labels", labels);

	if (network) {
		/* The egress network (its firewall was verified by the
		 * caller) and runsc with the container's own network
		 * namespace; names resolve only through egress_dns. */
		char dns[CONFIG_MAX_DNS][16];
		json_object *a = json_object_new_array();
		int i;
		int n =
		    config_dns_list(svc->cfg.egress_dns, dns, CONFIG_MAX_DNS);

		for (i = 0; i < n; i++) {
			json_object_array_add(a,
					      json_object_new_string(dns[i]));
		}
		json_object_object_add(
		    host, "Runtime",
		    json_object_new_string(svc->cfg.network_runtime));
		json_object_object_add(
		    host, "NetworkMode",
		    json_object_new_string(svc->cfg.egress_network));
		json_object_object_add(host, "Dns", a);
		json_object_object_add(host, "DnsSearch",
				       json_object_new_array());
	} else {
		json_object_object_add(
		    host, "Runtime", json_object_new_string(svc->cfg.runtime));
		json_object_object_add(host, "NetworkMode",
				       json_object_new_string("none"));
	}
	json_object_object_add(host, "ReadonlyRootfs",
			       json_object_new_boolean(1));
	json_object_object_add(host, "CapDrop", str_array(drop));
	json_object_object_add(host, "CapAdd", str_array(caps));
	json_object_object_add(host, "SecurityOpt", str_array(secopt));
	json_object_object_add(host, "Memory", json_object_new_int64(mem));
	json_object_object_add(host, "MemorySwap", json_object_new_int64(mem));
	json_object_object_add(host, "MemorySwappiness",
			       json_object_new_int64(0));
	json_object_object_add(
	    host, "PidsLimit",
	    json_object_new_int64(SENTRY_PIDS_BASE +
				  SENTRY_PIDS_PER_TASK * lim->pids));
	json_object_object_add(
	    host, "NanoCpus",
	    json_object_new_int64((int64_t)(lim->cpus * 1e9)));
	json_object_object_add(
	    host, "CgroupParent",
	    json_object_new_string(service_cgroup_parent(svc)));
	/* /box belongs to the user: the guest has no CAP_CHOWN, so the mount
	 * itself carries the owner. */
	s = xasprintf("rw,size=%lld,mode=0755,uid=65534,gid=65534,nosuid,"
		      "nodev,%s",
		      (long long)lim->tmpfs_bytes,
		      lang->tmpfs_exec ? "exec" : "noexec");
	json_object_object_add(tmpfs, "/box", json_object_new_string(s));
	free(s);
	s = xasprintf("rw,size=%lld,mode=1777,nosuid,nodev,%s",
		      (long long)lim->tmpfs_bytes,
		      lang->tmpfs_exec ? "exec" : "noexec");
	json_object_object_add(tmpfs, "/tmp", json_object_new_string(s));
	free(s);
	json_object_object_add(host, "Tmpfs", tmpfs);
	s = xasprintf("%s:/.isobox/guest:ro", svc->cfg.guest_path);
	json_object_array_add(binds, json_object_new_string(s));
	free(s);
	json_object_object_add(host, "Binds", binds);
	/* Output goes to the caller, not to the engine's log files. */
	json_object_object_add(logcfg, "Type", json_object_new_string("none"));
	json_object_object_add(host, "LogConfig", logcfg);
	json_object_object_add(host, "AutoRemove", json_object_new_boolean(0));
	json_object_object_add(host, "Privileged", json_object_new_boolean(0));
	json_object_object_add(host, "IpcMode",
			       json_object_new_string("private"));
	json_object_object_add(spec, "HostConfig", host);
	return spec;
}

static const char *entry_name(const struct lang *lang,
			      const struct exec_request *req)
{
	return req->files[0].name ? req->files[0].name : lang->source;
}

/* Append argv to b as a NUL-separated list, expanding {source}/{files}. */
static void add_argv(struct wire_buf *b, char *const *argv,
		     const struct lang *lang, const struct exec_request *req)
{
	size_t i;

	for (; argv && *argv; argv++) {
		if (strcmp(*argv, "{files}") == 0) {
			for (i = 0; i < req->nfiles; i++) {
				wire_str_add(b, req->files[i].name
						    ? req->files[i].name
						    : lang->source);
			}
		} else if (strstr(*argv, "{source}")) {
			struct buf t = {0};
			const char *p = *argv;
			const char *q;

			while ((q = strstr(p, "{source}")) != NULL) {
				buf_add(&t, p, (size_t)(q - p));
				buf_adds(&t, entry_name(lang, req));
				p = q + 8;
			}
			buf_adds(&t, p);
			wire_str_add(b, t.p);
			buf_free(&t);
		} else {
			wire_str_add(b, *argv);
		}
	}
}

int sandbox_handoff_encode(const struct lang *lang,
			   const struct exec_request *req, struct wire_buf *out)
{
	struct wire_buf t = {0};
	size_t skip;
	int rc;

	if (lang->prestart == NULL || lang->compile != NULL) {
		return 0;
	}
	add_argv(&t, lang->run, lang, req);
	add_argv(&t, req->args, lang, req);
	skip = strlen((const char *)t.p) + 1;
	rc = wire_put(out, WIRE_HANDOFF, t.p + skip, t.len - skip);
	wire_buf_free(&t);
	return rc;
}

int sandbox_job_encode(const struct lang *lang, const struct exec_request *req,
		       const struct limits *lim, struct wire_buf *out)
{
	struct wire_buf t = {0};
	size_t i;
	size_t off;
	int rc = -1;

	for (i = 0; i < req->nfiles; i++) {
		const char *name =
		    req->files[i].name ? req->files[i].name : lang->source;

		if (wire_put_file(out, name, req->files[i].data,
				  req->files[i].len) < 0) {
			goto out;
		}
	}
	for (i = 0; lang->env && lang->env[i]; i++) {
		wire_str_add(&t, lang->env[i]);
	}
	if (wire_put(out, WIRE_ENV, t.p, t.len) < 0) {
		goto out;
	}
	if (lang->compile) {
		t.len = 0;
		add_argv(&t, lang->compile, lang, req);
		if (wire_put(out, WIRE_COMPILE, t.p, t.len) < 0) {
			goto out;
		}
	}
	t.len = 0;
	add_argv(&t, lang->run, lang, req);
	add_argv(&t, req->args, lang, req);
	if (wire_put(out, WIRE_RUN, t.p, t.len) < 0) {
		goto out;
	}
	for (off = 0; off < req->stdin_len; off += WIRE_MAX_PAYLOAD) {
		size_t n = req->stdin_len - off;

		if (n > WIRE_MAX_PAYLOAD) {
			n = WIRE_MAX_PAYLOAD;
		}
		if (wire_put(out, WIRE_STDIN, req->stdin_data + off, n) < 0) {
			goto out;
		}
	}
	t.len = 0;
	wire_kv_add(&t, WIRE_LIMIT_COMPILE_WALL_MS, lim->compile_wall_time_ms);
	wire_kv_add(&t, WIRE_LIMIT_RUN_WALL_MS, lim->wall_time_ms);
	wire_kv_add(&t, WIRE_LIMIT_PIDS, lim->pids);
	wire_kv_add(&t, WIRE_LIMIT_OUTPUT, lim->output_bytes);
	wire_kv_add(&t, WIRE_LIMIT_FSIZE, lim->tmpfs_bytes);
	wire_kv_add(&t, WIRE_LIMIT_NOFILE, SANDBOX_NOFILE);
	if (wire_put(out, WIRE_LIMITS, t.p, t.len) < 0 ||
	    wire_put(out, WIRE_GO, NULL, 0) < 0) {
		goto out;
	}
	rc = 0;
out:
	wire_buf_free(&t);
	return rc;
}

/* State of one relay loop. */
struct relay {
	const struct sandbox_hooks *hooks;
	struct sandbox_result *res;
	const struct limits *lim;
	struct wire_dec dec;
	struct buf guest_log;
	char fail[256];
	int ready;
	int done;
	int failed;
	int gone;	      /* the client left */
	int protocol;	      /* the guest broke the framing */
	int compile_reported; /* a RESULT for the compile stage arrived */
};

static struct stage_result *stage_of(struct relay *r, int stage)
{
	return stage == WIRE_STAGE_COMPILE ? &r->res->compile : &r->res->run;
}

static void on_record(struct relay *r, const struct wire_rec *rec)
{
	struct stage_result *st;
	long long v;

	r->ready = 1; /* a warm sandbox said READY before we attached */
	switch (rec->type) {
	case WIRE_READY:
		break;
	case WIRE_OUT: {
		const uint8_t *p = rec->payload + 2;
		size_t n;
		int64_t used;

		if (rec->len < 2 ||
		    (rec->payload[1] != 1 && rec->payload[1] != 2)) {
			r->protocol = 1;
			return;
		}
		st = stage_of(r, rec->payload[0]);
		st->ran = 1;
		n = rec->len - 2;
		/* The host enforces the cap too: the guest is inside the
		 * boundary and is not trusted to. */
		used = (int64_t)(st->out.len + st->err.len);
		if (used + (int64_t)n > r->lim->output_bytes) {
			n = used >= r->lim->output_bytes
				? 0
				: (size_t)(r->lim->output_bytes - used);
			st->truncated = 1;
		}
		if (n == 0) {
			return;
		}
		buf_add(rec->payload[1] == 1 ? &st->out : &st->err, p, n);
		if (r->hooks && r->hooks->on_output &&
		    r->hooks->on_output(r->hooks->ctx, rec->payload[0],
					rec->payload[1], p, n) != 0) {
			r->gone = 1;
		}
		break;
	}
	case WIRE_RESULT:
		if (rec->len < 1) {
			r->protocol = 1;
			return;
		}
		st = stage_of(r, rec->payload[0]);
		st->ran = 1;
		if (rec->payload[0] == WIRE_STAGE_COMPILE) {
			r->compile_reported = 1;
		}
		if (wire_kv_get(rec->payload + 1, rec->len - 1, WIRE_RES_EXIT,
				&v)) {
			st->exit_code = (int)v;
		}
		if (wire_kv_get(rec->payload + 1, rec->len - 1, WIRE_RES_SIGNAL,
				&v)) {
			st->signal = (int)v;
		}
		if (wire_kv_get(rec->payload + 1, rec->len - 1,
				WIRE_RES_TIMED_OUT, &v) &&
		    v) {
			st->timed_out = 1;
		}
		if (wire_kv_get(rec->payload + 1, rec->len - 1,
				WIRE_RES_TRUNCATED, &v) &&
		    v) {
			st->truncated = 1;
		}
		if (wire_kv_get(rec->payload + 1, rec->len - 1,
				WIRE_RES_DURATION, &v)) {
			st->duration_ms = v;
		}
		if (wire_kv_get(rec->payload + 1, rec->len - 1,
				WIRE_RES_PRESTARTED, &v) &&
		    v) {
			st->prestarted = 1;
		}
		break;
	case WIRE_FAIL:
		r->failed = 1;
		snprintf(r->fail, sizeof(r->fail), "%.*s",
			 (int)(rec->len > 200 ? 200 : rec->len),
			 (const char *)rec->payload);
		break;
	case WIRE_DONE:
		r->done = 1;
		break;
	default:
		r->protocol = 1;
	}
}

static int on_mux(void *ctx, int stream, const uint8_t *p, size_t n)
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
			on_record(r, &rec);
		}
	}
	return r->protocol ? 1 : 0;
}

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

/* 1 when the sandbox's memory cgroup, the engine or the kernel log
 * recorded an OOM kill. The engine learns of it asynchronously, so it is
 * asked a few times. */
static int sandbox_oom(struct service *svc, const char *id)
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
static int judge_abnormal_end(struct service *svc, struct relay *r,
			      int host_timeout, int64_t elapsed_ms)
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

		oom = sandbox_oom(svc, res->container_id);
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
	spec = sandbox_spec(svc, lang, lim, request_id,
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

/* Under gVisor's ptrace platform the kernel's OOM killer may kill just the
 * host process backing the user's task: the sandbox lives on and the guest
 * reports a plain SIGKILL. The engine still records the OOM event, so a
 * SIGKILL the guest did not send itself is checked against it. */
static void check_oom(struct service *svc, struct sandbox_result *res)
{
	struct stage_result *st = res->run.ran ? &res->run : &res->compile;

	if (st->signal == SIGKILL && !st->timed_out && !st->truncated &&
	    sandbox_oom(svc, res->container_id)) {
		st->oom_killed = 1;
	}
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
	if (sandbox_job_encode(lang, req, lim, &job) < 0 ||
	    sandbox_handoff_encode(lang, req, &hand) < 0) {
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
		if (mux_feed(&mux, rbuf, (size_t)n, on_mux, &r) < 0) {
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
			oom = sandbox_oom(svc, res->container_id);
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
		if (!judge_abnormal_end(svc, &r, host_timeout,
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
		check_oom(svc, res);
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
	memset(res, 0, sizeof(*res));
}
