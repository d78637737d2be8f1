/* api_fs.c - the HTTP side of the file API that sessions
 * (/v1/sessions/{id}/fs) and volumes (/v1/volumes/{id}/fs) share: the
 * path query, listings, Range, streamed uploads with sha256. The storage
 * side is the target's (struct api_fs_target, api.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bstore.h"
#include "fsapi.h"
#include "session.h"

#define READ_CHUNK 65536

static void send_error(struct http_req *req, const struct isobox_err *err)
{
	if (strcmp(err->code, "session_busy") == 0 ||
	    strcmp(err->code, "capacity") == 0) {
		req->retry_after = 1;
	}
	http_drain_body(req);
	http_send_error(req, err);
}

/* See api.h. */
char *api_fs_query_path(const struct http_req *req, size_t *n)
{
	size_t hl = 0;
	char *hx = http_query_dup(req, "pathHex", &hl);
	char *o;

	*n = 0;
	if (hx == NULL) {
		return http_query_dup(req, "path", n);
	}
	/* Every byte is decoded, so a %00 in it is refused, not an end. */
	if (hl % 2 != 0 || hl > 2 * FSAPI_PATH_MAX) {
		goto bad;
	}
	o = xmalloc(hl / 2 + 1);
	if (hex_decode(hx, hl, (uint8_t *)o) < 0) {
		free(o);
		goto bad;
	}
	o[hl / 2] = '\0';
	*n = hl / 2;
	free(hx);
	return o;
bad:
	free(hx);
	*n = 1;
	return NULL;
}

struct dl {
	struct http_req *req;
	json_object *entries;
	const char *path;
	size_t path_len;
	int head;
	int ranged;
	size_t since_check;
};

static int dl_entry(void *ctx, const struct session_fent *e)
{
	struct dl *d = ctx;
	json_object *o = json_object_new_object();
	size_t cl;
	char *clean =
	    api_utf8_clean((const uint8_t *)e->name, e->name_len, &cl);

	json_object_object_add(o, "name",
			       json_object_new_string_len(clean, (int)cl));
	if (cl != e->name_len || memcmp(clean, e->name, cl) != 0) {
		/* Not UTF-8: the exact bytes, for addressing it. */
		char *hex = xmalloc(2 * e->name_len + 1);
		size_t i;

		for (i = 0; i < e->name_len; i++) {
			snprintf(hex + 2 * i, 3, "%02x",
				 (unsigned char)e->name[i]);
		}
		hex[2 * e->name_len] = '\0';
		json_object_object_add(o, "nameHex",
				       json_object_new_string(hex));
		free(hex);
	}
	free(clean);
	json_object_object_add(o, "size", json_object_new_int64(e->size));
	json_object_object_add(o, "dir",
			       json_object_new_boolean(e->type == FSAPI_DIR));
	json_object_object_add(o, "modTime", api_time_json(e->mtime_ms));
	json_object_object_add(
	    o, "type",
	    json_object_new_string(fsapi_type_name((enum fsapi_type)e->type)));
	json_object_object_add(o, "mode", json_object_new_int((int)e->mode));
	json_object_array_add(d->entries, o);
	return 0;
}

static int dl_file(void *ctx, const struct session_fent *st, int64_t off,
		   int64_t len)
{
	struct dl *d = ctx;
	char hdr[256];

	if (d->ranged && (off >= st->size && !(st->size == 0 && off == 0))) {
		snprintf(hdr, sizeof(hdr), "Content-Range: bytes */%lld\r\n",
			 (long long)st->size);
		http_send_err(d->req, 416, "range_not_satisfiable",
			      "the file has %lld bytes", (long long)st->size);
		return 1;
	}
	if (d->ranged) {
		snprintf(hdr, sizeof(hdr),
			 "Content-Length: %lld\r\nAccept-Ranges: bytes\r\n"
			 "Content-Range: bytes %lld-%lld/%lld\r\n",
			 (long long)len, (long long)off,
			 (long long)(off + len - 1), (long long)st->size);
		http_send_head(d->req, 206, "application/octet-stream", hdr);
	} else {
		snprintf(hdr, sizeof(hdr),
			 "Content-Length: %lld\r\nAccept-Ranges: bytes\r\n",
			 (long long)len);
		http_send_head(d->req, 200, "application/octet-stream", hdr);
	}
	return 0;
}

static int dl_data(void *ctx, const char *p, size_t n)
{
	struct dl *d = ctx;

	if (d->head) {
		return 1; /* the head is all a HEAD gets */
	}
	/* A client that left stops the transfer (checked every 4 MiB). */
	d->since_check += n;
	if (d->since_check >= 4 * 1024 * 1024) {
		d->since_check = 0;
		if (http_client_gone(d->req)) {
			return 1;
		}
	}
	return FCGX_PutStr(p, (int)n, d->req->fr->out) < 0 ? 1 : 0;
}

/* Decimal digits only (RFC 9110: 1*DIGIT, no sign, no space) into *out,
 * at most INT64_MAX. 0, or -1. */
static int range_pos(const char *s, size_t n, long long *out)
{
	long long v = 0;
	size_t i;

	if (n == 0) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		/* at most INT64_MAX - 9, exactly (a bound on v alone lets
		 * ...799 through) */
		if (s[i] < '0' || s[i] > '9' ||
		    v > (INT64_MAX - 9 - (s[i] - '0')) / 10) {
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* See api.h. */
void api_fs_parse_range(const char *h, struct session_get_cb *cb, int *ranged)
{
	long long a = -1;
	long long b = -1;
	const char *dash;

	*ranged = 0;
	if (h == NULL || strncmp(h, "bytes=", 6) != 0) {
		return;
	}
	h += 6;
	dash = strchr(h, '-');
	if (dash == NULL) {
		return;
	}
	if (dash > h && range_pos(h, (size_t)(dash - h), &a) < 0) {
		return;
	}
	if (dash[1] && range_pos(dash + 1, strlen(dash + 1), &b) < 0) {
		return;
	}
	if (a < 0 && b > 0) {
		cb->suffix = 1;
		cb->offset = 0;
		cb->length = b;
	} else if (a >= 0 && b < 0) {
		cb->offset = a;
		cb->length = -1;
	} else if (a >= 0 && b >= a) {
		cb->offset = a;
		/* b - a + 1 cannot overflow: b <= INT64_MAX - 9 */
		cb->length = b - a + 1;
	} else {
		return;
	}
	*ranged = 1;
}

static void fs_get(struct http_req *req, const struct api_fs_target *t,
		   const char *path, size_t path_len)
{
	struct isobox_err err;
	struct session_get_cb cb;
	struct dl d;

	memset(&err, 0, sizeof(err));
	memset(&cb, 0, sizeof(cb));
	memset(&d, 0, sizeof(d));
	d.req = req;
	d.entries = json_object_new_array();
	d.head = strcmp(req->method, "HEAD") == 0;
	cb.ctx = &d;
	cb.length = -1;
	cb.on_entry = dl_entry;
	cb.on_file = dl_file;
	cb.on_data = dl_data;
	api_fs_parse_range(FCGX_GetParam("HTTP_RANGE", req->fr->envp), &cb,
			   &d.ranged);
	if (t->get(t->ctx, path, path_len, &cb, &err) < 0) {
		if (!req->status) {
			send_error(req, &err);
		}
	} else if (cb.is_dir) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "path",
				       api_json_bytes(path, path_len));
		json_object_object_add(o, "dir", json_object_new_boolean(1));
		json_object_object_add(o, "entries",
				       json_object_get(d.entries));
		if (cb.truncated) {
			json_object_object_add(o, "truncated",
					       json_object_new_boolean(1));
		}
		http_send_json(req, 200, o, NULL);
		json_object_put(o);
	}
	json_object_put(d.entries);
}

struct ul {
	struct http_req *req;
	int64_t got;
	int64_t want; /* Content-Length, or -1 */
};

static ssize_t ul_read(void *ctx, char *buf, size_t cap)
{
	struct ul *u = ctx;
	int n;

	if (cap > READ_CHUNK) {
		cap = READ_CHUNK;
	}
	n = FCGX_GetStr(buf, (int)cap, u->req->fr->in);
	if (n < 0) {
		return -1;
	}
	/* The end of a body is an empty FCGI_STDIN record. A web server
	 * that gave up on the client (a cut upload) closes or aborts the
	 * connection instead, which libfcgi reports as an error at the end,
	 * not as the end: with a streamed or chunked body (no Content-Length
	 * to count against) that is the only sign. Never land a part. */
	if (n == 0 && (FCGX_GetError(u->req->fr->in) != 0 ||
		       (u->want >= 0 && u->got < u->want))) {
		return -1; /* cut short */
	}
	u->got += n;
	return n;
}

static void fs_put(struct service *svc, struct http_req *req,
		   const struct api_fs_target *t, const char *path,
		   size_t path_len)
{
	struct isobox_err err;
	struct ul u = {req, 0, req->body_len_hint};
	int64_t max = svc->cfg.session_max_upload_bytes;
	int64_t bytes = 0;
	char sha[65];
	json_object *o;

	memset(&err, 0, sizeof(err));
	if (u.want > max) {
		err_set(&err, 413, "too_large",
			"a file upload is at most %lld bytes", (long long)max);
		send_error(req, &err);
		return;
	}
	if (bstore_ready(&svc->bstore) &&
	    bstore_space_check(&svc->bstore, u.want > 0 ? u.want : 0, &err) <
		0) {
		send_error(req, &err);
		return;
	}
	req->body_read = 1; /* streamed here, never held whole */
	if (t->put(t->ctx, path, path_len, max, ul_read, &u, &bytes, sha,
		   &err) < 0) {
		send_error(req, &err);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "path", api_json_bytes(path, path_len));
	json_object_object_add(o, "bytes", json_object_new_int64(bytes));
	json_object_object_add(o, "sha256", json_object_new_string(sha));
	http_send_json(req, 200, o, NULL);
	json_object_put(o);
}

void api_fs_serve(struct service *svc, struct http_req *req,
		  const struct api_fs_target *t)
{
	struct isobox_err err;
	size_t n = 0;
	char *path = api_fs_query_path(req, &n);
	const char *m = req->method;

	memset(&err, 0, sizeof(err));
	if (path == NULL && n == 1) {
		err_set(&err, 400, "invalid_path",
			"pathHex must be an even number of hex digits");
		send_error(req, &err);
		return;
	}
	if (path == NULL && strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		err_set(&err, 400, "path_required",
			"the file is named by ?path= (relative to "
			"%s)",
			t->root_name);
		send_error(req, &err);
		return;
	}
	if (path == NULL) {
		path = xstrdup("");
	}
	if (n > FSAPI_PATH_MAX || fsapi_path_check(path, n, 1, &err) < 0) {
		if (n > FSAPI_PATH_MAX) {
			err_set(&err, 400, "invalid_path",
				"the path is "
				"too long");
		}
		send_error(req, &err);
		free(path);
		return;
	}
	if (strcmp(m, "PUT") == 0) {
		fs_put(svc, req, t, path, n);
	} else if (strcmp(m, "DELETE") == 0) {
		if (t->del(t->ctx, path, n, &err) < 0) {
			send_error(req, &err);
		} else {
			http_send_text(req, 204, "application/json", "", 0,
				       NULL);
		}
	} else {
		fs_get(req, t, path, n);
	}
	free(path);
}
