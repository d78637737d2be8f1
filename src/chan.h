/* chan.h - a channel to a running session-mode guest (isobox-guest
 * --session): any process may attach to the container (Docker Engine API
 * attach with stdin+stdout; the container is created with OpenStdin and
 * StdinOnce=false so a driver leaving does not close the guest's stdin),
 * synchronise, then run one job or file operation at a time.
 *
 * Synchronising: the attach stream starts wherever the guest's output is,
 * possibly inside a record, and the guest's input may hold a record that a
 * previous driver left half-written when it died. chan_open optionally
 * sends WIRE_PAD_LEN zero bytes (completing any such record, see wire.h),
 * then SYNC with a random nonce, and drops the raw output until the exact
 * bytes of the matching SYNCED record: from there on both directions are at
 * record boundaries. Records of other ids (a previous driver's job still
 * running, an abandoned download) are ignored by every call.
 *
 * A channel is used by one thread. Errors: -1 with err filled: 503
 * "docker_unavailable"/"sandbox_failed" for the engine or a guest that broke
 * the protocol or went away (the channel is then unusable, chan_broken),
 * 504 "timeout" at the deadline, and for a file operation the guest's
 * FAIL code (wire.h WIRE_ERR_*) with the status chan_fail_status gives. */
#ifndef ISOBOX_CHAN_H
#define ISOBOX_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "docker.h"
#include "limits.h"
#include "mux.h"
#include "relay.h"
#include "util.h"
#include "wire.h"

struct chan {
	struct docker_stream ds;
	struct mux_dec mux;
	struct wire_dec dec;
	struct wire_buf out;  /* the record being sent */
	struct buf guest_log; /* the guest's stderr, at most GUEST_LOG_MAX */
	uint32_t next_id;
	int broken; /* the stream ended or the framing broke */
	/* While synchronising: the SYNCED record looked for and the last
	 * bytes of raw output. */
	int syncing;
	uint8_t want[WIRE_HDR_LEN + WIRE_NONCE_LEN];
	uint8_t win[WIRE_HDR_LEN + WIRE_NONCE_LEN];
	size_t win_len;
	/* Who gets the next records. */
	void (*on_rec)(void *ctx, const struct wire_rec *rec);
	void *rec_ctx;
};

/* stat of FSTAT / FENTRY. */
struct chan_stat {
	int type; /* WIRE_FT_* */
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ms;
};

#define CHAN_OPEN_PAD 1 /* send WIRE_PAD_LEN zeros before SYNC (takeover) */

/* Attach to container id and synchronise (see above) within timeout_ms.
 * flags: CHAN_OPEN_PAD. Returns 0, or -1 with err (c is then closed). */
int chan_open(struct chan *c, struct docker *d, const char *id, int flags,
	      int timeout_ms, struct isobox_err *err);
void chan_close(struct chan *c);
int chan_broken(const struct chan *c);
/* A fresh id for a job or file operation (random start, never 0). */
uint32_t chan_next_id(struct chan *c);
/* The HTTP status of a WIRE_ERR_* code (404, 400, 409, 413, 403, 500). */
int chan_fail_status(const char *code);

/* Run one job: send job (records ending in GO, whose JOB record has id,
 * e.g. job_encode(..., id, ...)) and relay its answer into res (zeroed
 * here; caller frees with chan_result_free) until its DONE, enforcing
 * lim's output cap like the one-shot path. hooks may be NULL; when
 * hooks->cancelled() turns true the job is interrupted (chan_interrupt)
 * and its answer still awaited until deadline_ms. A FAIL of the job is 500
 * "sandbox_failed" with the guest's sentence. */
int chan_run(struct chan *c, uint32_t id, const struct wire_buf *job,
	     const struct limits *lim, const struct sandbox_hooks *hooks,
	     int64_t deadline_ms, struct sandbox_result *res,
	     struct isobox_err *err);
/* SIGINT to the running stage of job id (ignored by the guest when that
 * job is not running). 0 or -1 (the channel broke). */
int chan_interrupt(struct chan *c, uint32_t id);
void chan_result_free(struct sandbox_result *res);

/* Reads up to cap bytes into p: > 0 bytes, 0 at the end, < 0 an error. */
typedef long (*chan_read_fn)(void *ctx, uint8_t *p, size_t cap);
/* Take n bytes; non-zero stops the transfer (the rest is ignored). */
typedef int (*chan_write_fn)(void *ctx, const uint8_t *p, size_t n);

/* Upload path (relative to the guest's work directory) with mode from
 * read in pieces of WIRE_CHUNK_MAX; the file appears whole at the end or
 * not at all (a read error abandons it: 500 "io_error"). */
int chan_put(struct chan *c, const char *path, uint32_t mode, chan_read_fn read,
	     void *ctx, int64_t deadline_ms, struct isobox_err *err);
/* Download length bytes (0: to the end) of path from offset: *st (may be
 * NULL) gets its stat, write the bytes in pieces. */
int chan_get(struct chan *c, const char *path, uint64_t offset, uint64_t length,
	     struct chan_stat *st, chan_write_fn write, void *ctx,
	     int64_t deadline_ms, struct isobox_err *err);
/* List directory path ("" the work directory): on_entry per entry (name
 * is NUL-terminated, borrowed); *truncated when the guest stopped at
 * WIRE_LIST_MAX. on_entry returning non-zero ignores the rest. */
int chan_list(struct chan *c, const char *path,
	      int (*on_entry)(void *ctx, const struct chan_stat *st,
			      const char *name),
	      void *ctx, int *truncated, int64_t deadline_ms,
	      struct isobox_err *err);
/* Delete a file or a directory tree. */
int chan_delete(struct chan *c, const char *path, int64_t deadline_ms,
		struct isobox_err *err);

/* The answer of one file operation as its records arrive (what chan_put,
 * chan_get, chan_list and chan_delete wait on; exposed for tests). Zero
 * it and set id and the callbacks it needs. */
struct chan_op {
	uint32_t id;
	int done;      /* DONE or FAIL arrived: nothing more is taken */
	int failed;    /* it was a FAIL: code and msg */
	int bad;       /* a record that makes no sense for an operation */
	int stopped;   /* a callback asked to stop: the rest is ignored */
	uint8_t flags; /* of DONE (WIRE_DONE_TRUNCATED) */
	char code[32];
	char msg[300];
	struct chan_stat *st; /* FSTAT goes here (may be NULL) */
	int got_stat;
	chan_write_fn write; /* FDATA, only after FSTAT */
	int (*on_entry)(void *ctx, const struct chan_stat *st,
			const char *name);
	void *ctx;
};
/* Take one record: records of other ids (and READY, SYNCED) are ignored. */
void chan_op_record(struct chan_op *o, const struct wire_rec *rec);

/* Decode WIRE_STAT_LEN bytes of FSTAT/FENTRY. */
void chan_stat_decode(const uint8_t *p, struct chan_stat *st);

#endif
