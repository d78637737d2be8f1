/* store_kv.c - the durable key-value store of /v1/memory on LMDB; the
 * tables, records and errors are described in store_kv.h. Every write is
 * one synchronous transaction; reads hand out pointers into the map for the
 * duration of a callback, so a value is never copied on its way out. */
#include "store_kv.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_VERSION   1
#define REC_HDR	      64
#define USAGE_VERSION 1
#define USAGE_LEN     24
/* LMDB's default (and Debian's) largest key is 511 bytes: 16 + 128 + 1 +
 * KEYPART_LONG. A key of up to KEYPART_NATURAL bytes is stored as is; a
 * longer one as its first KEYPART_HEAD bytes + its sha256, a length no
 * natural key part has. */
#define KEYPART_HEAD	334
#define KEYPART_NATURAL (KEYPART_HEAD - 1)
#define KEYPART_LONG	(KEYPART_HEAD + 32)
#define ITEM_KEY_MAX                                                           \
	(STORE_KV_TENANT_BYTES + STORE_KV_NS_MAX + 1 + KEYPART_LONG)
#define EXP_KEY_LEN (8 + 16)
#define SWEEP_BATCH 256

struct store_kv {
	MDB_env *env;
	MDB_dbi kv;
	MDB_dbi usage;
	MDB_dbi exp;
	/* Every transaction holds it shared; adopting a map another process
	 * grew (mdb_env_set_mapsize) needs no transaction open in this
	 * process, so it takes it exclusively. */
	pthread_rwlock_t resize;
	int lock_fd; /* shared flock on service.lock while open */
};

/* ------------------------------------------------------------------ */
/* Encoding */

static void put_u16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v & 0xff);
	p[1] = (uint8_t)(v >> 8);
}

static unsigned get_u16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static void put_i64(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 0; i < 8; i++) {
		p[i] = (uint8_t)(u >> (8 * i));
	}
}

static int64_t get_i64(const uint8_t *p)
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 8; i++) {
		u |= (uint64_t)p[i] << (8 * i);
	}
	return (int64_t)u;
}

static void hex32(const uint8_t *h, char out[65])
{
	static const char d[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[64] = '\0';
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 32;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* A decoded ITEM RECORD; pointers into the map. */
struct rec {
	struct store_kv_meta m;
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
};

static int rec_decode(const MDB_val *v, struct rec *r)
{
	const uint8_t *p = v->mv_data;
	size_t ct;
	size_t kl;

	if (v->mv_size < REC_HDR || p[0] != REC_VERSION) {
		return -1;
	}
	ct = get_u16(p + 2);
	kl = get_u16(p + 4);
	if (ct > STORE_KV_CTYPE_MAX || REC_HDR + ct + kl > v->mv_size) {
		return -1;
	}
	memcpy(r->m.content_type, p + REC_HDR, ct);
	r->m.content_type[ct] = '\0';
	r->m.created_ms = get_i64(p + 8);
	r->m.updated_ms = get_i64(p + 16);
	r->m.expires_ms = get_i64(p + 24);
	hex32(p + 32, r->m.etag);
	r->key = p + REC_HDR + ct;
	r->key_len = kl;
	r->value = r->key + kl;
	r->m.size = (int64_t)(v->mv_size - REC_HDR - ct - kl);
	return 0;
}

static int live(const struct rec *r, int64_t now_ms)
{
	return r->m.expires_ms == 0 || now_ms < r->m.expires_ms;
}

/* TENANT + NAMESPACE + NUL: the prefix of every item of one namespace. */
static size_t ns_prefix(const uint8_t *tenant, const char *ns, uint8_t *out)
{
	size_t n = strlen(ns);

	if (n > STORE_KV_NS_MAX) {
		n = STORE_KV_NS_MAX;
	}
	memcpy(out, tenant, STORE_KV_TENANT_BYTES);
	memcpy(out + STORE_KV_TENANT_BYTES, ns, n);
	out[STORE_KV_TENANT_BYTES + n] = '\0';
	return STORE_KV_TENANT_BYTES + n + 1;
}

/* The KEYPART of a user key (see store_kv.h); out holds KEYPART_LONG. */
static size_t key_part(const char *key, size_t key_len, uint8_t *out)
{
	if (key_len <= KEYPART_NATURAL) {
		memcpy(out, key, key_len);
		return key_len;
	}
	memcpy(out, key, KEYPART_HEAD);
	sha256(key, key_len, out + KEYPART_HEAD);
	return KEYPART_LONG;
}

static size_t item_key(const uint8_t *tenant, const char *ns, const char *key,
		       size_t key_len, uint8_t *out)
{
	size_t n = ns_prefix(tenant, ns, out);

	return n + key_part(key, key_len, out + n);
}

static void exp_key(int64_t expires_ms, const uint8_t *ik, size_t ikl,
		    uint8_t out[EXP_KEY_LEN])
{
	uint8_t h[32];
	uint64_t u = (uint64_t)expires_ms;
	int i;

	for (i = 0; i < 8; i++) {
		out[i] = (uint8_t)(u >> (56 - 8 * i));
	}
	sha256(ik, ikl, h);
	memcpy(out + 8, h, 16);
}

/* ------------------------------------------------------------------ */
/* Errors and transactions */

static int kv_err(struct isobox_err *err, int rc, const char *what)
{
	if (rc == MDB_MAP_FULL) {
		return err_set(err, 507, "storage_full",
			       "the memory store is full (%s)", what);
	}
	return err_set(err, 500, "store_failed", "%s: %s", what,
		       mdb_strerror(rc));
}

static int txn_begin(struct store_kv *kv, unsigned flags, MDB_txn **txn)
{
	int rc;

	pthread_rwlock_rdlock(&kv->resize);
	rc = mdb_txn_begin(kv->env, NULL, flags, txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size. */
		pthread_rwlock_unlock(&kv->resize);
		pthread_rwlock_wrlock(&kv->resize);
		mdb_env_set_mapsize(kv->env, 0);
		pthread_rwlock_unlock(&kv->resize);
		pthread_rwlock_rdlock(&kv->resize);
		rc = mdb_txn_begin(kv->env, NULL, flags, txn);
	}
	if (rc != 0) {
		pthread_rwlock_unlock(&kv->resize);
	}
	return rc;
}

static void txn_abort(struct store_kv *kv, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&kv->resize);
}

static int txn_commit(struct store_kv *kv, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	pthread_rwlock_unlock(&kv->resize);
	return rc;
}

static int unavailable(struct isobox_err *err)
{
	return err_set(err, 503, "memory_unavailable",
		       "the memory store is not open (see the service log)");
}

/* ------------------------------------------------------------------ */
/* Usage rows */

static int usage_get(MDB_txn *txn, MDB_dbi dbi, const uint8_t *k, size_t kl,
		     struct store_kv_usage *u)
{
	MDB_val key = {kl, (void *)k};
	MDB_val v;
	int rc = mdb_get(txn, dbi, &key, &v);

	memset(u, 0, sizeof(*u));
	if (rc == MDB_NOTFOUND) {
		return 0;
	}
	if (rc != 0) {
		return rc;
	}
	if (v.mv_size >= USAGE_LEN &&
	    ((const uint8_t *)v.mv_data)[0] == USAGE_VERSION) {
		u->bytes = get_i64((const uint8_t *)v.mv_data + 8);
		u->keys = get_i64((const uint8_t *)v.mv_data + 16);
	}
	return 0;
}

static int usage_set(MDB_txn *txn, MDB_dbi dbi, const uint8_t *k, size_t kl,
		     const struct store_kv_usage *u)
{
	MDB_val key = {kl, (void *)k};
	uint8_t b[USAGE_LEN] = {USAGE_VERSION};
	MDB_val v = {sizeof(b), b};

	if (u->keys <= 0) {
		int rc = mdb_del(txn, dbi, &key, NULL);

		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	put_i64(b + 8, u->bytes);
	put_i64(b + 16, u->keys);
	return mdb_put(txn, dbi, &key, &v, 0);
}

/* Add dbytes/dkeys to the tenant's total and to its namespace's row. The
 * usage key of the namespace is the item key's prefix without the NUL. */
static int usage_add(struct store_kv *kv, MDB_txn *txn, const uint8_t *ik,
		     size_t ns_end, int64_t dbytes, int64_t dkeys)
{
	struct store_kv_usage u;
	size_t i;
	int rc;

	for (i = 0; i < 2; i++) {
		size_t kl = i == 0 ? STORE_KV_TENANT_BYTES : ns_end;

		rc = usage_get(txn, kv->usage, ik, kl, &u);
		if (rc != 0) {
			return rc;
		}
		u.bytes += dbytes;
		u.keys += dkeys;
		if (u.bytes < 0) {
			u.bytes = 0;
		}
		rc = usage_set(txn, kv->usage, ik, kl, &u);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/* End of the namespace in an item key (the offset of its NUL). */
static size_t ns_end_of(const uint8_t *ik, size_t ikl)
{
	const uint8_t *nul =
	    memchr(ik + STORE_KV_TENANT_BYTES, 0, ikl - STORE_KV_TENANT_BYTES);

	return nul ? (size_t)(nul - ik) : ikl;
}

/* Remove the item at ik (its record r) with its index row and usage. */
static int item_remove(struct store_kv *kv, MDB_txn *txn, const uint8_t *ik,
		       size_t ikl, const struct rec *r)
{
	MDB_val key = {ikl, (void *)ik};
	int64_t bytes = (int64_t)r->key_len + r->m.size;
	int rc;

	if (r->m.expires_ms != 0) {
		uint8_t ek[EXP_KEY_LEN];
		MDB_val e = {sizeof(ek), ek};

		exp_key(r->m.expires_ms, ik, ikl, ek);
		rc = mdb_del(txn, kv->exp, &e, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND) {
			return rc;
		}
	}
	rc = mdb_del(txn, kv->kv, &key, NULL);
	if (rc != 0) {
		return rc;
	}
	return usage_add(kv, txn, ik, ns_end_of(ik, ikl), -bytes, -1);
}

/* ------------------------------------------------------------------ */
/* Open and close */

void store_kv_tenant_id(const char *name, uint8_t id[STORE_KV_TENANT_BYTES])
{
	static const char tag[] = "isobox-kv";
	size_t n = strlen(name);
	uint8_t *b = xmalloc(sizeof(tag) + n);
	uint8_t h[32];

	memcpy(b, tag, sizeof(tag)); /* with its NUL */
	memcpy(b + sizeof(tag), name, n);
	sha256(b, sizeof(tag) + n, h);
	free(b);
	memcpy(id, h, STORE_KV_TENANT_BYTES);
}

static int env_setup(MDB_env **env, const char *dir, int64_t map_bytes)
{
	int rc = mdb_env_create(env);

	if (rc == 0) {
		rc = mdb_env_set_maxdbs(*env, 4);
	}
	if (rc == 0) {
		rc = mdb_env_set_maxreaders(*env, 1024);
	}
	if (rc == 0 && map_bytes > 0) {
		rc = mdb_env_set_mapsize(*env, (size_t)map_bytes);
	}
	/* Synchronous commits (no MDB_NOSYNC / MDB_NOMETASYNC): a commit
	 * returns once data and meta page are on disk. NOTLS: a read
	 * transaction is not tied to its thread. */
	if (rc == 0) {
		rc = mdb_env_open(*env, dir, MDB_NOTLS, 0600);
	}
	return rc;
}

int store_kv_open(struct store_kv **out, const char *dir, int64_t map_bytes,
		  struct isobox_err *err)
{
	struct store_kv *kv = xcalloc(1, sizeof(*kv));
	MDB_txn *txn = NULL;
	char *lp = NULL;
	int dead = 0;
	int rc;

	*out = NULL;
	kv->lock_fd = -1;
	pthread_rwlock_init(&kv->resize, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err_set(err, 500, "store_unavailable", "cannot create %s: %s",
			dir, strerror(errno));
		goto fail_sys;
	}
	lp = xasprintf("%s/service.lock", dir);
	kv->lock_fd = open(lp, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (kv->lock_fd < 0 || flock(kv->lock_fd, LOCK_SH | LOCK_NB) < 0) {
		err_set(err, 500, "store_unavailable",
			"%s: %s (is the store being compacted?)", lp,
			strerror(errno));
		goto fail_sys;
	}
	rc = env_setup(&kv->env, dir, map_bytes);
	if (rc != 0) {
		goto fail;
	}
	mdb_reader_check(kv->env, &dead);
	rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &kv->kv);
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "usage", MDB_CREATE, &kv->usage);
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "exp", MDB_CREATE, &kv->exp);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
	} else if (txn) {
		mdb_txn_abort(txn);
	}
	if (rc != 0) {
		goto fail;
	}
	free(lp);
	*out = kv;
	return 0;
fail:
	err_set(err, 500, "store_unavailable", "LMDB at %s: %s", dir,
		mdb_strerror(rc));
fail_sys:
	free(lp);
	store_kv_close(kv);
	return -1;
}

void store_kv_close(struct store_kv *kv)
{
	if (kv == NULL) {
		return;
	}
	if (kv->env) {
		mdb_env_close(kv->env);
	}
	if (kv->lock_fd >= 0) {
		close(kv->lock_fd);
	}
	pthread_rwlock_destroy(&kv->resize);
	free(kv);
}

/* ------------------------------------------------------------------ */
/* Items */

int store_kv_get(struct store_kv *kv, const uint8_t *tenant, const char *ns,
		 const char *key, size_t key_len, int64_t now_ms,
		 store_kv_precond_fn pre, store_kv_value_fn fn, void *ctx,
		 struct store_kv_meta *m, struct isobox_err *err)
{
	uint8_t ik[ITEM_KEY_MAX];
	MDB_val k = {0, ik};
	MDB_val v;
	MDB_txn *txn;
	struct rec r;
	int rc;

	if (kv == NULL) {
		return unavailable(err);
	}
	k.mv_size = item_key(tenant, ns, key, key_len, ik);
	rc = txn_begin(kv, MDB_RDONLY, &txn);
	if (rc != 0) {
		return kv_err(err, rc, "read");
	}
	rc = mdb_get(txn, kv->kv, &k, &v);
	if (rc == 0 && (rec_decode(&v, &r) < 0 || r.key_len != key_len ||
			memcmp(r.key, key, key_len))) {
		rc = MDB_CORRUPTED;
	}
	if (rc == MDB_NOTFOUND || (rc == 0 && !live(&r, now_ms))) {
		txn_abort(kv, txn);
		return err_set(err, 404, "not_found", "no such key");
	}
	if (rc != 0) {
		txn_abort(kv, txn);
		return kv_err(err, rc, "read");
	}
	if (m) {
		*m = r.m;
	}
	if (pre && pre(ctx, &r.m) != 0) {
		txn_abort(kv, txn);
		return err_set(err, 412, "precondition_failed",
			       "the item does not match the precondition");
	}
	rc = fn ? fn(ctx, &r.m, r.value, (size_t)r.m.size) : 0;
	txn_abort(kv, txn);
	return rc;
}

int store_kv_put(struct store_kv *kv, const uint8_t *tenant,
		 const struct store_kv_put *p, struct store_kv_meta *out,
		 int *filled, struct isobox_err *err)
{
	uint8_t ik[ITEM_KEY_MAX];
	uint8_t ek[EXP_KEY_LEN];
	MDB_val k = {0, ik};
	MDB_val v;
	MDB_val e = {sizeof(ek), ek};
	MDB_txn *txn;
	struct rec cur;
	struct store_kv_usage total;
	size_t ct = strlen(p->content_type);
	size_t ns_end;
	int have;
	int64_t old_bytes = 0;
	int64_t new_bytes = (int64_t)p->key_len + (int64_t)p->len;
	uint8_t *rec;
	uint8_t h[32];
	const char *what = "write";
	int rc;

	*filled = 0;
	if (kv == NULL) {
		return unavailable(err);
	}
	if (ct > STORE_KV_CTYPE_MAX || p->key_len > STORE_KV_KEY_MAX) {
		return err_set(err, 400, "invalid_request",
			       "content type or key too long");
	}
	k.mv_size = item_key(tenant, p->ns, p->key, p->key_len, ik);
	ns_end = ns_end_of(ik, k.mv_size);
	rc = txn_begin(kv, 0, &txn);
	if (rc != 0) {
		return kv_err(err, rc, "begin");
	}
	rc = mdb_get(txn, kv->kv, &k, &v);
	if (rc == 0 && rec_decode(&v, &cur) < 0) {
		rc = MDB_CORRUPTED;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		goto fail;
	}
	have = rc == 0;
	if (p->pre &&
	    p->pre(p->ctx, have && live(&cur, p->now_ms) ? &cur.m : NULL) !=
		0) {
		txn_abort(kv, txn);
		return err_set(err, 412, "precondition_failed",
			       "the item does not match the precondition");
	}
	rc = usage_get(txn, kv->usage, ik, STORE_KV_TENANT_BYTES, &total);
	if (rc != 0) {
		goto fail;
	}
	if (have) {
		old_bytes = (int64_t)cur.key_len + cur.m.size;
	}
	/* A write that does not grow the tenant always fits (so a tenant
	 * over a lowered quota can still shrink). */
	if ((new_bytes > old_bytes &&
	     total.bytes - old_bytes + new_bytes > p->quota_bytes) ||
	    (!have && total.keys + 1 > p->quota_keys)) {
		txn_abort(kv, txn);
		return err_set(err, 413, "quota_exceeded",
			       "the tenant's memory quota (%lld bytes, %lld "
			       "keys) would be exceeded",
			       (long long)p->quota_bytes,
			       (long long)p->quota_keys);
	}
	if (have && cur.m.expires_ms != 0) {
		exp_key(cur.m.expires_ms, ik, k.mv_size, ek);
		rc = mdb_del(txn, kv->exp, &e, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND) {
			goto fail;
		}
	}
	if (out) {
		memset(out, 0, sizeof(*out));
		out->created_ms = have && live(&cur, p->now_ms)
				      ? cur.m.created_ms
				      : p->now_ms;
	}
	v.mv_size = REC_HDR + ct + p->key_len + p->len;
	v.mv_data = NULL;
	what = "reserve";
	rc = mdb_put(txn, kv->kv, &k, &v, MDB_RESERVE);
	if (rc != 0) {
		goto fail;
	}
	rec = v.mv_data;
	memset(rec, 0, REC_HDR);
	rec[0] = REC_VERSION;
	put_u16(rec + 2, (unsigned)ct);
	put_u16(rec + 4, (unsigned)p->key_len);
	put_i64(rec + 8, out ? out->created_ms : p->now_ms);
	put_i64(rec + 16, p->now_ms);
	put_i64(rec + 24, p->expires_ms);
	memcpy(rec + REC_HDR, p->content_type, ct);
	memcpy(rec + REC_HDR + ct, p->key, p->key_len);
	/* The value goes straight from the request into the map, before any
	 * other write of this transaction can move the reserved page. */
	*filled = 1;
	if (p->fill(p->ctx, rec + REC_HDR + ct + p->key_len, p->len) < 0) {
		txn_abort(kv, txn);
		return err_set(err, 400, "incomplete_body",
			       "the request body ended before Content-Length "
			       "bytes");
	}
	sha256(rec + REC_HDR + ct + p->key_len, p->len, h);
	memcpy(rec + 32, h, 32);
	what = "write";
	if (p->expires_ms != 0) {
		MDB_val iv = {k.mv_size, ik};

		exp_key(p->expires_ms, ik, k.mv_size, ek);
		rc = mdb_put(txn, kv->exp, &e, &iv, 0);
		if (rc != 0) {
			goto fail;
		}
	}
	rc =
	    usage_add(kv, txn, ik, ns_end, new_bytes - old_bytes, have ? 0 : 1);
	if (rc != 0) {
		goto fail;
	}
	what = "commit";
	rc = txn_commit(kv, txn);
	if (rc != 0) {
		return kv_err(err, rc, what);
	}
	if (out) {
		snprintf(out->content_type, sizeof(out->content_type), "%s",
			 p->content_type);
		out->updated_ms = p->now_ms;
		out->expires_ms = p->expires_ms;
		out->size = (int64_t)p->len;
		hex32(h, out->etag);
	}
	return 0;
fail:
	txn_abort(kv, txn);
	return kv_err(err, rc, what);
}

int store_kv_delete(struct store_kv *kv, const uint8_t *tenant, const char *ns,
		    const char *key, size_t key_len, int64_t now_ms,
		    store_kv_precond_fn pre, void *ctx, struct isobox_err *err)
{
	uint8_t ik[ITEM_KEY_MAX];
	MDB_val k = {0, ik};
	MDB_val v;
	MDB_txn *txn;
	struct rec cur;
	int have;
	int rc;

	if (kv == NULL) {
		return unavailable(err);
	}
	k.mv_size = item_key(tenant, ns, key, key_len, ik);
	rc = txn_begin(kv, 0, &txn);
	if (rc != 0) {
		return kv_err(err, rc, "begin");
	}
	rc = mdb_get(txn, kv->kv, &k, &v);
	if (rc == 0 && rec_decode(&v, &cur) < 0) {
		rc = MDB_CORRUPTED;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		goto fail;
	}
	have = rc == 0;
	if (pre && pre(ctx, have && live(&cur, now_ms) ? &cur.m : NULL) != 0) {
		txn_abort(kv, txn);
		return err_set(err, 412, "precondition_failed",
			       "the item does not match the precondition");
	}
	if (!have) {
		txn_abort(kv, txn); /* nothing to write, nothing to sync */
		return 0;
	}
	rc = item_remove(kv, txn, ik, k.mv_size, &cur);
	if (rc != 0) {
		goto fail;
	}
	rc = txn_commit(kv, txn);
	return rc == 0 ? 0 : kv_err(err, rc, "commit");
fail:
	txn_abort(kv, txn);
	return kv_err(err, rc, "delete");
}

/* ------------------------------------------------------------------ */
/* Listings */

static int bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0) {
		return c;
	}
	return al < bl ? -1 : al > bl ? 1 : 0;
}

static int cursor_ok(size_t n)
{
	return n >= 1 && (n <= KEYPART_NATURAL || n == KEYPART_LONG);
}

int store_kv_list(struct store_kv *kv, const uint8_t *tenant, const char *ns,
		  const char *prefix, size_t prefix_len, const uint8_t *cursor,
		  size_t cursor_len, int limit, int64_t now_ms,
		  store_kv_item_fn fn, void *ctx, uint8_t *next,
		  size_t *next_len, struct isobox_err *err)
{
	uint8_t sk[ITEM_KEY_MAX];
	size_t base;
	size_t match; /* bytes every key of the listing starts with */
	size_t head = prefix_len < KEYPART_HEAD ? prefix_len : KEYPART_HEAD;
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	MDB_val k;
	MDB_val v;
	size_t last_len = 0;
	uint8_t last[KEYPART_LONG];
	int n = 0;
	int rc;

	*next_len = 0;
	if (kv == NULL) {
		return unavailable(err);
	}
	if (cursor_len > 0 && !cursor_ok(cursor_len)) {
		return err_set(err, 400, "invalid_cursor",
			       "the cursor is not one a listing returned");
	}
	base = ns_prefix(tenant, ns, sk);
	memcpy(sk + base, prefix, head);
	match = base + head;
	rc = txn_begin(kv, MDB_RDONLY, &txn);
	if (rc != 0) {
		return kv_err(err, rc, "list");
	}
	rc = mdb_cursor_open(txn, kv->kv, &c);
	if (rc != 0) {
		goto out;
	}
	if (cursor_len > 0) {
		uint8_t ck[ITEM_KEY_MAX];

		memcpy(ck, sk, base);
		memcpy(ck + base, cursor, cursor_len);
		k.mv_size = base + cursor_len;
		k.mv_data = ck;
		/* Never before the listing's own first key. */
		if (bytes_cmp(cursor, cursor_len, (const uint8_t *)prefix,
			      head) < 0) {
			k.mv_size = match;
			k.mv_data = sk;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == base + cursor_len &&
		    memcmp(k.mv_data, ck, k.mv_size) == 0) {
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
	} else {
		k.mv_size = match;
		k.mv_data = sk;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct store_kv_item it;
		struct rec r;

		if (k.mv_size < match || memcmp(k.mv_data, sk, match) != 0) {
			break;
		}
		if (rec_decode(&v, &r) < 0 || !live(&r, now_ms) ||
		    r.key_len < prefix_len ||
		    memcmp(r.key, prefix, prefix_len) != 0) {
			continue;
		}
		if (n == limit) {
			/* There is more: the next page starts after the last
			 * key returned. */
			memcpy(next, last, last_len);
			*next_len = last_len;
			break;
		}
		it.key = (const char *)r.key;
		it.key_len = r.key_len;
		it.size = r.m.size;
		it.updated_ms = r.m.updated_ms;
		it.expires_ms = r.m.expires_ms;
		it.etag = r.m.etag;
		fn(ctx, &it);
		last_len = k.mv_size - base;
		memcpy(last, (const uint8_t *)k.mv_data + base, last_len);
		n++;
	}
	if (rc == MDB_NOTFOUND) {
		rc = 0;
	}
out:
	if (c) {
		mdb_cursor_close(c);
	}
	txn_abort(kv, txn);
	return rc == 0 ? 0 : kv_err(err, rc, "list");
}

int store_kv_usage(struct store_kv *kv, const uint8_t *tenant,
		   struct store_kv_usage *total, store_kv_ns_fn fn, void *ctx,
		   struct isobox_err *err)
{
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	MDB_val k = {STORE_KV_TENANT_BYTES, (void *)tenant};
	MDB_val v;
	int rc;

	memset(total, 0, sizeof(*total));
	if (kv == NULL) {
		return unavailable(err);
	}
	rc = txn_begin(kv, MDB_RDONLY, &txn);
	if (rc != 0) {
		return kv_err(err, rc, "usage");
	}
	rc = usage_get(txn, kv->usage, tenant, STORE_KV_TENANT_BYTES, total);
	if (rc == 0 && fn) {
		rc = mdb_cursor_open(txn, kv->usage, &c);
		if (rc == 0) {
			rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		}
		for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			struct store_kv_usage u;
			char ns[STORE_KV_NS_MAX + 1];
			size_t nl = k.mv_size - STORE_KV_TENANT_BYTES;

			if (k.mv_size < STORE_KV_TENANT_BYTES ||
			    memcmp(k.mv_data, tenant, STORE_KV_TENANT_BYTES)) {
				break;
			}
			if (nl == 0 || nl > STORE_KV_NS_MAX ||
			    v.mv_size < USAGE_LEN) {
				continue;
			}
			memcpy(ns,
			       (const char *)k.mv_data + STORE_KV_TENANT_BYTES,
			       nl);
			ns[nl] = '\0';
			u.bytes = get_i64((const uint8_t *)v.mv_data + 8);
			u.keys = get_i64((const uint8_t *)v.mv_data + 16);
			fn(ctx, ns, &u);
		}
		if (rc == MDB_NOTFOUND) {
			rc = 0;
		}
	}
	if (c) {
		mdb_cursor_close(c);
	}
	txn_abort(kv, txn);
	return rc == 0 ? 0 : kv_err(err, rc, "usage");
}

int store_kv_sweep(struct store_kv *kv, int64_t now_ms, int max,
		   struct isobox_err *err)
{
	int removed = 0;

	if (kv == NULL) {
		return unavailable(err);
	}
	while (removed < max) {
		MDB_txn *txn;
		MDB_cursor *c = NULL;
		MDB_val k;
		MDB_val v;
		int batch = 0;
		int rc = txn_begin(kv, 0, &txn);

		if (rc != 0) {
			return kv_err(err, rc, "sweep");
		}
		rc = mdb_cursor_open(txn, kv->exp, &c);
		if (rc == 0) {
			rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		}
		while (rc == 0 && batch < SWEEP_BATCH && removed < max) {
			const uint8_t *ek = k.mv_data;
			uint64_t u = 0;
			int i;
			MDB_val ik = v;
			MDB_val iv;
			struct rec r;

			for (i = 0; i < 8 && k.mv_size >= 8; i++) {
				u = u << 8 | ek[i];
			}
			if ((int64_t)u > now_ms) {
				break;
			}
			/* The index row goes first: item_remove would look
			 * for it by the same key. */
			rc = mdb_get(txn, kv->kv, &ik, &iv);
			if (rc == 0 && rec_decode(&iv, &r) == 0 &&
			    r.m.expires_ms == (int64_t)u) {
				uint8_t copy[ITEM_KEY_MAX];
				size_t n = ik.mv_size < sizeof(copy)
					       ? ik.mv_size
					       : sizeof(copy);

				memcpy(copy, ik.mv_data, n);
				rc = item_remove(kv, txn, copy, n, &r);
				removed++;
				batch++;
				if (rc != 0) {
					break;
				}
				/* item_remove deleted the index row under the
				 * cursor: look again from the start. */
				rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
				continue;
			}
			/* A stale index row (its item was replaced). */
			rc = mdb_cursor_del(c, 0);
			batch++;
			if (rc == 0) {
				rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
			}
		}
		if (c) {
			mdb_cursor_close(c);
		}
		if (rc != 0 && rc != MDB_NOTFOUND) {
			txn_abort(kv, txn);
			return kv_err(err, rc, "sweep");
		}
		if (batch == 0) {
			txn_abort(kv, txn);
			break;
		}
		rc = txn_commit(kv, txn);
		if (rc != 0) {
			return kv_err(err, rc, "sweep commit");
		}
		if (batch < SWEEP_BATCH) {
			break;
		}
	}
	return removed;
}

/* ------------------------------------------------------------------ */
/* Compaction */

int store_kv_compact(const char *dir, int64_t *before, int64_t *after,
		     struct isobox_err *err)
{
	char *lp = xasprintf("%s/service.lock", dir);
	char *data = xasprintf("%s/data.mdb", dir);
	char *tmp = xasprintf("%s/data.mdb.compact", dir);
	MDB_env *env = NULL;
	struct stat st;
	int lfd = -1;
	int fd = -1;
	int rc = -1;
	int mrc;

	*before = *after = 0;
	lfd = open(lp, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (lfd < 0) {
		err_set(err, 500, "store_unavailable", "%s: %s", lp,
			strerror(errno));
		goto out;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		err_set(err, 409, "store_busy",
			"isobox.fcgi processes have the store open; stop the "
			"service first");
		goto out;
	}
	if (stat(data, &st) < 0) {
		err_set(err, 404, "not_found", "%s: %s", data, strerror(errno));
		goto out;
	}
	*before = st.st_size;
	mrc = env_setup(&env, dir, 0);
	if (mrc != 0) {
		err_set(err, 500, "store_unavailable", "LMDB at %s: %s", dir,
			mdb_strerror(mrc));
		goto out;
	}
	fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(err, 500, "store_failed", "%s: %s", tmp,
			strerror(errno));
		goto out;
	}
	mrc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
	if (mrc != 0 || fsync(fd) < 0) {
		err_set(err, 500, "store_failed", "compacting: %s",
			mrc ? mdb_strerror(mrc) : strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	mdb_env_close(env);
	env = NULL;
	if (rename(tmp, data) < 0) {
		err_set(err, 500, "store_failed", "rename %s: %s", tmp,
			strerror(errno));
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
	}
	if (stat(data, &st) == 0) {
		*after = st.st_size;
	}
	rc = 0;
out:
	if (env) {
		mdb_env_close(env);
	}
	if (fd >= 0) {
		close(fd);
	}
	if (rc < 0) {
		unlink(tmp);
	}
	if (lfd >= 0) {
		close(lfd);
	}
	free(lp);
	free(data);
	free(tmp);
	return rc;
}
