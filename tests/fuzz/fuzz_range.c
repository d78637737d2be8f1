/* fuzz_range.c - libFuzzer harness for the file API's Range header parser
 * (src/api_fs.c: api_fs_parse_range), what a client sends on a GET of a
 * session's or volume's file.
 *
 * Input: the header value (a NUL ends it early, as in a CGI variable).
 * Invariants, against a reference written from api.h's contract: exactly
 * "bytes=A-B" (B >= A), "bytes=A-" or "bytes=-N" (N > 0), decimal digits
 * only, each at most INT64_MAX - 9, is a range with that offset, length
 * (B - A + 1, -1 to the end, N for a suffix) and suffix flag; anything
 * else is no range and leaves the callback's fields as they were. A range
 * is never negative and never overflows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#define FUZZ_WRAP_LOG
#include "fuzz_common.h"

/* Digits [s, e) as an int64 at most INT64_MAX - 9, or -1. */
static int64_t digits(const char *s, const char *e)
{
	int64_t v = 0;

	if (s == e) {
		return -1;
	}
	for (; s < e; s++) {
		if (*s < '0' || *s > '9') {
			return -1;
		}
		if (v > (INT64_MAX - 9 - (*s - '0')) / 10) {
			return -1;
		}
		v = v * 10 + (*s - '0');
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = malloc(size + 1);
	struct session_get_cb cb;
	const char *dash;
	int ranged = -1;
	int want = 0;
	int64_t off = 77;
	int64_t len = 88;
	int suffix = 0;

	memcpy(h, data, size);
	h[size] = '\0';
	if (strncmp(h, "bytes=", 6) == 0 && (dash = strchr(h + 6, '-'))) {
		const char *end = h + strlen(h);
		int64_t a = dash > h + 6 ? digits(h + 6, dash) : -2;
		int64_t b = dash[1] ? digits(dash + 1, end) : -2;

		if (a == -2 && b > 0) {
			want = 1, suffix = 1, off = 0, len = b;
		} else if (a >= 0 && b == -2) {
			want = 1, off = a, len = -1;
		} else if (a >= 0 && b >= a) {
			want = 1, off = a, len = b - a + 1;
		}
	}
	memset(&cb, 0, sizeof(cb));
	cb.offset = 77;
	cb.length = 88;
	api_fs_parse_range(size % 97 == 3 ? NULL : h, &cb, &ranged);
	if (size % 97 == 3) {
		want = 0, off = 77, len = 88, suffix = 0;
	}
	FUZZ_CHECK(ranged == want);
	FUZZ_CHECK(cb.offset == off && cb.length == len);
	FUZZ_CHECK(cb.suffix == suffix);
	if (ranged) {
		FUZZ_CHECK(cb.offset >= 0 &&
			   (cb.length > 0 || cb.length == -1));
	}
	if (fuzz_verbose) {
		fprintf(stderr, "ranged %d offset %lld length %lld suffix %d\n",
			ranged, (long long)cb.offset, (long long)cb.length,
			cb.suffix);
	}
	free(h);
	return 0;
}

FUZZ_VERBOSE_INITIALIZE
