/* pool.c - the shared warm pool; see pool.h. */
#include "pool.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "admit.h"
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

/* A pool row (key: the container id), version 1: state, created_ms,
 * claimed_ms, memory_bytes, tmpfs_bytes, pids (i64 each), cpus (f64),
 * lang, image, owner (the claimer; str each). */
#define ENTRY_VERSION 1

struct pool_entry {
	int64_t state; /* enum pool_state; 0 for a row that cannot be read */
	int64_t created_ms;
	int64_t claimed_ms;
	struct limits shape; /* memory, tmpfs, pids, cpus */
	char lang[64];
	char image[160];
	char owner[320];
};

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
	store_dec_str(&d, e->lang, sizeof(e->lang));
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
	store_rec_str(r, e->lang);
	store_rec_str(r, e->image);
	store_rec_str(r, e->owner);
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
	const char *p = svc->cfg.pool_languages;
	size_t n = strlen(name);

	if (svc->cfg.pool_size <= 0 || p == NULL) {
		return 0;
	}
	while (*p) {
		size_t l = strcspn(p, ", ");

		if (l == n && strncmp(p, name, n) == 0) {
			return 1;
		}
		p += l;
		p += strspn(p, ", ");
	}
	return 0;
}

/* 1 when l is the version of its language that a request naming no
 * version gets (the first listed): the one pool_languages keeps warm.
 * Other versions of the same name (python's pypy, lua 5.1 ...) take the
 * cold path. */
static int lang_is_default(const struct registry *reg, const struct lang *l)
{
	size_t j;

	for (j = 0; j < reg->n; j++) {
		if (strcmp(reg->langs[j].name, l->name) == 0) {
			return &reg->langs[j] == l;
		}
	}
	return 0;
}

int pool_shape_fits(const struct limits *have, const struct limits *want)
{
	return have->memory_bytes == want->memory_bytes &&
	       have->tmpfs_bytes == want->tmpfs_bytes &&
	       have->cpus == want->cpus && want->pids <= have->pids;
}

static int entry_fits(const struct pool_entry *e, const struct lang *lang,
		      const struct limits *lim, int64_t now, int64_t ttl)
{
	return e->state == POOL_READY && strcmp(e->lang, lang->name) == 0 &&
	       strcmp(e->image, lang->image_ref) == 0 &&
	       pool_shape_fits(&e->shape, lim) && now - e->created_ms < ttl;
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

	if (!store_ready(&svc->store, STORE_RUN) || lang->image_ref == NULL ||
	    lang->compile != NULL || !lang_pooled(svc, lang->name)) {
		return NULL;
	}
	/* Compiled languages get their memory from the compile limit too,
	 * so only interpreted ones are pooled for now. */
	if (store_txn_begin(&svc->store, STORE_RUN, 1, &t) < 0) {
		return NULL;
	}
	if (store_cursor_open(&t, STORE_POOL, &cur) < 0) {
		goto out;
	}
	while (store_cursor_next(&cur, &k, &v) == 0) {
		struct pool_entry e;
		struct store_rec r;

		if (entry_decode(&v, &e) < 0 ||
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
		if (store_txn_commit(&t) < 0) {
			free(id);
			id = NULL;
		}
	}
out:
	store_txn_abort(&t);
	metrics_add(1, "isobox_pool_claims_total{result=\"%s\"}",
		    id ? "hit" : "miss");
	if (id) {
		service_kick(svc); /* refill soon */
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
	memset(&ent, 0, sizeof(ent));
	ent.state = POOL_READY;
	ent.created_ms = wall_ms();
	ent.shape = *shape;
	snprintf(ent.lang, sizeof(ent.lang), "%s", lang->name);
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

void pool_maintain(struct service *svc)
{
	char *lockp;
	int fd;
	struct row *rows;
	size_t n = 0;
	size_t i;
	struct registry *reg;
	struct isobox_err e;
	json_object *list;
	int64_t now = wall_ms();

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
	reg = registry_get();
	for (i = 0; i < n; i++) {
		struct pool_entry *pe = &rows[i].e;
		const struct lang *l = NULL;
		size_t j;

		for (j = 0; reg && j < reg->n; j++) {
			if (strcmp(reg->langs[j].name, pe->lang) == 0 &&
			    reg->langs[j].image_ref &&
			    strcmp(reg->langs[j].image_ref, pe->image) == 0) {
				l = &reg->langs[j];
				break;
			}
		}
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
		} else if (l == NULL || !lang_pooled(svc, pe->lang) ||
			   !lang_is_default(reg, l)) {
			discard(svc, rows[i].id, POOL_READY,
				"catalogue changed");
		} else {
			continue;
		}
		pe->state = 0; /* gone */
	}
	remove_strays(svc, list, rows, n);
	json_object_put(list);
	for (i = 0; reg && i < reg->n && !svc->stopping; i++) {
		const struct lang *l = &reg->langs[i];
		struct limits shape;
		int have = 0;
		size_t j;

		if (!lang_pooled(svc, l->name) || l->image_ref == NULL ||
		    l->compile != NULL || !lang_is_default(reg, l)) {
			continue;
		}
		pool_shape(svc, l, &shape);
		for (j = 0; j < n; j++) {
			if (entry_fits(&rows[j].e, l, &shape, now,
				       svc->cfg.pool_ttl_ms)) {
				have++;
			}
		}
		for (; have < svc->cfg.pool_size && !svc->stopping; have++) {
			/* Warm sandboxes must not take memory that runs
			 * need: refill only while it fits. */
			if (fill_one(svc, l, &shape) < 0) {
				break;
			}
		}
	}
	registry_put(reg);
	free(rows);
	close(fd);
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
			docker_container_remove(&svc->docker, id, &e);
			n++;
		}
		store_txn_abort(&t);
	}
	json_object_put(list);
	if (n) {
		log_info("pool: removed %d warm sandboxes at shutdown", n);
	}
}
