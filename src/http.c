/* http.c - FastCGI request I/O; see http.h. */
#include "http.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *param(FCGX_Request *fr, const char *name)
{
	const char *v = FCGX_GetParam(name, fr->envp);

	return v ? v : "";
}

void http_req_init(struct http_req *r, FCGX_Request *fr)
{
	const char *uri;
	const char *cl;
	size_t n;
	long long v;

	memset(r, 0, sizeof(*r));
	r->fr = fr;
	r->start_ms = now_ms();
	random_hex(r->id, 8);
	r->method = param(fr, "REQUEST_METHOD");
	r->query = param(fr, "QUERY_STRING");
	r->content_type = param(fr, "CONTENT_TYPE");
	r->accept = param(fr, "HTTP_ACCEPT");
	r->remote_addr = param(fr, "REMOTE_ADDR");
	/* lighttpd and Apache both send REQUEST_URI; fall back to
	 * SCRIPT_NAME + PATH_INFO for servers that do not. */
	uri = FCGX_GetParam("REQUEST_URI", fr->envp);
	if (uri && *uri) {
		n = strcspn(uri, "?");
		if (n >= sizeof(r->path)) {
			n = sizeof(r->path) - 1;
		}
		memcpy(r->path, uri, n);
		r->path[n] = '\0';
	} else {
		snprintf(r->path, sizeof(r->path), "%s%s",
			 param(fr, "SCRIPT_NAME"), param(fr, "PATH_INFO"));
	}
	if (r->path[0] == '\0') {
		snprintf(r->path, sizeof(r->path), "/");
	}
	cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	r->body_len_hint = (cl && *cl && parse_ll(cl, &v) == 0) ? v : -1;
	r->route = "-";
	snprintf(r->outcome, sizeof(r->outcome), "-");
}

void http_req_free(struct http_req *r)
{
	json_object_put(r->log_extra);
	buf_free(&r->body);
}

int http_read_body(struct http_req *r, int64_t max, struct isobox_err *err)
{
	char tmp[16384];
	int n;

	if (r->body_read) {
		return r->body_read < 0 ? -1 : 0;
	}
	if (r->body_len_hint > max) {
		r->body_read = -1;
		http_drain_body(r);
		return err_set(err, 413, "body_too_large",
			       "the request body is larger than %lld bytes",
			       (long long)max);
	}
	while ((n = FCGX_GetStr(tmp, sizeof(tmp), r->fr->in)) > 0) {
		if ((int64_t)(r->body.len + (size_t)n) > max) {
			r->body_read = -1;
			buf_free(&r->body);
			http_drain_body(r);
			return err_set(err, 413, "body_too_large",
				       "the request body is larger than %lld "
				       "bytes",
				       (long long)max);
		}
		buf_add(&r->body, tmp, (size_t)n);
	}
	if (r->body.p == NULL) {
		buf_add(&r->body, "", 0);
	}
	r->body_read = 1;
	return 0;
}

void http_drain_body(struct http_req *r)
{
	char tmp[16384];

	while (FCGX_GetStr(tmp, sizeof(tmp), r->fr->in) > 0) {
	}
}

/* The raw (still encoded) value of the first parameter called name in
 * query q: [*v, *e) and 1, or 0 when absent. */
static int query_find(const char *q, const char *name, const char **v,
		      const char **e)
{
	size_t nl = strlen(name);

	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);

		if (len >= nl && strncmp(q, name, nl) == 0 &&
		    (len == nl || q[nl] == '=')) {
			*v = len == nl ? q + nl : q + nl + 1;
			*e = q + len;
			return 1;
		}
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* Percent-decode [v, e) into out ('+' is a space; a %00 is a NUL byte),
 * at most cap bytes: how many were written. */
static size_t query_decode(const char *v, const char *e, char *out, size_t cap)
{
	size_t o = 0;

	while (v < e && o < cap) {
		if (*v == '%' && e - v >= 3 && hex_digit(v[1]) >= 0 &&
		    hex_digit(v[2]) >= 0) {
			out[o++] =
			    (char)(hex_digit(v[1]) << 4 | hex_digit(v[2]));
			v += 3;
		} else {
			out[o++] = *v == '+' ? ' ' : *v;
			v++;
		}
	}
	return o;
}

int http_query_get(const struct http_req *r, const char *name, char *out,
		   size_t n)
{
	const char *v;
	const char *e;

	if (n == 0 || !query_find(r->query, name, &v, &e)) {
		return 0;
	}
	out[query_decode(v, e, out, n - 1)] = '\0';
	return 1;
}

char *http_query_dup(const struct http_req *r, const char *name, size_t *n)
{
	const char *v;
	const char *e;
	char *o;

	*n = 0;
	if (!query_find(r->query, name, &v, &e)) {
		return NULL;
	}
	o = xmalloc((size_t)(e - v) + 1);
	*n = query_decode(v, e, o, (size_t)(e - v));
	o[*n] = '\0';
	return o;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 499:
		return "Client Closed Request";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 507:
		return "Insufficient Storage";
	default:
		return "Status";
	}
}

static void send_head(struct http_req *r, int status, const char *ctype,
		      const char *extra)
{
	FCGX_FPrintF(r->fr->out,
		     "Status: %d %s\r\nContent-Type: %s\r\n"
		     "X-Request-Id: %s\r\n"
		     "X-Content-Type-Options: nosniff\r\n%s\r\n",
		     status, reason(status), ctype, r->id, extra ? extra : "");
	r->status = status;
}

void http_send_head(struct http_req *r, int status, const char *ctype,
		    const char *extra_headers)
{
	if (r->status) {
		return; /* already answered */
	}
	send_head(r, status, ctype, extra_headers);
}

void http_send_text(struct http_req *r, int status, const char *ctype,
		    const char *body, size_t len, const char *extra_headers)
{
	if (r->status) {
		return; /* already answered */
	}
	send_head(r, status, ctype, extra_headers);
	FCGX_PutStr(body, (int)len, r->fr->out);
}

void http_send_json(struct http_req *r, int status, json_object *obj,
		    const char *extra_headers)
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(
	    obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	struct buf b = {0};

	buf_add(&b, s, len);
	buf_add(&b, "\n", 1);
	http_send_text(r, status, "application/json", b.p, b.len,
		       extra_headers);
	buf_free(&b);
}

void http_send_error(struct http_req *r, const struct isobox_err *err)
{
	json_object *o = json_object_new_object();
	char extra[128] = "";

	json_object_object_add(o, "error", json_object_new_string(err->code));
	json_object_object_add(o, "message", json_object_new_string(err->msg));
	json_object_object_add(o, "requestId", json_object_new_string(r->id));
	snprintf(r->outcome, sizeof(r->outcome), "%s", err->code);
	if (r->sse) {
		http_sse_event(
		    r, "error",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	} else {
		if (err->status == 429 || err->status == 503 ||
		    r->retry_after > 0) {
			snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
				 r->retry_after > 0   ? r->retry_after
				 : err->status == 429 ? 1
						      : 5);
		} else if (err->status == 401) {
			snprintf(
			    extra, sizeof(extra),
			    "WWW-Authenticate: Bearer realm=\"isobox\"\r\n");
		}
		http_send_json(r, err->status ? err->status : 500, o, extra);
	}
	json_object_put(o);
}

void http_send_err(struct http_req *r, int status, const char *code,
		   const char *fmt, ...)
{
	struct isobox_err e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.status = status;
	snprintf(e.code, sizeof(e.code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	http_send_error(r, &e);
}

void http_sse_start(struct http_req *r)
{
	send_head(r, 200, "text/event-stream; charset=utf-8",
		  "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
	r->sse = 1;
	r->last_write_ms = now_ms();
	if (FCGX_FFlush(r->fr->out) < 0 || FCGX_GetError(r->fr->out)) {
		r->gone = 1;
	}
}

int http_sse_event(struct http_req *r, const char *event, const char *data)
{
	if (r->gone) {
		return -1;
	}
	FCGX_FPrintF(r->fr->out, "event: %s\ndata: %s\n\n", event, data);
	if (FCGX_FFlush(r->fr->out) < 0 || FCGX_GetError(r->fr->out)) {
		r->gone = 1;
		return -1;
	}
	r->last_write_ms = now_ms();
	return 0;
}

int http_client_gone(struct http_req *r)
{
	struct pollfd p;

	if (r->gone) {
		return 1;
	}
	/* The web server may only notice (and tell us) that the client left
	 * when something is written: on an open stream, a comment line each
	 * second does that while the program is silent. */
	if (r->sse && now_ms() - r->last_write_ms >= 1000) {
		FCGX_PutS(": keepalive\n\n", r->fr->out);
		if (FCGX_FFlush(r->fr->out) < 0 || FCGX_GetError(r->fr->out)) {
			r->gone = 1;
			return 1;
		}
		r->last_write_ms = now_ms();
	}
	p.fd = r->fr->ipcFd;
	p.events = POLLIN | POLLRDHUP;
	p.revents = 0;
	if (p.fd < 0 || poll(&p, 1, 0) <= 0) {
		return 0;
	}
	/* The body was drained, so anything readable now is the web server
	 * aborting the request or closing the connection. */
	if (p.revents & (POLLIN | POLLHUP | POLLRDHUP | POLLERR)) {
		r->gone = 1;
	}
	return r->gone;
}

int http_wants_sse(const struct http_req *r)
{
	char v[16];

	if (strstr(r->accept, "text/event-stream")) {
		return 1;
	}
	if (http_query_get(r, "stream", v, sizeof(v))) {
		return strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
	}
	return 0;
}

void http_log_access(struct http_req *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "requestId", json_object_new_string(r->id));
	json_object_object_add(o, "method", json_object_new_string(r->method));
	json_object_object_add(o, "path", json_object_new_string(r->path));
	json_object_object_add(o, "route", json_object_new_string(r->route));
	json_object_object_add(o, "status", json_object_new_int(r->status));
	json_object_object_add(o, "remote",
			       json_object_new_string(r->client_ip[0]
							  ? r->client_ip
							  : r->remote_addr));
	if (r->tenant.name[0]) {
		json_object_object_add(o, "tenant",
				       json_object_new_string(r->tenant.name));
	}
	if (r->language[0]) {
		json_object_object_add(o, "language",
				       json_object_new_string(r->language));
	}
	json_object_object_add(o, "outcome",
			       json_object_new_string(r->outcome));
	json_object_object_add(o, "durationMs",
			       json_object_new_int64(now_ms() - r->start_ms));
	if (r->log_extra) {
		json_object_object_foreach (r->log_extra, k, v) {
			json_object_object_add(o, k, json_object_get(v));
		}
	}
	{
		/* One JSON object per line, written with one write(2). */
		struct buf line = {0};
		int64_t w = wall_ms();
		time_t t = (time_t)(w / 1000);
		struct tm tm;
		char ts[40];

		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		buf_addf(&line,
			 "{\"ts\":\"%s.%03dZ\",\"level\":\"info\","
			 "\"msg\":\"access\",",
			 ts, (int)(w % 1000));
		buf_adds(&line, json_object_to_json_string_ext(
				    o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE) +
				    1);
		buf_add(&line, "\n", 1);
		if (write(2, line.p, line.len) < 0) {
			/* nowhere left to report it */
		}
		buf_free(&line);
	}
	json_object_put(o);
}
