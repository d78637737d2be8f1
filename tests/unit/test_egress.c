/* test_egress.c - the firewall check in front of every network run: the
 * rules scripts/setup-egress installs pass; a flush, a missing hook, an
 * edited rule (with or without a forged marker), a host network or a
 * resolver the rules do not cover, and a missing IPv6 block all fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "config.h"
#include "egress.h"

#define BR  "isobox-egr0"
#define REJ " -j REJECT --reject-with icmp-admin-prohibited"

/* The body of ISOBOX-EGRESS as setup-egress writes it (DNS 198.51.100.53,
 * one extra attached network 203.0.113.0/24). NULL ends it. */
static const char *const rules[] = {
    "-o " BR REJ,
    "-d 198.51.100.53/32 -p udp -m udp --dport 53 -j RETURN",
    "-d 198.51.100.53/32 -p tcp -m tcp --dport 53 -j RETURN",
    "-p udp -m udp --dport 53" REJ,
    "-p tcp -m tcp --dport 53" REJ,
    "-p tcp -m multiport --dports 25,465,587" REJ,
    "-m addrtype --dst-type LOCAL" REJ,
    "-d 0.0.0.0/8" REJ,
    "-d 10.0.0.0/8" REJ,
    "-d 100.64.0.0/10" REJ,
    "-d 127.0.0.0/8" REJ,
    "-d 169.254.0.0/16" REJ,
    "-d 172.16.0.0/12" REJ,
    "-d 192.0.0.0/24" REJ,
    "-d 192.168.0.0/16" REJ,
    "-d 198.18.0.0/15" REJ,
    "-d 224.0.0.0/4" REJ,
    "-d 240.0.0.0/4" REJ,
    "-d 203.0.113.0/24" REJ,
    "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit "
    "--connlimit-above 64 --connlimit-mask 32 --connlimit-saddr -j REJECT "
    "--reject-with tcp-reset",
    NULL,
};

static const char *const v6_good =
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
    ":ISOBOX-EGRESS - [0:0]\n"
    "-A INPUT -i " BR " -j ISOBOX-EGRESS\n"
    "-A FORWARD -i " BR " -j ISOBOX-EGRESS\n"
    "-A ISOBOX-EGRESS -j DROP\nCOMMIT\n";

/* iptables-save text: the hooks, rules[] minus skip (an index, or -1),
 * plus extra (before the marker, or NULL), ISOBOX-EGRESS-IN, and a marker
 * over what is there (or over the full set when stale). */
static char *make_v4(int skip, const char *extra, int first_hook, int stale)
{
	struct buf chain = {0};
	struct buf in = {0};
	struct buf full = {0};
	struct buf out = {0};
	char sum[65];
	size_t i;

	for (i = 0; rules[i]; i++) {
		buf_addf(&full, "-A ISOBOX-EGRESS %s\n", rules[i]);
		if ((int)i != skip) {
			buf_addf(&chain, "-A ISOBOX-EGRESS %s\n", rules[i]);
		}
	}
	if (extra) {
		buf_addf(&chain, "-A ISOBOX-EGRESS %s\n", extra);
	}
	buf_adds(&in, "-A ISOBOX-EGRESS-IN" REJ "\n");
	buf_add(&chain, in.p, in.len);
	buf_add(&full, in.p, in.len);
	auth_sha256_hex(stale ? full.p : chain.p, sum);
	buf_adds(&out, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n");
	if (first_hook) {
		buf_adds(&out, "-A INPUT -i " BR " -j ISOBOX-EGRESS-IN\n");
	}
	buf_adds(&out, "-A INPUT -i lo -j ACCEPT\n");
	buf_adds(&out, "-A FORWARD -j DOCKER-USER\n"
		       "-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n"
		       "-A FORWARD -i " BR " ! -o " BR " -j ACCEPT\n");
	if (first_hook) {
		buf_adds(&out, "-A DOCKER-USER -i " BR " -j ISOBOX-EGRESS\n");
	}
	buf_adds(&out, "-A DOCKER-USER -j RETURN\n");
	for (i = 0; rules[i]; i++) {
		if ((int)i != skip) {
			buf_addf(&out, "-A ISOBOX-EGRESS %s\n", rules[i]);
		}
	}
	if (extra) {
		buf_addf(&out, "-A ISOBOX-EGRESS %s\n", extra);
	}
	buf_addf(&out,
		 "-A ISOBOX-EGRESS -m comment --comment \"isobox-egress "
		 "sha256=%s\" -j RETURN\n",
		 sum);
	buf_add(&out, in.p, in.len);
	buf_adds(&out, "COMMIT\n");
	buf_free(&chain);
	buf_free(&in);
	buf_free(&full);
	return buf_steal(&out, NULL);
}

static struct egress_net net(uint32_t a, uint32_t b, uint32_t c, uint32_t d,
			     int len)
{
	struct egress_net n = {(a << 24) | (b << 16) | (c << 8) | d, len};

	return n;
}

static char dns[CONFIG_MAX_DNS][16] = {"198.51.100.53"};

static int verify(const char *v4, const char *v6, const struct egress_net *att,
		  size_t natt, int ndns, char *why, size_t cap)
{
	return egress_verify_rules(v4, v6, BR, dns, ndns, att, natt, why, cap);
}

static void test_good_rules_pass(void **state)
{
	struct egress_net att[] = {net(127, 0, 0, 0, 8), net(10, 231, 0, 0, 30),
				   net(172, 30, 240, 0, 24),
				   net(203, 0, 113, 0, 24)};
	char why[400] = "";
	char *v4 = make_v4(-1, NULL, 1, 0);

	(void)state;
	assert_int_equal(verify(v4, v6_good, att, 4, 1, why, sizeof(why)), 0);
	free(v4);
}

static void expect_fail(const char *v4, const char *v6,
			const struct egress_net *att, size_t natt, int ndns,
			const char *needle)
{
	char why[400] = "";

	assert_int_equal(verify(v4, v6, att, natt, ndns, why, sizeof(why)), -1);
	if (strstr(why, needle) == NULL) {
		fail_msg("expected '%s' in '%s'", needle, why);
	}
}

static void test_flushed_or_unhooked_fails(void **state)
{
	static const char *const flushed =
	    "*filter\n-A INPUT -i " BR " -j ISOBOX-EGRESS-IN\n"
	    "-A FORWARD -j DOCKER-USER\n"
	    "-A DOCKER-USER -i " BR " -j ISOBOX-EGRESS\n"
	    "-A DOCKER-USER -j RETURN\n"
	    "-A ISOBOX-EGRESS-IN" REJ "\nCOMMIT\n";
	char *v4 = make_v4(-1, NULL, 0, 0);

	(void)state;
	expect_fail(flushed, v6_good, NULL, 0, 1, "missing or empty");
	expect_fail(v4, v6_good, NULL, 0, 1, "does not start with");
	expect_fail("", v6_good, NULL, 0, 1, "FORWARD");
	free(v4);
}

static void test_edited_rules_fail(void **state)
{
	char *v4;

	(void)state;
	/* 10/8 deleted by hand: the marker no longer matches. */
	v4 = make_v4(8, NULL, 1, 1);
	expect_fail(v4, v6_good, NULL, 0, 1, "sha256 mismatch");
	free(v4);
	/* ... and with the marker forged to match, the range is missing. */
	v4 = make_v4(8, NULL, 1, 0);
	expect_fail(v4, v6_good, NULL, 0, 1, "10.0.0.0/8 is not rejected");
	free(v4);
	/* SMTP rule gone. */
	v4 = make_v4(5, NULL, 1, 0);
	expect_fail(v4, v6_good, NULL, 0, 1, "25,465,587");
	free(v4);
	/* An ACCEPT before the marker. */
	v4 = make_v4(-1, "-d 169.254.169.254/32 -j ACCEPT", 1, 0);
	expect_fail(v4, v6_good, NULL, 0, 1, "unexpected rule");
	free(v4);
	/* A RETURN for DNS to a resolver that is not configured. */
	v4 = make_v4(-1, "-d 8.8.8.8/32 -p udp -m udp --dport 53 -j RETURN", 1,
		     0);
	expect_fail(v4, v6_good, NULL, 0, 1, "unexpected rule");
	free(v4);
}

static void test_host_networks_and_dns(void **state)
{
	struct egress_net lan = net(198, 51, 100, 0, 24);
	struct egress_net sub = net(10, 9, 8, 0, 24);
	char *v4 = make_v4(-1, NULL, 1, 0);
	char why[400];

	(void)state;
	/* A LAN in a range no fixed rule covers: refused until setup. */
	expect_fail(v4, v6_good, &lan, 1, 1, "198.51.100.0/24 is not rejected");
	/* Inside 10/8: covered. */
	assert_int_equal(verify(v4, v6_good, &sub, 1, 1, why, sizeof(why)), 0);
	/* The rules allow DNS to a resolver the config no longer names. */
	expect_fail(v4, v6_good, NULL, 0, 0, "unexpected rule");
	/* A resolver the rules do not allow. */
	snprintf(dns[1], sizeof(dns[1]), "203.0.113.53");
	expect_fail(v4, v6_good, NULL, 0, 2, "203.0.113.53");
	free(v4);
}

static void test_ipv6_must_be_dropped(void **state)
{
	char *v4 = make_v4(-1, NULL, 1, 0);

	(void)state;
	expect_fail(v4, "*filter\nCOMMIT\n", NULL, 0, 1, "ip6tables");
	expect_fail(v4,
		    "-A INPUT -i " BR " -j ISOBOX-EGRESS\n"
		    "-A FORWARD -i " BR " -j ISOBOX-EGRESS\n",
		    NULL, 0, 1, "not one -j DROP");
	expect_fail(v4,
		    "-A INPUT -i " BR " -j ISOBOX-EGRESS\n"
		    "-A FORWARD -i " BR " -j ISOBOX-EGRESS\n"
		    "-A ISOBOX-EGRESS -j ACCEPT\n",
		    NULL, 0, 1, "more than -j DROP");
	free(v4);
}

/* iptables-save text with the hooks; ISOBOX-EGRESS holds rules[] with
 * rules[swap_at] replaced by swap (when swap_at >= 0), then the marker over
 * the chains, then after_mark; ISOBOX-EGRESS-IN holds in. */
static char *v4_text(int swap_at, const char *swap, const char *after_mark,
		     const char *in)
{
	struct buf chain = {0};
	struct buf hashed = {0};
	struct buf out = {0};
	char sum[65];
	size_t i;

	for (i = 0; rules[i]; i++) {
		buf_addf(&chain, "-A ISOBOX-EGRESS %s\n",
			 (int)i == swap_at ? swap : rules[i]);
	}
	buf_add(&hashed, chain.p, chain.len);
	buf_adds(&hashed, in);
	auth_sha256_hex(hashed.p, sum);
	buf_adds(&out, "*filter\n-A INPUT -i " BR " -j ISOBOX-EGRESS-IN\n"
		       "-A FORWARD -j DOCKER-USER\n"
		       "-A DOCKER-USER -i " BR " -j ISOBOX-EGRESS\n");
	buf_add(&out, chain.p, chain.len);
	buf_addf(&out,
		 "-A ISOBOX-EGRESS -m comment --comment \"isobox-egress "
		 "sha256=%s\" -j RETURN\n",
		 sum);
	buf_adds(&out, after_mark);
	buf_adds(&out, in);
	buf_adds(&out, "COMMIT\n");
	buf_free(&chain);
	buf_free(&hashed);
	return buf_steal(&out, NULL);
}

/* The shape of each chain: the marker last and well formed, the input
 * chain ending in one rejection, and which rules count as rejecting a
 * whole prefix. */
static void test_chain_shape(void **state)
{
	static const char in_ok[] = "-A ISOBOX-EGRESS-IN" REJ "\n";
	char why[400];
	char *v4;

	(void)state;
	v4 = v4_text(-1, NULL, "", in_ok);
	assert_int_equal(verify(v4, v6_good, NULL, 0, 1, why, sizeof(why)), 0);
	free(v4);
	v4 = v4_text(-1, NULL, "-A ISOBOX-EGRESS -j DROP\n", in_ok);
	expect_fail(v4, v6_good, NULL, 0, 1, "rules after the marker");
	free(v4);
	v4 = v4_text(8,
		     "-m comment --comment \"isobox-egress sha256=abc\" "
		     "-j RETURN",
		     "", in_ok);
	expect_fail(v4, v6_good, NULL, 0, 1, "malformed marker");
	free(v4);
	/* ISOBOX-EGRESS-IN. */
	v4 = v4_text(-1, NULL, "",
		     "-A ISOBOX-EGRESS-IN" REJ "\n"
		     "-A ISOBOX-EGRESS-IN -j DROP\n");
	expect_fail(v4, v6_good, NULL, 0, 1, "after the final rejection");
	free(v4);
	v4 = v4_text(-1, NULL, "", "-A ISOBOX-EGRESS-IN -j ACCEPT\n");
	expect_fail(v4, v6_good, NULL, 0, 1,
		    "unexpected rule in ISOBOX-EGRESS-IN: -j ACCEPT");
	free(v4);
	v4 = v4_text(-1, NULL, "",
		     "-A ISOBOX-EGRESS-IN -d 198.51.100.53/32 -p udp -m udp "
		     "--dport 53 -j RETURN\n");
	expect_fail(v4, v6_good, NULL, 0, 1, "does not end in a rejection");
	free(v4);
	/* A prefix dropped rather than rejected still counts... */
	v4 = v4_text(8, "-d 10.0.0.0/8 -j DROP", "", in_ok);
	assert_int_equal(verify(v4, v6_good, NULL, 0, 1, why, sizeof(why)), 0);
	free(v4);
	/* ...one rejected only for some traffic does not. */
	v4 = v4_text(8, "-d 10.0.0.0/8 -p tcp" REJ, "", in_ok);
	expect_fail(v4, v6_good, NULL, 0, 1, "10.0.0.0/8 is not rejected");
	free(v4);
}

static void test_attached_sees_loopback(void **state)
{
	struct egress_net n[64];
	size_t k = egress_attached(n, 64);
	size_t i;
	int lo = 0;

	(void)state;
	for (i = 0; i < k; i++) {
		lo |= n[i].addr == 0x7f000000u && n[i].len == 8;
	}
	assert_true(lo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_rules_pass),
	    cmocka_unit_test(test_flushed_or_unhooked_fails),
	    cmocka_unit_test(test_edited_rules_fail),
	    cmocka_unit_test(test_host_networks_and_dns),
	    cmocka_unit_test(test_ipv6_must_be_dropped),
	    cmocka_unit_test(test_chain_shape),
	    cmocka_unit_test(test_attached_sees_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
