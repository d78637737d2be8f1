/* fuzz_wire.c - libFuzzer harness for the host <-> guest framing
 * (src/wire.c): the incremental decoder, the payload helpers and the
 * encoders that must produce the same bytes back.
 *
 * Input: bytes 0-3 seed the split of the stream, byte 4 picks the
 * decoder's max (< 64: the default WIRE_MAX_PAYLOAD, else a small cap);
 * the rest is a stream of records. Every record is compared with a one-shot
 * reference decode, re-encoded, and its payload run through wire_kv_get,
 * wire_list_split and wire_name_ok with their documented contracts as
 * invariants. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "wire.h"

struct ref_rec {
	uint8_t type;
	size_t start; /* offset of the header in the stream */
	size_t len;
};

/* One-shot decode: the complete records of p, then -1 if a header asks for
 * more than max, else 0. */
static int reference(const uint8_t *p, size_t n, size_t max,
		     struct ref_rec *out, size_t *nout)
{
	size_t off = 0;

	*nout = 0;
	while (n - off >= WIRE_HDR_LEN) {
		const uint8_t *h = p + off;
		size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 |
			     (size_t)h[3] << 8 | h[4];

		if (len > max) {
			return -1;
		}
		if (n - off - WIRE_HDR_LEN < len) {
			break;
		}
		out[*nout].type = h[0];
		out[*nout].start = off;
		out[*nout].len = len;
		(*nout)++;
		off += WIRE_HDR_LEN + len;
	}
	return 0;
}

/* wire_name_ok written from its contract in wire.h. */
static int name_ref(const char *s, size_t n)
{
	size_t i;
	size_t start = 0;
	size_t comps = 0;

	if (n < 1 || n > WIRE_MAX_NAME || s[0] == '/') {
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			return -1;
		}
	}
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			size_t cl = i - start;

			if (cl == 0 || (cl == 1 && s[start] == '.') ||
			    (cl == 2 && s[start] == '.' &&
			     s[start + 1] == '.')) {
				return -1;
			}
			comps++;
			start = i + 1;
		}
	}
	return comps <= 8 ? 0 : -1;
}

static void check_name(const char *s, size_t n)
{
	int ok = wire_name_ok(s, n);
	size_t i;

	FUZZ_CHECK(ok == 0 || ok == -1);
	FUZZ_CHECK(ok == name_ref(s, n));
	if (ok == 0) {
		/* The properties the guest relies on to stay inside /box. */
		FUZZ_CHECK(s[0] != '/');
		FUZZ_CHECK(memchr(s, '\0', n) == NULL);
		for (i = 0; i + 1 < n; i++) {
			FUZZ_CHECK(!(s[i] == '.' && s[i + 1] == '.' &&
				     (i == 0 || s[i - 1] == '/') &&
				     (i + 2 == n || s[i + 2] == '/')));
		}
	}
}

/* wire_kv_get written from its contract: the first entry named key decides;
 * the unterminated tail of a payload holds no entry. */
static int kv_ref(const uint8_t *p, size_t n, const char *key, long long *out)
{
	size_t kl = strlen(key);
	size_t i = 0;

	while (i < n) {
		const char *e = (const char *)p + i;
		size_t el = strnlen(e, n - i);
		char *ep;

		if (el == n - i) {
			return 0;
		}
		if (el > kl && strncmp(e, key, kl) == 0 && e[kl] == '=') {
			errno = 0;
			*out = strtoll(e + kl + 1, &ep, 10);
			return errno == 0 && ep != e + kl + 1 && *ep == '\0';
		}
		i += el + 1;
	}
	return 0;
}

static void check_kv(const uint8_t *p, size_t n, const char *key)
{
	long long got = 0x5a5a;
	long long want = 0;
	int r = wire_kv_get(p, n, key, &got);
	int rr = kv_ref(p, n, key, &want);

	FUZZ_CHECK(r == rr);
	if (r) {
		FUZZ_CHECK(got == want);
	} else {
		FUZZ_CHECK(got == 0x5a5a); /* *out untouched */
	}
}

static void check_payload(const struct wire_rec *rec)
{
	static const char *const keys[] = {
	    WIRE_RES_EXIT,
	    WIRE_RES_SIGNAL,
	    WIRE_RES_TIMED_OUT,
	    WIRE_RES_TRUNCATED,
	    WIRE_RES_DURATION,
	    WIRE_LIMIT_PIDS,
	    WIRE_LIMIT_COMPILE_WALL_MS,
	    WIRE_LIMIT_RUN_WALL_MS,
	    WIRE_LIMIT_OUTPUT,
	    WIRE_LIMIT_FSIZE,
	    WIRE_LIMIT_NOFILE,
	    "",
	};
	const uint8_t *p = rec->payload;
	size_t n = rec->len;
	size_t count = 99;
	char **v;
	size_t i;
	struct wire_buf b = {0};

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		check_kv(p, n, keys[i]);
		if (n > 0) {
			check_kv(p + 1, n - 1,
				 keys[i]); /* RESULT: after stage */
		}
	}
	/* A key taken from the payload itself, to reach the found branch. */
	if (n > 0) {
		const uint8_t *eq = memchr(p, '=', n < 64 ? n : 64);

		if (eq != NULL) {
			char key[65];
			size_t kl = (size_t)(eq - p);

			memcpy(key, p, kl);
			key[kl] = '\0';
			check_kv(p, n, key);
		}
	}

	v = wire_list_split(p, n, &count);
	if (n == 0) {
		FUZZ_CHECK(v != NULL && v[0] == NULL && count == 0);
	} else if (p[n - 1] != '\0') {
		FUZZ_CHECK(v == NULL);
	} else {
		size_t nuls = 0;
		const char *at = (const char *)p;

		for (i = 0; i < n; i++) {
			nuls += p[i] == '\0';
		}
		FUZZ_CHECK(v != NULL && count == nuls);
		for (i = 0; i < count; i++) {
			FUZZ_CHECK(v[i] == at);
			check_name(v[i], strlen(v[i]));
			FUZZ_CHECK(wire_str_add(&b, v[i]) == 0);
			at += strlen(v[i]) + 1;
		}
		FUZZ_CHECK(v[count] == NULL);
		FUZZ_CHECK(at == (const char *)p + n);
		/* Re-encoding the list gives the payload back. */
		FUZZ_CHECK(b.len == n && memcmp(b.p, p, n) == 0);
	}
	free(v);
	wire_buf_free(&b);

	if (n <= 300) {
		check_name((const char *)p, n);
	}
	if (rec->type == WIRE_FILE && n >= 2) {
		size_t nl = (size_t)p[0] << 8 | p[1];

		if (nl <= n - 2) {
			const char *name = (const char *)p + 2;

			check_name(name, nl);
			if (nl <= WIRE_MAX_NAME &&
			    memchr(name, '\0', nl) == NULL) {
				char tmp[WIRE_MAX_NAME + 1];

				memcpy(tmp, name, nl);
				tmp[nl] = '\0';
				FUZZ_CHECK(wire_put_file(&b, tmp, p + 2 + nl,
							 n - 2 - nl) == 0);
				FUZZ_CHECK(b.len == WIRE_HDR_LEN + n &&
					   b.p[0] == WIRE_FILE &&
					   memcmp(b.p + WIRE_HDR_LEN, p, n) ==
					       0);
				wire_buf_free(&b);
			}
		}
	}
	if (rec->type == WIRE_OUT && n >= 6) {
		FUZZ_CHECK(wire_put_out(&b, wire_get32(p), p[4], p[5], p + 6,
					n - 6) == 0);
		FUZZ_CHECK(b.len == WIRE_HDR_LEN + n &&
			   memcmp(b.p + WIRE_HDR_LEN, p, n) == 0);
		wire_buf_free(&b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_dec d;
	struct ref_rec *ref;
	size_t nref;
	size_t nrec = 0;
	size_t max;
	uint32_t seed;
	const uint8_t *in;
	size_t n;
	size_t off = 0;
	int rc = 0;
	int ref_rc;
	int failed = 0;

	if (size < 5) {
		return 0;
	}
	seed = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
	       (uint32_t)data[2] << 8 | data[3];
	max = data[4] < 64 ? 0 : (size_t)(data[4] - 64) * 64;
	in = data + 5;
	n = size - 5;
	ref = malloc((n / WIRE_HDR_LEN + 1) * sizeof(*ref));
	ref_rc = reference(in, n, max ? max : WIRE_MAX_PAYLOAD, ref, &nref);

	memset(&d, 0, sizeof(d));
	d.max = max;
	while (off < n && !failed) {
		size_t piece = fuzz_piece(&seed, n - off);
		const uint8_t *p = in + off;

		off += piece;
		while (piece > 0) {
			struct wire_rec rec;
			size_t used = (size_t)-1;

			rc = wire_dec_feed(&d, p, piece, &used, &rec);
			FUZZ_CHECK(used <= piece);
			if (rc < 0) {
				FUZZ_CHECK(rc == -1);
				failed = 1;
				break;
			}
			if (rc == 0) {
				/* No record yet: everything was taken. */
				FUZZ_CHECK(used == piece);
			} else {
				struct wire_buf b = {0};
				const struct ref_rec *r;

				FUZZ_CHECK(rc == 1);
				/* Progress, or callers would spin. */
				FUZZ_CHECK(used > 0);
				FUZZ_CHECK(nrec < nref);
				r = &ref[nrec++];
				FUZZ_CHECK(rec.type == r->type);
				FUZZ_CHECK(rec.len == r->len);
				FUZZ_CHECK(rec.len == 0 ||
					   memcmp(rec.payload,
						  in + r->start + WIRE_HDR_LEN,
						  rec.len) == 0);
				/* End of this record = where the decoder is. */
				FUZZ_CHECK(p + used == in + r->start +
							   WIRE_HDR_LEN +
							   r->len);
				FUZZ_CHECK(wire_put(&b, rec.type, rec.payload,
						    rec.len) == 0);
				FUZZ_CHECK(b.len == WIRE_HDR_LEN + rec.len &&
					   memcmp(b.p, in + r->start, b.len) ==
					       0);
				wire_buf_free(&b);
				check_payload(&rec);
			}
			p += used;
			piece -= used;
		}
	}
	FUZZ_CHECK(nrec == nref);
	FUZZ_CHECK(failed == (ref_rc == -1));
	wire_dec_free(&d);
	free(ref);
	return 0;
}
