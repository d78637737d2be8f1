/* egress.h - may a "network": true run go ahead? The service checks,
 * before every network run, that the firewall scripts/setup-egress
 * installed is still in place and still fits this host and this config:
 *
 *   - the Docker network egress_network exists, is a bridge with a fixed
 *     bridge name and inter-container traffic off;
 *   - iptables: FORWARD starts with -j DOCKER-USER, DOCKER-USER with
 *     -i BRIDGE -j ISOBOX-EGRESS, INPUT with -i BRIDGE -j ISOBOX-EGRESS-IN;
 *     ISOBOX-EGRESS ends in the marker whose SHA-256 matches the rules of
 *     both chains; no rule but DNS to a configured resolver lets anything
 *     through before the marker; the fixed blocked ranges, the host's own
 *     addresses, other sandboxes, DNS and SMTP are rejected; every network
 *     the host is attached to right now is inside a rejected prefix;
 *     every egress_dns resolver is allowed;
 *   - ip6tables: INPUT and FORWARD start with -i BRIDGE -j ISOBOX-EGRESS,
 *     which holds only -j DROP.
 *
 * Nothing is cached: each check reads iptables-save and ip6tables-save
 * (two short child processes, about 15 ms together) and asks the engine
 * about the network, so every process of a deployment sees a flush at its
 * next network run. */
#ifndef ISOBOX_EGRESS_H
#define ISOBOX_EGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

#define EGRESS_CHAIN	"ISOBOX-EGRESS"
#define EGRESS_CHAIN_IN "ISOBOX-EGRESS-IN"
#define EGRESS_MARK	"isobox-egress sha256="

/* An IPv4 network in host byte order. */
struct egress_net {
	uint32_t addr;
	int len;
};

/* The pure part, for unit tests: v4 and v6 are iptables-save and
 * ip6tables-save output of the filter table; dns the resolvers (canonical
 * dotted form), attached the host's networks. Returns 0 when the rules are
 * complete, else -1 with a sentence in why. */
int egress_verify_rules(const char *v4, const char *v6, const char *bridge,
			char dns[][16], int ndns,
			const struct egress_net *attached, size_t nattached,
			char *why, size_t cap);

/* The IPv4 networks this host is directly attached to now: every
 * address's network (getifaddrs) and every route without a gateway
 * (/proc/net/route). Returns how many were written (at most max). */
size_t egress_attached(struct egress_net *out, size_t max);

/* The whole check for one network run (the engine, the firewall, the
 * host). 0, or -1 with 503 network_unavailable in err naming what is
 * wrong. */
int egress_ready(struct service *svc, struct isobox_err *err);

#endif
