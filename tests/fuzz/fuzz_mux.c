/* fuzz_mux.c - libFuzzer harness for the Docker multiplexed-stream decoder
 * (src/mux.c).
 *
 * Input: byte 0-3 seed the split of the stream, byte 4 picks after how many
 * callbacks the consumer asks to stop (0: never); the rest is the stream.
 * The stream is decoded in random pieces and checked against a one-shot
 * reference decoder written from the format in mux.h: same payload bytes,
 * same stream numbers, same verdict. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mux.h"

struct sink {
	const uint8_t *in; /* the whole stream, to check callback pointers */
	size_t in_len;
	uint8_t *data;	  /* payload bytes delivered, in order */
	uint8_t *streams; /* the stream number of each delivered byte */
	size_t len;
	size_t calls;
	size_t stop_after; /* 0: never stop */
};

static int sink_cb(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct sink *s = ctx;

	FUZZ_CHECK(stream >= 0 && stream <= 2);
	FUZZ_CHECK(n > 0);
	/* A piece is a slice of what was fed: never past the input. */
	FUZZ_CHECK(p >= s->in && p + n <= s->in + s->in_len);
	FUZZ_CHECK(s->len + n <= s->in_len);
	memcpy(s->data + s->len, p, n);
	memset(s->streams + s->len, stream, n);
	s->len += n;
	s->calls++;
	if (s->stop_after != 0 && s->calls >= s->stop_after) {
		return 7;
	}
	return 0;
}

/* One-shot decode of the whole stream. Returns -1 on a malformed header,
 * else 0; fills data/streams with every payload byte. */
static int reference(const uint8_t *p, size_t n, uint8_t *data,
		     uint8_t *streams, size_t *len)
{
	size_t off = 0;

	*len = 0;
	while (n - off >= MUX_HDR_LEN) {
		const uint8_t *h = p + off;
		uint32_t size;
		size_t take;

		if (h[0] > 2 || h[1] != 0 || h[2] != 0 || h[3] != 0) {
			return -1;
		}
		size = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
		       (uint32_t)h[6] << 8 | h[7];
		off += MUX_HDR_LEN;
		take = n - off < size ? n - off : size;
		memcpy(data + *len, p + off, take);
		memset(streams + *len, h[0], take);
		*len += take;
		off += take;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mux_dec d;
	struct sink s;
	uint8_t *ref_data;
	uint8_t *ref_streams;
	size_t ref_len;
	uint32_t seed;
	const uint8_t *in;
	size_t n;
	size_t off = 0;
	int rc = 0;
	int ref_rc;

	if (size < 5) {
		return 0;
	}
	seed = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
	       (uint32_t)data[2] << 8 | data[3];
	memset(&s, 0, sizeof(s));
	s.stop_after = data[4] % 8;
	in = data + 5;
	n = size - 5;
	s.in = in;
	s.in_len = n;
	s.data = malloc(n + 1);
	s.streams = malloc(n + 1);
	ref_data = malloc(n + 1);
	ref_streams = malloc(n + 1);

	mux_init(&d);
	while (off < n) {
		size_t piece = fuzz_piece(&seed, n - off);

		rc = mux_feed(&d, in + off, piece, sink_cb, &s);
		off += piece;
		if (rc != 0) {
			break;
		}
	}
	/* Feeding nothing is a no-op. */
	if (rc == 0) {
		FUZZ_CHECK(mux_feed(&d, in, 0, sink_cb, &s) == 0);
	}

	ref_rc = reference(in, n, ref_data, ref_streams, &ref_len);
	if (rc == 7) {
		/* The consumer stopped: what came so far is a prefix. */
		FUZZ_CHECK(s.stop_after != 0 && s.calls == s.stop_after);
		FUZZ_CHECK(s.len <= ref_len);
	} else if (rc == -1) {
		FUZZ_CHECK(ref_rc == -1);
		FUZZ_CHECK(s.len == ref_len);
	} else {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(ref_rc == 0);
		FUZZ_CHECK(s.len == ref_len);
		FUZZ_CHECK(d.hdr_have < MUX_HDR_LEN);
	}
	if (s.len > 0) {
		FUZZ_CHECK(memcmp(s.data, ref_data, s.len) == 0);
		FUZZ_CHECK(memcmp(s.streams, ref_streams, s.len) == 0);
	}

	free(s.data);
	free(s.streams);
	free(ref_data);
	free(ref_streams);
	return 0;
}
