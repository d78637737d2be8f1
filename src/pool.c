/* pool.c - the shared warm pool: demand per language, warm sandboxes made
 * to match it within a memory budget, claimed by one request each; see
 * pool.h. */
#include "pool.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "admit.h"
#include "cgroup.h"
#include "metrics.h"
#include "spec.h"
#include "store.h"

/* Why the pool depends on admission and not the other way round: the
 * pool's memory is reserved as admission rows the pool writes itself, in
 * the transactions that record, claim and remove its sandboxes. Admission
 * then counts one table (and one running total) and never reads pool rows;
 * passing a pool total into admit_acquire instead would go stale while a
 * run waits and make every wait scan the pool table again. */

enum pool_state {
	POOL_READY = 1,	  /* started, waiting to be claimed */
	POOL_CLAIMED = 2, /* handed to a request */
};

/* A pool row (key: the container id), version 2: state, created_ms,
 * claimed_ms, memory_bytes, tmpfs_bytes, pids (i64 each), cpus (f64),
 * compile_memory_bytes, hold_bytes (i64 each), lang, version, image, owner
 * (the claimer; str each). A version 1 row reads as unreadable: the
 * maintainer forgets it and removes its container as a stray. */
#define ENTRY_VERSION 2

/* A demand row (key DEMAND_PREFIX "<name>@<version>"), version 1: score
 * (f64: requests, halved every DEMAND_HALF_LIFE_MS), last_ms, hits, misses
 * (i64 each). Container ids are hex, so the prefix never meets one. */
#define DEMAND_PREFIX	    "demand:"
#define DEMAND_VERSION	    1
#define DEMAND_HALF_LIFE_MS 10000
/* About how long making one warm sandbox takes: the requests expected in
 * that time are what a language needs ready beyond its first. */
#define REFILL_MS 2000
/* The row a run that found no memory writes (pool_shed): for this long
 * after it the maintainer makes no warm sandbox, so it cannot take back
 * what was given up before the run gets it. */
#define PRESSURE_KEY	 "pressure"
#define PRESSURE_HOLD_MS 3000

struct pool_entry {
	int64_t state; /* enum pool_state; 0 for a row that cannot be read */
	int64_t created_ms;
	int64_t claimed_ms;
	struct limits shape; /* memory, tmpfs, pids, cpus, compile memory */
	int64_t hold_bytes;  /* its admission hold */
	char lang[64];
	char version[64];
	char image[160];
	char owner[320];
};

struct demand {
	double score;
	int64_t last_ms; /* 0: never asked for */
	int64_t hits;
	int64_t misses;
};

static int is_meta_key(const struct store_val *k)
{
	size_t n = strlen(DEMAND_PREFIX);

	return (k->n >= n && memcmp(k->p, DEMAND_PREFIX, n) == 0) ||
	       (k->n == strlen(PRESSURE_KEY) &&
		memcmp(k->p, PRESSURE_KEY, k->n) == 0);
}

static int entry_decode(const struct store_val *v, struct pool_entry *e)
{
	struct store_dec d;
	int rc = store_dec_open(&d, v, STORE_POOL, ENTRY_VERSION);

	memset(e, 0, sizeof(*e));
	e->state = store_dec_i64(&d);
	e->created_ms = store_dec_i64(&d);
	e->claimed_ms = store_dec_i64(&d);
	e->shape.memory_bytes = store_dec_i64(&d);
	e->shape.tmpfs_bytes = store_dec_i64(&d);
	e->shape.pids = store_dec_i64(&d);
	e->shape.cpus = store_dec_f64(&d);
	e->shape.compile_memory_bytes = store_dec_i64(&d);
	e->hold_bytes = store_dec_i64(&d);
	store_dec_str(&d, e->lang, sizeof(e->lang));
	store_dec_str(&d, e->version, sizeof(e->version));
	store_dec_str(&d, e->image, sizeof(e->image));
	store_dec_str(&d, e->owner, sizeof(e->owner));
	if (rc == 0) {
		rc = store_dec_end(&d);
	}
	if (rc < 0) {
		e->state = 0;
	}
	return rc;
}

static void entry_encode(const struct pool_entry *e, struct store_rec *r)
{
	store_rec_init(r, STORE_POOL, ENTRY_VERSION);
	store_rec_i64(r, e->state);
	store_rec_i64(r, e->created_ms);
	store_rec_i64(r, e->claimed_ms);
	store_rec_i64(r, e->shape.memory_bytes);
	store_rec_i64(r, e->shape.tmpfs_bytes);
	store_rec_i64(r, e->shape.pids);
	store_rec_f64(r, e->shape.cpus);
	store_rec_i64(r, e->shape.compile_memory_bytes);
	store_rec_i64(r, e->hold_bytes);
	store_rec_str(r, e->lang);
	store_rec_str(r, e->version);
	store_rec_str(r, e->image);
	store_rec_str(r, e->owner);
}

double pool_demand_decay(double score, int64_t dt_ms)
{
	int64_t halves;
	double f;

	if (dt_ms <= 0) {
		return score;
	}
	halves = dt_ms / DEMAND_HALF_LIFE_MS;
	if (halves >= 64) {
		return 0;
	}
	for (; halves > 0; halves--) {
		score *= 0.5;
	}
	/* 2^-f for f in [0, 1), to within 6 %: demand needs no libm. */
	f = (double)(dt_ms % DEMAND_HALF_LIFE_MS) / DEMAND_HALF_LIFE_MS;
	return score * (1.0 - 0.5 * f);
}

int pool_demand_target(double score, int64_t idle_for_ms, int64_t idle_ms,
		       int max)
{
	double rate; /* requests per ms */
	double more;

	if (max <= 0 || idle_for_ms < 0 || idle_for_ms >= idle_ms) {
		return 0;
	}
	/* A score s halved every H ms is what a steady rate r leaves:
	 * s = r * H / ln 2. */
	rate = score * 0.6931 / DEMAND_HALF_LIFE_MS;
	more = rate * REFILL_MS;
	if (more >= max) {
		return max;
	}
	return 1 + (int)more > max ? max : 1 + (int)more;
}

static void demand_key(const struct lang *l, char *out, size_t n)
{
	snprintf(out, n, DEMAND_PREFIX "%s@%s", l->name, l->version);
}

static void demand_decode(const struct store_val *v, struct demand *dm)
{
	struct store_dec d;
	int rc = store_dec_open(&d, v, STORE_POOL, DEMAND_VERSION);

	dm->score = store_dec_f64(&d);
	dm->last_ms = store_dec_i64(&d);
	dm->hits = store_dec_i64(&d);
	dm->misses = store_dec_i64(&d);
	if (rc == 0) {
		rc = store_dec_end(&d);
	}
	if (rc < 0) {
		memset(dm, 0, sizeof(*dm));
	}
}

/* One request of l, in the caller's write transaction. Returns 1 when l
 * was idle before it (a score under one request: the maintainer should
 * start filling for it now), 0, or -errno. */
static int demand_bump(struct store_txn *t, const struct lang *l, int64_t now,
		       int hit)
{
	int woke;

	struct demand dm;
	struct store_val v;
	struct store_rec r;
	char key[200];
	int rc;

	memset(&dm, 0, sizeof(dm));
	demand_key(l, key, sizeof(key));
	if (store_get(t, STORE_POOL, key, &v) == 0) {
		demand_decode(&v, &dm);
	}
	dm.score = pool_demand_decay(dm.score, now - dm.last_ms);
	woke = dm.score < 1.0;
	dm.score += 1.0;
	dm.last_ms = now;
	if (hit) {
		dm.hits++;
	} else {
		dm.misses++;
	}
	store_rec_init(&r, STORE_POOL, DEMAND_VERSION);
	store_rec_f64(&r, dm.score);
	store_rec_i64(&r, dm.last_ms);
	store_rec_i64(&r, dm.hits);
	store_rec_i64(&r, dm.misses);
	rc = store_put(t, STORE_POOL, key, &r);
	return rc < 0 ? rc : woke;
}

/* The admission row holding a warm sandbox's memory. */
static void hold_key(const char *id, char *out, size_t n)
{
	snprintf(out, n, "pool:%s", id);
}

void pool_shape(const struct service *svc, const struct lang *lang,
		struct limits *out)
{
	*out = svc->cfg.defaults;
	limits_overlay(out, &lang->limits);
	limits_clamp(out, &svc->cfg.floors, &svc->cfg.ceilings);
}

static int lang_pooled(const struct service *svc, const char *name)
{
	return svc->cfg.pool_size > 0 &&
	       name_listed(svc->cfg.pool_languages, name);
}

/* How many warm sandboxes l should have now, from its demand (dm may be
 * NULL: never asked for). */
static int lang_target(const struct service *svc, const struct registry *reg,
		       const struct lang *l, const struct demand *dm,
		       int64_t now)
{
	int64_t idle =
	    l->pool_idle_ms > 0 ? l->pool_idle_ms : svc->cfg.pool_idle_ms;
	int max = l->pool_max >= 0 ? l->pool_max : svc->cfg.pool_max;
	int t = 0;

	if (l->image_ref == NULL) {
		return 0;
	}
	if (dm && dm->last_ms > 0) {
		t = pool_demand_target(
		    pool_demand_decay(dm->score, now - dm->last_ms),
		    now - dm->last_ms, idle, max);
	}
	/* Only the default version is kept warm: python's pypy, lua 5.1
	 * ... take the cold path. */
	if (lang_pooled(svc, l->name) && registry_is_default(reg, l) &&
	    t < svc->cfg.pool_size) {
		t = svc->cfg.pool_size;
	}
	return t;
}

int64_t pool_budget(struct service *svc)
{
	int64_t b;

	if (svc->cfg.pool_memory_budget_bytes > 0) {
		return svc->cfg.pool_memory_budget_bytes;
	}
	b = admit_budget(svc);
	return b > 0 ? b / 2 : (int64_t)2 << 30;
}

int pool_shape_fits(const struct limits *have, const struct limits *want)
{
	return have->memory_bytes == want->memory_bytes &&
	       have->tmpfs_bytes == want->tmpfs_bytes &&
	       have->cpus == want->cpus && want->pids <= have->pids;
}

/* The sandbox of e is of lang (name, version and image). */
static int entry_of(const struct pool_entry *e, const struct lang *lang)
{
	return strcmp(e->lang, lang->name) == 0 &&
	       strcmp(e->version, lang->version) == 0 &&
	       lang->image_ref != NULL &&
	       strcmp(e->image, lang->image_ref) == 0;
}

static int entry_fits(const struct pool_entry *e, const struct lang *lang,
		      const struct limits *lim, int64_t now, int64_t ttl)
{
	/* A compiled language's sandbox is as large as its compile limit. */
	return e->state == POOL_READY && entry_of(e, lang) &&
	       pool_shape_fits(&e->shape, lim) &&
	       (lang->compile == NULL ||
		e->shape.compile_memory_bytes == lim->compile_memory_bytes) &&
	       now - e->created_ms < ttl;
}

char *pool_claim(struct service *svc, const struct lang *lang,
		 const struct limits *lim)
{
	struct store_txn t;
	struct store_cursor cur;
	struct store_val k;
	struct store_val v;
	char *id = NULL;
	int64_t now = wall_ms();
	int woke = 0;

	if (!store_ready(&svc->store, STORE_RUN) || lang->image_ref == NULL) {
		return NULL;
	}
	if (store_txn_begin(&svc->store, STORE_RUN, 1, &t) < 0) {
		return NULL;
	}
	if (store_cursor_open(&t, STORE_POOL, &cur) < 0) {
		goto out;
	}
	while (store_cursor_next(&cur, &k, &v) == 0) {
		struct pool_entry e;
		struct store_rec r;

		if (is_meta_key(&k) || entry_decode(&v, &e) < 0 ||
		    !entry_fits(&e, lang, lim, now, svc->cfg.pool_ttl_ms)) {
			continue;
		}
		e.state = POOL_CLAIMED;
		e.claimed_ms = now;
		snprintf(e.owner, sizeof(e.owner), "%s", svc->owner);
		entry_encode(&e, &r);
		if (store_cursor_put(&cur, &r) == 0) {
			id = xstrndup(k.p, k.n);
		}
		break;
	}
	store_cursor_close(&cur);
	if (id) {
		char hk[96];

		/* The claimer's own admission now counts its memory. */
		hold_key(id, hk, sizeof(hk));
		admit_drop_txn(&t, hk);
	}
	/* Every request counts towards its language's demand, hit or miss:
	 * a cold one is what makes the next one warm. */
	woke = demand_bump(&t, lang, now, id != NULL) == 1;
	if (store_txn_commit(&t) < 0) {
		free(id);
		id = NULL;
		woke = 0;
	}
out:
	store_txn_abort(&t);
	metrics_add(1, "isobox_pool_claims_total{result=\"%s\"}",
		    id ? "hit" : "miss");
	if (id) {
		/* Its run gets the CPU weight of every other (fill_one). */
		int rc = cgroup_cpu_weight("/sys/fs/cgroup",
					   service_cgroup_parent(svc), id,
					   CGROUP_CPU_NORMAL);

		if (rc < 0) {
			log_warn("pool: restoring %.12s's CPU weight: %s", id,
				 strerror(-rc));
		}
	}
	/* Refill after a claim, and start filling at once for a language
	 * that was idle; otherwise housekeeping's next pass (2 s) follows
	 * demand (a kick per miss would list the engine's containers once
	 * per request under load). */
	if (id || woke) {
		service_kick(svc);
	}
	return id;
}

/* Remove id's row and its memory hold. */
static void entry_del(struct service *svc, const char *id)
{
	struct store_txn t;
	char hk[96];

	if (store_txn_begin(&svc->store, STORE_RUN, 1, &t) < 0) {
		return;
	}
	hold_key(id, hk, sizeof(hk));
	store_del(&t, STORE_POOL, id);
	admit_drop_txn(&t, hk);
	store_txn_commit(&t);
}

void pool_forget(struct service *svc, const char *id)
{
	if (store_ready(&svc->store, STORE_RUN)) {
		entry_del(svc, id);
	}
}

/* Record a new warm sandbox: its row, and its memory reservation moved
 * from the maker's admission row (resv) to one no process owns. */
static int entry_record(struct service *svc, const char *id,
			const struct pool_entry *e, const char *resv,
			int64_t bytes)
{
	struct store_txn t;
	struct store_rec r;
	char hk[96];
	int rc = store_txn_begin(&svc->store, STORE_RUN, 1, &t);

	if (rc < 0) {
		return rc;
	}
	hold_key(id, hk, sizeof(hk));
	entry_encode(e, &r);
	rc = store_put(&t, STORE_POOL, id, &r);
	if (rc == 0) {
		admit_drop_txn(&t, resv);
		rc = admit_hold_txn(&t, hk, bytes);
	}
	if (rc == 0) {
		rc = store_txn_commit(&t);
	}
	store_txn_abort(&t);
	return rc;
}

struct row {
	char id[72];
	struct pool_entry e;
};

/* Copy the whole table out (it is small: a few rows per language). A row
 * that cannot be read has state 0. */
static struct row *read_rows(struct service *svc, size_t *n)
{
	struct store_txn t;
	struct store_cursor cur;
	struct store_val k;
	struct store_val v;
	struct row *rows = NULL;
	size_t cap = 0;

	*n = 0;
	if (store_txn_begin(&svc->store, STORE_RUN, 0, &t) < 0) {
		return NULL;
	}
	if (store_cursor_open(&t, STORE_POOL, &cur) == 0) {
		while (store_cursor_next(&cur, &k, &v) == 0) {
			if (is_meta_key(&k)) {
				continue;
			}
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				rows = xrealloc(rows, cap * sizeof(*rows));
			}
			memset(&rows[*n], 0, sizeof(rows[*n]));
			snprintf(rows[*n].id, sizeof(rows[*n].id), "%.*s",
				 (int)k.n, (const char *)k.p);
			entry_decode(&v, &rows[*n].e);
			(*n)++;
		}
		store_cursor_close(&cur);
	}
	store_txn_abort(&t);
	return rows;
}

/* Running pool containers, as a label-filtered list from the engine. */
static int container_running(json_object *list, const char *id)
{
	size_t i;

	for (i = 0; list && i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		json_object *v;
		json_object *st;

		if (json_object_object_get_ex(c, "Id", &v) &&
		    strcmp(json_object_get_string(v), id) == 0) {
			return json_object_object_get_ex(c, "State", &st) &&
			       strcmp(json_object_get_string(st), "running") ==
				   0;
		}
	}
	return 0;
}

/* Delete id's row (and its memory hold) if it is still in state, in one
 * write transaction: 1 when taken, 0 when the row changed meanwhile (e.g.
 * a request claimed it after the maintainer read the table) or is gone. */
static int entry_take(struct service *svc, const char *id, uint32_t state)
{
	struct store_txn t;
	struct store_val v;
	struct pool_entry pe;
	char hk[96];

	if (store_txn_begin(&svc->store, STORE_RUN, 1, &t) < 0) {
		return 0;
	}
	if (store_get(&t, STORE_POOL, id, &v) < 0 ||
	    entry_decode(&v, &pe) < 0 || pe.state != state) {
		store_txn_abort(&t);
		return 0;
	}
	hold_key(id, hk, sizeof(hk));
	store_del(&t, STORE_POOL, id);
	admit_drop_txn(&t, hk);
	return store_txn_commit(&t) == 0;
}

/* Remove a sandbox the maintainer judged from its snapshot of the table as
 * being in state: only if its row still says so, so a sandbox claimed in
 * between is never removed under its request. */
static void discard(struct service *svc, const char *id, uint32_t state,
		    const char *why)
{
	struct isobox_err e;

	if (!entry_take(svc, id, state)) {
		return;
	}
	docker_container_remove(&svc->docker, id, &e);
	log_info("pool: removed %.12s (%s)", id, why);
}

/* This deployment's warm sandboxes (other deployments may share the
 * engine: theirs are not ours to judge). Caller puts the array. */
static json_object *pool_containers(struct service *svc, struct isobox_err *e)
{
	char *label = xasprintf("isobox.deployment=%s", svc->deployment);
	json_object *all = docker_container_list(&svc->docker, label, e);
	json_object *out;
	size_t i;

	free(label);
	if (all == NULL) {
		return NULL;
	}
	out = json_object_new_array();
	for (i = 0; i < json_object_array_length(all); i++) {
		json_object *c = json_object_array_get_idx(all, i);
		json_object *labels;
		json_object *v;

		if (json_object_object_get_ex(c, "Labels", &labels) &&
		    json_object_object_get_ex(labels, "isobox.kind", &v) &&
		    strcmp(json_object_get_string(v), "pool") == 0) {
			json_object_array_add(out, json_object_get(c));
		}
	}
	json_object_put(all);
	return out;
}

/* 1 when the process named by a container's isobox.owner label lives. */
static int maker_alive(const struct service *svc, json_object *c)
{
	json_object *labels;
	json_object *v;

	if (!json_object_object_get_ex(c, "Labels", &labels) ||
	    !json_object_object_get_ex(labels, "isobox.owner", &v)) {
		return 0;
	}
	return service_owner_alive(svc, json_object_get_string(v));
}

/* Remove pool containers the table does not know (a process died between
 * creating one and recording it). */
static void remove_strays(struct service *svc, json_object *list,
			  const struct row *rows, size_t n)
{
	int64_t now_s = wall_ms() / 1000;
	size_t i;
	size_t j;

	for (i = 0; list && i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		json_object *v;
		json_object *cr;
		const char *id;
		int known = 0;

		if (!json_object_object_get_ex(c, "Id", &v)) {
			continue;
		}
		id = json_object_get_string(v);
		for (j = 0; j < n && !known; j++) {
			known = strcmp(rows[j].id, id) == 0;
		}
		if (known) {
			continue;
		}
		/* Unrecorded: its maker is between create and record, or
		 * died there. Give a live maker a minute. */
		if (!maker_alive(svc, c) ||
		    (json_object_object_get_ex(c, "Created", &cr) &&
		     now_s - json_object_get_int64(cr) > 60)) {
			struct isobox_err e;

			docker_container_remove(&svc->docker, id, &e);
			log_info("pool: removed stray %.12s", id);
		}
	}
}

/* Make one warm sandbox. Returns 0, or -1 when there is no memory for it
 * (stop filling). */
static int fill_one(struct service *svc, const struct lang *lang,
		    const struct limits *shape)
{
	struct isobox_err e;
	struct pool_entry ent;
	struct spec_desc d;
	json_object *spec;
	char *id = NULL;
	char rid[40];
	int64_t bytes = spec_memory(lang, shape);
	int rc;

	snprintf(rid, sizeof(rid), "pool-%lld", (long long)wall_ms());
	/* Reserve first, as this process (so a crash before the row is
	 * recorded frees it): warm sandboxes must not take memory that runs
	 * need. */
	if (admit_try(svc, rid, bytes) != 1) {
		return -1;
	}
	memset(&d, 0, sizeof(d));
	d.lang = lang;
	d.lim = shape;
	d.request_id = rid;
	d.deadline_wall_ms = wall_ms() + svc->cfg.pool_ttl_ms + 600000;
	d.kind = "pool";
	spec = spec_container(svc, &d);
	if (docker_container_create(&svc->docker, spec, &id, &e) < 0) {
		log_warn("pool: creating a %s sandbox failed: %s", lang->name,
			 e.msg);
		json_object_put(spec);
		admit_release(svc, rid);
		return 0;
	}
	json_object_put(spec);
	if (docker_container_start(&svc->docker, id, &e) < 0) {
		log_warn("pool: starting %.12s failed: %s", id, e.msg);
		docker_container_remove(&svc->docker, id, &e);
		admit_release(svc, rid);
		free(id);
		return 0;
	}
	/* Started at the ordinary weight (its boot is part of a start the
	 * maintainer waits for), it waits at a low one: a warm-up then runs on
	 * CPU that requests leave idle. pool_claim restores it. */
	rc = cgroup_cpu_weight("/sys/fs/cgroup", service_cgroup_parent(svc), id,
			       CGROUP_CPU_LOW);
	if (rc < 0) {
		log_warn("pool: lowering %.12s's CPU weight: %s", id,
			 strerror(-rc));
	}
	memset(&ent, 0, sizeof(ent));
	ent.state = POOL_READY;
	ent.created_ms = wall_ms();
	ent.shape = *shape;
	ent.hold_bytes = bytes;
	snprintf(ent.lang, sizeof(ent.lang), "%s", lang->name);
	snprintf(ent.version, sizeof(ent.version), "%s", lang->version);
	snprintf(ent.image, sizeof(ent.image), "%s", lang->image_ref);
	rc = entry_record(svc, id, &ent, rid, bytes);
	if (rc < 0) {
		log_warn("pool: recording %.12s failed: %s", id, strerror(-rc));
		docker_container_remove(&svc->docker, id, &e);
		admit_release(svc, rid);
	}
	free(id);
	return 0;
}

/* The demand rows and the last memory pressure, in one read. */
struct meta {
	char (*keys)[200];
	struct demand *dm;
	size_t n;
	int64_t pressure_ms;
};

static void read_meta(struct service *svc, struct meta *m)
{
	struct store_txn t;
	struct store_cursor cur;
	struct store_val k;
	struct store_val v;
	size_t cap = 0;

	memset(m, 0, sizeof(*m));
	if (store_txn_begin(&svc->store, STORE_RUN, 0, &t) < 0) {
		return;
	}
	if (store_get(&t, STORE_POOL, PRESSURE_KEY, &v) == 0) {
		struct store_dec d;

		if (store_dec_open(&d, &v, STORE_POOL, DEMAND_VERSION) == 0) {
			m->pressure_ms = store_dec_i64(&d);
		}
	}
	if (store_cursor_open(&t, STORE_POOL, &cur) == 0) {
		size_t pn = strlen(DEMAND_PREFIX);

		while (store_cursor_next(&cur, &k, &v) == 0) {
			if (k.n < pn || memcmp(k.p, DEMAND_PREFIX, pn) != 0) {
				continue;
			}
			if (m->n == cap) {
				cap = cap ? cap * 2 : 16;
				m->keys =
				    xrealloc(m->keys, cap * sizeof(*m->keys));
				m->dm = xrealloc(m->dm, cap * sizeof(*m->dm));
			}
			snprintf(m->keys[m->n], sizeof(m->keys[m->n]), "%.*s",
				 (int)k.n, (const char *)k.p);
			demand_decode(&v, &m->dm[m->n]);
			m->n++;
		}
		store_cursor_close(&cur);
	}
	store_txn_abort(&t);
}

static const struct demand *meta_demand(const struct meta *m,
					const struct lang *l)
{
	char key[200];
	size_t i;

	demand_key(l, key, sizeof(key));
	for (i = 0; i < m->n; i++) {
		if (strcmp(m->keys[i], key) == 0) {
			return &m->dm[i];
		}
	}
	return NULL;
}

static void meta_free(struct meta *m)
{
	free(m->keys);
	free(m->dm);
}

/* What the maintainer wants for one language. */
struct want {
	const struct lang *l;
	struct limits shape;
	int64_t bytes; /* one sandbox's memory */
	int target;
	int have;
	int floor; /* a pool_languages entry: filled first */
	double score;
};

/* Fill order: pool_languages first, then by demand. */
static int want_cmp(const void *a, const void *b)
{
	const struct want *x = a;
	const struct want *y = b;

	if (x->floor != y->floor) {
		return y->floor - x->floor;
	}
	return (y->score > x->score) - (y->score < x->score);
}

static const struct lang *row_lang(const struct registry *reg,
				   const struct pool_entry *pe)
{
	size_t j;

	for (j = 0; reg && j < reg->n; j++) {
		if (entry_of(pe, &reg->langs[j])) {
			return &reg->langs[j];
		}
	}
	return NULL;
}

/* Judge the rows read: drop the unreadable, the claimed ones of dead
 * claimers, the expired, dead and unknown ones. Row i's state becomes 0
 * when it is gone. */
static void judge_rows(struct service *svc, const struct registry *reg,
		       json_object *list, struct row *rows, size_t n,
		       int64_t now)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct pool_entry *pe = &rows[i].e;
		const struct lang *l = row_lang(reg, pe);

		if (pe->state == 0) {
			/* Unreadable (another version): forget it; its
			 * container is then a stray and goes below. */
			entry_del(svc, rows[i].id);
			continue;
		}
		if (pe->state == POOL_CLAIMED) {
			/* In use; its claimer removes it. If the claimer
			 * died, nobody will. */
			if (!service_owner_alive(svc, pe->owner)) {
				discard(svc, rows[i].id, POOL_CLAIMED,
					"claimer died");
			}
			continue;
		}
		if (now - pe->created_ms >= svc->cfg.pool_ttl_ms) {
			discard(svc, rows[i].id, POOL_READY, "expired");
		} else if (!container_running(list, rows[i].id)) {
			discard(svc, rows[i].id, POOL_READY, "not running");
		} else if (l == NULL) {
			discard(svc, rows[i].id, POOL_READY,
				"catalogue changed");
		} else {
			struct limits shape;

			pool_shape(svc, l, &shape);
			if (entry_fits(pe, l, &shape, now,
				       svc->cfg.pool_ttl_ms)) {
				continue;
			}
			discard(svc, rows[i].id, POOL_READY, "shape changed");
		}
		pe->state = 0; /* gone */
	}
}

/* w's oldest ready sandbox (it expires first), or NULL. */
static struct row *oldest_ready(const struct service *svc, const struct want *w,
				struct row *rows, size_t n, int64_t now)
{
	struct row *old = NULL;
	size_t j;

	for (j = 0; j < n; j++) {
		if (entry_fits(&rows[j].e, w->l, &w->shape, now,
			       svc->cfg.pool_ttl_ms) &&
		    (old == NULL || rows[j].e.created_ms < old->e.created_ms)) {
			old = &rows[j];
		}
	}
	return old;
}

/* Remove l's ready sandboxes beyond target (the oldest first: they expire
 * first). Returns how many are left. */
static int trim_lang(struct service *svc, const struct want *w,
		     struct row *rows, size_t n, int64_t now)
{
	int have = w->have;

	while (have > w->target) {
		struct row *old = oldest_ready(svc, w, rows, n, now);

		if (old == NULL) {
			break;
		}
		discard(svc, old->id, POOL_READY, "demand fell");
		old->e.state = 0;
		have--;
	}
	return have;
}

/* Make room for x by removing a ready sandbox of the language with the
 * lowest demand below x's (never one of pool_languages): a budget that
 * earlier demand filled goes to the languages asked for most lately, as a
 * budget too small for every target is shared when it is filled. Returns
 * 0 when no language is left to give way; else 1 (*used is less by the
 * memory of the sandbox removed, if there was one to remove). */
static int evict_for(struct service *svc, const struct want *x, struct want *w,
		     size_t nw, struct row *rows, size_t n, int64_t now,
		     int64_t *used)
{
	struct want *v = NULL;
	struct row *old;
	size_t i;

	for (i = 0; i < nw; i++) {
		if (&w[i] != x && !w[i].floor && w[i].have > 0 &&
		    w[i].score < x->score &&
		    (v == NULL || w[i].score < v->score)) {
			v = &w[i];
		}
	}
	if (v == NULL) {
		return 0;
	}
	old = oldest_ready(svc, v, rows, n, now);
	if (old == NULL) {
		v->have = 0; /* none after all: another may be */
		return 1;
	}
	v->have--;
	discard(svc, old->id, POOL_READY, "more demand elsewhere");
	old->e.state = 0;
	*used -= v->bytes;
	metrics_add(1, "isobox_pool_evictions_total");
	return 1;
}

void pool_maintain(struct service *svc)
{
	char *lockp;
	int fd;
	struct row *rows;
	struct want *w = NULL;
	struct meta m;
	size_t n = 0;
	size_t nw = 0;
	size_t i;
	struct registry *reg;
	struct isobox_err e;
	json_object *list;
	int64_t now = wall_ms();
	int64_t used = 0;
	int64_t budget;
	int progress;

	if (!store_ready(&svc->store, STORE_RUN)) {
		return;
	}
	lockp = xasprintf("%s/pool.lock", svc->cfg.run_dir);
	fd = open(lockp, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	free(lockp);
	if (fd < 0) {
		return;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return;
	}
	list = pool_containers(svc, &e);
	if (list == NULL) {
		close(fd); /* the engine is away: try again later */
		return;
	}
	rows = read_rows(svc, &n);
	read_meta(svc, &m);
	reg = registry_get();
	judge_rows(svc, reg, list, rows, n, now);
	remove_strays(svc, list, rows, n);
	json_object_put(list);
	if (reg) {
		w = xcalloc(reg->n ? reg->n : 1, sizeof(*w));
	}
	for (i = 0; reg && i < reg->n; i++) {
		const struct lang *l = &reg->langs[i];
		const struct demand *dm = meta_demand(&m, l);
		struct want *x = &w[nw];
		size_t j;

		if (l->image_ref == NULL) {
			continue;
		}
		x->l = l;
		pool_shape(svc, l, &x->shape);
		x->bytes = spec_memory(l, &x->shape);
		x->target = lang_target(svc, reg, l, dm, now);
		x->floor =
		    lang_pooled(svc, l->name) && registry_is_default(reg, l);
		x->score =
		    dm ? pool_demand_decay(dm->score, now - dm->last_ms) : 0;
		for (j = 0; j < n; j++) {
			if (entry_fits(&rows[j].e, l, &x->shape, now,
				       svc->cfg.pool_ttl_ms)) {
				x->have++;
			}
		}
		x->have = trim_lang(svc, x, rows, n, now);
		used += (int64_t)x->have * x->bytes;
		nw++;
	}
	qsort(w, nw, sizeof(*w), want_cmp);
	budget = pool_budget(svc);
	/* Right after a run had to take memory back, make nothing: the run
	 * must get what was given up. */
	progress = now - m.pressure_ms >= PRESSURE_HOLD_MS;
	/* One sandbox per wanting language per pass, so a budget too small
	 * for every target is shared in demand order. */
	while (progress && !svc->stopping) {
		progress = 0;
		for (i = 0; i < nw && !svc->stopping; i++) {
			if (w[i].have >= w[i].target) {
				continue;
			}
			while (
			    used + w[i].bytes > budget &&
			    evict_for(svc, &w[i], w, nw, rows, n, now, &used)) {
			}
			if (used + w[i].bytes > budget) {
				continue;
			}
			/* Warm sandboxes must not take memory that runs
			 * need: fill only while admission has room. */
			if (fill_one(svc, w[i].l, &w[i].shape) < 0) {
				progress = 0;
				break;
			}
			w[i].have++;
			used += w[i].bytes;
			progress = 1;
		}
	}
	free(w);
	meta_free(&m);
	registry_put(reg);
	free(rows);
	close(fd);
}

int64_t pool_shed(struct service *svc, int64_t bytes)
{
	struct row *rows;
	struct store_txn t;
	size_t n = 0;
	size_t i;
	int64_t freed = 0;
	int64_t now = wall_ms();

	if (!store_ready(&svc->store, STORE_RUN)) {
		return 0;
	}
	rows = read_rows(svc, &n);
	for (i = 0; i < n && freed < bytes; i++) {
		if (rows[i].e.state == POOL_READY &&
		    entry_take(svc, rows[i].id, POOL_READY)) {
			struct isobox_err e;

			freed += rows[i].e.hold_bytes;
			docker_container_remove(&svc->docker, rows[i].id, &e);
			log_info("pool: removed %.12s (a run needs its memory)",
				 rows[i].id);
		}
	}
	free(rows);
	if (freed > 0 && store_txn_begin(&svc->store, STORE_RUN, 1, &t) == 0) {
		struct store_rec r;

		store_rec_init(&r, STORE_POOL, DEMAND_VERSION);
		store_rec_i64(&r, now);
		if (store_put(&t, STORE_POOL, PRESSURE_KEY, &r) == 0) {
			store_txn_commit(&t);
		}
		store_txn_abort(&t);
	}
	if (freed > 0) {
		metrics_add(1, "isobox_pool_shed_total");
	}
	return freed;
}

void pool_stats(struct service *svc, struct pool_stats *st)
{
	struct row *rows;
	size_t n = 0;
	size_t i;

	memset(st, 0, sizeof(*st));
	if (!store_ready(&svc->store, STORE_RUN)) {
		return;
	}
	rows = read_rows(svc, &n);
	for (i = 0; i < n; i++) {
		if (rows[i].e.state == POOL_READY) {
			st->ready++;
		} else if (rows[i].e.state == POOL_CLAIMED) {
			st->claimed++;
		}
	}
	free(rows);
}

static void gauge_head(struct buf *b, const char *name, const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

void pool_metrics(struct service *svc, struct buf *b)
{
	static const struct {
		const char *name;
		const char *help;
	} fam[] = {
	    {"isobox_pool_target",
	     "Warm sandboxes the pool aims to keep, per language and version "
	     "(from demand, pool_max, pool_languages)."},
	    {"isobox_pool_language_ready",
	     "Warm sandboxes waiting, per language and version."},
	    {"isobox_pool_language_claimed",
	     "Warm sandboxes handed to requests, per language and version."},
	    {"isobox_pool_hits", "Requests that got a warm sandbox, per "
				 "language and version (all processes)."},
	    {"isobox_pool_misses",
	     "Requests that found no warm sandbox, per language and version "
	     "(all processes)."},
	    {"isobox_pool_demand",
	     "Recent requests per language and version (halved every 10 s)."},
	};
	struct registry *reg;
	struct row *rows;
	struct meta m;
	size_t n = 0;
	size_t f;
	size_t i;
	size_t j;
	int64_t now = wall_ms();
	int64_t held = 0;

	if (!store_ready(&svc->store, STORE_RUN)) {
		return;
	}
	rows = read_rows(svc, &n);
	read_meta(svc, &m);
	reg = registry_get();
	for (j = 0; j < n; j++) {
		if (rows[j].e.state == POOL_READY) {
			held += rows[j].e.hold_bytes;
		}
	}
	gauge_head(b, "isobox_pool_memory_budget_bytes",
		   "Memory warm sandboxes may hold in all "
		   "(pool_memory_budget_bytes).");
	buf_addf(b, "isobox_pool_memory_budget_bytes %lld\n",
		 (long long)pool_budget(svc));
	gauge_head(b, "isobox_pool_memory_bytes",
		   "Memory held by waiting warm sandboxes (their caps).");
	buf_addf(b, "isobox_pool_memory_bytes %lld\n", (long long)held);
	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		gauge_head(b, fam[f].name, fam[f].help);
		for (i = 0; reg && i < reg->n; i++) {
			const struct lang *l = &reg->langs[i];
			const struct demand *dm = meta_demand(&m, l);
			int ready = 0;
			int claimed = 0;
			int target = lang_target(svc, reg, l, dm, now);
			double v;

			for (j = 0; j < n; j++) {
				if (!entry_of(&rows[j].e, l)) {
					continue;
				}
				ready += rows[j].e.state == POOL_READY;
				claimed += rows[j].e.state == POOL_CLAIMED;
			}
			if (dm == NULL && ready == 0 && claimed == 0 &&
			    target == 0) {
				continue; /* never asked for: no series */
			}
			switch (f) {
			case 0:
				v = target;
				break;
			case 1:
				v = ready;
				break;
			case 2:
				v = claimed;
				break;
			case 3:
				v = dm ? (double)dm->hits : 0;
				break;
			case 4:
				v = dm ? (double)dm->misses : 0;
				break;
			default:
				v = dm ? pool_demand_decay(dm->score,
							   now - dm->last_ms)
				       : 0;
				break;
			}
			buf_addf(b, "%s{language=\"%s\",version=\"%s\"} %g\n",
				 fam[f].name, l->name, l->version, v);
		}
	}
	registry_put(reg);
	meta_free(&m);
	free(rows);
}

void pool_drain_own(struct service *svc)
{
	struct isobox_err e;
	json_object *list;
	size_t i;
	int n = 0;

	if (!store_ready(&svc->store, STORE_RUN)) {
		return;
	}
	/* Ours, and those whose maker died (e.g. SIGKILL): when the last
	 * process stops, nobody else would remove them. */
	list = pool_containers(svc, &e);
	for (i = 0; list && i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		json_object *v;
		json_object *labels;
		struct store_txn t;
		struct store_val val;
		const char *id;
		int mine = 0;

		if (!json_object_object_get_ex(c, "Id", &v) ||
		    !json_object_object_get_ex(c, "Labels", &labels) ||
		    !json_object_object_get_ex(labels, "isobox.owner", &v) ||
		    (strcmp(json_object_get_string(v), svc->owner) != 0 &&
		     maker_alive(svc, c))) {
			continue;
		}
		json_object_object_get_ex(c, "Id", &v);
		id = json_object_get_string(v);
		/* Take it out of the pool only while nobody has claimed it. */
		if (store_txn_begin(&svc->store, STORE_RUN, 1, &t) < 0) {
			continue;
		}
		if (store_get(&t, STORE_POOL, id, &val) == 0) {
			struct pool_entry pe;
			char hk[96];

			hold_key(id, hk, sizeof(hk));
			mine = entry_decode(&val, &pe) < 0 ||
			       pe.state == POOL_READY;
			if (mine) {
				mine = store_del(&t, STORE_POOL, id) == 0;
				admit_drop_txn(&t, hk);
			}
		} else {
			mine = 1; /* never recorded: a stray */
		}
		if (mine && store_txn_commit(&t) == 0) {
			if (docker_container_remove(&svc->docker, id, &e) < 0) {
				log_warn("pool: removing %.12s at shutdown "
					 "failed: %s",
					 id, e.msg);
			}
			n++;
		}
		store_txn_abort(&t);
	}
	json_object_put(list);
	if (n) {
		log_info("pool: removed %d warm sandboxes at shutdown", n);
	}
}
