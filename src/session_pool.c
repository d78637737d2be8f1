/* session_pool.c - warm kernel sandboxes: a few ready sandboxes per kernel
 * runtime (kernel_pool_size of each in kernel_pool_languages), each a
 * container running the guest in kernel mode with its runner started and
 * its own workspace subvolume, so that a kernel session created with the
 * default shape and no volumes starts with its interpreter ready.
 *
 * An entry is made for a session id P chosen ahead of time: subvolume P,
 * a container labelled as session P's (isobox.kind=session,
 * isobox.session=P), P's memory admitted as "kpool:P" (owned by the
 * process that made it), and a row of the runtime table "kpool" (P ->
 * runtime, version, container, owner). A create claims one in a single
 * STORE_RUN transaction (the row deleted, the admission turned into the
 * session's "sess:P" hold), so two processes never adopt the same entry;
 * the session then gets id P, the subvolume's quota and the container.
 * Until then reconciliation spares P's container and subvolume while the
 * row exists and its owner lives; the entries of a dead or stopped process
 * are removed by the next maintenance (any process), and a process drains
 * its own at exit. See session.h. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "spec.h"

#define KPOOL_REC_VERSION 1
#define KPOOL_MAX	  64 /* entries looked at per pass */

struct kpool_ent {
	char id[SESSION_ID_SIZE];
	char runtime[65];
	char version[33];
	char container[72];
	char owner[320];
	char image[256];
	int64_t bytes;
	int64_t claimed_ms; /* 0: ready; else claimed, the row being made */
};

/* A claimed entry's row is removed once its session row exists; until
 * then (at most this long) reconciliation spares its sandbox. */
#define KPOOL_CLAIM_MS 60000

static void kp_admit_id(const char *id, char out[64])
{
	snprintf(out, 64, "kpool:%s", id);
}

static void kp_encode(const struct kpool_ent *e, struct store_rec *r)
{
	store_rec_init(r, STORE_KPOOL, KPOOL_REC_VERSION);
	store_rec_str(r, e->runtime);
	store_rec_str(r, e->version);
	store_rec_str(r, e->container);
	store_rec_str(r, e->owner);
	store_rec_str(r, e->image);
	store_rec_i64(r, e->bytes);
	store_rec_i64(r, e->claimed_ms);
}

static int kp_decode(const struct store_val *k, const struct store_val *v,
		     struct kpool_ent *e)
{
	struct store_dec d;

	memset(e, 0, sizeof(*e));
	if (k->n >= sizeof(e->id) ||
	    store_dec_open(&d, v, STORE_KPOOL, KPOOL_REC_VERSION) < 0) {
		return -EPROTO;
	}
	memcpy(e->id, k->p, k->n);
	e->id[k->n] = '\0';
	store_dec_str(&d, e->runtime, sizeof(e->runtime));
	store_dec_str(&d, e->version, sizeof(e->version));
	store_dec_str(&d, e->container, sizeof(e->container));
	store_dec_str(&d, e->owner, sizeof(e->owner));
	store_dec_str(&d, e->image, sizeof(e->image));
	e->bytes = store_dec_i64(&d);
	e->claimed_ms = store_dec_i64(&d);
	return store_dec_end(&d) == 0 ? 0 : -EPROTO;
}

int session_pool_wants(const struct service *svc, const struct registry *reg,
		       const struct lang *lang)
{
	return svc->cfg.kernel_pool_size > 0 && lang->kernel != NULL &&
	       name_listed(svc->cfg.kernel_pool_languages, lang->name) &&
	       registry_is_default(reg, lang);
}

/* The shape of a pooled sandbox: what a create sending no limits gets. */
static void pool_template(struct service *svc, const struct lang *lang,
			  const char *id, struct session *s)
{
	struct exec_request er;

	memset(s, 0, sizeof(*s));
	memset(&er, 0, sizeof(er));
	exec_limits(svc, lang, &er, &s->lim);
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->subvol, sizeof(s->subvol), "%s", id);
	snprintf(s->runtime, sizeof(s->runtime), "%s", lang->name);
	snprintf(s->version, sizeof(s->version), "%s",
		 lang->version ? lang->version : "");
	s->type = SESSION_KERNEL;
	s->flags = SESSION_F_POOLED;
	s->disk_quota = svc->cfg.session_disk_bytes;
}

/* Remove what an entry holds (its row is gone already). */
static void kp_destroy(struct service *svc, const char *id,
		       const char *container, const char *aid)
{
	struct isobox_err e;

	if (container && container[0]) {
		docker_container_remove(&svc->docker, container, &e);
	}
	/* After the container's removal the engine may still hold the
	 * mount for a moment; a drain at exit has no later pass. */
	session_workspace_delete(svc, id, id);
	if (aid) {
		admit_release(svc, aid);
	}
}

/* ---- claim ---------------------------------------------------------- */

struct claim_ctx {
	struct service *svc;
	const struct lang *lang;
	struct kpool_ent got;
	int found;
};

static int claim_fn(struct store_txn *t, void *p)
{
	struct claim_ctx *c = p;
	const char *ver = c->lang->version ? c->lang->version : "";
	struct store_cursor cur;
	struct store_val k;
	struct store_val v;
	char aid[64];
	char sid[64];
	int rc;

	c->found = 0;
	rc = store_cursor_open(t, STORE_KPOOL, &cur);
	if (rc < 0) {
		return rc;
	}
	while (store_cursor_next(&cur, &k, &v) == 0) {
		struct kpool_ent e;

		if (kp_decode(&k, &v, &e) < 0 ||
		    strcmp(e.runtime, c->lang->name) != 0 ||
		    strcmp(e.version, ver) != 0 || !e.container[0] ||
		    e.claimed_ms != 0 ||
		    strcmp(e.image,
			   c->lang->image_ref ? c->lang->image_ref : "") != 0 ||
		    !service_owner_alive(c->svc, e.owner)) {
			continue;
		}
		c->got = e;
		c->found = 1;
		break;
	}
	store_cursor_close(&cur);
	if (!c->found) {
		return 0;
	}
	{
		struct store_rec r;

		c->got.claimed_ms = wall_ms();
		kp_encode(&c->got, &r);
		rc = store_put(t, STORE_KPOOL, c->got.id, &r);
		if (rc < 0) {
			return rc;
		}
	}
	/* The memory stays admitted: as the session's, held until its
	 * sandbox stops (session_sandbox_forget). */
	kp_admit_id(c->got.id, aid);
	snprintf(sid, sizeof(sid), "sess:%s", c->got.id);
	admit_drop_txn(t, aid);
	return admit_hold_txn(t, sid, c->got.bytes);
}

int session_pool_fits(struct service *svc, const struct lang *lang,
		      const struct limits *lim)
{
	struct session t;

	pool_template(svc, lang, "x", &t);
	return t.lim.memory_bytes == lim->memory_bytes &&
	       t.lim.cpus == lim->cpus && t.lim.pids == lim->pids &&
	       t.lim.tmpfs_bytes == lim->tmpfs_bytes &&
	       t.lim.compile_memory_bytes == lim->compile_memory_bytes;
}

int session_pool_claim(struct service *svc, const struct lang *lang,
		       char id[SESSION_ID_SIZE], char container[72])
{
	struct claim_ctx c;

	memset(&c, 0, sizeof(c));
	c.svc = svc;
	c.lang = lang;
	if (!store_ready(&svc->store, STORE_RUN) ||
	    store_update(&svc->store, STORE_RUN, claim_fn, &c) < 0 ||
	    !c.found) {
		return -1;
	}
	snprintf(id, SESSION_ID_SIZE, "%s", c.got.id);
	snprintf(container, 72, "%s", c.got.container);
	return 0;
}

static int del_fn(struct store_txn *t, void *p)
{
	int rc = store_del(t, STORE_KPOOL, p);

	return rc == -ENOENT ? 0 : rc;
}

void session_pool_adopted(struct service *svc, const char *id)
{
	store_update(&svc->store, STORE_RUN, del_fn, (void *)id);
}

void session_pool_unclaim(struct service *svc, const char *id,
			  const char *container)
{
	char aid[64];

	snprintf(aid, sizeof(aid), "sess:%s", id);
	kp_destroy(svc, id, container, aid);
	session_pool_adopted(svc, id);
}

/* ---- lookups for reconciliation -------------------------------------- */

int session_pool_holds(struct service *svc, const char *id)
{
	struct store_txn tx;
	struct store_val v;
	int rc;

	if (!store_ready(&svc->store, STORE_RUN) ||
	    store_txn_begin(&svc->store, STORE_RUN, 0, &tx) < 0) {
		return 1; /* unknown: spare it */
	}
	rc = store_get(&tx, STORE_KPOOL, id, &v);
	if (rc == 0) {
		struct store_val k = {id, strlen(id)};
		struct kpool_ent e;

		rc = kp_decode(&k, &v, &e) == 0 &&
			     (e.claimed_ms
				  ? wall_ms() - e.claimed_ms < KPOOL_CLAIM_MS
				  : service_owner_alive(svc, e.owner))
			 ? 0
			 : -ENOENT;
	}
	store_txn_abort(&tx);
	return rc == 0;
}

/* ---- maintenance ----------------------------------------------------- */

struct kpool_ref {
	char id[SESSION_ID_SIZE];
	char container[72];
};

struct scan_ctx {
	struct service *svc;
	struct kpool_ent dead[KPOOL_MAX];
	int ndead;
	struct kpool_ref mine[KPOOL_MAX]; /* own ready entries */
	int nmine;
	int own_only; /* drain: this process's entries are "dead" */
	const char *runtime;
	const char *version;
	int live;
};

static int scan_fn(struct store_txn *t, void *p)
{
	struct scan_ctx *c = p;
	struct store_cursor cur;
	struct store_val k;
	struct store_val v;
	int rc;

	c->ndead = 0;
	c->nmine = 0;
	c->live = 0;
	rc = store_cursor_open(t, STORE_KPOOL, &cur);
	if (rc < 0) {
		return rc;
	}
	while (store_cursor_next(&cur, &k, &v) == 0 && c->ndead < KPOOL_MAX) {
		struct kpool_ent e;
		int gone;

		if (kp_decode(&k, &v, &e) < 0) {
			store_cursor_del(&cur);
			continue;
		}
		if (e.claimed_ms) {
			/* Its session owns what it held (or, when its
			 * creator died before the row, reconciliation
			 * removes it as a stray). */
			if (wall_ms() - e.claimed_ms >= KPOOL_CLAIM_MS) {
				store_cursor_del(&cur);
			}
			continue;
		}
		gone = c->own_only ? strcmp(e.owner, c->svc->owner) == 0
				   : !service_owner_alive(c->svc, e.owner);
		if (gone) {
			c->dead[c->ndead++] = e;
			store_cursor_del(&cur);
			continue;
		}
		if (c->runtime && strcmp(e.runtime, c->runtime) == 0 &&
		    strcmp(e.version, c->version) == 0) {
			c->live++;
		}
		if (e.container[0] && c->nmine < KPOOL_MAX &&
		    strcmp(e.owner, c->svc->owner) == 0) {
			struct kpool_ref *m = &c->mine[c->nmine++];

			snprintf(m->id, sizeof(m->id), "%s", e.id);
			snprintf(m->container, sizeof(m->container), "%s",
				 e.container);
		}
	}
	store_cursor_close(&cur);
	return 0;
}

static void scan(struct service *svc, struct scan_ctx *c)
{
	int i;

	c->svc = svc;
	if (store_update(&svc->store, STORE_RUN, scan_fn, c) < 0) {
		c->ndead = 0;
		return;
	}
	for (i = 0; i < c->ndead; i++) {
		char aid[64];

		log_info("kernel pool: removing %s (%.12s) of %s",
			 c->dead[i].id, c->dead[i].container, c->dead[i].owner);
		kp_admit_id(c->dead[i].id, aid);
		kp_destroy(svc, c->dead[i].id, c->dead[i].container, aid);
	}
}

static int put_fn(struct store_txn *t, void *p)
{
	const struct kpool_ent *e = p;
	struct store_rec r;

	kp_encode(e, &r);
	return store_put(t, STORE_KPOOL, e->id, &r);
}

/* Make one entry for lang. */
static void pool_add(struct service *svc, const struct lang *lang)
{
	struct kpool_ent e;
	struct isobox_err err;
	struct session s;
	char aid[64];
	char *cid = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	session_id_new(e.id);
	pool_template(svc, lang, e.id, &s);
	e.bytes = spec_memory(lang, &s.lim);
	kp_admit_id(e.id, aid);
	if (admit_try(svc, aid, e.bytes) != 1) {
		return; /* no room now: the pool waits for it */
	}
	rc = bstore_create(&svc->bstore, BSTORE_SESSIONS, e.id, 0755,
			   s.disk_quota);
	if (rc < 0) {
		log_warn("kernel pool: creating a workspace: %s",
			 strerror(-rc));
		admit_release(svc, aid);
		return;
	}
	/* The row first: reconciliation must not take the container for a
	 * stray one while it starts. */
	snprintf(e.runtime, sizeof(e.runtime), "%s", lang->name);
	snprintf(e.version, sizeof(e.version), "%s", s.version);
	snprintf(e.owner, sizeof(e.owner), "%s", svc->owner);
	snprintf(e.image, sizeof(e.image), "%s",
		 lang->image_ref ? lang->image_ref : "");
	if (store_update(&svc->store, STORE_RUN, put_fn, &e) < 0) {
		kp_destroy(svc, e.id, NULL, aid);
		return;
	}
	if (session_sandbox_create(svc, &s, lang, &cid, &err) < 0) {
		struct store_txn tx;

		log_warn("kernel pool: starting a %s sandbox: %s", lang->name,
			 err.msg);
		if (store_txn_begin(&svc->store, STORE_RUN, 1, &tx) == 0) {
			store_del(&tx, STORE_KPOOL, e.id);
			store_txn_commit(&tx);
			store_txn_abort(&tx);
		}
		kp_destroy(svc, e.id, NULL, aid);
		return;
	}
	snprintf(e.container, sizeof(e.container), "%s", cid);
	free(cid);
	/* A create may have claimed it meanwhile (without a container): it
	 * then sees none and takes the cold path; the entry is simply
	 * recorded again with its container. */
	if (store_update(&svc->store, STORE_RUN, put_fn, &e) < 0) {
		kp_destroy(svc, e.id, e.container, aid);
	}
}

/* Forget entry m if it is still ready and this process's (a create may
 * have claimed it since the scan). */
static int forget_fn(struct store_txn *t, void *p)
{
	const struct kpool_ref *m = p;
	struct store_val k = {m->id, strlen(m->id)};
	struct store_val v;
	struct kpool_ent e;
	int rc = store_get(t, STORE_KPOOL, m->id, &v);

	if (rc < 0) {
		return rc;
	}
	if (kp_decode(&k, &v, &e) < 0 || e.claimed_ms != 0 ||
	    strcmp(e.container, m->container) != 0) {
		return -EBUSY;
	}
	return store_del(t, STORE_KPOOL, m->id);
}

/* This process's ready entries whose container stopped (the engine
 * restarted, or something killed it) are removed, so the pool refills
 * with live ones instead of counting the dead. */
static void sweep_stopped(struct service *svc, const struct scan_ctx *c)
{
	int i;

	for (i = 0; i < c->nmine; i++) {
		const struct kpool_ref *m = &c->mine[i];
		char aid[64];
		int known;

		if (session_container_running(svc, m->container, &known) ||
		    !known) {
			continue;
		}
		if (store_update(&svc->store, STORE_RUN, forget_fn, (void *)m) <
		    0) {
			continue;
		}
		log_info("kernel pool: %s (%.12s) stopped: removing it", m->id,
			 m->container);
		kp_admit_id(m->id, aid);
		kp_destroy(svc, m->id, m->container, aid);
	}
}

void session_pool_maintain(struct service *svc)
{
	struct registry *reg;
	size_t i;

	if (!bstore_ready(&svc->bstore) ||
	    !store_ready(&svc->store, STORE_RUN)) {
		return;
	}
	{
		struct scan_ctx c;

		memset(&c, 0, sizeof(c));
		scan(svc, &c);
		sweep_stopped(svc, &c);
	}
	if (svc->cfg.kernel_pool_size <= 0 || atomic_load(&svc->stopping)) {
		return;
	}
	reg = registry_get();
	if (reg == NULL) {
		return;
	}
	for (i = 0; i < reg->n; i++) {
		const struct lang *l = &reg->langs[i];
		struct scan_ctx c;

		if (!session_pool_wants(svc, reg, l)) {
			continue;
		}
		memset(&c, 0, sizeof(c));
		c.runtime = l->name;
		c.version = l->version ? l->version : "";
		scan(svc, &c);
		/* One per pass: bounded work, and the pool of a busy host
		 * fills between requests. */
		if (c.live < svc->cfg.kernel_pool_size) {
			pool_add(svc, l);
		}
	}
	registry_put(reg);
}

void session_pool_drain_own(struct service *svc)
{
	struct scan_ctx c;

	if (!store_ready(&svc->store, STORE_RUN)) {
		return;
	}
	memset(&c, 0, sizeof(c));
	c.own_only = 1;
	scan(svc, &c);
}
