/* util.h - small shared helpers: allocation that aborts on OOM, a growable
 * byte buffer, the error out-parameter, time and logging. */
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

/* Fill buf with n random bytes as 2n hex characters plus NUL. */
void random_hex(char *buf, size_t n);

#endif
