/* api_session.c - /v1/sessions: the seed's session routes plus GET of one
 * session and of the tenant's list, PATCH (idle TTL), interrupt, fork, and
 * a file API that streams both ways with Range and sha256. Thin: parse the
 * path, the token and the body, call session.h, render. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "fsapi.h"
#include "session.h"

#define PREFIX		"/v1/sessions"
#define CREATE_BODY_MAX (256 * 1024)
#define PATCH_BODY_MAX	(16 * 1024)

/* One parsed /v1/sessions request. */
struct sreq {
	struct service *svc;
	struct http_req *req;
	char id[64];	 /* "" for the collection */
	const char *sub; /* "", "exec", "interrupt", "fork", "restart", "fs" */
	const char *tok; /* X-Session-Token or NULL */
	int bad;	 /* the path names nothing */
};

static void parse(struct service *svc, struct http_req *req, struct sreq *r)
{
	const char *rest = req->path + strlen(PREFIX);
	const char *slash;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->svc = svc;
	r->req = req;
	r->sub = "";
	r->tok = FCGX_GetParam("HTTP_X_SESSION_TOKEN", req->fr->envp);
	if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
		return;
	}
	if (rest[0] != '/') {
		r->bad = 1;
		return;
	}
	rest++;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(r->id)) {
		r->bad = 1;
		return;
	}
	memcpy(r->id, rest, n);
	r->id[n] = '\0';
	r->sub = slash ? slash + 1 : "";
	if (strcmp(r->sub, "") != 0 && strcmp(r->sub, "exec") != 0 &&
	    strcmp(r->sub, "interrupt") != 0 && strcmp(r->sub, "fork") != 0 &&
	    strcmp(r->sub, "restart") != 0 && strcmp(r->sub, "fs") != 0) {
		r->bad = 1;
	}
}

static void send_error(struct http_req *req, const struct isobox_err *err)
{
	if (strcmp(err->code, "session_busy") == 0 ||
	    strcmp(err->code, "capacity") == 0) {
		req->retry_after = 1;
	} else if (strcmp(err->code, "too_many_sessions") == 0) {
		req->retry_after = 5;
	}
	http_drain_body(req);
	http_send_error(req, err);
}

static void no_route(struct http_req *req)
{
	http_drain_body(req);
	http_send_err(req, 404, "not_found", "no route for %s %s", req->method,
		      req->path);
}

/* ------------------------------------------------------------------ */
/* Rendering */

static json_object *volumes_json(const struct session *s)
{
	json_object *a = json_object_new_array();
	int i;

	for (i = 0; i < s->nvolumes; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(
		    o, "id", json_object_new_string(s->volumes[i].id));
		json_object_object_add(
		    o, "mountPath",
		    json_object_new_string(s->volumes[i].target));
		json_object_object_add(
		    o, "mode",
		    json_object_new_string(s->volumes[i].read_only ? "ro"
								   : "rw"));
		json_object_array_add(a, o);
	}
	return a;
}

json_object *api_session_json(struct service *svc, const struct session *s)
{
	json_object *o = json_object_new_object();
	json_object *l = json_object_new_object();
	int64_t disk = session_disk_bytes(svc, s);

	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "runtime",
			       json_object_new_string(s->runtime));
	json_object_object_add(o, "version",
			       json_object_new_string(s->version));
	json_object_object_add(
	    o, "type", json_object_new_string(session_type_name(s->type)));
	json_object_object_add(
	    o, "state",
	    json_object_new_string(session_state_name(session_state_of(s))));
	json_object_object_add(o, "createdAt", api_time_json(s->created_ms));
	json_object_object_add(o, "lastActivityAt", api_time_json(s->last_ms));
	json_object_object_add(o, "expiresAt", api_time_json(s->expires_ms));
	json_object_object_add(o, "ttlSec", json_object_new_int64(s->ttl_sec));
	json_object_object_add(o, "diskBytes",
			       disk < 0 ? NULL : json_object_new_int64(disk));
	json_object_object_add(o, "diskQuotaBytes",
			       json_object_new_int64(s->disk_quota));
	json_object_object_add(o, "steps", json_object_new_int64(s->steps));
	json_object_object_add(l, "memoryBytes",
			       json_object_new_int64(s->lim.memory_bytes));
	json_object_object_add(l, "cpus", json_object_new_double(s->lim.cpus));
	json_object_object_add(l, "pids", json_object_new_int64(s->lim.pids));
	json_object_object_add(l, "outputBytes",
			       json_object_new_int64(s->lim.output_bytes));
	json_object_object_add(l, "wallTimeMs",
			       json_object_new_int64(s->lim.wall_time_ms));
	json_object_object_add(l, "tmpfsBytes",
			       json_object_new_int64(s->lim.tmpfs_bytes));
	json_object_object_add(o, "limits", l);
	if (s->nvolumes > 0) {
		json_object_object_add(o, "volumes", volumes_json(s));
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* Create */

static json_object *read_json(struct sreq *r, int64_t max,
			      struct isobox_err *err)
{
	json_object *o;

	if (http_read_body(r->req, max, err) < 0) {
		return NULL;
	}
	if (r->req->body.len == 0) {
		return json_object_new_object();
	}
	o = request_json_parse(r->req->body.p, r->req->body.len, err);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		err_set(err, 400, "invalid_json", "the body must be an object");
		return NULL;
	}
	return o;
}

static int get_i64(json_object *o, const char *k, int64_t *out,
		   struct isobox_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL) {
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double)) {
		return err_set(err, 400, "invalid_ttl",
			       "'%s' must be a number of seconds", k);
	}
	*out = json_object_get_int64(v);
	return 1;
}

/* The limits object of a create body, like /execute's. */
static int parse_limits(json_object *o, struct limits_partial *p,
			struct isobox_err *err)
{
	json_object *l;

	memset(p, 0, sizeof(*p));
	if (!json_object_object_get_ex(o, "limits", &l) || l == NULL) {
		return 0;
	}
	if (!json_object_is_type(l, json_type_object)) {
		return err_set(err, 400, "invalid_field",
			       "'limits' must be an object");
	}
	json_object_object_foreach (l, k, v) {
		unsigned bit = limits_field(k);

		if (bit == 0 ||
		    (!json_object_is_type(v, json_type_int) &&
		     !json_object_is_type(v, json_type_double)) ||
		    limits_set(p, bit, json_object_get_double(v)) < 0) {
			return err_set(err, 400, "invalid_field",
				       "limits.%s is not a known limit with a "
				       "non-negative number",
				       k);
		}
	}
	return 0;
}

static const char *get_str(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		return NULL;
	}
	return json_object_get_string(v);
}

/* The seed's "volumeId" (read-write at /memory) and "volumes": [{id,
 * mountPath, mode: "rw"|"ro"}] into vols (the paths are checked by
 * session_create). */
static int parse_volumes(json_object *body, struct volume_mount *vols,
			 struct session_new *nr, struct isobox_err *err)
{
	const char *vid = get_str(body, "volumeId");
	json_object *a;
	size_t i;
	int n = 0;

	if (vid && vid[0]) {
		memset(&vols[0], 0, sizeof(vols[0]));
		snprintf(vols[0].id, sizeof(vols[0].id), "%s", vid);
		snprintf(vols[0].target, sizeof(vols[0].target), "/memory");
		n = 1;
	}
	if (json_object_object_get_ex(body, "volumes", &a) && a != NULL) {
		if (!json_object_is_type(a, json_type_array)) {
			return err_set(err, 400, "invalid_request",
				       "'volumes' must be an array of {id, "
				       "mountPath, mode}");
		}
		for (i = 0; i < json_object_array_length(a); i++) {
			json_object *o = json_object_array_get_idx(a, i);
			const char *id = get_str(o, "id");
			const char *mp = get_str(o, "mountPath");
			const char *mode = get_str(o, "mode");

			if (n >= SESSION_VOLUMES_MAX) {
				return err_set(err, 400, "invalid_request",
					       "a session attaches at most %d "
					       "volumes",
					       SESSION_VOLUMES_MAX);
			}
			if (!json_object_is_type(o, json_type_object) ||
			    id == NULL || mp == NULL ||
			    strlen(id) >= sizeof(vols[0].id) ||
			    strlen(mp) >= sizeof(vols[0].target) ||
			    (mode && strcmp(mode, "rw") != 0 &&
			     strcmp(mode, "ro") != 0)) {
				return err_set(err, 400, "invalid_request",
					       "volumes[%zu] needs \"id\", "
					       "\"mountPath\" and \"mode\" "
					       "\"rw\" or \"ro\"",
					       i);
			}
			memset(&vols[n], 0, sizeof(vols[n]));
			snprintf(vols[n].id, sizeof(vols[n].id), "%s", id);
			snprintf(vols[n].target, sizeof(vols[n].target), "%s",
				 mp);
			vols[n].read_only = mode && strcmp(mode, "ro") == 0;
			n++;
		}
	}
	nr->volumes = vols;
	nr->nvolumes = n;
	return 0;
}

/* See api.h. */
int api_session_body_parse(json_object *body, struct api_session_body *b,
			   struct isobox_err *err)
{
	json_object *v;

	memset(b, 0, sizeof(*b));
	b->runtime = get_str(body, "runtime");
	if (b->runtime == NULL) {
		b->runtime = get_str(body, "language");
	}
	if (b->runtime == NULL || b->runtime[0] == '\0') {
		return err_set(err, 400, "runtime_required",
			       "'runtime' is required: see GET /runtimes");
	}
	b->version = get_str(body, "version");
	b->nr.type = session_type_parse(get_str(body, "type"));
	if (b->nr.type < 0) {
		return err_set(err, 400, "invalid_field",
			       "'type' is \"filesystem\" or \"kernel\"");
	}
	if (parse_volumes(body, b->vols, &b->nr, err) < 0 ||
	    get_i64(body, "ttlSec", &b->nr.ttl_sec, err) < 0 ||
	    parse_limits(body, &b->lp, err) < 0) {
		return -1;
	}
	b->nr.limits = &b->lp;
	if (json_object_object_get_ex(body, "network", &v) &&
	    json_object_is_type(v, json_type_boolean)) {
		b->nr.network = json_object_get_boolean(v);
	}
	return 0;
}

static void create(struct sreq *r)
{
	struct isobox_err err;
	struct registry *reg = NULL;
	struct api_session_body b;
	struct session s;
	char tok[SESSION_TOKEN_SIZE];
	json_object *body;
	json_object *out;

	memset(&err, 0, sizeof(err));
	body = read_json(r, CREATE_BODY_MAX, &err);
	if (body == NULL) {
		send_error(r->req, &err);
		return;
	}
	if (api_session_body_parse(body, &b, &err) < 0) {
		goto fail;
	}
	reg = registry_get();
	if (reg == NULL) {
		err_set(&err, 503, "registry_unavailable",
			"no language catalogue is loaded");
		goto fail;
	}
	b.nr.lang = registry_find(reg, b.runtime, b.version, &err);
	if (b.nr.lang == NULL) {
		goto fail;
	}
	b.nr.tenant = &r->req->tenant;
	b.nr.reg = reg;
	snprintf(r->req->language, sizeof(r->req->language), "%s",
		 b.nr.lang->name);
	if (session_create(r->svc, &b.nr, &s, tok, &err) < 0) {
		goto fail;
	}
	out = api_session_json(r->svc, &s);
	json_object_object_add(out, "token", json_object_new_string(tok));
	http_send_json(r->req, 201, out, NULL);
	json_object_put(out);
	explicit_bzero(tok, sizeof(tok));
	if (!s.container[0]) { /* else a warm sandbox was adopted */
		session_prestart(r->svc, s.id);
	}
	json_object_put(body);
	registry_put(reg);
	return;
fail:
	json_object_put(body);
	registry_put(reg);
	send_error(r->req, &err);
}

/* ------------------------------------------------------------------ */
/* Steps (the output renderers are api_util.c's, shared with /execute) */

/* A kernel step's "kernel" object: the guest's verdict (count,
 * interrupted, restarted) and the interpreter's MIME bundles, in order.
 * A bundle that is not a JSON object (user code in the interpreter may
 * garble its own step's frames) is left out. With sse, each bundle also
 * goes out as a display / result / exception event. */
json_object *api_kernel_json(struct http_req *req, const struct exec_run *run,
			     int restarted)
{
	const struct sandbox_result *res = &run->res;
	json_object *k = json_object_new_object();
	json_object *results = json_object_new_array();
	json_object *error = NULL;
	const uint8_t *p;
	size_t off = 0;
	size_t n;
	int kind;

	while (relay_display_next(res, &off, &kind, &p, &n)) {
		struct isobox_err perr;
		json_object *b = request_json_parse((const char *)p, n, &perr);
		const char *ev = kind == WIRE_DISPLAY_RESULT  ? "result"
				 : kind == WIRE_DISPLAY_ERROR ? "exception"
							      : "display";
		json_object *o;
		json_object *v;

		if (b == NULL || !json_object_is_type(b, json_type_object)) {
			json_object_put(b);
			continue;
		}
		if (kind == WIRE_DISPLAY_ERROR) {
			json_object_put(error);
			error = json_object_new_object();
			json_object_object_add(
			    error, "name",
			    json_object_get(
				json_object_object_get(b, "ename")));
			json_object_object_add(
			    error, "value",
			    json_object_get(
				json_object_object_get(b, "evalue")));
			json_object_object_add(
			    error, "traceback",
			    json_object_get(
				json_object_object_get(b, "traceback")));
			o = error;
		} else {
			o = json_object_new_object();
			v = json_object_object_get(b, "data");
			json_object_object_add(
			    o, "data",
			    json_object_is_type(v, json_type_object)
				? json_object_get(v)
				: json_object_new_object());
			v = json_object_object_get(b, "metadata");
			json_object_object_add(
			    o, "metadata",
			    json_object_is_type(v, json_type_object)
				? json_object_get(v)
				: json_object_new_object());
			json_object_object_add(
			    o, "isMainResult",
			    json_object_new_boolean(kind ==
						    WIRE_DISPLAY_RESULT));
			json_object_array_add(results, o);
		}
		if (req->sse) {
			http_sse_event(req, ev,
				       json_object_to_json_string_ext(
					   o, JSON_C_TO_STRING_PLAIN));
		}
		json_object_put(b);
	}
	json_object_object_add(k, "executionCount",
			       json_object_new_int64(res->run.kernel_count));
	json_object_object_add(k, "results", results);
	json_object_object_add(k, "error", error);
	json_object_object_add(
	    k, "interrupted",
	    json_object_new_boolean(res->run.kernel_interrupted));
	json_object_object_add(
	    k, "restarted",
	    json_object_new_boolean(res->run.kernel_restarted || restarted));
	return k;
}

static void exec_step(struct sreq *r)
{
	struct isobox_err err;
	struct exec_request er;
	struct registry *reg = NULL;
	const struct lang *lang = NULL;
	struct api_stream st;
	struct exec_ctx x;
	struct exec_run *run = NULL;
	json_object *body;
	json_object *out = NULL;
	int restarted = 0;
	int rc;

	memset(&er, 0, sizeof(er));
	memset(&err, 0, sizeof(err));
	if (!api_is_json(r->req->content_type)) {
		http_drain_body(r->req);
		http_send_err(r->req, 415, "unsupported_media_type",
			      "send the request as application/json");
		return;
	}
	body = read_json(r, r->svc->cfg.max_body_bytes, &err);
	if (body == NULL) {
		send_error(r->req, &err);
		return;
	}
	/* The session's runtime runs the step: "language" is ignored. */
	json_object_object_add(body, "language",
			       json_object_new_string("session"));
	json_object_object_del(body, "version");
	{
		size_t n = 0;
		const char *s = json_object_to_json_string_length(
		    body, JSON_C_TO_STRING_PLAIN, &n);

		rc = request_parse(s, n, r->svc->cfg.max_files, &er, &err);
	}
	json_object_put(body);
	if (rc < 0) {
		send_error(r->req, &err);
		return;
	}
	reg = registry_get();
	api_stream_init(&st, r->req);
	api_exec_ctx(r->req, &x);
	x.ctx = &st;
	x.cancelled = api_stream_cancelled;
	x.on_output = api_stream_output;
	x.on_admitted = api_stream_admitted;
	rc = session_exec(r->svc, &x, reg, r->id, r->tok, &er, &lang, &run,
			  &restarted, &err);
	if (lang) {
		snprintf(r->req->language, sizeof(r->req->language), "%s",
			 lang->name);
	}
	if (rc < 0) {
		if (err.status != 499) {
			send_error(r->req, &err);
		}
	} else {
		out = api_result_json(lang, run);
		json_object_object_add(out, "sandboxRestarted",
				       json_object_new_boolean(restarted));
		if (run->res.kernel) {
			json_object_object_add(
			    out, "kernel",
			    api_kernel_json(r->req, run, restarted));
		}
		if (r->req->sse) {
			http_sse_event(r->req, "done",
				       json_object_to_json_string_ext(
					   out, JSON_C_TO_STRING_PLAIN));
		} else {
			http_send_json(r->req, 200, out, NULL);
		}
	}
	api_exec_done(r->req, rc, &err, run);
	json_object_put(out);
	registry_put(reg);
	request_free(&er);
}

/* ------------------------------------------------------------------ */
/* Files: the HTTP side is api_fs.c's, shared with volumes. */

static int sfs_get(void *ctx, const char *path, size_t n,
		   struct session_get_cb *cb, struct isobox_err *err)
{
	struct session_fs f = *(const struct session_fs *)ctx;

	f.path = path;
	f.path_len = n;
	return session_fs_get(&f, cb, err);
}

static int sfs_put(void *ctx, const char *path, size_t n, int64_t max,
		   ssize_t (*src)(void *ctx, char *buf, size_t cap),
		   void *src_ctx, int64_t *bytes, char sha256[65],
		   struct isobox_err *err)
{
	struct session_fs f = *(const struct session_fs *)ctx;

	f.path = path;
	f.path_len = n;
	return session_fs_put(&f, max, src, src_ctx, bytes, sha256, err);
}

static int sfs_del(void *ctx, const char *path, size_t n,
		   struct isobox_err *err)
{
	struct session_fs f = *(const struct session_fs *)ctx;

	f.path = path;
	f.path_len = n;
	return session_fs_delete(&f, err);
}

static void files(struct sreq *r)
{
	struct session_fs f;
	struct api_fs_target t;

	memset(&f, 0, sizeof(f));
	f.svc = r->svc;
	f.tenant = &r->req->tenant;
	f.id = r->id;
	f.tok = r->tok;
	t.ctx = &f;
	t.root_name = "/workspace";
	t.get = sfs_get;
	t.put = sfs_put;
	t.del = sfs_del;
	api_fs_serve(r->svc, r->req, &t);
}

/* ------------------------------------------------------------------ */
/* Handlers */

static int list_one(const struct session *s, void *p)
{
	struct api_list *l = p;

	return api_list_add(l, api_session_json(l->svc, s));
}

void api_session_get(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct session s;
	struct sreq r;

	memset(&err, 0, sizeof(err));
	parse(svc, req, &r);
	if (r.bad) {
		no_route(req);
	} else if (r.id[0] == '\0') {
		struct api_list l;
		int rc;

		api_list_init(&l, svc);
		rc = session_list(svc, &req->tenant, list_one, &l, &err);
		api_list_send(&l, req, "sessions", rc, &err, send_error);
	} else if (strcmp(r.sub, "fs") == 0) {
		files(&r);
	} else if (r.sub[0] != '\0') {
		no_route(req);
	} else if (session_get(svc, &req->tenant, r.id, r.tok, &s, &err) < 0) {
		send_error(req, &err);
	} else {
		json_object *o = api_session_json(svc, &s);

		http_send_json(req, 200, o, NULL);
		json_object_put(o);
	}
}

void api_session_post(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct sreq r;

	memset(&err, 0, sizeof(err));
	parse(svc, req, &r);
	if (r.bad || (r.id[0] && r.sub[0] == '\0') ||
	    strcmp(r.sub, "fs") == 0) {
		no_route(req);
	} else if (r.id[0] == '\0') {
		create(&r);
	} else if (strcmp(r.sub, "exec") == 0) {
		exec_step(&r);
	} else if (strcmp(r.sub, "restart") == 0) {
		struct registry *reg = registry_get();

		http_drain_body(req);
		if (session_kernel_restart(svc, &req->tenant, reg, r.id, r.tok,
					   &err) < 0) {
			send_error(req, &err);
		} else {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "restarted",
					       json_object_new_boolean(1));
			http_send_json(req, 200, o, NULL);
			json_object_put(o);
		}
		registry_put(reg);
	} else if (strcmp(r.sub, "interrupt") == 0) {
		http_drain_body(req);
		if (session_interrupt(svc, &req->tenant, r.id, r.tok, &err) <
		    0) {
			send_error(req, &err);
		} else {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "interrupted",
					       json_object_new_boolean(1));
			http_send_json(req, 202, o, NULL);
			json_object_put(o);
		}
	} else {
		struct session s;
		char tok[SESSION_TOKEN_SIZE];
		json_object *o;

		http_drain_body(req);
		if (session_fork(svc, &req->tenant, r.id, r.tok, &s, tok,
				 &err) < 0) {
			send_error(req, &err);
			return;
		}
		o = api_session_json(svc, &s);
		json_object_object_add(o, "token", json_object_new_string(tok));
		json_object_object_add(o, "forkedFrom",
				       json_object_new_string(r.id));
		http_send_json(req, 201, o, NULL);
		json_object_put(o);
		explicit_bzero(tok, sizeof(tok));
		session_prestart(svc, s.id);
	}
}

void api_session_put(struct service *svc, struct http_req *req)
{
	struct sreq r;

	parse(svc, req, &r);
	if (r.bad || strcmp(r.sub, "fs") != 0) {
		no_route(req);
		return;
	}
	files(&r);
}

void api_session_patch(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct session s;
	struct sreq r;
	json_object *body;
	json_object *o;
	int64_t ttl = 0;

	memset(&err, 0, sizeof(err));
	parse(svc, req, &r);
	if (r.bad || r.id[0] == '\0' || r.sub[0] != '\0') {
		no_route(req);
		return;
	}
	body = read_json(&r, PATCH_BODY_MAX, &err);
	if (body == NULL) {
		send_error(req, &err);
		return;
	}
	if (get_i64(body, "ttlSec", &ttl, &err) <= 0) {
		if (err.status == 0) {
			err_set(&err, 400, "invalid_ttl",
				"send {\"ttlSec\": seconds}");
		}
		json_object_put(body);
		send_error(req, &err);
		return;
	}
	json_object_put(body);
	if (session_extend(svc, &req->tenant, r.id, r.tok, ttl, &s, &err) < 0) {
		send_error(req, &err);
		return;
	}
	o = api_session_json(svc, &s);
	http_send_json(req, 200, o, NULL);
	json_object_put(o);
}

void api_session_delete(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct sreq r;

	memset(&err, 0, sizeof(err));
	parse(svc, req, &r);
	if (r.bad || r.id[0] == '\0' ||
	    (r.sub[0] != '\0' && strcmp(r.sub, "fs") != 0)) {
		no_route(req);
	} else if (strcmp(r.sub, "fs") == 0) {
		files(&r);
	} else if (session_delete(svc, &req->tenant, r.id, r.tok, &err) < 0) {
		send_error(req, &err);
	} else {
		http_send_text(req, 204, "application/json", "", 0, NULL);
	}
}
