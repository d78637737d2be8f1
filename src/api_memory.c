/* api_memory.c - /v1/memory: the seed's key-value routes plus compare-and-
 * set, ETags on write, HEAD, listings with items and per-tenant usage. Thin:
 * parse the path and headers, call kv, render. A value is read whole
 * (bounded by memory_max_value_bytes) before its write joins a group
 * commit, and streams from the map into the response. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "kv.h"

#define PREFIX	     "/v1/memory"
#define LIST_DEFAULT 100
#define LIST_MAX     1000
#define TTL_MAX	     (10LL * 366 * 86400) /* ten years */
#define CHUNK	     (256 * 1024)
#define PREFLIGHT_HDR                                                          \
	"Access-Control-Allow-Methods: GET, HEAD, PUT, DELETE, OPTIONS\r\n"    \
	"Access-Control-Allow-Headers: Content-Type, X-API-Key, "              \
	"Authorization, X-TTL-Seconds, If-Match, If-None-Match\r\n"            \
	"Access-Control-Max-Age: 600\r\n"

/* One parsed /v1/memory request. */
struct mem_req {
	struct service *svc;
	struct http_req *req;
	uint8_t tenant[KV_TENANT_BYTES];
	char ns[KV_NS_MAX + 1];
	char *key; /* decoded, NUL-terminated (keys hold no NUL) */
	size_t key_len;
	const char *if_match; /* raw headers or NULL */
	const char *if_none_match;
	char cors[1024]; /* CORS response lines, "" for same-origin calls */
	int head;
	int not_modified; /* GET: If-None-Match matched */
};

static const char *param(const struct http_req *r, const char *name)
{
	return FCGX_GetParam(name, r->fr->envp);
}

/* ------------------------------------------------------------------ */
/* Parsing */

static int hexv(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Percent-decode s[0..n) into a fresh string (caller frees). NULL when a
 * % is not followed by two hex digits or the result holds a NUL. */
char *api_memory_pct_decode(const char *s, size_t n, size_t *out_len)
{
	char *o = xmalloc(n + 1);
	size_t i;
	size_t k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || hexv(s[i + 1]) < 0 ||
			    hexv(s[i + 2]) < 0) {
				free(o);
				return NULL;
			}
			o[k] = (char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
			i += 2;
		} else {
			o[k] = s[i];
		}
		if (o[k] == '\0') {
			free(o);
			return NULL;
		}
		k++;
	}
	o[k] = '\0';
	*out_len = k;
	return o;
}

/* base64url without padding (padding accepted on input). */
static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *api_memory_cursor_encode(const uint8_t *p, size_t n)
{
	char *o = xmalloc(n / 3 * 4 + 5);
	size_t i;
	size_t k = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		o[k++] = b64[v >> 18];
		o[k++] = b64[(v >> 12) & 63];
		o[k++] = b64[(v >> 6) & 63];
		o[k++] = b64[v & 63];
	}
	if (n - i == 1) {
		o[k++] = b64[p[i] >> 2];
		o[k++] = b64[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

		o[k++] = b64[v >> 10];
		o[k++] = b64[(v >> 4) & 63];
		o[k++] = b64[(v & 15) << 2];
	}
	o[k] = '\0';
	return o;
}

/* Decode into out (cap bytes). Returns the length, or -1 when s is not
 * base64url or decodes to more than cap bytes. */
long api_memory_cursor_decode(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);
	uint32_t acc = 0;
	int bits = 0;
	size_t k = 0;
	size_t i;

	while (n > 0 && s[n - 1] == '=') {
		n--;
	}
	if (n % 4 == 1) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		const char *p = strchr(b64, s[i]);

		if (p == NULL || s[i] == '\0') {
			return -1;
		}
		acc = acc << 6 | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (k >= cap) {
				return -1;
			}
			out[k++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero (one encoding per value). */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
		return -1;
	}
	return (long)k;
}

/* ------------------------------------------------------------------ */
/* Conditional requests (RFC 9110 section 13) */

/* 1 when the list (If-Match / If-None-Match value) names etag; "*"
 * matches any existing item. weak: W/"x" counts (If-None-Match). */
int api_memory_etag_listed(const char *list, const char *etag, int weak)
{
	const char *p = list;

	while (*p) {
		const char *s;
		size_t n;
		int is_weak = 0;

		while (*p == ' ' || *p == '\t' || *p == ',') {
			p++;
		}
		if (*p == '\0') {
			break;
		}
		if (*p == '*') {
			return 1;
		}
		if (p[0] == 'W' && p[1] == '/') {
			is_weak = 1;
			p += 2;
		}
		if (*p == '"') {
			s = ++p;
			while (*p && *p != '"') {
				p++;
			}
			n = (size_t)(p - s);
			if (*p == '"') {
				p++;
			}
		} else {
			/* Bare tokens, as some clients send them. */
			s = p;
			while (*p && *p != ',' && *p != ' ' && *p != '\t') {
				p++;
			}
			n = (size_t)(p - s);
		}
		if ((weak || !is_weak) && n == strlen(etag) &&
		    memcmp(s, etag, n) == 0) {
			return 1;
		}
	}
	return 0;
}

/* The precondition of writes (and of DELETE): If-Match must name the
 * current item, If-None-Match must not ("*": the item must not exist). */
static int write_pre(void *ctx, const struct kv_meta *cur)
{
	struct mem_req *m = ctx;

	if (m->if_match && (cur == NULL || !api_memory_etag_listed(
					       m->if_match, cur->etag, 0))) {
		return -1;
	}
	if (m->if_none_match && cur &&
	    api_memory_etag_listed(m->if_none_match, cur->etag, 1)) {
		return -1;
	}
	return 0;
}

/* GET and HEAD: If-Match as for writes; If-None-Match is a 304, decided
 * when the value is sent. */
static int read_pre(void *ctx, const struct kv_meta *cur)
{
	struct mem_req *m = ctx;

	if (m->if_match && (cur == NULL || !api_memory_etag_listed(
					       m->if_match, cur->etag, 0))) {
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Rendering */

static void rfc3339(int64_t ms, int with_ms, char *out, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	if (with_ms) {
		snprintf(out, n, "%s.%03dZ", s, (int)(ms % 1000));
	} else {
		snprintf(out, n, "%sZ", s);
	}
}

/* ETag, X-Expires-At and the CORS lines of an item's answer. */
static void item_headers(const struct mem_req *m, const struct kv_meta *meta,
			 struct buf *h)
{
	buf_addf(h, "ETag: \"%s\"\r\n", meta->etag);
	if (meta->expires_ms != 0) {
		char t[40];

		rfc3339(meta->expires_ms, 0, t, sizeof(t));
		buf_addf(h, "X-Expires-At: %s\r\n", t);
	}
	buf_adds(h, m->cors);
}

static void send_error(struct mem_req *m, const struct isobox_err *e)
{
	struct isobox_err c = *e;
	json_object *o;

	if (m->cors[0] == '\0') {
		http_send_error(m->req, &c);
		return;
	}
	/* http_send_error cannot add headers: the same object, by hand. */
	o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(c.code));
	json_object_object_add(o, "message", json_object_new_string(c.msg));
	json_object_object_add(o, "requestId",
			       json_object_new_string(m->req->id));
	snprintf(m->req->outcome, sizeof(m->req->outcome), "%s", c.code);
	http_send_json(m->req, c.status ? c.status : 500, o, m->cors);
	json_object_put(o);
}

static void fail(struct mem_req *m, int status, const char *code,
		 const char *msg)
{
	struct isobox_err e;

	err_set(&e, status, code, "%s", msg);
	send_error(m, &e);
}

/* ------------------------------------------------------------------ */
/* Handlers */

static int send_value(void *ctx, const struct kv_meta *meta, const void *value,
		      size_t len)
{
	struct mem_req *m = ctx;
	struct buf h = {0};
	const char *p = value;
	size_t off;

	item_headers(m, meta, &h);
	buf_adds(&h, "Cache-Control: private, no-cache\r\n");
	if (m->if_none_match &&
	    api_memory_etag_listed(m->if_none_match, meta->etag, 1)) {
		m->not_modified = 1;
		http_send_head(m->req, 304, meta->content_type, h.p);
		buf_free(&h);
		return 0;
	}
	buf_addf(&h, "Content-Length: %lld\r\n", (long long)len);
	http_send_head(m->req, 200, meta->content_type, h.p);
	buf_free(&h);
	if (m->head) {
		return 0;
	}
	/* Straight out of the map (the read transaction is open). */
	for (off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;

		if (FCGX_PutStr(p + off, (int)n, m->req->fr->out) < 0) {
			m->req->gone = 1;
			break;
		}
	}
	return 0;
}

static void item_get(struct mem_req *m)
{
	struct isobox_err e;
	struct kv_meta meta;

	http_drain_body(m->req);
	if (kv_get(&m->svc->kv, m->tenant, m->ns, m->key, m->key_len, wall_ms(),
		   read_pre, send_value, m, &meta, &e) < 0) {
		send_error(m, &e);
		return;
	}
	snprintf(m->req->outcome, sizeof(m->req->outcome), "%s",
		 m->not_modified ? "not_modified" : "ok");
}

/* Read exactly n bytes of body into a fresh buffer (caller frees), before
 * the write joins a batch: a slow client never holds the writer lock.
 * NULL when the body ended early. */
static char *read_value(struct http_req *r, size_t n)
{
	char *p = xmalloc(n ? n : 1);
	size_t got = 0;

	while (got < n) {
		size_t want = n - got < CHUNK ? n - got : CHUNK;
		int k = FCGX_GetStr(p + got, (int)want, r->fr->in);

		if (k <= 0) {
			free(p);
			return NULL;
		}
		got += (size_t)k;
	}
	return p;
}

/* Parse X-TTL-Seconds: a decimal integer >= 0 (0: no expiry). */
int api_memory_parse_ttl(const char *s, long long *out)
{
	long long v = 0;

	if (s == NULL || *s == '\0') {
		*out = 0;
		return 0;
	}
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > TTL_MAX) {
			return -1;
		}
		v = v * 10 + (*s - '0');
	}
	if (v > TTL_MAX) {
		return -1;
	}
	*out = v;
	return 0;
}

static void item_put(struct mem_req *m)
{
	struct http_req *r = m->req;
	const struct config *cfg = &m->svc->cfg;
	const char *ct = param(r, "CONTENT_TYPE");
	struct kv_write w;
	struct kv_meta out;
	struct isobox_err e;
	struct buf h = {0};
	long long ttl;
	char *value;
	int rc;
	int64_t now = wall_ms();

	if (api_memory_parse_ttl(param(r, "HTTP_X_TTL_SECONDS"), &ttl) < 0) {
		http_drain_body(r);
		fail(m, 400, "invalid_ttl",
		     "X-TTL-Seconds must be an integer from 0 (no expiry) "
		     "to 316224000");
		return;
	}
	if (ct == NULL || *ct == '\0') {
		ct = "application/octet-stream";
	}
	if (strlen(ct) > KV_CTYPE_MAX) {
		http_drain_body(r);
		fail(m, 400, "invalid_content_type",
		     "Content-Type is longer than 255 bytes");
		return;
	}
	if (r->body_len_hint < 0) {
		http_drain_body(r);
		fail(m, 411, "length_required",
		     "send the value with a Content-Length");
		return;
	}
	if (r->body_len_hint > cfg->memory_max_value_bytes) {
		http_drain_body(r);
		err_set(&e, 413, "value_too_large",
			"a value is at most %lld bytes",
			(long long)cfg->memory_max_value_bytes);
		send_error(m, &e);
		return;
	}
	value = read_value(r, (size_t)r->body_len_hint);
	http_drain_body(r);
	r->body_read = 1;
	if (value == NULL) {
		fail(m, 400, "incomplete_body",
		     "the request body ended before Content-Length bytes");
		return;
	}
	memset(&w, 0, sizeof(w));
	w.tenant = m->tenant;
	w.ns = m->ns;
	w.key = m->key;
	w.key_len = m->key_len;
	w.content_type = ct;
	w.value = value;
	w.len = (size_t)r->body_len_hint;
	/* Whole seconds, so X-Expires-At (RFC 3339, seconds) is exact. */
	w.expires_ms = ttl > 0 ? (now + ttl * 1000 + 999) / 1000 * 1000 : 0;
	w.now_ms = now;
	w.quota_bytes = r->tenant.memory_bytes > 0 ? r->tenant.memory_bytes
						   : cfg->memory_tenant_bytes;
	w.quota_keys = r->tenant.memory_keys > 0 ? r->tenant.memory_keys
						 : cfg->memory_tenant_keys;
	w.pre = write_pre;
	w.ctx = m;
	rc = kv_write(&m->svc->kv, &w, &out, &e);
	free(value);
	if (rc < 0) {
		send_error(m, &e);
		return;
	}
	item_headers(m, &out, &h);
	http_send_head(r, 204, "application/octet-stream", h.p);
	buf_free(&h);
	snprintf(r->outcome, sizeof(r->outcome), "stored");
}

static void item_delete(struct mem_req *m)
{
	struct kv_write w;
	struct isobox_err e;

	http_drain_body(m->req);
	memset(&w, 0, sizeof(w));
	w.del = 1;
	w.tenant = m->tenant;
	w.ns = m->ns;
	w.key = m->key;
	w.key_len = m->key_len;
	w.now_ms = wall_ms();
	w.pre = write_pre;
	w.ctx = m;
	if (kv_write(&m->svc->kv, &w, NULL, &e) < 0) {
		send_error(m, &e);
		return;
	}
	http_send_head(m->req, 204, "application/octet-stream", m->cors);
	snprintf(m->req->outcome, sizeof(m->req->outcome), "deleted");
}
static void list_item(void *ctx, const struct kv_item *it)
{
	json_object **arr = ctx;
	json_object *o = json_object_new_object();
	char t[40];

	json_object_array_add(
	    arr[0], json_object_new_string_len(it->key, (int)it->key_len));
	json_object_object_add(
	    o, "key", json_object_new_string_len(it->key, (int)it->key_len));
	json_object_object_add(o, "size", json_object_new_int64(it->size));
	json_object_object_add(o, "etag", json_object_new_string(it->etag));
	if (it->expires_ms != 0) {
		rfc3339(it->expires_ms, 0, t, sizeof(t));
		json_object_object_add(o, "expiresAt",
				       json_object_new_string(t));
	} else {
		json_object_object_add(o, "expiresAt", NULL);
	}
	rfc3339(it->updated_ms, 1, t, sizeof(t));
	json_object_object_add(o, "updatedAt", json_object_new_string(t));
	json_object_array_add(arr[1], o);
}

static void ns_list(struct mem_req *m)
{
	struct http_req *r = m->req;
	char prefix[2048] = "";
	char lim[32];
	char cur[1024] = "";
	uint8_t cursor[KV_CURSOR_MAX];
	uint8_t next[KV_CURSOR_MAX];
	size_t next_len = 0;
	long cursor_len = 0;
	long long limit = LIST_DEFAULT;
	json_object *arr[2];
	json_object *o;
	struct isobox_err e;
	char *nc;

	http_drain_body(r);
	if (http_query_get(r, "prefix", prefix, sizeof(prefix)) &&
	    (strlen(prefix) > (size_t)m->svc->cfg.memory_max_key_bytes ||
	     !utf8_valid(prefix, strlen(prefix)))) {
		fail(m, 400, "invalid_prefix",
		     "prefix is at most the longest key, in UTF-8");
		return;
	}
	if (http_query_get(r, "limit", lim, sizeof(lim)) && lim[0]) {
		if (parse_ll(lim, &limit) < 0 || limit < 1) {
			fail(m, 400, "invalid_limit",
			     "limit is an integer from 1 to 1000");
			return;
		}
		if (limit > LIST_MAX) {
			limit = LIST_MAX;
		}
	}
	if (http_query_get(r, "cursor", cur, sizeof(cur)) && cur[0]) {
		if (strlen(cur) + 1 >= sizeof(cur) ||
		    (cursor_len = api_memory_cursor_decode(
			 cur, cursor, sizeof(cursor))) <= 0) {
			fail(m, 400, "invalid_cursor",
			     "the cursor is not one a listing returned");
			return;
		}
	}
	arr[0] = json_object_new_array();
	arr[1] = json_object_new_array();
	if (kv_list(&m->svc->kv, m->tenant, m->ns, prefix, strlen(prefix),
		    cursor, (size_t)cursor_len, (int)limit, wall_ms(),
		    list_item, arr, next, &next_len, &e) < 0) {
		json_object_put(arr[0]);
		json_object_put(arr[1]);
		send_error(m, &e);
		return;
	}
	o = json_object_new_object();
	nc = api_memory_cursor_encode(next, next_len);
	json_object_object_add(o, "namespace", json_object_new_string(m->ns));
	json_object_object_add(o, "keys", arr[0]);
	json_object_object_add(o, "items", arr[1]);
	json_object_object_add(o, "nextCursor", json_object_new_string(nc));
	json_object_object_add(o, "listComplete",
			       json_object_new_boolean(next_len == 0));
	free(nc);
	{
		struct buf h = {0};

		buf_adds(&h, "Cache-Control: private, no-cache\r\n");
		buf_adds(&h, m->cors);
		http_send_json(r, 200, o, h.p);
		buf_free(&h);
	}
	json_object_put(o);
}

static void usage_ns(void *ctx, const char *ns, const struct kv_usage *u)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "namespace", json_object_new_string(ns));
	json_object_object_add(o, "bytes", json_object_new_int64(u->bytes));
	json_object_object_add(o, "keys", json_object_new_int64(u->keys));
	json_object_array_add(ctx, o);
}

static void tenant_usage(struct mem_req *m)
{
	struct http_req *r = m->req;
	const struct config *cfg = &m->svc->cfg;
	struct kv_usage total;
	struct isobox_err e;
	json_object *arr = json_object_new_array();
	json_object *o;
	json_object *u;
	json_object *q;
	struct buf h = {0};

	http_drain_body(r);
	if (kv_usage_get(&m->svc->kv, m->tenant, &total, usage_ns, arr, &e) <
	    0) {
		json_object_put(arr);
		send_error(m, &e);
		return;
	}
	o = json_object_new_object();
	u = json_object_new_object();
	q = json_object_new_object();
	json_object_object_add(u, "bytes", json_object_new_int64(total.bytes));
	json_object_object_add(u, "keys", json_object_new_int64(total.keys));
	json_object_object_add(
	    q, "bytes",
	    json_object_new_int64(r->tenant.memory_bytes > 0
				      ? r->tenant.memory_bytes
				      : cfg->memory_tenant_bytes));
	json_object_object_add(
	    q, "keys",
	    json_object_new_int64(r->tenant.memory_keys > 0
				      ? r->tenant.memory_keys
				      : cfg->memory_tenant_keys));
	json_object_object_add(
	    q, "valueBytes",
	    json_object_new_int64(cfg->memory_max_value_bytes));
	json_object_object_add(
	    q, "keyBytes", json_object_new_int64(cfg->memory_max_key_bytes));
	json_object_object_add(o, "tenant",
			       json_object_new_string(r->tenant.name));
	json_object_object_add(o, "namespaces", arr);
	json_object_object_add(o, "usage", u);
	json_object_object_add(o, "quota", q);
	buf_adds(&h, "Cache-Control: private, no-cache\r\n");
	buf_adds(&h, m->cors);
	http_send_json(r, 200, o, h.p);
	buf_free(&h);
	json_object_put(o);
}

/* ------------------------------------------------------------------ */
/* Entry points */

/* The Origin of a cross-origin browser call, or NULL. */
static const char *cross_origin(const struct http_req *r)
{
	const char *o = param(r, "HTTP_ORIGIN");

	if (o == NULL || *o == '\0' || api_origin_ok(r)) {
		return NULL;
	}
	return o;
}

static int origin_printable(const char *o)
{
	for (; *o; o++) {
		if ((unsigned char)*o < 0x21 || (unsigned char)*o > 0x7e) {
			return 0;
		}
	}
	return 1;
}

void api_memory_options(struct service *svc, struct http_req *req)
{
	const char *o = cross_origin(req);
	char h[1024];

	(void)svc;
	http_drain_body(req);
	if (o == NULL || strlen(o) > 512 || !origin_printable(o)) {
		http_send_head(req, 204, "application/octet-stream",
			       "Allow: GET, HEAD, PUT, DELETE, OPTIONS\r\n");
		return;
	}
	snprintf(h, sizeof(h),
		 "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
		 "Allow: GET, HEAD, PUT, DELETE, OPTIONS\r\n" PREFLIGHT_HDR,
		 o);
	http_send_head(req, 204, "application/octet-stream", h);
}

void api_memory(struct service *svc, struct http_req *req)
{
	struct mem_req m;
	const char *uri = param(req, "REQUEST_URI");
	const char *path;
	const char *origin = cross_origin(req);
	size_t plen;
	const char *rest;
	const char *slash;
	enum { USAGE, LIST, ITEM } kind;
	int is_get = strcmp(req->method, "GET") == 0;
	struct isobox_err e;

	memset(&m, 0, sizeof(m));
	m.svc = svc;
	m.req = req;
	m.head = strcmp(req->method, "HEAD") == 0;
	is_get = is_get || m.head;
	if (origin) {
		/* A keyless call carries the visitor's network position, not
		 * a credential: cross-site pages get no answer from it. */
		if (req->tenant.kind != TENANT_KEY || strlen(origin) > 512 ||
		    !origin_printable(origin)) {
			http_drain_body(req);
			fail(
			    &m, 403, "forbidden_origin",
			    "cross-origin calls to /v1/memory need an API key");
			return;
		}
		snprintf(m.cors, sizeof(m.cors),
			 "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
			 "Access-Control-Expose-Headers: ETag, X-Expires-At, "
			 "X-Request-Id\r\n",
			 origin);
	}
	if (svc->cfg.memory_require_key && req->tenant.kind != TENANT_KEY) {
		http_drain_body(req);
		fail(&m, 403, "api_key_required",
		     "this server requires an API key for /v1/memory");
		return;
	}
	kv_tenant_id(req->tenant.name, m.tenant);
	if (uri == NULL || *uri == '\0') {
		uri = req->path;
	}
	plen = strcspn(uri, "?");
	path = uri;
	if (plen < strlen(PREFIX) || strncmp(path, PREFIX, strlen(PREFIX))) {
		http_drain_body(req);
		fail(&m, 404, "not_found", "no such route");
		return;
	}
	rest = path + strlen(PREFIX);
	plen -= strlen(PREFIX);
	if (plen == 0 || (plen == 1 && rest[0] == '/')) {
		kind = USAGE;
	} else if (rest[0] != '/') {
		http_drain_body(req);
		fail(&m, 404, "not_found", "no such route");
		return;
	} else {
		size_t nl;
		char *ns;
		size_t dn;

		rest++;
		plen--;
		slash = memchr(rest, '/', plen);
		nl = slash ? (size_t)(slash - rest) : plen;
		ns = api_memory_pct_decode(rest, nl, &dn);
		if (ns == NULL || !api_memory_ns_ok(ns)) {
			free(ns);
			http_drain_body(req);
			fail(&m, 400, "invalid_namespace",
			     "a namespace is 1-128 of [A-Za-z0-9_.:-]");
			return;
		}
		snprintf(m.ns, sizeof(m.ns), "%s", ns);
		free(ns);
		if (slash == NULL) {
			kind = LIST;
		} else {
			size_t kl = plen - nl - 1;

			kind = ITEM;
			m.key =
			    api_memory_pct_decode(slash + 1, kl, &m.key_len);
			if (m.key == NULL) {
				http_drain_body(req);
				fail(&m, 400, "invalid_key",
				     "a key must be UTF-8 without NUL, "
				     "percent-encoded where needed");
				return;
			}
			if (api_memory_key_check(&svc->cfg, m.key, m.key_len,
						 &e) < 0) {
				http_drain_body(req);
				send_error(&m, &e);
				goto out;
			}
		}
	}
	m.if_match = param(req, "HTTP_IF_MATCH");
	m.if_none_match = param(req, "HTTP_IF_NONE_MATCH");
	if (kind != ITEM && !is_get) {
		char hdr[64];

		http_drain_body(req);
		err_set(&e, 405, "method_not_allowed",
			"%s is not allowed on %s (use GET)", req->method,
			kind == LIST ? "a namespace" : "/v1/memory");
		snprintf(hdr, sizeof(hdr), "Allow: GET, HEAD\r\n");
		{
			json_object *o = json_object_new_object();
			struct buf h = {0};

			json_object_object_add(o, "error",
					       json_object_new_string(e.code));
			json_object_object_add(o, "message",
					       json_object_new_string(e.msg));
			json_object_object_add(o, "requestId",
					       json_object_new_string(req->id));
			buf_adds(&h, hdr);
			buf_adds(&h, m.cors);
			snprintf(req->outcome, sizeof(req->outcome), "%s",
				 e.code);
			http_send_json(req, 405, o, h.p);
			buf_free(&h);
			json_object_put(o);
		}
		goto out;
	}
	if (kind == USAGE) {
		tenant_usage(&m);
	} else if (kind == LIST) {
		ns_list(&m);
	} else if (is_get) {
		item_get(&m);
	} else if (strcmp(req->method, "PUT") == 0) {
		item_put(&m);
	} else {
		item_delete(&m);
	}
out:
	free(m.key);
}
