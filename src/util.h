/* util.h - small shared helpers: allocation that aborts on OOM, a growable
 * byte buffer, the error out-parameter, time and logging.
 *
 * Errors: the one convention of the whole code base.
 *
 *   - A function that can fail returns int: 0 on success (or a count or
 *     length >= 0 where its header says so) and a negative errno value on
 *     failure (-ENOENT, -ETIMEDOUT, -EAGAIN, ...). Callers test `rc < 0`
 *     and may compare with a named -E* value; nothing else: no -2 style
 *     sentinels, no positive error codes, no errno left for the caller.
 *   - Where the caller must tell a user why, the function takes a
 *     struct isobox_err *err and returns -1 after err_set() (which fills
 *     the HTTP status, a stable code and a sentence). Its header says so.
 *   - Functions that return a pointer return NULL on failure (with err
 *     filled when they take one). Predicates named *_ok / *_is return 1 or
 *     0 and are not error codes.
 *   - A function that can fail is never void. void is kept for what cannot
 *     fail (frees, formatting into a bounded buffer) and for what is
 *     best-effort by contract (logging, metrics), whose header says that a
 *     failure only loses data. A failure that would let a request through
 *     (fail open) is returned and acted on by the caller.
 *   - Library codes (LMDB's MDB_*, libcurl's CURLcode) do not leave the
 *     module that wraps the library: they are mapped to -errno there. */
#ifndef ISOBOX_UTIL_H
#define ISOBOX_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Allocation wrappers: abort the process on out-of-memory, never NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Free a NULL-terminated vector of strings and the strings (NULL is fine). */
void strv_free(char **v);

/* Growable byte buffer; always NUL-terminated after p[len] (if p != NULL). */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hand the contents to the caller (caller frees); the buffer is emptied. */
char *buf_steal(struct buf *b, size_t *len);

/* An error a caller may show to a user: a stable code, an HTTP status and a
 * sentence. Functions that fill one say so; code/msg are copied in. */
struct isobox_err {
	int status;    /* HTTP status to answer with */
	char code[48]; /* stable machine code, e.g. "unknown_language" */
	char msg[512]; /* a sentence */
};
/* Fill err (if non-NULL) and return -1, so callers can `return err_set(...)`.
 */
int err_set(struct isobox_err *err, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Monotonic and wall clocks in milliseconds. */
int64_t now_ms(void);
int64_t wall_ms(void);

/* Log one line to stderr with a level prefix (stderr is what the web server
 * collects). Thread-safe: each call is a single write(2). */
void log_msg(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_info(...)  log_msg("info", __VA_ARGS__)
#define log_warn(...)  log_msg("warn", __VA_ARGS__)
#define log_error(...) log_msg("error", __VA_ARGS__)

/* Parse a decimal/size string; 0 on success, -1 on a malformed value.
 * parse_ll takes a plain decimal integer (optional sign, no spaces, no
 * suffix). parse_size takes a non-negative decimal integer with an optional
 * binary suffix: k/K/Ki/KiB, m/M/Mi/MiB, g/G/Gi/GiB (1024-based), "b"/"B" for
 * bytes; -1 also on overflow. parse_double rejects inf, nan and hex. */
int parse_ll(const char *s, long long *out);
int parse_size(const char *s, long long *out);
int parse_double(const char *s, double *out);
int parse_bool(const char *s, int *out); /* 1/0, true/false, yes/no, on/off */

/* The value 0-15 of one hex digit (either case), or -1. */
int hex_digit(int c);
/* Decode n hex characters (n even) into n / 2 bytes at out. 0, or -EINVAL
 * when n is odd or a character is not a hex digit (out is then partly
 * written). */
int hex_decode(const char *s, size_t n, uint8_t *out);

/* 1 when s is 1..max characters of [A-Za-z0-9_.-] (names that travel into
 * configs and labels: tenants, Docker networks), else 0. Such a name may
 * still be "." or ".."; callers that use it as a path component check that
 * themselves. */
int name_ok(const char *s, size_t max);
/* 1 when name is one of the names of list, separated by commas and/or
 * spaces ("python, node"); a NULL list names nothing. */
int name_listed(const char *list, const char *name);

/* SHA-256, streaming (OpenSSL's EVP underneath: the SHA extensions of the
 * CPU where it has them). sha256_init, any number of sha256_update, then
 * sha256_final, which also frees the state; sha256_free frees a state that
 * is abandoned before sha256_final (safe twice, and after final). */
struct sha256 {
	void *md; /* EVP_MD_CTX */
};
void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *p, size_t n);
void sha256_final(struct sha256 *h, uint8_t out[32]);
void sha256_free(struct sha256 *h);
/* The digest of p (n bytes) as 64 lower-case hex characters plus NUL. */
void sha256_hex(const void *p, size_t n, char out[65]);
/* 32 bytes as 64 lower-case hex characters plus NUL. */
void sha256_tohex(const uint8_t d[32], char out[65]);

/* 1 when p (n bytes) is well-formed UTF-8: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
int utf8_valid(const void *p, size_t n);

/* Fill buf with n random bytes as 2n hex characters plus NUL. */
void random_hex(char *buf, size_t n);

#endif
