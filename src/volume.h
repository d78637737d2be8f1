/* volume.h - volumes: named, persistent storage with a hard size cap, one
 * btrfs subvolume and qgroup each (BSTORE_VOLUMES), indexed in the durable
 * LMDB environment, attached to sessions as bind mounts and reachable
 * without a session through the file API. Knows nothing of HTTP
 * (api_volume.c renders).
 *
 * Rows (STORE_STATE):
 *   "volumes"       id "vol_<32 hex>" -> version 1: tenant kind, tenant
 *                   name, name (as given), size cap (the qgroup's exclusive
 *                   limit), created (ms), subvolume id, the read-write
 *                   holder (a session id, "" for none), the read-only
 *                   holders (session ids, at most VOLUME_RO_MAX).
 *   "volume_names"  "<kind>:<tenant>\n<lower-case name>" -> the id: names
 *                   are unique per tenant, case-insensitively, and a
 *                   tenant's volumes list in name order by a prefix scan.
 * Both are written in one transaction. Every check-and-set of the holders
 * happens in one write transaction of the environment (exclusive across
 * processes): of two sessions racing for a read-write attach exactly one
 * wins; the other gets 409 volume_locked.
 *
 * Holds: a session takes its holds in the transaction that inserts its
 * row (volume_attach_txn) and drops them in the one that removes it
 * (volume_release_txn). A holder is alive while its key is in table
 * "sessions" (session.c's rows; this module reads nothing else of them,
 * and sits below session in the import graph). One whose row is gone
 * anyway (never expected) is dropped by the next transaction that looks
 * at the holders, and by volume_housekeep.
 *
 * Errors: -1 with err carrying the HTTP status and the seed's codes: 400
 * invalid_name / invalid_request / invalid_mount_path, 404
 * volume_not_found (also another tenant's volume: existence is never
 * revealed), 409 volume_name_exists / volume_locked / volume_busy, 413
 * volume_quota_exceeded, 429 too_many_volumes / volume_bytes_exceeded, 503
 * storage_unavailable, 507 storage_full, 500 internal; the file calls add
 * fsapi.h's codes. */
#ifndef ISOBOX_VOLUME_H
#define ISOBOX_VOLUME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "bstore.h"
#include "service.h"
#include "store.h"

#define VOLUME_ID_PREFIX   "vol_"
#define VOLUME_ID_SIZE	   37 /* "vol_" + 32 hex + NUL */
#define VOLUME_NAME_MAX	   64
#define VOLUME_RO_MAX	   16 /* read-only holders of one volume */
#define VOLUME_REC_VERSION 1
#define VOLUME_HOLDER_SIZE 40 /* a session id with its NUL */

/* One volume of a session: what it asks for and what its row keeps. */
struct volume_mount {
	char id[BSTORE_ID_MAX + 1];
	char target[64]; /* the mount path in the sandbox */
	int read_only;
};

/* One row, decoded. */
struct volume {
	char id[VOLUME_ID_SIZE];
	int tenant_kind;
	char tenant[64];
	char name[VOLUME_NAME_MAX + 1];
	int64_t size_bytes;
	int64_t created_ms;
	char subvol[BSTORE_ID_MAX + 1];
	char rw_holder[VOLUME_HOLDER_SIZE]; /* "" when none */
	int nro;
	char ro_holders[VOLUME_RO_MAX][VOLUME_HOLDER_SIZE];
};

/* ---- pure parts (unit-tested) ---------------------------------------- */

/* 1 when id is "vol_<32 lower-case hex>". */
int volume_id_ok(const char *id);
/* The seed's rule: ^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$. 1 or 0. */
int volume_name_ok(const char *name);
/* A mount path a session may ask for: absolute, no '.', '..' or empty
 * components, no trailing '/', and one of /memory, /data, or
 * /data/<n>, /mnt/<n>, /volumes/<n> with <n> 1..48 of [A-Za-z0-9._-] not
 * starting with '.'. Everything else (/, /workspace and beneath, /tmp,
 * /proc, /etc, /usr, ...) is refused: a volume can neither hide nor
 * replace a system directory. 0, or -1 with 400 invalid_mount_path. */
int volume_mount_path_check(const char *p, struct isobox_err *err);
/* Encode v into r / decode (v->id is not in the value). */
void volume_rec_encode(const struct volume *v, struct store_rec *r);
int volume_rec_decode(const struct store_val *val, struct volume *v);
/* The names-index key of (kind, tenant, name): out needs STORE_KEY_MAX +
 * 1 bytes; with name NULL, the prefix of the tenant's keys. Returns its
 * length, or -EINVAL. */
int volume_name_key(char *out, int kind, const char *tenant, const char *name);

/* ---- the API --------------------------------------------------------- */

struct volume_new {
	const struct tenant *tenant;
	const char *name;
	int64_t size_bytes; /* <= 0: the default (or from's cap) */
	const char *from;   /* NULL: empty; else a volume id to copy */
	int size_given;	    /* sizeBytes was sent */
};
int volume_create(struct service *svc, const struct volume_new *req,
		  struct volume *out, struct isobox_err *err);
int volume_get(struct service *svc, const struct tenant *t, const char *id,
	       struct volume *out, struct isobox_err *err);
/* fn for each of t's volumes in name order; fn returns < 0 to stop. */
int volume_list(struct service *svc, const struct tenant *t,
		int (*fn)(const struct volume *v, void *ctx), void *ctx,
		struct isobox_err *err);
/* 409 volume_busy while any session holds it. */
int volume_delete(struct service *svc, const struct tenant *t, const char *id,
		  struct isobox_err *err);

struct volume_usage {
	int64_t referenced; /* what du shows */
	int64_t exclusive;  /* what the cap counts */
};
/* As of the last filesystem commit; -1 when unknown. */
int volume_usage(struct service *svc, const struct volume *v,
		 struct volume_usage *u);

/* ---- sessions -------------------------------------------------------- */

/* Inside the write transaction that inserts session sid's row: take the
 * holds m[0..n) for the session's tenant (kind, name). 0, or -1 with
 * err. */
int volume_attach_txn(struct store_txn *t, int tenant_kind, const char *tenant,
		      const char *sid, const struct volume_mount *m, int n,
		      struct isobox_err *err);
/* Inside the one that removes it: drop sid's holds on m[0..n). */
void volume_release_txn(struct store_txn *t, const char *sid,
			const struct volume_mount *m, int n);
/* The host path of a volume's subvolume, for a bind mount; caller frees.
 * NULL for a bad id. */
char *volume_host_path(struct service *svc, const char *id);
/* Reconciliation: drop holders whose session is gone and, when owns_store
 * (session.c's store_is_ours), remove volume subvolumes without a row. */
void volume_housekeep(struct service *svc, int owns_store);

/* ---- files without a session ----------------------------------------- */

/* An O_DIRECTORY fd of t's volume id's root, for fsapi.h calls (the GET
 * side: api_volume.c reads with the session file API's code); write: for
 * a PUT or DELETE, which are 409 volume_locked while a session holds the
 * volume read-write (its sandbox would not see host writes: use that
 * session's file API). Caller closes. >= 0, or -1 with err. */
int volume_fs_open(struct service *svc, const struct tenant *t, const char *id,
		   int write, struct isobox_err *err);
/* As session_fs_put/delete (the same semantics and codes) beneath the
 * volume's root. Over the cap: 413 volume_quota_exceeded. */
int volume_fs_put(struct service *svc, const struct tenant *t, const char *id,
		  const char *path, size_t n, int64_t max_bytes,
		  ssize_t (*src)(void *ctx, char *buf, size_t cap), void *ctx,
		  int64_t *bytes, char sha256[65], struct isobox_err *err);
int volume_fs_delete(struct service *svc, const struct tenant *t,
		     const char *id, const char *path, size_t n,
		     struct isobox_err *err);

#endif
