/* util.c - small shared helpers: allocation that aborts on OOM, the growable
 * buffer, the error out-parameter, clocks, JSON-lines logging to stderr,
 * strict number parsing and random identifiers. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Keep one log line below PIPE_BUF (4096 on Linux) so a write to a pipe is
 * atomic even when several processes share the web server's stderr. */
#define LOG_LINE_MAX 4000

static void oom(size_t n)
{
	char msg[96];
	int len = snprintf(msg, sizeof(msg),
			   "{\"level\":\"error\",\"msg\":\"out of memory "
			   "(%zu bytes)\"}\n",
			   n);

	if (len > 0) {
		ssize_t w = write(STDERR_FILENO, msg, (size_t)len);

		(void)w;
	}
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		oom(n);
	}
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p;

	if (n == 0 || m == 0) {
		n = 1;
		m = 1;
	}
	p = calloc(n, m);
	if (p == NULL) {
		oom(n * m);
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *np = realloc(p, n ? n : 1);

	if (np == NULL) {
		oom(n);
	}
	return np;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static char *xvasprintf(const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	char *p;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		/* Only an invalid format gets here; fail loudly. */
		abort();
	}
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void strv_free(char **v)
{
	size_t i;

	if (v == NULL) {
		return;
	}
	for (i = 0; v[i] != NULL; i++) {
		free(v[i]);
	}
	free(v);
}

/* Make room for extra more bytes plus the trailing NUL. */
static void buf_grow(struct buf *b, size_t extra)
{
	size_t need;
	size_t ncap;

	if (extra > SIZE_MAX - b->len - 1) {
		oom(SIZE_MAX);
	}
	need = b->len + extra + 1;
	if (need <= b->cap) {
		return;
	}
	ncap = b->cap ? b->cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	b->p = xrealloc(b->p, ncap);
	b->cap = ncap;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n > 0) {
		memcpy(b->p + b->len, p, n);
	}
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	buf_grow(b, 64);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		abort();
	}
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p != NULL) {
		b->p[0] = '\0';
	}
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->p;

	if (p == NULL) {
		p = xcalloc(1, 1);
	}
	if (len != NULL) {
		*len = b->len;
	}
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

int err_set(struct isobox_err *err, int status, const char *code,
	    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL) {
		return -1;
	}
	err->status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if s does not start
 * one. n is the number of bytes available. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	size_t i;
	uint32_t cp;

	if (s[0] < 0x80) {
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n) {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

/* Append s as the body of a JSON string: quotes, backslashes and control
 * characters escaped, invalid UTF-8 replaced with U+FFFD. Stops before the
 * buffer passes limit bytes; returns 1 if it had to stop early. */
static int json_escape(struct buf *b, const char *s, size_t limit)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t seq;

		if (b->len + 8 > limit) {
			return 1;
		}
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};

			buf_add(b, e, 2);
			i++;
		} else if (c == '\n') {
			buf_adds(b, "\\n");
			i++;
		} else if (c == '\t') {
			buf_adds(b, "\\t");
			i++;
		} else if (c == '\r') {
			buf_adds(b, "\\r");
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			buf_addf(b, "\\u%04x", c);
			i++;
		} else if ((seq = utf8_seq(p + i, n - i)) == 0) {
			buf_adds(b, "\\ufffd");
			i++;
		} else {
			buf_add(b, p + i, seq);
			i += seq;
		}
	}
	return 0;
}

void log_msg(const char *level, const char *fmt, ...)
{
	int saved = errno;
	struct buf line = {0};
	struct timespec ts;
	struct tm tm;
	char stamp[64];
	size_t n;
	char *msg;
	va_list ap;
	size_t off = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ",
		 (int)(ts.tv_nsec / 1000000) % 1000);

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);

	buf_adds(&line, "{\"ts\":\"");
	buf_adds(&line, stamp);
	buf_adds(&line, "\",\"level\":\"");
	json_escape(&line, level, 128);
	buf_adds(&line, "\",\"msg\":\"");
	if (json_escape(&line, msg, LOG_LINE_MAX)) {
		buf_adds(&line, "...(truncated)");
	}
	buf_adds(&line, "\"}\n");
	free(msg);

	/* One write(2) per line; loop only for the rare short write. */
	while (off < line.len) {
		ssize_t w = write(STDERR_FILENO, line.p + off, line.len - off);

		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		off += (size_t)w;
	}
	buf_free(&line);
	errno = saved;
}

int parse_ll(const char *s, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0' || isspace((unsigned char)s[0])) {
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		return -1;
	}
	*out = v;
	return 0;
}

int parse_size(const char *s, long long *out)
{
	static const struct {
		const char *suffix;
		long long mult;
	} units[] = {
	    {"", 1},	       {"b", 1},	   {"k", 1LL << 10},
	    {"ki", 1LL << 10}, {"kib", 1LL << 10}, {"m", 1LL << 20},
	    {"mi", 1LL << 20}, {"mib", 1LL << 20}, {"g", 1LL << 30},
	    {"gi", 1LL << 30}, {"gib", 1LL << 30},
	};
	const char *p = s;
	long long v = 0;
	size_t i;

	if (s == NULL || !isdigit((unsigned char)s[0])) {
		return -1;
	}
	while (isdigit((unsigned char)*p)) {
		int d = *p - '0';

		if (v > (INT64_MAX - d) / 10) {
			return -1;
		}
		v = v * 10 + d;
		p++;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(p, units[i].suffix) == 0) {
			if (v > INT64_MAX / units[i].mult) {
				return -1;
			}
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || s[0] == '\0' || isspace((unsigned char)s[0]) ||
	    strpbrk(s, "xX") != NULL) {
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v)) {
		return -1;
	}
	*out = v;
	return 0;
}

int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	size_t i;

	if (s == NULL) {
		return -1;
	}
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int hex_digit(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

int hex_decode(const char *s, size_t n, uint8_t *out)
{
	size_t i;

	if (n % 2) {
		return -EINVAL;
	}
	for (i = 0; i < n; i += 2) {
		int a = hex_digit((unsigned char)s[i]);
		int b = hex_digit((unsigned char)s[i + 1]);

		if (a < 0 || b < 0) {
			return -EINVAL;
		}
		out[i / 2] = (uint8_t)(a << 4 | b);
	}
	return 0;
}

int name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	size_t i;

	if (n == 0 || n > max) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-')) {
			return 0;
		}
	}
	return 1;
}

int name_listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list ? list : "";

	while (*p) {
		size_t l = strcspn(p, ", ");

		if (l == n && strncmp(p, name, n) == 0) {
			return 1;
		}
		p += l;
		p += strspn(p, ", ");
	}
	return 0;
}

/* Fill p with n bytes from the kernel CSPRNG. Identifiers made from these
 * may guard access (session ids), so there is no weak fallback: abort. */
static void random_bytes(unsigned char *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = getrandom(p + off, n - off, 0);

		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		off += (size_t)r;
	}
	if (off < n) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		while (fd >= 0 && off < n) {
			ssize_t r = read(fd, p + off, n - off);

			if (r < 0 && errno == EINTR) {
				continue;
			}
			if (r <= 0) {
				break;
			}
			off += (size_t)r;
		}
		if (fd >= 0) {
			close(fd);
		}
	}
	if (off < n) {
		log_error("no source of random bytes");
		abort();
	}
}

void random_hex(char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char tmp[64];
	size_t done = 0;

	while (done < n) {
		size_t k = n - done < sizeof(tmp) ? n - done : sizeof(tmp);
		size_t i;

		random_bytes(tmp, k);
		for (i = 0; i < k; i++) {
			buf[2 * (done + i)] = hex[tmp[i] >> 4];
			buf[2 * (done + i) + 1] = hex[tmp[i] & 0x0f];
		}
		done += k;
	}
	buf[2 * n] = '\0';
}

void sha256_init(struct sha256 *h)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		log_error("sha256: cannot set up a digest (out of memory)");
		abort();
	}
	h->md = c;
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
	if (n > 0) {
		EVP_DigestUpdate((EVP_MD_CTX *)h->md, p, n);
	}
}

void sha256_final(struct sha256 *h, uint8_t out[32])
{
	unsigned int n = 32;

	EVP_DigestFinal_ex((EVP_MD_CTX *)h->md, out, &n);
	sha256_free(h);
}

void sha256_free(struct sha256 *h)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)h->md);
	h->md = NULL;
}

void sha256_tohex(const uint8_t d[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

void sha256_hex(const void *p, size_t n, char out[65])
{
	struct sha256 h;
	uint8_t d[32];

	sha256_init(&h);
	sha256_update(&h, p, n);
	sha256_final(&h, d);
	sha256_tohex(d, out);
}

int utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len;
		unsigned cp;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + len > n) {
			return 0;
		}
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				return 0;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
			return 0;
		}
		i += len;
	}
	return 1;
}
