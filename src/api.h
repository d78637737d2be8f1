/* api.h - the HTTP handlers (the front doors). Each is thin: parse and
 * validate, call a service module, render. They never talk to Docker or
 * LMDB directly. What more than one handler needs lives in api_util.c;
 * no handler file borrows from another. */
#ifndef ISOBOX_API_H
#define ISOBOX_API_H

#include "exec.h"
#include "http.h"
#include "registry.h"
#include "sandbox.h"
#include "service.h"

typedef void (*api_handler)(struct service *svc, struct http_req *req);

void api_execute(struct service *svc, struct http_req *req);
void api_runtimes(struct service *svc, struct http_req *req);
void api_healthz(struct service *svc, struct http_req *req);
void api_readyz(struct service *svc, struct http_req *req);
void api_metrics(struct service *svc, struct http_req *req);
void api_openapi(struct service *svc, struct http_req *req);
void api_llms(struct service *svc, struct http_req *req);
/* Piston-compatible API (api_piston.c): GET /api/v2/runtimes,
 * POST /api/v2/execute. */
void api_piston_runtimes(struct service *svc, struct http_req *req);
void api_piston_execute(struct service *svc, struct http_req *req);
/* Model Context Protocol server, Streamable HTTP transport (api_mcp.c). */
void api_mcp(struct service *svc, struct http_req *req);

/* Durable key-value memory (api_memory.c): GET|HEAD|PUT|DELETE
 * /v1/memory/{namespace}/{key}, GET /v1/memory/{namespace} (listing),
 * GET /v1/memory (usage); OPTIONS answers CORS preflights. */
void api_memory(struct service *svc, struct http_req *req);
void api_memory_options(struct service *svc, struct http_req *req);

/* Sessions (api_session.c): POST /v1/sessions (create), .../{id}/exec,
 * .../{id}/interrupt, .../{id}/fork; GET /v1/sessions, .../{id},
 * .../{id}/fs; PUT .../{id}/fs; PATCH .../{id}; DELETE .../{id},
 * .../{id}/fs. */
void api_session_get(struct service *svc, struct http_req *req);
void api_session_post(struct service *svc, struct http_req *req);
void api_session_put(struct service *svc, struct http_req *req);
void api_session_patch(struct service *svc, struct http_req *req);
void api_session_delete(struct service *svc, struct http_req *req);
struct session;
/* The session object of the HTTP API (GET /v1/sessions/{id}; no token),
 * also the MCP server's: caller puts it. */
json_object *api_session_json(struct service *svc, const struct session *s);
/* A kernel step's "kernel" object (executionCount, results as MIME
 * bundles, error, interrupted, restarted) for run, which must hold a
 * kernel verdict (run->res.kernel); with req->sse each bundle is also sent
 * as a display / result / exception event. Caller puts it. */
json_object *api_kernel_json(struct http_req *req, const struct exec_run *run,
			     int restarted);

/* Volumes (api_volume.c): POST|GET /v1/volumes, GET|DELETE
 * /v1/volumes/{id}, GET|HEAD|PUT|DELETE /v1/volumes/{id}/fs. */
void api_volume_get(struct service *svc, struct http_req *req);
void api_volume_post(struct service *svc, struct http_req *req);
void api_volume_put(struct service *svc, struct http_req *req);
void api_volume_delete(struct service *svc, struct http_req *req);

/* The file API's HTTP side (api_fs.c), which sessions and volumes share:
 * ?path= / ?pathHex=, GET|HEAD (listing or file, Range), PUT (streamed,
 * at most session_max_upload_bytes, sha256), DELETE (204). The target
 * does the storage side with the semantics of session.h's session_fs_*;
 * root_name names the root in messages ("/workspace"). */
struct session_get_cb;
struct api_fs_target {
	void *ctx;
	const char *root_name;
	int (*get)(void *ctx, const char *path, size_t n,
		   struct session_get_cb *cb, struct isobox_err *err);
	int (*put)(void *ctx, const char *path, size_t n, int64_t max,
		   ssize_t (*src)(void *ctx, char *buf, size_t cap),
		   void *src_ctx, int64_t *bytes, char sha256[65],
		   struct isobox_err *err);
	int (*del)(void *ctx, const char *path, size_t n,
		   struct isobox_err *err);
};
void api_fs_serve(struct service *svc, struct http_req *req,
		  const struct api_fs_target *t);

/* ------------------------------------------------------------------ */
/* Shared helpers (api_util.c). The one JSON parser for bodies is
 * request_json_parse (request.h). */

/* Signal number -> "SIGKILL", or NULL for 0. Thread-local buffer. */
const char *api_signal_name(int sig);
/* Make s (n bytes) JSON-safe: invalid UTF-8 sequences become U+FFFD.
 * Returns a fresh NUL-terminated string (caller frees). */
char *api_utf8_clean(const uint8_t *s, size_t n, size_t *out_len);
/* How many bytes at the end of p (n bytes) start a UTF-8 sequence that is
 * valid so far but cut short (0..3): hold them back until more arrives. */
size_t api_utf8_tail(const uint8_t *p, size_t n);
/* A JSON string of p (n bytes) made safe by api_utf8_clean (caller puts). */
json_object *api_json_bytes(const void *p, size_t n);

/* Output as whole UTF-8 characters: a character cut at the end of one
 * chunk is held back, per stage and stream, until that stream goes on,
 * so nothing lands in the middle of it. Zero it to start. */
struct api_utf8_hold {
	uint8_t tail[2][3][4]; /* [compile, run][stream 0..2] */
	size_t len[2][3];
};
/* Append to out what stage ('c' or 'r') and stream (0..2) held back, then
 * p (n bytes), minus a character cut at its end (held back instead). */
void api_utf8_hold_feed(struct api_utf8_hold *h, int stage, int stream,
			const uint8_t *p, size_t n, struct buf *out);
/* Append to out what stage and stream still hold back, and forget it. */
void api_utf8_hold_flush(struct api_utf8_hold *h, int stage, int stream,
			 struct buf *out);

/* 1 when a Content-Type is application/json (parameters allowed). */
int api_is_json(const char *content_type);
/* 1 when the request has no Origin header or its Origin names the Host it
 * was sent to; 0 for a cross-origin (or opaque "null") browser request. */
int api_origin_ok(const struct http_req *req);

/* Memory names (docs/API.md, Memory): 1 when ns is a valid namespace
 * ([A-Za-z0-9_.:-]{1,128}); a key is 1 to memory_max_key_bytes of UTF-8
 * without NUL, else -1 with 400 invalid_key. */
int api_memory_ns_ok(const char *ns);
int api_memory_key_check(const struct config *cfg, const char *key, size_t n,
			 struct isobox_err *err);
/* ms since the epoch as an RFC 3339 JSON string with milliseconds
 * ("2026-01-02T03:04:05.678Z"; caller puts). */
json_object *api_time_json(int64_t ms);
/* Standard base64 with padding of p (n bytes); caller frees. */
char *api_base64(const void *p, size_t n);

/* An exec_ctx for req: its tenant and id, cancelled when req's client
 * goes away (ctx is req); no output or admission callbacks. */
void api_exec_ctx(struct http_req *req, struct exec_ctx *x);
/* A run's output as JSON or as Server-Sent Events (stdout/stderr events
 * of whole UTF-8 characters, opened once the run is admitted when the
 * client asked for a stream): the exec_ctx callbacks of /execute and of
 * session steps, with a struct api_stream as their ctx. */
struct api_stream {
	struct http_req *req;
	struct api_utf8_hold hold;
};
void api_stream_init(struct api_stream *st, struct http_req *req);
int api_stream_cancelled(void *ctx);
int api_stream_output(void *ctx, int stage, int stream, const uint8_t *p,
		      size_t n);
void api_stream_admitted(void *ctx);
/* A cancelled() callback for exec_ctx: ctx is a struct http_req. */
int api_req_gone(void *req);
/* The /execute response object for a finished run (caller puts it). */
json_object *api_result_json(const struct lang *lang,
			     const struct exec_run *run);
/* After exec_run (rc, err) for req, once the answer is rendered: the
 * access log's outcome (the run's, or "client_gone" after a 499; other
 * errors keep the code their answer set) and sandbox timings, and run's
 * sandbox removed after the answer is complete (the client does not wait
 * for it). Takes ownership of run (NULL is fine). A request may finish
 * several runs (an MCP batch): all are removed, the log shows the last. */
void api_exec_done(struct http_req *req, int rc, const struct isobox_err *err,
		   struct exec_run *run);

#endif
