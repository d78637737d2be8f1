/* store.h - the LMDB environment (run_dir/db) that holds the state every
 * FastCGI process must share: the warm pool's claims today; rate-limit
 * buckets, sessions, KV and volumes later. One environment per process,
 * opened after fork; write transactions are short and never span slow
 * work (no engine calls inside a transaction).
 *
 * Tables (named databases):
 *   pool     container id (64 hex) -> struct pool_entry (pool.h)
 *   buckets  "ip:ADDR" | "key:TENANT" -> struct bucket (ratelimit.h)
 *   admit    request id -> struct admission (admit.h) */
#ifndef ISOBOX_STORE_H
#define ISOBOX_STORE_H

#include <lmdb.h>
#include <stdint.h>

#include "util.h"

struct store {
	MDB_env *env;
	MDB_dbi pool;
	MDB_dbi buckets;
	MDB_dbi admit;
};

/* Open (creating) dir/ with a map of map_bytes. Clears reader slots left by
 * dead processes. Returns 0 or -1 with 500 store_unavailable in err. */
int store_open(struct store *s, const char *dir, int64_t map_bytes,
	       struct isobox_err *err);
void store_close(struct store *s);

/* Map an LMDB error from a write to the user-facing error: MDB_MAP_FULL is
 * 507 store_full, anything else 500 store_failed. Returns -1. */
int store_err(struct isobox_err *err, int rc, const char *what);

#endif
