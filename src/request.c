/* request.c - JSON execution request -> struct exec_request; see request.h.
 * Every rejection names the field so a client can fix its request. */
#include "request.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

void request_free(struct exec_request *r)
{
	size_t i;

	free(r->language);
	free(r->version);
	for (i = 0; i < r->nfiles; i++) {
		free(r->files[i].name);
		free(r->files[i].data);
	}
	free(r->files);
	free(r->stdin_data);
	if (r->args) {
		for (i = 0; r->args[i]; i++) {
			free(r->args[i]);
		}
	}
	free(r->args);
	memset(r, 0, sizeof(*r));
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+' || c == '-') {
		return 62;
	}
	if (c == '/' || c == '_') {
		return 63;
	}
	return -1;
}

uint8_t *request_base64_decode(const char *s, size_t n, size_t *out_len)
{
	uint8_t *out = xmalloc(n / 4 * 3 + 4);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	size_t i;
	int pad = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
			continue;
		}
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad) {
			goto bad; /* data after padding */
		}
		v = b64val(c);
		if (v < 0) {
			goto bad;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits >= 6 || pad > 2) {
		goto bad;
	}
	*out_len = o;
	return out;
bad:
	free(out);
	return NULL;
}

/* Hex file content into a fresh buffer (caller frees), or NULL. */
static uint8_t *hex_bytes(const char *s, size_t n, size_t *out_len)
{
	uint8_t *out = xmalloc(n / 2 + 1);

	if (hex_decode(s, n, out) < 0) {
		free(out);
		return NULL;
	}
	*out_len = n / 2;
	return out;
}

static int bad_field(struct isobox_err *err, const char *field,
		     const char *want)
{
	return err_set(err, 400, "invalid_field", "'%s' must be %s", field,
		       want);
}

/* Copy a JSON string's bytes (json-c keeps embedded NULs with a length). */
static uint8_t *dup_bytes(json_object *o, size_t *len)
{
	int n = json_object_get_string_len(o);
	uint8_t *p = xmalloc((size_t)n + 1);

	memcpy(p, json_object_get_string(o), (size_t)n);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

/* 1 if the JSON string o holds a NUL byte ("\u0000"), which would cut
 * short a copy made with xstrdup. */
static int has_nul(json_object *o)
{
	return strlen(json_object_get_string(o)) !=
	       (size_t)json_object_get_string_len(o);
}

static int parse_file(json_object *f, size_t idx, struct exec_file *out,
		      struct isobox_err *err)
{
	json_object *name = NULL;
	json_object *content = NULL;
	json_object *enc = NULL;
	const char *e = "utf8";
	const char *s;
	size_t n;

	if (!json_object_is_type(f, json_type_object)) {
		return err_set(err, 400, "invalid_field",
			       "files[%zu] must be an object", idx);
	}
	json_object_object_get_ex(f, "name", &name);
	json_object_object_get_ex(f, "content", &content);
	json_object_object_get_ex(f, "encoding", &enc);
	if (name && !json_object_is_type(name, json_type_null)) {
		if (!json_object_is_type(name, json_type_string)) {
			return err_set(err, 400, "invalid_field",
				       "files[%zu].name must be a string", idx);
		}
		s = json_object_get_string(name);
		n = (size_t)json_object_get_string_len(name);
		if (strlen(s) != n || wire_name_ok(s, n) < 0) {
			return err_set(err, 400, "invalid_file_name",
				       "files[%zu].name is not a safe relative "
				       "path (no '/' at the start, no '.' or "
				       "'..' parts, no control characters, at "
				       "most %d bytes)",
				       idx, WIRE_MAX_NAME);
		}
		out->name = xstrdup(s);
	}
	if (content == NULL ||
	    !json_object_is_type(content, json_type_string)) {
		return err_set(err, 400, "invalid_field",
			       "files[%zu].content must be a string", idx);
	}
	if (enc && !json_object_is_type(enc, json_type_null)) {
		if (!json_object_is_type(enc, json_type_string)) {
			return err_set(err, 400, "invalid_field",
				       "files[%zu].encoding must be a string",
				       idx);
		}
		e = json_object_get_string(enc);
	}
	s = json_object_get_string(content);
	n = (size_t)json_object_get_string_len(content);
	if (strcmp(e, "utf8") == 0 || strcmp(e, "utf-8") == 0) {
		out->data = dup_bytes(content, &out->len);
	} else if (strcmp(e, "base64") == 0) {
		out->data = request_base64_decode(s, n, &out->len);
	} else if (strcmp(e, "hex") == 0) {
		out->data = hex_bytes(s, n, &out->len);
	} else {
		return err_set(err, 400, "invalid_field",
			       "files[%zu].encoding must be utf8, base64 or "
			       "hex",
			       idx);
	}
	if (out->data == NULL) {
		return err_set(err, 400, "invalid_field",
			       "files[%zu].content is not valid %s", idx, e);
	}
	return 0;
}

static int parse_limits(json_object *lim, struct exec_request *r,
			struct isobox_err *err)
{
	if (!json_object_is_type(lim, json_type_object)) {
		return bad_field(err, "limits", "an object");
	}
	json_object_object_foreach (lim, key, val) {
		unsigned bit = limits_field(key);
		double v;

		if (bit == 0) {
			return err_set(err, 400, "invalid_field",
				       "unknown limit 'limits.%.64s'", key);
		}
		if (json_object_is_type(val, json_type_null)) {
			continue;
		}
		if (!json_object_is_type(val, json_type_int) &&
		    !json_object_is_type(val, json_type_double)) {
			return err_set(err, 400, "invalid_field",
				       "'limits.%s' must be a number", key);
		}
		v = json_object_get_double(val);
		if (!isfinite(v)) {
			return err_set(err, 400, "invalid_field",
				       "'limits.%s' must be a finite number",
				       key);
		}
		/* Out of range is clamped later, not rejected: negative
		 * values become the floor. */
		if (v < 0) {
			v = 0;
		}
		if (v > 1e15) {
			v = 1e15;
		}
		if (bit != LIM_CPUS) {
			v = floor(v);
		}
		if (limits_set(&r->limits, bit, v) < 0) {
			return err_set(err, 400, "invalid_field",
				       "'limits.%s' is not a valid value", key);
		}
	}
	return 0;
}

static int parse_args(json_object *a, struct exec_request *r,
		      struct isobox_err *err)
{
	size_t n;
	size_t i;
	size_t total = 0;

	if (!json_object_is_type(a, json_type_array)) {
		return bad_field(err, "args", "an array of strings");
	}
	n = json_object_array_length(a);
	if (n > REQUEST_MAX_ARGS) {
		return err_set(err, 400, "invalid_field",
			       "at most %d args are allowed", REQUEST_MAX_ARGS);
	}
	r->args = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(a, i);
		size_t l;

		if (!json_object_is_type(s, json_type_string)) {
			return err_set(err, 400, "invalid_field",
				       "args[%zu] must be a string", i);
		}
		l = (size_t)json_object_get_string_len(s);
		if (strlen(json_object_get_string(s)) != l) {
			return err_set(err, 400, "invalid_field",
				       "args[%zu] contains a NUL byte", i);
		}
		total += l + 1;
		if (total > REQUEST_MAX_ARG_BYTES) {
			return err_set(err, 400, "invalid_field",
				       "args are larger than %d bytes",
				       REQUEST_MAX_ARG_BYTES);
		}
		r->args[i] = xstrdup(json_object_get_string(s));
		r->nargs = i + 1;
	}
	return 0;
}

/* Two file names that cannot both be written: the same name, or one that
 * is a directory of the other ("d" and "d/f"). -1 with 400 when they
 * clash (b is files[idx]), else 0. */
static int names_clash(const char *a, const char *b, size_t idx,
		       struct isobox_err *err)
{
	size_t la = strlen(a);
	size_t lb = strlen(b);

	if (strcmp(a, b) == 0) {
		return err_set(err, 400, "invalid_file_name",
			       "file name '%s' is used twice", b);
	}
	if ((la < lb && strncmp(a, b, la) == 0 && b[la] == '/') ||
	    (lb < la && strncmp(a, b, lb) == 0 && a[lb] == '/')) {
		return err_set(err, 400, "invalid_file_name",
			       "files[%zu] '%s' and the file '%s' would be "
			       "both a file and a directory",
			       idx, b, a);
	}
	return 0;
}

static int parse_object(json_object *o, int max_files, struct exec_request *r,
			struct isobox_err *err)
{
	json_object *v;
	json_object *code = NULL;
	json_object *files = NULL;

	if (!json_object_object_get_ex(o, "language", &v) ||
	    json_object_is_type(v, json_type_null) ||
	    (json_object_is_type(v, json_type_string) &&
	     json_object_get_string_len(v) == 0)) {
		return err_set(err, 400, "language_required",
			       "'language' is required");
	}
	if (!json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) > 64 || has_nul(v)) {
		return bad_field(err, "language", "a string (a name or alias)");
	}
	r->language = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "version", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) > 64 || has_nul(v)) {
			return bad_field(err, "version", "a string");
		}
		if (json_object_get_string_len(v) > 0 &&
		    strcmp(json_object_get_string(v), "*") != 0) {
			r->version = xstrdup(json_object_get_string(v));
		}
	}
	json_object_object_get_ex(o, "code", &code);
	json_object_object_get_ex(o, "files", &files);
	if (code && json_object_is_type(code, json_type_null)) {
		code = NULL;
	}
	if (files && json_object_is_type(files, json_type_null)) {
		files = NULL;
	}
	if (code && files) {
		return err_set(err, 400, "invalid_field",
			       "send either 'code' or 'files', not both");
	}
	if (code) {
		if (!json_object_is_type(code, json_type_string)) {
			return bad_field(err, "code", "a string");
		}
		r->files = xcalloc(1, sizeof(*r->files));
		r->nfiles = 1;
		r->files[0].data = dup_bytes(code, &r->files[0].len);
	} else if (files) {
		size_t n;
		size_t i;
		size_t j;

		if (!json_object_is_type(files, json_type_array)) {
			return bad_field(err, "files", "an array of objects");
		}
		n = json_object_array_length(files);
		if (n == 0) {
			return err_set(err, 400, "no_source",
				       "'files' is empty: send 'code' or at "
				       "least one file");
		}
		if (n > (size_t)max_files) {
			return err_set(err, 400, "too_many_files",
				       "at most %d files are allowed",
				       max_files);
		}
		r->files = xcalloc(n, sizeof(*r->files));
		for (i = 0; i < n; i++) {
			r->nfiles = i + 1;
			if (parse_file(json_object_array_get_idx(files, i), i,
				       &r->files[i], err) < 0) {
				return -1;
			}
			if (r->files[i].name == NULL && i > 0) {
				return err_set(err, 400, "invalid_file_name",
					       "files[%zu] needs a name (only "
					       "the first file may omit it)",
					       i);
			}
			for (j = 0; j < i && r->files[i].name; j++) {
				if (r->files[j].name &&
				    names_clash(r->files[j].name,
						r->files[i].name, i, err) < 0) {
					return -1;
				}
			}
		}
	} else {
		return err_set(err, 400, "no_source",
			       "send the program as 'code' or 'files'");
	}
	if (json_object_object_get_ex(o, "stdin", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string)) {
			return bad_field(err, "stdin", "a string");
		}
		r->stdin_data = dup_bytes(v, &r->stdin_len);
	}
	if (json_object_object_get_ex(o, "args", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (parse_args(v, r, err) < 0) {
			return -1;
		}
	}
	if (r->args == NULL) {
		r->args = xcalloc(1, sizeof(char *));
	}
	if (json_object_object_get_ex(o, "limits", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (parse_limits(v, r, err) < 0) {
			return -1;
		}
	}
	if (json_object_object_get_ex(o, "network", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			return bad_field(err, "network", "true or false");
		}
		r->network = json_object_get_boolean(v);
	}
	return 0;
}

json_object *request_json_parse(const char *s, size_t n, struct isobox_err *err)
{
	struct json_tokener *tok;
	json_object *o;
	enum json_tokener_error je;
	size_t i;

	if (n > INT32_MAX) {
		err_set(err, 413, "body_too_large",
			"the request body is too large");
		return NULL;
	}
	tok = json_tokener_new_ex(REQUEST_MAX_DEPTH);
	if (tok == NULL) {
		abort();
	}
	/* RFC 8259 only: no single quotes, no trailing commas. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, s, (int)n);
	je = json_tokener_get_error(tok);
	if (o == NULL && je == json_tokener_continue) {
		/* A bare top-level number ends only where something follows. */
		o = json_tokener_parse_ex(tok, " ", 1);
		je = json_tokener_get_error(tok);
		n = 0; /* what follows was all consumed */
	}
	if (o != NULL && je == json_tokener_success) {
		/* Only white space may follow the value (a NUL byte is not). */
		for (i = json_tokener_get_parse_end(tok); i < n; i++) {
			if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
			    s[i] != '\n') {
				json_object_put(o);
				o = NULL;
				break;
			}
		}
	} else {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (o == NULL) {
		err_set(
		    err, 400, "invalid_json", "the body is not valid JSON (%s)",
		    je == json_tokener_success ? "trailing data"
					       : json_tokener_error_desc(je));
	}
	return o;
}

int request_parse(const char *body, size_t len, int max_files,
		  struct exec_request *r, struct isobox_err *err)
{
	json_object *o;
	int rc;

	memset(r, 0, sizeof(*r));
	o = request_json_parse(body, len, err);
	if (o == NULL) {
		return -1;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return err_set(err, 400, "invalid_json",
			       "the body must be a JSON object");
	}
	rc = parse_object(o, max_files, r, err);
	json_object_put(o);
	if (rc < 0) {
		request_free(r);
	}
	return rc;
}
