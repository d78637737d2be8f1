/* fuzz_session.c - libFuzzer harness for what a session guest reads from a
 * host (src/wire.c: wire_sess_feed, wire_host_type, wire_path_ok on the
 * paths of file operations).
 *
 * Input: bytes 0-3 seed the split of the stream, the rest is the stream.
 * Invariants: the decoder never fails and always progresses; every record
 * it returns has a host type, at most WIRE_SESSION_MAX bytes, and a NOOP is
 * empty; after a reported framing error the next record is a SYNC (the
 * scan resumes only at its header); a stream with no framing error gives
 * exactly the records of a one-shot reference decode; and the takeover
 * rule of wire.h: whatever the input, WIRE_PAD_LEN zeros and a SYNC after
 * it make that SYNC, with its nonce, the last record returned. The padding
 * costs some 13000 no-op records, so one input in eight (byte 0 & 7 == 0)
 * gets it; the others are checked without it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "wire.h"

static const uint8_t nonce[WIRE_NONCE_LEN] = "fuzz-nonce-12345";

/* The paths of file operations, where they sit in each record. */
static void check_op(const struct wire_rec *rec)
{
	size_t skip;
	const char *path;
	size_t n;
	int ok;
	size_t i;

	switch (rec->type) {
	case WIRE_FPUT:
		skip = 8;
		break;
	case WIRE_FGET:
		skip = 20;
		break;
	case WIRE_FLIST:
	case WIRE_FDEL:
		skip = 4;
		break;
	default:
		return;
	}
	if (rec->len < skip) {
		return;
	}
	path = (const char *)rec->payload + skip;
	n = rec->len - skip;
	ok = wire_path_ok(path, n);
	FUZZ_CHECK(ok == 0 || ok == -1);
	if (ok == 0) {
		/* What the guest relies on to stay beneath its work dir. */
		FUZZ_CHECK(n >= 1 && n <= WIRE_PATH_MAX && path[0] != '/');
		FUZZ_CHECK(memchr(path, '\0', n) == NULL);
		for (i = 0; i + 1 < n; i++) {
			FUZZ_CHECK(!(path[i] == '.' && path[i + 1] == '.' &&
				     (i == 0 || path[i - 1] == '/') &&
				     (i + 2 == n || path[i + 2] == '/')));
		}
	}
}

/* One-shot reference: records of a stream that has no framing error, or
 * -1 at the first header a session refuses. */
static long reference(const uint8_t *p, size_t n, size_t *ends, size_t cap)
{
	size_t off = 0;
	long k = 0;

	while (n - off >= WIRE_HDR_LEN) {
		uint8_t t = p[off];
		uint32_t len = wire_get32(p + off + 1);

		if (!wire_host_type(t) || len > WIRE_SESSION_MAX ||
		    (t == WIRE_NOOP && len != 0)) {
			return -1;
		}
		if (n - off - WIRE_HDR_LEN < len) {
			break;
		}
		off += WIRE_HDR_LEN + len;
		if ((size_t)k < cap) {
			ends[k] = off;
		}
		k++;
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_sess s;
	struct wire_buf tail = {0};
	uint8_t *stream;
	size_t *ends;
	size_t n;
	size_t total;
	size_t off = 0;
	size_t nrec = 0;
	size_t nin = 0; /* records that ended inside the input */
	long nref;
	uint32_t seed;
	int after_error = 0;
	int errors = 0;
	int last_is_ours = 0;
	int takeover;
	size_t pad;

	if (size < 4) {
		return 0;
	}
	seed = wire_get32(data);
	takeover = (data[0] & 7) == 0;
	pad = takeover ? WIRE_PAD_LEN : 0;
	n = size - 4;
	/* input | WIRE_PAD_LEN zeros | SYNC(nonce) */
	if (takeover) {
		FUZZ_CHECK(wire_put(&tail, WIRE_SYNC, nonce, sizeof(nonce)) ==
			   0);
	}
	total = n + pad + tail.len;
	stream = calloc(1, total + 1);
	memcpy(stream, data + 4, n);
	if (tail.len) {
		memcpy(stream + n + pad, tail.p, tail.len);
	}
	ends = malloc((n / WIRE_HDR_LEN + 1) * sizeof(*ends));
	nref = reference(data + 4, n, ends, n / WIRE_HDR_LEN + 1);

	memset(&s, 0, sizeof(s));
	wire_sess_init(&s);
	while (off < total) {
		size_t piece = fuzz_piece(&seed, total - off);

		/* The padding at once: it is long. */
		if (off >= n && off < n + pad) {
			piece = total - off;
		}
		while (piece > 0) {
			struct wire_rec rec;
			size_t used = (size_t)-1;
			int desync = 0;
			int r = wire_sess_feed(&s, stream + off, piece, &used,
					       &rec, &desync);

			FUZZ_CHECK(r == 0 || r == 1);
			FUZZ_CHECK(used <= piece);
			off += used;
			piece -= used;
			if (desync) {
				errors++;
				after_error = 1;
			}
			if (r == 0) {
				FUZZ_CHECK(piece == 0);
				break;
			}
			FUZZ_CHECK(used > 0 || rec.len == 0);
			FUZZ_CHECK(wire_host_type(rec.type));
			FUZZ_CHECK(rec.len <= WIRE_SESSION_MAX);
			FUZZ_CHECK(rec.type != WIRE_NOOP || rec.len == 0);
			if (after_error) {
				FUZZ_CHECK(rec.type == WIRE_SYNC &&
					   rec.len == WIRE_NONCE_LEN);
				after_error = 0;
			}
			/* Without framing errors, the reference's records,
			 * ending at the same offsets. */
			if (nref >= 0 && off <= n) {
				FUZZ_CHECK(errors == 0);
				FUZZ_CHECK((long)nin < nref);
				FUZZ_CHECK(ends[nin] == off);
				nin++;
			}
			check_op(&rec);
			nrec++;
			last_is_ours =
			    off == total && rec.type == WIRE_SYNC &&
			    rec.len == WIRE_NONCE_LEN &&
			    memcmp(rec.payload, nonce, sizeof(nonce)) == 0;
		}
	}
	if (nref >= 0) {
		FUZZ_CHECK((long)nin == nref);
	}
	FUZZ_CHECK((unsigned long)errors == s.errors);
	/* The takeover rule. */
	if (takeover) {
		FUZZ_CHECK(last_is_ours);
		FUZZ_CHECK(!s.scanning && !s.dec.in_payload &&
			   s.dec.hdr_have == 0);
	}
	wire_sess_free(&s);
	wire_buf_free(&tail);
	free(ends);
	free(stream);
	return 0;
}
