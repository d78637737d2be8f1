/* session.c - session rows, tokens, the lifecycle of a session's sandbox
 * and workspace, and the housekeeping (idle stop, expiry, reconciliation);
 * see session.h. Steps and file operations are in session_run.c. */
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "bstore.h"
#include "chan.h"
#include "docker.h"
#include "spec.h"

/* ------------------------------------------------------------------ */
/* Pure parts */

void session_id_new(char out[SESSION_ID_SIZE])
{
	char hex[33];

	random_hex(hex, 16);
	snprintf(out, SESSION_ID_SIZE, "%s%s", SESSION_ID_PREFIX, hex);
}

static int hex_lower(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return s[n] == '\0';
}

int session_id_ok(const char *s)
{
	size_t p = strlen(SESSION_ID_PREFIX);

	return s && strncmp(s, SESSION_ID_PREFIX, p) == 0 &&
	       strlen(s) == SESSION_ID_SIZE - 1 && hex_lower(s + p, 32);
}

void session_token_hash(const char *tok, uint8_t hash[32])
{
	struct sha256 h;

	sha256_init(&h);
	sha256_update(&h, tok, strlen(tok));
	sha256_final(&h, hash);
}

void session_token_new(char tok[SESSION_TOKEN_SIZE], uint8_t hash[32])
{
	char hex[65];

	random_hex(hex, 32);
	snprintf(tok, SESSION_TOKEN_SIZE, "%s%s", SESSION_TOKEN_PREFIX, hex);
	session_token_hash(tok, hash);
}

int session_token_match(const struct session *s, const char *tok)
{
	uint8_t h[32];
	unsigned diff = 0;
	size_t i;

	if (tok == NULL || tok[0] == '\0') {
		return 0;
	}
	/* Hash whatever was presented (its length says nothing about the
	 * stored token), then compare every byte of the digests. */
	session_token_hash(tok, h);
	for (i = 0; i < 32; i++) {
		diff |= (unsigned)(h[i] ^ s->token_hash[i]);
	}
	return diff == 0;
}

int64_t session_ttl_clamp(int64_t req, int64_t def, int64_t max)
{
	if (req <= 0) {
		req = def;
	}
	return req > max ? max : req;
}

void session_rec_encode(const struct session *s, struct store_rec *r)
{
	int i;

	store_rec_init(r, STORE_SESSIONS, SESSION_REC_VERSION);
	store_rec_i64(r, s->tenant_kind);
	store_rec_str(r, s->tenant);
	store_rec_raw(r, s->token_hash, 32);
	store_rec_str(r, s->runtime);
	store_rec_str(r, s->version);
	store_rec_i64(r, s->type);
	store_rec_i64(r, s->lim.memory_bytes);
	store_rec_f64(r, s->lim.cpus);
	store_rec_i64(r, s->lim.pids);
	store_rec_i64(r, s->lim.output_bytes);
	store_rec_i64(r, s->lim.wall_time_ms);
	store_rec_i64(r, s->lim.compile_wall_time_ms);
	store_rec_i64(r, s->lim.compile_memory_bytes);
	store_rec_i64(r, s->lim.tmpfs_bytes);
	store_rec_i64(r, s->network);
	store_rec_str(r, s->container);
	store_rec_str(r, s->engine);
	store_rec_str(r, s->subvol);
	store_rec_i64(r, s->disk_quota);
	store_rec_i64(r, s->created_ms);
	store_rec_i64(r, s->last_ms);
	store_rec_i64(r, s->expires_ms);
	store_rec_i64(r, s->ttl_sec);
	store_rec_i64(r, s->steps);
	store_rec_str(r, s->busy_owner);
	store_rec_i64(r, s->busy_job);
	store_rec_i64(r, s->busy_since);
	store_rec_i64(r, s->dirty);
	store_rec_i64(r, s->flags);
	store_rec_i64(r, s->nvolumes);
	for (i = 0; i < s->nvolumes && i < SESSION_VOLUMES_MAX; i++) {
		store_rec_str(r, s->volumes[i].id);
		store_rec_str(r, s->volumes[i].target);
		store_rec_i64(r, s->volumes[i].read_only);
	}
}

int session_rec_decode(const struct store_val *v, struct session *s)
{
	struct store_dec d;
	const void *h;
	char id[SESSION_ID_SIZE];
	int64_t nv;
	int rc;
	int i;

	memcpy(id, s->id, sizeof(id));
	memset(s, 0, sizeof(*s));
	memcpy(s->id, id, sizeof(id));
	rc = store_dec_open(&d, v, STORE_SESSIONS, SESSION_REC_VERSION);
	if (rc < 0) {
		return rc;
	}
	s->tenant_kind = (int)store_dec_i64(&d);
	store_dec_str(&d, s->tenant, sizeof(s->tenant));
	h = store_dec_raw(&d, 32);
	if (h) {
		memcpy(s->token_hash, h, 32);
	}
	store_dec_str(&d, s->runtime, sizeof(s->runtime));
	store_dec_str(&d, s->version, sizeof(s->version));
	s->type = (int)store_dec_i64(&d);
	s->lim.memory_bytes = store_dec_i64(&d);
	s->lim.cpus = store_dec_f64(&d);
	s->lim.pids = store_dec_i64(&d);
	s->lim.output_bytes = store_dec_i64(&d);
	s->lim.wall_time_ms = store_dec_i64(&d);
	s->lim.compile_wall_time_ms = store_dec_i64(&d);
	s->lim.compile_memory_bytes = store_dec_i64(&d);
	s->lim.tmpfs_bytes = store_dec_i64(&d);
	s->network = (int)store_dec_i64(&d);
	store_dec_str(&d, s->container, sizeof(s->container));
	store_dec_str(&d, s->engine, sizeof(s->engine));
	store_dec_str(&d, s->subvol, sizeof(s->subvol));
	s->disk_quota = store_dec_i64(&d);
	s->created_ms = store_dec_i64(&d);
	s->last_ms = store_dec_i64(&d);
	s->expires_ms = store_dec_i64(&d);
	s->ttl_sec = store_dec_i64(&d);
	s->steps = store_dec_i64(&d);
	store_dec_str(&d, s->busy_owner, sizeof(s->busy_owner));
	s->busy_job = store_dec_i64(&d);
	s->busy_since = store_dec_i64(&d);
	s->dirty = (int)store_dec_i64(&d);
	s->flags = (int)store_dec_i64(&d);
	nv = store_dec_i64(&d);
	if (nv < 0 || nv > SESSION_VOLUMES_MAX || h == NULL) {
		return -EPROTO;
	}
	s->nvolumes = (int)nv;
	for (i = 0; i < s->nvolumes; i++) {
		store_dec_str(&d, s->volumes[i].id, sizeof(s->volumes[i].id));
		store_dec_str(&d, s->volumes[i].target,
			      sizeof(s->volumes[i].target));
		s->volumes[i].read_only = (int)store_dec_i64(&d);
	}
	return store_dec_end(&d);
}

enum session_state session_state_of(const struct session *s)
{
	if (s->busy_owner[0]) {
		return SESSION_BUSY;
	}
	return s->container[0] ? SESSION_RUNNING : SESSION_STOPPED;
}

const char *session_state_name(enum session_state st)
{
	switch (st) {
	case SESSION_RUNNING:
		return "running";
	case SESSION_BUSY:
		return "busy";
	default:
		return "stopped";
	}
}

const char *session_type_name(int type)
{
	return type == SESSION_KERNEL ? "kernel" : "filesystem";
}

int session_type_parse(const char *s)
{
	if (s == NULL || s[0] == '\0' || strcmp(s, "filesystem") == 0) {
		return SESSION_FILESYSTEM;
	}
	if (strcmp(s, "kernel") == 0) {
		return SESSION_KERNEL;
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Rows */

static int store_fail(struct isobox_err *err, int rc)
{
	if (rc == -ENODEV) {
		return err_set(err, 503, "storage_unavailable",
			       "the state database is not open");
	}
	return store_err(err, rc, "session row");
}

/* Load id inside t. 0, -ENOENT, or a decoding error. */
static int row_load(struct store_txn *t, const char *id, struct session *s)
{
	struct store_val v;
	int rc = store_get(t, STORE_SESSIONS, id, &v);

	if (rc < 0) {
		return rc;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	rc = session_rec_decode(&v, s);
	if (rc < 0) {
		log_warn("session %s: undecodable row (%s)", id, strerror(-rc));
	}
	return rc;
}

/* Write s; move its expiry index entry from old_expires (0: none). */
static int row_store(struct store_txn *t, const struct session *s,
		     int64_t old_expires)
{
	struct store_rec r;
	char k[STORE_KEY_MAX + 1];
	int rc;

	session_rec_encode(s, &r);
	rc = store_put(t, STORE_SESSIONS, s->id, &r);
	if (rc < 0 || old_expires == s->expires_ms) {
		return rc;
	}
	if (old_expires > 0 && store_expiry_key(k, old_expires, s->id) == 0) {
		store_del(t, STORE_SESSIONS_EXPIRY, k);
	}
	store_rec_init(&r, STORE_SESSIONS_EXPIRY, 1);
	if (store_expiry_key(k, s->expires_ms, s->id) < 0) {
		return -EINVAL;
	}
	return store_put(t, STORE_SESSIONS_EXPIRY, k, &r);
}

static int row_remove(struct store_txn *t, const struct session *s)
{
	char k[STORE_KEY_MAX + 1];

	if (store_expiry_key(k, s->expires_ms, s->id) == 0) {
		store_del(t, STORE_SESSIONS_EXPIRY, k);
	}
	/* the holds end with the row */
	volume_release_txn(t, s->id, s->volumes, s->nvolumes);
	return store_del(t, STORE_SESSIONS, s->id);
}

static int same_tenant(const struct session *s, const struct tenant *t)
{
	return s->tenant_kind == (int)t->kind &&
	       strcmp(s->tenant, t->name) == 0;
}

/* A row of a walk of STORE_SESSIONS into s, its id from the key. 0, or
 * -EPROTO (a key too long for an id, an undecodable record). */
static int row_decode(const struct store_val *k, const struct store_val *v,
		      struct session *s)
{
	if (k->n >= sizeof(s->id)) {
		return -EPROTO;
	}
	memcpy(s->id, k->p, k->n);
	s->id[k->n] = '\0';
	return session_rec_decode(v, s);
}

/* The access rule: another tenant's session does not exist (404); the
 * caller's own needs its token (401). */
static int row_access(const struct session *s, const struct tenant *t,
		      const char *tok, struct isobox_err *err)
{
	if (!same_tenant(s, t)) {
		return err_set(err, 404, "session_not_found",
			       "no such session");
	}
	if (!session_token_match(s, tok)) {
		return err_set(err, 401, "invalid_session_token",
			       "send the session's token in "
			       "X-Session-Token");
	}
	return 0;
}

static int not_found(struct isobox_err *err)
{
	return err_set(err, 404, "session_not_found", "no such session");
}

int session_get(struct service *svc, const struct tenant *t, const char *id,
		const char *tok, struct session *out, struct isobox_err *err)
{
	struct store_txn tx;
	int rc;

	if (!session_id_ok(id)) {
		return not_found(err);
	}
	rc = store_txn_begin(&svc->store, STORE_STATE, 0, &tx);
	if (rc < 0) {
		return store_fail(err, rc);
	}
	rc = row_load(&tx, id, out);
	store_txn_abort(&tx);
	if (rc == -ENOENT) {
		return not_found(err);
	}
	if (rc < 0) {
		return err_set(err, 500, "internal",
			       "the session row is "
			       "unreadable");
	}
	return row_access(out, t, tok, err);
}

struct list_walk {
	const struct tenant *t;
	int (*fn)(const struct session *s, void *ctx);
	void *ctx;
};

static int list_row(struct store_txn *t, const struct store_val *k,
		    const struct store_val *v, void *p)
{
	struct list_walk *w = p;
	struct session s;

	(void)t;
	if (row_decode(k, v, &s) < 0 || !same_tenant(&s, w->t)) {
		return 0;
	}
	return w->fn(&s, w->ctx) != 0;
}

int session_list(struct service *svc, const struct tenant *t,
		 int (*fn)(const struct session *s, void *ctx), void *ctx,
		 struct isobox_err *err)
{
	struct list_walk w = {t, fn, ctx};
	int rc = store_walk(&svc->store, STORE_SESSIONS, NULL, 0, list_row, &w);

	return rc < 0 ? store_fail(err, rc) : 0;
}

/* ------------------------------------------------------------------ */
/* Holding a session (one user at a time) */

struct hold_ctx {
	struct service *svc;
	const struct tenant *t; /* NULL: internal (no access check) */
	const char *id;
	const char *tok;
	uint32_t job;
	struct session *s;
	struct isobox_err *err;
	int wait; /* out: held by a lifecycle hold; try again */
};

static int hold_fn(struct store_txn *t, void *p)
{
	struct hold_ctx *h = p;
	struct session *s = h->s;
	int rc = row_load(t, h->id, s);

	if (rc == -ENOENT) {
		return not_found(h->err);
	}
	if (rc < 0) {
		return err_set(h->err, 500, "internal",
			       "the session row is unreadable");
	}
	if (h->t && row_access(s, h->t, h->tok, h->err) < 0) {
		return -1;
	}
	if (s->busy_owner[0]) {
		if (service_owner_alive(h->svc, s->busy_owner)) {
			h->wait = s->busy_job == 0;
			return err_set(h->err, 409, "session_busy",
				       "a step or file operation of this "
				       "session is running; retry when it "
				       "is done");
		}
		/* Its driver died (kill -9 mid-step): take over; the
		 * guest's input may hold half a record. */
		log_warn("session %s: taking over from %s (dead)", s->id,
			 s->busy_owner);
		s->dirty = 1;
	}
	snprintf(s->busy_owner, sizeof(s->busy_owner), "%s", h->svc->owner);
	s->busy_job = h->job;
	s->busy_since = wall_ms();
	rc = row_store(t, s, s->expires_ms);
	return rc < 0 ? store_fail(h->err, rc) : 0;
}

/* How long a step, file operation or delete waits for a lifecycle hold
 * (the sandbox starting after create or fork) before answering busy: as
 * long as that start may take, an admission wait and the engine's create
 * and start. The waiter would have spent as long starting it itself; a
 * shorter wait answered 409 to a client that did nothing wrong. */
static int64_t lifecycle_wait_ms(const struct service *svc)
{
	return svc->cfg.queue_timeout_ms + 2 * (int64_t)svc->docker.timeout_ms +
	       5000;
}

static int still_starting(struct isobox_err *err)
{
	return err_set(err, 409, "session_busy",
		       "the session's sandbox is still starting; retry "
		       "shortly");
}

static int hold(struct service *svc, const struct tenant *t, const char *id,
		const char *tok, uint32_t job, struct session *out,
		struct isobox_err *err)
{
	int64_t deadline = now_ms() + lifecycle_wait_ms(svc);

	if (!session_id_ok(id)) {
		return not_found(err);
	}
	for (;;) {
		struct hold_ctx h = {svc, t, id, tok, job, out, err, 0};
		int rc;

		rc = store_update(&svc->store, STORE_STATE, hold_fn, &h);
		if (rc >= 0) {
			return 0;
		}
		if (rc != -1) {
			return store_fail(err, rc);
		}
		/* A lifecycle hold (the sandbox starting after create) is
		 * bounded: wait for it rather than answer busy. */
		if (!h.wait) {
			return -1;
		}
		if (now_ms() >= deadline) {
			return still_starting(err);
		}
		usleep(20000);
	}
}

int session_hold(struct service *svc, const struct tenant *t, const char *id,
		 const char *tok, uint32_t job, struct session *out,
		 struct isobox_err *err)
{
	return hold(svc, t, id, tok, job, out, err);
}

struct unhold_ctx {
	struct service *svc;
	const struct session *s;
	int step;
	int dirty;
	const char *container;
	int flags;
};

static int unhold_fn(struct store_txn *t, void *p)
{
	struct unhold_ctx *u = p;
	struct session cur;
	int64_t old;

	if (row_load(t, u->s->id, &cur) < 0) {
		return 0; /* deleted meanwhile */
	}
	if (strcmp(cur.busy_owner, u->svc->owner) != 0 ||
	    cur.busy_job != u->s->busy_job) {
		return 0; /* taken over */
	}
	old = cur.expires_ms;
	cur.busy_owner[0] = '\0';
	cur.busy_job = 0;
	cur.busy_since = 0;
	cur.dirty = u->dirty;
	cur.flags |= u->flags;
	if (u->container) {
		snprintf(cur.container, sizeof(cur.container), "%s",
			 u->container);
	}
	cur.last_ms = wall_ms();
	cur.expires_ms = cur.last_ms + cur.ttl_sec * 1000;
	cur.steps += u->step;
	return row_store(t, &cur, old);
}

void session_unhold(struct service *svc, const struct session *s, int step,
		    int dirty, const char *container)
{
	struct unhold_ctx u = {svc, s, step, dirty, container, 0};
	int rc = store_update(&svc->store, STORE_STATE, unhold_fn, &u);

	if (rc < 0) {
		log_warn("session %s: releasing it failed: %s", s->id,
			 strerror(-rc));
	}
}

/* ------------------------------------------------------------------ */
/* The sandbox */

static void admit_id(const char *id, char out[64])
{
	snprintf(out, 64, "sess:%s", id);
}

/* Make the admission of a session sandbox outlive this process: the row
 * is held until the sandbox is stopped (session_sandbox_forget). */
static int admit_keep_fn(struct store_txn *t, void *p)
{
	const char *aid = ((const char **)p)[0];
	const int64_t *bytes = ((const int64_t **)p)[1];

	admit_drop_txn(t, aid);
	return admit_hold_txn(t, aid, *bytes);
}

void session_sandbox_forget(struct service *svc, const char *id,
			    const char *container)
{
	struct isobox_err e;
	char aid[64];

	if (container && container[0] &&
	    docker_container_remove(&svc->docker, container, &e) < 0) {
		log_warn("session %s: removing %.12s failed: %s", id, container,
			 e.msg);
	}
	admit_id(id, aid);
	admit_release(svc, aid);
}

/* Record the container in the row while the session is still ours. */
struct record_ctx {
	struct service *svc;
	const struct session *s;
	const char *container;
};

static int record_fn(struct store_txn *t, void *p)
{
	struct record_ctx *r = p;
	struct session cur;

	if (row_load(t, r->s->id, &cur) < 0 ||
	    strcmp(cur.busy_owner, r->svc->owner) != 0 ||
	    cur.busy_job != r->s->busy_job) {
		return -ESTALE;
	}
	snprintf(cur.container, sizeof(cur.container), "%s", r->container);
	cur.flags |= SESSION_F_STARTED;
	return row_store(t, &cur, cur.expires_ms);
}

int session_container_running(struct service *svc, const char *id, int *known)
{
	struct isobox_err e;
	json_object *o = docker_container_inspect(&svc->docker, id, &e);
	json_object *st;
	json_object *r;
	int running = 0;

	*known = 1;
	if (o == NULL) {
		/* "No such container" or no engine: only the latter is
		 * unknown. */
		*known = strcmp(e.code, "docker_unavailable") != 0;
		return 0;
	}
	if (json_object_object_get_ex(o, "State", &st) &&
	    json_object_object_get_ex(st, "Running", &r)) {
		running = json_object_get_boolean(r);
	}
	json_object_put(o);
	return running;
}

/* A kernel session's guest arguments: session mode in /workspace, the
 * runner's env and rlimits, then --kernel and the catalogue's runner argv;
 * *kdir gets the runners' directory beside the guest (caller frees both;
 * the vector with strv_free). */
static char **kernel_args(struct service *svc, const struct session *s,
			  const struct lang *lang, char **kdir)
{
	const char *g = svc->cfg.guest_path;
	const char *slash = strrchr(g, '/');
	size_t n = 0;
	size_t cap = 16;
	char **a = xcalloc(cap, sizeof(*a));
	size_t i;

#define KARG(x)                                                                \
	do {                                                                   \
		if (n + 2 > cap) {                                             \
			cap *= 2;                                              \
			a = xrealloc(a, cap * sizeof(*a));                     \
		}                                                              \
		a[n++] = (x);                                                  \
		a[n] = NULL;                                                   \
	} while (0)
	*kdir = slash ? xasprintf("%.*s/kernel", (int)(slash - g), g)
		      : xstrdup("kernel");
	KARG(xstrdup("--session"));
	KARG(xstrdup("--workdir"));
	KARG(xstrdup("/workspace"));
	for (i = 0; lang->env && lang->env[i]; i++) {
		KARG(xstrdup("--kernel-env"));
		KARG(xstrdup(lang->env[i]));
	}
	KARG(xstrdup("--kernel-env"));
	KARG(xstrdup("ISOBOX_KERNEL=1"));
	KARG(xstrdup("--kernel-limit"));
	KARG(xasprintf("%s=%lld", WIRE_LIMIT_PIDS, (long long)s->lim.pids));
	KARG(xstrdup("--kernel-limit"));
	KARG(xasprintf("%s=%lld", WIRE_LIMIT_NOFILE,
		       (long long)LIMITS_USER_NOFILE));
	KARG(xstrdup("--kernel-limit"));
	KARG(xasprintf("%s=%lld", WIRE_LIMIT_FSIZE,
		       (long long)SESSION_JOB_FSIZE));
	KARG(xstrdup("--kernel"));
	for (i = 0; lang->kernel[i]; i++) {
		KARG(xstrdup(lang->kernel[i]));
	}
#undef KARG
	return a;
}

/* The bind mounts of s's volumes (read-only ones "ro"); paths[] get the
 * host paths to free. Returns how many. */
static int volumes_mounts(struct service *svc, const struct session *s,
			  struct spec_mount *m, char *paths[])
{
	int n = 0;
	int i;

	for (i = 0; i < s->nvolumes && i < SESSION_VOLUMES_MAX; i++) {
		paths[n] = volume_host_path(svc, s->volumes[i].id);
		if (paths[n] == NULL) {
			continue;
		}
		m[n].host = paths[n];
		m[n].target = s->volumes[i].target;
		m[n].read_only = s->volumes[i].read_only;
		n++;
	}
	return n;
}

int session_sandbox_create(struct service *svc, const struct session *s,
			   const struct lang *lang, char **cid,
			   struct isobox_err *err)
{
	static const char *const gargs[] = {"--session", "--workdir",
					    "/workspace", NULL};
	struct spec_mount m[2 + SESSION_VOLUMES_MAX];
	char **kargs = NULL;
	char *kdir = NULL;
	char *vpath[SESSION_VOLUMES_MAX] = {NULL};
	size_t nm = 1;
	int nv;
	struct spec_desc d;
	json_object *spec;
	char *path;
	int rc;

	*cid = NULL;
	path = bstore_path(&svc->bstore, BSTORE_SESSIONS, s->subvol);
	if (path == NULL) {
		return err_set(err, 500, "internal", "bad workspace id");
	}
	m[0].host = path;
	m[0].target = "/workspace";
	m[0].read_only = 0;
	if (s->type == SESSION_KERNEL) {
		kargs = kernel_args(svc, s, lang, &kdir);
		m[nm].host = kdir;
		m[nm].target = "/.isobox/kernel";
		m[nm].read_only = 1;
		nm++;
	}
	nv = volumes_mounts(svc, s, m + nm, vpath);
	nm += (size_t)nv;
	memset(&d, 0, sizeof(d));
	d.lang = lang;
	d.lim = &s->lim;
	d.request_id = s->id;
	d.deadline_wall_ms = 0;
	d.kind = s->flags & SESSION_F_POOLED ? "kernelpool" : "session";
	d.mounts = m;
	d.nmounts = nm;
	d.guest_args = kargs ? (const char *const *)kargs : gargs;
	d.session_id = s->id;
	d.fsize_bytes = SESSION_JOB_FSIZE;
	spec = spec_container(svc, &d);
	rc = docker_container_create(&svc->docker, spec, cid, err);
	json_object_put(spec);
	free(path);
	free(kdir);
	strv_free(kargs);
	for (nv = 0; nv < SESSION_VOLUMES_MAX; nv++) {
		free(vpath[nv]);
	}
	if (rc < 0) {
		return -1;
	}
	if (docker_container_start(&svc->docker, *cid, err) < 0) {
		struct isobox_err e;

		docker_container_remove(&svc->docker, *cid, &e);
		free(*cid);
		*cid = NULL;
		return -1;
	}
	return 0;
}

int session_sandbox_ensure(struct service *svc, struct session *s,
			   const struct lang *lang, int *restarted,
			   struct isobox_err *err)
{
	struct record_ctx rc_ctx;
	char *cid = NULL;
	char aid[64];
	const void *keep[2];
	int64_t bytes;
	int known;
	int rc;

	*restarted = 0;
	if (s->container[0]) {
		if (session_container_running(svc, s->container, &known)) {
			return 0;
		}
		if (!known) {
			return err_set(err, 503, "docker_unavailable",
				       "the container engine does not "
				       "answer");
		}
		session_sandbox_forget(svc, s->id, s->container);
		s->container[0] = '\0';
	}
	*restarted = (s->flags & SESSION_F_STARTED) != 0;
	admit_id(s->id, aid);
	bytes = spec_memory(lang, &s->lim);
	rc = admit_acquire(svc, aid, bytes,
			   now_ms() + svc->cfg.queue_timeout_ms, NULL, NULL);
	if (rc < 0) {
		return err_set(err, 429, "capacity",
			       "not enough sandbox memory is free to start "
			       "the session's sandbox; retry shortly");
	}
	if (session_sandbox_create(svc, s, lang, &cid, err) < 0) {
		admit_release(svc, aid);
		return -1;
	}
	keep[0] = aid;
	keep[1] = &bytes;
	rc = store_update(&svc->store, STORE_RUN, admit_keep_fn, keep);
	if (rc < 0) {
		log_warn("session %s: keeping the admission failed: %s", s->id,
			 strerror(-rc));
	}
	rc_ctx.svc = svc;
	rc_ctx.s = s;
	rc_ctx.container = cid;
	rc = store_update(&svc->store, STORE_STATE, record_fn, &rc_ctx);
	if (rc < 0) {
		session_sandbox_forget(svc, s->id, cid);
		free(cid);
		return err_set(err, 409, "session_busy",
			       "the session was deleted or taken over "
			       "while its sandbox started");
	}
	snprintf(s->container, sizeof(s->container), "%s", cid);
	s->flags |= SESSION_F_STARTED;
	free(cid);
	return 0;
}

const struct lang *session_lang(const struct registry *reg,
				const struct session *s, struct isobox_err *err)
{
	const struct lang *l;

	if (reg == NULL) {
		err_set(err, 503, "registry_unavailable",
			"no language catalogue is loaded");
		return NULL;
	}
	l = registry_find(reg, s->runtime, s->version, err);
	if (l == NULL) {
		l = registry_find(reg, s->runtime, NULL, err);
	}
	if (l == NULL) {
		err_set(err, 503, "runtime_unavailable",
			"the session's runtime %s is no longer in the "
			"catalogue",
			s->runtime);
	}
	return l;
}

/* ------------------------------------------------------------------ */
/* Create, fork, extend, delete */

struct insert_ctx {
	struct service *svc;
	const struct session *s;
	struct isobox_err *err;
};

/* Counts the rows of one tenant's sessions. */
struct tenant_count {
	const struct session *s; /* the tenant's */
	int n;
};

static int count_row(struct store_txn *t, const struct store_val *k,
		     const struct store_val *v, void *p)
{
	struct tenant_count *tc = p;
	struct session o;

	(void)t;
	(void)k;
	o.id[0] = '\0';
	if (session_rec_decode(v, &o) == 0 &&
	    o.tenant_kind == tc->s->tenant_kind &&
	    strcmp(o.tenant, tc->s->tenant) == 0) {
		tc->n++;
	}
	return 0;
}

static int insert_fn(struct store_txn *t, void *p)
{
	struct insert_ctx *c = p;
	const struct config *cfg = &c->svc->cfg;
	struct tenant_count mine = {c->s, 0};
	int rc;

	if ((int64_t)store_count(t, STORE_SESSIONS) >= cfg->session_max) {
		return err_set(c->err, 429, "too_many_sessions",
			       "%d sessions exist on this server (the most "
			       "it keeps); delete one or retry later",
			       cfg->session_max);
	}
	rc = store_walk_txn(t, STORE_SESSIONS, NULL, 0, count_row, &mine);
	if (rc < 0) {
		return store_fail(c->err, rc);
	}
	if (mine.n >= cfg->session_max_per_tenant) {
		return err_set(c->err, 429, "too_many_sessions",
			       "this tenant has %d sessions (the most it "
			       "may have); delete one first",
			       mine.n);
	}
	if (c->s->nvolumes > 0 &&
	    volume_attach_txn(t, c->s->tenant_kind, c->s->tenant, c->s->id,
			      c->s->volumes, c->s->nvolumes, c->err) < 0) {
		return -1;
	}
	rc = row_store(t, c->s, 0);
	return rc < 0 ? store_fail(c->err, rc) : 0;
}

static int del_fn(struct store_txn *t, void *p)
{
	const struct session *s = p;

	row_remove(t, s);
	return 0;
}

/* A new row for tenant t like tmpl (runtime, type, shape, quota, ttl):
 * checks the counts and inserts it. adopt: s->id and s->container are a
 * claimed warm sandbox's (session_pool.c), kept; else a fresh id. */
static int row_new(struct service *svc, struct session *s, int adopt,
		   char tok[SESSION_TOKEN_SIZE], struct isobox_err *err)
{
	struct insert_ctx c = {svc, s, err};
	char container[sizeof(s->container)];
	int rc;

	container[0] = '\0';
	if (adopt) {
		snprintf(container, sizeof(container), "%s", s->container);
	} else {
		session_id_new(s->id);
	}
	snprintf(s->subvol, sizeof(s->subvol), "%s", s->id);
	session_token_new(tok, s->token_hash);
	snprintf(s->engine, sizeof(s->engine), "%s", svc->cfg.docker_host);
	snprintf(s->container, sizeof(s->container), "%s", container);
	s->busy_owner[0] = '\0';
	s->busy_job = s->busy_since = 0;
	s->dirty = 0;
	s->flags = container[0] ? SESSION_F_STARTED : 0;
	s->steps = 0;
	s->created_ms = s->last_ms = wall_ms();
	s->expires_ms = s->last_ms + s->ttl_sec * 1000;
	rc = store_update(&svc->store, STORE_STATE, insert_fn, &c);
	if (rc == -1) {
		return -1;
	}
	return rc < 0 ? store_fail(err, rc) : 0;
}

static int bstore_fail(struct isobox_err *err, int rc, const char *what)
{
	if (rc == -ENOSPC) {
		return err_set(err, 507, "storage_full",
			       "the workspace store is full");
	}
	return err_set(err, 500, "internal", "%s: %s", what, strerror(-rc));
}

static int store_ready_check(struct service *svc, struct isobox_err *err)
{
	if (!bstore_ready(&svc->bstore)) {
		return err_set(err, 503, "storage_unavailable",
			       "sessions need the btrfs workspace store "
			       "(store_root), which is not set up on this "
			       "host; see DEPLOY.md");
	}
	if (!store_ready(&svc->store, STORE_STATE)) {
		return err_set(err, 503, "storage_unavailable",
			       "the state database is not open");
	}
	return bstore_space_check(&svc->bstore, svc->cfg.session_disk_bytes / 8,
				  err);
}

/* Volumes: the request's list into the row (checked here; the holds are
 * taken in insert_fn's transaction). */
static int volumes_take(const struct session_new *req, struct session *out,
			struct isobox_err *err)
{
	int i;
	int j;

	if (req->nvolumes > SESSION_VOLUMES_MAX) {
		return err_set(err, 400, "invalid_request",
			       "a session attaches at most %d volumes",
			       SESSION_VOLUMES_MAX);
	}
	for (i = 0; i < req->nvolumes; i++) {
		const struct volume_mount *v = &req->volumes[i];

		if (volume_mount_path_check(v->target, err) < 0) {
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(req->volumes[j].id, v->id) == 0 ||
			    strcmp(req->volumes[j].target, v->target) == 0) {
				return err_set(err, 400, "invalid_request",
					       "each volume and each mountPath "
					       "may appear once");
			}
		}
		out->volumes[i] = *v;
	}
	out->nvolumes = req->nvolumes;
	return 0;
}

/* A claimed warm sandbox whose container no longer runs (the engine
 * restarted, or it was killed) is given up, so that a new session never
 * starts with a dead kernel: 1 when it was, out then cleared for the
 * cold path. */
static int pooled_stopped(struct service *svc, struct session *out)
{
	int known;

	if (session_container_running(svc, out->container, &known)) {
		return 0;
	}
	log_info("kernel pool: %s (%.12s) is not running: starting cold",
		 out->id, out->container);
	session_pool_unclaim(svc, out->id, out->container);
	out->id[0] = '\0';
	out->container[0] = '\0';
	return 1;
}

int session_create(struct service *svc, const struct session_new *req,
		   struct session *out, char tok[SESSION_TOKEN_SIZE],
		   struct isobox_err *err)
{
	struct limits lim;
	struct exec_request er;
	int rc;

	if (req->type == SESSION_KERNEL && req->lang->kernel == NULL) {
		char list[256] = "";
		size_t i;

		for (i = 0; req->reg && i < req->reg->n; i++) {
			size_t l = strlen(list);

			if (req->reg->langs[i].kernel != NULL) {
				snprintf(list + l, sizeof(list) - l, "%s%s",
					 l ? ", " : "",
					 req->reg->langs[i].name);
			}
		}
		return err_set(err, 400, "kernel_unavailable",
			       "%s has no kernel; kernel sessions are offered "
			       "for: %s",
			       req->lang->name, list[0] ? list : "none");
	}
	if (req->network) {
		return err_set(err, 403, "network_unavailable",
			       "sessions run without network access; send "
			       "\"network\": false");
	}
	if (store_ready_check(svc, err) < 0) {
		return -1;
	}
	memset(&er, 0, sizeof(er));
	if (req->limits) {
		er.limits = *req->limits;
	}
	exec_limits(svc, req->lang, &er, &lim);
	if (req->tenant->ceilings.set) {
		struct limits ceil = svc->cfg.ceilings;

		exec_tenant_ceilings(req->tenant, &ceil);
		limits_clamp(&lim, &svc->cfg.floors, &ceil);
	}
	memset(out, 0, sizeof(*out));
	out->tenant_kind = (int)req->tenant->kind;
	snprintf(out->tenant, sizeof(out->tenant), "%s", req->tenant->name);
	snprintf(out->runtime, sizeof(out->runtime), "%s", req->lang->name);
	snprintf(out->version, sizeof(out->version), "%s",
		 req->lang->version ? req->lang->version : "");
	out->type = req->type;
	out->lim = lim;
	out->disk_quota = svc->cfg.session_disk_bytes;
	if (req->tenant->session_disk_bytes > 0 &&
	    req->tenant->session_disk_bytes < out->disk_quota) {
		out->disk_quota = req->tenant->session_disk_bytes;
	}
	out->ttl_sec = session_ttl_clamp(req->ttl_sec, svc->cfg.session_ttl_sec,
					 svc->cfg.session_max_ttl_sec);
	if (volumes_take(req, out, err) < 0) {
		return -1;
	}
	/* A warm sandbox: the default shape, no volumes. */
	if (req->type == SESSION_KERNEL && req->nvolumes == 0 && req->reg &&
	    session_pool_wants(svc, req->reg, req->lang) &&
	    session_pool_fits(svc, req->lang, &lim) &&
	    session_pool_claim(svc, req->lang, out->id, out->container) == 0 &&
	    !pooled_stopped(svc, out)) {
		if (row_new(svc, out, 1, tok, err) < 0) {
			session_pool_unclaim(svc, out->id, out->container);
			return -1;
		}
		session_pool_adopted(svc, out->id);
		if (out->disk_quota != svc->cfg.session_disk_bytes) {
			rc = bstore_limit_set(&svc->bstore, BSTORE_SESSIONS,
					      out->subvol, out->disk_quota);
			if (rc < 0) {
				log_warn("session %s: setting its quota: %s",
					 out->id, strerror(-rc));
			}
		}
		return 0;
	}
	if (row_new(svc, out, 0, tok, err) < 0) {
		return -1;
	}
	rc = bstore_create(&svc->bstore, BSTORE_SESSIONS, out->subvol, 0755,
			   out->disk_quota);
	if (rc < 0) {
		store_update(&svc->store, STORE_STATE, del_fn, out);
		return bstore_fail(err, rc, "creating the workspace");
	}
	return 0;
}

int64_t session_disk_bytes(struct service *svc, const struct session *s)
{
	struct bstore_usage u;

	if (!bstore_ready(&svc->bstore) ||
	    bstore_usage(&svc->bstore, BSTORE_SESSIONS, s->subvol, &u) < 0) {
		return -1;
	}
	return u.referenced;
}

struct extend_ctx {
	const struct tenant *t;
	const char *id;
	const char *tok;
	int64_t ttl;
	struct session *s;
	struct isobox_err *err;
};

static int extend_fn(struct store_txn *t, void *p)
{
	struct extend_ctx *c = p;
	int64_t old;
	int rc = row_load(t, c->id, c->s);

	if (rc == -ENOENT) {
		return not_found(c->err);
	}
	if (rc < 0) {
		return err_set(c->err, 500, "internal", "unreadable row");
	}
	if (row_access(c->s, c->t, c->tok, c->err) < 0) {
		return -1;
	}
	old = c->s->expires_ms;
	c->s->ttl_sec = c->ttl;
	c->s->last_ms = wall_ms();
	c->s->expires_ms = c->s->last_ms + c->ttl * 1000;
	rc = row_store(t, c->s, old);
	return rc < 0 ? store_fail(c->err, rc) : 0;
}

int session_extend(struct service *svc, const struct tenant *t, const char *id,
		   const char *tok, int64_t ttl_sec, struct session *out,
		   struct isobox_err *err)
{
	struct extend_ctx c = {t, id, tok, 0, out, err};
	int rc;

	if (!session_id_ok(id)) {
		return not_found(err);
	}
	c.ttl = session_ttl_clamp(ttl_sec, svc->cfg.session_ttl_sec,
				  svc->cfg.session_max_ttl_sec);
	rc = store_update(&svc->store, STORE_STATE, extend_fn, &c);
	if (rc == -1) {
		return -1;
	}
	return rc < 0 ? store_fail(err, rc) : 0;
}

/* Remove a session whose row is already gone: its sandbox, admission and
 * workspace. */
static void session_destroy(struct service *svc, const struct session *s)
{
	session_sandbox_forget(svc, s->id, s->container);
	session_workspace_delete(svc, s->id, s->subvol);
}

void session_workspace_delete(struct service *svc, const char *id,
			      const char *subvol)
{
	int rc;
	int i;

	for (i = 0; i < 50; i++) {
		rc = bstore_delete(&svc->bstore, BSTORE_SESSIONS, subvol);
		if (rc != -EBUSY) {
			break;
		}
		usleep(100000); /* the engine is still unmounting it */
	}
	if (rc < 0 && rc != -ENOENT) {
		log_warn("session %s: deleting the workspace failed: %s (the "
			 "reconciliation retries)",
			 id, strerror(-rc));
	}
}

struct delete_ctx {
	struct service *svc;
	const struct tenant *t;
	const char *id;
	const char *tok;
	struct session *s;
	struct isobox_err *err;
	int wait; /* out: a lifecycle hold (the sandbox starting) runs */
};

static int delete_fn(struct store_txn *t, void *p)
{
	struct delete_ctx *c = p;
	int rc = row_load(t, c->id, c->s);

	if (rc == -ENOENT) {
		return not_found(c->err);
	}
	if (rc < 0) {
		return err_set(c->err, 500, "internal", "unreadable row");
	}
	if (row_access(c->s, c->t, c->tok, c->err) < 0) {
		return -1;
	}
	/* A sandbox being started after create or fork is not yet in the
	 * row: let it be recorded first, so it is removed with the rest. A
	 * step's is killed (its sandbox is in the row, or its starter finds
	 * the row gone and removes it). */
	if (c->s->busy_owner[0] && c->s->busy_job == 0 &&
	    service_owner_alive(c->svc, c->s->busy_owner)) {
		c->wait = 1;
		return -1;
	}
	rc = row_remove(t, c->s);
	return rc < 0 ? store_fail(c->err, rc) : 0;
}

int session_delete(struct service *svc, const struct tenant *t, const char *id,
		   const char *tok, struct isobox_err *err)
{
	struct session s;
	struct delete_ctx c = {svc, t, id, tok, &s, err, 0};
	int64_t deadline = now_ms() + lifecycle_wait_ms(svc);
	int rc;

	if (!session_id_ok(id)) {
		return not_found(err);
	}
	for (;;) {
		c.wait = 0;
		rc = store_update(&svc->store, STORE_STATE, delete_fn, &c);
		if (rc != -1 || !c.wait) {
			break;
		}
		if (now_ms() >= deadline) {
			return still_starting(err);
		}
		usleep(20000);
	}
	if (rc == -1) {
		return -1;
	}
	if (rc < 0) {
		return store_fail(err, rc);
	}
	session_destroy(svc, &s);
	return 0;
}

int session_fork(struct service *svc, const struct tenant *t, const char *id,
		 const char *tok, struct session *out,
		 char newtok[SESSION_TOKEN_SIZE], struct isobox_err *err)
{
	struct session src;
	uint32_t job = 0;
	int rc;

	if (store_ready_check(svc, err) < 0) {
		return -1;
	}
	while (job == 0) {
		char hex[9];

		random_hex(hex, 4);
		job = (uint32_t)strtoul(hex, NULL, 16);
	}
	if (hold(svc, t, id, tok, job, &src, err) < 0) {
		return -1;
	}
	/* Holding the session, no job runs: every job ends with SIGKILL of
	 * every process but the guest, and gVisor has written a file's data
	 * through to the bind mount by the time its last holder is gone
	 * (checked: a step writing 100 MiB, the host's sha256 right after
	 * the answer). The snapshot flushes what the host has not written
	 * out yet. So no flush job is needed (it cost a job round trip). */
	*out = src;
	out->nvolumes = 0;
	if (row_new(svc, out, 0, newtok, err) < 0) {
		session_unhold(svc, &src, 0, src.dirty, NULL);
		return -1;
	}
	rc = bstore_snapshot(&svc->bstore, BSTORE_SESSIONS, src.subvol,
			     BSTORE_SESSIONS, out->subvol, out->disk_quota);
	session_unhold(svc, &src, 0, src.dirty, NULL);
	if (rc < 0) {
		store_update(&svc->store, STORE_STATE, del_fn, out);
		return bstore_fail(err, rc, "snapshotting the workspace");
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Start-up after create */

struct prestart {
	struct service *svc;
	char id[SESSION_ID_SIZE];
};

static void *prestart_main(void *p)
{
	struct prestart *ps = p;
	struct service *svc = ps->svc;
	struct registry *reg = registry_get();
	const struct lang *lang;
	struct isobox_err e;
	struct session s;
	int restarted;

	memset(&e, 0, sizeof(e));
	/* Job 0: a lifecycle hold, which a step waits for instead of
	 * answering busy. */
	if (hold(svc, NULL, ps->id, NULL, 0, &s, &e) == 0) {
		lang = session_lang(reg, &s, &e);
		if (lang && !s.container[0] &&
		    session_sandbox_ensure(svc, &s, lang, &restarted, &e) < 0) {
			log_warn("session %s: starting its sandbox: %s", s.id,
				 e.msg);
		}
		session_unhold(svc, &s, 0, s.dirty, NULL);
	}
	registry_put(reg);
	free(ps);
	return NULL;
}

void session_prestart(struct service *svc, const char *id)
{
	struct prestart *ps = xcalloc(1, sizeof(*ps));
	pthread_attr_t a;
	pthread_t tid;

	ps->svc = svc;
	snprintf(ps->id, sizeof(ps->id), "%s", id);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &a, prestart_main, ps) != 0) {
		free(ps);
	}
	pthread_attr_destroy(&a);
}

/* ------------------------------------------------------------------ */
/* Interrupt */

int session_interrupt(struct service *svc, const struct tenant *t,
		      const char *id, const char *tok, struct isobox_err *err)
{
	struct session s;
	struct chan c;

	if (session_get(svc, t, id, tok, &s, err) < 0) {
		return -1;
	}
	if (!s.busy_owner[0] || s.busy_job == 0 || !s.container[0] ||
	    !service_owner_alive(svc, s.busy_owner)) {
		return err_set(err, 409, "session_idle",
			       "no step of this session is running");
	}
	if (chan_open(&c, &svc->docker, s.container, 0, 10000, err) < 0) {
		return -1;
	}
	if (chan_interrupt(&c, (uint32_t)s.busy_job) < 0) {
		chan_close(&c);
		return err_set(err, 503, "sandbox_failed",
			       "the sandbox did not take the interrupt");
	}
	chan_close(&c);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Housekeeping */

#define HK_BATCH 32

/* Stop the sandbox of an idle session (the row says no sandbox first). */
struct stop_ctx {
	struct service *svc;
	const char *id;
	char container[72];
	int64_t idle_before;  /* last activity older than this (filesystem) */
	int64_t kidle_before; /* the same for a kernel session */
	int expire;	      /* 1: delete the row when expired */
	struct session s;
};

static int stop_fn(struct store_txn *t, void *p)
{
	struct stop_ctx *c = p;
	int rc = row_load(t, c->id, &c->s);

	c->container[0] = '\0';
	if (rc < 0) {
		return rc == -ENOENT ? 1 : rc;
	}
	if (c->s.busy_owner[0] &&
	    service_owner_alive(c->svc, c->s.busy_owner)) {
		return 0;
	}
	if (c->expire) {
		if (c->s.expires_ms > wall_ms()) {
			return 0;
		}
		rc = row_remove(t, &c->s);
		return rc < 0 ? rc : 2;
	}
	if (!c->s.container[0] ||
	    c->s.last_ms > (c->s.type == SESSION_KERNEL ? c->kidle_before
							: c->idle_before)) {
		return 0;
	}
	snprintf(c->container, sizeof(c->container), "%s", c->s.container);
	c->s.container[0] = '\0';
	rc = row_store(t, &c->s, c->s.expires_ms);
	return rc < 0 ? rc : 3;
}

/* Up to HK_BATCH ids of idle sessions that hold a sandbox. */
struct idle_walk {
	char ids[HK_BATCH][SESSION_ID_SIZE];
	int n;
	int64_t before;
	int64_t kbefore;
};

static int idle_row(struct store_txn *t, const struct store_val *k,
		    const struct store_val *v, void *p)
{
	struct idle_walk *w = p;
	struct session s;

	(void)t;
	if (row_decode(k, v, &s) == 0 && s.container[0] && !s.busy_owner[0] &&
	    s.last_ms <= (s.type == SESSION_KERNEL ? w->kbefore : w->before)) {
		memcpy(w->ids[w->n++], s.id, sizeof(s.id));
	}
	return w->n >= HK_BATCH;
}

static void idle_stop(struct service *svc)
{
	struct idle_walk w;
	int64_t before = wall_ms() - svc->cfg.session_idle_stop_ms;
	/* A kernel's interpreter holds its variables: it lives longer. */
	int64_t kbefore = wall_ms() - svc->cfg.kernel_idle_stop_ms;
	char(*ids)[SESSION_ID_SIZE] = w.ids;
	int i;

	w.n = 0;
	w.before = before;
	w.kbefore = kbefore;
	/* Ids taken, if any, before a failure are still worth stopping. */
	store_walk(&svc->store, STORE_SESSIONS, NULL, 0, idle_row, &w);
	for (i = 0; i < w.n; i++) {
		struct stop_ctx sc;

		memset(&sc, 0, sizeof(sc));
		sc.svc = svc;
		sc.id = ids[i];
		sc.idle_before = before;
		sc.kidle_before = kbefore;
		if (store_update(&svc->store, STORE_STATE, stop_fn, &sc) == 3) {
			log_info("session %s: idle, sandbox %.12s stopped",
				 ids[i], sc.container);
			session_sandbox_forget(svc, ids[i], sc.container);
		}
	}
}

static int drop_index_fn(struct store_txn *t, void *p)
{
	store_del(t, STORE_SESSIONS_EXPIRY, p);
	return 0;
}

/* Up to HK_BATCH expiry index entries due by now: the keys, and the
 * session ids they name. */
struct due_walk {
	char keys[HK_BATCH][STORE_KEY_MAX + 1];
	char ids[HK_BATCH][SESSION_ID_SIZE];
	int n;
	int64_t now;
};

static int due_row(struct store_txn *t, const struct store_val *k,
		   const struct store_val *v, void *p)
{
	struct due_walk *w = p;
	int64_t at;
	const char *key;
	size_t kn;

	(void)t;
	(void)v;
	if (store_expiry_split(k, &at, &key, &kn) < 0 ||
	    kn >= SESSION_ID_SIZE || k->n > STORE_KEY_MAX) {
		return 0;
	}
	if (at > w->now) {
		return 1; /* the index is in time order: none due after */
	}
	memcpy(w->keys[w->n], k->p, k->n);
	w->keys[w->n][k->n] = '\0';
	memcpy(w->ids[w->n], key, kn);
	w->ids[w->n][kn] = '\0';
	w->n++;
	return w->n >= HK_BATCH;
}

static void reap_expired(struct service *svc)
{
	struct due_walk w;
	char(*keys)[STORE_KEY_MAX + 1] = w.keys;
	char(*ids)[SESSION_ID_SIZE] = w.ids;
	int64_t now = wall_ms();
	int i;

	w.n = 0;
	w.now = now;
	store_walk(&svc->store, STORE_SESSIONS_EXPIRY, NULL, 0, due_row, &w);
	for (i = 0; i < w.n; i++) {
		struct stop_ctx sc;
		int rc;

		memset(&sc, 0, sizeof(sc));
		sc.svc = svc;
		sc.id = ids[i];
		sc.expire = 1;
		rc = store_update(&svc->store, STORE_STATE, stop_fn, &sc);
		if (rc == 2) {
			log_info("session %s: expired, reaped", ids[i]);
			session_destroy(svc, &sc.s);
		} else if (rc == 1 || (rc == 0 && sc.s.expires_ms > now &&
				       !sc.s.busy_owner[0])) {
			/* No row, or a stale index entry. */
			char cur[STORE_KEY_MAX + 1];

			if (rc == 1 || (store_expiry_key(cur, sc.s.expires_ms,
							 ids[i]) == 0 &&
					strcmp(cur, keys[i]) != 0)) {
				store_update(&svc->store, STORE_STATE,
					     drop_index_fn, keys[i]);
			}
		}
	}
}

/* Reconciliation: what the engine and the disk hold against the rows. */
static int row_exists(struct service *svc, const char *id, struct session *s)
{
	struct store_txn tx;
	int rc;

	if (store_txn_begin(&svc->store, STORE_STATE, 0, &tx) < 0) {
		return -1;
	}
	rc = row_load(&tx, id, s);
	store_txn_abort(&tx);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : -1;
}

static int orphan_subvol(const char *id, void *p)
{
	struct service *svc = p;
	struct session s;

	if (session_id_ok(id) && row_exists(svc, id, &s) == 0 &&
	    !session_pool_holds(svc, id)) {
		log_info("session store: removing workspace %s (no session)",
			 id);
		bstore_delete(&svc->bstore, BSTORE_SESSIONS, id);
	}
	return 0;
}

struct gone_ctx {
	struct service *svc;
	const char *id;
	const char *container;
	int cleared;
};

static int gone_fn(struct store_txn *t, void *p)
{
	struct gone_ctx *g = p;
	struct session s;

	if (row_load(t, g->id, &s) < 0 ||
	    strcmp(s.container, g->container) != 0 ||
	    (s.busy_owner[0] && service_owner_alive(g->svc, s.busy_owner))) {
		return 0;
	}
	s.container[0] = '\0';
	g->cleared = 1;
	return row_store(t, &s, s.expires_ms);
}

static int store_is_ours(struct service *svc);

/* The rows that name a container: their ids and containers (caller
 * frees both arrays). */
struct held_walk {
	char (*ids)[SESSION_ID_SIZE];
	char (*cids)[72];
	size_t n;
	size_t cap;
};

static int held_row(struct store_txn *t, const struct store_val *k,
		    const struct store_val *v, void *p)
{
	struct held_walk *w = p;
	struct session s;

	(void)t;
	if (row_decode(k, v, &s) < 0 || !s.container[0]) {
		return 0;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		w->ids = xrealloc(w->ids, w->cap * sizeof(*w->ids));
		w->cids = xrealloc(w->cids, w->cap * sizeof(*w->cids));
	}
	memcpy(w->ids[w->n], s.id, sizeof(s.id));
	memcpy(w->cids[w->n], s.container, sizeof(s.container));
	w->n++;
	return 0;
}

static void reconcile(struct service *svc)
{
	struct isobox_err e;
	json_object *list;
	struct held_walk w = {NULL, NULL, 0, 0};
	char(*ids)[SESSION_ID_SIZE];
	char(*cids)[72];
	size_t n;
	size_t i;
	int ours;

	/* Rows that name a container, read before the engine's list: a
	 * container recorded before this read was created before the list
	 * is taken, so one missing from the list is really gone. */
	if (store_walk(&svc->store, STORE_SESSIONS, NULL, 0, held_row, &w) <
	    0) {
		free(w.ids);
		free(w.cids);
		return;
	}
	ids = w.ids;
	cids = w.cids;
	n = w.n;
	list = docker_container_list(&svc->docker, "isobox.kind=session", &e);
	if (list == NULL) {
		free(ids);
		free(cids);
		return;
	}
	/* Warm kernel sandboxes, adopted or not, are labelled apart. */
	{
		json_object *kp = docker_container_list(
		    &svc->docker, "isobox.kind=kernelpool", &e);
		size_t j;

		if (kp == NULL) {
			json_object_put(list);
			free(ids);
			free(cids);
			return;
		}
		for (j = 0; j < json_object_array_length(kp); j++) {
			json_object_array_add(
			    list,
			    json_object_get(json_object_array_get_idx(kp, j)));
		}
		json_object_put(kp);
	}
	/* Containers whose session is gone or names another container. */
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *o = json_object_array_get_idx(list, i);
		json_object *labels;
		json_object *lv;
		json_object *idv;
		const char *sid;
		const char *cid;
		struct session s;
		int have;

		if (!json_object_object_get_ex(o, "Id", &idv) ||
		    !json_object_object_get_ex(o, "Labels", &labels) ||
		    !json_object_object_get_ex(labels, "isobox.deployment",
					       &lv) ||
		    strcmp(json_object_get_string(lv), svc->deployment) != 0 ||
		    !json_object_object_get_ex(labels, "isobox.session", &lv)) {
			continue;
		}
		sid = json_object_get_string(lv);
		cid = json_object_get_string(idv);
		have = row_exists(svc, sid, &s);
		if (have < 0) {
			continue;
		}
		if (have == 1 && (strcmp(s.container, cid) == 0 ||
				  (s.busy_owner[0] &&
				   service_owner_alive(svc, s.busy_owner)))) {
			continue;
		}
		if (have == 0 && session_pool_holds(svc, sid)) {
			continue; /* a warm kernel sandbox */
		}
		log_info("session %s: removing stray sandbox %.12s", sid, cid);
		docker_container_remove(&svc->docker, cid, &e);
	}
	/* Rows whose container is gone. */
	for (i = 0; i < n; i++) {
		size_t j;
		int found = 0;

		for (j = 0; j < json_object_array_length(list) && !found; j++) {
			json_object *idv;

			if (json_object_object_get_ex(
				json_object_array_get_idx(list, j), "Id",
				&idv) &&
			    strcmp(json_object_get_string(idv), cids[i]) == 0) {
				found = 1;
			}
		}
		if (!found) {
			struct gone_ctx g = {svc, ids[i], cids[i], 0};

			store_update(&svc->store, STORE_STATE, gone_fn, &g);
			if (g.cleared) {
				char aid[64];

				log_info("session %s: sandbox %.12s is gone "
					 "(the next step starts one)",
					 ids[i], cids[i]);
				admit_id(ids[i], aid);
				admit_release(svc, aid);
			}
		}
	}
	json_object_put(list);
	free(ids);
	free(cids);
	ours = store_is_ours(svc);
	if (ours) {
		bstore_list(&svc->bstore, BSTORE_SESSIONS, orphan_subvol, svc);
	}
	volume_housekeep(svc, ours);
	bstore_qgroup_sweep(&svc->bstore);
}

/* Removing workspaces without a row is safe only for the deployment whose
 * rows those are: the first state_dir to reconcile a store writes its path
 * to store_root/.isobox-sessions-owner, and a deployment with another
 * state_dir (a test instance pointed at the same store by mistake) never
 * removes a subvolume there. */
static int store_is_ours(struct service *svc)
{
	char *p = xasprintf("%s/.isobox-sessions-owner", svc->cfg.store_root);
	char buf[4096];
	FILE *f = fopen(p, "r");
	int ours = 0;

	if (f == NULL) {
		f = fopen(p, "wx");
		if (f) {
			fprintf(f, "%s\n", svc->cfg.state_dir);
			fclose(f);
			ours = 1;
		}
	} else {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		buf[n] = '\0';
		if (n > 0 && buf[n - 1] == '\n') {
			buf[n - 1] = '\0';
		}
		ours = strcmp(buf, svc->cfg.state_dir) == 0;
		fclose(f);
		if (!ours) {
			log_warn("session store %s belongs to the sessions of "
				 "%s, not %s: its workspaces are not "
				 "reconciled here",
				 svc->cfg.store_root, buf, svc->cfg.state_dir);
		}
	}
	free(p);
	return ours;
}

void session_housekeep(struct service *svc, int do_reconcile)
{
	if (!store_ready(&svc->store, STORE_STATE)) {
		return;
	}
	idle_stop(svc);
	reap_expired(svc);
	if (do_reconcile && bstore_ready(&svc->bstore)) {
		reconcile(svc);
	}
	session_pool_maintain(svc);
}
