/* wire.h - the framing spoken between the host and isobox-guest.
 *
 * Shared by the service (src/) and the in-sandbox guest (guest/), so it uses
 * libc only. One record on the wire is:
 *
 *     u8 type | u32 length (big endian) | length bytes of payload
 *
 * Protocol 2 (READY says "isobox-guest 2"). Integers are big endian; "id"
 * is a u32 job or operation id (one id space). Type 0 with length 0 is a
 * no-op either way (WIRE_NOOP); type 0 with any other length is a framing
 * error.
 *
 * Host -> guest (container stdin). A job is a run of records ended by GO:
 *   WIRE_JOB     id: the id of the job being read (before GO, at most once;
 *                a job without it has id 0)
 *   WIRE_FILE    u16 name length (BE) | name | content
 *   WIRE_ENV     "KEY=VALUE\0" ...
 *   WIRE_COMPILE argv of the compile stage, each argument NUL-terminated
 *   WIRE_RUN     argv of the run stage, each argument NUL-terminated
 *   WIRE_STDIN   bytes for the run stage's stdin (may repeat, concatenated;
 *                job.c sends at most WIRE_CHUNK_MAX per record)
 *   WIRE_LIMITS  "key=value\0" ... (see WIRE_LIMIT_* below)
 *   WIRE_HANDOFF the run argv after its first element, NUL-terminated each:
 *                what a prestarted interpreter is handed (registry.h,
 *                "prestart"); ignored by a guest that has none waiting
 *   WIRE_CODE    a kernel step's code (may repeat, concatenated, like
 *                STDIN); a guest in kernel mode (--kernel) runs a job of
 *                CODE (no RUN) as one step of its live interpreter
 *   WIRE_GO      empty; the job is complete, start it
 * Session mode only (isobox-guest --session), between or during jobs:
 *   WIRE_SYNC    16-byte nonce: drop any half-read job or upload and answer
 *                SYNCED with the same nonce
 *   WIRE_INTR    id: SIGINT to the process group of that job's running
 *                stage; ignored when that job is not running
 *   WIRE_FPUT    id | u32 mode | path: begin an upload into a temporary
 *                file beside path (".isobox-up.ID.N", created O_EXCL;
 *                missing parents are created); one upload at a time, a
 *                new FPUT, SYNC, BYE or EOF abandons (unlinks) an open one
 *   WIRE_FDATA   id | bytes (at most WIRE_CHUNK_MAX): the next piece
 *   WIRE_FEND    id: rename the upload into place; answered by DONE(id)
 *   WIRE_FGET    id | u64 offset | u64 length (0: to the end) | path:
 *                answered by FSTAT, FDATA pieces, DONE(id)
 *   WIRE_FLIST   id | path (empty: the work directory): answered by at most
 *                WIRE_LIST_MAX FENTRY records, then DONE(id | flags)
 *   WIRE_FDEL    id | path: delete a file or a directory tree (at most
 *                WIRE_DEL_MAX entries, WIRE_PATH_DEPTH levels); DONE(id)
 *   WIRE_BYE     empty: the guest exits once the running job (if any) ends
 *
 * Guest -> host (container stdout; user code never holds this fd):
 *   WIRE_READY   guest version string; sent once at start-up, no id
 *   WIRE_OUT     id | u8 stage ('c'|'r') | u8 stream (1 stdout, 2 stderr) |
 *                bytes
 *   WIRE_RESULT  id | u8 stage | "key=value\0" ... (see WIRE_RES_* below)
 *   WIRE_DISPLAY id | u8 kind (WIRE_DISPLAY_*) | a JSON MIME bundle (opaque
 *                to the guest and to relay.c)
 *   WIRE_FAIL    id | code | '\0' | a sentence: the job or file operation
 *                could not be done (codes: WIRE_ERR_*)
 *   WIRE_DONE    id [| u8 flags (WIRE_DONE_TRUNCATED)]: the job or
 *                operation is over
 *   WIRE_SYNCED  the nonce of the SYNC it answers
 *   WIRE_FSTAT   id | WIRE_STAT_LEN bytes of stat (see below)
 *   WIRE_FENTRY  id | stat | name bytes
 *   WIRE_FDATA   id | bytes
 * where stat = u8 type (WIRE_FT_*) | u32 mode | u64 size | i64 mtime_ms.
 *
 * File paths of file operations are relative to the guest's work directory
 * and pass wire_path_ok; the guest resolves them without following any
 * symlink (the last component included) and reads only regular files.
 *
 * Taking over a session from a driver that died mid-write: the partial
 * record it left in the guest's decoder is completed by sending
 * WIRE_PAD_LEN zero bytes (a session guest accepts no record longer than
 * WIRE_SESSION_MAX, so WIRE_PAD_LEN always completes it; the zeros that
 * follow are no-op records), then SYNC. A record completed by zeros is
 * harmless: its path or argv has a NUL (refused), its data piece belongs to
 * an upload that SYNC abandons, its job is dropped by SYNC. If the padding
 * leaves 1-4 zero bytes before SYNC's header the guest sees a framing
 * error, and a session guest then scans its raw input byte by byte for
 * SYNC's exact header (WIRE_SYNC_HDR) and resumes there.
 */
#ifndef ISOBOX_WIRE_H
#define ISOBOX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_HDR_LEN 5
/* Largest payload either side accepts; bigger records are a protocol error. */
#define WIRE_MAX_PAYLOAD (16u * 1024u * 1024u)
#define WIRE_MAX_NAME	 255
/* File data travels in pieces of at most this. */
#define WIRE_CHUNK_MAX (64u * 1024u)
/* The largest record a session guest accepts (a data piece and its id fit). */
#define WIRE_SESSION_MAX (WIRE_CHUNK_MAX + 32u)
/* Zero bytes that complete any partial record of a session (see above). */
#define WIRE_PAD_LEN   (WIRE_CHUNK_MAX + 64u)
#define WIRE_NONCE_LEN 16
/* The header of a SYNC record, what a resyncing guest looks for. */
#define WIRE_SYNC_HDR "S\0\0\0\020"
/* File operation paths: bytes and levels. */
#define WIRE_PATH_MAX	1024
#define WIRE_PATH_DEPTH 32
/* FENTRY records one FLIST sends at most; FDEL entries at most. */
#define WIRE_LIST_MAX 10000
#define WIRE_DEL_MAX  100000
/* FSTAT's stat part: type, mode, size, mtime_ms. */
#define WIRE_STAT_LEN 21
/* DONE flags. */
#define WIRE_DONE_TRUNCATED 1

enum wire_type {
	WIRE_FILE = 'F',
	WIRE_ENV = 'E',
	WIRE_COMPILE = 'C',
	WIRE_RUN = 'R',
	WIRE_STDIN = 'I',
	WIRE_LIMITS = 'L',
	WIRE_HANDOFF = 'H',
	WIRE_GO = 'G',
	WIRE_CODE = 'Z',
	WIRE_JOB = 'J',
	WIRE_SYNC = 'S',
	WIRE_INTR = 'K',
	WIRE_FPUT = 'P',
	WIRE_FDATA = 'p', /* both ways */
	WIRE_FEND = 'e',
	WIRE_FGET = 'g',
	WIRE_FLIST = 'l',
	WIRE_FDEL = 'X',
	WIRE_BYE = 'Q',
	WIRE_NOOP = 0,
	WIRE_READY = 'r',
	WIRE_OUT = 'o',
	WIRE_RESULT = 'x',
	WIRE_FAIL = 'f',
	WIRE_DONE = 'd',
	WIRE_DISPLAY = 'y',
	WIRE_SYNCED = 's',
	WIRE_FSTAT = 't',
	WIRE_FENTRY = 'n',
};

/* WIRE_DISPLAY kinds. */
#define WIRE_DISPLAY_DATA   'd' /* display_data */
#define WIRE_DISPLAY_RESULT 'm' /* the main result (execute_result) */
#define WIRE_DISPLAY_ERROR  'e' /* an error (ename, evalue, traceback) */

/* File types of FSTAT/FENTRY. */
#define WIRE_FT_FILE	'f'
#define WIRE_FT_DIR	'd'
#define WIRE_FT_SYMLINK 'l'
#define WIRE_FT_OTHER	'o'

/* FAIL codes of file operations (the host maps them to HTTP statuses). */
#define WIRE_ERR_NOT_FOUND    "not_found"
#define WIRE_ERR_IS_DIR	      "is_a_directory"
#define WIRE_ERR_NOT_DIR      "not_a_directory"
#define WIRE_ERR_NOT_REGULAR  "not_regular" /* FIFO, socket, device */
#define WIRE_ERR_INVALID_PATH "invalid_path"
#define WIRE_ERR_SYMLINK      "symlink" /* a component is a symlink */
#define WIRE_ERR_NO_SPACE     "no_space"
#define WIRE_ERR_QUOTA	      "quota"
#define WIRE_ERR_TOO_LARGE    "too_large"
#define WIRE_ERR_EXISTS	      "exists"
#define WIRE_ERR_DENIED	      "denied"
#define WIRE_ERR_TOO_MANY     "too_many"
#define WIRE_ERR_IO	      "io_error"
#define WIRE_ERR_BAD_RECORD   "bad_record" /* a malformed request */
#define WIRE_ERR_BAD_JOB      "bad_job"	   /* a job could not be set up */

#define WIRE_STAGE_COMPILE 'c'
#define WIRE_STAGE_RUN	   'r'

/* Keys of WIRE_LIMITS (decimal values). */
#define WIRE_LIMIT_COMPILE_WALL_MS "compile_wall_ms"
#define WIRE_LIMIT_RUN_WALL_MS	   "run_wall_ms"
#define WIRE_LIMIT_PIDS		   "pids" /* RLIMIT_NPROC for user code */
#define WIRE_LIMIT_OUTPUT	   "output_bytes" /* stdout+stderr cap per stage */
#define WIRE_LIMIT_FSIZE	   "fsize_bytes" /* RLIMIT_FSIZE for user code */
#define WIRE_LIMIT_NOFILE	   "nofile" /* RLIMIT_NOFILE for user code */
/* A kernel job with this set to 1 restarts the interpreter and runs no
 * code (an older guest ignores it: its RESULT then says not restarted). */
#define WIRE_LIMIT_KERNEL_RESTART "kernel_restart"

/* Keys of WIRE_RESULT (decimal values). */
#define WIRE_RES_EXIT	   "exit"	 /* exit status, or 128 + signal */
#define WIRE_RES_SIGNAL	   "signal"	 /* terminating signal number or 0 */
#define WIRE_RES_TIMED_OUT "timed_out"	 /* 1 if the stage wall time hit */
#define WIRE_RES_TRUNCATED "truncated"	 /* 1 if output hit the cap */
#define WIRE_RES_DURATION  "duration_ms" /* stage wall time used */
#define WIRE_RES_PRESTARTED                                                    \
	"prestarted" /* 1 if a prestarted interpreter ran it */
/* Kernel steps only: the execution count of the live interpreter, 1 when
 * SIGINT stopped the step, 1 when the interpreter had to be started again
 * (its state is lost). Decided by the guest, never by the interpreter. */
#define WIRE_RES_KERNEL_COUNT	    "kernel_count"
#define WIRE_RES_KERNEL_INTERRUPTED "kernel_interrupted"
#define WIRE_RES_KERNEL_RESTARTED   "kernel_restarted"

/* A growable byte buffer for encoding. Zero-initialise before use. */
struct wire_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

struct wire_rec {
	uint8_t type;
	const uint8_t *payload; /* borrowed from the decoder until next call */
	size_t len;
};

/* Append one record. Returns 0, or -1 if the payload is too large or
 * memory ran out (the buffer is then unchanged). */
int wire_put(struct wire_buf *b, uint8_t type, const void *payload, size_t n);
/* Append a WIRE_FILE record. Returns 0 or -1 (name too long, too large). */
int wire_put_file(struct wire_buf *b, const char *name, const void *data,
		  size_t n);
/* Append an OUT record of job id for the given stage and stream. */
int wire_put_out(struct wire_buf *b, uint32_t id, uint8_t stage, uint8_t stream,
		 const void *data, size_t n);
/* Append a record whose payload is id (u32 BE), then head (hn bytes), then
 * data (dn bytes); either may be empty. Returns 0 or -1 (too large, out of
 * memory: the buffer is then unchanged). */
int wire_put_id(struct wire_buf *b, uint8_t type, uint32_t id, const void *head,
		size_t hn, const void *data, size_t dn);
/* Append a FAIL record: id | code | NUL | sentence. */
int wire_put_fail(struct wire_buf *b, uint32_t id, const char *code,
		  const char *msg);
/* Big-endian helpers: store into / load from p. */
void wire_be32(uint8_t *p, uint32_t v);
void wire_be64(uint8_t *p, uint64_t v);
uint32_t wire_get32(const uint8_t *p);
uint64_t wire_get64(const uint8_t *p);
/* The id of a record that carries one (its first 4 bytes). Returns 0 and
 * sets *id, or -1 when the payload is shorter. */
int wire_rec_id(const struct wire_rec *rec, uint32_t *id);
/* Append raw bytes to a buffer (no record header). 0 or -1. */
int wire_raw_add(struct wire_buf *b, const void *p, size_t n);
/* Append "key=value\0" to a buffer (no record header): used to build the
 * payloads of WIRE_LIMITS, WIRE_RESULT, WIRE_ENV and argv lists. */
int wire_kv_add(struct wire_buf *b, const char *key, long long value);
int wire_str_add(struct wire_buf *b, const char *s);
void wire_buf_free(struct wire_buf *b);

/* Incremental decoder. Zero-initialise, set max (0 means WIRE_MAX_PAYLOAD). */
struct wire_dec {
	uint8_t hdr[WIRE_HDR_LEN];
	size_t hdr_have;
	uint8_t type;
	uint32_t len;
	uint8_t *payload;
	size_t have;
	size_t cap;
	size_t max;
	int in_payload;
	/* Optional: called once a header is complete; non-zero refuses it
	 * (wire_dec_feed returns -1, hdr keeps the refused header). */
	int (*check)(uint8_t type, uint32_t len);
};

/* Feed up to n bytes. Consumes bytes until one record is complete or the
 * input is used up; *used says how many were taken. Returns 1 with *rec set
 * when a record is complete, 0 when more input is needed, -1 on a record
 * larger than max or out of memory (the stream is then unusable). */
int wire_dec_feed(struct wire_dec *d, const uint8_t *data, size_t n,
		  size_t *used, struct wire_rec *rec);
void wire_dec_free(struct wire_dec *d);
/* Forget any partial record (after a framing error); keeps the buffer,
 * max and check. */
void wire_dec_reset(struct wire_dec *d);

/* 1 when a host may send a record of this type (WIRE_NOOP included). */
int wire_host_type(uint8_t type);

/* The input decoder of a session guest. It accepts records of the host's
 * types of at most WIRE_SESSION_MAX bytes (WIRE_NOOP only empty); after a
 * framing error it scans the raw bytes, the refused header's last four
 * included, for WIRE_SYNC_HDR and resumes there. Zero-initialise, then
 * wire_sess_init. */
struct wire_sess {
	struct wire_dec dec;
	int scanning;	      /* looking for WIRE_SYNC_HDR */
	size_t scan_have;     /* its bytes matched so far */
	unsigned long errors; /* framing errors seen */
};
void wire_sess_init(struct wire_sess *s);
/* Like wire_dec_feed, but a framing error is not fatal: returns 1 with
 * *rec, or 0 when the input is used up (*used says how much was taken;
 * a record is returned as soon as it completes). *desync is set to 1 when
 * a framing error happened in this call: what was half-read before it is
 * garbage. Never fails otherwise (out of memory aborts). */
int wire_sess_feed(struct wire_sess *s, const uint8_t *p, size_t n,
		   size_t *used, struct wire_rec *rec, int *desync);
void wire_sess_free(struct wire_sess *s);

/* Look up key in a "key=value\0"... payload. Returns 1 and sets *out when
 * found with a valid decimal value, 0 otherwise. */
int wire_kv_get(const uint8_t *p, size_t n, const char *key, long long *out);

/* Split a NUL-terminated list into a malloc'd NULL-terminated vector whose
 * strings point into p (p must stay alive). The payload's last byte must be
 * NUL. Returns NULL on malformed input; caller frees the vector only. */
char **wire_list_split(const uint8_t *p, size_t n, size_t *count);

/* 0 if name is a safe relative path: 1..WIRE_MAX_NAME bytes, no NUL, no
 * leading '/', no empty, "." or ".." component, no control characters, and
 * no more than 8 levels deep. -1 otherwise. */
int wire_name_ok(const char *name, size_t len);
/* The same rules for the path of a file operation, with up to
 * WIRE_PATH_MAX bytes and WIRE_PATH_DEPTH levels. 0 or -1. */
int wire_path_ok(const char *path, size_t len);

#endif
