/* http.h - one HTTP request as seen through FastCGI: its parameters, its
 * capped body, and the ways to answer (JSON, errors, Server-Sent Events).
 * A struct http_req is the per-request context every handler receives; it
 * is owned by the worker thread that accepted the request. */
#ifndef ISOBOX_HTTP_H
#define ISOBOX_HTTP_H

#include <fcgiapp.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "util.h"

struct http_req {
	FCGX_Request *fr;
	const char *method;
	char path[1024];   /* REQUEST_URI without the query string */
	const char *query; /* QUERY_STRING or "" */
	const char *content_type;
	const char *accept;
	const char *remote_addr;
	char id[33]; /* request id, echoed in X-Request-Id */
	int64_t start_ms;
	struct buf body;
	int body_read;	       /* the body was read (or refused) */
	int64_t body_len_hint; /* CONTENT_LENGTH or -1 */
	int status;	       /* status sent, 0 until headers go out */
	int sse;	       /* an event stream is open */
	int gone;	       /* the client went away */
	int retry_after; /* seconds for Retry-After on 429/503, 0: default */
	int64_t last_write_ms; /* last event written on an open stream */
	struct tenant tenant; /* who is asking (auth_check), "public" if open */
	char client_ip[64];   /* REMOTE_ADDR, or the forwarded client behind a
			       * trusted proxy */
	/* Work to do after the answer is complete (FCGX_Finish_r), such as
	 * removing the sandbox: the client does not wait for it. */
	void (*after)(void *ctx);
	void *after_ctx;
	/* For the access log. */
	json_object *log_extra; /* fields handlers add (may be NULL) */
	const char *route;
	char language[65];
	char outcome[48];
};

/* Set up r for an accepted request and drain nothing yet. */
void http_req_init(struct http_req *r, FCGX_Request *fr);
void http_req_free(struct http_req *r);

/* Read the whole body, at most max bytes. Returns 0, or -1 with 413
 * body_too_large in err. Idempotent. */
int http_read_body(struct http_req *r, int64_t max, struct isobox_err *err);
/* Consume whatever is left of the request body, so that later input on
 * the connection can only mean the client left. */
void http_drain_body(struct http_req *r);

/* Query parameter lookup: copies the decoded value of name into out and
 * returns 1, or 0 when absent. */
int http_query_get(const struct http_req *r, const char *name, char *out,
		   size_t n);
/* The same, binary-safe: a fresh copy of the decoded value (*n bytes and
 * a NUL; a %00 stays a NUL byte inside), caller frees; NULL (and *n 0)
 * when absent. */
char *http_query_dup(const struct http_req *r, const char *name, size_t *n);

/* Send a complete JSON answer. obj is borrowed. extra_headers (may be NULL)
 * are complete "Name: value\r\n" lines. */
void http_send_json(struct http_req *r, int status, json_object *obj,
		    const char *extra_headers);
void http_send_text(struct http_req *r, int status, const char *ctype,
		    const char *body, size_t len, const char *extra_headers);
/* Send only the status line and headers of an answer whose body the
 * caller then writes to r->fr->out itself (e.g. a value streamed out of
 * the store). Does nothing once an answer was sent. */
void http_send_head(struct http_req *r, int status, const char *ctype,
		    const char *extra_headers);
/* Send the error as {"error","message","requestId"} (or as an SSE "error"
 * event when a stream is already open). */
void http_send_error(struct http_req *r, const struct isobox_err *err);
void http_send_err(struct http_req *r, int status, const char *code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Start an event stream (200, text/event-stream, no caching, no proxy
 * buffering). */
void http_sse_start(struct http_req *r);
/* Send one event; data is one line of JSON. Returns 0, or -1 once the
 * client is gone (r->gone is then set). */
int http_sse_event(struct http_req *r, const char *event, const char *data);

/* 1 when the client has gone away (the web server closed or aborted the
 * FastCGI request). Cheap: one poll(2) with no wait. */
int http_client_gone(struct http_req *r);

/* One JSON access-log line for the finished request. */
void http_log_access(struct http_req *r);

/* True when the request asked for an event stream (Accept or ?stream=1). */
int http_wants_sse(const struct http_req *r);

#endif
