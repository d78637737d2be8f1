/* api_piston.c - a Piston-compatible front door (engineer-man/piston's v2
 * API), so Piston clients work by changing only their base URL:
 *
 *   GET  /api/v2/runtimes  -> [{language, version, aliases}]
 *   POST /api/v2/execute   Piston's request -> Piston's response
 *
 * A Piston request is translated into an isobox request and goes through
 * the same parser, catalogue, limits and admission (exec_run) as /execute.
 * run_timeout/compile_timeout (ms) and run_memory_limit/
 * compile_memory_limit (bytes, -1 = default) become wallTimeMs,
 * compileWallTimeMs, memoryBytes and compileMemoryBytes and are clamped
 * like any request; run_cpu_time/compile_cpu_time are accepted and ignored
 * (the sandbox enforces wall time, not CPU time). */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "exec.h"
#include "registry.h"
#include "request.h"

void api_piston_runtimes(struct service *svc, struct http_req *req)
{
	struct registry *r = registry_get();
	json_object *a = json_object_new_array();
	size_t i;

	(void)svc;
	http_drain_body(req);
	for (i = 0; r && i < r->n; i++) {
		const struct lang *l = &r->langs[i];
		json_object *o;
		json_object *al;
		char **p;

		if (l->image_ref == NULL) {
			continue; /* not runnable here: Piston lists installed
				   * runtimes only */
		}
		o = json_object_new_object();
		al = json_object_new_array();
		for (p = l->aliases; p && *p; p++) {
			json_object_array_add(al, json_object_new_string(*p));
		}
		json_object_object_add(o, "language",
				       json_object_new_string(l->name));
		json_object_object_add(o, "version",
				       json_object_new_string(l->version));
		json_object_object_add(o, "aliases", al);
		json_object_array_add(a, o);
	}
	registry_put(r);
	http_send_json(req, 200, a, NULL);
	json_object_put(a);
}

/* Piston selects versions with semver ranges. Map the common spellings
 * onto the catalogue's exact-or-prefix match: "*", "x" and "" mean any;
 * "3.x" and "3.11.*" are the prefixes "3" and "3.11"; "^3.10" is "3" (same
 * major); "~3.10", "=3.10.1" and "v3.10" drop the operator. Returns a fresh
 * string (caller frees) or NULL for any version. */
static char *piston_version(const char *v)
{
	char *s;
	size_t n;
	int caret = 0;

	while (*v == ' ') {
		v++;
	}
	if (*v == '^') {
		caret = 1;
		v++;
	} else if (*v == '~' || *v == '=') {
		v++;
	}
	if (*v == 'v' || *v == 'V') {
		v++;
	}
	s = xstrdup(v);
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ') {
		s[--n] = '\0';
	}
	for (;;) {
		if (n >= 2 && s[n - 2] == '.' &&
		    (s[n - 1] == 'x' || s[n - 1] == 'X' || s[n - 1] == '*')) {
			n -= 2;
			s[n] = '\0';
			continue;
		}
		break;
	}
	if (caret) {
		s[strcspn(s, ".")] = '\0';
	}
	if (s[0] == '\0' || strcmp(s, "*") == 0 || strcmp(s, "x") == 0 ||
	    strcmp(s, "X") == 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* Translate a Piston limit field (a number, null, or negative for "the
 * default") into limits.<name> of the isobox request. */
static int piston_limit(json_object *in, const char *field, json_object *lim,
			const char *name, struct isobox_err *err)
{
	json_object *v;
	double d;

	if (!json_object_object_get_ex(in, field, &v) ||
	    json_object_is_type(v, json_type_null)) {
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double)) {
		return err_set(err, 400, "invalid_field", "%s must be a number",
			       field);
	}
	d = json_object_get_double(v);
	if (!isfinite(d)) {
		return err_set(err, 400, "invalid_field",
			       "%s must be a finite number", field);
	}
	if (d < 0 || name == NULL) {
		return 0; /* -1: the default; cpu_time: not enforced */
	}
	json_object_object_add(lim, name, json_object_new_double(floor(d)));
	return 0;
}

/* Build the isobox request body for Piston request `in`. Returns a fresh
 * JSON string (caller frees) or NULL with err (400). *version gets the
 * catalogue version spec (caller frees, NULL for any). */
static char *piston_translate(json_object *in, char **version,
			      struct isobox_err *err)
{
	json_object *out = json_object_new_object();
	json_object *lim = json_object_new_object();
	json_object *v;
	char *s = NULL;
	static const char *const passthrough[] = {"stdin", "args"};
	size_t i;

	*version = NULL;
	if (!json_object_object_get_ex(in, "language", &v) ||
	    json_object_is_type(v, json_type_null)) {
		err_set(err, 400, "language_required",
			"language is required as a string");
		goto fail;
	}
	if (!json_object_is_type(v, json_type_string)) {
		err_set(err, 400, "invalid_field",
			"language is required as a string");
		goto fail;
	}
	json_object_object_add(out, "language", json_object_get(v));
	if (json_object_object_get_ex(in, "version", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) > 64) {
			err_set(err, 400, "invalid_field",
				"version must be a string");
			goto fail;
		}
		*version = piston_version(json_object_get_string(v));
	}
	if (!json_object_object_get_ex(in, "files", &v) ||
	    json_object_is_type(v, json_type_null)) {
		err_set(err, 400, "no_source", "files is required as an array");
		goto fail;
	}
	if (!json_object_is_type(v, json_type_array)) {
		err_set(err, 400, "invalid_field",
			"files is required as an array");
		goto fail;
	}
	/* name/content/encoding mean the same in both APIs. */
	json_object_object_add(out, "files", json_object_get(v));
	for (i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++) {
		if (json_object_object_get_ex(in, passthrough[i], &v)) {
			json_object_object_add(out, passthrough[i],
					       json_object_get(v));
		}
	}
	if (piston_limit(in, "run_timeout", lim, "wallTimeMs", err) < 0 ||
	    piston_limit(in, "compile_timeout", lim, "compileWallTimeMs", err) <
		0 ||
	    piston_limit(in, "run_memory_limit", lim, "memoryBytes", err) < 0 ||
	    piston_limit(in, "compile_memory_limit", lim, "compileMemoryBytes",
			 err) < 0 ||
	    piston_limit(in, "run_cpu_time", lim, NULL, err) < 0 ||
	    piston_limit(in, "compile_cpu_time", lim, NULL, err) < 0) {
		goto fail;
	}
	json_object_object_add(out, "limits", lim);
	lim = NULL;
	s = xstrdup(
	    json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	return s;
fail:
	json_object_put(lim);
	json_object_put(out);
	free(*version);
	*version = NULL;
	return NULL;
}

/* Per-request state shared with exec_run's callbacks: stdout and stderr
 * interleaved in arrival order ("output"), per stage. A UTF-8 character
 * cut at the end of one stream's chunk is held back until that stream
 * continues, so the other stream cannot land in the middle of it. */
struct piston_ctx {
	struct http_req *req;
	struct buf output[2]; /* 0 compile, 1 run */
	struct api_utf8_hold hold;
};

static int piston_on_output(void *ctx, int stage, int stream, const uint8_t *p,
			    size_t n)
{
	struct piston_ctx *x = ctx;

	if (stream != 1 && stream != 2) {
		return 0;
	}
	api_utf8_hold_feed(&x->hold, stage, stream, p, n,
			   &x->output[stage == 'c' ? 0 : 1]);
	return 0;
}

static int piston_cancelled(void *ctx)
{
	struct piston_ctx *x = ctx;

	return http_client_gone(x->req);
}

/* One stage in Piston's shape. status: OL (output cap reached), TO (wall
 * time), SG (killed by a signal, including the OOM killer), RE (non-zero
 * exit), or null; message explains a status in a sentence. code is null
 * when a signal ended the program, as in Piston. */
static json_object *piston_stage(const struct stage_result *st,
				 struct buf *output, int compile,
				 const struct limits *lim)
{
	json_object *o = json_object_new_object();
	const char *who = compile ? "The compiler" : "The program";
	const char *status = NULL;
	const char *sig = api_signal_name(st->signal);
	char msg[256] = "";
	int signalled = st->signal != 0 || st->timed_out || st->truncated;
	int64_t mem = compile ? lim->compile_memory_bytes : lim->memory_bytes;
	int64_t wall = compile ? lim->compile_wall_time_ms : lim->wall_time_ms;

	if (st->truncated) {
		status = "OL";
		snprintf(msg, sizeof(msg),
			 "Output limit reached: stdout and stderr together "
			 "reached %lld bytes, so %s was stopped.",
			 (long long)lim->output_bytes,
			 compile ? "the compiler" : "the program");
	} else if (st->timed_out) {
		status = "TO";
		snprintf(msg, sizeof(msg),
			 "Time limit exceeded: %s ran longer than %lld ms "
			 "and was killed.",
			 compile ? "the compiler" : "the program",
			 (long long)wall);
	} else if (st->oom_killed) {
		status = "SG";
		snprintf(msg, sizeof(msg),
			 "Out of memory: %s exceeded its %lld MiB memory "
			 "limit and was killed.",
			 compile ? "the compiler" : "the program",
			 (long long)(mem / (1024 * 1024)));
	} else if (st->signal) {
		status = "SG";
		snprintf(msg, sizeof(msg), "%s was killed by signal %s.", who,
			 sig ? sig : "?");
	} else if (st->exit_code != 0) {
		status = "RE";
		snprintf(msg, sizeof(msg), "%s exited with status %d.", who,
			 st->exit_code);
	}
	if (signalled && sig == NULL) {
		sig = "SIGKILL";
	}
	json_object_object_add(o, "stdout",
			       api_json_bytes(st->out.p, st->out.len));
	json_object_object_add(o, "stderr",
			       api_json_bytes(st->err.p, st->err.len));
	json_object_object_add(
	    o, "code", signalled ? NULL : json_object_new_int(st->exit_code));
	json_object_object_add(o, "signal",
			       signalled ? json_object_new_string(sig) : NULL);
	if (output->len == 0 && st->out.len + st->err.len > 0) {
		/* No hook saw it (should not happen): best effort. */
		buf_add(output, st->out.p, st->out.len);
		buf_add(output, st->err.p, st->err.len);
	}
	json_object_object_add(o, "output",
			       api_json_bytes(output->p, output->len));
	json_object_object_add(o, "message",
			       status ? json_object_new_string(msg) : NULL);
	json_object_object_add(o, "status",
			       status ? json_object_new_string(status) : NULL);
	json_object_object_add(o, "wall_time",
			       json_object_new_int64(st->duration_ms));
	return o;
}

static int content_type_ok(const struct http_req *req)
{
	const char *ct = req->content_type;

	if (api_is_json(ct)) {
		return 1;
	}
	/* Piston clients built on fetch send their JSON string as
	 * text/plain, or with no type at all; a browser may send either
	 * cross-site without asking first, so only from the page's own
	 * origin. */
	return (ct[0] == '\0' || strncasecmp(ct, "text/plain", 10) == 0) &&
	       api_origin_ok(req);
}

void api_piston_execute(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct exec_request er;
	struct registry *reg = NULL;
	const struct lang *lang;
	struct piston_ctx x;
	struct exec_ctx ec;
	struct exec_run *run = NULL;
	json_object *in = NULL;
	json_object *out = NULL;
	char *body = NULL;
	char *version = NULL;
	int rc = -1;
	int st;

	memset(&er, 0, sizeof(er));
	memset(&x, 0, sizeof(x));
	memset(&err, 0, sizeof(err));
	if (!content_type_ok(req)) {
		http_drain_body(req);
		http_send_err(req, 415, "unsupported_media_type",
			      "send the request as application/json");
		return;
	}
	if (http_read_body(req, svc->cfg.max_body_bytes, &err) < 0) {
		http_send_error(req, &err);
		return;
	}
	in = request_json_parse(req->body.p, req->body.len, &err);
	if (in == NULL) {
		http_send_error(req, &err);
		return;
	}
	if (!json_object_is_type(in, json_type_object)) {
		http_send_err(req, 400, "invalid_json",
			      "the body must be a JSON object");
		goto out;
	}
	body = piston_translate(in, &version, &err);
	if (body == NULL || request_parse(body, strlen(body),
					  svc->cfg.max_files, &er, &err) < 0) {
		http_send_error(req, &err);
		goto out;
	}
	snprintf(req->language, sizeof(req->language), "%s", er.language);
	reg = registry_get();
	if (reg == NULL) {
		http_send_err(req, 503, "registry_unavailable",
			      "no language catalogue is loaded");
		goto out;
	}
	lang = registry_find(reg, er.language, version, &err);
	if (lang == NULL) {
		http_send_error(req, &err);
		goto out;
	}
	snprintf(req->language, sizeof(req->language), "%s", lang->name);
	x.req = req;
	api_exec_ctx(req, &ec);
	ec.ctx = &x;
	ec.cancelled = piston_cancelled;
	ec.on_output = piston_on_output;
	rc = exec_run(svc, &ec, lang, &er, &run, &err);
	if (rc < 0) {
		if (err.status != 499) {
			http_send_error(req, &err);
		}
		goto out;
	}
	/* Flush the characters held back at the end of each stream. */
	for (st = 1; st <= 2; st++) {
		api_utf8_hold_flush(&x.hold, 'c', st, &x.output[0]);
		api_utf8_hold_flush(&x.hold, 'r', st, &x.output[1]);
	}
	out = json_object_new_object();
	json_object_object_add(out, "language",
			       json_object_new_string(lang->name));
	json_object_object_add(out, "version",
			       json_object_new_string(lang->version));
	/* As in Piston: no "run" when the compile stage failed. */
	if (!run->res.has_compile || run->res.run.ran) {
		json_object_object_add(
		    out, "run",
		    piston_stage(&run->res.run, &x.output[1], 0, &run->lim));
	}
	if (run->res.has_compile) {
		json_object_object_add(out, "compile",
				       piston_stage(&run->res.compile,
						    &x.output[0], 1,
						    &run->lim));
	}
	http_send_json(req, 200, out, NULL);
out:
	api_exec_done(req, rc, &err, run);
	json_object_put(out);
	json_object_put(in);
	buf_free(&x.output[0]);
	buf_free(&x.output[1]);
	free(body);
	free(version);
	registry_put(reg);
	request_free(&er);
}
