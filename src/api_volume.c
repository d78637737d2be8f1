/* api_volume.c - /v1/volumes: the seed's volume routes (create, list, get,
 * delete) plus copies (from), and the file API without a session
 * (/v1/volumes/{id}/fs, the HTTP side shared with sessions in api_fs.c).
 * Thin: parse, call volume.h, render. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "api.h"
#include "session.h"
#include "volume.h"

#define PREFIX		"/v1/volumes"
#define CREATE_BODY_MAX (16 * 1024)

/* One parsed /v1/volumes request. */
struct vreq {
	struct service *svc;
	struct http_req *req;
	char id[64];	 /* "" for the collection */
	const char *sub; /* "" or "fs" */
	int bad;	 /* the path names nothing */
};

static void parse(struct service *svc, struct http_req *req, struct vreq *r)
{
	const char *rest = req->path + strlen(PREFIX);
	const char *slash;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->svc = svc;
	r->req = req;
	r->sub = "";
	if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
		return;
	}
	if (rest[0] != '/') {
		r->bad = 1;
		return;
	}
	rest++;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(r->id)) {
		r->bad = 1;
		return;
	}
	memcpy(r->id, rest, n);
	r->id[n] = '\0';
	r->sub = slash ? slash + 1 : "";
	if (strcmp(r->sub, "") != 0 && strcmp(r->sub, "fs") != 0) {
		r->bad = 1;
	}
}

static void send_error(struct http_req *req, const struct isobox_err *err)
{
	if (strcmp(err->code, "too_many_volumes") == 0) {
		req->retry_after = 5;
	}
	http_drain_body(req);
	http_send_error(req, err);
}

/* 1 when the request may go on; else answered (404 no route, 403 for a
 * keyless caller when memory_require_key is set, as the seed). */
static int admit(struct vreq *r)
{
	if (r->bad) {
		http_drain_body(r->req);
		http_send_err(r->req, 404, "not_found", "no route for %s %s",
			      r->req->method, r->req->path);
		return 0;
	}
	if (r->svc->cfg.memory_require_key &&
	    r->req->tenant.kind != TENANT_KEY) {
		http_drain_body(r->req);
		http_send_err(r->req, 403, "api_key_required",
			      "this server requires an API key for "
			      "/v1/volumes");
		return 0;
	}
	return 1;
}

static json_object *volume_json(struct service *svc, const struct volume *v)
{
	json_object *o = json_object_new_object();
	json_object *at = json_object_new_object();
	json_object *ro = json_object_new_array();
	struct volume_usage u;
	int i;

	volume_usage(svc, v, &u);
	json_object_object_add(o, "id", json_object_new_string(v->id));
	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "createdAt", api_time_json(v->created_ms));
	json_object_object_add(o, "sizeBytes",
			       json_object_new_int64(v->size_bytes));
	json_object_object_add(
	    o, "usedBytes",
	    u.referenced < 0 ? NULL : json_object_new_int64(u.referenced));
	json_object_object_add(
	    o, "diskBytes",
	    u.referenced < 0 ? NULL : json_object_new_int64(u.referenced));
	json_object_object_add(o, "attachedRw",
			       json_object_new_boolean(v->rw_holder[0] != 0));
	json_object_object_add(o, "attachedTo", at);
	json_object_object_add(
	    at, "readWrite",
	    v->rw_holder[0] ? json_object_new_string(v->rw_holder) : NULL);
	for (i = 0; i < v->nro; i++) {
		json_object_array_add(ro,
				      json_object_new_string(v->ro_holders[i]));
	}
	json_object_object_add(at, "readOnly", ro);
	return o;
}

/* ------------------------------------------------------------------ */
/* Files (api_fs.c does the HTTP side) */

struct vfs {
	struct service *svc;
	const struct tenant *t;
	const char *id;
};

static int vfs_get(void *ctx, const char *path, size_t n,
		   struct session_get_cb *cb, struct isobox_err *err)
{
	struct vfs *f = ctx;
	int root = volume_fs_open(f->svc, f->t, f->id, 0, err);
	int rc;

	if (root < 0) {
		return -1;
	}
	rc = session_fs_get_beneath(root, path, n, cb, err);
	close(root);
	return rc;
}

static int vfs_put(void *ctx, const char *path, size_t n, int64_t max,
		   ssize_t (*src)(void *ctx, char *buf, size_t cap),
		   void *src_ctx, int64_t *bytes, char sha256[65],
		   struct isobox_err *err)
{
	struct vfs *f = ctx;

	return volume_fs_put(f->svc, f->t, f->id, path, n, max, src, src_ctx,
			     bytes, sha256, err);
}

static int vfs_del(void *ctx, const char *path, size_t n,
		   struct isobox_err *err)
{
	struct vfs *f = ctx;

	return volume_fs_delete(f->svc, f->t, f->id, path, n, err);
}

static void files(struct vreq *r)
{
	struct vfs f = {r->svc, &r->req->tenant, r->id};
	struct api_fs_target t;

	t.ctx = &f;
	t.root_name = "the volume's root";
	t.get = vfs_get;
	t.put = vfs_put;
	t.del = vfs_del;
	api_fs_serve(r->svc, r->req, &t);
}

/* ------------------------------------------------------------------ */
/* Handlers */

static int list_one(const struct volume *v, void *p)
{
	struct api_list *l = p;

	return api_list_add(l, volume_json(l->svc, v));
}

void api_volume_get(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct volume v;
	struct vreq r;
	json_object *o;

	memset(&err, 0, sizeof(err));
	parse(svc, req, &r);
	if (!admit(&r)) {
		return;
	}
	if (r.id[0] == '\0') {
		struct api_list l;
		int rc;

		api_list_init(&l, svc);
		rc = volume_list(svc, &req->tenant, list_one, &l, &err);
		api_list_send(&l, req, "volumes", rc, &err, send_error);
	} else if (strcmp(r.sub, "fs") == 0) {
		files(&r);
	} else if (volume_get(svc, &req->tenant, r.id, &v, &err) < 0) {
		send_error(req, &err);
	} else {
		o = volume_json(svc, &v);
		http_send_json(req, 200, o, NULL);
		json_object_put(o);
	}
}

/* See api.h. */
int api_volume_body_parse(json_object *body, struct volume_new *nv,
			  struct isobox_err *err)
{
	json_object *x;

	memset(nv, 0, sizeof(*nv));
	if (!json_object_is_type(body, json_type_object)) {
		return err_set(err, 400, "invalid_request",
			       "the body must be an object");
	}
	nv->name = "memory"; /* the seed's default */
	if (json_object_object_get_ex(body, "name", &x) && x != NULL) {
		if (!json_object_is_type(x, json_type_string)) {
			return err_set(err, 400, "invalid_name",
				       "'name' must be a string");
		}
		nv->name = json_object_get_string(x);
	}
	if (json_object_object_get_ex(body, "sizeBytes", &x) && x != NULL) {
		if (!json_object_is_type(x, json_type_int)) {
			return err_set(err, 400, "invalid_size",
				       "'sizeBytes' must be an integer");
		}
		nv->size_bytes = json_object_get_int64(x);
		nv->size_given = 1;
	}
	if (json_object_object_get_ex(body, "from", &x) && x != NULL) {
		if (!json_object_is_type(x, json_type_string)) {
			return err_set(err, 400, "invalid_request",
				       "'from' must be a volume id");
		}
		nv->from = json_object_get_string(x);
	}
	return 0;
}

static void create(struct vreq *r)
{
	struct isobox_err err;
	struct volume_new nv;
	struct volume v;
	json_object *body = NULL;
	json_object *o;

	memset(&err, 0, sizeof(err));
	if (http_read_body(r->req, CREATE_BODY_MAX, &err) < 0) {
		goto fail;
	}
	if (r->req->body.len == 0) {
		body = json_object_new_object();
	} else {
		body =
		    request_json_parse(r->req->body.p, r->req->body.len, &err);
		if (body == NULL) {
			goto fail;
		}
	}
	if (api_volume_body_parse(body, &nv, &err) < 0) {
		goto fail;
	}
	nv.tenant = &r->req->tenant;
	if (volume_create(r->svc, &nv, &v, &err) < 0) {
		goto fail;
	}
	o = volume_json(r->svc, &v);
	if (nv.from) {
		json_object_object_add(o, "copiedFrom",
				       json_object_new_string(nv.from));
	}
	http_send_json(r->req, 201, o, NULL);
	json_object_put(o);
	json_object_put(body);
	return;
fail:
	json_object_put(body);
	send_error(r->req, &err);
}

void api_volume_post(struct service *svc, struct http_req *req)
{
	struct vreq r;

	parse(svc, req, &r);
	if (!r.bad && r.id[0] != '\0') {
		r.bad = 1;
	}
	if (admit(&r)) {
		create(&r);
	}
}

void api_volume_put(struct service *svc, struct http_req *req)
{
	struct vreq r;

	parse(svc, req, &r);
	if (!r.bad && strcmp(r.sub, "fs") != 0) {
		r.bad = 1;
	}
	if (admit(&r)) {
		files(&r);
	}
}

void api_volume_delete(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct vreq r;

	memset(&err, 0, sizeof(err));
	parse(svc, req, &r);
	if (!r.bad && r.id[0] == '\0') {
		r.bad = 1;
	}
	if (!admit(&r)) {
		return;
	}
	if (strcmp(r.sub, "fs") == 0) {
		files(&r);
	} else if (volume_delete(svc, &req->tenant, r.id, &err) < 0) {
		send_error(req, &err);
	} else {
		http_drain_body(req);
		http_send_text(req, 204, "application/json", "", 0, NULL);
	}
}
