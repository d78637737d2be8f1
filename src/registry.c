/* registry.c - the language catalogue: the *.yaml files of registry/ (format in
 * registry.h) loaded all-or-nothing, local images pinned through the images
 * lock file, lookups by name, alias and version, and the process-wide
 * current catalogue that reloads swap under a mutex with reference counts.
 *
 * Images lock file format, one image per line (blank lines and lines that
 * start with '#' are skipped; a later line for the same name wins):
 *
 *     isobox/python sha256:<64 lower-case hex>
 */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "wire.h"
#include "yamlutil.h"

#define REG_STATUS 500
#define REG_CODE   "config_invalid"
#define ID_MAX	   64
#define DIGEST_HEX 64

/* ---- images lock ---- */

struct lock_entry {
	char *name;
	char *id; /* "sha256:<hex>" */
};

struct lock_file {
	struct lock_entry *e;
	size_t n;
};

static int sha256_ok(const char *s)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) != 0) {
		return 0;
	}
	for (i = 0; i < DIGEST_HEX; i++) {
		char c = s[7 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return s[7 + DIGEST_HEX] == '\0';
}

/* Characters of an image repository or local image name. */
static int image_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '/' || c == ':')) {
			return 0;
		}
	}
	return 1;
}

static void lock_free(struct lock_file *lk)
{
	size_t i;

	for (i = 0; i < lk->n; i++) {
		free(lk->e[i].name);
		free(lk->e[i].id);
	}
	free(lk->e);
	lk->e = NULL;
	lk->n = 0;
}

static const char *lock_find(const struct lock_file *lk, const char *name)
{
	size_t i;

	/* Last match wins, so a rebuilt image appended later overrides. */
	for (i = lk->n; i > 0; i--) {
		if (strcmp(lk->e[i - 1].name, name) == 0) {
			return lk->e[i - 1].id;
		}
	}
	return NULL;
}

/* Read the lock file at path into lk. A missing file (or a NULL path) is an
 * empty lock, not an error. */
static int lock_read(const char *path, struct lock_file *lk,
		     struct isobox_err *err)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;
	int rc = -1;

	memset(lk, 0, sizeof(*lk));
	if (path == NULL || path[0] == '\0') {
		return 0;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT) {
			return 0;
		}
		return err_set(err, REG_STATUS, REG_CODE, "%s: cannot open: %s",
			       path, strerror(errno));
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *save = NULL;
		char *name;
		char *id;
		char *extra;

		lineno++;
		if (memchr(line, '\0', (size_t)len) != NULL) {
			err_set(err, REG_STATUS, REG_CODE,
				"%s:%d: a NUL byte is not allowed", path,
				lineno);
			goto fail;
		}
		name = strtok_r(line, " \t\r\n", &save);
		if (name == NULL || name[0] == '#') {
			continue;
		}
		id = strtok_r(NULL, " \t\r\n", &save);
		extra = id ? strtok_r(NULL, " \t\r\n", &save) : NULL;
		if (id == NULL || extra != NULL ||
		    !image_name_ok(name, strlen(name)) || !sha256_ok(id)) {
			err_set(err, REG_STATUS, REG_CODE,
				"%s:%d: expected \"IMAGE sha256:<64 hex>\"",
				path, lineno);
			goto fail;
		}
		lk->e = xrealloc(lk->e, (lk->n + 1) * sizeof(*lk->e));
		lk->e[lk->n].name = xstrdup(name);
		lk->e[lk->n].id = xstrdup(id);
		lk->n++;
	}
	if (ferror(f)) {
		err_set(err, REG_STATUS, REG_CODE, "%s: read error", path);
		goto fail;
	}
	rc = 0;
fail:
	free(line);
	fclose(f);
	if (rc < 0) {
		lock_free(lk);
	}
	return rc;
}

/* ---- parsing one catalogue file ---- */

/* Where each entry came from, for messages about clashes between entries
 * that may sit in different files. */
struct lang_meta {
	const char *file; /* borrowed from the load's file list */
	int line;
	int alias_line;
};

struct load_ctx {
	struct lang *langs;
	struct lang_meta *meta;
	size_t n;
	size_t cap;
	const struct lock_file *lock;
};

static const char *const lang_allowed[] = {
    "name",	  "version", "aliases",	    "image",
    "source",	  "compile", "run",	    "env",
    "tmpfs_exec", "limits",  "prestart",    "prestartStage",
    "kernel",	  "pool",    "runPrestart", "prestartFifo",
    NULL,
};

static const char *const lang_required[] = {"name",   "version", "image",
					    "source", "run",	 NULL};

/* Language names and aliases: lower-case [a-z0-9+_-], 1..ID_MAX bytes. */
static int ident_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '_' || c == '-')) {
			return 0;
		}
	}
	return i > 0 && i <= ID_MAX;
}

/* Versions: [A-Za-z0-9._+-], 1..ID_MAX bytes. */
static int version_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '+' ||
		      c == '_' || c == '-')) {
			return 0;
		}
	}
	return i > 0 && i <= ID_MAX;
}

static int env_key_ok(const char *s)
{
	size_t i;

	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
	      s[0] == '_')) {
		return 0;
	}
	for (i = 1; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_')) {
			return 0;
		}
	}
	return 1;
}

static void lang_free(struct lang *l)
{
	free(l->name);
	free(l->version);
	strv_free(l->aliases);
	free(l->image);
	free(l->image_ref);
	free(l->source);
	strv_free(l->compile);
	strv_free(l->run);
	strv_free(l->prestart);
	strv_free(l->run_prestart);
	free(l->prestart_fifo);
	strv_free(l->kernel);
	strv_free(l->env);
	memset(l, 0, sizeof(*l));
}

static int parse_image(struct yamlutil_doc *d, yaml_node_t *n, struct lang *l,
		       const struct lock_file *lock, struct isobox_err *err)
{
	const char *at;
	const char *ref;

	if (yamlutil_to_str(d, n, "image", &l->image, err) < 0) {
		return -1;
	}
	at = strchr(l->image, '@');
	if (at != NULL) {
		if (!image_name_ok(l->image, (size_t)(at - l->image)) ||
		    !sha256_ok(at + 1)) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: image: '%.200s' is not "
				       "REPO@sha256:<64 hex>",
				       d->file, yamlutil_line(n), l->image);
		}
		l->image_ref = xstrdup(l->image);
		l->image_local = 0;
		return 0;
	}
	if (!image_name_ok(l->image, strlen(l->image))) {
		return err_set(err, REG_STATUS, REG_CODE,
			       "%s:%d: image: '%.200s' is not an image name",
			       d->file, yamlutil_line(n), l->image);
	}
	l->image_local = 1;
	ref = lock_find(lock, l->image);
	if (ref != NULL) {
		l->image_ref = xstrdup(ref);
	}
	return 0;
}

/* "pool: {max: N, idle_ms: M}": the warm pool's bounds for this language
 * (pool.h); absent fields stay -1 (the config's defaults). */
static int parse_pool(struct yamlutil_doc *d, yaml_node_t *n, struct lang *l,
		      struct isobox_err *err)
{
	static const char *const allowed[] = {"max", "idle_ms", NULL};
	yaml_node_t *v;
	long long x;

	l->pool_max = -1;
	l->pool_idle_ms = -1;
	if (n == NULL) {
		return 0;
	}
	if (yamlutil_map_check(d, n, allowed, "pool", err) < 0) {
		return -1;
	}
	v = yamlutil_map_get(d, n, "max");
	if (v != NULL) {
		if (yamlutil_to_ll(d, v, "pool.max", &x, err) < 0) {
			return -1;
		}
		if (x < 0 || x > 64) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: pool.max: must be 0..64",
				       d->file, yamlutil_line(v));
		}
		l->pool_max = (int)x;
	}
	v = yamlutil_map_get(d, n, "idle_ms");
	if (v != NULL) {
		if (yamlutil_to_ll(d, v, "pool.idle_ms", &x, err) < 0) {
			return -1;
		}
		if (x < 1000 || x > 86400000) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: pool.idle_ms: must be "
				       "1000..86400000",
				       d->file, yamlutil_line(v));
		}
		l->pool_idle_ms = x;
	}
	return 0;
}

static int parse_env(struct yamlutil_doc *d, yaml_node_t *n, struct lang *l,
		     struct isobox_err *err)
{
	yaml_node_pair_t *p;
	size_t count;
	size_t i = 0;

	if (yamlutil_map_expect(d, n, "env", err) < 0) {
		return -1;
	}
	count =
	    (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	l->env = xcalloc(count + 1, sizeof(*l->env));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&d->doc, p->value);
		const char *key = (const char *)k->data.scalar.value;
		char vkey[128];
		char *val;

		if (!env_key_ok(key)) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: env: '%.64s' is not a variable "
				       "name",
				       d->file, yamlutil_line(k), key);
		}
		snprintf(vkey, sizeof(vkey), "env.%s", key);
		if (yamlutil_is_null(v)) {
			val = xstrdup("");
		} else if (yamlutil_to_str(d, v, vkey, &val, err) < 0) {
			return -1;
		}
		l->env[i++] = xasprintf("%s=%s", key, val);
		free(val);
	}
	return 0;
}

/* "prestartStage": which stage the "prestart" bootstrap stands in for.
 * "run" (the default) needs an interpreted language; "compile" needs a
 * compile stage, and its bootstrap is handed the compile argv instead (a
 * compiler server: the run stage then runs the ordinary way). */
static int parse_prestart_stage(struct yamlutil_doc *d, yaml_node_t *n,
				struct lang *l, struct isobox_err *err)
{
	yaml_node_t *v = yamlutil_map_get(d, n, "prestartStage");
	yaml_node_t *pv = yamlutil_map_get(d, n, "prestart");
	char *stage = NULL;

	if (v != NULL) {
		if (yamlutil_to_str(d, v, "prestartStage", &stage, err) < 0) {
			return -1;
		}
		if (strcmp(stage, "compile") == 0) {
			l->prestart_compile = 1;
		} else if (strcmp(stage, "run") != 0) {
			free(stage);
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: prestartStage: must be run or "
				       "compile",
				       d->file, yamlutil_line(v));
		}
		free(stage);
		if (l->prestart == NULL) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: prestartStage: needs a prestart",
				       d->file, yamlutil_line(v));
		}
	}
	if (l->prestart == NULL) {
		return 0;
	}
	if (l->prestart_compile && l->compile == NULL) {
		return err_set(err, REG_STATUS, REG_CODE,
			       "%s:%d: prestartStage: compile needs a compile "
			       "stage",
			       d->file, yamlutil_line(v));
	}
	if (!l->prestart_compile && l->compile != NULL) {
		return err_set(err, REG_STATUS, REG_CODE,
			       "%s:%d: prestart: only an interpreted "
			       "language (no compile) can be "
			       "prestarted at its run stage "
			       "(prestartStage: compile prestarts its "
			       "compiler)",
			       d->file, yamlutil_line(pv));
	}
	return 0;
}

/* Parse the entry at node n (the idx-th of its file) into l. On error l may
 * hold partial results; the caller frees it with lang_free. */
static int parse_lang(struct yamlutil_doc *d, yaml_node_t *n, size_t idx,
		      const struct lock_file *lock, struct lang *l,
		      struct lang_meta *m, struct isobox_err *err)
{
	char where[48];
	yaml_node_t *v;
	size_t i;

	snprintf(where, sizeof(where), "languages[%zu]", idx);
	if (yamlutil_map_check(d, n, lang_allowed, where, err) < 0) {
		return -1;
	}
	m->line = yamlutil_line(n);
	m->alias_line = m->line;
	for (i = 0; lang_required[i] != NULL; i++) {
		if (yamlutil_map_get(d, n, lang_required[i]) == NULL) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: %s: missing required key '%s'",
				       d->file, m->line, where,
				       lang_required[i]);
		}
	}

	v = yamlutil_map_get(d, n, "name");
	if (yamlutil_to_str(d, v, "name", &l->name, err) < 0) {
		return -1;
	}
	if (!ident_ok(l->name)) {
		return err_set(err, REG_STATUS, REG_CODE,
			       "%s:%d: name: '%.64s' must be 1-64 of "
			       "[a-z0-9+_-]",
			       d->file, yamlutil_line(v), l->name);
	}
	v = yamlutil_map_get(d, n, "version");
	if (yamlutil_to_str(d, v, "version", &l->version, err) < 0) {
		return -1;
	}
	if (!version_ok(l->version)) {
		return err_set(err, REG_STATUS, REG_CODE,
			       "%s:%d: version: '%.64s' must be 1-64 of "
			       "[A-Za-z0-9._+-]",
			       d->file, yamlutil_line(v), l->version);
	}

	v = yamlutil_map_get(d, n, "aliases");
	if (v != NULL) {
		m->alias_line = yamlutil_line(v);
		if (yamlutil_to_strv(d, v, "aliases", &l->aliases, err) < 0) {
			return -1;
		}
		for (i = 0; l->aliases[i] != NULL; i++) {
			if (!ident_ok(l->aliases[i])) {
				return err_set(err, REG_STATUS, REG_CODE,
					       "%s:%d: aliases: '%.64s' must "
					       "be 1-64 of [a-z0-9+_-]",
					       d->file, yamlutil_line(v),
					       l->aliases[i]);
			}
		}
	} else {
		l->aliases = xcalloc(1, sizeof(*l->aliases));
	}

	v = yamlutil_map_get(d, n, "image");
	if (parse_image(d, v, l, lock, err) < 0) {
		return -1;
	}

	v = yamlutil_map_get(d, n, "source");
	if (yamlutil_to_str(d, v, "source", &l->source, err) < 0) {
		return -1;
	}
	if (wire_name_ok(l->source, strlen(l->source)) < 0) {
		return err_set(err, REG_STATUS, REG_CODE,
			       "%s:%d: source: '%.64s' is not a safe relative "
			       "file name",
			       d->file, yamlutil_line(v), l->source);
	}

	v = yamlutil_map_get(d, n, "compile");
	if (v != NULL) {
		if (yamlutil_to_strv(d, v, "compile", &l->compile, err) < 0) {
			return -1;
		}
		if (l->compile[0] == NULL) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: compile: must not be empty",
				       d->file, yamlutil_line(v));
		}
	}
	v = yamlutil_map_get(d, n, "run");
	if (yamlutil_to_strv(d, v, "run", &l->run, err) < 0) {
		return -1;
	}
	if (l->run[0] == NULL) {
		return err_set(err, REG_STATUS, REG_CODE,
			       "%s:%d: run: must not be empty", d->file,
			       yamlutil_line(v));
	}
	v = yamlutil_map_get(d, n, "prestart");
	if (v != NULL) {
		if (yamlutil_to_strv(d, v, "prestart", &l->prestart, err) < 0) {
			return -1;
		}
		if (l->prestart[0] == NULL) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: prestart: must not be empty",
				       d->file, yamlutil_line(v));
		}
	}
	if (parse_prestart_stage(d, n, l, err) < 0) {
		return -1;
	}
	/* "prestartFifo": where an in-process bootstrap is handed its argv
	 * instead of fd 3 (registry.h). */
	v = yamlutil_map_get(d, n, "prestartFifo");
	if (v != NULL) {
		if (yamlutil_to_str(d, v, "prestartFifo", &l->prestart_fifo,
				    err) < 0) {
			return -1;
		}
		if (l->prestart_fifo[0] != '/' || l->prestart == NULL ||
		    l->prestart_compile) {
			return err_set(
			    err, REG_STATUS, REG_CODE,
			    "%s:%d: prestartFifo: must be an absolute "
			    "path, and needs a run-stage prestart",
			    d->file, yamlutil_line(v));
		}
	}
	/* "runPrestart": the run stage's bootstrap beside a compiler server
	 * (registry.h). */
	v = yamlutil_map_get(d, n, "runPrestart");
	if (v != NULL) {
		if (yamlutil_to_strv(d, v, "runPrestart", &l->run_prestart,
				     err) < 0) {
			return -1;
		}
		if (l->run_prestart[0] == NULL || !l->prestart_compile) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: runPrestart: must not be empty, "
				       "and needs prestartStage: compile",
				       d->file, yamlutil_line(v));
		}
	}

	v = yamlutil_map_get(d, n, "kernel");
	if (v != NULL) {
		if (yamlutil_to_strv(d, v, "kernel", &l->kernel, err) < 0) {
			return -1;
		}
		if (l->kernel[0] == NULL) {
			return err_set(err, REG_STATUS, REG_CODE,
				       "%s:%d: kernel: must not be empty",
				       d->file, yamlutil_line(v));
		}
	}

	v = yamlutil_map_get(d, n, "env");
	if (v != NULL) {
		if (parse_env(d, v, l, err) < 0) {
			return -1;
		}
	} else {
		l->env = xcalloc(1, sizeof(*l->env));
	}
	v = yamlutil_map_get(d, n, "tmpfs_exec");
	if (v != NULL &&
	    yamlutil_to_bool(d, v, "tmpfs_exec", &l->tmpfs_exec, err) < 0) {
		return -1;
	}
	v = yamlutil_map_get(d, n, "limits");
	if (v != NULL &&
	    yamlutil_to_limits(d, v, "limits", &l->limits, err) < 0) {
		return -1;
	}
	return parse_pool(d, yamlutil_map_get(d, n, "pool"), l, err);
}

static int load_file(struct load_ctx *ctx, const char *file,
		     struct isobox_err *err)
{
	static const char *const top_allowed[] = {"languages", NULL};
	struct yamlutil_doc d;
	yaml_node_t *root;
	yaml_node_t *list;
	yaml_node_item_t *it;
	size_t idx = 0;
	int rc = -1;

	if (yamlutil_load_file(&d, file, err) < 0) {
		return -1;
	}
	root = yamlutil_root(&d);
	if (root == NULL) {
		err_set(err, REG_STATUS, REG_CODE,
			"%s: empty file (expected a 'languages' list)", file);
		goto out;
	}
	if (yamlutil_map_check(&d, root, top_allowed, "", err) < 0) {
		goto out;
	}
	list = yamlutil_map_get(&d, root, "languages");
	if (list == NULL || list->type != YAML_SEQUENCE_NODE) {
		err_set(err, REG_STATUS, REG_CODE,
			"%s:%d: languages: expected a list of languages", file,
			list ? yamlutil_line(list) : yamlutil_line(root));
		goto out;
	}
	for (it = list->data.sequence.items.start;
	     it < list->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(&d.doc, *it);
		struct lang *l;
		struct lang_meta *m;

		if (ctx->n == ctx->cap) {
			ctx->cap = ctx->cap ? ctx->cap * 2 : 16;
			ctx->langs = xrealloc(ctx->langs,
					      ctx->cap * sizeof(*ctx->langs));
			ctx->meta =
			    xrealloc(ctx->meta, ctx->cap * sizeof(*ctx->meta));
		}
		l = &ctx->langs[ctx->n];
		m = &ctx->meta[ctx->n];
		memset(l, 0, sizeof(*l));
		memset(m, 0, sizeof(*m));
		m->file = file;
		if (parse_lang(&d, n, idx, ctx->lock, l, m, err) < 0) {
			lang_free(l);
			goto out;
		}
		ctx->n++;
		idx++;
	}
	rc = 0;
out:
	yamlutil_free(&d);
	return rc;
}

/* ---- whole catalogue ---- */

static int has_ident(const struct lang *l, const char *id)
{
	size_t i;

	if (strcmp(l->name, id) == 0) {
		return 1;
	}
	for (i = 0; l->aliases[i] != NULL; i++) {
		if (strcmp(l->aliases[i], id) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Every (name, version) is unique, and a name or alias leads to one
 * language name only: versions of one language may share aliases, two
 * languages may not. */
static int check_unique(const struct load_ctx *ctx, struct isobox_err *err)
{
	size_t i;
	size_t j;
	size_t a;

	for (j = 0; j < ctx->n; j++) {
		const struct lang *lj = &ctx->langs[j];
		const struct lang_meta *mj = &ctx->meta[j];

		for (i = 0; i < j; i++) {
			const struct lang *li = &ctx->langs[i];
			const struct lang_meta *mi = &ctx->meta[i];

			if (strcmp(li->name, lj->name) == 0) {
				if (strcmp(li->version, lj->version) == 0) {
					return err_set(
					    err, REG_STATUS, REG_CODE,
					    "%s:%d: %s %s is already "
					    "defined at %s:%d",
					    mj->file, mj->line, lj->name,
					    lj->version, mi->file, mi->line);
				}
				continue;
			}
			if (has_ident(li, lj->name)) {
				return err_set(err, REG_STATUS, REG_CODE,
					       "%s:%d: name '%s' is already "
					       "used by %s at %s:%d",
					       mj->file, mj->line, lj->name,
					       li->name, mi->file, mi->line);
			}
			for (a = 0; lj->aliases[a] != NULL; a++) {
				if (has_ident(li, lj->aliases[a])) {
					return err_set(
					    err, REG_STATUS, REG_CODE,
					    "%s:%d: alias '%s' of %s is "
					    "already used by %s at %s:%d",
					    mj->file, mj->alias_line,
					    lj->aliases[a], lj->name, li->name,
					    mi->file, mi->line);
				}
			}
		}
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The catalogue files under path: every regular *.yaml of a directory
 * (hidden files skipped), sorted, or path itself. NULL-terminated. */
static char **list_files(const char *path, struct isobox_err *err)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	if (stat(path, &st) < 0) {
		err_set(err, REG_STATUS, REG_CODE, "%s: %s", path,
			strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		v = xcalloc(2, sizeof(*v));
		v[0] = xstrdup(path);
		return v;
	}
	dir = opendir(path);
	if (dir == NULL) {
		err_set(err, REG_STATUS, REG_CODE, "%s: %s", path,
			strerror(errno));
		return NULL;
	}
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);
		char *full;

		if (de->d_name[0] == '.' || len <= 5 ||
		    strcmp(de->d_name + len - 5, ".yaml") != 0) {
			continue;
		}
		full = xasprintf("%s/%s", path, de->d_name);
		if (stat(full, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(full);
			continue;
		}
		v = xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = full;
		v[n] = NULL;
	}
	closedir(dir);
	if (n == 0) {
		err_set(err, REG_STATUS, REG_CODE, "%s: no *.yaml files", path);
		return NULL;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	return v;
}

/* One line naming the languages whose local image the lock does not pin:
 * they load, but every run of them will fail until the image is built. */
static void warn_unpinned(const struct load_ctx *ctx, const char *lock_path)
{
	struct buf names = {0};
	size_t i;

	for (i = 0; i < ctx->n; i++) {
		const struct lang *l = &ctx->langs[i];

		if (l->image_ref == NULL) {
			buf_addf(&names, "%s%s %s (%s)", names.len ? ", " : "",
				 l->name, l->version, l->image);
		}
	}
	if (names.len > 0) {
		log_warn("registry: no pinned image in %s for: %s",
			 lock_path ? lock_path : "(no lock file)", names.p);
	}
	buf_free(&names);
}

struct registry *registry_load(const char *path, const char *lock_path,
			       struct isobox_err *err)
{
	struct load_ctx ctx;
	struct lock_file lock;
	struct registry *r = NULL;
	char **files = NULL;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	if (lock_read(lock_path, &lock, err) < 0) {
		return NULL;
	}
	ctx.lock = &lock;
	files = list_files(path, err);
	if (files == NULL) {
		goto fail;
	}
	for (i = 0; files[i] != NULL; i++) {
		if (load_file(&ctx, files[i], err) < 0) {
			goto fail;
		}
	}
	if (ctx.n == 0) {
		err_set(err, REG_STATUS, REG_CODE, "%s: no languages", path);
		goto fail;
	}
	if (check_unique(&ctx, err) < 0) {
		goto fail;
	}
	warn_unpinned(&ctx, lock_path);
	r = xcalloc(1, sizeof(*r));
	r->refs = 1;
	r->langs = ctx.langs;
	r->n = ctx.n;
	r->origin = xstrdup(path);
	ctx.langs = NULL;
fail:
	if (ctx.langs != NULL) {
		for (i = 0; i < ctx.n; i++) {
			lang_free(&ctx.langs[i]);
		}
		free(ctx.langs);
	}
	free(ctx.meta);
	strv_free(files);
	lock_free(&lock);
	return r;
}

void registry_free(struct registry *r)
{
	size_t i;

	if (r == NULL) {
		return;
	}
	for (i = 0; i < r->n; i++) {
		lang_free(&r->langs[i]);
	}
	free(r->langs);
	free(r->origin);
	free(r);
}

/* ---- lookups ---- */

/* Copy untrusted text into out for a message: at most 64 bytes, anything
 * but printable ASCII shown as '?', so the sentence stays valid UTF-8. */
static void safe_copy(char *out, size_t cap, const char *s, size_t n)
{
	size_t i;
	size_t o = 0;

	for (i = 0; i < n && s[i] != '\0' && o + 4 < cap && i < 64; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < n && s[i] != '\0') {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
}

/* The version matches want exactly, or want is a leading run of its
 * dot-separated components ("3.11" matches "3.11.2", not "3.110"). */
static int version_match(const char *have, const char *want, int exact)
{
	size_t n = strlen(want);

	if (exact) {
		return strcmp(have, want) == 0;
	}
	return strncmp(have, want, n) == 0 && have[n] == '.';
}

int registry_is_default(const struct registry *r, const struct lang *l)
{
	size_t j;

	for (j = 0; j < r->n; j++) {
		if (strcmp(r->langs[j].name, l->name) == 0) {
			return &r->langs[j] == l;
		}
	}
	return 0;
}

const struct lang *registry_find(const struct registry *r, const char *spec,
				 const char *version, struct isobox_err *err)
{
	char id[ID_MAX + 1];
	char shown[80];
	const char *at;
	const char *ver = version;
	const char *name = NULL;
	size_t idlen;
	size_t i;
	int pass;
	struct buf list = {0};

	if (spec == NULL || spec[0] == '\0') {
		err_set(err, 400, "language_required", "language is required");
		return NULL;
	}
	at = strchr(spec, '@');
	idlen = at ? (size_t)(at - spec) : strlen(spec);
	if (at != NULL) {
		if (ver != NULL && ver[0] != '\0' && strcmp(ver, at + 1) != 0) {
			char vshown[80];

			safe_copy(shown, sizeof(shown), spec, strlen(spec));
			safe_copy(vshown, sizeof(vshown), ver, strlen(ver));
			err_set(err, 400, "invalid_field",
				"language '%s' and version '%s' disagree",
				shown, vshown);
			return NULL;
		}
		ver = at + 1;
	}
	if (idlen > 0 && idlen <= ID_MAX) {
		memcpy(id, spec, idlen);
		id[idlen] = '\0';
		for (i = 0; r != NULL && i < r->n && name == NULL; i++) {
			const struct lang *l = &r->langs[i];
			size_t a;

			if (strcasecmp(l->name, id) == 0) {
				name = l->name;
			}
			for (a = 0; name == NULL && l->aliases[a] != NULL;
			     a++) {
				if (strcasecmp(l->aliases[a], id) == 0) {
					name = l->name;
				}
			}
		}
	}
	if (name == NULL) {
		safe_copy(shown, sizeof(shown), spec, idlen);
		err_set(err, 400, "unknown_language", "unknown language '%s'",
			shown);
		return NULL;
	}
	/* Exact version first, then a component prefix; the first listed
	 * entry wins at each step. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < r->n; i++) {
			const struct lang *l = &r->langs[i];

			if (strcmp(l->name, name) != 0) {
				continue;
			}
			if (ver == NULL || ver[0] == '\0' ||
			    version_match(l->version, ver, pass == 0)) {
				return l;
			}
		}
	}
	for (i = 0; i < r->n; i++) {
		if (strcmp(r->langs[i].name, name) == 0) {
			buf_adds(&list, list.len ? ", " : "");
			buf_adds(&list, r->langs[i].version);
		}
	}
	safe_copy(shown, sizeof(shown), ver, strlen(ver));
	err_set(err, 400, "unknown_version",
		"unknown version '%s': %s has versions: %s", shown, name,
		list.p);
	buf_free(&list);
	return NULL;
}

/* ---- the current catalogue ---- */

static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;
static struct registry *cur;

void registry_current_set(struct registry *r)
{
	struct registry *old;

	pthread_mutex_lock(&cur_mu);
	old = cur;
	cur = r;
	pthread_mutex_unlock(&cur_mu);
	registry_put(old);
}

struct registry *registry_get(void)
{
	struct registry *r;

	pthread_mutex_lock(&cur_mu);
	r = cur;
	if (r != NULL) {
		r->refs++;
	}
	pthread_mutex_unlock(&cur_mu);
	return r;
}

void registry_put(struct registry *r)
{
	int last;

	if (r == NULL) {
		return;
	}
	pthread_mutex_lock(&cur_mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&cur_mu);
	if (last) {
		registry_free(r);
	}
}

/* ---- reload on change ---- */

struct snap_file {
	char *path;
	int present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* What the files looked like when the current catalogue was loaded. */
struct snap {
	int valid;
	char *path;
	char *lock;
	struct snap_file *f;
	size_t n;
};

static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static struct snap last_snap;

static void snap_free(struct snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->f[i].path);
	}
	free(s->f);
	free(s->path);
	free(s->lock);
	memset(s, 0, sizeof(*s));
}

static void snap_add(struct snap *s, const char *path)
{
	struct snap_file *f;
	struct stat st;

	s->f = xrealloc(s->f, (s->n + 1) * sizeof(*s->f));
	f = &s->f[s->n++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	if (stat(path, &st) == 0) {
		f->present = 1;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->size = st.st_size;
		f->mtime = st.st_mtim;
	}
}

static void snap_take(struct snap *s, const char *path, const char *lock)
{
	char **files;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->valid = 1;
	s->path = xstrdup(path);
	s->lock = xstrdup(lock ? lock : "");
	/* A listing error leaves the file list empty; the load that follows
	 * reports it. */
	files = list_files(path, NULL);
	for (i = 0; files != NULL && files[i] != NULL; i++) {
		snap_add(s, files[i]);
	}
	strv_free(files);
	snap_add(s, s->lock);
}

static int snap_equal(const struct snap *a, const struct snap *b)
{
	size_t i;

	if (!a->valid || !b->valid || a->n != b->n ||
	    strcmp(a->path, b->path) != 0 || strcmp(a->lock, b->lock) != 0) {
		return 0;
	}
	for (i = 0; i < a->n; i++) {
		const struct snap_file *x = &a->f[i];
		const struct snap_file *y = &b->f[i];

		if (strcmp(x->path, y->path) != 0 || x->present != y->present ||
		    x->dev != y->dev || x->ino != y->ino ||
		    x->size != y->size || x->mtime.tv_sec != y->mtime.tv_sec ||
		    x->mtime.tv_nsec != y->mtime.tv_nsec) {
			return 0;
		}
	}
	return 1;
}

int registry_reload(const char *path, const char *lock_path, int force)
{
	struct snap now;
	struct registry *r;
	struct isobox_err err;
	int rc;

	pthread_mutex_lock(&reload_mu);
	/* Snapshot before loading: a change made while we load shows up as
	 * a difference next time rather than being missed. */
	snap_take(&now, path, lock_path);
	if (!force && snap_equal(&now, &last_snap)) {
		snap_free(&now);
		rc = 0;
		goto out;
	}
	r = registry_load(path, lock_path, &err);
	if (r == NULL) {
		log_warn("registry: reload failed, keeping the previous "
			 "catalogue: %s",
			 err.msg);
		rc = -1;
	} else {
		log_info("registry: loaded %zu languages from %s", r->n, path);
		registry_current_set(r);
		rc = 1;
	}
	/* Remember a broken state too, so it is reported once, not on every
	 * poll; fixing the file changes it again. */
	snap_free(&last_snap);
	last_snap = now;
out:
	pthread_mutex_unlock(&reload_mu);
	return rc;
}

void registry_reset(void)
{
	pthread_mutex_lock(&reload_mu);
	snap_free(&last_snap);
	pthread_mutex_unlock(&reload_mu);
	registry_current_set(NULL);
}
