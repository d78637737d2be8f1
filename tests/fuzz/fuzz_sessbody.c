/* fuzz_sessbody.c - libFuzzer harness for a session's create body
 * (src/api_session.c: api_session_body_parse after request_json_parse),
 * with the checks session_create applies to what it gives: the type
 * (session_type_parse), the volumes' mount paths (volume_mount_path_check)
 * and the idle TTL (session_ttl_clamp).
 *
 * Input: a POST /v1/sessions body.
 * Invariants: a parsed body has a non-empty runtime equal to "runtime"
 * (else "language"), a type of filesystem or kernel, at most
 * SESSION_VOLUMES_MAX volumes whose ids and mount paths are terminated
 * within their fields and equal to the body's strings ("volumeId" first,
 * at /memory, read-write), read_only exactly for mode "ro", limits that
 * point at the parsed ones and only set known fields; the clamped TTL is
 * within [1, max]; a refusal is a 400 with a known code and a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#define FUZZ_WRAP_LOG
#include "fuzz_common.h"
#include "request.h"
#include "session.h"

static const char *str_of(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		return NULL;
	}
	return json_object_get_string(v);
}

/* No component of p is "." or "..". */
static int no_dot_component(const char *p)
{
	size_t n = strlen(p);

	return strstr(p, "/../") == NULL && strstr(p, "/./") == NULL &&
	       !(n >= 3 && strcmp(p + n - 3, "/..") == 0) &&
	       !(n >= 2 && strcmp(p + n - 2, "/.") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct api_session_body b;
	struct isobox_err err;
	json_object *body;
	int i;

	memset(&err, 0, sizeof(err));
	body = request_json_parse((const char *)data, size, &err);
	if (body == NULL) {
		FUZZ_CHECK(err.status == 400 || err.status == 413);
		return 0;
	}
	if (!json_object_is_type(body, json_type_object)) {
		json_object_put(body); /* read_json refuses it first */
		return 0;
	}
	if (api_session_body_parse(body, &b, &err) == 0) {
		const char *rt = str_of(body, "runtime");
		const char *vid = str_of(body, "volumeId");
		json_object *arr = NULL;
		int k = 0;

		if (rt == NULL) {
			rt = str_of(body, "language");
		}
		FUZZ_CHECK(b.runtime == rt && rt[0] != '\0');
		FUZZ_CHECK(b.version == str_of(body, "version"));
		FUZZ_CHECK(b.nr.type == SESSION_FILESYSTEM ||
			   b.nr.type == SESSION_KERNEL);
		FUZZ_CHECK(b.nr.limits == &b.lp && b.nr.lang == NULL &&
			   b.nr.tenant == NULL);
		FUZZ_CHECK(b.nr.nvolumes >= 0 &&
			   b.nr.nvolumes <= SESSION_VOLUMES_MAX);
		FUZZ_CHECK(b.nr.nvolumes == 0 || b.nr.volumes == b.vols);
		if (vid && vid[0]) {
			FUZZ_CHECK(b.nr.nvolumes >= 1);
			FUZZ_CHECK(strcmp(b.vols[0].target, "/memory") == 0 &&
				   !b.vols[0].read_only);
			FUZZ_CHECK(strncmp(b.vols[0].id, vid,
					   sizeof(b.vols[0].id) - 1) == 0);
			k = 1;
		}
		json_object_object_get_ex(body, "volumes", &arr);
		for (i = 0; i < b.nr.nvolumes; i++) {
			struct isobox_err e2;

			FUZZ_CHECK(fuzz_terminated(b.vols[i].id,
						   sizeof(b.vols[i].id)));
			FUZZ_CHECK(fuzz_terminated(b.vols[i].target,
						   sizeof(b.vols[i].target)));
			if (i >= k) {
				json_object *o = json_object_array_get_idx(
				    arr, (size_t)(i - k));
				const char *mode = str_of(o, "mode");

				FUZZ_CHECK(
				    strcmp(b.vols[i].id, str_of(o, "id")) == 0);
				FUZZ_CHECK(strcmp(b.vols[i].target,
						  str_of(o, "mountPath")) == 0);
				FUZZ_CHECK(b.vols[i].read_only ==
					   (mode && strcmp(mode, "ro") == 0));
			}
			memset(&e2, 0, sizeof(e2));
			if (volume_mount_path_check(b.vols[i].target, &e2) ==
			    0) {
				FUZZ_CHECK(no_dot_component(b.vols[i].target));
			}
		}
		if (arr) {
			FUZZ_CHECK((size_t)(b.nr.nvolumes - k) ==
				   json_object_array_length(arr));
		}
		{
			int64_t t = session_ttl_clamp(b.nr.ttl_sec, 600, 86400);

			FUZZ_CHECK(t >= 1 && t <= 86400);
		}
	} else {
		FUZZ_CHECK(err.status == 400);
		FUZZ_CHECK(strcmp(err.code, "runtime_required") == 0 ||
			   strcmp(err.code, "invalid_field") == 0 ||
			   strcmp(err.code, "invalid_request") == 0 ||
			   strcmp(err.code, "invalid_ttl") == 0);
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	if (fuzz_verbose) {
		fprintf(stderr, "%s\n", err.status ? err.msg : "ok");
	}
	json_object_put(body);
	return 0;
}

FUZZ_VERBOSE_INITIALIZE
