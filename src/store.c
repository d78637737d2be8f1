/* store.c - the LMDB environments, named tables, typed records and bounded
 * sweeps; see store.h. The only file that calls mdb_*. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct table_desc {
	const char *name;
	enum store_env env;
	uint8_t tag;
};

static const struct table_desc tables[STORE_NTABLES] = {
#define STORE_TABLE_DESC(id, name, env, tag) [STORE_##id] = {name, env, tag},
    STORE_TABLES(STORE_TABLE_DESC)
#undef STORE_TABLE_DESC
};

static uint64_t n_read_txns;
static uint64_t n_write_txns;

/* LMDB's error codes to ours; unexpected ones are logged once here. */
static int map_rc(int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return -ENOSPC;
	case MDB_BAD_VALSIZE:
		return -EINVAL;
	default:
		log_warn("store: %s: %s", what, mdb_strerror(rc));
		return rc > 0 ? -rc : -EIO;
	}
}

int store_err(struct isobox_err *err, int rc, const char *what)
{
	if (rc == -ENOSPC) {
		return err_set(err, 507, "store_full",
			       "the state database is full (%s); the operator "
			       "must raise its map size",
			       what);
	}
	return err_set(err, 500, "store_failed", "%s: %s", what,
		       strerror(rc < 0 ? -rc : EIO));
}

void store_init(struct store *s)
{
	int e;

	memset(s, 0, sizeof(*s));
	for (e = 0; e < STORE_NENVS; e++) {
		pthread_rwlock_init(&s->resize[e], NULL);
	}
}

/* Another process grew e's map: adopt its size, with no transaction of
 * this process open (LMDB's rule for mdb_env_set_mapsize). A thread that
 * holds a transaction of its own while asking cannot get there: -EAGAIN
 * after a bounded wait, never a deadlock. */
static int adopt_mapsize(struct store *s, enum store_env e)
{
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	if (pthread_rwlock_timedwrlock(&s->resize[e], &ts) != 0) {
		return -EAGAIN;
	}
	rc = mdb_env_set_mapsize(s->env[e], 0);
	pthread_rwlock_unlock(&s->resize[e]);
	return rc == 0 ? 0 : -EIO;
}

int store_ready(const struct store *s, enum store_env e)
{
	return s->env[e] != NULL;
}

int store_reader_check(struct store *s)
{
	int dead = 0;
	int total = 0;
	int e;

	for (e = 0; e < STORE_NENVS; e++) {
		if (s->env[e] && mdb_reader_check(s->env[e], &dead) == 0) {
			total += dead;
		}
	}
	return total;
}

/* Write or check the durable environment's schema version. */
static int schema_check(struct store *s, struct store_txn *t)
{
	struct store_val v;
	struct store_rec r;
	struct store_dec d;
	int64_t ver;
	int rc = store_get(t, STORE_META, "schema", &v);

	if (rc == -ENOENT) {
		store_rec_init(&r, STORE_META, 1);
		store_rec_i64(&r, STORE_SCHEMA_VERSION);
		return store_put(t, STORE_META, "schema", &r);
	}
	if (rc < 0) {
		return rc;
	}
	rc = store_dec_open(&d, &v, STORE_META, 1);
	ver = store_dec_i64(&d);
	if (rc == 0) {
		rc = store_dec_end(&d);
	}
	if (rc == 0 && ver != STORE_SCHEMA_VERSION) {
		rc = -EPROTONOSUPPORT;
	}
	(void)s;
	return rc;
}

/* Open dir/service.lock and flock it (LOCK_SH or LOCK_EX, never
 * waiting). The fd, or -1 with err: 500 store_unavailable, or for LOCK_EX
 * 409 store_busy when a process holds it. */
static int lock_open(const char *dir, int how, struct isobox_err *err)
{
	char *lp = xasprintf("%s/service.lock", dir);
	int fd = open(lp, O_CREAT | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		err_set(err, 500, "store_unavailable", "%s: %s", lp,
			strerror(errno));
	} else if (flock(fd, how | LOCK_NB) < 0) {
		if (how == LOCK_EX) {
			err_set(err, 409, "store_busy",
				"a process has %s open (isobox.fcgi or "
				"isoboxctl); stop the service first",
				dir);
		} else {
			err_set(err, 500, "store_unavailable",
				"%s: %s (is the store being compacted?)", lp,
				strerror(errno));
		}
		close(fd);
		fd = -1;
	}
	free(lp);
	return fd;
}

int store_env_open(struct store *s, enum store_env e, const char *dir,
		   int64_t map_bytes, struct isobox_err *err)
{
	struct store_txn t = {0};
	unsigned int flags = MDB_NOTLS;
	int dead = 0;
	int rc;
	int i;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		return err_set(err, 500, "store_unavailable",
			       "cannot create %s: %s", dir, strerror(errno));
	}
	s->lock_fd[e] = lock_open(dir, LOCK_SH, err);
	if (s->lock_fd[e] < 0) {
		return -1;
	}
	/* NOTLS: read transactions are not tied to threads. The runtime
	 * environment is not fsynced: no fsync on the request path for state
	 * a reboot wipes anyway. The durable one syncs every commit. */
	if (e == STORE_RUN) {
		flags |= MDB_NOSYNC;
	}
	rc = mdb_env_create(&s->env[e]);
	if (rc == 0) {
		rc = mdb_env_set_maxdbs(s->env[e], 32);
	}
	if (rc == 0) {
		rc = mdb_env_set_mapsize(s->env[e], (size_t)map_bytes);
	}
	if (rc == 0) {
		rc = mdb_env_set_maxreaders(s->env[e], 1024);
	}
	if (rc == 0) {
		rc = mdb_env_open(s->env[e], dir, flags, 0600);
	}
	if (rc != 0) {
		goto fail_mdb;
	}
	mdb_reader_check(s->env[e], &dead);
	rc = store_txn_begin(s, e, 1, &t);
	for (i = 0; rc == 0 && i < STORE_NTABLES; i++) {
		if (tables[i].env == e) {
			rc = map_rc(mdb_dbi_open(t.txn, tables[i].name,
						 MDB_CREATE, &s->dbi[i]),
				    tables[i].name);
		}
	}
	if (rc == 0 && e == STORE_STATE) {
		rc = schema_check(s, &t);
	}
	if (rc == 0) {
		rc = store_txn_commit(&t);
	}
	store_txn_abort(&t);
	if (rc < 0) {
		err_set(err, 500, "store_unavailable", "LMDB at %s: %s", dir,
			rc == -EPROTONOSUPPORT ? "another schema version"
					       : strerror(-rc));
		goto fail;
	}
	return 0;
fail_mdb:
	err_set(err, 500, "store_unavailable", "LMDB at %s: %s", dir,
		mdb_strerror(rc));
fail:
	if (s->env[e]) {
		mdb_env_close(s->env[e]);
		s->env[e] = NULL;
	}
	close(s->lock_fd[e]);
	s->lock_fd[e] = -1;
	return -1;
}

void store_close(struct store *s)
{
	int e;

	for (e = 0; e < STORE_NENVS; e++) {
		if (s->env[e]) {
			mdb_env_close(s->env[e]);
			close(s->lock_fd[e]);
		}
	}
	memset(s, 0, sizeof(*s));
}

void store_bound_set(struct store *s, enum store_table t, size_t rows)
{
	s->bound[t] = rows;
}

size_t store_bound(const struct store *s, enum store_table t)
{
	return s->bound[t];
}

int store_txn_begin(struct store *s, enum store_env e, int write,
		    struct store_txn *t)
{
	int tries;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (s->env[e] == NULL) {
		return -ENODEV;
	}
	for (tries = 0; tries < 3; tries++) {
		pthread_rwlock_rdlock(&s->resize[e]);
		rc = mdb_txn_begin(s->env[e], NULL, write ? 0 : MDB_RDONLY,
				   &t->txn);
		if (rc != MDB_MAP_RESIZED) {
			break;
		}
		pthread_rwlock_unlock(&s->resize[e]);
		t->txn = NULL;
		/* Another process grew the map: adopt its size. */
		if (adopt_mapsize(s, e) < 0) {
			return -EAGAIN;
		}
	}
	if (rc != 0) {
		if (rc != MDB_MAP_RESIZED) {
			pthread_rwlock_unlock(&s->resize[e]);
		}
		t->txn = NULL;
		return map_rc(rc, "begin");
	}
	t->locked = 1;
	__atomic_fetch_add(write ? &n_write_txns : &n_read_txns, 1,
			   __ATOMIC_RELAXED);
	t->s = s;
	t->env = e;
	t->write = write;
	return 0;
}

int store_txn_begin_nested(struct store_txn *parent, struct store_txn *child)
{
	int rc;

	memset(child, 0, sizeof(*child));
	if (parent->txn == NULL || !parent->write) {
		return -EINVAL;
	}
	rc = mdb_txn_begin(mdb_txn_env(parent->txn), parent->txn, 0,
			   &child->txn);
	if (rc != 0) {
		child->txn = NULL;
		return map_rc(rc, "begin nested");
	}
	child->s = parent->s;
	child->env = parent->env;
	child->write = 1;
	return 0;
}

int store_txn_commit(struct store_txn *t)
{
	int rc;

	if (t->txn == NULL) {
		return -EINVAL;
	}
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	if (t->locked) {
		pthread_rwlock_unlock(&t->s->resize[t->env]);
		t->locked = 0;
	}
	return map_rc(rc, "commit");
}

void store_txn_abort(struct store_txn *t)
{
	if (t->txn) {
		mdb_txn_abort(t->txn);
		t->txn = NULL;
	}
	if (t->locked) {
		pthread_rwlock_unlock(&t->s->resize[t->env]);
		t->locked = 0;
	}
}

int store_update(struct store *s, enum store_env e,
		 int (*fn)(struct store_txn *t, void *ctx), void *ctx)
{
	struct store_txn t;
	int rc = store_txn_begin(s, e, 1, &t);
	int crc;

	if (rc < 0) {
		return rc;
	}
	rc = fn(&t, ctx);
	if (rc < 0) {
		store_txn_abort(&t);
		return rc;
	}
	crc = store_txn_commit(&t);
	return crc < 0 ? crc : rc;
}

/* Records. */

static void rec_add(struct store_rec *r, const void *p, size_t n)
{
	if (r->bad || n > sizeof(r->b) - r->n) {
		r->bad = 1;
		return;
	}
	if (n == 0) {
		return; /* p may be NULL */
	}
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void le_put(unsigned char *b, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		b[i] = (unsigned char)(v >> (8 * i));
	}
}

static uint64_t le_get(const unsigned char *b, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++) {
		v |= (uint64_t)b[i] << (8 * i);
	}
	return v;
}

void store_rec_init(struct store_rec *r, enum store_table t, uint8_t version)
{
	r->n = 0;
	r->bad = 0;
	r->b[r->n++] = tables[t].tag;
	r->b[r->n++] = version;
}

void store_rec_i64(struct store_rec *r, int64_t v)
{
	unsigned char b[8];

	le_put(b, (uint64_t)v, 8);
	rec_add(r, b, 8);
}

void store_rec_f64(struct store_rec *r, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	store_rec_i64(r, (int64_t)u);
}

void store_rec_str(struct store_rec *r, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	unsigned char b[2];

	if (n > 0xffff) {
		r->bad = 1;
		return;
	}
	le_put(b, n, 2);
	rec_add(r, b, 2);
	rec_add(r, s, n);
}

void store_rec_bytes(struct store_rec *r, const void *p, size_t n)
{
	unsigned char b[2];

	if (n > 0xffff) {
		r->bad = 1;
		return;
	}
	le_put(b, n, 2);
	rec_add(r, b, 2);
	rec_add(r, p, n);
}

void store_rec_raw(struct store_rec *r, const void *p, size_t n)
{
	rec_add(r, p, n);
}

int store_dec_open(struct store_dec *d, const struct store_val *v,
		   enum store_table t, uint8_t version)
{
	memset(d, 0, sizeof(*d));
	d->bad = 1; /* until the header checks out */
	if (v->n < 2) {
		return -EPROTO;
	}
	d->p = v->p;
	d->n = v->n;
	if (d->p[0] != tables[t].tag) {
		return -EPROTO;
	}
	if (d->p[1] != version) {
		return -EPROTONOSUPPORT;
	}
	d->off = 2;
	d->bad = 0;
	return 0;
}

static const unsigned char *dec_take(struct store_dec *d, size_t n)
{
	const unsigned char *p;

	if (d->bad || n > d->n - d->off) {
		d->bad = 1;
		return NULL;
	}
	p = d->p + d->off;
	d->off += n;
	return p;
}

int64_t store_dec_i64(struct store_dec *d)
{
	const unsigned char *p = dec_take(d, 8);

	return p ? (int64_t)le_get(p, 8) : 0;
}

double store_dec_f64(struct store_dec *d)
{
	uint64_t u = (uint64_t)store_dec_i64(d);
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

void store_dec_str(struct store_dec *d, char *out, size_t n)
{
	const unsigned char *lp = dec_take(d, 2);
	const unsigned char *p;
	size_t l;

	out[0] = '\0';
	if (lp == NULL) {
		return;
	}
	l = (size_t)le_get(lp, 2);
	p = dec_take(d, l);
	if (p == NULL || l >= n || memchr(p, '\0', l) != NULL) {
		d->bad = 1;
		return;
	}
	memcpy(out, p, l);
	out[l] = '\0';
}

const void *store_dec_bytes(struct store_dec *d, size_t *n)
{
	const unsigned char *lp = dec_take(d, 2);
	const unsigned char *p;
	size_t l;

	*n = 0;
	if (lp == NULL) {
		return NULL;
	}
	l = (size_t)le_get(lp, 2);
	p = dec_take(d, l);
	if (p != NULL) {
		*n = l;
	}
	return p;
}

const void *store_dec_raw(struct store_dec *d, size_t n)
{
	return dec_take(d, n);
}

const void *store_dec_rest(struct store_dec *d, size_t *n)
{
	*n = d->bad ? 0 : d->n - d->off;
	return dec_take(d, *n);
}

int store_dec_end(const struct store_dec *d)
{
	return d->bad || d->off != d->n ? -EPROTO : 0;
}

/* Rows. */

static int key_of(const void *key, size_t n, MDB_val *k)
{
	if (key == NULL || n == 0 || n > STORE_KEY_MAX) {
		return -EINVAL;
	}
	k->mv_size = n;
	k->mv_data = (void *)key;
	return 0;
}

int store_get_bin(struct store_txn *t, enum store_table tb, const void *key,
		  size_t n, struct store_val *out)
{
	MDB_val k;
	MDB_val v;
	int rc = key_of(key, n, &k);

	if (rc < 0) {
		return rc;
	}
	rc = mdb_get(t->txn, t->s->dbi[tb], &k, &v);
	if (rc != 0) {
		return map_rc(rc, tables[tb].name);
	}
	out->p = v.mv_data;
	out->n = v.mv_size;
	return 0;
}

int store_put_bin(struct store_txn *t, enum store_table tb, const void *key,
		  size_t n, const struct store_rec *r)
{
	MDB_val k;
	MDB_val v = {r->n, (void *)r->b};
	int rc = key_of(key, n, &k);

	if (rc < 0 || r->bad) {
		return -EINVAL;
	}
	return map_rc(mdb_put(t->txn, t->s->dbi[tb], &k, &v, 0),
		      tables[tb].name);
}

int store_del_bin(struct store_txn *t, enum store_table tb, const void *key,
		  size_t n)
{
	MDB_val k;
	int rc = key_of(key, n, &k);

	if (rc < 0) {
		return rc;
	}
	return map_rc(mdb_del(t->txn, t->s->dbi[tb], &k, NULL),
		      tables[tb].name);
}

int store_put_reserve(struct store_txn *t, enum store_table tb, const void *key,
		      size_t n, const struct store_rec *head, size_t extra,
		      void **payload)
{
	MDB_val k;
	MDB_val v;
	int rc = key_of(key, n, &k);

	*payload = NULL;
	if (rc < 0 || head->bad || extra > SIZE_MAX / 2) {
		return -EINVAL;
	}
	v.mv_size = head->n + extra;
	v.mv_data = NULL;
	rc = mdb_put(t->txn, t->s->dbi[tb], &k, &v, MDB_RESERVE);
	if (rc != 0) {
		return map_rc(rc, tables[tb].name);
	}
	memcpy(v.mv_data, head->b, head->n);
	*payload = (unsigned char *)v.mv_data + head->n;
	return 0;
}

static size_t key_len(const char *key)
{
	return key ? strlen(key) : 0;
}

int store_get(struct store_txn *t, enum store_table tb, const char *key,
	      struct store_val *out)
{
	return store_get_bin(t, tb, key, key_len(key), out);
}

int store_put(struct store_txn *t, enum store_table tb, const char *key,
	      const struct store_rec *r)
{
	return store_put_bin(t, tb, key, key_len(key), r);
}

int store_del(struct store_txn *t, enum store_table tb, const char *key)
{
	return store_del_bin(t, tb, key, key_len(key));
}

size_t store_count(struct store_txn *t, enum store_table tb)
{
	MDB_stat st;

	if (mdb_stat(t->txn, t->s->dbi[tb], &st) != 0) {
		return 0;
	}
	return st.ms_entries;
}

/* Cursors. */

int store_cursor_open(struct store_txn *t, enum store_table tb,
		      struct store_cursor *c)
{
	memset(c, 0, sizeof(*c));
	c->t = t;
	return map_rc(mdb_cursor_open(t->txn, t->s->dbi[tb], &c->c),
		      tables[tb].name);
}

int store_cursor_next(struct store_cursor *c, struct store_val *key,
		      struct store_val *val)
{
	MDB_val k = {0, NULL};
	MDB_val v = {0, NULL};
	int rc;

	if (c->state == 0) {
		rc = mdb_cursor_get(c->c, &k, &v, MDB_FIRST);
	} else if (c->state == 2) {
		k.mv_size = c->seek_n;
		k.mv_data = c->seek;
		rc = mdb_cursor_get(c->c, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(c->c, &k, &v, MDB_NEXT);
	}
	c->state = 1;
	if (rc != 0) {
		return map_rc(rc, "cursor");
	}
	if (c->prefix_n > 0 &&
	    (k.mv_size < c->prefix_n ||
	     memcmp(k.mv_data, c->prefix, c->prefix_n) != 0)) {
		return -ENOENT; /* past the range */
	}
	key->p = k.mv_data;
	key->n = k.mv_size;
	val->p = v.mv_data;
	val->n = v.mv_size;
	return 0;
}

void store_cursor_seek(struct store_cursor *c, const void *key, size_t n)
{
	if (n == 0) {
		c->state = 0;
		return;
	}
	if (n > sizeof(c->seek)) {
		n = sizeof(c->seek);
	}
	memcpy(c->seek, key, n);
	c->seek_n = n;
	c->state = 2;
}

void store_cursor_prefix(struct store_cursor *c, const void *prefix, size_t n)
{
	if (n > STORE_KEY_MAX) {
		n = STORE_KEY_MAX;
	}
	memcpy(c->prefix, prefix, n);
	c->prefix_n = n;
	store_cursor_seek(c, prefix, n);
}

int store_cursor_put(struct store_cursor *c, const struct store_rec *r)
{
	MDB_val k;
	MDB_val v;
	MDB_val nv = {r->n, (void *)r->b};
	int rc;

	if (r->bad) {
		return -EINVAL;
	}
	rc = mdb_cursor_get(c->c, &k, &v, MDB_GET_CURRENT);
	if (rc == 0) {
		rc = mdb_cursor_put(c->c, &k, &nv, MDB_CURRENT);
	}
	return map_rc(rc, "cursor put");
}

int store_cursor_del(struct store_cursor *c)
{
	return map_rc(mdb_cursor_del(c->c, 0), "cursor del");
}

void store_cursor_close(struct store_cursor *c)
{
	if (c->c) {
		mdb_cursor_close(c->c);
		c->c = NULL;
	}
}

/* Walks. */

int store_walk_txn(struct store_txn *t, enum store_table tb, const void *prefix,
		   size_t n, store_walk_fn fn, void *ctx)
{
	struct store_cursor c;
	struct store_val k;
	struct store_val v;
	int rc = store_cursor_open(t, tb, &c);

	if (rc < 0) {
		return rc;
	}
	if (prefix && n > 0) {
		store_cursor_prefix(&c, prefix, n);
	}
	for (;;) {
		rc = store_cursor_next(&c, &k, &v);
		if (rc < 0) {
			rc = rc == -ENOENT ? 0 : rc; /* -ENOENT: the end */
			break;
		}
		rc = fn(t, &k, &v, ctx);
		if (rc != 0) {
			break;
		}
	}
	store_cursor_close(&c);
	return rc;
}

int store_walk(struct store *s, enum store_table tb, const void *prefix,
	       size_t n, store_walk_fn fn, void *ctx)
{
	struct store_txn t;
	int rc = store_txn_begin(s, tables[tb].env, 0, &t);

	if (rc < 0) {
		return rc;
	}
	rc = store_walk_txn(&t, tb, prefix, n, fn, ctx);
	store_txn_abort(&t);
	return rc;
}

/* Sweeps. */

/* One pass: up to max_look rows from the cursor's position. *looked says
 * how many were looked at; last (STORE_KEY_MAX + 2 bytes) gets the last
 * key looked at. Returns deletions or -errno; -ENOENT is not returned:
 * the end of the table just ends the pass. */
static int key_before(const struct store_val *k, const char *stop)
{
	size_t n = strlen(stop);
	int cmp = memcmp(k->p, stop, k->n < n ? k->n : n);

	return cmp < 0 || (cmp == 0 && k->n < n);
}

static long sweep_pass(struct store_cursor *c, size_t max_look,
		       const char *stop, store_drop_fn drop, void *ctx,
		       size_t *looked, char *last, size_t *last_n)
{
	struct store_val k;
	struct store_val v;
	long deleted = 0;
	int rc;

	*looked = 0;
	while (*looked < max_look) {
		rc = store_cursor_next(c, &k, &v);
		if (rc == -ENOENT) {
			break;
		}
		if (rc < 0) {
			return rc;
		}
		if (stop && !key_before(&k, stop)) {
			break;
		}
		(*looked)++;
		if (last) {
			*last_n = k.n < STORE_KEY_MAX ? k.n : STORE_KEY_MAX;
			memcpy(last, k.p, *last_n);
		}
		if (drop(&k, &v, ctx)) {
			rc = store_cursor_del(c);
			if (rc < 0) {
				return rc;
			}
			deleted++;
		}
	}
	return deleted;
}

long store_sweep_txn(struct store_txn *t, enum store_table tb,
		     const char *start, size_t max_look, store_drop_fn drop,
		     void *ctx)
{
	struct store_cursor c;
	size_t looked = 0;
	long deleted;
	long more;
	int rc = store_cursor_open(t, tb, &c);

	if (rc < 0) {
		return rc;
	}
	if (start) {
		store_cursor_seek(&c, start, strlen(start));
	}
	deleted =
	    sweep_pass(&c, max_look, NULL, drop, ctx, &looked, NULL, NULL);
	if (deleted >= 0 && start && looked < max_look) {
		/* Wrap around to the rows before start. */
		store_cursor_close(&c);
		rc = store_cursor_open(t, tb, &c);
		if (rc < 0) {
			return rc;
		}
		more = sweep_pass(&c, max_look - looked, start, drop, ctx,
				  &looked, NULL, NULL);
		deleted = more < 0 ? more : deleted + more;
	}
	store_cursor_close(&c);
	return deleted;
}

long store_sweep(struct store *s, enum store_table tb, size_t batch,
		 store_drop_fn drop, void *ctx)
{
	char last[STORE_KEY_MAX + 2];
	size_t last_n = 0;
	long total = 0;

	if (batch == 0) {
		batch = 1;
	}
	for (;;) {
		struct store_txn t;
		struct store_cursor c;
		size_t looked = 0;
		long n;
		int rc = store_txn_begin(s, tables[tb].env, 1, &t);

		if (rc < 0) {
			return rc;
		}
		rc = store_cursor_open(&t, tb, &c);
		if (rc < 0) {
			store_txn_abort(&t);
			return rc;
		}
		if (last_n > 0) {
			/* Resume after the last key looked at: the smallest
			 * key greater than it is it with a NUL appended. */
			last[last_n++] = '\0';
			store_cursor_seek(&c, last, last_n);
		}
		n = sweep_pass(&c, batch, NULL, drop, ctx, &looked, last,
			       &last_n);
		store_cursor_close(&c);
		if (n < 0) {
			store_txn_abort(&t);
			return n;
		}
		rc = store_txn_commit(&t);
		if (rc < 0) {
			return rc;
		}
		total += n;
		if (looked < batch) {
			return total;
		}
	}
}

int store_expiry_key(char *out, int64_t at_ms, const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n + STORE_EXPIRY_PREFIX > STORE_KEY_MAX) {
		return -EINVAL;
	}
	snprintf(out, STORE_KEY_MAX + 1, "%016llx:%s",
		 (unsigned long long)(at_ms < 0 ? 0 : at_ms), key);
	return 0;
}

int store_expiry_split(const struct store_val *k, int64_t *at_ms,
		       const char **key, size_t *key_n)
{
	const char *p = k->p;
	uint64_t v = 0;
	size_t i;

	if (k->n <= STORE_EXPIRY_PREFIX || p[STORE_EXPIRY_PREFIX - 1] != ':') {
		return -EPROTO;
	}
	for (i = 0; i < STORE_EXPIRY_PREFIX - 1; i++) {
		int c = p[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
					       : -1;

		if (d < 0) {
			return -EPROTO;
		}
		v = v << 4 | (uint64_t)d;
	}
	*at_ms = (int64_t)v;
	*key = p + STORE_EXPIRY_PREFIX;
	*key_n = k->n - STORE_EXPIRY_PREFIX;
	return 0;
}

int store_env_info(struct store *s, enum store_env e,
		   struct store_env_info *out)
{
	MDB_envinfo ei;
	MDB_stat st;

	memset(out, 0, sizeof(*out));
	if (s->env[e] == NULL) {
		return -ENODEV;
	}
	if (mdb_env_info(s->env[e], &ei) != 0 ||
	    mdb_env_stat(s->env[e], &st) != 0) {
		return -EIO;
	}
	out->map_bytes = (int64_t)ei.me_mapsize;
	out->page_bytes = st.ms_psize;
	out->used_bytes = (int64_t)(ei.me_last_pgno + 1) * st.ms_psize;
	out->readers = ei.me_numreaders;
	return 0;
}

int store_compact(const char *dir, int64_t *before, int64_t *after,
		  struct isobox_err *err)
{
	char *data = xasprintf("%s/data.mdb", dir);
	char *tmp = xasprintf("%s/data.mdb.compact", dir);
	MDB_env *env = NULL;
	struct stat st;
	int lfd;
	int fd = -1;
	int rc = -1;
	int mrc;

	*before = *after = 0;
	lfd = lock_open(dir, LOCK_EX, err);
	if (lfd < 0) {
		goto out;
	}
	if (stat(data, &st) < 0) {
		err_set(err, 404, "not_found", "%s: %s", data, strerror(errno));
		goto out;
	}
	*before = st.st_size;
	mrc = mdb_env_create(&env);
	if (mrc == 0) {
		mrc = mdb_env_set_maxdbs(env, 32);
	}
	if (mrc == 0) {
		mrc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600);
	}
	if (mrc != 0) {
		err_set(err, 500, "store_failed", "LMDB at %s: %s", dir,
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
		err_set(err, 500, "store_failed", "compacting %s: %s", dir,
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
	/* The rename is durable once the directory is. */
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
	free(data);
	free(tmp);
	return rc;
}

void store_stats_get(struct store_stats *out)
{
	out->read_txns = __atomic_load_n(&n_read_txns, __ATOMIC_RELAXED);
	out->write_txns = __atomic_load_n(&n_write_txns, __ATOMIC_RELAXED);
}
