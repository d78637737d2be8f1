/* fuzz_volume.c - libFuzzer harness for what a client names a volume with:
 * the create / copy body (src/api_volume.c: api_volume_body_parse, after
 * request_json_parse), then the checks volume_create applies to it
 * (src/volume.c: volume_name_ok, volume_id_ok, volume_name_key) and the
 * mount paths of a session's volumes (volume_mount_path_check).
 *
 * Input: a JSON body; the same bytes, cut at a NUL, are also checked as a
 * raw name, id and mount path.
 * Invariants: a parsed body gives a name, "memory" when none was sent,
 * and strings equal to the body's; a refusal is a 400 with a known code
 * and leaves the body untouched. volume_name_ok equals a reference (1-64
 * of A-Z a-z 0-9 and, after the first, space . _ -); volume_id_ok equals
 * "vol_" and 32 lower-case hex digits; the name key is the tenant's prefix
 * and the lower-cased name, or refused when too long; an accepted mount
 * path is /memory, /data or one leaf of 1-48 safe bytes, not starting
 * with '.', under /data/, /mnt/ or /volumes/ (no '.' or '..'
 * component). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#define FUZZ_WRAP_LOG
#include "fuzz_common.h"
#include "request.h"
#include "volume.h"

static int ref_name(const char *s)
{
	size_t n = strlen(s);
	size_t i;

	if (n < 1 || n > VOLUME_NAME_MAX || !isalnum((unsigned char)s[0])) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c < 128 && isalnum(c)) && !strchr(" ._-", c)) {
			return 0;
		}
	}
	return 1;
}

static int ref_id(const char *s)
{
	return strlen(s) == 36 && strncmp(s, "vol_", 4) == 0 &&
	       strspn(s + 4, "0123456789abcdef") == 32;
}

static int ref_leaf(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 48 && s[0] != '.' &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-") == n;
}

static int ref_mount(const char *p)
{
	return strcmp(p, "/memory") == 0 || strcmp(p, "/data") == 0 ||
	       (strncmp(p, "/data/", 6) == 0 && ref_leaf(p + 6)) ||
	       (strncmp(p, "/mnt/", 5) == 0 && ref_leaf(p + 5)) ||
	       (strncmp(p, "/volumes/", 9) == 0 && ref_leaf(p + 9));
}

/* No component of p is "." or "..". */
static int no_dot_component(const char *p)
{
	size_t n = strlen(p);

	return strstr(p, "/../") == NULL && strstr(p, "/./") == NULL &&
	       !(n >= 3 && strcmp(p + n - 3, "/..") == 0) &&
	       !(n >= 2 && strcmp(p + n - 2, "/.") == 0);
}

static void check_names(const char *s)
{
	struct isobox_err err;
	char key[STORE_KEY_MAX + 2];
	int kn;

	FUZZ_CHECK(volume_name_ok(s) == ref_name(s));
	FUZZ_CHECK(volume_id_ok(s) == ref_id(s));
	memset(&err, 0, sizeof(err));
	if (volume_mount_path_check(s, &err) == 0) {
		FUZZ_CHECK(ref_mount(s));
		FUZZ_CHECK(no_dot_component(s));
	} else {
		FUZZ_CHECK(!ref_mount(s));
		FUZZ_CHECK(err.status == 400 &&
			   strcmp(err.code, "invalid_mount_path") == 0);
	}
	kn = volume_name_key(key, 1, "tenant-a", s);
	if (kn >= 0) {
		size_t i;
		size_t pl = strlen("1:tenant-a\n");

		FUZZ_CHECK((size_t)kn == pl + strlen(s) && kn <= STORE_KEY_MAX);
		FUZZ_CHECK(memcmp(key, "1:tenant-a\n", pl) == 0);
		for (i = 0; s[i]; i++) {
			FUZZ_CHECK((unsigned char)key[pl + i] ==
				   tolower((unsigned char)s[i]));
		}
	} else {
		FUZZ_CHECK(strlen("1:tenant-a\n") + strlen(s) > STORE_KEY_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct isobox_err err;
	struct volume_new nv;
	json_object *body;
	char *raw = malloc(size + 1);

	memcpy(raw, data, size);
	raw[size] = '\0';
	check_names(raw);
	free(raw);

	memset(&err, 0, sizeof(err));
	body = request_json_parse((const char *)data, size, &err);
	if (body == NULL) {
		FUZZ_CHECK(err.status == 400 || err.status == 413);
		return 0;
	}
	if (api_volume_body_parse(body, &nv, &err) == 0) {
		json_object *x;

		FUZZ_CHECK(json_object_is_type(body, json_type_object));
		FUZZ_CHECK(nv.name != NULL && nv.tenant == NULL);
		if (json_object_object_get_ex(body, "name", &x) && x) {
			FUZZ_CHECK(strcmp(nv.name, json_object_get_string(x)) ==
				   0);
		} else {
			FUZZ_CHECK(strcmp(nv.name, "memory") == 0);
		}
		FUZZ_CHECK(nv.size_given ==
			   (json_object_object_get_ex(body, "sizeBytes", &x) &&
			    x != NULL));
		if (nv.from) {
			FUZZ_CHECK(json_object_object_get_ex(body, "from", &x));
			check_names(nv.from);
		}
		check_names(nv.name);
	} else {
		FUZZ_CHECK(err.status == 400);
		FUZZ_CHECK(strcmp(err.code, "invalid_request") == 0 ||
			   strcmp(err.code, "invalid_name") == 0 ||
			   strcmp(err.code, "invalid_size") == 0);
	}
	if (fuzz_verbose) {
		fprintf(stderr, "%s\n", err.status ? err.msg : "ok");
	}
	json_object_put(body);
	return 0;
}

FUZZ_VERBOSE_INITIALIZE
