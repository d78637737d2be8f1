/* fuzz_memhdr.c - libFuzzer harness for the request headers and names of
 * /v1/memory (src/api_memory.c): If-Match / If-None-Match
 * (api_memory_etag_listed), X-TTL-Seconds (api_memory_parse_ttl) and the
 * percent-decoded namespace and key of the path (api_memory_pct_decode,
 * then api_memory_ns_ok).
 *
 * Input: byte 0 bit 0: weak comparison (If-None-Match); the rest, split at
 * the first '\n', is the header list and the item's ETag (the TTL and the
 * path segment are the whole rest).
 * Invariants, each against a reference written from api.h: the list
 * matches exactly when a reference tokeniser finds "*" or the ETag (quoted
 * or bare, W/ only when weak); a list that names the ETag quoted, alone or
 * after a comma, always matches; a strong match is also a weak one; the
 * TTL is accepted exactly for 0 to 316224000 in digits (or empty); the
 * decode equals a reference's and never holds a NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#define FUZZ_WRAP_LOG
#include "fuzz_common.h"

static int ref_listed(const char *p, const char *etag, int weak)
{
	size_t el = strlen(etag);

	for (;;) {
		const char *s;
		size_t n;
		int w = 0;

		while (*p == ' ' || *p == '\t' || *p == ',') {
			p++;
		}
		if (*p == '\0') {
			return 0;
		}
		if (*p == '*') {
			return 1;
		}
		if (strncmp(p, "W/", 2) == 0) {
			w = 1;
			p += 2;
		}
		if (*p == '"') {
			const char *q = strchr(p + 1, '"');

			s = p + 1;
			n = q ? (size_t)(q - s) : strlen(s);
			p = q ? q + 1 : s + n;
		} else {
			s = p;
			n = strcspn(p, ", \t");
			p += n;
		}
		if ((weak || !w) && n == el && memcmp(s, etag, n) == 0) {
			return 1;
		}
	}
}

static int ref_ttl(const char *s, long long *out)
{
	size_t n = strlen(s);
	size_t i;
	long long v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		if (v <= 316224000LL) {
			v = v * 10 + (s[i] - '0');
		}
	}
	if (v > 316224000LL) {
		return -1;
	}
	*out = v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *all;
	char *etag;
	char *nl;
	int weak;
	int r;
	long long ttl = -5;
	long long want_ttl = -6;
	size_t dn = 0;
	char *dec;

	if (size < 1) {
		return 0;
	}
	weak = data[0] & 1;
	all = malloc(size);
	memcpy(all, data + 1, size - 1);
	all[size - 1] = '\0';

	/* X-TTL-Seconds */
	r = api_memory_parse_ttl(all, &ttl);
	FUZZ_CHECK(r == ref_ttl(all, &want_ttl));
	if (r == 0) {
		FUZZ_CHECK(ttl == want_ttl && ttl >= 0);
	}
	FUZZ_CHECK(api_memory_parse_ttl(NULL, &ttl) == 0 && ttl == 0);

	/* A path segment (namespace or key), size - 1 bytes with NULs. */
	dec = api_memory_pct_decode((const char *)data + 1, size - 1, &dn);
	{
		const char *s = (const char *)data + 1;
		size_t n = size - 1;
		char *o = malloc(n + 1);
		size_t i;
		size_t k = 0;
		int bad = 0;

		for (i = 0; i < n && !bad; i++) {
			int c = (unsigned char)s[i];

			if (c == '%') {
				const char *hx =
				    "0123456789abcdef0123456789ABCDEF";
				const char *a;
				const char *b;

				if (n - i < 3 || s[i + 1] == '\0' ||
				    s[i + 2] == '\0' ||
				    !(a = strchr(hx, s[i + 1])) ||
				    !(b = strchr(hx, s[i + 2]))) {
					bad = 1;
					break;
				}
				c = (int)((a - hx) % 16 * 16 + (b - hx) % 16);
				i += 2;
			}
			if (c == 0) {
				bad = 1;
			}
			o[k++] = (char)c;
		}
		if (bad) {
			FUZZ_CHECK(dec == NULL);
		} else {
			FUZZ_CHECK(dec != NULL && dn == k &&
				   memcmp(dec, o, k) == 0 && dec[k] == '\0');
			FUZZ_CHECK(memchr(dec, '\0', dn) == NULL);
			if (api_memory_ns_ok(dec)) {
				FUZZ_CHECK(dn >= 1 && dn <= 128);
			}
		}
		free(o);
	}
	free(dec);

	/* If-Match / If-None-Match */
	nl = strchr(all, '\n');
	etag = nl ? nl + 1 : (char *)"";
	if (nl) {
		*nl = '\0';
	}
	r = api_memory_etag_listed(all, etag, weak);
	FUZZ_CHECK(r == 0 || r == 1);
	FUZZ_CHECK(r == ref_listed(all, etag, weak));
	if (r && !weak) {
		FUZZ_CHECK(api_memory_etag_listed(all, etag, 1) == 1);
	}
	if (strchr(etag, '"') == NULL) {
		size_t el = strlen(etag);
		char *l = malloc(el + 3);

		l[0] = '"';
		memcpy(l + 1, etag, el);
		l[el + 1] = '"';
		l[el + 2] = '\0';
		FUZZ_CHECK(api_memory_etag_listed(l, etag, weak) == 1);
		free(l);
	}
	if (fuzz_verbose) {
		fprintf(stderr, "ttl %d listed %d\n",
			api_memory_parse_ttl(all, &ttl), r);
	}
	free(all);
	return 0;
}

FUZZ_VERBOSE_INITIALIZE
