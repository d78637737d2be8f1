/* fuzz_cursor.c - libFuzzer harness for listing cursors: the query
 * parameter as the router decodes it (src/http.c: http_query_get) and the
 * memory listing's base64url cursor (src/api_memory.c:
 * api_memory_cursor_decode, api_memory_cursor_encode), as ns_list reads it
 * into a KV_CURSOR_MAX buffer; and the hex cursor of the MCP memory tool
 * (src/util.c: hex_decode). Session and volume listings have no cursor
 * (they return every row of the tenant, bounded by the tenant's limits).
 *
 * Input: byte 0: the decode buffer's size (0: KV_CURSOR_MAX); the rest is
 * a query string.
 * Invariants: http_query_get always terminates its output within the
 * buffer; a cursor that decodes re-encodes to itself (without padding:
 * one encoding per value) and never fills more than the buffer; bytes
 * encoded decode to the same bytes; a refusal is -1; hex_decode accepts
 * exactly even-length hex and gives its bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#define FUZZ_WRAP_LOG
#include "fuzz_common.h"
#include "kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req req;
	char cur[1024];
	uint8_t out[KV_CURSOR_MAX + 8];
	size_t cap;
	char *q;
	long k;

	if (size < 1) {
		return 0;
	}
	cap = data[0] % (KV_CURSOR_MAX + 1);
	if (cap == 0) {
		cap = KV_CURSOR_MAX;
	}
	q = malloc(size);
	memcpy(q, data + 1, size - 1);
	q[size - 1] = '\0';
	memset(&req, 0, sizeof(req));
	req.query = q;
	memset(cur, 'x', sizeof(cur));
	if (!http_query_get(&req, "cursor", cur, sizeof(cur))) {
		/* Still try the whole input as a cursor. */
		size_t n =
		    strlen(q) < sizeof(cur) - 1 ? strlen(q) : sizeof(cur) - 1;

		memcpy(cur, q, n);
		cur[n] = '\0';
	}
	FUZZ_CHECK(fuzz_terminated(cur, sizeof(cur)));

	memset(out, 0xa5, sizeof(out));
	k = api_memory_cursor_decode(cur, out, cap);
	FUZZ_CHECK(k >= -1 && k <= (long)cap);
	FUZZ_CHECK(out[cap] == 0xa5); /* nothing past the buffer */
	if (k >= 0) {
		char *e = api_memory_cursor_encode(out, (size_t)k);
		size_t cl = strlen(cur);

		while (cl > 0 && cur[cl - 1] == '=') {
			cl--;
		}
		FUZZ_CHECK(strlen(e) == cl && memcmp(e, cur, cl) == 0);
		free(e);
	}
	/* bytes -> cursor -> bytes */
	{
		size_t n = size - 1 < KV_CURSOR_MAX ? size - 1 : KV_CURSOR_MAX;
		char *e = api_memory_cursor_encode(data + 1, n);
		uint8_t back[KV_CURSOR_MAX];
		long bk = api_memory_cursor_decode(e, back, sizeof(back));

		FUZZ_CHECK(strlen(e) == (n * 4 + 2) / 3);
		FUZZ_CHECK(strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno"
				     "pqrstuvwxyz0123456789-_") == strlen(e));
		FUZZ_CHECK(bk == (long)n && memcmp(back, data + 1, n) == 0);
		free(e);
	}
	/* The MCP tool's hex cursor. */
	{
		size_t cl = strlen(cur);
		uint8_t *hb = malloc(cl / 2 + 1);
		int hr = hex_decode(cur, cl, hb);
		int ok =
		    cl % 2 == 0 && strspn(cur, "0123456789abcdefABCDEF") == cl;

		FUZZ_CHECK((hr == 0) == ok);
		if (ok) {
			size_t i;

			for (i = 0; i < cl / 2; i++) {
				char two[3] = {cur[2 * i], cur[2 * i + 1], 0};

				FUZZ_CHECK(hb[i] == strtoul(two, NULL, 16));
			}
		}
		free(hb);
	}
	if (fuzz_verbose) {
		fprintf(stderr, "cursor '%s': %ld bytes\n", cur, k);
	}
	free(q);
	return 0;
}

FUZZ_VERBOSE_INITIALIZE
