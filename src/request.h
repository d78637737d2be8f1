/* request.h - parsing and validating the JSON body of an execution
 * request (POST /execute) into plain C data. Pure: no I/O, so the unit tests
 * and the fuzzer drive it directly. */
#ifndef ISOBOX_REQUEST_H
#define ISOBOX_REQUEST_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"
#include "util.h"

#define REQUEST_MAX_ARGS      256
#define REQUEST_MAX_ARG_BYTES (64 * 1024)
/* JSON nesting a body may have (json-c counts one more than the
 * containers: 16 allows 15). A request needs 3; kept below json-c's own
 * default of 32 so that the cap is ours and a test can tell it holds. */
#define REQUEST_MAX_DEPTH 16

struct exec_file {
	char *name; /* NULL for "code": the language's source name applies */
	uint8_t *data;
	size_t len;
};

struct exec_request {
	char *language;
	char *version; /* NULL when not given */
	struct exec_file *files;
	size_t nfiles;
	uint8_t *stdin_data;
	size_t stdin_len;
	char **args; /* NULL-terminated */
	size_t nargs;
	struct limits_partial limits;
	int network;
};

/* The one JSON parser for request bodies (every front door's body goes
 * through it): parse s (n bytes, need not be NUL-terminated) as one strict
 * JSON value: RFC 8259 (no single quotes, comments or trailing commas), at
 * most REQUEST_MAX_DEPTH levels of nesting, only white space after the
 * value. Returns the value (caller puts it), or NULL with err set: 400
 * invalid_json (with json-c's reason, e.g. "nesting too deep", or
 * "trailing data"), 413 body_too_large above INT32_MAX bytes. */
json_object *request_json_parse(const char *s, size_t n,
				struct isobox_err *err);

/* Parse body (len bytes, need not be NUL-terminated). max_files bounds the
 * files array. On error returns -1 with err set (400 invalid_json,
 * invalid_field, language_required, no_source, invalid_file_name,
 * too_many_files); r is then empty. On success the caller frees r with
 * request_free. */
int request_parse(const char *body, size_t len, int max_files,
		  struct exec_request *r, struct isobox_err *err);
void request_free(struct exec_request *r);

/* Decode base64 (standard alphabet, padding optional, whitespace ignored).
 * Returns a fresh buffer (caller frees) or NULL on malformed input. */
uint8_t *request_base64_decode(const char *s, size_t n, size_t *out_len);

#endif
