/* kv.h - the durable key-value store behind /v1/memory: three tables of
 * the store's durable environment (STORE_STATE, state_dir/db, synchronous
 * commits), so a write that returned 0 is on disk and survives kill -9 of
 * every process. KV logic only: every LMDB call goes through store.h.
 *
 * Tables (STORE_TABLES in store.h) and records (store.h's typed records,
 * version byte KV_REC_VERSION):
 *   kv         ITEM KEY -> ITEM: created ms, updated ms, expires ms (0:
 *              never) as i64; sha256 of the value (32 raw); content type
 *              (str); the full user key (bytes); then the value as the
 *              record's payload (store_put_reserve).
 *   kv_usage   TENANT (16) -> USAGE: bytes, keys (i64), the tenant's total;
 *              TENANT (16) + NAMESPACE -> USAGE, one row per namespace.
 *   kv_expiry  EXPIRES (8, big-endian ms) + first 16 bytes of sha256(ITEM
 *              KEY) -> ITEM KEY (bytes): the index the sweep walks.
 *
 *   ITEM KEY   = TENANT (16) + NAMESPACE + NUL + KEYPART
 *   TENANT     = the first 16 bytes of sha256("isobox-kv\0" + tenant name):
 *                fixed width, so a name is data, never a prefix of another
 *                tenant's rows.
 *   KEYPART    = the user's key when it has at most KV_KEY_NATURAL bytes;
 *                otherwise its first KV_KEY_NATURAL + 1 bytes and the
 *                sha256 of the whole key (LMDB keys stop at STORE_KEY_MAX
 *                bytes). A long key keeps its head, for ordering and
 *                prefixes; the two forms have different lengths, so they
 *                cannot collide, and the record holds the full key.
 *
 * Bytes charged to a tenant: key length + value length of each item. The
 * usage rows change in the same transaction as the item, so quotas are
 * exact whatever the number of concurrent writers.
 *
 * Writes are group-committed: concurrent kv_write calls of one process
 * share one write transaction and one fsync. Each runs in its own nested
 * transaction, so one refused write (precondition, quota, a full map)
 * leaves the others of its batch alone; each caller returns once the
 * commit holding its write is on disk. Writers of several processes are
 * serialised by LMDB's writer lock, each process batching its own.
 *
 * Errors: functions return 0 (or a count) and -1 with err set to the
 * user-facing status and code: 404 not_found, 412 precondition_failed,
 * 413 quota_exceeded, 400 invalid_request, 400 invalid_cursor,
 * 507 store_full (the map is full), 503 memory_unavailable (no durable
 * store), 500 store_failed (anything else, including a record of another
 * version). */
#ifndef ISOBOX_KV_H
#define ISOBOX_KV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

#define KV_REC_VERSION	1
#define KV_TENANT_BYTES 16
/* Longest user key, content type and namespace the store accepts. */
#define KV_KEY_MAX   512
#define KV_CTYPE_MAX 255
#define KV_NS_MAX    128
/* Longest key kept whole in its ITEM KEY: 16 + 128 + 1 + (332 + 1 + 32)
 * is STORE_KEY_MAX. */
#define KV_KEY_NATURAL 332
/* Longest listing cursor (a KEYPART). */
#define KV_CURSOR_MAX (KV_KEY_NATURAL + 1 + 32)
/* Writes one group commit carries at most. */
#define KV_BATCH_MAX 64

struct kv_op;

/* One process's KV: the store it lives in (borrowed) and its group-commit
 * queue. */
struct kv {
	struct store *store;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kv_op *head; /* queued writes, oldest first */
	struct kv_op *tail;
	int leading;	  /* a thread is committing a batch */
	uint64_t commits; /* batches run, and the writes in them (refused
			   * ones included) */
	uint64_t writes;
};

/* What the store knows about one item, besides its value. */
struct kv_meta {
	char content_type[KV_CTYPE_MAX + 1];
	int64_t created_ms;
	int64_t updated_ms;
	int64_t expires_ms; /* 0: never */
	int64_t size;	    /* value bytes */
	char etag[65];	    /* sha256 of the value, lower-case hex */
};

struct kv_usage {
	int64_t bytes;
	int64_t keys;
};

/* Set up kv over store (borrowed; its STORE_STATE may be closed, then
 * every call is 503). */
void kv_init(struct kv *kv, struct store *store);
/* No write may be in flight. */
void kv_free(struct kv *kv);

/* The fixed-width id of a tenant name. */
void kv_tenant_id(const char *name, uint8_t id[KV_TENANT_BYTES]);

/* A precondition on the item as it is now (cur NULL: absent or expired).
 * Return 0 to go on, anything else to refuse with 412. For writes it runs
 * in whichever thread commits the batch, while the caller waits: it must
 * only read ctx. */
typedef int (*kv_precond_fn)(void *ctx, const struct kv_meta *cur);

/* Receives a live item inside a read transaction: value points into the
 * map and is valid only during the call (never keep it). Its return value
 * is kv_get's. */
typedef int (*kv_value_fn)(void *ctx, const struct kv_meta *m,
			   const void *value, size_t len);

/* Look up ns/key for tenant. A live item: calls fn (after pre, when not
 * NULL, accepted it) and returns what fn returned (0 when fn is NULL).
 * Absent or expired (at now_ms): -1 with 404 not_found; pre refused: -1
 * with 412 (m is still filled for the caller's headers). */
int kv_get(struct kv *kv, const uint8_t *tenant, const char *ns,
	   const char *key, size_t key_len, int64_t now_ms, kv_precond_fn pre,
	   kv_value_fn fn, void *ctx, struct kv_meta *m,
	   struct isobox_err *err);

/* One write: create or replace (del 0) or delete (del 1) ns/key. Every
 * pointer is borrowed until kv_write returns. */
struct kv_write {
	int del;
	const uint8_t *tenant; /* KV_TENANT_BYTES */
	const char *ns;
	const char *key;
	size_t key_len;
	const char *content_type; /* put: at most KV_CTYPE_MAX bytes */
	const void *value;	  /* put: the whole value, already read */
	size_t len;
	int64_t expires_ms; /* put: 0 never */
	int64_t now_ms;
	int64_t quota_bytes; /* put: the tenant's caps */
	int64_t quota_keys;
	kv_precond_fn pre; /* may be NULL */
	void *ctx;
};

/* Apply w in the next group commit and return once that commit is on
 * disk. A put checks pre and the quotas against the state its batch has
 * reached, replaces the item and its usage rows; *out (may be NULL)
 * describes the new item. A delete of an absent item is 0 (no write).
 * Returns 0, or -1 with 412, 413 quota_exceeded, 400 invalid_request, 507
 * store_full, 503 or 500 in err. */
int kv_write(struct kv *kv, const struct kv_write *w, struct kv_meta *out,
	     struct isobox_err *err);

/* One item of a listing; key and etag are valid during the call only. */
struct kv_item {
	const char *key;
	size_t key_len;
	int64_t size;
	int64_t updated_ms;
	int64_t expires_ms;
	const char *etag;
};
typedef void (*kv_item_fn)(void *ctx, const struct kv_item *it);

/* List up to limit live items of ns whose key starts with prefix, after
 * cursor (exclusive; cursor_len 0: from the start), in key order. Writes
 * the cursor of the next page into next (KV_CURSOR_MAX bytes) and its
 * length into *next_len, 0 when the listing is complete. Returns 0, or -1
 * with 400 invalid_cursor (a cursor no listing could have produced). */
int kv_list(struct kv *kv, const uint8_t *tenant, const char *ns,
	    const char *prefix, size_t prefix_len, const uint8_t *cursor,
	    size_t cursor_len, int limit, int64_t now_ms, kv_item_fn fn,
	    void *ctx, uint8_t *next, size_t *next_len, struct isobox_err *err);

typedef void (*kv_ns_fn)(void *ctx, const char *ns, const struct kv_usage *u);
/* The tenant's total usage into *total, and fn once per namespace holding
 * at least one key (in name order; fn may be NULL). Expired items count
 * until the sweep removes them. */
int kv_usage_get(struct kv *kv, const uint8_t *tenant, struct kv_usage *total,
		 kv_ns_fn fn, void *ctx, struct isobox_err *err);

/* Remove items that expired at or before now_ms, at most 256 per write
 * transaction and max in all, freeing their quota. Returns how many were
 * removed, or -1 with err. */
int kv_sweep(struct kv *kv, int64_t now_ms, int max, struct isobox_err *err);

#endif
