/* api_execute.c - POST /execute: validate, admit, run, render (JSON or
 * Server-Sent Events). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "exec.h"
#include "registry.h"
#include "request.h"

void api_execute(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct exec_request er;
	struct registry *reg = NULL;
	const struct lang *lang;
	struct api_stream ec;
	struct exec_ctx x;
	struct exec_run *run = NULL;
	json_object *out = NULL;
	int rc;

	memset(&er, 0, sizeof(er));
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
	api_stream_init(&ec, req);
	api_exec_ctx(req, &x);
	x.ctx = &ec;
	x.cancelled = api_stream_cancelled;
	x.on_output = api_stream_output;
	x.on_admitted = api_stream_admitted;
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
