/* mux.c - Docker multiplexed stream decoder; see mux.h. */
#include "mux.h"

#include <string.h>

void mux_init(struct mux_dec *d)
{
	memset(d, 0, sizeof(*d));
}

int mux_feed(struct mux_dec *d, const uint8_t *p, size_t n, mux_cb cb,
	     void *ctx)
{
	size_t off = 0;

	while (off < n) {
		if (!d->in_frame) {
			size_t take = MUX_HDR_LEN - d->hdr_have;

			if (take > n - off) {
				take = n - off;
			}
			memcpy(d->hdr + d->hdr_have, p + off, take);
			d->hdr_have += take;
			off += take;
			if (d->hdr_have < MUX_HDR_LEN) {
				return 0;
			}
			if (d->hdr[0] > 2 || d->hdr[1] || d->hdr[2] ||
			    d->hdr[3]) {
				return -1;
			}
			d->stream = d->hdr[0];
			d->left = ((uint32_t)d->hdr[4] << 24) |
				  ((uint32_t)d->hdr[5] << 16) |
				  ((uint32_t)d->hdr[6] << 8) | d->hdr[7];
			d->hdr_have = 0;
			d->in_frame = d->left > 0;
			continue;
		}
		{
			size_t take = d->left;
			int rc;

			if (take > n - off) {
				take = n - off;
			}
			d->left -= (uint32_t)take;
			if (d->left == 0) {
				d->in_frame = 0;
			}
			rc = cb(ctx, d->stream, p + off, take);
			off += take;
			if (rc != 0) {
				return rc;
			}
		}
	}
	return 0;
}
