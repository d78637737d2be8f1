/* api.h - the HTTP handlers. Each is thin: parse and validate, call a
 * service module, render. They never talk to Docker or LMDB directly. */
#ifndef ISOBOX_API_H
#define ISOBOX_API_H

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

/* Shared helpers for handlers that run code. */
/* Signal number -> "SIGKILL", or NULL for 0. */
const char *api_signal_name(int sig);
/* Append s (n bytes) to a JSON-safe string: invalid UTF-8 sequences become
 * U+FFFD. Returns a fresh NUL-terminated string (caller frees). */
char *api_utf8_clean(const uint8_t *s, size_t n, size_t *out_len);
/* How many bytes at the end of p (n bytes) start a UTF-8 sequence that is
 * valid so far but cut short (0..3): hold them back until more arrives. */
size_t api_utf8_tail(const uint8_t *p, size_t n);
/* 1 when a Content-Type is application/json (parameters allowed). */
int api_is_json(const char *content_type);
/* The /execute response object for a finished run (caller puts it). */
json_object *api_result_json(const struct lang *lang,
			     const struct sandbox_result *res,
			     const struct limits *lim);
/* Set req->outcome for the access log from a finished run. */
void api_outcome(struct http_req *req, const struct sandbox_result *res);
/* Parse a whole body as strict JSON (RFC 8259; only white space may follow
 * the value). Returns the value (caller puts it), or NULL with err set to
 * 400 invalid_json. */
json_object *api_json_parse(const char *s, size_t n, struct isobox_err *err);
/* 1 when the request has no Origin header or its Origin names the Host it
 * was sent to; 0 for a cross-origin (or opaque "null") browser request. */
int api_origin_ok(const struct http_req *req);

#endif
