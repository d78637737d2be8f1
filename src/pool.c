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

static int entry_fits(const struct pool_entry *e, const struct lang *lang,
		      const struct limits *lim, int64_t now, int64_t ttl)
{
	return e->version == 1 && e->state == POOL_READY &&
	       strcmp(e->lang, lang->name) == 0 &&
	       strcmp(e->image, lang->image_ref) == 0 &&
	       e->memory_bytes == lim->memory_bytes &&
	       e->tmpfs_bytes == lim->tmpfs_bytes && e->cpus == lim->cpus &&
	       lim->pids <= e->pids && now - e->created_ms < ttl;
}

char *pool_claim(struct service *svc, const struct lang *lang,
		 const struct limits *lim)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k;
	MDB_val v;
	char *id = NULL;
	int64_t now = wall_ms();
	int rc;

	if (svc->store.env == NULL || lang->image_ref == NULL ||
	    lang->compile != NULL || !lang_pooled(svc, lang->name)) {
		return NULL;
	}
	/* Compiled languages get their memory from the compile limit too,
	 * so only interpreted ones are pooled for now. */
	if (mdb_txn_begin(svc->store.env, NULL, 0, &txn) != 0) {
		return NULL;
	}
	if (mdb_cursor_open(txn, svc->store.pool, &cur) != 0) {
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct pool_entry e;

		if (v.mv_size != sizeof(e)) {
			continue;
		}
		memcpy(&e, v.mv_data, sizeof(e));
		if (!entry_fits(&e, lang, lim, now, svc->cfg.pool_ttl_ms)) {
			continue;
		}
		e.state = POOL_CLAIMED;
		e.claimed_ms = now;
		snprintf(e.owner, sizeof(e.owner), "%s", svc->owner);
		v.mv_data = &e;
		v.mv_size = sizeof(e);
		if (mdb_cursor_put(cur, &k, &v, MDB_CURRENT) == 0) {
			id = xstrndup(k.mv_data, k.mv_size);
		}
		break;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (id && mdb_txn_commit(txn) != 0) {
		free(id);
		id = NULL;
	} else if (id == NULL) {
		mdb_txn_abort(txn);
	}
	txn = NULL;
out:
	if (txn) {
		mdb_txn_abort(txn);
	}
	metrics_add(1, "isobox_pool_claims_total{result=\"%s\"}",
		    id ? "hit" : "miss");
	if (id) {
		service_kick(svc); /* refill soon */
	}
	return id;
}

static void entry_del(struct service *svc, const char *id)
{
	MDB_txn *txn;
	MDB_val k = {strlen(id), (void *)id};

	if (mdb_txn_begin(svc->store.env, NULL, 0, &txn) != 0) {
		return;
	}
	if (mdb_del(txn, svc->store.pool, &k, NULL) == 0) {
		mdb_txn_commit(txn);
	} else {
		mdb_txn_abort(txn);
	}
}

void pool_forget(struct service *svc, const char *id)
{
	if (svc->store.env) {
		entry_del(svc, id);
	}
}

static int entry_put(struct service *svc, const char *id,
		     const struct pool_entry *e)
{
	MDB_txn *txn;
	MDB_val k = {strlen(id), (void *)id};
	MDB_val v = {sizeof(*e), (void *)e};
	int rc = mdb_txn_begin(svc->store.env, NULL, 0, &txn);

	if (rc != 0) {
		return rc;
	}
	rc = mdb_put(txn, svc->store.pool, &k, &v, 0);
	if (rc == 0) {
		return mdb_txn_commit(txn);
	}
	mdb_txn_abort(txn);
	return rc;
}

struct row {
	char id[72];
	struct pool_entry e;
};

/* Copy the whole table out (it is small: a few rows per language). */
static struct row *read_rows(struct service *svc, size_t *n)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k;
	MDB_val v;
	struct row *rows = NULL;
	size_t cap = 0;
	int rc;

	*n = 0;
	if (mdb_txn_begin(svc->store.env, NULL, MDB_RDONLY, &txn) != 0) {
		return NULL;
	}
	if (mdb_cursor_open(txn, svc->store.pool, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				rows = xrealloc(rows, cap * sizeof(*rows));
			}
			memset(&rows[*n], 0, sizeof(rows[*n]));
			snprintf(rows[*n].id, sizeof(rows[*n].id), "%.*s",
				 (int)k.mv_size, (const char *)k.mv_data);
			if (v.mv_size == sizeof(struct pool_entry)) {
				memcpy(&rows[*n].e, v.mv_data, v.mv_size);
			}
			(*n)++;
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
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

static void discard(struct service *svc, const char *id, const char *why)
{
	struct isobox_err e;

	docker_container_remove(&svc->docker, id, &e);
	entry_del(svc, id);
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

static void fill_one(struct service *svc, const struct lang *lang,
		     const struct limits *shape)
{
	struct isobox_err e;
	struct pool_entry ent;
	struct spec_desc d;
	json_object *spec;
	char *id = NULL;
	char rid[40];
	int rc;

	snprintf(rid, sizeof(rid), "pool-%lld", (long long)wall_ms());
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
		return;
	}
	json_object_put(spec);
	if (docker_container_start(&svc->docker, id, &e) < 0) {
		log_warn("pool: starting %.12s failed: %s", id, e.msg);
		docker_container_remove(&svc->docker, id, &e);
		free(id);
		return;
	}
	memset(&ent, 0, sizeof(ent));
	ent.version = 1;
	ent.state = POOL_READY;
	ent.created_ms = wall_ms();
	ent.memory_bytes = shape->memory_bytes;
	ent.tmpfs_bytes = shape->tmpfs_bytes;
	ent.pids = shape->pids;
	ent.cpus = shape->cpus;
	snprintf(ent.lang, sizeof(ent.lang), "%s", lang->name);
	snprintf(ent.image, sizeof(ent.image), "%s", lang->image_ref);
	rc = entry_put(svc, id, &ent);
	if (rc != 0) {
		log_warn("pool: recording %.12s failed: %s", id,
			 mdb_strerror(rc));
		docker_container_remove(&svc->docker, id, &e);
	}
	free(id);
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

	if (svc->store.env == NULL) {
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
			if (strcmp(reg->langs[j].name, pe->lang) == 0) {
				l = &reg->langs[j];
			}
		}
		if (pe->state == POOL_CLAIMED) {
			/* In use; its claimer removes it. If the claimer
			 * died, nobody will. */
			if (!service_owner_alive(svc, pe->owner)) {
				discard(svc, rows[i].id, "claimer died");
			}
			continue;
		}
		if (now - pe->created_ms >= svc->cfg.pool_ttl_ms) {
			discard(svc, rows[i].id, "expired");
		} else if (!container_running(list, rows[i].id)) {
			discard(svc, rows[i].id, "not running");
		} else if (l == NULL || l->image_ref == NULL ||
			   strcmp(l->image_ref, pe->image) != 0 ||
			   !lang_pooled(svc, pe->lang)) {
			discard(svc, rows[i].id, "catalogue changed");
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
		    l->compile != NULL) {
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
			if (!admit_fits(svc, spec_memory(l, &shape))) {
				break;
			}
			fill_one(svc, l, &shape);
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
	if (svc->store.env == NULL) {
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

	if (svc->store.env == NULL) {
		return;
	}
	/* Ours, and those whose maker died (e.g. SIGKILL): when the last
	 * process stops, nobody else would remove them. */
	list = pool_containers(svc, &e);
	for (i = 0; list && i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		json_object *v;
		json_object *labels;
		MDB_txn *txn;
		MDB_val k;
		MDB_val val;
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
		k.mv_size = strlen(id);
		k.mv_data = (void *)id;
		/* Take it out of the pool only while nobody has claimed it. */
		if (mdb_txn_begin(svc->store.env, NULL, 0, &txn) != 0) {
			continue;
		}
		if (mdb_get(txn, svc->store.pool, &k, &val) == 0 &&
		    val.mv_size == sizeof(struct pool_entry)) {
			struct pool_entry pe;

			memcpy(&pe, val.mv_data, sizeof(pe));
			mine = pe.state == POOL_READY &&
			       mdb_del(txn, svc->store.pool, &k, NULL) == 0;
		} else {
			mine = 1; /* never recorded: a stray */
		}
		if (mine && mdb_txn_commit(txn) == 0) {
			docker_container_remove(&svc->docker, id, &e);
			n++;
		} else if (!mine) {
			mdb_txn_abort(txn);
		}
	}
	json_object_put(list);
	if (n) {
		log_info("pool: removed %d warm sandboxes at shutdown", n);
	}
}
