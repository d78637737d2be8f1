/* ratelimit.c - shared token buckets and the client address; see
 * ratelimit.h. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bucket row, version 1: tokens (f64), updated_ms (i64: wall clock of
 * the last take), full_ms (i64: when it is back at its burst, so a sweep
 * knows without the rate). */
#define BUCKET_VERSION 1
/* Rows a new bucket at the bound looks at for full ones to delete. */
#define SWEEP_LOOK   64
#define OVERFLOW_KEY "overflow:"
#define SWEEP_BATCH  1000

struct bucket {
	double tokens;
	int64_t updated_ms;
	int64_t full_ms;
};

static int bucket_decode(const struct store_val *v, struct bucket *b)
{
	struct store_dec d;
	int rc = store_dec_open(&d, v, STORE_BUCKETS, BUCKET_VERSION);

	b->tokens = store_dec_f64(&d);
	b->updated_ms = store_dec_i64(&d);
	b->full_ms = store_dec_i64(&d);
	return rc < 0 ? rc : store_dec_end(&d);
}

/* The bucket as of now: stored (refilled) or, when there is none or it
 * cannot be read, a full one. */
static void bucket_load(struct store_txn *t, const char *key, double rate,
			int burst, int64_t now, struct bucket *b, int *found)
{
	struct store_val v;

	*found = store_get(t, STORE_BUCKETS, key, &v) == 0 &&
		 bucket_decode(&v, b) == 0;
	if (!*found) {
		b->tokens = burst;
		return;
	}
	if (now > b->updated_ms) {
		b->tokens += (double)(now - b->updated_ms) * rate;
	}
	if (b->tokens > burst) {
		b->tokens = burst;
	}
}

static int full_again(const struct store_val *k, const struct store_val *v,
		      void *ctx)
{
	const int64_t *now = ctx;
	struct bucket b;

	(void)k;
	return bucket_decode(v, &b) < 0 || b.full_ms <= *now;
}

/* 1 when a new row for key would break the table's bound even after
 * sweeping a few full rows around it. Tenant keys are exempt. */
static int at_bound(struct store *st, struct store_txn *t, const char *key,
		    int64_t now)
{
	size_t bound = store_bound(st, STORE_BUCKETS);

	if (bound == 0 || strncmp(key, "key:", 4) == 0) {
		return 0;
	}
	/* One row stays free for the overflow bucket. */
	if (store_count(t, STORE_BUCKETS) + 1 < bound) {
		return 0;
	}
	store_sweep_txn(t, STORE_BUCKETS, key, SWEEP_LOOK, full_again, &now);
	return store_count(t, STORE_BUCKETS) + 1 >= bound;
}

int ratelimit_take_at(struct store *st, const char *key, int per_min, int burst,
		      int64_t now)
{
	struct store_txn t;
	struct store_rec r;
	struct bucket b;
	double rate = per_min / 60000.0; /* tokens per ms */
	int found;
	int wait = 0;
	int rc;

	if (!store_ready(st, STORE_RUN) || per_min <= 0) {
		return 0;
	}
	rc = store_txn_begin(st, STORE_RUN, 1, &t);
	if (rc < 0) {
		log_warn("rate limit: %s", strerror(-rc));
		return 0;
	}
	bucket_load(&t, key, rate, burst, now, &b, &found);
	if (!found && at_bound(st, &t, key, now)) {
		key = OVERFLOW_KEY;
		bucket_load(&t, key, rate, burst, now, &b, &found);
	}
	b.updated_ms = now;
	if (b.tokens >= 1.0) {
		b.tokens -= 1.0;
	} else {
		wait = (int)((1.0 - b.tokens) / rate / 1000.0) + 1;
	}
	b.full_ms = now + (int64_t)((burst - b.tokens) / rate) + 1;
	store_rec_init(&r, STORE_BUCKETS, BUCKET_VERSION);
	store_rec_f64(&r, b.tokens);
	store_rec_i64(&r, b.updated_ms);
	store_rec_i64(&r, b.full_ms);
	rc = store_put(&t, STORE_BUCKETS, key, &r);
	if (rc == 0) {
		rc = store_txn_commit(&t);
	}
	store_txn_abort(&t);
	if (rc < 0) {
		log_warn("rate limit: %s", strerror(-rc));
		return 0;
	}
	return wait;
}

int ratelimit_take(struct store *st, const char *key, int per_min, int burst)
{
	return ratelimit_take_at(st, key, per_min, burst, wall_ms());
}

long ratelimit_sweep(struct store *st, int64_t now)
{
	if (!store_ready(st, STORE_RUN)) {
		return 0;
	}
	return store_sweep(st, STORE_BUCKETS, SWEEP_BATCH, full_again, &now);
}

/* 1 when addr lies in the CIDR (v4 or v6; a bare address is /32 or
 * /128). */
static int in_cidr(const char *addr, const char *cidr, size_t cl)
{
	char net[64];
	unsigned char a[16];
	unsigned char b[16];
	const char *slash;
	int bits;
	int fam;
	int len;
	int i;

	if (cl >= sizeof(net)) {
		return 0;
	}
	memcpy(net, cidr, cl);
	net[cl] = '\0';
	slash = strchr(net, '/');
	fam = strchr(net, ':') ? AF_INET6 : AF_INET;
	len = fam == AF_INET ? 4 : 16;
	bits = slash ? atoi(slash + 1) : len * 8;
	if (slash) {
		net[slash - net] = '\0';
	}
	if (bits < 0 || bits > len * 8 || inet_pton(fam, net, b) != 1 ||
	    inet_pton(fam, addr, a) != 1) {
		return 0;
	}
	for (i = 0; i < len && bits > 0; i++, bits -= 8) {
		unsigned char mask =
		    bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));

		if ((a[i] & mask) != (b[i] & mask)) {
			return 0;
		}
	}
	return 1;
}

static int trusted_addr(const char *addr, const char *trusted)
{
	const char *p = trusted;

	while (p && *p) {
		size_t l;

		p += strspn(p, " ,");
		l = strcspn(p, " ,");
		if (l && in_cidr(addr, p, l)) {
			return 1;
		}
		p += l;
	}
	return 0;
}

void ratelimit_client_ip(const char *remote_addr, const char *xff,
			 const char *trusted, char *out, size_t n)
{
	char hop[64];
	const char *end;

	snprintf(out, n, "%s", remote_addr ? remote_addr : "");
	if (!xff || !*xff || !trusted || !*trusted ||
	    !trusted_addr(out, trusted)) {
		return;
	}
	/* Walk X-Forwarded-For from the right while the hops are trusted. */
	end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end;
		const char *seg;
		size_t l;

		while (start > xff && start[-1] != ',') {
			start--;
		}
		seg = start; /* just after the comma (or the whole header) */
		while (start < end && *start == ' ') {
			start++;
		}
		l = (size_t)(end - start);
		while (l > 0 && start[l - 1] == ' ') {
			l--;
		}
		if (l == 0 || l >= sizeof(hop)) {
			return;
		}
		memcpy(hop, start, l);
		hop[l] = '\0';
		snprintf(out, n, "%s", hop);
		if (!trusted_addr(hop, trusted)) {
			return;
		}
		end = seg > xff ? seg - 1 : xff;
	}
}
