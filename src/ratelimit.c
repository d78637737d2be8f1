/* ratelimit.c - shared token buckets and the client address; see
 * ratelimit.h. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ratelimit_take(struct store *st, const char *key, int per_min, int burst)
{
	MDB_txn *txn;
	MDB_val k = {strlen(key), (void *)key};
	MDB_val v;
	struct bucket b;
	int64_t now = wall_ms();
	double rate = per_min / 60000.0; /* tokens per ms */
	int wait = 0;
	int rc;

	if (st->env == NULL || per_min <= 0) {
		return 0;
	}
	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc != 0) {
		log_warn("rate limit: %s", mdb_strerror(rc));
		return 0;
	}
	if (mdb_get(txn, st->buckets, &k, &v) == 0 && v.mv_size == sizeof(b)) {
		memcpy(&b, v.mv_data, sizeof(b));
		b.tokens += (double)(now - b.updated_ms) * rate;
		if (b.tokens > burst) {
			b.tokens = burst;
		}
	} else {
		b.tokens = burst;
	}
	b.updated_ms = now;
	if (b.tokens >= 1.0) {
		b.tokens -= 1.0;
	} else {
		wait = (int)((1.0 - b.tokens) / rate / 1000.0) + 1;
	}
	v.mv_data = &b;
	v.mv_size = sizeof(b);
	rc = mdb_put(txn, st->buckets, &k, &v, 0);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
	} else {
		mdb_txn_abort(txn);
	}
	if (rc != 0) {
		log_warn("rate limit: %s", mdb_strerror(rc));
		return 0;
	}
	return wait;
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
