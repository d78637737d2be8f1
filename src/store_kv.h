/* store_kv.h - the durable key-value store behind /v1/memory: its own LMDB
 * environment (state_dir/kv) with synchronous commits, so a write that
 * returned 0 is on disk and survives kill -9 of every process. Part of the
 * store layer: this file and store.c are the only ones that call mdb_*.
 *
 * Tables (named databases) and records:
 *   kv     ITEM KEY -> ITEM RECORD
 *   usage  TENANT (16) -> USAGE        the tenant's total
 *          TENANT (16) + NAMESPACE -> USAGE   one row per namespace
 *   exp    EXPIRES (8, big-endian ms) + first 16 bytes of sha256(ITEM KEY)
 *          -> ITEM KEY                 the expiry index the sweep walks
 *
 *   ITEM KEY    = TENANT (16) + NAMESPACE + NUL + KEYPART
 *   TENANT      = the first 16 bytes of sha256("isobox-kv\0" + tenant
 *                 name): fixed width, so a name is data, never a prefix
 *                 of another tenant's rows.
 *   KEYPART     = the user's key when the whole ITEM KEY fits in
 *                 STORE_KV_NATURAL bytes; otherwise the first bytes up to
 *                 STORE_KV_NATURAL - 1 + 1 ... see item_key() in
 *                 store_kv.c: LMDB keys stop at 511 bytes, so a long key
 *                 keeps its head (for ordering and prefixes) and ends in
 *                 the sha256 of the whole user key. The lengths of the two
 *                 forms differ, so they cannot collide.
 *   ITEM RECORD = version 1 (u8), flags (u8), content-type length (u16),
 *                 key length (u16), reserved (u16), created ms (i64),
 *                 updated ms (i64), expires ms (i64, 0: never),
 *                 sha256 of the value (32), then the content type, the
 *                 full user key and the value bytes. Little-endian.
 *   USAGE       = version 1 (u8), 7 reserved, bytes (i64), keys (i64).
 *
 * Bytes charged to a tenant: key length + value length of each item. The
 * usage rows change in the same write transaction as the item, so quotas
 * are exact whatever the number of concurrent writers (LMDB serialises
 * writers across processes).
 *
 * Errors: functions return 0 (or a count) on success and -1 with err set to
 * the user-facing status and code: 404 not_found, 412 precondition_failed,
 * 413 quota_exceeded, 400 incomplete_body, 400 invalid_cursor,
 * 507 storage_full (the map is full), 503 memory_unavailable (no store),
 * 500 store_failed (anything else LMDB reports). */
#ifndef ISOBOX_STORE_KV_H
#define ISOBOX_STORE_KV_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define STORE_KV_TENANT_BYTES 16
/* Longest user key, content type and namespace the store accepts. */
#define STORE_KV_KEY_MAX   512
#define STORE_KV_CTYPE_MAX 255
#define STORE_KV_NS_MAX	   128
/* Longest cursor (an ITEM KEY without its TENANT + NAMESPACE + NUL). */
#define STORE_KV_CURSOR_MAX 512

struct store_kv;

/* What the store knows about one item, besides its value. */
struct store_kv_meta {
	char content_type[STORE_KV_CTYPE_MAX + 1];
	int64_t created_ms;
	int64_t updated_ms;
	int64_t expires_ms; /* 0: never */
	int64_t size;	    /* value bytes */
	char etag[65];	    /* sha256 of the value, lower-case hex */
};

struct store_kv_usage {
	int64_t bytes;
	int64_t keys;
};

/* Open (creating) the environment in dir with a map of map_bytes; a map
 * already larger on disk keeps its size, a larger map_bytes grows it. Takes
 * a shared lock on dir/service.lock for as long as it is open (so
 * store_kv_compact can tell that the service is running). Returns 0 and
 * *out (caller closes), or -1 with 500 store_unavailable in err. */
int store_kv_open(struct store_kv **out, const char *dir, int64_t map_bytes,
		  struct isobox_err *err);
void store_kv_close(struct store_kv *kv);

/* The fixed-width id of a tenant name. */
void store_kv_tenant_id(const char *name, uint8_t id[STORE_KV_TENANT_BYTES]);

/* A precondition on the item as it is now (cur NULL: absent or expired).
 * Return 0 to go on, anything else to refuse with 412. */
typedef int (*store_kv_precond_fn)(void *ctx, const struct store_kv_meta *cur);

/* Receives a live item inside a read transaction: value points into the
 * map and is valid only during the call (never keep it). The return value
 * is returned by store_kv_get. */
typedef int (*store_kv_value_fn)(void *ctx, const struct store_kv_meta *m,
				 const void *value, size_t len);

/* Look up ns/key for tenant. A live item: calls fn (after pre, when not
 * NULL, accepted it) and returns what fn returned. Absent or expired (at
 * now_ms): -1 with 404 not_found; pre refused: -1 with 412 (m is still
 * filled for the caller's headers when present). */
int store_kv_get(struct store_kv *kv, const uint8_t *tenant, const char *ns,
		 const char *key, size_t key_len, int64_t now_ms,
		 store_kv_precond_fn pre, store_kv_value_fn fn, void *ctx,
		 struct store_kv_meta *m, struct isobox_err *err);

/* Fills dst with exactly n bytes of the value (called once, inside the
 * write transaction, with dst pointing into the map). 0, or -1 when the
 * value ended early or could not be read. */
typedef int (*store_kv_fill_fn)(void *ctx, void *dst, size_t n);

struct store_kv_put {
	const char *ns;
	const char *key;
	size_t key_len;
	const char *content_type; /* at most STORE_KV_CTYPE_MAX bytes */
	size_t len;		  /* value bytes */
	int64_t expires_ms;	  /* 0: never */
	int64_t now_ms;
	int64_t quota_bytes; /* the tenant's caps */
	int64_t quota_keys;
	store_kv_precond_fn pre; /* may be NULL */
	store_kv_fill_fn fill;
	void *ctx; /* for pre and fill */
};

/* Create or replace an item in one synchronous write transaction: check
 * pre and the quotas against the committed state, reserve the value's
 * space in the map, let fill write it there (the only copy), hash it and
 * update the usage rows. Returns 0 once the commit is on disk, with *out
 * describing the new item; or -1 with 412, 413 quota_exceeded, 400
 * incomplete_body (fill failed), 507 storage_full or 500 in err. When it
 * fails before fill was called, *filled is 0 (the caller still has the
 * body to drain). */
int store_kv_put(struct store_kv *kv, const uint8_t *tenant,
		 const struct store_kv_put *p, struct store_kv_meta *out,
		 int *filled, struct isobox_err *err);

/* Delete ns/key (absent is fine) unless pre refuses (412). */
int store_kv_delete(struct store_kv *kv, const uint8_t *tenant, const char *ns,
		    const char *key, size_t key_len, int64_t now_ms,
		    store_kv_precond_fn pre, void *ctx, struct isobox_err *err);

/* One item of a listing; key and etag are valid during the call only. */
struct store_kv_item {
	const char *key;
	size_t key_len;
	int64_t size;
	int64_t updated_ms;
	int64_t expires_ms;
	const char *etag;
};
typedef void (*store_kv_item_fn)(void *ctx, const struct store_kv_item *it);

/* List up to limit live items of ns whose key starts with prefix, after
 * cursor (exclusive; NULL or empty: from the start), in key order. Writes
 * the cursor of the next page into next (STORE_KV_CURSOR_MAX bytes) and its
 * length into *next_len, 0 when the listing is complete. Returns 0, or -1
 * with 400 invalid_cursor (a cursor no listing could have produced). */
int store_kv_list(struct store_kv *kv, const uint8_t *tenant, const char *ns,
		  const char *prefix, size_t prefix_len, const uint8_t *cursor,
		  size_t cursor_len, int limit, int64_t now_ms,
		  store_kv_item_fn fn, void *ctx, uint8_t *next,
		  size_t *next_len, struct isobox_err *err);

typedef void (*store_kv_ns_fn)(void *ctx, const char *ns,
			       const struct store_kv_usage *u);
/* The tenant's total usage into *total, and fn once per namespace holding
 * at least one key (in name order; fn may be NULL). Expired items count
 * until the sweep removes them. */
int store_kv_usage(struct store_kv *kv, const uint8_t *tenant,
		   struct store_kv_usage *total, store_kv_ns_fn fn, void *ctx,
		   struct isobox_err *err);

/* Remove items that expired at or before now_ms, at most 256 per write
 * transaction and max in all, freeing their quota. Returns how many were
 * removed, or -1 with err. */
int store_kv_sweep(struct store_kv *kv, int64_t now_ms, int max,
		   struct isobox_err *err);

/* Copy the environment in dir to a compacted file (mdb_env_copy2 with
 * MDB_CP_COMPACT) and put it in place of data.mdb, with map_bytes as the
 * new map size when it is larger. Refuses (-1, 409 store_busy) while a
 * service process has the store open. Returns 0 and the sizes before and
 * after, or -1 with err. */
int store_kv_compact(const char *dir, int64_t *before, int64_t *after,
		     struct isobox_err *err);

#endif
