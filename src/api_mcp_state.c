/* api_mcp_state.c - the MCP server's state tools: sessions (create, exec,
 * list, close), their files (list, read, write) and memory (get, put with
 * compare-and-set and TTL, list, delete). Each tool calls the same module
 * functions the HTTP handlers call (session.h, kv.h), for the caller's
 * tenant (the API key's), so an MCP session is an ordinary session: it is
 * listed by GET /v1/sessions, expires like any other and needs its token.
 *
 * Every tool's input schema is generated from one table of its arguments,
 * and the same table checks the arguments before the call: a call that
 * does not fit is a JSON-RPC -32602; a call that fits but fails (unknown
 * session, wrong token, quota, ...) is a tool result with isError and the
 * server's error code, which a model can read and act on. A kernel
 * session's step adds its results: text for the model, and each image
 * (a matplotlib plot) as MCP image content beside it. Session objects are
 * the HTTP API's (api_session_json), kernel objects too (api_kernel_json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_mcp.h"
#include "bstore.h"
#include "fsapi.h"
#include "kv.h"
#include "session.h"

/* file_read answers at most this many bytes (larger files: the HTTP file
 * API, which streams). */
#define MCP_READ_MAX (1024 * 1024)
/* memory TTLs, as X-TTL-Seconds (ten years). */
#define MCP_TTL_MAX (10LL * 366 * 86400)

/* One argument of a tool. type: a JSON Schema type, or "strings" (an array
 * of strings) or "files" (an array of /execute file objects). */
struct targ {
	const char *name;
	const char *type;
	int required;
	const char *desc;
};

struct tool {
	const char *name;
	const char *title;
	const char *desc;
	int read_only;
	int destructive;
	const struct targ *args; /* ends with a NULL name */
	json_object *(*fn)(struct mcp *m, json_object *args);
};

/* ------------------------------------------------------------------ */
/* Arguments */

static const char *sarg(json_object *a, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(a, k, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		return NULL;
	}
	return json_object_get_string(v);
}

static int has(json_object *a, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(a, k, &v) &&
	       !json_object_is_type(v, json_type_null);
}

static int type_fits(json_object *v, const char *type)
{
	size_t i;
	size_t n;

	if (strcmp(type, "string") == 0) {
		return json_object_is_type(v, json_type_string);
	}
	if (strcmp(type, "integer") == 0) {
		return json_object_is_type(v, json_type_int);
	}
	if (strcmp(type, "boolean") == 0) {
		return json_object_is_type(v, json_type_boolean);
	}
	if (strcmp(type, "object") == 0) {
		return json_object_is_type(v, json_type_object);
	}
	if (!json_object_is_type(v, json_type_array)) {
		return 0;
	}
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(v, i);

		if (strcmp(type, "strings") == 0
			? !json_object_is_type(e, json_type_string)
			: !json_object_is_type(e, json_type_object)) {
			return 0;
		}
	}
	return 1;
}

/* NULL when args fit t's table, else a sentence (thread-local). */
static const char *check_args(const struct tool *t, json_object *args)
{
	static __thread char why[200];
	const struct targ *a;

	json_object_object_foreach (args, key, val) {
		for (a = t->args; a->name; a++) {
			if (strcmp(a->name, key) == 0) {
				break;
			}
		}
		if (a->name == NULL) {
			snprintf(why, sizeof(why),
				 "%s takes no argument '%.60s'", t->name, key);
			return why;
		}
		if (json_object_is_type(val, json_type_null) && !a->required) {
			continue;
		}
		if (!type_fits(val, a->type)) {
			snprintf(
			    why, sizeof(why), "'%s' must be %s", a->name,
			    strcmp(a->type, "strings") == 0
				? "an array of strings"
			    : strcmp(a->type, "files") == 0
				? "an array of file objects"
			    : strcmp(a->type, "integer") == 0 ? "an integer"
			    : strcmp(a->type, "object") == 0  ? "an object"
			    : strcmp(a->type, "boolean") == 0 ? "a boolean"
							      : "a string");
			return why;
		}
	}
	for (a = t->args; a->name; a++) {
		if (a->required && !has(args, a->name)) {
			snprintf(why, sizeof(why), "%s needs '%s'", t->name,
				 a->name);
			return why;
		}
	}
	return NULL;
}

static json_object *input_schema(const struct tool *t)
{
	json_object *s = json_object_new_object();
	json_object *props = json_object_new_object();
	json_object *req = json_object_new_array();
	const struct targ *a;

	json_object_object_add(s, "type", json_object_new_string("object"));
	for (a = t->args; a->name; a++) {
		json_object *p = json_object_new_object();

		if (strcmp(a->type, "strings") == 0 ||
		    strcmp(a->type, "files") == 0) {
			json_object *it = json_object_new_object();

			json_object_object_add(p, "type",
					       json_object_new_string("array"));
			json_object_object_add(
			    it, "type",
			    json_object_new_string(
				strcmp(a->type, "strings") == 0 ? "string"
								: "object"));
			json_object_object_add(p, "items", it);
		} else {
			json_object_object_add(p, "type",
					       json_object_new_string(a->type));
		}
		json_object_object_add(p, "description",
				       json_object_new_string(a->desc));
		json_object_object_add(props, a->name, p);
		if (a->required) {
			json_object_array_add(req,
					      json_object_new_string(a->name));
		}
	}
	json_object_object_add(s, "properties", props);
	json_object_object_add(s, "required", req);
	json_object_object_add(s, "additionalProperties",
			       json_object_new_boolean(0));
	return s;
}

/* ------------------------------------------------------------------ */
/* Sessions */

/* The HTTP API's session object (api_session_json), plus "sessionId" (the
 * name every session tool's arguments use). */
static json_object *session_obj(struct service *svc, const struct session *s)
{
	json_object *o = api_session_json(svc, s);

	json_object_object_add(o, "sessionId", json_object_new_string(s->id));
	return o;
}

static void session_line(struct buf *b, const struct session *s)
{
	char exp[40];
	json_object *t = api_time_json(s->expires_ms);

	snprintf(exp, sizeof(exp), "%s", json_object_get_string(t));
	json_object_put(t);
	buf_addf(b, "- %s: %s %s, %s, %lld steps, expires %s (%lld s idle)\n",
		 s->id, s->runtime, s->version,
		 session_state_name(session_state_of(s)), (long long)s->steps,
		 exp, (long long)s->ttl_sec);
}

static json_object *t_session_create(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	struct registry *reg = registry_get();
	struct session_new nr;
	struct limits_partial lp;
	struct session s;
	char tok[SESSION_TOKEN_SIZE];
	json_object *l;
	json_object *sc;
	json_object *res;
	struct buf b = {0};

	memset(&err, 0, sizeof(err));
	memset(&nr, 0, sizeof(nr));
	memset(&lp, 0, sizeof(lp));
	if (reg == NULL) {
		err_set(&err, 503, "registry_unavailable",
			"no language catalogue is loaded");
		return mcp_tool_error(m, &err);
	}
	nr.lang = registry_find(reg, sarg(args, "runtime"),
				sarg(args, "version"), &err);
	if (nr.lang == NULL) {
		goto fail;
	}
	if (json_object_object_get_ex(args, "limits", &l) &&
	    json_object_is_type(l, json_type_object)) {
		json_object_object_foreach (l, k, v) {
			unsigned bit = limits_field(k);

			if (bit == 0 ||
			    (!json_object_is_type(v, json_type_int) &&
			     !json_object_is_type(v, json_type_double)) ||
			    limits_set(&lp, bit, json_object_get_double(v)) <
				0) {
				err_set(&err, 400, "invalid_field",
					"limits.%.60s is not a known limit "
					"with a non-negative number",
					k);
				goto fail;
			}
		}
	}
	if (has(args, "ttlSec")) {
		nr.ttl_sec = json_object_get_int64(
		    json_object_object_get(args, "ttlSec"));
	}
	nr.type = session_type_parse(sarg(args, "type"));
	if (nr.type < 0) {
		err_set(&err, 400, "invalid_field",
			"'type' is \"filesystem\" or \"kernel\"");
		goto fail;
	}
	nr.tenant = &m->req->tenant;
	nr.reg = reg;
	nr.limits = &lp;
	snprintf(m->req->language, sizeof(m->req->language), "%s",
		 nr.lang->name);
	if (session_create(m->svc, &nr, &s, tok, &err) < 0) {
		goto fail;
	}
	if (!s.container[0]) { /* else a warm sandbox was adopted */
		session_prestart(m->svc, s.id);
	}
	sc = session_obj(m->svc, &s);
	json_object_object_add(sc, "token", json_object_new_string(tok));
	if (nr.type == SESSION_KERNEL) {
		buf_adds(&b, "A kernel session: one interpreter lives across "
			     "session_exec calls (variables and imports "
			     "persist); each step answers the last "
			     "expression's value, and plots as images.\n");
	}
	buf_addf(&b,
		 "Created session %s (%s %s, working directory /workspace). "
		 "Pass sessionId \"%s\" and token \"%s\" to session_exec, "
		 "file_write, file_read, session_files_list and "
		 "session_close. It expires after %lld s without a call; "
		 "close it when done.\n",
		 s.id, s.runtime, s.version, s.id, tok, (long long)s.ttl_sec);
	explicit_bzero(tok, sizeof(tok));
	res = mcp_tool_result(b.p, sc, 0);
	explicit_bzero(b.p, b.len);
	buf_free(&b);
	registry_put(reg);
	return res;
fail:
	registry_put(reg);
	return mcp_tool_error(m, &err);
}

/* The MIME types a kernel result may carry that go to the model as MCP
 * image content (base64 already, as the HTTP API has them). */
static const char *const image_types[] = {"image/png", "image/jpeg",
					  "image/gif", "image/webp"};

static const char *bundle_str(json_object *data, const char *mime)
{
	json_object *v;

	if (!json_object_object_get_ex(data, mime, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		return NULL;
	}
	return json_object_get_string(v);
}

/* A kernel step for a model to read, after the streams: the last
 * expression's value (Out[n]), other displays as text, a line per image
 * (which follows as image content), the error. k: api_kernel_json's. */
static void kernel_text(struct buf *b, json_object *k)
{
	json_object *rs = json_object_object_get(k, "results");
	json_object *e = json_object_object_get(k, "error");
	int64_t count =
	    json_object_get_int64(json_object_object_get(k, "executionCount"));
	size_t i;
	size_t j;
	int img = 0;

	if (json_object_get_boolean(json_object_object_get(k, "restarted"))) {
		buf_adds(b, "(The interpreter was started again: variables "
			    "and imports from earlier steps are gone.)\n");
	}
	if (json_object_get_boolean(json_object_object_get(k, "interrupted"))) {
		buf_adds(b,
			 "(The step was interrupted; variables are kept.)\n");
	}
	for (i = 0; rs && i < json_object_array_length(rs); i++) {
		json_object *r = json_object_array_get_idx(rs, i);
		json_object *data = json_object_object_get(r, "data");
		const char *plain = bundle_str(data, "text/plain");
		int main_result = json_object_get_boolean(
		    json_object_object_get(r, "isMainResult"));
		const char *image = NULL;

		for (j = 0; j < sizeof(image_types) / sizeof(image_types[0]);
		     j++) {
			if (bundle_str(data, image_types[j])) {
				image = image_types[j];
				break;
			}
		}
		if (image) {
			buf_addf(b, "[image %d: %s%s%s, attached]\n", ++img,
				 image, plain ? ", " : "", plain ? plain : "");
		} else if (main_result) {
			buf_addf(b, "Out[%lld]: %s\n", (long long)count,
				 plain ? plain : "(no text/plain form)");
		} else if (plain) {
			buf_addf(b, "Display: %s\n", plain);
		} else if (json_object_get_type(data) == json_type_object) {
			buf_adds(b, "Display (no text form):");
			json_object_object_foreach (data, mime, v) {
				(void)v;
				buf_addf(b, " %s", mime);
			}
			buf_adds(b, "\n");
		}
	}
	if (e && json_object_is_type(e, json_type_object)) {
		buf_addf(
		    b, "Error: %s: %s\n",
		    json_object_get_string(json_object_object_get(e, "name")),
		    json_object_get_string(json_object_object_get(e, "value")));
	}
}

/* Append each image result of kernel object k to tool result res's
 * content as {type: "image", data, mimeType}, in order, so a model sees a
 * plot beside the text. */
static void kernel_images(json_object *res, json_object *k)
{
	json_object *content = json_object_object_get(res, "content");
	json_object *rs = json_object_object_get(k, "results");
	size_t i;
	size_t j;

	for (i = 0; rs && i < json_object_array_length(rs); i++) {
		json_object *data = json_object_object_get(
		    json_object_array_get_idx(rs, i), "data");

		for (j = 0; j < sizeof(image_types) / sizeof(image_types[0]);
		     j++) {
			const char *b64 = bundle_str(data, image_types[j]);
			json_object *c;

			if (b64 == NULL) {
				continue;
			}
			c = json_object_new_object();
			json_object_object_add(c, "type",
					       json_object_new_string("image"));
			json_object_object_add(c, "data",
					       json_object_new_string(b64));
			json_object_object_add(
			    c, "mimeType",
			    json_object_new_string(image_types[j]));
			json_object_array_add(content, c);
			break;
		}
	}
}

static json_object *t_session_exec(struct mcp *m, json_object *args)
{
	static const char *const pass[] = {"code", "files", "stdin", "args",
					   "limits"};
	struct isobox_err err;
	struct exec_request er;
	struct registry *reg = NULL;
	const struct lang *lang = NULL;
	struct exec_ctx x;
	struct exec_run *run = NULL;
	json_object *body;
	json_object *res = NULL;
	const char *s;
	size_t i;
	size_t n = 0;
	int restarted = 0;
	int rc = -1;

	memset(&er, 0, sizeof(er));
	memset(&err, 0, sizeof(err));
	if (!has(args, "code") && !has(args, "files")) {
		err_set(&err, 400, "code_required",
			"give the step's program as 'code' (or 'files')");
		return mcp_tool_error(m, &err);
	}
	if (++m->runs > MCP_MAX_RUNS) {
		err_set(&err, 429, "too_many_runs",
			"a batch may start at most %d runs; send the other "
			"calls in another request",
			MCP_MAX_RUNS);
		return mcp_tool_error(m, &err);
	}
	/* The step's body is an /execute body; the session's runtime runs
	 * it, whatever "language" says (as POST .../exec). */
	body = json_object_new_object();
	json_object_object_add(body, "language",
			       json_object_new_string("session"));
	for (i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		json_object *v;

		if (json_object_object_get_ex(args, pass[i], &v) && v) {
			json_object_object_add(body, pass[i],
					       json_object_get(v));
		}
	}
	s = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN, &n);
	rc = request_parse(s, n, m->svc->cfg.max_files, &er, &err);
	json_object_put(body);
	if (rc < 0) {
		res = mcp_tool_error(m, &err);
		goto out;
	}
	reg = registry_get();
	api_exec_ctx(m->req, &x);
	rc = session_exec(m->svc, &x, reg, sarg(args, "sessionId"),
			  sarg(args, "token"), &er, &lang, &run, &restarted,
			  &err);
	if (lang) {
		snprintf(m->req->language, sizeof(m->req->language), "%s",
			 lang->name);
	}
	if (rc < 0) {
		if (err.status == 499) {
			m->gone = 1;
		} else {
			res = mcp_tool_error(m, &err);
		}
		goto out;
	}
	{
		char *text = mcp_result_text(lang, run);
		json_object *sc = api_result_json(lang, run);
		struct buf b = {0};

		if (restarted) {
			buf_adds(&b,
				 "(The session's sandbox was started again: "
				 "files in /workspace were kept, "
				 "processes and /tmp were not.)\n");
		}
		buf_adds(&b, text);
		free(text);
		json_object_object_add(sc, "sandboxRestarted",
				       json_object_new_boolean(restarted));
		if (run->res.kernel) {
			json_object *k =
			    api_kernel_json(m->req, run, restarted);

			kernel_text(&b, k);
			json_object_object_add(sc, "kernel", k);
		}
		res = mcp_tool_result(b.p, sc, 0);
		if (run->res.kernel) {
			kernel_images(res,
				      json_object_object_get(sc, "kernel"));
		}
		buf_free(&b);
	}
out:
	api_exec_done(m->req, rc, &err, run);
	registry_put(reg);
	request_free(&er);
	return res;
}

struct list_ctx {
	struct service *svc;
	json_object *a;
	struct buf b;
};

static int list_one(const struct session *s, void *p)
{
	struct list_ctx *c = p;

	json_object_array_add(c->a, session_obj(c->svc, s));
	session_line(&c->b, s);
	return 0;
}

static json_object *t_session_list(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	struct list_ctx c;
	json_object *sc;
	json_object *res;

	(void)args;
	memset(&err, 0, sizeof(err));
	memset(&c, 0, sizeof(c));
	c.svc = m->svc;
	c.a = json_object_new_array();
	buf_adds(&c.b, "");
	if (session_list(m->svc, &m->req->tenant, list_one, &c, &err) < 0) {
		json_object_put(c.a);
		buf_free(&c.b);
		return mcp_tool_error(m, &err);
	}
	if (json_object_array_length(c.a) == 0) {
		buf_adds(&c.b, "No open sessions.\n");
	}
	sc = json_object_new_object();
	json_object_object_add(sc, "sessions", c.a);
	res = mcp_tool_result(c.b.p, sc, 0);
	buf_free(&c.b);
	return res;
}

static json_object *t_session_close(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	const char *id = sarg(args, "sessionId");
	json_object *sc;
	char text[120];

	memset(&err, 0, sizeof(err));
	if (session_delete(m->svc, &m->req->tenant, id, sarg(args, "token"),
			   &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	snprintf(text, sizeof(text),
		 "Closed session %.40s: its sandbox and files are gone.", id);
	sc = json_object_new_object();
	json_object_object_add(sc, "sessionId", json_object_new_string(id));
	json_object_object_add(sc, "closed", json_object_new_boolean(1));
	return mcp_tool_result(text, sc, 0);
}

/* ------------------------------------------------------------------ */
/* Files */

/* The session and path of a file tool; path NULL is the root. */
static int fs_target(struct mcp *m, json_object *args, const char *path,
		     int allow_root, struct session_fs *f,
		     struct isobox_err *err)
{
	memset(f, 0, sizeof(*f));
	if (path == NULL) {
		path = "";
	}
	f->svc = m->svc;
	f->tenant = &m->req->tenant;
	f->id = sarg(args, "sessionId");
	f->tok = sarg(args, "token");
	f->path = path;
	f->path_len = strlen(path);
	if (f->path_len > FSAPI_PATH_MAX) {
		return err_set(err, 400, "invalid_path",
			       "the path is too long");
	}
	return fsapi_path_check(path, f->path_len, allow_root, err);
}

struct rd {
	json_object *entries;
	struct buf text;
	struct buf data;
	int64_t size;
	int too_big;
	int stat_only; /* a file is described, not read */
};

static int rd_entry(void *ctx, const struct session_fent *e)
{
	struct rd *r = ctx;
	json_object *o = json_object_new_object();
	const char *type = fsapi_type_name((enum fsapi_type)e->type);
	json_object *name = api_json_bytes(e->name, e->name_len);

	json_object_object_add(o, "name", json_object_get(name));
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "size", json_object_new_int64(e->size));
	json_object_object_add(o, "modTime", api_time_json(e->mtime_ms));
	json_object_array_add(r->entries, o);
	buf_addf(&r->text, "- %s%s (%s, %lld bytes)\n",
		 json_object_get_string(name), e->type == FSAPI_DIR ? "/" : "",
		 type, (long long)e->size);
	json_object_put(name);
	return 0;
}

static int rd_file(void *ctx, const struct session_fent *st, int64_t off,
		   int64_t len)
{
	struct rd *r = ctx;

	(void)off;
	(void)len;
	r->size = st->size;
	if (r->stat_only) {
		return 1;
	}
	if (st->size > MCP_READ_MAX) {
		r->too_big = 1;
		return 1;
	}
	return 0;
}

static int rd_data(void *ctx, const char *p, size_t n)
{
	struct rd *r = ctx;

	buf_add(&r->data, p, n);
	return 0;
}

static json_object *t_files_list(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	struct session_fs f;
	struct session_get_cb cb;
	struct rd r;
	json_object *sc;
	json_object *res;
	const char *path = sarg(args, "path");

	memset(&err, 0, sizeof(err));
	memset(&cb, 0, sizeof(cb));
	memset(&r, 0, sizeof(r));
	if (fs_target(m, args, path, 1, &f, &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	r.entries = json_object_new_array();
	buf_addf(&r.text, "/workspace/%s:\n", f.path);
	cb.ctx = &r;
	cb.length = -1;
	cb.on_entry = rd_entry;
	cb.on_file = rd_file;
	cb.on_data = rd_data;
	r.stat_only = 1;
	if (session_fs_get(&f, &cb, &err) < 0) {
		res = mcp_tool_error(m, &err);
		goto out;
	}
	if (!cb.is_dir) {
		err_set(&err, 400, "not_a_directory",
			"%.200s is a file (%lld bytes): read it with file_read",
			f.path, (long long)r.size);
		res = mcp_tool_error(m, &err);
		goto out;
	}
	if (json_object_array_length(r.entries) == 0) {
		buf_adds(&r.text, "(empty)\n");
	}
	sc = json_object_new_object();
	json_object_object_add(sc, "path", json_object_new_string(f.path));
	json_object_object_add(sc, "entries", json_object_get(r.entries));
	if (cb.truncated) {
		json_object_object_add(sc, "truncated",
				       json_object_new_boolean(1));
	}
	res = mcp_tool_result(r.text.p, sc, 0);
out:
	json_object_put(r.entries);
	buf_free(&r.text);
	buf_free(&r.data);
	return res;
}

/* A value as text when it is UTF-8, else base64: into o's "content" (or
 * key) and "encoding". */
static void bytes_field(json_object *o, const char *key, const void *p,
			size_t n)
{
	if (utf8_valid(p, n)) {
		json_object_object_add(o, key,
				       json_object_new_string_len(p, (int)n));
		json_object_object_add(o, "encoding",
				       json_object_new_string("utf8"));
	} else {
		char *b = api_base64(p, n);

		json_object_object_add(o, key, json_object_new_string(b));
		json_object_object_add(o, "encoding",
				       json_object_new_string("base64"));
		free(b);
	}
}

static json_object *t_file_read(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	struct session_fs f;
	struct session_get_cb cb;
	struct rd r;
	json_object *sc = NULL;
	json_object *res;
	struct buf t = {0};

	memset(&err, 0, sizeof(err));
	memset(&cb, 0, sizeof(cb));
	memset(&r, 0, sizeof(r));
	if (fs_target(m, args, sarg(args, "path"), 0, &f, &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	r.entries = json_object_new_array();
	cb.ctx = &r;
	cb.length = -1;
	cb.on_entry = rd_entry;
	cb.on_file = rd_file;
	cb.on_data = rd_data;
	if (session_fs_get(&f, &cb, &err) < 0) {
		res = mcp_tool_error(m, &err);
		goto out;
	}
	if (cb.is_dir) {
		err_set(&err, 400, "is_a_directory",
			"%.200s is a directory: list it with "
			"session_files_list",
			f.path);
		res = mcp_tool_error(m, &err);
		goto out;
	}
	if (r.too_big) {
		err_set(&err, 413, "too_large",
			"%.200s has %lld bytes; file_read returns at most %d "
			"(download it with GET /v1/sessions/{id}/fs)",
			f.path, (long long)r.size, MCP_READ_MAX);
		res = mcp_tool_error(m, &err);
		goto out;
	}
	sc = json_object_new_object();
	json_object_object_add(sc, "path", json_object_new_string(f.path));
	json_object_object_add(sc, "bytes", json_object_new_int64(r.data.len));
	bytes_field(sc, "content", r.data.p ? r.data.p : "", r.data.len);
	if (strcmp(
		json_object_get_string(json_object_object_get(sc, "encoding")),
		"utf8") == 0) {
		buf_add(&t, r.data.p ? r.data.p : "", r.data.len);
	} else {
		buf_addf(&t,
			 "%s holds %zu bytes of binary data, in base64 in "
			 "structuredContent.content.",
			 f.path, r.data.len);
	}
	res = mcp_tool_result(t.p ? t.p : "", sc, 0);
	buf_free(&t);
out:
	json_object_put(r.entries);
	buf_free(&r.text);
	buf_free(&r.data);
	return res;
}

struct wr {
	const uint8_t *p;
	size_t n;
	size_t off;
};

static ssize_t wr_read(void *ctx, char *buf, size_t cap)
{
	struct wr *w = ctx;
	size_t k = w->n - w->off < cap ? w->n - w->off : cap;

	memcpy(buf, w->p + w->off, k);
	w->off += k;
	return (ssize_t)k;
}

/* The bytes of a content argument given as text or base64 (caller frees
 * *owned). -1 with 400 when the encoding is unknown or the base64 bad. */
static int content_bytes(json_object *args, const char *key, const uint8_t **p,
			 size_t *n, uint8_t **owned, struct isobox_err *err)
{
	const char *s = sarg(args, key);
	const char *enc = sarg(args, "encoding");

	*owned = NULL;
	if (enc == NULL || strcmp(enc, "utf8") == 0) {
		*p = (const uint8_t *)s;
		*n = strlen(s);
		return 0;
	}
	if (strcmp(enc, "base64") != 0) {
		return err_set(err, 400, "invalid_encoding",
			       "'encoding' is \"utf8\" or \"base64\"");
	}
	*owned = request_base64_decode(s, strlen(s), n);
	if (*owned == NULL) {
		return err_set(err, 400, "invalid_encoding",
			       "'%s' is not valid base64", key);
	}
	*p = *owned;
	return 0;
}

static json_object *t_file_write(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	struct session_fs f;
	struct wr w = {0};
	uint8_t *owned = NULL;
	int64_t bytes = 0;
	int64_t max = m->svc->cfg.session_max_upload_bytes;
	char sha[65];
	char text[400];
	json_object *sc;

	memset(&err, 0, sizeof(err));
	if (fs_target(m, args, sarg(args, "path"), 0, &f, &err) < 0 ||
	    content_bytes(args, "content", &w.p, &w.n, &owned, &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	if (bstore_ready(&m->svc->bstore) &&
	    bstore_space_check(&m->svc->bstore, (int64_t)w.n, &err) < 0) {
		free(owned);
		return mcp_tool_error(m, &err);
	}
	if (session_fs_put(&f, max, wr_read, &w, &bytes, sha, &err) < 0) {
		free(owned);
		return mcp_tool_error(m, &err);
	}
	free(owned);
	snprintf(text, sizeof(text), "Wrote %lld bytes to /workspace/%.200s.",
		 (long long)bytes, f.path);
	sc = json_object_new_object();
	json_object_object_add(sc, "path", json_object_new_string(f.path));
	json_object_object_add(sc, "bytes", json_object_new_int64(bytes));
	json_object_object_add(sc, "sha256", json_object_new_string(sha));
	return mcp_tool_result(text, sc, 0);
}

/* ------------------------------------------------------------------ */
/* Memory */

/* The caller's memory tenant, and the namespace and key of args (key
 * NULL: only the namespace is checked). */
static int mem_target(struct mcp *m, json_object *args, int with_key,
		      uint8_t tenant[KV_TENANT_BYTES], struct isobox_err *err)
{
	const char *ns = sarg(args, "namespace");

	if (m->svc->cfg.memory_require_key &&
	    m->req->tenant.kind != TENANT_KEY) {
		return err_set(err, 403, "api_key_required",
			       "this server requires an API key for memory");
	}
	if (ns && !api_memory_ns_ok(ns)) {
		return err_set(
		    err, 400, "invalid_namespace",
		    "a namespace is 1 to 128 of A-Z a-z 0-9 _ . : -");
	}
	if (with_key) {
		json_object *k = json_object_object_get(args, "key");

		/* The JSON string's own length: a \u0000 in it is refused,
		 * not a place where the key silently ends. */
		if (api_memory_key_check(
			&m->svc->cfg, json_object_get_string(k),
			(size_t)json_object_get_string_len(k), err) < 0) {
			return -1;
		}
	}
	kv_tenant_id(m->req->tenant.name, tenant);
	return 0;
}

static json_object *meta_obj(json_object *args, const struct kv_meta *km)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "namespace",
			       json_object_new_string(sarg(args, "namespace")));
	json_object_object_add(o, "key",
			       json_object_new_string(sarg(args, "key")));
	json_object_object_add(o, "etag", json_object_new_string(km->etag));
	json_object_object_add(o, "size", json_object_new_int64(km->size));
	json_object_object_add(o, "contentType",
			       json_object_new_string(km->content_type));
	json_object_object_add(o, "expiresAt",
			       km->expires_ms ? api_time_json(km->expires_ms)
					      : NULL);
	return o;
}

static int mem_copy(void *ctx, const struct kv_meta *km, const void *value,
		    size_t len)
{
	(void)km;
	buf_add(ctx, value, len);
	return 0;
}

static json_object *t_memory_get(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	uint8_t tenant[KV_TENANT_BYTES];
	struct kv_meta km;
	struct buf v = {0};
	json_object *sc;
	json_object *res;
	const char *key = sarg(args, "key");
	struct buf t = {0};

	memset(&err, 0, sizeof(err));
	memset(&km, 0, sizeof(km));
	if (mem_target(m, args, 1, tenant, &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	if (kv_get(&m->svc->kv, tenant, sarg(args, "namespace"), key,
		   strlen(key), wall_ms(), NULL, mem_copy, &v, &km, &err) < 0) {
		buf_free(&v);
		return mcp_tool_error(m, &err);
	}
	sc = meta_obj(args, &km);
	bytes_field(sc, "value", v.p ? v.p : "", v.len);
	if (utf8_valid(v.p ? v.p : "", v.len)) {
		buf_add(&t, v.p ? v.p : "", v.len);
	} else {
		buf_addf(&t,
			 "%zu bytes of binary data, in base64 in "
			 "structuredContent.value.",
			 v.len);
	}
	res = mcp_tool_result(t.p ? t.p : "", sc, 0);
	buf_free(&t);
	buf_free(&v);
	return res;
}

/* ifMatch / ifNoneMatch ("*" or an ETag, quoted or not). */
struct cond {
	const char *if_match;
	const char *if_none_match;
};

static int etag_is(const char *want, const char *etag)
{
	size_t n = strlen(want);

	if (strcmp(want, "*") == 0) {
		return 1;
	}
	if (n >= 2 && want[0] == '"' && want[n - 1] == '"') {
		return n - 2 == strlen(etag) &&
		       strncmp(want + 1, etag, n - 2) == 0;
	}
	return strcmp(want, etag) == 0;
}

static int cond_pre(void *ctx, const struct kv_meta *cur)
{
	const struct cond *c = ctx;

	if (c->if_match && (cur == NULL || !etag_is(c->if_match, cur->etag))) {
		return 1;
	}
	if (c->if_none_match && cur && etag_is(c->if_none_match, cur->etag)) {
		return 1;
	}
	return 0;
}

static json_object *t_memory_put(struct mcp *m, json_object *args)
{
	const struct config *cfg = &m->svc->cfg;
	struct isobox_err err;
	uint8_t tenant[KV_TENANT_BYTES];
	struct kv_write w;
	struct kv_meta out;
	struct cond c;
	uint8_t *owned = NULL;
	const uint8_t *p;
	size_t n;
	int64_t ttl = 0;
	int64_t now = wall_ms();
	const char *ct = sarg(args, "contentType");
	json_object *sc;
	char text[200];
	int rc;

	memset(&err, 0, sizeof(err));
	if (mem_target(m, args, 1, tenant, &err) < 0 ||
	    content_bytes(args, "value", &p, &n, &owned, &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	if (has(args, "ttlSec")) {
		ttl = json_object_get_int64(
		    json_object_object_get(args, "ttlSec"));
	}
	if (ttl < 0 || ttl > MCP_TTL_MAX) {
		err_set(&err, 400, "invalid_ttl",
			"'ttlSec' is from 0 (no expiry) to %lld", MCP_TTL_MAX);
		goto fail;
	}
	if ((int64_t)n > cfg->memory_max_value_bytes) {
		err_set(&err, 413, "value_too_large",
			"a value is at most %lld bytes",
			(long long)cfg->memory_max_value_bytes);
		goto fail;
	}
	if (ct == NULL) {
		ct = owned ? "application/octet-stream"
			   : "text/plain; charset=utf-8";
	}
	if (strlen(ct) > KV_CTYPE_MAX) {
		err_set(&err, 400, "invalid_content_type",
			"'contentType' is longer than 255 bytes");
		goto fail;
	}
	c.if_match = sarg(args, "ifMatch");
	c.if_none_match = sarg(args, "ifNoneMatch");
	memset(&w, 0, sizeof(w));
	w.tenant = tenant;
	w.ns = sarg(args, "namespace");
	w.key = sarg(args, "key");
	w.key_len = strlen(w.key);
	w.content_type = ct;
	w.value = p;
	w.len = n;
	/* Whole seconds, as PUT /v1/memory. */
	w.expires_ms = ttl > 0 ? (now + ttl * 1000 + 999) / 1000 * 1000 : 0;
	w.now_ms = now;
	w.quota_bytes = m->req->tenant.memory_bytes > 0
			    ? m->req->tenant.memory_bytes
			    : cfg->memory_tenant_bytes;
	w.quota_keys = m->req->tenant.memory_keys > 0
			   ? m->req->tenant.memory_keys
			   : cfg->memory_tenant_keys;
	w.pre = cond_pre;
	w.ctx = &c;
	rc = kv_write(&m->svc->kv, &w, &out, &err);
	if (rc < 0) {
		goto fail;
	}
	free(owned);
	snprintf(text, sizeof(text), "Stored %zu bytes; etag %s.", n, out.etag);
	sc = meta_obj(args, &out);
	return mcp_tool_result(text, sc, 0);
fail:
	free(owned);
	return mcp_tool_error(m, &err);
}

static json_object *t_memory_delete(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	uint8_t tenant[KV_TENANT_BYTES];
	struct kv_write w;
	struct cond c;
	json_object *sc;

	memset(&err, 0, sizeof(err));
	if (mem_target(m, args, 1, tenant, &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	c.if_match = sarg(args, "ifMatch");
	c.if_none_match = NULL;
	memset(&w, 0, sizeof(w));
	w.del = 1;
	w.tenant = tenant;
	w.ns = sarg(args, "namespace");
	w.key = sarg(args, "key");
	w.key_len = strlen(w.key);
	w.now_ms = wall_ms();
	w.pre = cond_pre;
	w.ctx = &c;
	if (kv_write(&m->svc->kv, &w, NULL, &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	sc = json_object_new_object();
	json_object_object_add(sc, "deleted", json_object_new_boolean(1));
	return mcp_tool_result("Deleted (or it did not exist).", sc, 0);
}

struct ml {
	json_object *items;
	struct buf text;
};

static void ml_item(void *ctx, const struct kv_item *it)
{
	struct ml *l = ctx;
	json_object *o = json_object_new_object();
	json_object *k = api_json_bytes(it->key, it->key_len);

	json_object_object_add(o, "key", json_object_get(k));
	json_object_object_add(o, "size", json_object_new_int64(it->size));
	json_object_object_add(o, "etag", json_object_new_string(it->etag));
	json_object_object_add(o, "updatedAt", api_time_json(it->updated_ms));
	json_object_object_add(o, "expiresAt",
			       it->expires_ms ? api_time_json(it->expires_ms)
					      : NULL);
	json_object_array_add(l->items, o);
	buf_addf(&l->text, "- %s (%lld bytes)\n", json_object_get_string(k),
		 (long long)it->size);
	json_object_put(k);
}

static void ml_ns(void *ctx, const char *ns, const struct kv_usage *u)
{
	struct ml *l = ctx;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "namespace", json_object_new_string(ns));
	json_object_object_add(o, "keys", json_object_new_int64(u->keys));
	json_object_object_add(o, "bytes", json_object_new_int64(u->bytes));
	json_object_array_add(l->items, o);
	buf_addf(&l->text, "- %s: %lld keys, %lld bytes\n", ns,
		 (long long)u->keys, (long long)u->bytes);
}

static json_object *t_memory_list(struct mcp *m, json_object *args)
{
	struct isobox_err err;
	uint8_t tenant[KV_TENANT_BYTES];
	uint8_t cur[KV_CURSOR_MAX];
	uint8_t next[KV_CURSOR_MAX];
	size_t cur_len = 0;
	size_t next_len = 0;
	const char *ns = sarg(args, "namespace");
	const char *prefix = sarg(args, "prefix");
	const char *cursor = sarg(args, "cursor");
	int64_t limit = 100;
	struct ml l;
	json_object *sc;
	json_object *res;

	memset(&err, 0, sizeof(err));
	memset(&l, 0, sizeof(l));
	if (mem_target(m, args, 0, tenant, &err) < 0) {
		return mcp_tool_error(m, &err);
	}
	l.items = json_object_new_array();
	sc = json_object_new_object();
	if (ns == NULL) {
		struct kv_usage total;

		if (kv_usage_get(&m->svc->kv, tenant, &total, ml_ns, &l, &err) <
		    0) {
			goto fail;
		}
		json_object_object_add(sc, "namespaces", l.items);
		json_object_object_add(sc, "keys",
				       json_object_new_int64(total.keys));
		json_object_object_add(sc, "bytes",
				       json_object_new_int64(total.bytes));
		if (l.text.len == 0) {
			buf_adds(&l.text, "No memory namespaces yet.\n");
		}
		goto done;
	}
	if (has(args, "limit")) {
		limit = json_object_get_int64(
		    json_object_object_get(args, "limit"));
	}
	if (limit < 1) {
		err_set(&err, 400, "invalid_limit", "'limit' is at least 1");
		goto fail;
	}
	if (limit > 1000) {
		limit = 1000;
	}
	if (cursor && *cursor) {
		size_t cl = strlen(cursor);

		if (cl % 2 != 0 || cl / 2 > sizeof(cur) ||
		    hex_decode(cursor, cl, cur) < 0) {
			err_set(&err, 400, "invalid_cursor",
				"'cursor' is the nextCursor of a listing");
			goto fail;
		}
		cur_len = cl / 2;
	}
	if (prefix == NULL) {
		prefix = "";
	}
	if (kv_list(&m->svc->kv, tenant, ns, prefix, strlen(prefix), cur,
		    cur_len, (int)limit, wall_ms(), ml_item, &l, next,
		    &next_len, &err) < 0) {
		goto fail;
	}
	{
		char *hex = xmalloc(2 * next_len + 1);
		size_t i;

		for (i = 0; i < next_len; i++) {
			snprintf(hex + 2 * i, 3, "%02x", next[i]);
		}
		hex[2 * next_len] = '\0';
		json_object_object_add(sc, "namespace",
				       json_object_new_string(ns));
		json_object_object_add(sc, "items", l.items);
		json_object_object_add(sc, "nextCursor",
				       json_object_new_string(hex));
		json_object_object_add(sc, "listComplete",
				       json_object_new_boolean(next_len == 0));
		if (next_len) {
			buf_addf(&l.text,
				 "(more: call again with cursor \"%s\")\n",
				 hex);
		}
		free(hex);
	}
	if (l.text.len == 0) {
		buf_adds(&l.text, "No keys.\n");
	}
done:
	res = mcp_tool_result(l.text.p, sc, 0);
	buf_free(&l.text);
	return res;
fail:
	json_object_put(l.items);
	json_object_put(sc);
	buf_free(&l.text);
	return mcp_tool_error(m, &err);
}

/* ------------------------------------------------------------------ */
/* The table */

#define A_SESSION                                                              \
	{"sessionId", "string", 1, "The session's id (sess_...)."},            \
	{                                                                      \
		"token", "string", 1, "The session's token (tok_...)."         \
	}

static const struct targ a_create[] = {
    {"runtime", "string", 1,
     "Language the session runs (see list_runtimes), e.g. python."},
    {"type", "string", 0,
     "filesystem (default: each step runs a program) or kernel (one "
     "python or javascript interpreter keeps its variables across steps; "
     "plots come back as images)."},
    {"version", "string", 0, "Language version or prefix (optional)."},
    {"ttlSec", "integer", 0,
     "Seconds without a call after which the session expires (default "
     "one day)."},
    {"limits", "object", 0,
     "The sandbox's shape: memoryBytes, cpus, pids, tmpfsBytes, and the "
     "default wallTimeMs and outputBytes of each step."},
    {NULL, NULL, 0, NULL}};
static const struct targ a_exec[] = {
    A_SESSION,
    {"code", "string", 0,
     "The program to run, written to the runtime's source file in "
     "/workspace and run there."},
    {"files", "files", 0,
     "Instead of code: files [{name, content, encoding}], the first is "
     "run."},
    {"stdin", "string", 0, "Text given to standard input."},
    {"args", "strings", 0, "Command-line arguments."},
    {"limits", "object", 0, "wallTimeMs and outputBytes of this step."},
    {NULL, NULL, 0, NULL}};
static const struct targ a_none[] = {{NULL, NULL, 0, NULL}};
static const struct targ a_session[] = {A_SESSION, {NULL, NULL, 0, NULL}};
static const struct targ a_ls[] = {
    A_SESSION,
    {"path", "string", 0,
     "Directory relative to /workspace (default: /workspace itself)."},
    {NULL, NULL, 0, NULL}};
static const struct targ a_read[] = {
    A_SESSION,
    {"path", "string", 1, "File path relative to /workspace."},
    {NULL, NULL, 0, NULL}};
static const struct targ a_write[] = {
    A_SESSION,
    {"path", "string", 1,
     "File path relative to /workspace; parent directories are made."},
    {"content", "string", 1, "The file's content."},
    {"encoding", "string", 0,
     "utf8 (default) or base64 (content is base64 of the bytes)."},
    {NULL, NULL, 0, NULL}};
static const struct targ a_mget[] = {
    {"namespace", "string", 1, "Namespace: 1-128 of A-Z a-z 0-9 _ . : -"},
    {"key", "string", 1, "Key (UTF-8, may contain /)."},
    {NULL, NULL, 0, NULL}};
static const struct targ a_mput[] = {
    {"namespace", "string", 1, "Namespace: 1-128 of A-Z a-z 0-9 _ . : -"},
    {"key", "string", 1, "Key (UTF-8, may contain /)."},
    {"value", "string", 1, "The value."},
    {"encoding", "string", 0,
     "utf8 (default) or base64 (value is base64 of the bytes)."},
    {"contentType", "string", 0, "Stored with the value (optional)."},
    {"ttlSec", "integer", 0,
     "Seconds until the value expires (0 or absent: never)."},
    {"ifMatch", "string", 0,
     "Compare-and-set: write only if the current etag is this one (\"*\": "
     "only if the key exists)."},
    {"ifNoneMatch", "string", 0,
     "\"*\": write only if the key does not exist yet."},
    {NULL, NULL, 0, NULL}};
static const struct targ a_mdel[] = {
    {"namespace", "string", 1, "Namespace."},
    {"key", "string", 1, "Key."},
    {"ifMatch", "string", 0, "Delete only if the current etag is this one."},
    {NULL, NULL, 0, NULL}};
static const struct targ a_mlist[] = {
    {"namespace", "string", 0,
     "List this namespace's keys; without it, list the namespaces."},
    {"prefix", "string", 0, "Only keys starting with this."},
    {"limit", "integer", 0, "At most this many keys (100; at most 1000)."},
    {"cursor", "string", 0, "nextCursor of the previous page."},
    {NULL, NULL, 0, NULL}};

static const struct tool tools[] = {
    {"session_create", "Create a session",
     "Open a session: a sandbox whose files in /workspace last across "
     "calls (type kernel: also one interpreter's variables). Answers "
     "sessionId and token, which the other session tools need. It "
     "expires after ttlSec seconds without a call.",
     0, 0, a_create, t_session_create},
    {"session_exec", "Run code in a session",
     "Run a program in the session's sandbox, in /workspace (files the "
     "previous steps wrote are there), and return its stdout, stderr and "
     "exit code. In a kernel session the code is a cell of the live "
     "interpreter: the answer adds the last expression's value and every "
     "plot as image content. One step at a time per session.",
     0, 0, a_exec, t_session_exec},
    {"session_list", "List sessions",
     "List this caller's open sessions (no tokens).", 1, 0, a_none,
     t_session_list},
    {"session_files_list", "List a session's files",
     "List a directory of the session's /workspace.", 1, 0, a_ls, t_files_list},
    {"file_read", "Read a session file",
     "Read a file of the session's /workspace (at most 1 MiB): text, or "
     "base64 for binary files.",
     1, 0, a_read, t_file_read},
    {"file_write", "Write a session file",
     "Create or replace a file in the session's /workspace.", 0, 1, a_write,
     t_file_write},
    {"session_close", "Close a session",
     "Delete the session: its sandbox and all its files.", 0, 1, a_session,
     t_session_close},
    {"memory_get", "Read from memory",
     "Read a value stored with memory_put (durable, across sessions), "
     "with its etag.",
     1, 0, a_mget, t_memory_get},
    {"memory_put", "Write to memory",
     "Store a value under namespace/key, durably. Optional TTL, and "
     "compare-and-set with ifMatch (the etag memory_get returned).",
     0, 1, a_mput, t_memory_put},
    {"memory_list", "List memory",
     "List the keys of a namespace, or the namespaces.", 1, 0, a_mlist,
     t_memory_list},
    {"memory_delete", "Delete from memory", "Delete namespace/key.", 0, 1,
     a_mdel, t_memory_delete},
};

void mcp_state_tools(json_object *arr)
{
	size_t i;

	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		const struct tool *t = &tools[i];
		json_object *o = json_object_new_object();
		json_object *ann = json_object_new_object();

		json_object_object_add(o, "name",
				       json_object_new_string(t->name));
		json_object_object_add(o, "title",
				       json_object_new_string(t->title));
		json_object_object_add(o, "description",
				       json_object_new_string(t->desc));
		json_object_object_add(o, "inputSchema", input_schema(t));
		json_object_object_add(ann, "title",
				       json_object_new_string(t->title));
		json_object_object_add(ann, "readOnlyHint",
				       json_object_new_boolean(t->read_only));
		if (!t->read_only) {
			json_object_object_add(
			    ann, "destructiveHint",
			    json_object_new_boolean(t->destructive));
		}
		json_object_object_add(ann, "openWorldHint",
				       json_object_new_boolean(0));
		json_object_object_add(o, "annotations", ann);
		json_object_array_add(arr, o);
	}
}

int mcp_state_call(struct mcp *m, const char *name, json_object *args,
		   json_object **result, const char **bad)
{
	size_t i;

	*result = NULL;
	*bad = NULL;
	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		if (strcmp(tools[i].name, name) == 0) {
			*bad = check_args(&tools[i], args);
			if (*bad == NULL) {
				*result = tools[i].fn(m, args);
			}
			return 1;
		}
	}
	return 0;
}
