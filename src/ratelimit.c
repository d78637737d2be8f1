/* ratelimit.c - shared token buckets and the client address; see
 * ratelimit.h. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bucket row, version 1: tokens (f64), updated_ms (i64: wall clock of
 * the last take), full_ms (i64: when it is back at its burst). The table
 * buckets_full indexes the rows by full_ms (store_expiry_key(full_ms,
 * key) -> an empty record), so the ones full first are found first. */
#define BUCKET_VERSION 1
#define INDEX_VERSION  1
/* Buckets a new one at the bound may delete to make room. */
#define SWEEP_AT_BOUND 64
#define OVERFLOW_KEY   "overflow:"
#define SWEEP_BATCH    1000

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

/* Write the bucket and move its index entry (from old_full_ms, when it
 * had one). */
static int bucket_store(struct store_txn *t, const char *key,
			const struct bucket *b, int64_t old_full_ms)
{
	char ik[STORE_KEY_MAX + 1];
	struct store_rec r;
	int rc;

	if (old_full_ms >= 0 && store_expiry_key(ik, old_full_ms, key) == 0) {
		store_del(t, STORE_BUCKETS_FULL, ik);
	}
	rc = store_expiry_key(ik, b->full_ms, key);
	if (rc < 0) {
		return rc;
	}
	store_rec_init(&r, STORE_BUCKETS_FULL, INDEX_VERSION);
	rc = store_put(t, STORE_BUCKETS_FULL, ik, &r);
	if (rc < 0) {
		return rc;
	}
	store_rec_init(&r, STORE_BUCKETS, BUCKET_VERSION);
	store_rec_f64(&r, b->tokens);
	store_rec_i64(&r, b->updated_ms);
	store_rec_i64(&r, b->full_ms);
	return store_put(t, STORE_BUCKETS, key, &r);
}

/* Delete up to max buckets that are full at now, oldest first, with their
 * index entries. Index entries whose bucket is gone or was refilled since
 * (a newer entry exists) go without touching the bucket. Returns buckets
 * deleted; *more is 1 when it stopped at max rather than at a bucket not
 * yet full. */
static long sweep_full(struct store_txn *t, int64_t now, size_t max, int *more)
{
	struct store_cursor c;
	struct store_val k;
	struct store_val v;
	size_t looked = 0;
	long deleted = 0;
	int rc = store_cursor_open(t, STORE_BUCKETS_FULL, &c);

	*more = 0;
	if (rc < 0) {
		return rc;
	}
	while (store_cursor_next(&c, &k, &v) == 0) {
		char key[STORE_KEY_MAX + 1];
		const char *kp;
		size_t kn;
		int64_t at;
		struct store_val bv;
		struct bucket b;

		if (looked++ == max) {
			*more = 1;
			break;
		}
		if (store_expiry_split(&k, &at, &kp, &kn) < 0) {
			store_cursor_del(&c);
			continue;
		}
		if (at > now) {
			break;
		}
		memcpy(key, kp, kn);
		key[kn] = '\0';
		if (store_get(t, STORE_BUCKETS, key, &bv) == 0 &&
		    (bucket_decode(&bv, &b) < 0 || b.full_ms <= now)) {
			store_del(t, STORE_BUCKETS, key);
			deleted++;
		}
		rc = store_cursor_del(&c);
		if (rc < 0) {
			deleted = rc;
			break;
		}
	}
	store_cursor_close(&c);
	return deleted;
}

/* 1 when a new row for key would break the table's bound even after
 * deleting the buckets that are full. Tenant keys are exempt. */
static int at_bound(struct store *st, struct store_txn *t, const char *key,
		    int64_t now)
{
	size_t bound = store_bound(st, STORE_BUCKETS);
	int more;

	if (bound == 0 || strncmp(key, "key:", 4) == 0) {
		return 0;
	}
	/* One row stays free for the overflow bucket. */
	if (store_count(t, STORE_BUCKETS) + 1 < bound) {
		return 0;
	}
	sweep_full(t, now, SWEEP_AT_BOUND, &more);
	return store_count(t, STORE_BUCKETS) + 1 >= bound;
}

int ratelimit_take_at(struct store *st, const char *key, int per_min, int burst,
		      int64_t now)
{
	struct store_txn t;
	struct bucket b;
	int64_t old_full;
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
	old_full = found ? b.full_ms : -1;
	b.updated_ms = now;
	if (b.tokens >= 1.0) {
		b.tokens -= 1.0;
	} else {
		wait = (int)((1.0 - b.tokens) / rate / 1000.0) + 1;
	}
	b.full_ms = now + (int64_t)((burst - b.tokens) / rate) + 1;
	rc = bucket_store(&t, key, &b, old_full);
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

static int unreadable(const struct store_val *k, const struct store_val *v,
		      void *ctx)
{
	struct bucket b;

	(void)k;
	(void)ctx;
	return bucket_decode(v, &b) < 0;
}

long ratelimit_sweep(struct store *st, int64_t now)
{
	long total = 0;
	int more = 1;

	if (!store_ready(st, STORE_RUN)) {
		return 0;
	}
	while (more) {
		struct store_txn t;
		long n;
		int rc = store_txn_begin(st, STORE_RUN, 1, &t);

		if (rc < 0) {
			return rc;
		}
		n = sweep_full(&t, now, SWEEP_BATCH, &more);
		rc = n < 0 ? (int)n : store_txn_commit(&t);
		store_txn_abort(&t);
		if (rc < 0) {
			return rc;
		}
		total += n;
	}
	/* Rows of another version (an upgrade) have no index entry. */
	store_sweep(st, STORE_BUCKETS, SWEEP_BATCH, unreadable, NULL);
	return total;
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
