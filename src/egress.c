/* egress.c - verifying the egress firewall before a network run; see
 * egress.h. */
#include "egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "auth.h"

#define REJ	     "-j REJECT --reject-with icmp-admin-prohibited"
#define REJ_RST	     "-j REJECT --reject-with tcp-reset"
#define SAVE_MAX     (1024 * 1024)
#define SAVE_TIMEOUT 5000
#define MAX_PREFIX   256
#define MAX_ATTACHED 256

extern char **environ;

/* The ranges a sandbox may never reach, whatever the host looks like. */
static const char *const blocked_v4[] = {
    "0.0.0.0/8",      "10.0.0.0/8",    "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",	"192.168.0.0/16",
    "198.18.0.0/15",  "224.0.0.0/4",   "240.0.0.0/4",	NULL,
};

static int why_set(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}

static uint32_t mask_of(int len)
{
	return len <= 0 ? 0 : len >= 32 ? 0xffffffffu : ~(0xffffffffu >> len);
}

/* "a.b.c.d/n" (or "a.b.c.d" as /32) -> net; 0 or -1. */
static int parse_net(const char *s, size_t n, struct egress_net *out)
{
	char tmp[32];
	char *slash;
	struct in_addr a;
	int len = 32;

	if (n == 0 || n >= sizeof(tmp)) {
		return -1;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	slash = strchr(tmp, '/');
	if (slash) {
		char *end;
		long v;

		*slash = '\0';
		v = strtol(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || v < 0 || v > 32) {
			return -1;
		}
		len = (int)v;
	}
	if (inet_pton(AF_INET, tmp, &a) != 1) {
		return -1;
	}
	out->addr = ntohl(a.s_addr) & mask_of(len);
	out->len = len;
	return 0;
}

static int net_covers(const struct egress_net *outer,
		      const struct egress_net *inner)
{
	return outer->len <= inner->len &&
	       (inner->addr & mask_of(outer->len)) == outer->addr;
}

static void net_str(const struct egress_net *n, char *buf, size_t cap)
{
	struct in_addr a;
	char ip[INET_ADDRSTRLEN];

	a.s_addr = htonl(n->addr);
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	snprintf(buf, cap, "%s/%d", ip, n->len);
}

/* The next line of text at *p (without its newline) into line/len;
 * 0 at the end. */
static int next_line(const char **p, const char **line, size_t *len)
{
	const char *s = *p;
	const char *e;

	if (*s == '\0') {
		return 0;
	}
	e = strchr(s, '\n');
	if (e == NULL) {
		e = s + strlen(s);
	}
	*line = s;
	*len = (size_t)(e - s);
	*p = *e ? e + 1 : e;
	return 1;
}

static int has_prefix(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(line, prefix, n) == 0;
}

static int line_is(const char *line, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(line, want, len) == 0;
}

static int ends_with(const char *line, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(line + len - n, suffix, n) == 0;
}

/* Is the first rule of chain in text exactly want? */
static int first_rule_is(const char *text, const char *chain, const char *want)
{
	char prefix[64];
	const char *p = text;
	const char *line;
	size_t len;

	snprintf(prefix, sizeof(prefix), "-A %s ", chain);
	while (next_line(&p, &line, &len)) {
		if (has_prefix(line, len, prefix)) {
			return line_is(line, len, want);
		}
	}
	return 0;
}

/* "-d R/32 -p udp -m udp --dport 53 -j RETURN" (or tcp) for a configured
 * resolver R; body is the rule after "-A CHAIN ". Sets *udp. */
static int dns_return(const char *body, size_t len, char dns[][16], int ndns,
		      int *which, int *udp)
{
	int i;

	for (i = 0; i < ndns; i++) {
		char want[96];

		snprintf(want, sizeof(want),
			 "-d %s/32 -p udp -m udp --dport 53 -j RETURN", dns[i]);
		if (line_is(body, len, want)) {
			*which = i;
			*udp = 1;
			return 1;
		}
		snprintf(want, sizeof(want),
			 "-d %s/32 -p tcp -m tcp --dport 53 -j RETURN", dns[i]);
		if (line_is(body, len, want)) {
			*which = i;
			*udp = 0;
			return 1;
		}
	}
	return 0;
}

static int blocking(const char *body, size_t len)
{
	return ends_with(body, len, REJ) || ends_with(body, len, REJ_RST) ||
	       ends_with(body, len, "-j DROP");
}

/* What the scan of the IPv4 chains found, checked at the end. */
enum { NNEED = 5 };
struct v4_scan {
	char need[NNEED][160]; /* rules ISOBOX-EGRESS must hold */
	int have[NNEED];
	int dns_ok[CONFIG_MAX_DNS];	   /* a udp RETURN per resolver */
	struct egress_net pre[MAX_PREFIX]; /* rejected -d prefixes */
	size_t npre;
	struct buf hashed; /* the rules the marker's digest covers */
	char mark_hash[65];
};

static void v4_scan_init(struct v4_scan *sc, const char *bridge)
{
	static const char *const need_fmt[NNEED] = {
	    "-o ", /* other sandboxes; filled in with the bridge below */
	    "-p udp -m udp --dport 53 " REJ,
	    "-p tcp -m tcp --dport 53 " REJ,
	    "-p tcp -m multiport --dports 25,465,587 " REJ,
	    "-m addrtype --dst-type LOCAL " REJ,
	};
	size_t i;

	memset(sc, 0, sizeof(*sc));
	for (i = 0; i < NNEED; i++) {
		snprintf(sc->need[i], sizeof(sc->need[i]), "%s", need_fmt[i]);
	}
	snprintf(sc->need[0], sizeof(sc->need[0]), "-o %s " REJ, bridge);
}

/* The hooks into the IPv4 chains: each chain's first rule. */
static int check_v4_hooks(const char *v4, const char *bridge, char *why,
			  size_t cap)
{
	char want[160];

	if (!first_rule_is(v4, "FORWARD", "-A FORWARD -j DOCKER-USER")) {
		return why_set(why, cap,
			       "iptables: FORWARD does not start with "
			       "-j DOCKER-USER");
	}
	snprintf(want, sizeof(want), "-A DOCKER-USER -i %s -j " EGRESS_CHAIN,
		 bridge);
	if (!first_rule_is(v4, "DOCKER-USER", want)) {
		return why_set(why, cap,
			       "iptables: DOCKER-USER does not start with "
			       "the jump to " EGRESS_CHAIN);
	}
	snprintf(want, sizeof(want), "-A INPUT -i %s -j " EGRESS_CHAIN_IN,
		 bridge);
	if (!first_rule_is(v4, "INPUT", want)) {
		return why_set(why, cap,
			       "iptables: INPUT does not start with the "
			       "jump to " EGRESS_CHAIN_IN);
	}
	return 0;
}

/* A rule body "-d NET -j REJECT ..." or "-d NET -j DROP" and nothing
 * else: its network into *n. 1 when it is one, else 0. */
static int rejected_prefix(const char *body, size_t blen, struct egress_net *n)
{
	const char *sp;
	size_t tail;

	if (!has_prefix(body, blen, "-d ")) {
		return 0;
	}
	if (ends_with(body, blen, " " REJ)) {
		tail = strlen(REJ);
	} else if (ends_with(body, blen, " -j DROP")) {
		tail = strlen("-j DROP");
	} else {
		return 0;
	}
	sp = memchr(body + 3, ' ', blen - 3);
	return sp && (size_t)(sp - body) + 1 + tail == blen &&
	       parse_net(body + 3, (size_t)(sp - body - 3), n) == 0;
}

/* The marker rule "-m comment --comment "isobox-egress sha256=H" -j
 * RETURN": its digest into sc->mark_hash. 1 when body is the marker, 0
 * when it is not one, -1 (why set) when it is malformed. */
static int marker(struct v4_scan *sc, const char *body, size_t blen, char *why,
		  size_t cap)
{
	static const char head[] = "-m comment --comment \"" EGRESS_MARK;
	static const char tail[] = "\" -j RETURN";

	if (!has_prefix(body, blen, head)) {
		return 0;
	}
	if (blen != strlen(head) + 64 + strlen(tail) ||
	    !ends_with(body, blen, tail)) {
		return why_set(why, cap,
			       "iptables: malformed marker in " EGRESS_CHAIN);
	}
	memcpy(sc->mark_hash, body + strlen(head), 64);
	sc->mark_hash[64] = '\0';
	return 1;
}

/* ISOBOX-EGRESS: only rejections and DNS to a resolver, then the marker
 * as the last rule. */
static int scan_egress_chain(struct v4_scan *sc, const char *v4, char dns[][16],
			     int ndns, char *why, size_t cap)
{
	const size_t ch = strlen("-A " EGRESS_CHAIN " ");
	const char *p = v4;
	const char *line;
	size_t len;
	int nrules = 0;
	int saw_mark = 0;

	while (next_line(&p, &line, &len)) {
		const char *body = line + ch;
		size_t blen = len - ch;
		struct egress_net n;
		int which;
		int udp;
		int m;
		size_t i;

		if (!has_prefix(line, len, "-A " EGRESS_CHAIN " ")) {
			continue;
		}
		nrules++;
		if (saw_mark) {
			return why_set(why, cap,
				       "iptables: rules after the marker "
				       "in " EGRESS_CHAIN);
		}
		m = marker(sc, body, blen, why, cap);
		if (m < 0) {
			return -1;
		}
		if (m > 0) {
			saw_mark = 1;
			continue;
		}
		buf_add(&sc->hashed, line, len);
		buf_adds(&sc->hashed, "\n");
		for (i = 0; i < NNEED; i++) {
			if (line_is(body, blen, sc->need[i])) {
				sc->have[i] = 1;
			}
		}
		if (dns_return(body, blen, dns, ndns, &which, &udp)) {
			if (udp) {
				sc->dns_ok[which] = 1;
			}
			continue;
		}
		if (!blocking(body, blen)) {
			return why_set(
			    why, cap,
			    "iptables: unexpected rule in " EGRESS_CHAIN
			    ": %.*s",
			    (int)(blen > 120 ? 120 : blen), body);
		}
		if (sc->npre < MAX_PREFIX && rejected_prefix(body, blen, &n)) {
			sc->pre[sc->npre++] = n;
		}
	}
	if (nrules == 0) {
		return why_set(why, cap,
			       "iptables: chain " EGRESS_CHAIN
			       " is missing or empty");
	}
	if (!saw_mark) {
		return why_set(
		    why, cap,
		    "iptables: the marker (last rule of " EGRESS_CHAIN
		    ") is missing");
	}
	return 0;
}

/* ISOBOX-EGRESS-IN: DNS to a resolver on the host, then reject. */
static int scan_egress_in_chain(struct v4_scan *sc, const char *v4,
				char dns[][16], int ndns, char *why, size_t cap)
{
	const size_t chin = strlen("-A " EGRESS_CHAIN_IN " ");
	const char *p = v4;
	const char *line;
	size_t len;
	int in_final = 0;

	while (next_line(&p, &line, &len)) {
		const char *body = line + chin;
		size_t blen = len - chin;
		int which;
		int udp;

		if (!has_prefix(line, len, "-A " EGRESS_CHAIN_IN " ")) {
			continue;
		}
		buf_add(&sc->hashed, line, len);
		buf_adds(&sc->hashed, "\n");
		if (in_final) {
			return why_set(why, cap,
				       "iptables: rules after the final "
				       "rejection in " EGRESS_CHAIN_IN);
		}
		if (dns_return(body, blen, dns, ndns, &which, &udp)) {
			if (udp) {
				sc->dns_ok[which] = 1;
			}
			continue;
		}
		if (line_is(body, blen, REJ) ||
		    line_is(body, blen, "-j DROP")) {
			in_final = 1;
			continue;
		}
		return why_set(why, cap,
			       "iptables: unexpected rule in " EGRESS_CHAIN_IN
			       ": %.*s",
			       (int)(blen > 120 ? 120 : blen), body);
	}
	if (!in_final) {
		return why_set(why, cap,
			       "iptables: " EGRESS_CHAIN_IN
			       " does not end in a rejection");
	}
	return 0;
}

/* Is net inside one of the rejected prefixes? */
static int covered(const struct v4_scan *sc, const struct egress_net *net)
{
	size_t j;

	for (j = 0; j < sc->npre; j++) {
		if (net_covers(&sc->pre[j], net)) {
			return 1;
		}
	}
	return 0;
}

/* What the scan found against what must be there: the digest, the needed
 * rules, the blocked ranges, the host's networks, the resolvers. */
static int check_v4_found(const struct v4_scan *sc, char dns[][16], int ndns,
			  const struct egress_net *attached, size_t nattached,
			  char *why, size_t cap)
{
	char sum[65];
	size_t i;

	auth_sha256_hex(sc->hashed.p ? sc->hashed.p : "", sum);
	if (strcmp(sum, sc->mark_hash) != 0) {
		return why_set(why, cap,
			       "iptables: the rules differ from what "
			       "setup-egress installed (sha256 mismatch)");
	}
	for (i = 0; i < NNEED; i++) {
		if (!sc->have[i]) {
			return why_set(why, cap,
				       "iptables: " EGRESS_CHAIN
				       " lacks the rule '%s'",
				       sc->need[i]);
		}
	}
	for (i = 0; blocked_v4[i]; i++) {
		struct egress_net b;

		parse_net(blocked_v4[i], strlen(blocked_v4[i]), &b);
		if (!covered(sc, &b)) {
			return why_set(why, cap, "iptables: %s is not rejected",
				       blocked_v4[i]);
		}
	}
	for (i = 0; i < nattached; i++) {
		if (!covered(sc, &attached[i])) {
			char s[32];

			net_str(&attached[i], s, sizeof(s));
			return why_set(why, cap,
				       "iptables: the host's network %s is "
				       "not rejected (the host's networks "
				       "changed since setup)",
				       s);
		}
	}
	for (i = 0; i < (size_t)ndns; i++) {
		if (!sc->dns_ok[i]) {
			return why_set(why, cap,
				       "iptables: DNS to the resolver %s "
				       "(egress_dns) is not allowed",
				       dns[i]);
		}
	}
	return 0;
}

/* IPv6: nothing at all. */
static int check_v6(const char *v6, const char *bridge, char *why, size_t cap)
{
	char want[160];
	const char *p = v6;
	const char *line;
	size_t len;
	int nrules = 0;

	snprintf(want, sizeof(want), "-A FORWARD -i %s -j " EGRESS_CHAIN,
		 bridge);
	if (!first_rule_is(v6, "FORWARD", want)) {
		return why_set(why, cap,
			       "ip6tables: FORWARD does not start with the "
			       "jump to " EGRESS_CHAIN);
	}
	snprintf(want, sizeof(want), "-A INPUT -i %s -j " EGRESS_CHAIN, bridge);
	if (!first_rule_is(v6, "INPUT", want)) {
		return why_set(why, cap,
			       "ip6tables: INPUT does not start with the "
			       "jump to " EGRESS_CHAIN);
	}
	while (next_line(&p, &line, &len)) {
		if (!has_prefix(line, len, "-A " EGRESS_CHAIN " ")) {
			continue;
		}
		nrules++;
		if (!line_is(line, len, "-A " EGRESS_CHAIN " -j DROP")) {
			return why_set(why, cap,
				       "ip6tables: " EGRESS_CHAIN
				       " holds more than -j DROP");
		}
	}
	if (nrules != 1) {
		return why_set(
		    why, cap, "ip6tables: " EGRESS_CHAIN " is not one -j DROP");
	}
	return 0;
}

int egress_verify_rules(const char *v4, const char *v6, const char *bridge,
			char dns[][16], int ndns,
			const struct egress_net *attached, size_t nattached,
			char *why, size_t cap)
{
	struct v4_scan *sc = xmalloc(sizeof(*sc));
	int rc;

	if (ndns > CONFIG_MAX_DNS) {
		ndns = CONFIG_MAX_DNS;
	}
	v4_scan_init(sc, bridge);
	rc = check_v4_hooks(v4, bridge, why, cap);
	if (rc == 0) {
		rc = scan_egress_chain(sc, v4, dns, ndns, why, cap);
	}
	if (rc == 0) {
		rc = scan_egress_in_chain(sc, v4, dns, ndns, why, cap);
	}
	if (rc == 0) {
		rc = check_v4_found(sc, dns, ndns, attached, nattached, why,
				    cap);
	}
	if (rc == 0) {
		rc = check_v6(v6, bridge, why, cap);
	}
	buf_free(&sc->hashed);
	free(sc);
	return rc;
}

size_t egress_attached(struct egress_net *out, size_t max)
{
	struct ifaddrs *ifa = NULL;
	struct ifaddrs *i;
	size_t n = 0;
	FILE *f;
	char line[512];

	if (getifaddrs(&ifa) == 0) {
		for (i = ifa; i && n < max; i = i->ifa_next) {
			const struct sockaddr_in *a;
			const struct sockaddr_in *m;
			uint32_t mask;
			int len = 0;

			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
			    !i->ifa_netmask) {
				continue;
			}
			a = (const struct sockaddr_in *)(const void *)
				i->ifa_addr;
			m = (const struct sockaddr_in *)(const void *)
				i->ifa_netmask;
			mask = ntohl(m->sin_addr.s_addr);
			while (len < 32 && (mask & (0x80000000u >> len))) {
				len++;
			}
			out[n].len = len;
			out[n].addr = ntohl(a->sin_addr.s_addr) & mask_of(len);
			n++;
		}
		freeifaddrs(ifa);
	}
	/* Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex,
	 * network byte order). Routes without RTF_GATEWAY are on-link. */
	f = fopen("/proc/net/route", "r");
	if (f) {
		while (n < max && fgets(line, sizeof(line), f)) {
			char ifname[64];
			unsigned dst, gw, flags, mask;
			int len = 0;

			if (sscanf(line, "%63s %x %x %x %*d %*d %*d %x", ifname,
				   &dst, &gw, &flags, &mask) != 5) {
				continue; /* the header */
			}
			if ((flags & 0x2) || mask == 0) {
				continue;
			}
			mask = ntohl(mask);
			while (len < 32 && (mask & (0x80000000u >> len))) {
				len++;
			}
			out[n].len = len;
			out[n].addr = ntohl(dst) & mask_of(len);
			n++;
		}
		fclose(f);
	}
	return n;
}

/* Run argv[0] (an absolute path) and collect its stdout (at most
 * SAVE_MAX) into out, within SAVE_TIMEOUT. 0 when it exited 0. */
static int run_capture(char *const argv[], struct buf *out, char *why,
		       size_t cap)
{
	posix_spawn_file_actions_t fa;
	int fds[2];
	pid_t pid;
	int rc;
	int status = 0;
	int64_t deadline = now_ms() + SAVE_TIMEOUT;
	int timed_out = 0;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		return why_set(why, cap, "pipe: %s", strerror(errno));
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		return why_set(why, cap, "cannot run %s: %s", argv[0],
			       strerror(rc));
	}
	for (;;) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		int64_t left = deadline - now_ms();
		char tmp[8192];
		ssize_t r;

		if (left <= 0) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR) {
			continue;
		}
		if (rc <= 0) {
			continue;
		}
		r = read(fds[0], tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		if (out->len + (size_t)r > SAVE_MAX) {
			kill(pid, SIGKILL);
			timed_out = 1;
			break;
		}
		buf_add(out, tmp, (size_t)r);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (timed_out) {
		return why_set(why, cap, "%s did not finish", argv[0]);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		return why_set(why, cap, "%s failed (status %d)", argv[0],
			       status);
	}
	buf_adds(out, ""); /* NUL-terminate */
	return 0;
}

static const char *find_tool(const char *name, char *buf, size_t cap)
{
	static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin",
					   "/bin", NULL};
	size_t i;

	for (i = 0; dirs[i]; i++) {
		snprintf(buf, cap, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0) {
			return buf;
		}
	}
	return NULL;
}

static int save(const char *tool, struct buf *out, char *why, size_t cap)
{
	char path[128];
	char *argv[4];

	if (find_tool(tool, path, sizeof(path)) == NULL) {
		return why_set(why, cap, "%s not found", tool);
	}
	argv[0] = path;
	argv[1] = (char *)"-t";
	argv[2] = (char *)"filter";
	argv[3] = NULL;
	return run_capture(argv, out, why, cap);
}

/* The network's bridge name when it is a bridge with icc off. */
static int network_bridge(struct service *svc, char *bridge, size_t bcap,
			  char *why, size_t cap)
{
	struct isobox_err e;
	struct buf b = {0};
	long st = 0;
	char *path = xasprintf("/networks/%s", svc->cfg.egress_network);
	json_object *o = NULL;
	json_object *opts;
	json_object *v;
	int rc = -1;

	memset(&e, 0, sizeof(e));
	if (docker_request(&svc->docker, "GET", path, NULL, &st, &b, &e) < 0) {
		why_set(why, cap, "the engine did not answer: %s", e.msg);
		goto out;
	}
	if (st == 404) {
		why_set(why, cap, "the Docker network %s does not exist",
			svc->cfg.egress_network);
		goto out;
	}
	if (st != 200 || (o = json_tokener_parse(b.p ? b.p : "")) == NULL) {
		why_set(why, cap, "the engine answered %ld about network %s",
			st, svc->cfg.egress_network);
		goto out;
	}
	if (!json_object_object_get_ex(o, "Driver", &v) ||
	    strcmp(json_object_get_string(v), "bridge") != 0) {
		why_set(why, cap, "the network %s is not a bridge",
			svc->cfg.egress_network);
		goto out;
	}
	if (!json_object_object_get_ex(o, "Options", &opts) ||
	    !json_object_object_get_ex(
		opts, "com.docker.network.bridge.enable_icc", &v) ||
	    strcmp(json_object_get_string(v), "false") != 0) {
		why_set(why, cap,
			"the network %s lets sandboxes talk to each other "
			"(enable_icc is not false)",
			svc->cfg.egress_network);
		goto out;
	}
	if (!json_object_object_get_ex(opts, "com.docker.network.bridge.name",
				       &v) ||
	    json_object_get_string_len(v) == 0 ||
	    (size_t)json_object_get_string_len(v) >= bcap) {
		why_set(why, cap, "the network %s has no fixed bridge name",
			svc->cfg.egress_network);
		goto out;
	}
	snprintf(bridge, bcap, "%s", json_object_get_string(v));
	rc = 0;
out:
	if (o) {
		json_object_put(o);
	}
	buf_free(&b);
	free(path);
	return rc;
}

int egress_ready(struct service *svc, struct isobox_err *err)
{
	char why[400] = "";
	char bridge[IFNAMSIZ + 1];
	char dns[CONFIG_MAX_DNS][16];
	struct egress_net att[MAX_ATTACHED];
	struct buf v4 = {0};
	struct buf v6 = {0};
	size_t natt;
	int ndns;
	int rc = -1;

	ndns = config_dns_list(svc->cfg.egress_dns, dns, CONFIG_MAX_DNS);
	if (ndns < 0) {
		why_set(why, sizeof(why), "egress_dns is malformed");
		goto out;
	}
	if (network_bridge(svc, bridge, sizeof(bridge), why, sizeof(why)) < 0) {
		goto out;
	}
	if (save("iptables-save", &v4, why, sizeof(why)) < 0 ||
	    save("ip6tables-save", &v6, why, sizeof(why)) < 0) {
		goto out;
	}
	natt = egress_attached(att, MAX_ATTACHED);
	rc = egress_verify_rules(v4.p, v6.p, bridge, dns, ndns, att, natt, why,
				 sizeof(why));
out:
	buf_free(&v4);
	buf_free(&v6);
	if (rc < 0) {
		log_warn("egress: network run refused: %s", why);
		return err_set(err, 503, "network_unavailable",
			       "the egress firewall is not verified, so "
			       "network runs are refused until the operator "
			       "runs scripts/setup-egress: %s",
			       why);
	}
	return 0;
}
