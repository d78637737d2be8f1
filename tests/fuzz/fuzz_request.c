/* fuzz_request.c - libFuzzer harness for the POST /execute body parser
 * (src/request.c) and its base64 decoder.
 *
 * Input: the raw request body, as a client would send it. A success must
 * satisfy everything the handlers after it take for granted (request.h and
 * docs/API.md); a failure must leave the request empty with a 4xx error. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "request.h"
#include "wire.h"

#define FUZZ_MAX_FILES 16

/* The value of a string member of o, as bytes. */
static const char *member(json_object *o, const char *key, size_t *n)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		return NULL;
	}
	*n = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* What the request holds is what the client sent, byte for byte: nothing
 * cut short (a NUL byte inside a JSON string), nothing added. */
static void check_strings(const char *body, size_t len,
			  const struct exec_request *r)
{
	struct json_tokener *tok = json_tokener_new_ex(REQUEST_MAX_DEPTH);
	json_object *o = json_tokener_parse_ex(tok, body, (int)len);
	const char *s;
	size_t n = 0;

	FUZZ_CHECK(o != NULL);
	s = member(o, "language", &n);
	FUZZ_CHECK(s != NULL && strlen(r->language) == n &&
		   memcmp(r->language, s, n) == 0);
	s = member(o, "version", &n);
	if (r->version != NULL) {
		FUZZ_CHECK(s != NULL && strlen(r->version) == n &&
			   memcmp(r->version, s, n) == 0);
	}
	s = member(o, "stdin", &n);
	if (s != NULL) {
		FUZZ_CHECK(r->stdin_len == n &&
			   memcmp(r->stdin_data, s, n) == 0);
	}
	s = member(o, "code", &n);
	if (s != NULL) {
		FUZZ_CHECK(r->nfiles == 1 && r->files[0].name == NULL &&
			   r->files[0].len == n &&
			   memcmp(r->files[0].data, s, n) == 0);
	}
	json_object_put(o);
	json_tokener_free(tok);
}

static void check_success(const char *body, size_t len,
			  const struct exec_request *r)
{
	size_t i;
	size_t j;
	size_t total = 0;

	/* The body is one JSON object, then only white space: never NUL
	 * bytes (unless inside a comment, which json-c skips as space). */
	for (i = len; i > 0 && body[i - 1] != '}'; i--) {
	}
	FUZZ_CHECK(i > 0);
	FUZZ_CHECK(memchr(body + i, '/', len - i) != NULL ||
		   memchr(body + i, '\0', len - i) == NULL);

	check_strings(body, len, r);
	FUZZ_CHECK(r->language != NULL);
	FUZZ_CHECK(r->language[0] != '\0');
	FUZZ_CHECK(strlen(r->language) <= 64);
	if (r->version != NULL) {
		FUZZ_CHECK(r->version[0] != '\0');
		FUZZ_CHECK(strlen(r->version) <= 64);
		FUZZ_CHECK(strcmp(r->version, "*") != 0);
	}
	FUZZ_CHECK(r->nfiles >= 1 && r->nfiles <= FUZZ_MAX_FILES);
	FUZZ_CHECK(r->files != NULL);
	for (i = 0; i < r->nfiles; i++) {
		const struct exec_file *f = &r->files[i];

		FUZZ_CHECK(f->data != NULL);
		FUZZ_CHECK(f->len <= len);
		if (f->name == NULL) {
			FUZZ_CHECK(i == 0); /* only the first may omit it */
			continue;
		}
		FUZZ_CHECK(wire_name_ok(f->name, strlen(f->name)) == 0);
		for (j = 0; j < i; j++) {
			FUZZ_CHECK(r->files[j].name == NULL ||
				   strcmp(r->files[j].name, f->name) != 0);
		}
	}
	FUZZ_CHECK(r->stdin_len <= len);
	FUZZ_CHECK(r->stdin_len == 0 || r->stdin_data != NULL);
	FUZZ_CHECK(r->args != NULL);
	FUZZ_CHECK(r->nargs <= REQUEST_MAX_ARGS);
	for (i = 0; i < r->nargs; i++) {
		FUZZ_CHECK(r->args[i] != NULL);
		total += strlen(r->args[i]) + 1;
	}
	FUZZ_CHECK(r->args[r->nargs] == NULL);
	FUZZ_CHECK(total <= REQUEST_MAX_ARG_BYTES);
	FUZZ_CHECK((r->limits.set & ~(unsigned)LIM_ALL) == 0);
	FUZZ_CHECK(r->limits.v.memory_bytes >= 0 && r->limits.v.pids >= 0 &&
		   r->limits.v.output_bytes >= 0 &&
		   r->limits.v.wall_time_ms >= 0 &&
		   r->limits.v.compile_wall_time_ms >= 0 &&
		   r->limits.v.compile_memory_bytes >= 0 &&
		   r->limits.v.tmpfs_bytes >= 0);
	FUZZ_CHECK(r->limits.v.cpus >= 0 && r->limits.v.cpus <= 1e15);
	FUZZ_CHECK(r->network == 0 || r->network == 1);
}

static void check_failure(const struct exec_request *r,
			  const struct isobox_err *err)
{
	static const char *const codes[] = {
	    "invalid_json",   "invalid_field",	   "language_required",
	    "no_source",      "invalid_file_name", "too_many_files",
	    "body_too_large",
	};
	struct exec_request empty;
	size_t i;
	int known = 0;

	memset(&empty, 0, sizeof(empty));
	FUZZ_CHECK(memcmp(r, &empty, sizeof(empty)) == 0);
	FUZZ_CHECK(err->status == 400 || err->status == 413);
	FUZZ_CHECK(fuzz_terminated(err->code, sizeof(err->code)));
	FUZZ_CHECK(fuzz_terminated(err->msg, sizeof(err->msg)));
	FUZZ_CHECK(err->msg[0] != '\0');
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		known |= strcmp(err->code, codes[i]) == 0;
	}
	FUZZ_CHECK(known);
}

static char *b64_encode(const uint8_t *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
	    "tuvwxyz0123456789+/";
	char *out = malloc(n / 3 * 4 + 5);
	size_t o = 0;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* The decoder on the raw input: bounded output, and a canonical encoding
 * of whatever it decoded decodes back to the same bytes. */
static void check_base64(const char *s, size_t n)
{
	size_t len = 0;
	uint8_t *out = request_base64_decode(s, n, &len);

	if (out != NULL) {
		char *enc;
		uint8_t *back;
		size_t blen = 0;

		FUZZ_CHECK(len <= n / 4 * 3 + 3);
		enc = b64_encode(out, len);
		back = request_base64_decode(enc, strlen(enc), &blen);
		FUZZ_CHECK(back != NULL && blen == len);
		FUZZ_CHECK(len == 0 || memcmp(back, out, len) == 0);
		free(back);
		free(enc);
		free(out);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_verbose_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exec_request r;
	struct isobox_err err;
	const char *body = (const char *)data;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = request_parse(body, size, FUZZ_MAX_FILES, &r, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (fuzz_verbose) {
		if (rc == 0) {
			fprintf(stderr, "request: %s, %zu file(s)\n",
				r.language, r.nfiles);
		} else {
			fprintf(stderr, "request: %d %s: %s\n", err.status,
				err.code, err.msg);
		}
	}
	if (rc == 0) {
		check_success(body, size, &r);
		request_free(&r);
	} else {
		check_failure(&r, &err);
	}
	if (size <= 4096) {
		check_base64(body, size);
	}
	return 0;
}
