/* auth.h - API keys and the tenants they map to.
 *
 * Keys come from the config's api_key (tenant "default") and from an
 * optional keys file (config keys_file), re-read when it changes, so keys
 * can be added or revoked without a restart:
 *
 *   keys:
 *     - name: alice                 # the tenant: [A-Za-z0-9] then
 *                                   # [A-Za-z0-9_.-]{0,62}; unique,
 *                                   # not "public" nor "default"
 *       sha256: <64 hex>            # SHA-256 of the key (never the key)
 *       concurrency: 2              # optional: sandboxes at once
 *       rate_per_min: 60            # optional: token bucket refill
 *       rate_burst: 20              # optional: bucket size
 *       network: false              # optional: may ask for network
 *                                   # (false by default; allow_network
 *                                   # must be on as well)
 *       ceilings: {memoryBytes: 268435456, wallTimeMs: 10000}  # optional
 *       memory_bytes: 10485760      # optional: /v1/memory quota (bytes)
 *       memory_keys: 10000          # optional: /v1/memory quota (keys)
 *       session_disk_bytes: 256MiB  # optional: lowers a session's disk cap
 *
 * With no api_key and no keys_file configured, every request is tenant
 * "public". Once either is configured, a request without a valid key is
 * 401: keyless requests never run (a keys_file that is missing is an error,
 * one that lists no keys lets nobody in). Keys are compared by their
 * SHA-256 digests in constant time. */
#ifndef ISOBOX_AUTH_H
#define ISOBOX_AUTH_H

#include <stddef.h>

#include "limits.h"
#include "util.h"

/* Who a request is. Only the kind tells callers apart: a name is data
 * (a keys-file name can never be one of the reserved ones below, nor "",
 * ".", ".." or "-", and it is safe as one path component). */
enum tenant_kind {
	TENANT_NONE = 0, /* no valid key (on a route that needs none) */
	TENANT_OPEN,	 /* no keys configured: everyone, named "public" */
	TENANT_KEY,	 /* a valid key: the api_key's or a keys-file entry */
};
#define AUTH_TENANT_OPEN    "public"
#define AUTH_TENANT_API_KEY "default"

struct tenant {
	enum tenant_kind kind;
	char name[64]; /* unique among TENANT_KEY tenants (case-insensitive) */
	unsigned char hash[32];
	int concurrency;  /* 0: only the global cap applies */
	int rate_per_min; /* 0: the config's per-address default */
	int rate_burst;
	int network; /* may run with "network": true (the api_key tenant and
		      * "public" may; a keys_file entry only with
		      * network: true) */
	struct limits_partial ceilings; /* lowers the config's ceilings */
	int64_t memory_bytes; /* /v1/memory quota, 0: memory_tenant_bytes */
	int64_t memory_keys;  /* /v1/memory quota, 0: memory_tenant_keys */
	int64_t session_disk_bytes; /* lowers session_disk_bytes, 0: none */
};

struct keyring {
	int refs;
	int required; /* a keys file is configured: no key, no entry */
	struct tenant *t;
	size_t n;
};

/* Load the keyring from api_key (may be "") and keys_file (may be "" or
 * missing). NULL with err (naming file and line) when the file is broken,
 * including a name that is malformed, reserved or used twice. */
struct keyring *auth_load(const char *api_key, const char *keys_file,
			  struct isobox_err *err);
void auth_free(struct keyring *k);

/* Process-wide current keyring with the same refcounting as the catalogue:
 * auth_reload swaps in a new one when keys_file changed (or force) and
 * returns 1; 0 when nothing changed; -EINVAL when the file does not load,
 * after logging why: the previous keys then stay in force. */
int auth_reload(const char *api_key, const char *keys_file, int force);
struct keyring *auth_get(void);
void auth_put(struct keyring *k);

/* Find the tenant for a presented key (NULL or "" when none was sent).
 * Fills *out and returns 0; returns -1 with 401 unauthorized when keys are
 * configured and the key is missing or wrong. */
int auth_check(const struct keyring *k, const char *key, struct tenant *out,
	       struct isobox_err *err);

/* The key a request presents: X-API-Key, else "Authorization: Bearer K".
 * Returns a pointer into the headers or NULL. */
const char *auth_presented(const char *x_api_key, const char *authorization);

/* SHA-256 of s as 64 lower-case hex characters plus NUL. */
void auth_sha256_hex(const char *s, char out[65]);

#endif
