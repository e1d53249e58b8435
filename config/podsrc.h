/* Pod-source scoping: the pod CIDRs of each family (--pod-cidr, and the
 * Node's spec.podCIDRs with --pod-cidr-from-node), their checks, and whether
 * a source is a pod's. With pod CIDRs of a family known, masqd decides only
 * for packets of that family whose source is in them; everything else keeps
 * its source (host-network processes, forwarded inbound traffic, other CNIs'
 * addresses). A family with none known is decided for every source, as
 * upstream does. Pure. */
#ifndef MASQ_PODSRC_H
#define MASQ_PODSRC_H

#include <stdbool.h>
#include <stddef.h>

#include "config/cidr.h"
#include "config/flags.h"

#define PODSRC_MAX 64 /* pod CIDRs per family */
#define PODSRC_TEXT_LEN (PODSRC_MAX * 45) /* podsrc_format's room */

/* Pod CIDRs, canonical and deduplicated, per family ([0] IPv4, [1] IPv6). */
struct podsrc {
	struct cidr v[2][PODSRC_MAX];
	size_t n[2];
};

/* The flag, bound alike by masqd and masqctl (needs config/flags.h): list is
 * a struct flag_strings. */
#define MASQ_PODSRC_FLAG(list)                                                              \
	{                                                                                   \
		"pod-cidr", FLAG_STRINGS, &(list), "CIDR[,CIDR...]",                        \
			"decide only for sources in these pod CIDRs (up to 4 times, comma " \
			"lists, at most 64 per family); other sources keep theirs. "        \
			"Default: every source"                                             \
	}

/* Check --pod-cidr's values: each a comma-separated list of CIDRs with no
 * host bits set, IPv6 only with enable_ipv6, at most PODSRC_MAX per family
 * (duplicates count once). Returns 0 and *ret, or -EINVAL and why
 * ("--pod-cidr: ..."). */
int podsrc_parse_flag(const struct flag_strings *vals, bool enable_ipv6, struct podsrc *ret,
		      char *why, size_t why_len) __attribute__((warn_unused_result));

/* Add c to p unless it is there. Returns 1 when added, 0 when it was there,
 * -E2BIG when its family holds PODSRC_MAX already, -EINVAL for no family. */
int podsrc_add(struct podsrc *p, const struct cidr *c) __attribute__((warn_unused_result));

/* Add the interval r of family to p as the fewest CIDRs that cover it
 * exactly (a pod set read back from the kernel). Returns 0, -E2BIG when
 * they do not fit, -EINVAL for a bad family or lo > hi. */
int podsrc_add_range(struct podsrc *p, int family, const struct addr_range *r)
	__attribute__((warn_unused_result));

/* True when the family of index fi (0 IPv4, 1 IPv6) is scoped. */
bool podsrc_scoped(const struct podsrc *p, int fi);

/* True when src (a host prefix) is in one of its family's pod CIDRs. */
bool podsrc_contains(const struct podsrc *p, const struct cidr *src);

/* True when a and b hold the same CIDRs in the same order. */
bool podsrc_equal(const struct podsrc *a, const struct podsrc *b);

/* Family fi's CIDRs as "10.244.1.0/24, 10.245.0.0/16"; "" for none. */
void podsrc_format(const struct podsrc *p, int fi, char buf[PODSRC_TEXT_LEN]);

#endif
