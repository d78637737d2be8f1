/* session.h - sessions: a sandbox that lives across steps, with a workspace
 * on disk. A session is a row of the durable table "sessions" (STORE_STATE),
 * not a process: any FastCGI process serves any step, and the row survives
 * restarts of the service, the web server and the engine. This module owns
 * the rows (encoding, tokens, counts, the state machine), the lifecycle of
 * the session's sandbox and workspace subvolume, steps and file operations,
 * and the housekeeping (idle stop, expiry, reconciliation). It knows nothing
 * of HTTP: the handlers (api_session.c) parse and render.
 *
 * Row (table "sessions", key = id "sess_<32 hex>", version 1):
 *   tenant kind, tenant name, sha256 of the token, runtime (language name
 *   and version), type, the clamped limits (the sandbox's shape), network,
 *   container id ("" when no sandbox runs), engine endpoint, workspace
 *   subvolume id, disk quota, created / last activity / expires (ms since
 *   the epoch; expires = last activity + ttl), ttl (s), steps, busy-by
 *   (owner "host:pid:start", the step's job id, since), dirty (a driver
 *   died mid-step: the next channel pads), flags (a sandbox existed
 *   before), and the list of its volumes (volume.h: id, mount path,
 *   read-only), whose holds are taken and dropped in the same transactions
 *   as the row.
 * Table "sessions_expiry": store_expiry_key(expires, id) -> empty record,
 * kept in the same transaction as the row, so the reaper reads the due
 * sessions first.
 *
 * Busy: a step, a file operation, a fork or an interrupt-free delete holds
 * the session exclusively by writing busy-by in one write transaction. A
 * second caller gets 409 session_busy while the owner process is alive;
 * when it died (kill -9 in the middle of a step), the next caller takes the
 * session over and marks it dirty (chan_open with CHAN_OPEN_PAD).
 *
 * Errors: -1 with err (util.h) carrying the HTTP status and the seed's
 * codes: 401 invalid_session_token, 404 session_not_found, 409
 * session_busy, 429 too_many_sessions, 400 kernel_unavailable (the runtime
 * has no "kernel" in the catalogue) / invalid_ttl, the attach errors of
 * volume.h (400 invalid_request / invalid_mount_path, 404
 * volume_not_found, 409 volume_locked), 503
 * storage_unavailable, 507 storage_full, 500 internal, plus the run's errors
 * (exec.h) and the file errors of fsapi.h (both file paths give the same
 * codes). */
#ifndef ISOBOX_SESSION_H
#define ISOBOX_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "exec.h"
#include "limits.h"
#include "registry.h"
#include "request.h"
#include "service.h"
#include "store.h"
#include "volume.h"

#define SESSION_ID_PREFIX    "sess_"
#define SESSION_ID_SIZE	     38 /* "sess_" + 32 hex + NUL */
#define SESSION_TOKEN_PREFIX "tok_"
#define SESSION_TOKEN_SIZE   69 /* "tok_" + 64 hex + NUL */
#define SESSION_REC_VERSION  1
#define SESSION_VOLUMES_MAX  4
/* RLIMIT_FSIZE of a step: none to speak of (the workspace's qgroup caps
 * real bytes, the tmpfs mounts their own size). */
#define SESSION_JOB_FSIZE (INT64_C(1) << 62)

enum session_type { SESSION_FILESYSTEM = 0, SESSION_KERNEL = 1 };
enum session_state { SESSION_STOPPED = 0, SESSION_RUNNING, SESSION_BUSY };

/* Row flags. */
#define SESSION_F_STARTED                                                      \
	1 /* a sandbox existed before: the next start is                       \
	   * a restart (the answer says so) */

/* Not a row flag: a template of session_pool.c (container label
 * isobox.kind=kernelpool). */
#define SESSION_F_POOLED 0x100

/* One row, decoded. */
struct session {
	char id[SESSION_ID_SIZE];
	int tenant_kind; /* enum tenant_kind */
	char tenant[64];
	uint8_t token_hash[32];
	char runtime[65]; /* language name */
	char version[33];
	int type; /* enum session_type */
	struct limits lim;
	int network;
	char container[72]; /* "" when no sandbox runs */
	char engine[160];   /* the engine that runs it (docker host) */
	char subvol[BSTORE_ID_MAX + 1];
	int64_t disk_quota;
	int64_t created_ms;
	int64_t last_ms;
	int64_t expires_ms;
	int64_t ttl_sec;
	int64_t steps;
	char busy_owner[320]; /* "" when idle */
	int64_t busy_job;     /* the running step's job id, 0: none */
	int64_t busy_since;
	int dirty;
	int flags;
	int nvolumes;
	struct volume_mount volumes[SESSION_VOLUMES_MAX];
};

/* ---- pure parts (unit-tested) ---------------------------------------- */

/* A fresh id "sess_<32 hex>" (128 random bits). */
void session_id_new(char out[SESSION_ID_SIZE]);
/* 1 when s is of the form above. */
int session_id_ok(const char *s);
/* A fresh token "tok_<64 hex>" (256 random bits from getrandom) and its
 * sha256, which is all that is stored. */
void session_token_new(char tok[SESSION_TOKEN_SIZE], uint8_t hash[32]);
/* sha256 of a presented token. */
void session_token_hash(const char *tok, uint8_t hash[32]);
/* 1 when tok (may be NULL) hashes to s->token_hash; the digests are
 * compared in constant time. */
int session_token_match(const struct session *s, const char *tok);
/* The idle TTL a request gets: req <= 0 is def, above max is max. */
int64_t session_ttl_clamp(int64_t req, int64_t def, int64_t max);

/* Encode s into r (table "sessions", SESSION_REC_VERSION). */
void session_rec_encode(const struct session *s, struct store_rec *r);
/* Decode a row into s (s->id is not in the value: the caller sets it).
 * 0, -EPROTO, -EPROTONOSUPPORT. */
int session_rec_decode(const struct store_val *v, struct session *s);

/* busy when busy_owner is set, else running when a container is recorded,
 * else stopped. */
enum session_state session_state_of(const struct session *s);
/* "stopped", "running", "busy". */
const char *session_state_name(enum session_state st);
/* "filesystem", "kernel"; session_type_parse: -1 for anything else. */
const char *session_type_name(int type);
int session_type_parse(const char *s);

/* ---- rows and lifecycle ---------------------------------------------- */

/* What POST /v1/sessions asks for. */
struct session_new {
	const struct tenant *tenant;
	const struct lang *lang;
	int type;
	int64_t ttl_sec; /* <= 0: the default */
	const struct limits_partial *limits;
	int network;
	const struct registry *reg; /* kernel_unavailable lists its kernels */
	/* Volumes to attach (volume.h): id, mount path ("target") and
	 * read_only, at most SESSION_VOLUMES_MAX. */
	const struct volume_mount *volumes;
	int nvolumes;
};

/* Create a session: checks (type, volumes, network, counts, free space),
 * the row, then the workspace subvolume with its qgroup limit. Fills *out
 * and tok (shown once). The sandbox starts lazily (session_prestart). */
int session_create(struct service *svc, const struct session_new *req,
		   struct session *out, char tok[SESSION_TOKEN_SIZE],
		   struct isobox_err *err);
/* Read session id for tenant t presenting tok: 404 session_not_found
 * (also for another tenant's session: existence is not revealed), 401
 * invalid_session_token. */
int session_get(struct service *svc, const struct tenant *t, const char *id,
		const char *tok, struct session *out, struct isobox_err *err);
/* Call fn for every session of tenant t (at most session_max). */
int session_list(struct service *svc, const struct tenant *t,
		 int (*fn)(const struct session *s, void *ctx), void *ctx,
		 struct isobox_err *err);
/* Set the idle TTL (clamped) and push the expiry out from now. */
int session_extend(struct service *svc, const struct tenant *t, const char *id,
		   const char *tok, int64_t ttl_sec, struct session *out,
		   struct isobox_err *err);
/* Delete: row first, then the sandbox (a running step's too) and the
 * subvolume. */
int session_delete(struct service *svc, const struct tenant *t, const char *id,
		   const char *tok, struct isobox_err *err);
/* Fork: a new session (new id and token) whose workspace is a snapshot of
 * this one's, taken while holding it (no step runs). */
int session_fork(struct service *svc, const struct tenant *t, const char *id,
		 const char *tok, struct session *out,
		 char newtok[SESSION_TOKEN_SIZE], struct isobox_err *err);
/* Interrupt the running step: 409 session_idle when none runs. */
int session_interrupt(struct service *svc, const struct tenant *t,
		      const char *id, const char *tok, struct isobox_err *err);
/* The workspace's usage in bytes (referenced, as of the last commit), or
 * -1 when unknown. */
int64_t session_disk_bytes(struct service *svc, const struct session *s);

/* Start the sandbox of a new session in a detached thread of this process
 * (best effort: the first step starts it otherwise). */
void session_prestart(struct service *svc, const char *id);

/* ---- steps and files (session_run.c) --------------------------------- */

/* One step: hold the session, make sure its sandbox runs, run er in it as
 * /execute would (files in /workspace), release. *restarted is 1 when a
 * sandbox that existed before had to be started again. *lang_out is the
 * session's language (borrowed from reg). *out as exec_run (hand it to
 * exec_release: it frees the result; the sandbox itself stays). Errors:
 * those of session_hold, 429 capacity, 403 network_unavailable, 413
 * body_too_large, 503 from the engine or the guest, 499 client_gone. */
int session_exec(struct service *svc, const struct exec_ctx *x,
		 const struct registry *reg, const char *id, const char *tok,
		 const struct exec_request *er, const struct lang **lang_out,
		 struct exec_run **out, int *restarted, struct isobox_err *err);

/* Restart a kernel session's interpreter on request: its sandbox is
 * replaced by a new one (variables, threads and children are gone) and
 * started at once. 400 not_a_kernel for a filesystem session; else the
 * errors of session_hold and of starting a sandbox. */
int session_kernel_restart(struct service *svc, const struct tenant *t,
			   const struct registry *reg, const char *id,
			   const char *tok, struct isobox_err *err);

/* One file operation's target. */
struct session_fs {
	struct service *svc;
	const struct tenant *tenant;
	const char *id;
	const char *tok;
	const char *path; /* decoded, n bytes */
	size_t path_len;
};

/* A directory entry or a file's stat as the file API reports it. */
struct session_fent {
	const char *name; /* NUL-terminated; may be invalid UTF-8 */
	size_t name_len;
	int type; /* enum fsapi_type */
	unsigned mode;
	int64_t size;
	int64_t mtime_ms;
};

/* What a GET of a path does: either a listing (on_entry per entry, sorted
 * by name; is_dir set) or a file whose stat reaches on_file (which may
 * refuse with a non-zero status, e.g. 416 for a range beyond its end,
 * after answering) before its bytes reach on_data. offset/length: the
 * range (length < 0: to the end). */
struct session_get_cb {
	void *ctx;
	int64_t offset;
	int64_t length;
	int suffix; /* length is the last bytes (bytes=-N) */
	int (*on_entry)(void *ctx, const struct session_fent *e);
	int (*on_file)(void *ctx, const struct session_fent *st, int64_t off,
		       int64_t len);
	int (*on_data)(void *ctx, const char *p, size_t n);
	int is_dir;    /* out */
	int truncated; /* out: listing cut at FSAPI_LIST_MAX */
	int64_t sent;  /* out: bytes given to on_data */
};
int session_fs_get(const struct session_fs *f, struct session_get_cb *cb,
		   struct isobox_err *err);
/* The GET of a stopped sandbox's workspace, beneath any root fd (a
 * volume's too): stat, then a listing or the file's range. */
int session_fs_get_beneath(int root, const char *path, size_t path_len,
			   struct session_get_cb *cb, struct isobox_err *err);
/* Write path from src (as fsapi_write's src); at most max_bytes. */
int session_fs_put(const struct session_fs *f, int64_t max_bytes,
		   ssize_t (*src)(void *ctx, char *buf, size_t cap), void *ctx,
		   int64_t *bytes, char sha256[65], struct isobox_err *err);
/* Delete path (a missing path is fine). */
int session_fs_delete(const struct session_fs *f, struct isobox_err *err);

/* ---- housekeeping ---------------------------------------------------- */

/* Stop the sandboxes of idle sessions, reap expired sessions, and (every
 * call with reconcile set) remove session containers and subvolumes with
 * no row and forget containers that are gone. Bounded work per call. */
void session_housekeep(struct service *svc, int reconcile);

/* Internal to session.c / session_run.c. */
int session_hold(struct service *svc, const struct tenant *t, const char *id,
		 const char *tok, uint32_t job, struct session *out,
		 struct isobox_err *err);
void session_unhold(struct service *svc, const struct session *s, int step,
		    int dirty, const char *container);
int session_sandbox_ensure(struct service *svc, struct session *s,
			   const struct lang *lang, int *restarted,
			   struct isobox_err *err);
void session_sandbox_forget(struct service *svc, const char *id,
			    const char *container);
/* Delete workspace subvolume subvol of session id, waiting up to 5 s
 * while the engine still unmounts it (-EBUSY); a failure is logged. */
void session_workspace_delete(struct service *svc, const char *id,
			      const char *subvol);
const struct lang *session_lang(const struct registry *reg,
				const struct session *s,
				struct isobox_err *err);
/* Create and start s's container (no admission, no row change): *cid is
 * its id (caller frees). */
int session_sandbox_create(struct service *svc, const struct session *s,
			   const struct lang *lang, char **cid,
			   struct isobox_err *err);

/* 1 when container id runs (GET /containers/{id}/json); *known is 0 when
 * the engine did not answer (then 0 is returned too). */
int session_container_running(struct service *svc, const char *id, int *known);

/* ---- warm kernel sandboxes (session_pool.c) -------------------------- */

/* 1 when lang's kernel sessions are kept warm (kernel_pool_size > 0, in
 * kernel_pool_languages, the default version of its name). */
int session_pool_wants(const struct service *svc, const struct registry *reg,
		       const struct lang *lang);
/* 1 when a session of shape lim can take a pooled sandbox of lang. */
int session_pool_fits(struct service *svc, const struct lang *lang,
		      const struct limits *lim);
/* Claim a ready entry of lang (exactly once across processes): its
 * session id (= its subvolume) and container; its memory is then held as
 * the session's admission. -1 when there is none. */
int session_pool_claim(struct service *svc, const struct lang *lang,
		       char id[SESSION_ID_SIZE], char container[72]);
/* The session row of claimed entry id exists: forget the entry. */
void session_pool_adopted(struct service *svc, const char *id);
/* Remove a claimed entry that could not become a session. */
void session_pool_unclaim(struct service *svc, const char *id,
			  const char *container);
/* 1 when id is an unclaimed entry of a live process (reconciliation
 * spares its container and subvolume). */
int session_pool_holds(struct service *svc, const char *id);
/* Remove the entries of dead processes and this process's entries whose
 * container stopped; add one entry per pooled runtime below
 * kernel_pool_size (housekeeping). */
void session_pool_maintain(struct service *svc);
/* Remove this process's entries (at exit). */
void session_pool_drain_own(struct service *svc);

#endif
