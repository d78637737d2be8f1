/* api_execute.c - POST /execute: validate, admit, run, render (JSON or
 * Server-Sent Events). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "registry.h"
#include "request.h"
#include "exec.h"
#include "sandbox.h"

const char *api_signal_name(int sig)
{
	static __thread char b[24];
	const char *a;

	if (sig <= 0) {
		return NULL;
	}
	a = sigabbrev_np(sig);
	if (a == NULL) {
		snprintf(b, sizeof(b), "SIG%d", sig);
	} else {
		snprintf(b, sizeof(b), "SIG%s", a);
	}
	return b;
}

/* Length of a valid UTF-8 sequence starting at p (n bytes available), 0 if
 * it is invalid, -1 if it is valid so far but cut short. */
static int utf8_seq(const uint8_t *p, size_t n)
{
	int len;
	uint32_t cp;
	int i;

	if (p[0] < 0x80) {
		return 1;
	} else if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((size_t)i >= n) {
			return -1;
		}
		if ((p[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

char *api_utf8_clean(const uint8_t *s, size_t n, size_t *out_len)
{
	struct buf b = {0};
	size_t i = 0;

	while (i < n) {
		int l = utf8_seq(s + i, n - i);

		if (l > 0) {
			buf_add(&b, s + i, (size_t)l);
			i += (size_t)l;
		} else {
			buf_add(&b, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	buf_add(&b, "", 0);
	return buf_steal(&b, out_len);
}

size_t api_utf8_tail(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = n > 3 ? n - 3 : 0; i < n; i++) {
		if (utf8_seq(p + i, n - i) < 0) {
			return n - i;
		}
	}
	return 0;
}

static json_object *jstr_bytes(const uint8_t *p, size_t n)
{
	size_t l;
	char *c = api_utf8_clean(p, n, &l);
	json_object *o = json_object_new_string_len(c, (int)l);

	free(c);
	return o;
}

static json_object *stage_json(const struct stage_result *st)
{
	json_object *o = json_object_new_object();
	const char *sig = api_signal_name(st->signal);

	json_object_object_add(
	    o, "stdout", jstr_bytes((const uint8_t *)st->out.p, st->out.len));
	json_object_object_add(
	    o, "stderr", jstr_bytes((const uint8_t *)st->err.p, st->err.len));
	json_object_object_add(o, "exitCode",
			       json_object_new_int(st->exit_code));
	json_object_object_add(o, "signal",
			       sig ? json_object_new_string(sig) : NULL);
	json_object_object_add(o, "timedOut",
			       json_object_new_boolean(st->timed_out));
	json_object_object_add(o, "oomKilled",
			       json_object_new_boolean(st->oom_killed));
	json_object_object_add(o, "truncated",
			       json_object_new_boolean(st->truncated));
	json_object_object_add(o, "durationMs",
			       json_object_new_int64(st->duration_ms));
	return o;
}

static json_object *limits_json(const struct limits *l, int compiled)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "memoryBytes",
			       json_object_new_int64(l->memory_bytes));
	json_object_object_add(o, "cpus", json_object_new_double(l->cpus));
	json_object_object_add(o, "pids", json_object_new_int64(l->pids));
	json_object_object_add(o, "outputBytes",
			       json_object_new_int64(l->output_bytes));
	json_object_object_add(o, "wallTimeMs",
			       json_object_new_int64(l->wall_time_ms));
	if (compiled) {
		json_object_object_add(
		    o, "compileWallTimeMs",
		    json_object_new_int64(l->compile_wall_time_ms));
		json_object_object_add(
		    o, "compileMemoryBytes",
		    json_object_new_int64(l->compile_memory_bytes));
	}
	json_object_object_add(o, "tmpfsBytes",
			       json_object_new_int64(l->tmpfs_bytes));
	return o;
}

json_object *api_result_json(const struct lang *lang,
			     const struct sandbox_result *res,
			     const struct limits *lim)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "language",
			       json_object_new_string(lang->name));
	json_object_object_add(o, "version",
			       json_object_new_string(lang->version));
	json_object_object_add(o, "backend", json_object_new_string("gvisor"));
	if (res->has_compile) {
		json_object_object_add(o, "compile", stage_json(&res->compile));
	}
	json_object_object_add(
	    o, "run",
	    res->run.ran || !res->has_compile ? stage_json(&res->run) : NULL);
	json_object_object_add(o, "limits", limits_json(lim, res->has_compile));
	return o;
}

/* Per-request state shared with the sandbox hooks. */
struct exec_ctx {
	struct http_req *req;
	/* Incomplete UTF-8 tails held back between SSE chunks, per
	 * stage x stream. */
	uint8_t tail[2][3][4];
	size_t tail_len[2][3];
};

static int hook_cancelled(void *ctx)
{
	struct exec_ctx *x = ctx;

	return http_client_gone(x->req);
}

static int hook_output(void *ctx, int stage, int stream, const uint8_t *p,
		       size_t n)
{
	struct exec_ctx *x = ctx;
	int si = stage == 'c' ? 0 : 1;
	struct buf b = {0};
	size_t keep = 0;
	size_t i;
	json_object *o;
	int rc;

	if (!x->req->sse) {
		return 0;
	}
	buf_add(&b, x->tail[si][stream], x->tail_len[si][stream]);
	buf_add(&b, p, n);
	/* Hold back a multi-byte character cut at the end of the chunk. */
	for (i = b.len > 3 ? b.len - 3 : 0; i < b.len; i++) {
		if (utf8_seq((const uint8_t *)b.p + i, b.len - i) < 0) {
			keep = b.len - i;
			break;
		}
	}
	memcpy(x->tail[si][stream], b.p + b.len - keep, keep);
	x->tail_len[si][stream] = keep;
	o = json_object_new_object();
	json_object_object_add(o, "chunk",
			       jstr_bytes((const uint8_t *)b.p, b.len - keep));
	json_object_object_add(o, "stage",
			       json_object_new_string(si ? "run" : "compile"));
	rc = http_sse_event(
	    x->req, stream == 1 ? "stdout" : "stderr",
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	buf_free(&b);
	return rc < 0;
}

int api_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

void api_outcome(struct http_req *req, const struct sandbox_result *r)
{
	const struct stage_result *st =
	    r->has_compile && !r->run.ran ? &r->compile : &r->run;
	const char *o = "ok";

	if (st->oom_killed) {
		o = "oom";
	} else if (st->timed_out) {
		o = "timeout";
	} else if (st->truncated) {
		o = "truncated";
	} else if (r->has_compile && !r->run.ran) {
		o = "compile_error";
	} else if (st->exit_code != 0) {
		o = "error";
	}
	snprintf(req->outcome, sizeof(req->outcome), "%s", o);
}

/* Open the event stream once a slot is held, if the client asked for one. */
static void start_stream(void *ctx)
{
	struct exec_ctx *x = ctx;

	if (http_wants_sse(x->req)) {
		http_sse_start(x->req);
	}
}

void api_execute(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct exec_request er;
	struct registry *reg = NULL;
	const struct lang *lang;
	struct exec_ctx x;
	struct sandbox_hooks hooks;
	struct exec_run *run = NULL;
	json_object *out = NULL;

	memset(&er, 0, sizeof(er));
	memset(&x, 0, sizeof(x));
	memset(&err, 0, sizeof(err));
	if (!api_is_json(req->content_type)) {
		http_drain_body(req);
		http_send_err(req, 415, "unsupported_media_type",
			      "send the request as application/json");
		return;
	}
	if (http_read_body(req, svc->cfg.max_body_bytes, &err) < 0 ||
	    request_parse(req->body.p, req->body.len, svc->cfg.max_files, &er,
			  &err) < 0) {
		http_send_error(req, &err);
		return;
	}
	snprintf(req->language, sizeof(req->language), "%s", er.language);
	reg = registry_get();
	if (reg == NULL) {
		http_send_err(req, 503, "registry_unavailable",
			      "no language catalogue is loaded");
		goto out;
	}
	lang = registry_find(reg, er.language, er.version, &err);
	if (lang == NULL) {
		http_send_error(req, &err);
		goto out;
	}
	snprintf(req->language, sizeof(req->language), "%s", lang->name);
	x.req = req;
	hooks.ctx = &x;
	hooks.on_output = hook_output;
	hooks.cancelled = hook_cancelled;
	if (exec_run(svc, req, lang, &er, &hooks, start_stream, &run, &err) <
	    0) {
		if (err.status != 499) {
			http_send_error(req, &err);
		}
	} else {
		api_outcome(req, &run->res);
		out = api_result_json(lang, &run->res, &run->lim);
		if (req->sse) {
			http_sse_event(req, "done",
				       json_object_to_json_string_ext(
					   out, JSON_C_TO_STRING_PLAIN));
		} else {
			http_send_json(req, 200, out, NULL);
		}
	}
	/* The sandbox is removed after the answer has gone out. */
	exec_finish(req, run);
out:
	json_object_put(out);
	registry_put(reg);
	request_free(&er);
}
