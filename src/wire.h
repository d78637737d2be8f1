/* wire.h - the framing spoken between the host and isobox-guest.
 *
 * Shared by the service (src/) and the in-sandbox guest (guest/), so it uses
 * libc only. One record on the wire is:
 *
 *     u8 type | u32 length (big endian) | length bytes of payload
 *
 * Host -> guest (container stdin), one job is a run of records ended by GO:
 *   WIRE_FILE    u16 name length (BE) | name | content
 *   WIRE_ENV     "KEY=VALUE\0" ...
 *   WIRE_COMPILE argv of the compile stage, each argument NUL-terminated
 *   WIRE_RUN     argv of the run stage, each argument NUL-terminated
 *   WIRE_STDIN   bytes for the run stage's stdin (may repeat, concatenated)
 *   WIRE_LIMITS  "key=value\0" ... (see WIRE_LIMIT_* below)
 *   WIRE_HANDOFF the run argv after its first element, NUL-terminated each:
 *                what a prestarted interpreter is handed (registry.h,
 *                "prestart"); ignored by a guest that has none waiting
 *   WIRE_GO      empty; the job is complete, start it
 *
 * Guest -> host (container stdout; user code never holds this fd):
 *   WIRE_READY   guest version string; sent once at start-up
 *   WIRE_OUT     u8 stage ('c'|'r') | u8 stream (1 stdout, 2 stderr) | bytes
 *   WIRE_RESULT  u8 stage | "key=value\0" ... (see WIRE_RES_* below)
 *   WIRE_FAIL    a sentence: the job could not be set up (bad file name...)
 *   WIRE_DONE    empty; every stage of the job has reported
 */
#ifndef ISOBOX_WIRE_H
#define ISOBOX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_HDR_LEN 5
/* Largest payload either side accepts; bigger records are a protocol error. */
#define WIRE_MAX_PAYLOAD (16u * 1024u * 1024u)
#define WIRE_MAX_NAME	 255

enum wire_type {
	WIRE_FILE = 'F',
	WIRE_ENV = 'E',
	WIRE_COMPILE = 'C',
	WIRE_RUN = 'R',
	WIRE_STDIN = 'I',
	WIRE_LIMITS = 'L',
	WIRE_HANDOFF = 'H',
	WIRE_GO = 'G',
	WIRE_READY = 'r',
	WIRE_OUT = 'o',
	WIRE_RESULT = 'x',
	WIRE_FAIL = 'f',
	WIRE_DONE = 'd',
};

#define WIRE_STAGE_COMPILE 'c'
#define WIRE_STAGE_RUN	   'r'

/* Keys of WIRE_LIMITS (decimal values). */
#define WIRE_LIMIT_COMPILE_WALL_MS "compile_wall_ms"
#define WIRE_LIMIT_RUN_WALL_MS	   "run_wall_ms"
#define WIRE_LIMIT_PIDS		   "pids" /* RLIMIT_NPROC for user code */
#define WIRE_LIMIT_OUTPUT	   "output_bytes" /* stdout+stderr cap per stage */
#define WIRE_LIMIT_FSIZE	   "fsize_bytes" /* RLIMIT_FSIZE for user code */
#define WIRE_LIMIT_NOFILE	   "nofile" /* RLIMIT_NOFILE for user code */

/* Keys of WIRE_RESULT (decimal values). */
#define WIRE_RES_EXIT	   "exit"	 /* exit status, or 128 + signal */
#define WIRE_RES_SIGNAL	   "signal"	 /* terminating signal number or 0 */
#define WIRE_RES_TIMED_OUT "timed_out"	 /* 1 if the stage wall time hit */
#define WIRE_RES_TRUNCATED "truncated"	 /* 1 if output hit the cap */
#define WIRE_RES_DURATION  "duration_ms" /* stage wall time used */
#define WIRE_RES_PRESTARTED                                                    \
	"prestarted" /* 1 if a prestarted interpreter ran it */

/* A growable byte buffer for encoding. Zero-initialise before use. */
struct wire_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* Append one record. Returns 0, or -1 if the payload is too large or
 * memory ran out (the buffer is then unchanged). */
int wire_put(struct wire_buf *b, uint8_t type, const void *payload, size_t n);
/* Append a WIRE_FILE record. Returns 0 or -1 (name too long, too large). */
int wire_put_file(struct wire_buf *b, const char *name, const void *data,
		  size_t n);
/* Append an OUT record for the given stage and stream. */
int wire_put_out(struct wire_buf *b, uint8_t stage, uint8_t stream,
		 const void *data, size_t n);
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
};

struct wire_rec {
	uint8_t type;
	const uint8_t *payload; /* borrowed from the decoder until next call */
	size_t len;
};

/* Feed up to n bytes. Consumes bytes until one record is complete or the
 * input is used up; *used says how many were taken. Returns 1 with *rec set
 * when a record is complete, 0 when more input is needed, -1 on a record
 * larger than max or out of memory (the stream is then unusable). */
int wire_dec_feed(struct wire_dec *d, const uint8_t *data, size_t n,
		  size_t *used, struct wire_rec *rec);
void wire_dec_free(struct wire_dec *d);

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

#endif
