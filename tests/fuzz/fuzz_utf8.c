/* fuzz_utf8.c - libFuzzer harness for api_utf8_clean (src/api_util.c),
 * which makes program output safe to put in a JSON string.
 *
 * Input: arbitrary bytes, as a program may print them. The output must be
 * valid UTF-8 (checked by an independent decoder), keep valid input as it
 * is, replace each bad byte with exactly one U+FFFD, and survive a json-c
 * round trip unchanged. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fuzz_common.h"

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t seq_ref(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint8_t lo = 0x80;
	uint8_t hi = 0xbf;
	size_t i;

	if (c < 0x80) {
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0) {
			lo = 0xa0; /* overlong */
		} else if (c == 0xed) {
			hi = 0x9f; /* surrogates */
		}
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0) {
			lo = 0x90;
		} else if (c == 0xf4) {
			hi = 0x8f; /* past U+10FFFF */
		}
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi) {
		return 0;
	}
	for (i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf) {
			return 0;
		}
	}
	return len;
}

static int valid_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t l = seq_ref(p + i, n - i);

		if (l == 0) {
			return 0;
		}
		i += l;
	}
	return 1;
}

/* The expected cleaning: valid sequences copied, every other byte one
 * U+FFFD. Returns the length written to out (3n bytes suffice). */
static size_t clean_ref(const uint8_t *p, size_t n, uint8_t *out)
{
	size_t i = 0;
	size_t o = 0;

	while (i < n) {
		size_t l = seq_ref(p + i, n - i);

		if (l > 0) {
			memcpy(out + o, p + i, l);
			o += l;
			i += l;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = (size_t)-1;
	char *out = api_utf8_clean(data, size, &len);
	uint8_t *want = malloc(size * 3 + 1);
	size_t wlen = clean_ref(data, size, want);

	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(len <= size * 3);
	FUZZ_CHECK(out[len] == '\0');
	FUZZ_CHECK(valid_utf8((const uint8_t *)out, len));
	if (valid_utf8(data, size)) {
		FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
	}
	FUZZ_CHECK(len == wlen && memcmp(out, want, len) == 0);
	if (len <= 65536) {
		json_object *s = json_object_new_string_len(out, (int)len);
		const char *js =
		    json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN);
		json_object *back = json_tokener_parse(js);

		FUZZ_CHECK(back != NULL &&
			   json_object_is_type(back, json_type_string));
		FUZZ_CHECK((size_t)json_object_get_string_len(back) == len &&
			   memcmp(json_object_get_string(back), out, len) == 0);
		json_object_put(back);
		json_object_put(s);
	}
	free(want);
	free(out);
	return 0;
}
