/* yamlutil.h - a small layer over libyaml's document API for the config and
 * the catalogue: load a file, look keys up, convert scalars, and report
 * every problem as "FILE:LINE: KEY: what is wrong".
 *
 * Scalars are taken as written (the document API does not resolve tags):
 * `version: 3.10` is the string "3.10", and `threads: "8"` is accepted as an
 * integer. A plain `~`, `null` or empty value counts as absent where a
 * string is expected only if the caller says so (see yamlutil_is_null). */
#ifndef ISOBOX_YAMLUTIL_H
#define ISOBOX_YAMLUTIL_H

#include <yaml.h>

#include "limits.h"
#include "util.h"

struct yamlutil_doc {
	yaml_document_t doc;
	char *file; /* the path, for messages */
	int loaded;
};

/* Load the first document of the file at path into d. Returns 0, or -1 with
 * err filled: "FILE: cannot open: REASON" or "FILE:LINE:COL: PROBLEM". On
 * error d holds nothing that needs freeing (yamlutil_free is still safe).
 * An empty file loads as a document with no root node. err->status is 500
 * and err->code "config_invalid". */
int yamlutil_load_file(struct yamlutil_doc *d, const char *path,
		       struct isobox_err *err);
void yamlutil_free(struct yamlutil_doc *d);

/* The root node, or NULL for an empty document. */
yaml_node_t *yamlutil_root(struct yamlutil_doc *d);
/* 1-based line of a node (0 for NULL). */
int yamlutil_line(const yaml_node_t *n);
/* 1 if n is a plain scalar ~, null, Null, NULL or empty. */
int yamlutil_is_null(const yaml_node_t *n);

/* The value node of key in mapping map, or NULL when map is not a mapping
 * or has no such key. Borrowed from d. */
yaml_node_t *yamlutil_map_get(struct yamlutil_doc *d, yaml_node_t *map,
			      const char *key);
/* Require map to be a mapping whose keys are scalars, each in allowed
 * (NULL-terminated) and none repeated. where names the mapping in messages
 * ("docker", "languages[2]"; "" for the top level). Returns 0 or -1 with
 * err: "FILE:LINE: unknown key 'KEY' in WHERE" and the like. */
int yamlutil_map_check(struct yamlutil_doc *d, yaml_node_t *map,
		       const char *const *allowed, const char *where,
		       struct isobox_err *err);
/* Like yamlutil_map_check without the allowed list: a mapping with scalar,
 * unique keys. */
int yamlutil_map_expect(struct yamlutil_doc *d, yaml_node_t *map,
			const char *where, struct isobox_err *err);

/* Scalar conversions. key names the value in messages. Each returns 0, or
 * -1 with err "FILE:LINE: KEY: expected an integer, got 'x'" and the like;
 * *out is unchanged on error. */
/* Any scalar (embedded NUL rejected); *out is a fresh string, caller frees. */
int yamlutil_to_str(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		    char **out, struct isobox_err *err);
/* A decimal integer (parse_ll). */
int yamlutil_to_ll(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		   long long *out, struct isobox_err *err);
/* A byte count: decimal with an optional K/M/G(i)(B) suffix (parse_size). */
int yamlutil_to_size(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		     long long *out, struct isobox_err *err);
/* A finite number (parse_double). */
int yamlutil_to_double(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		       double *out, struct isobox_err *err);
/* true/false, yes/no, on/off, 1/0 (parse_bool). */
int yamlutil_to_bool(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		     int *out, struct isobox_err *err);
/* A sequence of scalars (flow or block) into a fresh NULL-terminated vector
 * of fresh strings; caller frees with strv_free. An empty sequence gives a
 * vector holding only NULL. */
int yamlutil_to_strv(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		     char ***out, struct isobox_err *err);
/* A mapping of limit names (limits_field) to numbers, set into p (fields
 * already in p that the mapping does not name are kept). *Bytes fields take
 * size suffixes. Errors name "KEY.FIELD". */
int yamlutil_to_limits(struct yamlutil_doc *d, yaml_node_t *n, const char *key,
		       struct limits_partial *p, struct isobox_err *err);

#endif
