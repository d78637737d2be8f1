/* ratelimit.h - token buckets per client address and per tenant, kept in
 * the shared LMDB table "buckets" so every FastCGI process draws from the
 * same bucket.
 *
 * The client address is the web server's REMOTE_ADDR. X-Forwarded-For is
 * believed only when REMOTE_ADDR is one of the configured trusted proxies,
 * and then only up to the first untrusted hop from the right: a client
 * cannot pick its own address by sending headers. */
#ifndef ISOBOX_RATELIMIT_H
#define ISOBOX_RATELIMIT_H

#include <stdint.h>

#include "store.h"

/* The table is bounded (store_bound of STORE_BUCKETS, config
 * ratelimit_max_buckets): a stream of requests from ever new addresses
 * (an IPv6 client has 2^64 of them) must not grow it without end. A
 * bucket that has refilled to its burst again holds no information, so it
 * can be deleted at any time. The table buckets_full indexes buckets by
 * the time they are full again, so those are found first without a scan:
 * ratelimit_sweep deletes all of them, and a new bucket at the bound first
 * deletes up to 64. The index has one entry per bucket, so it has the
 * same bound.
 *
 * When the table is at its bound and none of those rows is full, the new
 * address shares one overflow bucket ("overflow:") with every other address
 * in that position, at the same rate. Failing them closed outright would
 * turn a flood into a lockout of every new client; an own bucket would let
 * the flood grow the table. The shared bucket bounds what the whole flood
 * gets to one client's rate, and new clients still get some service.
 * Tenant buckets ("key:NAME") are exempt from the bound: the key file
 * bounds their number. */

/* Take one token from the bucket named key (refilled at per_min tokens a
 * minute, holding at most burst). Returns 0 when allowed; when not, returns
 * the whole seconds until a token is there (>= 1). A store error allows the
 * request (and is logged): limits must not turn into an outage. */
int ratelimit_take(struct store *st, const char *key, int per_min, int burst);
/* The same at wall clock now (milliseconds; for tests). */
int ratelimit_take_at(struct store *st, const char *key, int per_min, int burst,
		      int64_t now);
/* Delete the buckets that are full again at now, in short write
 * transactions. Returns how many, or -errno. */
long ratelimit_sweep(struct store *st, int64_t now);

/* The client address for rate limiting and logs. trusted is the config's
 * comma-separated CIDR list. Copies into out (n bytes). */
void ratelimit_client_ip(const char *remote_addr, const char *xff,
			 const char *trusted, char *out, size_t n);

#endif
