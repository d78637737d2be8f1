/* store.h - the one wrapper around LMDB: every mdb_* call of the service is
 * in store.c. Other modules see named tables, typed records, transactions,
 * cursors and a bounded sweep, and get 0 / -errno back.
 *
 * Two environments, each opened after fork, one per process:
 *   STORE_RUN    run_dir/db: runtime state the FastCGI processes of one
 *                deployment share; meaningless after a reboot. Commits are
 *                not fsynced (MDB_NOSYNC): a host crash may lose the last
 *                commits, never consistency.
 *   STORE_STATE  state_dir/db: durable user data (sessions, KV, volumes).
 *                Every commit is synchronous (fsync before it returns).
 *
 * Tables: STORE_TABLES below, one line each (name, environment, record
 * type tag); adding one is adding a line. A table that can grow without
 * bound gets a row bound (store_bound_set) and a sweep.
 *
 * Records: a value is [type tag u8][version u8][fields...]. Fields are
 * little-endian fixed width (i64, f64) or strings (u16 length + bytes).
 * Readers go through store_dec_*, which check the tag, the version and
 * every length: a value is never copied blindly into a struct. Keys are
 * strings of 1..STORE_KEY_MAX bytes.
 *
 * Errors: -ENOENT (no such row / end of a cursor), -ENOSPC (the map is
 * full: user-facing, see store_err), -EPROTO (a malformed record or one of
 * another table), -EPROTONOSUPPORT (a record of another version), -EINVAL
 * (bad key, a record too long), -EIO (anything else LMDB reports; logged).
 *
 * Transactions: one per thread at a time, short, and never across slow
 * work (engine calls, network). A write transaction is exclusive across
 * every process of the environment. A read transaction may stay open while
 * a value is copied out of the map into the response (kv.c): it holds no
 * lock, only keeps the pages it sees from being reused.
 *
 * Keys are NUL-terminated strings (store_get, ...) or, for tables whose
 * keys hold binary fields, bytes with a length (store_get_bin, ...).
 * Records are at most STORE_REC_MAX bytes, except that one may carry a
 * payload of any size after its fields (store_put_reserve,
 * store_dec_rest): the value of a KV item. */
#ifndef ISOBOX_STORE_H
#define ISOBOX_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* LMDB's types, kept opaque: including store.h does not give access to
 * mdb_* (only store.c includes lmdb.h). */
struct MDB_env;
struct MDB_txn;
struct MDB_cursor;

enum store_env { STORE_RUN = 0, STORE_STATE = 1, STORE_NENVS };

/* X(ID, "name", environment, record type tag). Tags are part of the
 * on-disk format of durable tables: never renumber one. */
#define STORE_TABLES(X)                                                        \
	X(POOL, "pool", STORE_RUN, 1)		/* container id -> pool.c */   \
	X(BUCKETS, "buckets", STORE_RUN, 2)	/* ip:/key: -> ratelimit.c */  \
	X(ADMIT, "admit", STORE_RUN, 3)		/* holder id -> admit.c */     \
	X(ADMIT_SUM, "admit_sum", STORE_RUN, 4) /* "total" -> admit.c */       \
	X(META, "meta", STORE_STATE, 5)		/* "schema" -> version */      \
	X(BUCKETS_FULL, "buckets_full", STORE_RUN, 6) /* expiry index */       \
	X(KV, "kv", STORE_STATE, 7)		  /* tenant+ns+key -> kv.c */  \
	X(KV_USAGE, "kv_usage", STORE_STATE, 8)	  /* tenant[+ns] -> kv.c */    \
	X(KV_EXPIRY, "kv_expiry", STORE_STATE, 9) /* expiry index, kv.c */     \
	X(SESSIONS, "sessions", STORE_STATE, 10)  /* id -> session.c */        \
	X(SESSIONS_EXPIRY, "sessions_expiry", STORE_STATE, 11) /* index */     \
	X(VOLUMES, "volumes", STORE_STATE, 12)		 /* id -> volume.c */  \
	X(VOLUME_NAMES, "volume_names", STORE_STATE, 13) /* name -> id */      \
	X(KPOOL, "kpool", STORE_RUN, 14) /* id -> session_pool.c */

enum store_table {
#define STORE_TABLE_ENUM(id, name, env, tag) STORE_##id,
	STORE_TABLES(STORE_TABLE_ENUM)
#undef STORE_TABLE_ENUM
	    STORE_NTABLES
};

/* The durable environment's schema version (meta table, key "schema"). */
#define STORE_SCHEMA_VERSION 1

#define STORE_KEY_MAX 510  /* LMDB's limit less one for sweep resumes */
#define STORE_REC_MAX 2048 /* a session row with its volumes fits */

struct store {
	struct MDB_env *env[STORE_NENVS];
	int lock_fd[STORE_NENVS]; /* shared flock on dir/service.lock, while
				   * env[e] is open (store_compact) */
	unsigned int dbi[STORE_NTABLES];
	size_t bound[STORE_NTABLES]; /* 0: no bound */
	/* Every top-level transaction of this process holds resize[e] shared;
	 * adopting a map another process grew (mdb_env_set_mapsize) needs
	 * it exclusive: LMDB allows that only with no transaction open. */
	pthread_rwlock_t resize[STORE_NENVS];
};

/* Zero s; no environment open. */
void store_init(struct store *s);
/* Open (creating dir, mode 0700, and the tables of e) environment e at dir
 * with a map of map_bytes (never below the pages in use);
 * take a shared flock on dir/service.lock for as long as it is open; clear
 * the reader slots of dead processes; for STORE_STATE, write or check the
 * schema version. Returns 0, or -1 with 500 store_unavailable in err (also
 * while store_compact holds the lock). */
int store_env_open(struct store *s, enum store_env e, const char *dir,
		   int64_t map_bytes, struct isobox_err *err);
/* 1 when environment e is open. */
int store_ready(const struct store *s, enum store_env e);
/* Close every open environment (no transaction may be open). */
void store_close(struct store *s);
/* Free the reader slots dead processes left. Returns how many. */
int store_reader_check(struct store *s);

/* Map a store error (-errno from the calls below) to the user-facing
 * error: -ENOSPC is 507 store_full, anything else 500 store_failed.
 * Returns -1. */
int store_err(struct isobox_err *err, int rc, const char *what);

/* The row bound of table t (0: none). Modules that insert into t check
 * store_count against it and sweep; the store itself does not refuse. */
void store_bound_set(struct store *s, enum store_table t, size_t rows);
size_t store_bound(const struct store *s, enum store_table t);

/* A transaction, on the caller's stack. */
struct store_txn {
	struct store *s;
	struct MDB_txn *txn;
	enum store_env env;
	int write;
	int locked; /* holds s->resize[env] shared (top level only) */
};

/* Begin a read (write 0) or write transaction in e. Retries by itself when
 * another process grew the map. 0, -ENODEV when e is not open, -EIO. */
int store_txn_begin(struct store *s, enum store_env e, int write,
		    struct store_txn *t);
/* Begin a transaction nested in the write transaction parent: it sees the
 * parent's writes; committing it hands its writes to the parent (nothing
 * is on disk until the parent commits), aborting it undoes only its own.
 * The parent must not be used until the child is over. Lets one write
 * transaction carry several independent operations (kv.c's group commit)
 * where one failing does not undo the others. 0, -ENOSPC, -EIO. */
int store_txn_begin_nested(struct store_txn *parent, struct store_txn *child);
/* Commit (a read transaction just ends). 0, -ENOSPC, -EIO. Either way the
 * transaction is over. */
int store_txn_commit(struct store_txn *t);
/* End without writing. Safe on a transaction that is already over. */
void store_txn_abort(struct store_txn *t);
/* Run fn in a write transaction of e: commit when it returns >= 0, abort
 * when < 0. Returns fn's value, or the commit's error. */
int store_update(struct store *s, enum store_env e,
		 int (*fn)(struct store_txn *t, void *ctx), void *ctx);

/* A value or a key as stored: valid until the transaction ends or writes
 * to the same table. */
struct store_val {
	const void *p;
	size_t n;
};

/* A record being built: store_rec_init, then fields in order. An
 * overflow marks it bad and store_put refuses it (-EINVAL). */
struct store_rec {
	unsigned char b[STORE_REC_MAX];
	size_t n;
	int bad;
};
/* Start a record of table t (its tag) at version. */
void store_rec_init(struct store_rec *r, enum store_table t, uint8_t version);
void store_rec_i64(struct store_rec *r, int64_t v);
void store_rec_f64(struct store_rec *r, double v);
void store_rec_str(struct store_rec *r, const char *s); /* NULL is "" */
/* n bytes with a u16 length (n <= 0xffff), any bytes: binary keys. */
void store_rec_bytes(struct store_rec *r, const void *p, size_t n);
/* Exactly n bytes, no length (a digest). */
void store_rec_raw(struct store_rec *r, const void *p, size_t n);

/* Reading a record: store_dec_open checks the tag of t and the version,
 * then each field is taken in order; a short value marks the decoder bad
 * (fields read as 0 / ""), and store_dec_end says whether the whole value
 * was exactly the fields taken. */
struct store_dec {
	const unsigned char *p;
	size_t n;
	size_t off;
	int bad;
};
/* 0, -EPROTO (short, or another table's tag), -EPROTONOSUPPORT (another
 * version). */
int store_dec_open(struct store_dec *d, const struct store_val *v,
		   enum store_table t, uint8_t version);
int64_t store_dec_i64(struct store_dec *d);
double store_dec_f64(struct store_dec *d);
/* Copy a string field into out (n bytes with the NUL); one that does not
 * fit, or holds a NUL, marks the decoder bad. */
void store_dec_str(struct store_dec *d, char *out, size_t n);
/* A store_rec_bytes field: a pointer into the value (valid as long as the
 * value) and its length in *n; NULL (and *n 0) when short. */
const void *store_dec_bytes(struct store_dec *d, size_t *n);
/* A store_rec_raw field of n bytes; NULL when short. */
const void *store_dec_raw(struct store_dec *d, size_t n);
/* Everything after the fields taken (the payload of store_put_reserve),
 * which store_dec_end then counts as taken. */
const void *store_dec_rest(struct store_dec *d, size_t *n);
/* 0 when every field was there and nothing is left over, else -EPROTO. */
int store_dec_end(const struct store_dec *d);

/* Row operations inside t. store_get: 0 or -ENOENT. store_put: insert or
 * replace; -ENOSPC, -EINVAL. store_del: 0 or -ENOENT. */
int store_get(struct store_txn *t, enum store_table tb, const char *key,
	      struct store_val *out);
int store_put(struct store_txn *t, enum store_table tb, const char *key,
	      const struct store_rec *r);
int store_del(struct store_txn *t, enum store_table tb, const char *key);
/* The same with a key of n bytes (1..STORE_KEY_MAX, any bytes). */
int store_get_bin(struct store_txn *t, enum store_table tb, const void *key,
		  size_t n, struct store_val *out);
int store_put_bin(struct store_txn *t, enum store_table tb, const void *key,
		  size_t n, const struct store_rec *r);
int store_del_bin(struct store_txn *t, enum store_table tb, const void *key,
		  size_t n);
/* Insert or replace the row key (n bytes) with the record head followed
 * by a payload of extra bytes, which the caller writes at *payload
 * (MDB_RESERVE: the space is in the map, so a large value is copied
 * once). *payload is valid until t writes again or ends: fill it first.
 * 0, -ENOSPC, -EINVAL. */
int store_put_reserve(struct store_txn *t, enum store_table tb, const void *key,
		      size_t n, const struct store_rec *head, size_t extra,
		      void **payload);
/* Rows in tb now (no scan: LMDB keeps the count). */
size_t store_count(struct store_txn *t, enum store_table tb);

/* A cursor over one table, in key order. */
struct store_cursor {
	struct store_txn *t;
	struct MDB_cursor *c;
	int state; /* 0 first, 1 next, 2 seek */
	size_t seek_n;
	char seek[STORE_KEY_MAX + 1];
	size_t prefix_n; /* > 0: only keys starting with prefix */
	char prefix[STORE_KEY_MAX + 1];
};
int store_cursor_open(struct store_txn *t, enum store_table tb,
		      struct store_cursor *c);
/* The next row (the first one, or the first at or after a seek). 0 or
 * -ENOENT at the end. */
int store_cursor_next(struct store_cursor *c, struct store_val *key,
		      struct store_val *val);
/* Make the next store_cursor_next return the first row with a key >= key
 * (binary order). */
void store_cursor_seek(struct store_cursor *c, const void *key, size_t n);
/* Replace / delete the row the cursor is on (write transactions). After a
 * delete, store_cursor_next goes on with the row after it. */
/* A range scan: from now on the cursor only returns rows whose key starts
 * with prefix (n bytes, 1..STORE_KEY_MAX), -ENOENT after the last of
 * them; the next row is the first of them (a store_cursor_seek after this
 * moves within the range). */
void store_cursor_prefix(struct store_cursor *c, const void *prefix, size_t n);
int store_cursor_put(struct store_cursor *c, const struct store_rec *r);
int store_cursor_del(struct store_cursor *c);
void store_cursor_close(struct store_cursor *c);

/* A walk: fn sees each row in key order (key and val valid for the call
 * only) and returns 0 to go on, > 0 to end the walk there, < 0 to end it
 * with that error. fn gets the walk's transaction for lookups in other
 * tables; it must not write to the table being walked. */
typedef int (*store_walk_fn)(struct store_txn *t, const struct store_val *key,
			     const struct store_val *val, void *ctx);
/* Walk tb inside t; prefix (n bytes, 1..STORE_KEY_MAX; NULL: the whole
 * table) limits it to the keys starting with it. Returns 0 after the last
 * row, fn's value when fn ended the walk, or -errno when the cursor
 * failed (then fn saw only the rows before). */
int store_walk_txn(struct store_txn *t, enum store_table tb, const void *prefix,
		   size_t n, store_walk_fn fn, void *ctx);
/* The same in a read transaction of tb's environment that it begins and
 * ends: -ENODEV when that environment is not open, or store_txn_begin's
 * other errors. */
int store_walk(struct store *s, enum store_table tb, const void *prefix,
	       size_t n, store_walk_fn fn, void *ctx);

/* drop() says whether a row goes: 1 delete, 0 keep. */
typedef int (*store_drop_fn)(const struct store_val *key,
			     const struct store_val *val, void *ctx);
/* Inside write transaction t: look at up to max_look rows of tb from the
 * first key >= start (NULL: the table's first), wrapping around once, and
 * delete those drop() picks. Returns how many were deleted, or -errno. */
long store_sweep_txn(struct store_txn *t, enum store_table tb,
		     const char *start, size_t max_look, store_drop_fn drop,
		     void *ctx);
/* The whole table, in write transactions that look at most batch rows each
 * (so none holds the writer lock long), each resuming after the last row
 * the one before looked at. Returns how many were deleted, or -errno. */
long store_sweep(struct store *s, enum store_table tb, size_t batch,
		 store_drop_fn drop, void *ctx);

/* Expiry indexes: a table whose keys are store_expiry_key(at_ms, key)
 * sorts its rows by time, so the rows due first are the first ones. out
 * needs STORE_KEY_MAX + 1 bytes; -EINVAL when key is too long. */
#define STORE_EXPIRY_PREFIX 17 /* 16 hex digits and ':' */
int store_expiry_key(char *out, int64_t at_ms, const char *key);
/* Split an index key: 0 with *at_ms and *key (pointing into k, k->n -
 * STORE_EXPIRY_PREFIX bytes, not NUL-terminated), or -EPROTO. */
int store_expiry_split(const struct store_val *k, int64_t *at_ms,
		       const char **key, size_t *key_n);

/* The size of environment e: the map (its ceiling), the bytes in use
 * (pages up to the highest one written; freed pages inside are reused but
 * never returned to the file system: store_compact does that), and the
 * reader slots in use. 0, -ENODEV, -EIO. */
struct store_env_info {
	int64_t map_bytes;
	int64_t used_bytes;
	int64_t page_bytes;
	unsigned int readers;
};
int store_env_info(struct store *s, enum store_env e,
		   struct store_env_info *out);

/* Compact the environment in dir (not open by any process: every process
 * that opens one holds a shared flock on dir/service.lock, and this takes
 * it exclusively) into a copy without free pages (mdb_env_copyfd2 with
 * MDB_CP_COMPACT), fsynced, then renamed over dir/data.mdb. *before and
 * *after get the file sizes. 0, or -1 with 409 store_busy (a process has
 * it open), 404 not_found (no data.mdb) or 500 store_failed in err. */
int store_compact(const char *dir, int64_t *before, int64_t *after,
		  struct isobox_err *err);

/* Transactions begun in this process since it started (for benchmarks). */
struct store_stats {
	uint64_t read_txns;
	uint64_t write_txns;
};
void store_stats_get(struct store_stats *out);

#endif
