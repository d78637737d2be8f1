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

struct bucket {
	double tokens;
	int64_t updated_ms;
};

/* Take one token from the bucket named key (refilled at per_min tokens a
 * minute, holding at most burst). Returns 0 when allowed; when not, returns
 * the whole seconds until a token is there (>= 1). A store error allows the
 * request (and is logged): limits must not turn into an outage. */
int ratelimit_take(struct store *st, const char *key, int per_min, int burst);

/* The client address for rate limiting and logs. trusted is the config's
 * comma-separated CIDR list. Copies into out (n bytes). */
void ratelimit_client_ip(const char *remote_addr, const char *xff,
			 const char *trusted, char *out, size_t n);

#endif
