/* fuzz_fspath.c - libFuzzer harness for the paths of the file API of
 * sessions and volumes: the query's path / pathHex (src/api_fs.c:
 * api_fs_query_path) and the check every file operation starts with
 * (src/fsapi.c: fsapi_path_check).
 *
 * Input: byte 0 bit 0: the empty path names the root (allow_root); bit 1:
 * the rest is a query string (decoded by api_fs_query_path, then checked),
 * else the rest is the path's raw bytes.
 * Invariants: the decoded path equals a reference decode of the query
 * (pathHex first, even hex digits, at most FSAPI_PATH_MAX bytes; else the
 * first "path" parameter, %XX and '+' decoded); the check's verdict equals
 * a reference written from fsapi.h (relative, no NUL, no empty, '.' or
 * '..' component, components of at most 255 bytes, at most 4096 bytes and
 * 128 components); an accepted path, resolved lexically beneath a root,
 * stays beneath it; a refusal is 400 invalid_path with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fsapi.h"
#define FUZZ_WRAP_LOG
#include "fuzz_common.h"

static int hexv(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The value of parameter name in q, decoded, or NULL. */
static char *ref_param(const char *q, const char *name, size_t *n)
{
	size_t nl = strlen(name);

	while (*q) {
		const char *amp = strchr(q, '&');
		const char *e = amp ? amp : q + strlen(q);

		if ((size_t)(e - q) >= nl && memcmp(q, name, nl) == 0 &&
		    (q + nl == e || q[nl] == '=')) {
			const char *v = q + nl == e ? e : q + nl + 1;
			char *o = malloc((size_t)(e - v) + 1);
			size_t k = 0;

			while (v < e) {
				if (*v == '%' && e - v >= 3 &&
				    hexv(v[1]) >= 0 && hexv(v[2]) >= 0) {
					o[k++] = (char)(hexv(v[1]) * 16 +
							hexv(v[2]));
					v += 3;
				} else {
					o[k++] = *v == '+' ? ' ' : *v;
					v++;
				}
			}
			o[k] = '\0';
			*n = k;
			return o;
		}
		if (!amp) {
			break;
		}
		q = amp + 1;
	}
	return NULL;
}

/* fsapi.h's rules. 1 valid. */
static int ref_check(const char *p, size_t n, int allow_root)
{
	size_t start = 0;
	size_t comps = 0;
	size_t i;

	if (n == 0) {
		return allow_root;
	}
	if (n > FSAPI_PATH_MAX || p[0] == '/' || memchr(p, '\0', n)) {
		return 0;
	}
	for (i = 0; i <= n; i++) {
		if (i == n || p[i] == '/') {
			size_t len = i - start;

			if (len == 0 || len > FSAPI_NAME_MAX ||
			    (len == 1 && p[start] == '.') ||
			    (len == 2 && p[start] == '.' &&
			     p[start + 1] == '.') ||
			    ++comps > FSAPI_DEPTH_MAX) {
				return 0;
			}
			start = i + 1;
		}
	}
	return 1;
}

/* Lexical depth never goes below the root. */
static int beneath(const char *p, size_t n)
{
	long depth = 0;
	size_t start = 0;
	size_t i;

	for (i = 0; i <= n; i++) {
		if (i == n || p[i] == '/') {
			size_t len = i - start;

			if (len == 2 && p[start] == '.' &&
			    p[start + 1] == '.') {
				depth--;
			} else if (len > 0 && !(len == 1 && p[start] == '.')) {
				depth++;
			}
			if (depth < 0) {
				return 0;
			}
			start = i + 1;
		}
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct isobox_err err;
	int allow_root;
	char *path;
	size_t n;
	int ok;

	if (size < 1) {
		return 0;
	}
	allow_root = data[0] & 1;
	if (data[0] & 2) {
		struct http_req req;
		char *q = malloc(size);
		char *want;
		size_t wn = 0;
		char *hx;
		size_t hn = 0;

		memcpy(q, data + 1, size - 1);
		q[size - 1] = '\0';
		memset(&req, 0, sizeof(req));
		req.query = q;
		path = api_fs_query_path(&req, &n);
		hx = ref_param(q, "pathHex", &hn);
		if (hx) {
			size_t i;
			int good = hn % 2 == 0 && hn <= 2 * FSAPI_PATH_MAX;

			for (i = 0; good && i < hn; i++) {
				good = hexv((unsigned char)hx[i]) >= 0;
			}
			if (!good) {
				FUZZ_CHECK(path == NULL && n == 1);
			} else {
				FUZZ_CHECK(path != NULL && n == hn / 2);
				for (i = 0; i < n; i++) {
					FUZZ_CHECK((uint8_t)path[i] ==
						   hexv(hx[2 * i]) * 16 +
						       hexv(hx[2 * i + 1]));
				}
			}
			free(hx);
		} else {
			want = ref_param(q, "path", &wn);
			if (want == NULL) {
				FUZZ_CHECK(path == NULL && n == 0);
			} else {
				FUZZ_CHECK(path != NULL && n == wn &&
					   memcmp(path, want, n) == 0);
			}
			free(want);
		}
		if (path) {
			FUZZ_CHECK(path[n] == '\0');
		}
		free(q);
	} else {
		n = size - 1;
		path = malloc(n + 1);
		memcpy(path, data + 1, n);
		path[n] = '\0';
	}
	if (path == NULL) {
		return 0;
	}
	memset(&err, 0, sizeof(err));
	ok = fsapi_path_check(path, n, allow_root, &err);
	FUZZ_CHECK(ok == 0 || ok == -1);
	FUZZ_CHECK((ok == 0) == ref_check(path, n, allow_root));
	if (ok == 0) {
		FUZZ_CHECK(beneath(path, n));
	} else {
		FUZZ_CHECK(err.status == 400);
		FUZZ_CHECK(strcmp(err.code, "invalid_path") == 0);
		FUZZ_CHECK(fuzz_terminated(err.msg, sizeof(err.msg)) &&
			   err.msg[0] != '\0');
	}
	if (fuzz_verbose) {
		fprintf(stderr, "%zu bytes: %s\n", n, ok == 0 ? "ok" : err.msg);
	}
	free(path);
	return 0;
}

FUZZ_VERBOSE_INITIALIZE
