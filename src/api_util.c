/* api_util.c - what the front doors share (declared in api.h): UTF-8
 * cleaning and hold-back for program output, content-type and origin
 * checks, the exec_ctx of an HTTP request, the /execute result object,
 * memory names, times and base64 for JSON, collection listings, and
 * what happens to a run after its answer. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "kv.h"

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

/* ------------------------------------------------------------------ */
/* UTF-8 */

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

json_object *api_json_bytes(const void *p, size_t n)
{
	size_t l;
	char *c = api_utf8_clean(p, n, &l);
	json_object *o = json_object_new_string_len(c, (int)l);

	free(c);
	return o;
}

void api_utf8_hold_feed(struct api_utf8_hold *h, int stage, int stream,
			const uint8_t *p, size_t n, struct buf *out)
{
	int si = stage == 'c' ? 0 : 1;
	size_t start = out->len;
	size_t keep;

	if (stream < 0 || stream > 2) {
		stream = 2;
	}
	buf_add(out, h->tail[si][stream], h->len[si][stream]);
	buf_add(out, p, n);
	keep = api_utf8_tail((const uint8_t *)out->p + start, out->len - start);
	memcpy(h->tail[si][stream], out->p + out->len - keep, keep);
	h->len[si][stream] = keep;
	out->len -= keep;
	out->p[out->len] = '\0';
}

void api_utf8_hold_flush(struct api_utf8_hold *h, int stage, int stream,
			 struct buf *out)
{
	int si = stage == 'c' ? 0 : 1;

	if (stream < 0 || stream > 2) {
		stream = 2;
	}
	buf_add(out, h->tail[si][stream], h->len[si][stream]);
	h->len[si][stream] = 0;
}

/* ------------------------------------------------------------------ */
/* Requests */

int api_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int api_origin_ok(const struct http_req *req)
{
	const char *origin = FCGX_GetParam("HTTP_ORIGIN", req->fr->envp);
	const char *host = FCGX_GetParam("HTTP_HOST", req->fr->envp);
	const char *p;

	if (origin == NULL || origin[0] == '\0') {
		return 1; /* not a browser, or a same-origin GET */
	}
	if (host == NULL || host[0] == '\0') {
		return 0;
	}
	p = strstr(origin, "://");
	if (p == NULL) {
		return 0; /* "null" and other opaque origins */
	}
	p += 3;
	return strcasecmp(p, host) == 0;
}

int api_memory_ns_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KV_NS_MAX) {
		return 0;
	}
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '-')) {
			return 0;
		}
	}
	return 1;
}

int api_memory_key_check(const struct config *cfg, const char *key, size_t n,
			 struct isobox_err *err)
{
	int64_t max = cfg->memory_max_key_bytes;

	if (n == 0 || (int64_t)n > max) {
		return err_set(err, 400, "invalid_key",
			       "a key is 1 to %lld bytes", (long long)max);
	}
	if (!utf8_valid(key, n) || memchr(key, '\0', n) != NULL) {
		return err_set(err, 400, "invalid_key",
			       "a key must be UTF-8 without NUL");
	}
	return 0;
}

json_object *api_time_json(int64_t ms)
{
	char b[40];
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(b + strlen(b), sizeof(b) - strlen(b), ".%03dZ",
		 (int)(ms % 1000));
	return json_object_new_string(b);
}

char *api_base64(const void *p, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
	    "vwxyz0123456789+/";
	const uint8_t *s = p;
	char *o = xmalloc((n + 2) / 3 * 4 + 1);
	size_t i;
	size_t k = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v =
		    (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		o[k++] = a[v >> 18];
		o[k++] = a[(v >> 12) & 63];
		o[k++] = a[(v >> 6) & 63];
		o[k++] = a[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n) {
			v |= (uint32_t)s[i + 1] << 8;
		}
		o[k++] = a[v >> 18];
		o[k++] = a[(v >> 12) & 63];
		o[k++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
		o[k++] = '=';
	}
	o[k] = '\0';
	return o;
}

int api_req_gone(void *req)
{
	return http_client_gone(req);
}

void api_exec_ctx(struct http_req *req, struct exec_ctx *x)
{
	memset(x, 0, sizeof(*x));
	x->tenant = &req->tenant;
	x->request_id = req->id;
	x->ctx = req;
	x->cancelled = api_req_gone;
}

void api_stream_init(struct api_stream *st, struct http_req *req)
{
	memset(st, 0, sizeof(*st));
	st->req = req;
}

int api_stream_cancelled(void *ctx)
{
	struct api_stream *st = ctx;

	return http_client_gone(st->req);
}

int api_stream_output(void *ctx, int stage, int stream, const uint8_t *p,
		      size_t n)
{
	struct api_stream *st = ctx;
	struct buf b = {0};
	json_object *o;
	int rc;

	if (!st->req->sse) {
		return 0;
	}
	api_utf8_hold_feed(&st->hold, stage, stream, p, n, &b);
	o = json_object_new_object();
	json_object_object_add(o, "chunk", api_json_bytes(b.p, b.len));
	json_object_object_add(
	    o, "stage",
	    json_object_new_string(stage == 'c' ? "compile" : "run"));
	rc = http_sse_event(
	    st->req, stream == 1 ? "stdout" : "stderr",
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	buf_free(&b);
	return rc < 0;
}

void api_stream_admitted(void *ctx)
{
	struct api_stream *st = ctx;

	if (http_wants_sse(st->req)) {
		http_sse_start(st->req);
	}
}

/* ------------------------------------------------------------------ */
/* Results */

static json_object *stage_json(const struct stage_result *st)
{
	json_object *o = json_object_new_object();
	const char *sig = api_signal_name(st->signal);

	json_object_object_add(o, "stdout",
			       api_json_bytes(st->out.p, st->out.len));
	json_object_object_add(o, "stderr",
			       api_json_bytes(st->err.p, st->err.len));
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
			     const struct exec_run *run)
{
	const struct sandbox_result *res = &run->res;
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
	json_object_object_add(o, "limits",
			       limits_json(&run->lim, res->has_compile));
	return o;
}

static void release_after(void *p)
{
	exec_release(p);
}

void api_exec_done(struct http_req *req, int rc, const struct isobox_err *err,
		   struct exec_run *run)
{
	if (rc == 0 && run) {
		snprintf(req->outcome, sizeof(req->outcome), "%s",
			 exec_outcome(run));
	} else if (rc < 0 && err && err->status == 499) {
		snprintf(req->outcome, sizeof(req->outcome), "client_gone");
	}
	if (run == NULL) {
		return;
	}
	if (req->log_extra == NULL) {
		req->log_extra = json_object_new_object();
	}
	json_object_object_add(req->log_extra, "warm",
			       json_object_new_boolean(run->res.pooled));
	json_object_object_add(req->log_extra, "prestarted",
			       json_object_new_boolean(exec_prestarted(run)));
	if (run->res.compile.prestarted) {
		/* Which stages a prestarted process served (a compiler
		 * server's run stage may have one of its own). */
		json_object *st = json_object_new_array();

		json_object_array_add(st, json_object_new_string("compile"));
		if (run->res.run.prestarted) {
			json_object_array_add(st,
					      json_object_new_string("run"));
		}
		json_object_object_add(req->log_extra, "prestartedStages", st);
	}
	json_object_object_add(req->log_extra, "sandboxReadyMs",
			       json_object_new_int64(run->res.t_start));
	json_object_object_add(req->log_extra, "sandboxMs",
			       json_object_new_int64(run->res.t_total));
	if (req->after == release_after) {
		run->next = req->after_ctx;
	} else if (req->after != NULL) {
		/* Someone else owns the slot: release now rather than leak. */
		log_warn("api: request %s already has after-work; removing "
			 "the sandbox before the answer completes",
			 req->id);
		exec_release(run);
		return;
	}
	req->after = release_after;
	req->after_ctx = run;
}

void api_list_init(struct api_list *l, struct service *svc)
{
	l->svc = svc;
	l->items = json_object_new_array();
}

int api_list_add(struct api_list *l, json_object *item)
{
	json_object_array_add(l->items, item);
	return 0;
}

void api_list_send(struct api_list *l, struct http_req *req, const char *key,
		   int rc, const struct isobox_err *err,
		   void (*fail)(struct http_req *req,
				const struct isobox_err *err))
{
	json_object *o;

	if (rc < 0) {
		json_object_put(l->items);
		l->items = NULL;
		fail(req, err);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, key, l->items);
	l->items = NULL;
	http_send_json(req, 200, o, NULL);
	json_object_put(o);
}
