/* yamlutil.c - libyaml document helpers shared by the config and the
 * catalogue loaders: every error names the file, the line and the key. */
#include "yamlutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YU_STATUS 500
#define YU_CODE	  "config_invalid"

/* Limits that are byte counts and so take size suffixes. */
#define BYTE_FIELDS (LIM_MEMORY | LIM_OUTPUT | LIM_COMPILE_MEMORY | LIM_TMPFS)

int yamlutil_load_file(struct yamlutil_doc *d, const char *path,
		       struct isobox_err *err)
{
	yaml_parser_t parser;
	FILE *f;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	f = fopen(path, "rb");
	if (f == NULL) {
		return err_set(err, YU_STATUS, YU_CODE, "%s: cannot open: %s",
			       path, strerror(errno));
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return err_set(err, YU_STATUS, YU_CODE,
			       "%s: cannot start the YAML parser", path);
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &d->doc)) {
		const char *problem =
		    parser.problem ? parser.problem : "malformed YAML";

		if (parser.error == YAML_READER_ERROR) {
			err_set(err, YU_STATUS, YU_CODE, "%s: byte %zu: %s",
				path, parser.problem_offset, problem);
		} else if (parser.context != NULL) {
			err_set(err, YU_STATUS, YU_CODE,
				"%s:%zu:%zu: %s (%s from line %zu)", path,
				parser.problem_mark.line + 1,
				parser.problem_mark.column + 1, problem,
				parser.context, parser.context_mark.line + 1);
		} else {
			err_set(err, YU_STATUS, YU_CODE, "%s:%zu:%zu: %s", path,
				parser.problem_mark.line + 1,
				parser.problem_mark.column + 1, problem);
		}
		goto fail;
	}
	d->loaded = 1;
	d->file = xstrdup(path);
	rc = 0;
fail:
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

void yamlutil_free(struct yamlutil_doc *d)
{
	if (d->loaded) {
		yaml_document_delete(&d->doc);
	}
	free(d->file);
	memset(d, 0, sizeof(*d));
}

yaml_node_t *yamlutil_root(struct yamlutil_doc *d)
{
	if (!d->loaded) {
		return NULL;
	}
	return yaml_document_get_root_node(&d->doc);
}

int yamlutil_line(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 0;
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

int yamlutil_is_null(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		return 0;
	}
	return scalar_is(n, "") || scalar_is(n, "~") || scalar_is(n, "null") ||
	       scalar_is(n, "Null") || scalar_is(n, "NULL");
}

yaml_node_t *yamlutil_map_get(struct yamlutil_doc *d, yaml_node_t *map,
			      const char *key)
{
	yaml_node_pair_t *p;

	if (map == NULL || map->type != YAML_MAPPING_NODE) {
		return NULL;
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);

		if (k != NULL && scalar_is(k, key)) {
			return yaml_document_get_node(&d->doc, p->value);
		}
	}
	return NULL;
}

/* A short printable rendering of a node for messages. */
static void describe(const yaml_node_t *n, char *out, size_t cap)
{
	size_t i;
	size_t len;
	size_t o = 0;

	if (n == NULL) {
		snprintf(out, cap, "nothing");
		return;
	}
	if (n->type == YAML_MAPPING_NODE) {
		snprintf(out, cap, "a mapping");
		return;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		snprintf(out, cap, "a list");
		return;
	}
	len = n->data.scalar.length;
	if (cap < 8) {
		out[0] = '\0';
		return;
	}
	out[o++] = '\'';
	for (i = 0; i < len && o + 5 < cap; i++) {
		unsigned char c = n->data.scalar.value[i];

		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (i < len) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o++] = '\'';
	out[o] = '\0';
}

static int type_err(struct yamlutil_doc *d, const yaml_node_t *n,
		    const char *key, const char *want, struct isobox_err *err)
{
	char got[72];

	describe(n, got, sizeof(got));
	return err_set(err, YU_STATUS, YU_CODE,
		       "%s:%d: %s: expected %s, got %s", d->file,
		       yamlutil_line(n), key, want, got);
}

static int check_map(struct yamlutil_doc *d, yaml_node_t *map,
		     const char *const *allowed, const char *where,
		     struct isobox_err *err)
{
	yaml_node_pair_t *p;
	yaml_node_pair_t *q;
	const char *in = where[0] ? " in " : "";

	if (map == NULL || map->type != YAML_MAPPING_NODE) {
		return type_err(d, map, where[0] ? where : "document",
				"a mapping", err);
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
		const char *ks;
		size_t i;
		int ok = allowed == NULL;

		/* A NUL byte ("\0" in a quoted key) would make two keys that
		 * differ after it look alike to every strcmp that follows. */
		if (k == NULL || k->type != YAML_SCALAR_NODE ||
		    memchr(k->data.scalar.value, '\0', k->data.scalar.length) !=
			NULL) {
			return err_set(err, YU_STATUS, YU_CODE,
				       "%s:%d: keys%s%s must be plain words",
				       d->file, yamlutil_line(k), in, where);
		}
		ks = (const char *)k->data.scalar.value;
		for (i = 0; !ok && allowed[i] != NULL; i++) {
			ok = scalar_is(k, allowed[i]);
		}
		if (!ok) {
			char kd[72];

			describe(k, kd, sizeof(kd));
			return err_set(err, YU_STATUS, YU_CODE,
				       "%s:%d: unknown key %s%s%s", d->file,
				       yamlutil_line(k), kd, in, where);
		}
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 =
			    yaml_document_get_node(&d->doc, q->key);

			if (k2 != NULL && k2->type == YAML_SCALAR_NODE &&
			    k2->data.scalar.length == k->data.scalar.length &&
			    memcmp(k2->data.scalar.value, ks,
				   k->data.scalar.length) == 0) {
				char kd[72];

				describe(k, kd, sizeof(kd));
				return err_set(err, YU_STATUS, YU_CODE,
					       "%s:%d: duplicate key %s%s%s "
					       "(first on line %d)",
					       d->file, yamlutil_line(k), kd,
					       in, where, yamlutil_line(k2));
			}
		}
	}
	return 0;
}

int yamlutil_map_check(struct yamlutil_doc *d, yaml_node_t *map,
		       const char *const *allowed, const char *where,
		       struct isobox_err *err)
{
	static const char *const none[] = {NULL};

	return check_map(d, map, allowed ? allowed : none, where, err);
}

int yamlutil_map_expect(struct yamlutil_doc *d, yaml_node_t *map,
			const char *where, struct isobox_err *err)
{
	return check_map(d, map, NULL, where, err);
}

/* The text of scalar n, or NULL (with err) if n is not a scalar or holds a
 * NUL byte (which "\0" escapes can put there). Borrowed from d. */
static const char *scalar_text(struct yamlutil_doc *d, yaml_node_t *n,
			       const char *key, const char *want,
			       struct isobox_err *err)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE) {
		type_err(d, n, key, want, err);
		return NULL;
	}
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL) {
		err_set(err, YU_STATUS, YU_CODE,
			"%s:%d: %s: a NUL byte is not allowed", d->file,
			yamlutil_line(n), key);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

int yamlutil_to_str(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		    char **out, struct isobox_err *err)
{
	const char *s = scalar_text(d, n, key, "a string", err);

	if (s == NULL) {
		return -1;
	}
	*out = xstrndup(s, n->data.scalar.length);
	return 0;
}

int yamlutil_to_ll(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		   long long *out, struct isobox_err *err)
{
	const char *s = scalar_text(d, n, key, "an integer", err);

	if (s == NULL) {
		return -1;
	}
	if (parse_ll(s, out) < 0) {
		return type_err(d, n, key, "an integer", err);
	}
	return 0;
}

int yamlutil_to_size(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		     long long *out, struct isobox_err *err)
{
	const char *s = scalar_text(d, n, key, "a byte count", err);

	if (s == NULL) {
		return -1;
	}
	if (parse_size(s, out) < 0) {
		return type_err(d, n, key,
				"a byte count (e.g. 268435456 or 256MiB)", err);
	}
	return 0;
}

int yamlutil_to_double(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		       double *out, struct isobox_err *err)
{
	const char *s = scalar_text(d, n, key, "a number", err);

	if (s == NULL) {
		return -1;
	}
	if (parse_double(s, out) < 0) {
		return type_err(d, n, key, "a number", err);
	}
	return 0;
}

int yamlutil_to_bool(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		     int *out, struct isobox_err *err)
{
	const char *s = scalar_text(d, n, key, "true or false", err);

	if (s == NULL) {
		return -1;
	}
	if (parse_bool(s, out) < 0) {
		return type_err(d, n, key, "true or false", err);
	}
	return 0;
}

int yamlutil_to_strv(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		     char ***out, struct isobox_err *err)
{
	yaml_node_item_t *it;
	char **v;
	size_t count;
	size_t i = 0;

	if (n == NULL || n->type != YAML_SEQUENCE_NODE) {
		return type_err(d, n, key, "a list of strings", err);
	}
	count =
	    (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	v = xcalloc(count + 1, sizeof(*v));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *e = yaml_document_get_node(&d->doc, *it);
		char ekey[160];

		snprintf(ekey, sizeof(ekey), "%s[%zu]", key, i);
		if (yamlutil_to_str(d, e, ekey, &v[i], err) < 0) {
			goto fail;
		}
		i++;
	}
	*out = v;
	return 0;
fail:
	strv_free(v);
	return -1;
}

int yamlutil_to_limits(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		       struct limits_partial *p, struct isobox_err *err)
{
	struct limits_partial tmp = *p;
	yaml_node_pair_t *pr;

	if (yamlutil_map_expect(d, n, key, err) < 0) {
		return -1;
	}
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(&d->doc, pr->value);
		const char *name = (const char *)k->data.scalar.value;
		unsigned bit = limits_field(name);
		char fkey[160];
		double val;

		if (bit == 0) {
			char kd[72];

			describe(k, kd, sizeof(kd));
			return err_set(err, YU_STATUS, YU_CODE,
				       "%s:%d: unknown key %s in %s", d->file,
				       yamlutil_line(k), kd, key);
		}
		snprintf(fkey, sizeof(fkey), "%s.%s", key, name);
		if (bit == LIM_CPUS) {
			if (yamlutil_to_double(d, v, fkey, &val, err) < 0) {
				return -1;
			}
		} else if (bit & BYTE_FIELDS) {
			long long ll;

			if (yamlutil_to_size(d, v, fkey, &ll, err) < 0) {
				return -1;
			}
			val = (double)ll;
		} else {
			long long ll;

			if (yamlutil_to_ll(d, v, fkey, &ll, err) < 0) {
				return -1;
			}
			val = (double)ll;
		}
		if (limits_set(&tmp, bit, val) < 0) {
			return err_set(err, YU_STATUS, YU_CODE,
				       "%s:%d: %s: must be a non-negative "
				       "number",
				       d->file, yamlutil_line(v), fkey);
		}
	}
	*p = tmp;
	return 0;
}
