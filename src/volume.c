/* volume.c - volumes: rows in the durable store, one btrfs subvolume with
 * a qgroup cap each, holds taken and dropped in the transactions of the
 * sessions that attach them, and a file API beneath the subvolume. See
 * volume.h. */
#include "volume.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bstore.h"
#include "fsapi.h"

#define MIB (1024LL * 1024)

/* ------------------------------------------------------------------ */
/* Pure parts */

static void volume_id_new(char out[VOLUME_ID_SIZE])
{
	char hex[33];

	random_hex(hex, 16);
	snprintf(out, VOLUME_ID_SIZE, "%s%s", VOLUME_ID_PREFIX, hex);
}

int volume_id_ok(const char *id)
{
	size_t p = strlen(VOLUME_ID_PREFIX);
	size_t i;

	if (id == NULL || strncmp(id, VOLUME_ID_PREFIX, p) != 0 ||
	    strlen(id) != VOLUME_ID_SIZE - 1) {
		return 0;
	}
	for (i = p; id[i]; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

static int name_char(char c, int first)
{
	int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9');

	return alnum ||
	       (!first && (c == ' ' || c == '.' || c == '_' || c == '-'));
}

int volume_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0') {
		return 0;
	}
	for (i = 0; name[i]; i++) {
		if (i >= VOLUME_NAME_MAX || !name_char(name[i], i == 0)) {
			return 0;
		}
	}
	return 1;
}

/* One component of a mount path under a parent that takes names. */
static int mount_leaf_ok(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '.') {
		return 0;
	}
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (i >= 48 ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-')) {
			return 0;
		}
	}
	return 1;
}

int volume_mount_path_check(const char *p, struct isobox_err *err)
{
	static const char *const parents[] = {"/data/", "/mnt/", "/volumes/",
					      NULL};
	size_t i;

	if (p == NULL) {
		goto bad;
	}
	if (strcmp(p, "/memory") == 0 || strcmp(p, "/data") == 0) {
		return 0;
	}
	for (i = 0; parents[i]; i++) {
		size_t n = strlen(parents[i]);

		if (strncmp(p, parents[i], n) == 0 && mount_leaf_ok(p + n)) {
			return 0;
		}
	}
bad:
	return err_set(err, 400, "invalid_mount_path",
		       "mountPath must be /memory, /data, or /data/NAME, "
		       "/mnt/NAME or /volumes/NAME (NAME: 1-48 of "
		       "A-Z a-z 0-9 . _ -, not starting with '.')");
}

void volume_rec_encode(const struct volume *v, struct store_rec *r)
{
	int i;

	store_rec_init(r, STORE_VOLUMES, VOLUME_REC_VERSION);
	store_rec_i64(r, v->tenant_kind);
	store_rec_str(r, v->tenant);
	store_rec_str(r, v->name);
	store_rec_i64(r, v->size_bytes);
	store_rec_i64(r, v->created_ms);
	store_rec_str(r, v->subvol);
	store_rec_str(r, v->rw_holder);
	store_rec_i64(r, v->nro);
	for (i = 0; i < v->nro && i < VOLUME_RO_MAX; i++) {
		store_rec_str(r, v->ro_holders[i]);
	}
}

int volume_rec_decode(const struct store_val *val, struct volume *v)
{
	struct store_dec d;
	int64_t n;
	int rc = store_dec_open(&d, val, STORE_VOLUMES, VOLUME_REC_VERSION);
	int i;

	if (rc < 0) {
		return rc;
	}
	v->tenant_kind = (int)store_dec_i64(&d);
	store_dec_str(&d, v->tenant, sizeof(v->tenant));
	store_dec_str(&d, v->name, sizeof(v->name));
	v->size_bytes = store_dec_i64(&d);
	v->created_ms = store_dec_i64(&d);
	store_dec_str(&d, v->subvol, sizeof(v->subvol));
	store_dec_str(&d, v->rw_holder, sizeof(v->rw_holder));
	n = store_dec_i64(&d);
	if (n < 0 || n > VOLUME_RO_MAX) {
		return -EPROTO;
	}
	v->nro = (int)n;
	for (i = 0; i < v->nro; i++) {
		store_dec_str(&d, v->ro_holders[i], sizeof(v->ro_holders[i]));
	}
	return store_dec_end(&d);
}

int volume_name_key(char *out, int kind, const char *tenant, const char *name)
{
	int n = snprintf(out, STORE_KEY_MAX + 1, "%d:%s\n", kind, tenant);
	size_t i;

	if (n < 0 || n >= STORE_KEY_MAX) {
		return -EINVAL;
	}
	if (name == NULL) {
		return n;
	}
	for (i = 0; name[i]; i++) {
		if ((size_t)n + 1 > STORE_KEY_MAX) {
			return -EINVAL;
		}
		out[n++] = (char)tolower((unsigned char)name[i]);
	}
	out[n] = '\0';
	return n;
}

/* ------------------------------------------------------------------ */
/* Rows */

static int store_fail(struct isobox_err *err, int rc)
{
	if (rc == -ENODEV) {
		return err_set(err, 503, "storage_unavailable",
			       "the state database is not open");
	}
	return store_err(err, rc, "volume row");
}

static int not_found(struct isobox_err *err)
{
	return err_set(err, 404, "volume_not_found", "no such volume");
}

static int same_tenant(const struct volume *v, const struct tenant *t)
{
	return v->tenant_kind == (int)t->kind &&
	       strcmp(v->tenant, t->name) == 0;
}

static int row_load(struct store_txn *t, const char *id, struct volume *v)
{
	struct store_val val;
	int rc = store_get(t, STORE_VOLUMES, id, &val);

	if (rc < 0) {
		return rc;
	}
	memset(v, 0, sizeof(*v));
	snprintf(v->id, sizeof(v->id), "%s", id);
	rc = volume_rec_decode(&val, v);
	if (rc < 0) {
		log_warn("volume %s: undecodable row (%s)", id, strerror(-rc));
	}
	return rc;
}

static int row_store(struct store_txn *t, const struct volume *v)
{
	struct store_rec r;

	volume_rec_encode(v, &r);
	return store_put(t, STORE_VOLUMES, v->id, &r);
}

/* The volume id a STORE_VOLUME_NAMES record holds. 0, or -EPROTO. */
static int name_rec_id(const struct store_val *val, char id[VOLUME_ID_SIZE])
{
	struct store_dec d;

	if (store_dec_open(&d, val, STORE_VOLUME_NAMES, 1) < 0) {
		return -EPROTO;
	}
	store_dec_str(&d, id, VOLUME_ID_SIZE);
	return store_dec_end(&d);
}

/* Load id for tenant tn inside t: 404 for a missing id or another
 * tenant's. */
static int row_access(struct store_txn *t, const struct tenant *tn,
		      const char *id, struct volume *v, struct isobox_err *err)
{
	int rc;

	if (!volume_id_ok(id)) {
		return not_found(err);
	}
	rc = row_load(t, id, v);
	if (rc == -ENOENT || (rc == 0 && !same_tenant(v, tn))) {
		return not_found(err);
	}
	if (rc < 0) {
		return err_set(err, 500, "internal", "unreadable volume row");
	}
	return 0;
}

static int holder_alive(struct store_txn *t, const char *sid)
{
	struct store_val val;

	return store_get(t, STORE_SESSIONS, sid, &val) == 0;
}

/* Drop holders whose session row is gone. 1 when v changed. */
static int prune(struct store_txn *t, struct volume *v)
{
	int changed = 0;
	int i = 0;

	if (v->rw_holder[0] && !holder_alive(t, v->rw_holder)) {
		log_info("volume %s: dropping the hold of gone session %s",
			 v->id, v->rw_holder);
		v->rw_holder[0] = '\0';
		changed = 1;
	}
	while (i < v->nro) {
		if (holder_alive(t, v->ro_holders[i])) {
			i++;
			continue;
		}
		log_info("volume %s: dropping the hold of gone session %s",
			 v->id, v->ro_holders[i]);
		memmove(v->ro_holders[i], v->ro_holders[i + 1],
			(size_t)(v->nro - i - 1) * sizeof(v->ro_holders[0]));
		v->nro--;
		changed = 1;
	}
	return changed;
}

static int ready_check(struct service *svc, int64_t need,
		       struct isobox_err *err)
{
	if (!bstore_ready(&svc->bstore)) {
		return err_set(err, 503, "storage_unavailable",
			       "volumes need the btrfs store (store_root), "
			       "which is not set up on this host; see "
			       "DEPLOY.md");
	}
	if (!store_ready(&svc->store, STORE_STATE)) {
		return err_set(err, 503, "storage_unavailable",
			       "the state database is not open");
	}
	return need < 0 ? 0 : bstore_space_check(&svc->bstore, need, err);
}

static int bstore_fail(struct isobox_err *err, int rc, const char *what)
{
	if (rc == -ENOSPC) {
		return err_set(err, 507, "storage_full",
			       "the volume store is full");
	}
	return err_set(err, 500, "internal", "%s: %s", what, strerror(-rc));
}

/* ------------------------------------------------------------------ */
/* Create */

struct insert_ctx {
	struct service *svc;
	const struct volume_new *req;
	struct volume *v;
	char src_subvol[BSTORE_ID_MAX + 1];
	struct isobox_err *err;
};

/* A tenant's volumes so far: how many name rows, and the bytes of the
 * volumes they name. */
struct usage_walk {
	int count;
	int64_t total;
};

static int usage_row(struct store_txn *t, const struct store_val *k,
		     const struct store_val *val, void *p)
{
	struct usage_walk *w = p;
	char id[VOLUME_ID_SIZE];
	struct volume o;

	(void)k;
	w->count++;
	if (name_rec_id(val, id) == 0 && row_load(t, id, &o) == 0) {
		w->total += o.size_bytes;
	}
	return 0;
}

static int insert_fn(struct store_txn *t, void *p)
{
	struct insert_ctx *c = p;
	const struct config *cfg = &c->svc->cfg;
	char key[STORE_KEY_MAX + 1];
	char pfx[STORE_KEY_MAX + 1];
	struct store_val val;
	struct store_rec r;
	struct usage_walk u = {0, 0};
	int kn;
	int pn;
	int rc;

	kn = volume_name_key(key, c->v->tenant_kind, c->v->tenant, c->v->name);
	pn = volume_name_key(pfx, c->v->tenant_kind, c->v->tenant, NULL);
	if (kn < 0 || pn < 0) {
		return err_set(c->err, 400, "invalid_name", "name too long");
	}
	if (store_get(t, STORE_VOLUME_NAMES, key, &val) == 0) {
		return err_set(c->err, 409, "volume_name_exists",
			       "this tenant has a volume named \"%s\" "
			       "(names are case-insensitive)",
			       c->v->name);
	}
	if (c->req->from) {
		struct volume src;

		if (row_access(t, c->req->tenant, c->req->from, &src, c->err) <
		    0) {
			return -1;
		}
		snprintf(c->src_subvol, sizeof(c->src_subvol), "%s",
			 src.subvol);
		if (!c->req->size_given) {
			c->v->size_bytes = src.size_bytes;
		}
	}
	rc = store_walk_txn(t, STORE_VOLUME_NAMES, pfx, (size_t)pn, usage_row,
			    &u);
	if (rc < 0) {
		return store_fail(c->err, rc);
	}
	if (u.count >= cfg->volume_max_per_tenant) {
		return err_set(c->err, 429, "too_many_volumes",
			       "this tenant has %d volumes (the most it may "
			       "have); delete one first",
			       u.count);
	}
	if (u.total + c->v->size_bytes >
	    cfg->volume_max_total_bytes_per_tenant) {
		return err_set(
		    c->err, 429, "volume_bytes_exceeded",
		    "this tenant's volumes would hold %lld bytes, "
		    "more than its %lld; delete or shrink one",
		    (long long)(u.total + c->v->size_bytes),
		    (long long)cfg->volume_max_total_bytes_per_tenant);
	}
	rc = row_store(t, c->v);
	if (rc == 0) {
		store_rec_init(&r, STORE_VOLUME_NAMES, 1);
		store_rec_str(&r, c->v->id);
		rc = store_put(t, STORE_VOLUME_NAMES, key, &r);
	}
	return rc < 0 ? store_fail(c->err, rc) : 0;
}

static int row_remove(struct store_txn *t, const struct volume *v)
{
	char key[STORE_KEY_MAX + 1];

	if (volume_name_key(key, v->tenant_kind, v->tenant, v->name) >= 0) {
		store_del(t, STORE_VOLUME_NAMES, key);
	}
	return store_del(t, STORE_VOLUMES, v->id);
}

static int del_fn(struct store_txn *t, void *p)
{
	row_remove(t, p);
	return 0;
}

int volume_create(struct service *svc, const struct volume_new *req,
		  struct volume *out, struct isobox_err *err)
{
	const struct config *cfg = &svc->cfg;
	struct insert_ctx c;
	int rc;

	if (!volume_name_ok(req->name)) {
		return err_set(err, 400, "invalid_name",
			       "a volume name is 1-64 of A-Z a-z 0-9 space . _ "
			       "-, starting with a letter or digit");
	}
	if (req->size_given && (req->size_bytes < MIB ||
				req->size_bytes > cfg->volume_max_bytes)) {
		return err_set(err, 400, "invalid_size",
			       "sizeBytes is from 1 MiB to %lld",
			       (long long)cfg->volume_max_bytes);
	}
	if (req->from && !volume_id_ok(req->from)) {
		return not_found(err);
	}
	memset(out, 0, sizeof(*out));
	out->size_bytes =
	    req->size_given ? req->size_bytes : cfg->volume_default_bytes;
	if (ready_check(svc, 0, err) < 0) {
		return -1;
	}
	volume_id_new(out->id);
	snprintf(out->subvol, sizeof(out->subvol), "%s", out->id);
	out->tenant_kind = (int)req->tenant->kind;
	snprintf(out->tenant, sizeof(out->tenant), "%s", req->tenant->name);
	snprintf(out->name, sizeof(out->name), "%s", req->name);
	out->created_ms = wall_ms();
	memset(&c, 0, sizeof(c));
	c.svc = svc;
	c.req = req;
	c.v = out;
	c.err = err;
	rc = store_update(&svc->store, STORE_STATE, insert_fn, &c);
	if (rc == -1) {
		return -1;
	}
	if (rc < 0) {
		return store_fail(err, rc);
	}
	if (req->from) {
		rc = bstore_snapshot(&svc->bstore, BSTORE_VOLUMES, c.src_subvol,
				     BSTORE_VOLUMES, out->subvol,
				     out->size_bytes);
	} else {
		rc = bstore_create(&svc->bstore, BSTORE_VOLUMES, out->subvol,
				   0755, out->size_bytes);
	}
	if (rc < 0) {
		store_update(&svc->store, STORE_STATE, del_fn, out);
		if (rc == -ENOENT && req->from) {
			return not_found(err);
		}
		return bstore_fail(err, rc, "creating the volume");
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Read, list, delete */

int volume_get(struct service *svc, const struct tenant *t, const char *id,
	       struct volume *out, struct isobox_err *err)
{
	struct store_txn tx;
	int rc;

	if (ready_check(svc, -1, err) < 0) {
		return -1;
	}
	rc = store_txn_begin(&svc->store, STORE_STATE, 0, &tx);
	if (rc < 0) {
		return store_fail(err, rc);
	}
	rc = row_access(&tx, t, id, out, err);
	if (rc == 0 && (out->rw_holder[0] || out->nro)) {
		prune(&tx, out); /* report only live holders */
	}
	store_txn_abort(&tx);
	return rc;
}

/* A tenant's volumes, copied out of the walk's transaction (all: caller
 * frees). */
struct list_walk {
	const struct tenant *t;
	struct volume *all;
	size_t n;
	size_t cap;
};

static int list_row(struct store_txn *t, const struct store_val *k,
		    const struct store_val *val, void *p)
{
	struct list_walk *w = p;
	char id[VOLUME_ID_SIZE];

	(void)k;
	if (name_rec_id(val, id) < 0) {
		return 0;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		w->all = xrealloc(w->all, w->cap * sizeof(*w->all));
	}
	if (row_load(t, id, &w->all[w->n]) == 0 &&
	    same_tenant(&w->all[w->n], w->t)) {
		prune(t, &w->all[w->n]);
		w->n++;
	}
	return 0;
}

int volume_list(struct service *svc, const struct tenant *t,
		int (*fn)(const struct volume *v, void *ctx), void *ctx,
		struct isobox_err *err)
{
	char pfx[STORE_KEY_MAX + 1];
	struct list_walk w = {t, NULL, 0, 0};
	size_t i;
	int pn;
	int rc;

	if (ready_check(svc, -1, err) < 0) {
		return -1;
	}
	pn = volume_name_key(pfx, (int)t->kind, t->name, NULL);
	if (pn < 0) {
		return err_set(err, 500, "internal", "tenant name too long");
	}
	/* fn runs after the walk: no read transaction held across it. */
	rc = store_walk(&svc->store, STORE_VOLUME_NAMES, pfx, (size_t)pn,
			list_row, &w);
	if (rc < 0) {
		free(w.all);
		return store_fail(err, rc);
	}
	for (i = 0; i < w.n && rc >= 0; i++) {
		rc = fn(&w.all[i], ctx);
	}
	free(w.all);
	return 0;
}

struct delete_ctx {
	const struct tenant *t;
	const char *id;
	struct volume v;
	struct isobox_err *err;
};

static int delete_fn(struct store_txn *t, void *p)
{
	struct delete_ctx *c = p;
	int rc;

	if (row_access(t, c->t, c->id, &c->v, c->err) < 0) {
		return -1;
	}
	prune(t, &c->v);
	if (c->v.rw_holder[0] || c->v.nro) {
		return err_set(c->err, 409, "volume_busy",
			       "the volume is attached to %s; delete the "
			       "session(s) holding it first",
			       c->v.rw_holder[0] ? c->v.rw_holder
						 : c->v.ro_holders[0]);
	}
	rc = row_remove(t, &c->v);
	return rc < 0 ? store_fail(c->err, rc) : 0;
}

static void subvol_remove(struct service *svc, const char *subvol)
{
	int rc = -EBUSY;
	int i;

	for (i = 0; i < 50; i++) {
		rc = bstore_delete(&svc->bstore, BSTORE_VOLUMES, subvol);
		if (rc != -EBUSY) {
			break;
		}
		usleep(100000); /* the engine is still unmounting it */
	}
	if (rc < 0 && rc != -ENOENT) {
		log_warn("volume %s: deleting the subvolume failed: %s (the "
			 "reconciliation retries)",
			 subvol, strerror(-rc));
	}
}

int volume_delete(struct service *svc, const struct tenant *t, const char *id,
		  struct isobox_err *err)
{
	struct delete_ctx c;
	int rc;

	if (ready_check(svc, -1, err) < 0) {
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.id = id;
	c.err = err;
	rc = store_update(&svc->store, STORE_STATE, delete_fn, &c);
	if (rc == -1) {
		return -1;
	}
	if (rc < 0) {
		return store_fail(err, rc);
	}
	subvol_remove(svc, c.v.subvol);
	return 0;
}

int volume_usage(struct service *svc, const struct volume *v,
		 struct volume_usage *u)
{
	struct bstore_usage b;

	u->referenced = u->exclusive = -1;
	if (!bstore_ready(&svc->bstore) ||
	    bstore_usage(&svc->bstore, BSTORE_VOLUMES, v->subvol, &b) < 0) {
		return -1;
	}
	u->referenced = b.referenced;
	u->exclusive = b.exclusive;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Sessions */

int volume_attach_txn(struct store_txn *t, int tenant_kind, const char *tenant,
		      const char *sid, const struct volume_mount *m, int n,
		      struct isobox_err *err)
{
	struct tenant tn;
	int i;
	int rc;

	memset(&tn, 0, sizeof(tn));
	tn.kind = (enum tenant_kind)tenant_kind;
	snprintf(tn.name, sizeof(tn.name), "%s", tenant);
	for (i = 0; i < n; i++) {
		const struct volume_mount *sv = &m[i];
		struct volume v;

		if (row_access(t, &tn, sv->id, &v, err) < 0) {
			return -1;
		}
		prune(t, &v);
		if (!sv->read_only) {
			if (v.rw_holder[0]) {
				return err_set(err, 409, "volume_locked",
					       "volume %s is attached "
					       "read-write by another session",
					       v.id);
			}
			snprintf(v.rw_holder, sizeof(v.rw_holder), "%s", sid);
		} else {
			if (v.nro >= VOLUME_RO_MAX) {
				return err_set(err, 409, "volume_locked",
					       "volume %s has %d read-only "
					       "holders (the most it may have)",
					       v.id, VOLUME_RO_MAX);
			}
			snprintf(v.ro_holders[v.nro], sizeof(v.ro_holders[0]),
				 "%s", sid);
			v.nro++;
		}
		rc = row_store(t, &v);
		if (rc < 0) {
			return store_fail(err, rc);
		}
	}
	return 0;
}

void volume_release_txn(struct store_txn *t, const char *sid,
			const struct volume_mount *m, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct volume v;
		int changed = 0;
		int j = 0;

		if (!volume_id_ok(m[i].id) || row_load(t, m[i].id, &v) < 0) {
			continue;
		}
		if (strcmp(v.rw_holder, sid) == 0) {
			v.rw_holder[0] = '\0';
			changed = 1;
		}
		while (j < v.nro) {
			if (strcmp(v.ro_holders[j], sid) != 0) {
				j++;
				continue;
			}
			memmove(v.ro_holders[j], v.ro_holders[j + 1],
				(size_t)(v.nro - j - 1) *
				    sizeof(v.ro_holders[0]));
			v.nro--;
			changed = 1;
		}
		if (changed && row_store(t, &v) < 0) {
			log_warn("volume %s: releasing session %s failed", v.id,
				 sid);
		}
	}
}

char *volume_host_path(struct service *svc, const char *id)
{
	if (!volume_id_ok(id)) {
		return NULL;
	}
	return bstore_path(&svc->bstore, BSTORE_VOLUMES, id);
}

static int prune_fn(struct store_txn *t, void *p)
{
	struct volume v;

	if (row_load(t, p, &v) == 0 && prune(t, &v)) {
		return row_store(t, &v);
	}
	return 0;
}

static int orphan_subvol(const char *id, void *p)
{
	struct service *svc = p;
	struct store_txn tx;
	struct store_val val;
	int rc;

	if (!volume_id_ok(id) ||
	    store_txn_begin(&svc->store, STORE_STATE, 0, &tx) < 0) {
		return 0;
	}
	rc = store_get(&tx, STORE_VOLUMES, id, &val);
	store_txn_abort(&tx);
	if (rc == -ENOENT) {
		log_info("volume store: removing subvolume %s (no volume)", id);
		bstore_delete(&svc->bstore, BSTORE_VOLUMES, id);
	}
	return 0;
}

/* The ids of volumes with a holder whose session is gone (ids: caller
 * frees). */
struct stale_walk {
	char (*ids)[VOLUME_ID_SIZE];
	size_t n;
	size_t cap;
};

static int stale_row(struct store_txn *t, const struct store_val *k,
		     const struct store_val *val, void *p)
{
	struct stale_walk *w = p;
	struct volume v;

	if (k->n >= sizeof(v.id)) {
		return 0;
	}
	memcpy(v.id, k->p, k->n);
	v.id[k->n] = '\0';
	if (volume_rec_decode(val, &v) < 0 || (!v.rw_holder[0] && v.nro == 0) ||
	    !prune(t, &v)) {
		return 0;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		w->ids = xrealloc(w->ids, w->cap * sizeof(*w->ids));
	}
	memcpy(w->ids[w->n++], v.id, sizeof(v.id));
	return 0;
}

void volume_housekeep(struct service *svc, int owns_store)
{
	struct stale_walk w = {NULL, 0, 0};
	size_t i;
	int rc;

	if (!store_ready(&svc->store, STORE_STATE) ||
	    !bstore_ready(&svc->bstore)) {
		return;
	}
	/* Volumes with a holder whose session is gone; those found before
	 * a failure are still worth mending. */
	rc = store_walk(&svc->store, STORE_VOLUMES, NULL, 0, stale_row, &w);
	for (i = 0; i < w.n; i++) {
		store_update(&svc->store, STORE_STATE, prune_fn, w.ids[i]);
	}
	free(w.ids);
	if (rc < 0) {
		return; /* the store failed: the subvolumes wait a round */
	}
	if (owns_store) {
		bstore_list(&svc->bstore, BSTORE_VOLUMES, orphan_subvol, svc);
	}
}

/* ------------------------------------------------------------------ */
/* Files */

int volume_fs_open(struct service *svc, const struct tenant *t, const char *id,
		   int write, struct isobox_err *err)
{
	struct store_txn tx;
	struct volume v;
	int rc;

	if (ready_check(svc, -1, err) < 0) {
		return -1;
	}
	rc = store_txn_begin(&svc->store, STORE_STATE, 0, &tx);
	if (rc < 0) {
		return store_fail(err, rc);
	}
	rc = row_access(&tx, t, id, &v, err);
	if (rc == 0 && write) {
		prune(&tx, &v);
		if (v.rw_holder[0]) {
			rc = err_set(err, 409, "volume_locked",
				     "the volume is attached read-write to "
				     "session %s: change its files through "
				     "that session's file API, or delete the "
				     "session first",
				     v.rw_holder);
		}
	}
	store_txn_abort(&tx);
	if (rc < 0) {
		return -1;
	}
	rc = bstore_open_root(&svc->bstore, BSTORE_VOLUMES, v.subvol);
	if (rc < 0) {
		return err_set(err, rc == -ENOENT ? 404 : 500,
			       rc == -ENOENT ? "volume_not_found" : "internal",
			       "the volume's files cannot be opened: %s",
			       strerror(-rc));
	}
	return rc;
}

int volume_fs_put(struct service *svc, const struct tenant *t, const char *id,
		  const char *path, size_t n, int64_t max_bytes,
		  ssize_t (*src)(void *ctx, char *buf, size_t cap), void *ctx,
		  int64_t *bytes, char sha256[65], struct isobox_err *err)
{
	struct fsapi_written w;
	int root;
	int rc;

	if (n == 0) {
		return err_set(err, 400, "invalid_path",
			       "a file path is needed");
	}
	root = volume_fs_open(svc, t, id, 1, err);
	if (root < 0) {
		return -1;
	}
	rc = fsapi_write(root, path, n, 0644, max_bytes, src, ctx, &w, err);
	close(root);
	if (rc < 0) {
		if (strcmp(err->code, "quota_exceeded") == 0) {
			err_set(err, 413, "volume_quota_exceeded",
				"the volume is full (its sizeBytes cap); "
				"nothing was written");
		}
		return -1;
	}
	*bytes = w.bytes;
	memcpy(sha256, w.sha256, 65);
	return 0;
}

int volume_fs_delete(struct service *svc, const struct tenant *t,
		     const char *id, const char *path, size_t n,
		     struct isobox_err *err)
{
	int root;
	int rc;

	if (n == 0) {
		return err_set(err, 400, "invalid_path",
			       "the volume's root cannot be deleted");
	}
	root = volume_fs_open(svc, t, id, 1, err);
	if (root < 0) {
		return -1;
	}
	rc = fsapi_delete(root, path, n, err);
	close(root);
	if (rc < 0 && strcmp(err->code, "not_found") == 0) {
		rc = 0; /* as the session file API: a missing path is deleted */
	}
	return rc < 0 ? -1 : 0;
}
