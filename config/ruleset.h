/* The desired ruleset: a pure function of the config and the flags. netlink/
 * programs exactly this, and masqctl render prints it in nft syntax, so what
 * an admin reads is what gets programmed. */
#ifndef MASQ_RULESET_H
#define MASQ_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/cidr.h"
#include "config/config.h"
#include "config/snat.h"

#define MASQ_TABLE "ip-masq-agent"
#define MASQ_CHAIN "postrouting"
#define MASQ_SET4 "nomasq4"
#define MASQ_SET6 "nomasq6"
#define MASQ_PODSET4 "podsrc4" /* pod-source scoping's sets */
#define MASQ_PODSET6 "podsrc6"
#define MASQ_TABLE_COMMENT "managed by masqd"
#define MASQ_CHAIN_PRIORITY 100 /* NF_IP_PRI_NAT_SRC, nft's "srcnat" */

/* --to-ports ranges accepted at most (the size of masq_opts.to_ports) */
#define MASQ_PORT_RANGES_MAX                            \
	(sizeof(((struct masq_opts *)NULL)->to_ports) / \
	 sizeof(((struct masq_opts *)NULL)->to_ports[0]))

/* The protocols --to-ports applies to, as upstream's toPortsProtocols. */
#define MASQ_PORT_PROTOS 3
extern const uint8_t masq_port_protos[MASQ_PORT_PROTOS]; /* tcp, udp, sctp */

enum masq_rule_kind {
	MASQ_RULE_LOCAL_RETURN, /* fib daddr type local return */
	MASQ_RULE_NOMASQ_RETURN, /* ip[6] daddr @nomasq[46] counter return */
	MASQ_RULE_MASQUERADE, /* meta nfproto ipv[46] counter masquerade */
	/* meta nfproto ipv[46] meta l4proto P [numgen random mod M < N] counter
	 * masquerade to :FIRST-LAST */
	MASQ_RULE_MASQUERADE_PORTS,
	MASQ_RULE_PODSRC_RETURN, /* ip[6] saddr != @podsrc[46] return, at the head */
};

struct masq_rule {
	enum masq_rule_kind kind;
	int family; /* AF_INET or AF_INET6; unused for the local rule */
	const char *comment;
	/* MASQ_RULE_MASQUERADE_PORTS only */
	uint8_t l4proto; /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP */
	uint16_t port_first, port_last;
	uint32_t ng_mod, ng_lt; /* taken when numgen random mod ng_mod < ng_lt; 0: always */
};

/* per family the pod-source scope; local; then per family: non-masquerade,
 * one rule per protocol and range, catch-all */
#define MASQ_RULES_MAX (2 + 1 + 2 * (2 + MASQ_PORT_PROTOS * MASQ_PORT_RANGES_MAX))

struct masq_ruleset {
	bool ipv6; /* nomasq6 and the IPv6 rules exist */
	bool random_fully; /* masquerade fully-random */
	struct addr_range *v4, *v6; /* sorted, merged, non-overlapping */
	size_t n4, n6;
	struct masq_rule rules[MASQ_RULES_MAX];
	size_t nrules;
	/* per family ([0] IPv4, [1] IPv6): the masquerade rules snat to this
	 * address instead while it is on (masq_ruleset_set_snat) */
	struct masq_snat snat[2];
	/* per family: the pod CIDRs when its sources are scoped (a rule at the
	 * head returns for every other source), else NULL and 0 */
	struct addr_range *pod[2];
	size_t npod[2];
};

/* Parse --to-ports as upstream's interval.ParseIntervals does: ports and
 * FIRST-LAST ranges joined by commas ("1024-29999,32768-65535"), each port
 * 1..65535, at most MASQ_PORT_RANGES_MAX ranges; "" means none. Sets
 * opts->to_ports and opts->nto_ports on success; otherwise returns -EINVAL
 * and why (why_len bytes) says what is wrong. */
int masq_ports_parse(const char *s, struct masq_opts *opts, char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* The rules opts gives, with empty sets (the sets' contents kept apart,
 * as config/incr.h does). */
int masq_ruleset_build_rules(const struct masq_opts *opts, struct masq_ruleset **ret)
	__attribute__((warn_unused_result));

/* Build the desired ruleset for cfg under opts. */
int masq_ruleset_build(const struct masq_config *cfg, const struct masq_opts *opts,
		       struct masq_ruleset **ret) __attribute__((warn_unused_result));

/* True when a and b differ at most in their sets' contents: the same rules,
 * the same sets. Then changing the elements alone turns a into b. */
bool masq_ruleset_same_shape(const struct masq_ruleset *a, const struct masq_ruleset *b);

/* True when the non-masquerade set of family (AF_INET, AF_INET6) is the
 * whole address space (0.0.0.0/0, ::/0, or prefixes adding up to it): no
 * packet of that family is masqueraded. */
bool masq_ruleset_keeps_all(const struct masq_ruleset *rs, int family);

/* Make family's masquerade rules (the catch-all and --to-ports') snat to
 * s's address, keeping fully-random and the ports; s off or NULL: masquerade. */
void masq_ruleset_set_snat(struct masq_ruleset *rs, int family, const struct masq_snat *s);

/* Scope each family (IPv6 only with rs->ipv6) that has pod CIDRs in p to
 * them: a rule at the chain's head returns for every other source, so they
 * keep it. A family without any, or p NULL, is decided for every source.
 * Replaces what build (--pod-cidr) or an earlier call set. 0 or -ENOMEM
 * (rs is then unscoped). */
int masq_ruleset_set_podsrc(struct masq_ruleset *rs, const struct podsrc *p)
	__attribute__((warn_unused_result));

/* Free a ruleset; NULL is fine. */
void masq_ruleset_free(struct masq_ruleset *rs);

/* Name of the set holding family's non-masquerade intervals. */
const char *masq_ruleset_set_name(int family);

/* Name of the set holding family's pod CIDRs (pod-source scoping). */
const char *masq_ruleset_pod_set_name(int family);

/* Print the ruleset as `nft -f` input, laid out as `nft -s list table` prints it
 * (table flags and the owner comment aside). Returns 0 or -EIO. */
int masq_ruleset_render(const struct masq_ruleset *rs, FILE *f) __attribute__((warn_unused_result));

#endif
