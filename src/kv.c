/* kv.c - the durable key-value store of /v1/memory on the store's durable
 * environment; tables, records, group commit and errors are described in
 * kv.h. Reads hand out pointers into the map for the duration of a
 * callback, so a value is never copied on its way out. */
#include "kv.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE_VERSION 1
#define KEYPART_HEAD  (KV_KEY_NATURAL + 1)
#define KEYPART_LONG  (KEYPART_HEAD + 32)
#define ITEM_KEY_MAX  (KV_TENANT_BYTES + KV_NS_MAX + 1 + KEYPART_LONG)
#define EXP_KEY_LEN   (8 + 16)
#define SWEEP_BATCH   256

_Static_assert(ITEM_KEY_MAX <= STORE_KEY_MAX, "item keys fit LMDB's");

/* One queued write of kv_write, on the caller's stack. */
struct kv_op {
	const struct kv_write *w;
	uint8_t hash[32];
	struct kv_meta *out;
	struct isobox_err err;
	int rc;
	int done;
	struct kv_op *next;
};

/* ------------------------------------------------------------------ */
/* Encoding */

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

/* A decoded ITEM; pointers into the map. */
struct rec {
	struct kv_meta m;
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
};

/* 0, or -EPROTO / -EPROTONOSUPPORT (store_dec_open). */
static int rec_decode(const struct store_val *v, struct rec *r)
{
	struct store_dec d;
	const uint8_t *h;
	size_t n;
	int rc = store_dec_open(&d, v, STORE_KV, KV_REC_VERSION);

	if (rc < 0) {
		return rc;
	}
	r->m.created_ms = store_dec_i64(&d);
	r->m.updated_ms = store_dec_i64(&d);
	r->m.expires_ms = store_dec_i64(&d);
	h = store_dec_raw(&d, 32);
	store_dec_str(&d, r->m.content_type, sizeof(r->m.content_type));
	r->key = store_dec_bytes(&d, &r->key_len);
	r->value = store_dec_rest(&d, &n);
	if (h == NULL || r->key == NULL || store_dec_end(&d) < 0) {
		return -EPROTO;
	}
	hex32(h, r->m.etag);
	r->m.size = (int64_t)n;
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

	if (n > KV_NS_MAX) {
		n = KV_NS_MAX;
	}
	memcpy(out, tenant, KV_TENANT_BYTES);
	memcpy(out + KV_TENANT_BYTES, ns, n);
	out[KV_TENANT_BYTES + n] = '\0';
	return KV_TENANT_BYTES + n + 1;
}

/* The KEYPART of a user key (see kv.h); out holds KEYPART_LONG. */
static size_t key_part(const char *key, size_t key_len, uint8_t *out)
{
	if (key_len <= KV_KEY_NATURAL) {
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

/* End of the namespace in an item key (the offset of its NUL). */
static size_t ns_end_of(const uint8_t *ik, size_t ikl)
{
	const uint8_t *nul =
	    memchr(ik + KV_TENANT_BYTES, 0, ikl - KV_TENANT_BYTES);

	return nul ? (size_t)(nul - ik) : ikl;
}

/* ------------------------------------------------------------------ */
/* Errors */

static int kv_err(struct isobox_err *err, int rc, const char *what)
{
	if (rc == -EPROTO || rc == -EPROTONOSUPPORT) {
		return err_set(err, 500, "store_failed",
			       "%s: a record of another version or a damaged "
			       "one",
			       what);
	}
	return store_err(err, rc, what);
}

static int unavailable(struct kv *kv, struct isobox_err *err)
{
	if (kv->store && store_ready(kv->store, STORE_STATE)) {
		return 0;
	}
	return err_set(err, 503, "memory_unavailable",
		       "the durable store is not open (see the service log)");
}

static int precondition_failed(struct isobox_err *err)
{
	return err_set(err, 412, "precondition_failed",
		       "the item does not match the precondition");
}

/* ------------------------------------------------------------------ */
/* Usage rows */

static int usage_get(struct store_txn *t, const uint8_t *k, size_t kl,
		     struct kv_usage *u)
{
	struct store_val v;
	struct store_dec d;
	int rc = store_get_bin(t, STORE_KV_USAGE, k, kl, &v);

	memset(u, 0, sizeof(*u));
	if (rc == -ENOENT) {
		return 0;
	}
	if (rc == 0) {
		rc = store_dec_open(&d, &v, STORE_KV_USAGE, USAGE_VERSION);
	}
	if (rc < 0) {
		return rc;
	}
	u->bytes = store_dec_i64(&d);
	u->keys = store_dec_i64(&d);
	return store_dec_end(&d);
}

static int usage_set(struct store_txn *t, const uint8_t *k, size_t kl,
		     const struct kv_usage *u)
{
	struct store_rec r;
	int rc;

	if (u->keys <= 0) {
		rc = store_del_bin(t, STORE_KV_USAGE, k, kl);
		return rc == -ENOENT ? 0 : rc;
	}
	store_rec_init(&r, STORE_KV_USAGE, USAGE_VERSION);
	store_rec_i64(&r, u->bytes);
	store_rec_i64(&r, u->keys);
	return store_put_bin(t, STORE_KV_USAGE, k, kl, &r);
}

/* Add dbytes/dkeys to the tenant's total and to its namespace's row. The
 * usage key of the namespace is the item key's prefix without the NUL. */
static int usage_add(struct store_txn *t, const uint8_t *ik, size_t ns_end,
		     int64_t dbytes, int64_t dkeys)
{
	struct kv_usage u;
	int i;
	int rc;

	for (i = 0; i < 2; i++) {
		size_t kl = i == 0 ? KV_TENANT_BYTES : ns_end;

		rc = usage_get(t, ik, kl, &u);
		if (rc < 0) {
			return rc;
		}
		u.bytes += dbytes;
		u.keys += dkeys;
		if (u.bytes < 0) {
			u.bytes = 0;
		}
		rc = usage_set(t, ik, kl, &u);
		if (rc < 0) {
			return rc;
		}
	}
	return 0;
}

/* Remove the item at ik (its record r) with its index row and usage. */
static int item_remove(struct store_txn *t, const uint8_t *ik, size_t ikl,
		       const struct rec *r)
{
	int64_t bytes = (int64_t)r->key_len + r->m.size;
	int rc;

	if (r->m.expires_ms != 0) {
		uint8_t ek[EXP_KEY_LEN];

		exp_key(r->m.expires_ms, ik, ikl, ek);
		rc = store_del_bin(t, STORE_KV_EXPIRY, ek, sizeof(ek));
		if (rc < 0 && rc != -ENOENT) {
			return rc;
		}
	}
	rc = store_del_bin(t, STORE_KV, ik, ikl);
	if (rc < 0) {
		return rc;
	}
	return usage_add(t, ik, ns_end_of(ik, ikl), -bytes, -1);
}

/* The current item at ik: 1 with *r, 0 when absent, or -errno. */
static int item_load(struct store_txn *t, const uint8_t *ik, size_t ikl,
		     struct rec *r)
{
	struct store_val v;
	int rc = store_get_bin(t, STORE_KV, ik, ikl, &v);

	if (rc == -ENOENT) {
		return 0;
	}
	if (rc == 0) {
		rc = rec_decode(&v, r);
	}
	return rc < 0 ? rc : 1;
}

/* ------------------------------------------------------------------ */
/* Set-up */

void kv_init(struct kv *kv, struct store *store)
{
	memset(kv, 0, sizeof(*kv));
	kv->store = store;
	pthread_mutex_init(&kv->lock, NULL);
	pthread_cond_init(&kv->cond, NULL);
}

void kv_free(struct kv *kv)
{
	pthread_mutex_destroy(&kv->lock);
	pthread_cond_destroy(&kv->cond);
	memset(kv, 0, sizeof(*kv));
}

void kv_tenant_id(const char *name, uint8_t id[KV_TENANT_BYTES])
{
	static const char tag[] = "isobox-kv";
	size_t n = strlen(name);
	uint8_t *b = xmalloc(sizeof(tag) + n);
	uint8_t h[32];

	memcpy(b, tag, sizeof(tag)); /* with its NUL */
	memcpy(b + sizeof(tag), name, n);
	sha256(b, sizeof(tag) + n, h);
	free(b);
	memcpy(id, h, KV_TENANT_BYTES);
}

/* ------------------------------------------------------------------ */
/* Reads */

int kv_get(struct kv *kv, const uint8_t *tenant, const char *ns,
	   const char *key, size_t key_len, int64_t now_ms, kv_precond_fn pre,
	   kv_value_fn fn, void *ctx, struct kv_meta *m, struct isobox_err *err)
{
	uint8_t ik[ITEM_KEY_MAX];
	size_t ikl;
	struct store_txn t;
	struct rec r;
	int rc;

	if (unavailable(kv, err) < 0) {
		return -1;
	}
	if (key_len == 0 || key_len > KV_KEY_MAX) {
		return err_set(err, 400, "invalid_request", "bad key length");
	}
	ikl = item_key(tenant, ns, key, key_len, ik);
	rc = store_txn_begin(kv->store, STORE_STATE, 0, &t);
	if (rc < 0) {
		return kv_err(err, rc, "read");
	}
	rc = item_load(&t, ik, ikl, &r);
	if (rc == 1 && (r.key_len != key_len || memcmp(r.key, key, key_len))) {
		rc = -EPROTO; /* a long key's hash matched another key */
	}
	if (rc == 0 || (rc == 1 && !live(&r, now_ms))) {
		store_txn_abort(&t);
		return err_set(err, 404, "not_found", "no such key");
	}
	if (rc < 0) {
		store_txn_abort(&t);
		return kv_err(err, rc, "read");
	}
	if (m) {
		*m = r.m;
	}
	if (pre && pre(ctx, &r.m) != 0) {
		store_txn_abort(&t);
		return precondition_failed(err);
	}
	/* fn copies the value out of the map while the read transaction
	 * keeps its pages in place. */
	rc = fn ? fn(ctx, &r.m, r.value, (size_t)r.m.size) : 0;
	store_txn_abort(&t);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Writes: one operation inside its nested transaction */

static int op_put(struct store_txn *t, struct kv_op *op)
{
	const struct kv_write *w = op->w;
	uint8_t ik[ITEM_KEY_MAX];
	uint8_t ek[EXP_KEY_LEN];
	size_t ikl = item_key(w->tenant, w->ns, w->key, w->key_len, ik);
	size_t ns_end = ns_end_of(ik, ikl);
	struct store_rec r;
	struct rec cur;
	struct kv_usage total;
	int64_t old_bytes = 0;
	int64_t new_bytes = (int64_t)w->key_len + (int64_t)w->len;
	int64_t created;
	void *payload;
	int have;
	int rc = item_load(t, ik, ikl, &cur);

	if (rc < 0) {
		return kv_err(&op->err, rc, "write");
	}
	have = rc == 1;
	if (w->pre &&
	    w->pre(w->ctx, have && live(&cur, w->now_ms) ? &cur.m : NULL)) {
		return precondition_failed(&op->err);
	}
	rc = usage_get(t, ik, KV_TENANT_BYTES, &total);
	if (rc < 0) {
		return kv_err(&op->err, rc, "usage");
	}
	if (have) {
		old_bytes = (int64_t)cur.key_len + cur.m.size;
	}
	/* A write that does not grow the tenant always fits (so a tenant
	 * over a lowered quota can still shrink). */
	if ((new_bytes > old_bytes &&
	     total.bytes - old_bytes + new_bytes > w->quota_bytes) ||
	    (!have && total.keys + 1 > w->quota_keys)) {
		return err_set(&op->err, 413, "quota_exceeded",
			       "the tenant's memory quota (%lld bytes, %lld "
			       "keys) would be exceeded",
			       (long long)w->quota_bytes,
			       (long long)w->quota_keys);
	}
	if (have && cur.m.expires_ms != 0) {
		exp_key(cur.m.expires_ms, ik, ikl, ek);
		rc = store_del_bin(t, STORE_KV_EXPIRY, ek, sizeof(ek));
		if (rc < 0 && rc != -ENOENT) {
			return kv_err(&op->err, rc, "write");
		}
	}
	created = have && live(&cur, w->now_ms) ? cur.m.created_ms : w->now_ms;
	store_rec_init(&r, STORE_KV, KV_REC_VERSION);
	store_rec_i64(&r, created);
	store_rec_i64(&r, w->now_ms);
	store_rec_i64(&r, w->expires_ms);
	store_rec_raw(&r, op->hash, sizeof(op->hash));
	store_rec_str(&r, w->content_type);
	store_rec_bytes(&r, w->key, w->key_len);
	rc = store_put_reserve(t, STORE_KV, ik, ikl, &r, w->len, &payload);
	if (rc < 0) {
		return kv_err(&op->err, rc, "write");
	}
	/* Before any other write of this transaction can move the page. */
	if (w->len > 0) {
		memcpy(payload, w->value, w->len);
	}
	if (w->expires_ms != 0) {
		exp_key(w->expires_ms, ik, ikl, ek);
		store_rec_init(&r, STORE_KV_EXPIRY, KV_REC_VERSION);
		store_rec_bytes(&r, ik, ikl);
		rc = store_put_bin(t, STORE_KV_EXPIRY, ek, sizeof(ek), &r);
		if (rc < 0) {
			return kv_err(&op->err, rc, "write");
		}
	}
	rc = usage_add(t, ik, ns_end, new_bytes - old_bytes, have ? 0 : 1);
	if (rc < 0) {
		return kv_err(&op->err, rc, "usage");
	}
	if (op->out) {
		struct kv_meta *o = op->out;

		memset(o, 0, sizeof(*o));
		snprintf(o->content_type, sizeof(o->content_type), "%s",
			 w->content_type);
		o->created_ms = created;
		o->updated_ms = w->now_ms;
		o->expires_ms = w->expires_ms;
		o->size = (int64_t)w->len;
		hex32(op->hash, o->etag);
	}
	return 0;
}

static int op_delete(struct store_txn *t, struct kv_op *op)
{
	const struct kv_write *w = op->w;
	uint8_t ik[ITEM_KEY_MAX];
	size_t ikl = item_key(w->tenant, w->ns, w->key, w->key_len, ik);
	struct rec cur;
	int rc = item_load(t, ik, ikl, &cur);

	if (rc < 0) {
		return kv_err(&op->err, rc, "delete");
	}
	if (w->pre &&
	    w->pre(w->ctx, rc == 1 && live(&cur, w->now_ms) ? &cur.m : NULL)) {
		return precondition_failed(&op->err);
	}
	if (rc == 0) {
		return 0; /* nothing to delete */
	}
	rc = item_remove(t, ik, ikl, &cur);
	return rc < 0 ? kv_err(&op->err, rc, "delete") : 0;
}

/* One batch: one write transaction, each op in a nested one, one commit.
 * Fills every op's rc and err. */
static void batch_run(struct kv *kv, struct kv_op *batch)
{
	struct store_txn t;
	struct kv_op *op;
	int ok = 0;
	int n = 0;
	int rc = store_txn_begin(kv->store, STORE_STATE, 1, &t);

	for (op = batch; op; op = op->next) {
		struct store_txn c;

		n++;
		if (rc < 0) {
			op->rc = kv_err(&op->err, rc, "begin");
			continue;
		}
		op->rc = store_txn_begin_nested(&t, &c);
		if (op->rc < 0) {
			op->rc = kv_err(&op->err, op->rc, "begin");
			continue;
		}
		op->rc = op->w->del ? op_delete(&c, op) : op_put(&c, op);
		if (op->rc < 0) {
			store_txn_abort(&c);
			continue;
		}
		op->rc = store_txn_commit(&c);
		if (op->rc < 0) {
			op->rc = kv_err(&op->err, op->rc, "commit");
			continue;
		}
		ok++;
	}
	if (rc < 0) {
		return;
	}
	/* Synchronous: returns once data and meta page are on disk. */
	rc = ok > 0 ? store_txn_commit(&t) : 0;
	store_txn_abort(&t);
	for (op = batch; op && rc < 0; op = op->next) {
		if (op->rc == 0) {
			op->rc = kv_err(&op->err, rc, "commit");
		}
	}
	__atomic_fetch_add(&kv->commits, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&kv->writes, (uint64_t)n, __ATOMIC_RELAXED);
}

int kv_write(struct kv *kv, const struct kv_write *w, struct kv_meta *out,
	     struct isobox_err *err)
{
	struct kv_op op;

	if (unavailable(kv, err) < 0) {
		return -1;
	}
	if (w->key_len == 0 || w->key_len > KV_KEY_MAX ||
	    (!w->del && strlen(w->content_type) > KV_CTYPE_MAX)) {
		return err_set(err, 400, "invalid_request",
			       "content type or key too long");
	}
	memset(&op, 0, sizeof(op));
	op.w = w;
	op.out = out;
	if (!w->del) {
		/* Hashed here, outside the writer lock. */
		sha256(w->value, w->len, op.hash);
	}
	pthread_mutex_lock(&kv->lock);
	if (kv->tail) {
		kv->tail->next = &op;
	} else {
		kv->head = &op;
	}
	kv->tail = &op;
	while (!op.done) {
		struct kv_op *batch;
		struct kv_op *last;
		struct kv_op *o;
		int n = 1;

		if (kv->leading) {
			pthread_cond_wait(&kv->cond, &kv->lock);
			continue;
		}
		/* Lead: take what is queued (up to KV_BATCH_MAX), commit it
		 * while newcomers queue for the next batch. */
		kv->leading = 1;
		batch = last = kv->head;
		while (n < KV_BATCH_MAX && last->next) {
			last = last->next;
			n++;
		}
		kv->head = last->next;
		if (kv->head == NULL) {
			kv->tail = NULL;
		}
		last->next = NULL;
		pthread_mutex_unlock(&kv->lock);
		batch_run(kv, batch);
		pthread_mutex_lock(&kv->lock);
		for (o = batch; o;) {
			struct kv_op *next = o->next;

			o->done = 1; /* o may be gone once the lock is free */
			o = next;
		}
		kv->leading = 0;
		pthread_cond_broadcast(&kv->cond);
	}
	pthread_mutex_unlock(&kv->lock);
	if (op.rc < 0) {
		if (err) {
			*err = op.err;
		}
		return -1;
	}
	return 0;
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
	return n >= 1 && (n <= KV_KEY_NATURAL || n == KEYPART_LONG);
}

int kv_list(struct kv *kv, const uint8_t *tenant, const char *ns,
	    const char *prefix, size_t prefix_len, const uint8_t *cursor,
	    size_t cursor_len, int limit, int64_t now_ms, kv_item_fn fn,
	    void *ctx, uint8_t *next, size_t *next_len, struct isobox_err *err)
{
	uint8_t sk[ITEM_KEY_MAX];
	uint8_t ck[ITEM_KEY_MAX];
	size_t ckl = 0;
	size_t base;
	size_t match; /* bytes every key of the listing starts with */
	size_t head = prefix_len < KEYPART_HEAD ? prefix_len : KEYPART_HEAD;
	struct store_txn t;
	struct store_cursor c;
	struct store_val k;
	struct store_val v;
	size_t last_len = 0;
	uint8_t last[KEYPART_LONG];
	int n = 0;
	int rc;

	*next_len = 0;
	if (unavailable(kv, err) < 0) {
		return -1;
	}
	if (cursor_len > 0 && !cursor_ok(cursor_len)) {
		return err_set(err, 400, "invalid_cursor",
			       "the cursor is not one a listing returned");
	}
	base = ns_prefix(tenant, ns, sk);
	memcpy(sk + base, prefix, head);
	match = base + head;
	rc = store_txn_begin(kv->store, STORE_STATE, 0, &t);
	if (rc < 0) {
		return kv_err(err, rc, "list");
	}
	rc = store_cursor_open(&t, STORE_KV, &c);
	if (rc < 0) {
		store_txn_abort(&t);
		return kv_err(err, rc, "list");
	}
	store_cursor_prefix(&c, sk, match);
	/* A cursor before the listing's own first key starts at it. */
	if (cursor_len > 0 &&
	    bytes_cmp(cursor, cursor_len, (const uint8_t *)prefix, head) >= 0) {
		memcpy(ck, sk, base);
		memcpy(ck + base, cursor, cursor_len);
		ckl = base + cursor_len;
		store_cursor_seek(&c, ck, ckl);
	}
	while ((rc = store_cursor_next(&c, &k, &v)) == 0) {
		struct kv_item it;
		struct rec r;

		if (ckl > 0 && k.n == ckl && memcmp(k.p, ck, ckl) == 0) {
			continue; /* the cursor is exclusive */
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
		last_len = k.n - base;
		memcpy(last, (const uint8_t *)k.p + base, last_len);
		n++;
	}
	store_cursor_close(&c);
	store_txn_abort(&t);
	if (rc < 0 && rc != -ENOENT) {
		return kv_err(err, rc, "list");
	}
	return 0;
}

int kv_usage_get(struct kv *kv, const uint8_t *tenant, struct kv_usage *total,
		 kv_ns_fn fn, void *ctx, struct isobox_err *err)
{
	struct store_txn t;
	struct store_cursor c;
	struct store_val k;
	struct store_val v;
	int rc;

	memset(total, 0, sizeof(*total));
	if (unavailable(kv, err) < 0) {
		return -1;
	}
	rc = store_txn_begin(kv->store, STORE_STATE, 0, &t);
	if (rc < 0) {
		return kv_err(err, rc, "usage");
	}
	rc = usage_get(&t, tenant, KV_TENANT_BYTES, total);
	if (rc == 0 && fn) {
		rc = store_cursor_open(&t, STORE_KV_USAGE, &c);
		if (rc == 0) {
			store_cursor_prefix(&c, tenant, KV_TENANT_BYTES);
			while ((rc = store_cursor_next(&c, &k, &v)) == 0) {
				struct store_dec d;
				struct kv_usage u;
				char ns[KV_NS_MAX + 1];
				size_t nl = k.n - KV_TENANT_BYTES;

				if (nl == 0 || nl > KV_NS_MAX ||
				    store_dec_open(&d, &v, STORE_KV_USAGE,
						   USAGE_VERSION) < 0) {
					continue; /* the total, or damaged */
				}
				u.bytes = store_dec_i64(&d);
				u.keys = store_dec_i64(&d);
				if (store_dec_end(&d) < 0) {
					continue;
				}
				memcpy(ns, (const char *)k.p + KV_TENANT_BYTES,
				       nl);
				ns[nl] = '\0';
				fn(ctx, ns, &u);
			}
			store_cursor_close(&c);
		}
		if (rc == -ENOENT) {
			rc = 0;
		}
	}
	store_txn_abort(&t);
	return rc < 0 ? kv_err(err, rc, "usage") : 0;
}

/* ------------------------------------------------------------------ */
/* Expiry */

/* One sweep transaction: up to SWEEP_BATCH index rows due at now_ms and
 * max removals. Returns the index rows looked at (removals in *removed),
 * or -errno. */
static int sweep_txn(struct store_txn *t, int64_t now_ms, int max, int *removed)
{
	struct store_cursor c;
	int looked = 0;
	int rc = store_cursor_open(t, STORE_KV_EXPIRY, &c);

	if (rc < 0) {
		return rc;
	}
	while (looked < SWEEP_BATCH && *removed < max) {
		struct store_val k;
		struct store_val v;
		struct store_dec d;
		const uint8_t *ek;
		const void *p;
		uint8_t ik[ITEM_KEY_MAX];
		size_t ikl = 0;
		struct rec r;
		uint64_t at = 0;
		int i;

		/* Always the first row: the one before was deleted. */
		store_cursor_seek(&c, NULL, 0);
		rc = store_cursor_next(&c, &k, &v);
		if (rc < 0) {
			break;
		}
		ek = k.p;
		for (i = 0; i < 8 && k.n == EXP_KEY_LEN; i++) {
			at = at << 8 | ek[i];
		}
		if (k.n == EXP_KEY_LEN && (int64_t)at > now_ms) {
			break; /* nothing else is due */
		}
		if (store_dec_open(&d, &v, STORE_KV_EXPIRY, KV_REC_VERSION) ==
		    0) {
			p = store_dec_bytes(&d, &ikl);
			if (p && store_dec_end(&d) == 0 && ikl > 0 &&
			    ikl <= sizeof(ik)) {
				memcpy(ik, p, ikl);
			} else {
				ikl = 0;
			}
		}
		/* The index row goes first (also a stale or damaged one),
		 * so the loop always makes progress. */
		rc = store_cursor_del(&c);
		if (rc < 0) {
			break;
		}
		looked++;
		if (ikl == 0) {
			continue;
		}
		rc = item_load(t, ik, ikl, &r);
		if (rc == 1 && r.m.expires_ms == (int64_t)at) {
			rc = item_remove(t, ik, ikl, &r);
			if (rc < 0) {
				break;
			}
			(*removed)++;
		} else if (rc < 0 && rc != -EPROTO && rc != -EPROTONOSUPPORT) {
			break;
		}
		rc = 0;
	}
	store_cursor_close(&c);
	return rc < 0 && rc != -ENOENT ? rc : looked;
}

int kv_sweep(struct kv *kv, int64_t now_ms, int max, struct isobox_err *err)
{
	int removed = 0;

	if (unavailable(kv, err) < 0) {
		return -1;
	}
	while (removed < max) {
		struct store_txn t;
		int looked;
		int rc = store_txn_begin(kv->store, STORE_STATE, 1, &t);

		if (rc < 0) {
			return kv_err(err, rc, "sweep");
		}
		looked = sweep_txn(&t, now_ms, max, &removed);
		if (looked <= 0) {
			store_txn_abort(&t);
			if (looked < 0) {
				return kv_err(err, looked, "sweep");
			}
			break;
		}
		rc = store_txn_commit(&t);
		if (rc < 0) {
			return kv_err(err, rc, "sweep commit");
		}
		if (looked < SWEEP_BATCH) {
			break;
		}
	}
	return removed;
}
