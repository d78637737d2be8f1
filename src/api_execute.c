/* api_execute.c - POST /execute: validate, admit, run, render (JSON or
 * Server-Sent Events). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "exec.h"
#include "registry.h"
#include "request.h"

/* Per-request state shared with exec_run's callbacks. */
struct execute_ctx {
	struct http_req *req;
	struct api_utf8_hold hold; /* between SSE chunks */
};

static int execute_cancelled(void *ctx)
{
	struct execute_ctx *x = ctx;

	return http_client_gone(x->req);
}

/* Each chunk of output is an SSE event when the client asked for a
 * stream, whole UTF-8 characters only. */
static int execute_output(void *ctx, int stage, int stream, const uint8_t *p,
			  size_t n)
{
	struct execute_ctx *x = ctx;
	struct buf b = {0};
	json_object *o;
	int rc;

	if (!x->req->sse) {
		return 0;
	}
	api_utf8_hold_feed(&x->hold, stage, stream, p, n, &b);
	o = json_object_new_object();
	json_object_object_add(o, "chunk", api_json_bytes(b.p, b.len));
	json_object_object_add(
	    o, "stage",
	    json_object_new_string(stage == 'c' ? "compile" : "run"));
	rc = http_sse_event(
	    x->req, stream == 1 ? "stdout" : "stderr",
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	buf_free(&b);
	return rc < 0;
}

/* Open the event stream once a slot is held, if the client asked for one. */
static void execute_admitted(void *ctx)
{
	struct execute_ctx *x = ctx;

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
	struct execute_ctx ec;
	struct exec_ctx x;
	struct exec_run *run = NULL;
	json_object *out = NULL;
	int rc;

	memset(&er, 0, sizeof(er));
	memset(&ec, 0, sizeof(ec));
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
	ec.req = req;
	api_exec_ctx(req, &x);
	x.ctx = &ec;
	x.cancelled = execute_cancelled;
	x.on_output = execute_output;
	x.on_admitted = execute_admitted;
	rc = exec_run(svc, &x, lang, &er, &run, &err);
	if (rc < 0) {
		if (err.status != 499) {
			http_send_error(req, &err);
		}
	} else {
		out = api_result_json(lang, run);
		if (req->sse) {
			http_sse_event(req, "done",
				       json_object_to_json_string_ext(
					   out, JSON_C_TO_STRING_PLAIN));
		} else {
			http_send_json(req, 200, out, NULL);
		}
	}
	/* The sandbox is removed after the answer has gone out. */
	api_exec_done(req, rc, &err, run);
out:
	json_object_put(out);
	registry_put(reg);
	request_free(&er);
}
