/* mux.h - incremental decoder of Docker's multiplexed attach/logs stream.
 *
 * When a container has no TTY, the engine frames its output as
 *     u8 stream (0 stdin, 1 stdout, 2 stderr) | 3 zero bytes | u32 BE size
 * followed by size bytes. The decoder takes bytes as they arrive from the
 * socket, in any split, and calls back once per payload piece. */
#ifndef ISOBOX_MUX_H
#define ISOBOX_MUX_H

#include <stddef.h>
#include <stdint.h>

#define MUX_HDR_LEN 8

/* Called with a piece of one frame's payload (a frame may be delivered in
 * several pieces). Return 0 to go on, non-zero to stop decoding: mux_feed
 * then returns that value. */
typedef int (*mux_cb)(void *ctx, int stream, const uint8_t *p, size_t n);

struct mux_dec {
	uint8_t hdr[MUX_HDR_LEN];
	size_t hdr_have;
	int stream;
	uint32_t left; /* payload bytes of the current frame not yet seen */
	int in_frame;
};

void mux_init(struct mux_dec *d);
/* Decode n bytes. Returns 0 when all were consumed, the callback's non-zero
 * value if it stopped, or -1 if a header is malformed (stream > 2 or
 * non-zero padding): the stream is then unusable. */
int mux_feed(struct mux_dec *d, const uint8_t *p, size_t n, mux_cb cb,
	     void *ctx);

#endif
