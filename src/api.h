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
#include "session.h"

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
/* A POST /v1/sessions body (a JSON object), parsed without touching any
 * state (exposed for tests/fuzz): runtime ("runtime", else "language";
 * required, non-empty) and version (NULL when absent) borrow from body;
 * nr gets type, ttlSec, network, limits (pointing at lp) and the volumes
 * (pointing at vols: "volumeId" at /memory read-write, then "volumes":
 * [{id, mountPath, mode "rw"|"ro"}], at most SESSION_VOLUMES_MAX, ids and
 * mount paths that fit; session_create checks the paths). nr.lang,
 * tenant and reg are left NULL. 0, or -1 with 400 runtime_required /
 * invalid_field / invalid_request / invalid_ttl. */
struct api_session_body {
	const char *runtime;
	const char *version;
	struct session_new nr;
	struct volume_mount vols[SESSION_VOLUMES_MAX];
	struct limits_partial lp;
};
int api_session_body_parse(json_object *body, struct api_session_body *b,
			   struct isobox_err *err);
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
/* A POST /v1/volumes body (exposed for tests/fuzz; no state touched):
 * fills nv's name (default "memory"), size_bytes and size_given
 * ("sizeBytes", an integer) and from ("from", a volume id to copy), the
 * strings borrowed from body; nv.tenant is left NULL and volume_create
 * checks the values (volume_name_ok, volume_id_ok). 0, or -1 with 400
 * invalid_request (not an object, a non-string from) / invalid_name /
 * invalid_size. */
int api_volume_body_parse(json_object *body, struct volume_new *nv,
			  struct isobox_err *err);

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

/* The parsers of the file API's requests, exposed for tests/fuzz (pure:
 * no I/O, no state). api_fs_query_path: req->query's "pathHex" (the path's
 * bytes in hex: names that are not UTF-8, as listings give them in
 * nameHex) or else "path", percent-decoded into bytes (a %00 stays a NUL,
 * which the path check refuses; '+' is a space). Returns a fresh
 * NUL-terminated copy (caller frees) of *n bytes, or NULL when absent (*n
 * 0) or when pathHex, decoded whole, is not an even number of hex digits
 * (a %00 is not one) or longer than FSAPI_PATH_MAX bytes (*n 1). The path
 * itself is checked later (fsapi_path_check). */
char *api_fs_query_path(const struct http_req *req, size_t *n);
/* The Range header h (may be NULL): exactly one of "bytes=A-B" (B >= A),
 * "bytes=A-" or "bytes=-N" (N > 0), A, B and N decimal digits and at most
 * INT64_MAX - 9. Sets *ranged and cb's offset, length (-1: to the end) and
 * suffix (bytes=-N: length is the last N bytes); anything else leaves cb
 * alone and *ranged 0 (the file is served whole). */
void api_fs_parse_range(const char *h, struct session_get_cb *cb, int *ranged);

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
/* The parsers of /v1/memory requests (api_memory.c), exposed for
 * tests/fuzz; pure. api_memory_pct_decode: percent-decode s[0..n) (a key
 * in the path) into a fresh NUL-terminated string of *out_len bytes
 * (caller frees); NULL when a '%' is not followed by two hex digits or
 * the result would hold a NUL. */
char *api_memory_pct_decode(const char *s, size_t n, size_t *out_len);
/* Listing cursors travel as base64url without padding: encode p (n
 * bytes) into a fresh string (caller frees); decode s (padding accepted,
 * one encoding per value: leftover bits must be zero) into out (cap
 * bytes): the length, or -1 when s is not base64url or is longer. */
char *api_memory_cursor_encode(const uint8_t *p, size_t n);
long api_memory_cursor_decode(const char *s, uint8_t *out, size_t cap);
/* 1 when list (an If-Match / If-None-Match value: "*", or a comma list
 * of quoted or bare entity tags, W/ marking weak ones) names etag; weak:
 * weak tags count too (If-None-Match). Else 0. */
int api_memory_etag_listed(const char *list, const char *etag, int weak);
/* X-TTL-Seconds s (NULL or "": 0, no expiry): decimal digits only, at
 * most ten years (316224000). 0 with *out, or -1. */
int api_memory_parse_ttl(const char *s, long long *out);
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
/* A collection's GET (/v1/sessions, /v1/volumes): the module's list call
 * is given a list callback that appends each item's JSON with
 * api_list_add; api_list_send then answers. */
struct api_list {
	struct service *svc;
	json_object *items; /* owned by the listing until api_list_send */
};
/* An empty listing for svc. */
void api_list_init(struct api_list *l, struct service *svc);
/* Append item (the listing takes it). Returns 0, a list callback's "go
 * on". */
int api_list_add(struct api_list *l, json_object *item);
/* Answer req: for rc 0 (the list call succeeded) 200 with {key: items};
 * for rc < 0 the list call's err through fail, the handler's own error
 * sender (which knows its Retry-After). The items are spent either
 * way. */
void api_list_send(struct api_list *l, struct http_req *req, const char *key,
		   int rc, const struct isobox_err *err,
		   void (*fail)(struct http_req *req,
				const struct isobox_err *err));

/* After exec_run (rc, err) for req, once the answer is rendered: the
 * access log's outcome (the run's, or "client_gone" after a 499; other
 * errors keep the code their answer set) and sandbox timings, and run's
 * sandbox removed after the answer is complete (the client does not wait
 * for it). Takes ownership of run (NULL is fine). A request may finish
 * several runs (an MCP batch): all are removed, the log shows the last. */
void api_exec_done(struct http_req *req, int rc, const struct isobox_err *err,
		   struct exec_run *run);

#endif
