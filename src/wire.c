/* wire.c - encoder and incremental decoder for the host <-> guest framing.
 * See wire.h for the record format. libc only: it is linked into the static
 * guest as well as the service. */
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(struct wire_buf *b, size_t extra)
{
	size_t need;
	size_t ncap;
	uint8_t *np;

	if (extra > SIZE_MAX - b->len) {
		return -1;
	}
	need = b->len + extra;
	if (need <= b->cap) {
		return 0;
	}
	ncap = b->cap ? b->cap : 256;
	while (ncap < need) {
		ncap *= 2;
	}
	np = realloc(b->p, ncap);
	if (np == NULL) {
		return -1;
	}
	b->p = np;
	b->cap = ncap;
	return 0;
}

static int buf_add(struct wire_buf *b, const void *p, size_t n)
{
	if (n == 0) {
		return 0;
	}
	if (buf_reserve(b, n) < 0) {
		return -1;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void put_hdr(uint8_t *h, uint8_t type, uint32_t n)
{
	h[0] = type;
	h[1] = (uint8_t)(n >> 24);
	h[2] = (uint8_t)(n >> 16);
	h[3] = (uint8_t)(n >> 8);
	h[4] = (uint8_t)n;
}

int wire_put(struct wire_buf *b, uint8_t type, const void *payload, size_t n)
{
	uint8_t h[WIRE_HDR_LEN];

	if (n > WIRE_MAX_PAYLOAD) {
		return -1;
	}
	if (buf_reserve(b, WIRE_HDR_LEN + n) < 0) {
		return -1;
	}
	put_hdr(h, type, (uint32_t)n);
	buf_add(b, h, sizeof(h));
	buf_add(b, payload, n);
	return 0;
}

int wire_put_file(struct wire_buf *b, const char *name, const void *data,
		  size_t n)
{
	size_t nl = strlen(name);
	size_t total;
	uint8_t h[WIRE_HDR_LEN];
	uint8_t l[2];

	if (nl > WIRE_MAX_NAME || n > WIRE_MAX_PAYLOAD - 2 - nl) {
		return -1;
	}
	total = 2 + nl + n;
	if (buf_reserve(b, WIRE_HDR_LEN + total) < 0) {
		return -1;
	}
	put_hdr(h, WIRE_FILE, (uint32_t)total);
	l[0] = (uint8_t)(nl >> 8);
	l[1] = (uint8_t)nl;
	buf_add(b, h, sizeof(h));
	buf_add(b, l, 2);
	buf_add(b, name, nl);
	buf_add(b, data, n);
	return 0;
}

int wire_put_out(struct wire_buf *b, uint32_t id, uint8_t stage, uint8_t stream,
		 const void *data, size_t n)
{
	uint8_t s[2];

	s[0] = stage;
	s[1] = stream;
	return wire_put_id(b, WIRE_OUT, id, s, 2, data, n);
}

void wire_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void wire_be64(uint8_t *p, uint64_t v)
{
	wire_be32(p, (uint32_t)(v >> 32));
	wire_be32(p + 4, (uint32_t)v);
}

uint32_t wire_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

uint64_t wire_get64(const uint8_t *p)
{
	return ((uint64_t)wire_get32(p) << 32) | wire_get32(p + 4);
}

int wire_rec_id(const struct wire_rec *rec, uint32_t *id)
{
	if (rec->len < 4) {
		return -1;
	}
	*id = wire_get32(rec->payload);
	return 0;
}

int wire_put_id(struct wire_buf *b, uint8_t type, uint32_t id, const void *head,
		size_t hn, const void *data, size_t dn)
{
	uint8_t h[WIRE_HDR_LEN + 4];

	if (hn > WIRE_MAX_PAYLOAD - 4 || dn > WIRE_MAX_PAYLOAD - 4 - hn) {
		return -1;
	}
	if (buf_reserve(b, sizeof(h) + hn + dn) < 0) {
		return -1;
	}
	put_hdr(h, type, (uint32_t)(4 + hn + dn));
	wire_be32(h + WIRE_HDR_LEN, id);
	buf_add(b, h, sizeof(h));
	buf_add(b, head, hn);
	buf_add(b, data, dn);
	return 0;
}

int wire_put_fail(struct wire_buf *b, uint32_t id, const char *code,
		  const char *msg)
{
	size_t cl = strlen(code) + 1;

	return wire_put_id(b, WIRE_FAIL, id, code, cl, msg, strlen(msg));
}

int wire_raw_add(struct wire_buf *b, const void *p, size_t n)
{
	return buf_add(b, p, n);
}

int wire_kv_add(struct wire_buf *b, const char *key, long long value)
{
	char tmp[160];
	int n = snprintf(tmp, sizeof(tmp), "%s=%lld", key, value);

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		return -1;
	}
	return buf_add(b, tmp, (size_t)n + 1);
}

int wire_str_add(struct wire_buf *b, const char *s)
{
	return buf_add(b, s, strlen(s) + 1);
}

void wire_buf_free(struct wire_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

int wire_dec_feed(struct wire_dec *d, const uint8_t *data, size_t n,
		  size_t *used, struct wire_rec *rec)
{
	size_t max = d->max ? d->max : WIRE_MAX_PAYLOAD;
	size_t off = 0;

	*used = 0;
	for (;;) {
		if (!d->in_payload) {
			size_t take = WIRE_HDR_LEN - d->hdr_have;

			if (take > n - off) {
				take = n - off;
			}
			memcpy(d->hdr + d->hdr_have, data + off, take);
			d->hdr_have += take;
			off += take;
			if (d->hdr_have < WIRE_HDR_LEN) {
				*used = off;
				return 0;
			}
			d->type = d->hdr[0];
			d->len = ((uint32_t)d->hdr[1] << 24) |
				 ((uint32_t)d->hdr[2] << 16) |
				 ((uint32_t)d->hdr[3] << 8) |
				 (uint32_t)d->hdr[4];
			if (d->len > max ||
			    (d->check && d->check(d->type, d->len) != 0)) {
				*used = off;
				return -1;
			}
			if (d->len > d->cap) {
				uint8_t *np = realloc(d->payload, d->len);

				if (np == NULL) {
					*used = off;
					return -1;
				}
				d->payload = np;
				d->cap = d->len;
			}
			d->have = 0;
			d->in_payload = 1;
		}
		{
			size_t take = d->len - d->have;

			if (take > n - off) {
				take = n - off;
			}
			if (take) {
				memcpy(d->payload + d->have, data + off, take);
			}
			d->have += take;
			off += take;
		}
		*used = off;
		if (d->have < d->len) {
			return 0;
		}
		rec->type = d->type;
		rec->payload = d->payload;
		rec->len = d->len;
		d->in_payload = 0;
		d->hdr_have = 0;
		return 1;
	}
}

void wire_dec_free(struct wire_dec *d)
{
	free(d->payload);
	d->payload = NULL;
	d->cap = 0;
}

void wire_dec_reset(struct wire_dec *d)
{
	d->hdr_have = 0;
	d->have = 0;
	d->in_payload = 0;
}

int wire_host_type(uint8_t type)
{
	switch (type) {
	case WIRE_NOOP:
	case WIRE_FILE:
	case WIRE_ENV:
	case WIRE_COMPILE:
	case WIRE_RUN:
	case WIRE_STDIN:
	case WIRE_LIMITS:
	case WIRE_HANDOFF:
	case WIRE_GO:
	case WIRE_CODE:
	case WIRE_JOB:
	case WIRE_SYNC:
	case WIRE_INTR:
	case WIRE_FPUT:
	case WIRE_FDATA:
	case WIRE_FEND:
	case WIRE_FGET:
	case WIRE_FLIST:
	case WIRE_FDEL:
	case WIRE_BYE:
		return 1;
	default:
		return 0;
	}
}

static int sess_check(uint8_t type, uint32_t len)
{
	if (type == WIRE_NOOP) {
		return len != 0;
	}
	return !wire_host_type(type) || len > WIRE_SESSION_MAX;
}

void wire_sess_init(struct wire_sess *s)
{
	s->dec.max = WIRE_SESSION_MAX;
	s->dec.check = sess_check;
}

/* One raw byte while scanning. The header's bytes after the first are
 * never 'S', so on a mismatch only this byte can start a new match. */
static void sess_scan(struct wire_sess *s, uint8_t b)
{
	static const uint8_t pat[WIRE_HDR_LEN] = WIRE_SYNC_HDR;

	if (b == pat[s->scan_have]) {
		s->scan_have++;
	} else {
		s->scan_have = b == pat[0];
	}
}

int wire_sess_feed(struct wire_sess *s, const uint8_t *p, size_t n,
		   size_t *used, struct wire_rec *rec, int *desync)
{
	static const uint8_t pat[WIRE_HDR_LEN] = WIRE_SYNC_HDR;
	size_t off = 0;

	for (;;) {
		size_t u = 0;
		int r;
		int k;

		while (s->scanning && off < n) {
			sess_scan(s, p[off++]);
			if (s->scan_have == WIRE_HDR_LEN) {
				/* Resume inside a SYNC record. */
				wire_dec_reset(&s->dec);
				if (wire_dec_feed(&s->dec, pat, sizeof(pat), &u,
						  rec) != 0) {
					abort(); /* out of memory */
				}
				s->scanning = 0;
			}
		}
		if (s->scanning || off == n) {
			*used = off;
			return 0;
		}
		r = wire_dec_feed(&s->dec, p + off, n - off, &u, rec);
		off += u;
		if (r >= 0) {
			*used = off;
			return r;
		}
		if (s->dec.len <= s->dec.max && s->dec.check &&
		    s->dec.check(s->dec.type, s->dec.len) == 0) {
			abort(); /* out of memory, not a framing error */
		}
		s->errors++;
		*desync = 1;
		s->scanning = 1;
		s->scan_have = 0;
		for (k = 1; k < WIRE_HDR_LEN; k++) {
			sess_scan(s, s->dec.hdr[k]);
		}
		wire_dec_reset(&s->dec);
	}
}

void wire_sess_free(struct wire_sess *s)
{
	wire_dec_free(&s->dec);
}

int wire_kv_get(const uint8_t *p, size_t n, const char *key, long long *out)
{
	size_t kl = strlen(key);
	size_t i = 0;

	while (i < n) {
		const uint8_t *end = memchr(p + i, '\0', n - i);
		size_t el;

		if (end == NULL) {
			return 0;
		}
		el = (size_t)(end - (p + i));
		if (el > kl && memcmp(p + i, key, kl) == 0 &&
		    p[i + kl] == '=') {
			const char *v = (const char *)p + i + kl + 1;
			char *ep;
			long long val;

			errno = 0;
			val = strtoll(v, &ep, 10);
			if (errno != 0 || ep == v || *ep != '\0') {
				return 0;
			}
			*out = val;
			return 1;
		}
		i += el + 1;
	}
	return 0;
}

char **wire_list_split(const uint8_t *p, size_t n, size_t *count)
{
	size_t c = 0;
	size_t i;
	char **v;
	size_t k = 0;

	if (n == 0) {
		v = calloc(1, sizeof(*v));
		if (v && count) {
			*count = 0;
		}
		return v;
	}
	if (p[n - 1] != '\0') {
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (p[i] == '\0') {
			c++;
		}
	}
	v = calloc(c + 1, sizeof(*v));
	if (v == NULL) {
		return NULL;
	}
	v[k++] = (char *)p;
	for (i = 0; i + 1 < n; i++) {
		if (p[i] == '\0') {
			v[k++] = (char *)p + i + 1;
		}
	}
	v[k] = NULL;
	if (count) {
		*count = c;
	}
	return v;
}

/* The path rules shared by wire_name_ok and wire_path_ok. */
static int path_ok(const char *name, size_t len, size_t maxlen, int maxdepth)
{
	size_t i;
	size_t comp = 0;
	int depth = 1;

	if (len == 0 || len > maxlen || name[0] == '/') {
		return -1;
	}
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)name[i] : '/';

		if (i < len && (c < 0x20 || c == 0x7f)) {
			return -1;
		}
		if (c == '/') {
			const char *s = name + i - comp;

			if (comp == 0 || (comp == 1 && s[0] == '.') ||
			    (comp == 2 && s[0] == '.' && s[1] == '.')) {
				return -1;
			}
			if (i < len && ++depth > maxdepth) {
				return -1;
			}
			comp = 0;
		} else {
			comp++;
		}
	}
	return 0;
}

int wire_name_ok(const char *name, size_t len)
{
	return path_ok(name, len, WIRE_MAX_NAME, 8);
}

int wire_path_ok(const char *path, size_t len)
{
	return path_ok(path, len, WIRE_PATH_MAX, WIRE_PATH_DEPTH);
}
