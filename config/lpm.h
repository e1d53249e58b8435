/* The longest-prefix-match decision between nonMasqueradeCIDRs and
 * masqueradeCIDRs, resolved in userspace into the one interval set of
 * addresses that keep the pod IP: the kernel's rules keep their shape and a
 * packet costs what it costs with a plain list. */
#ifndef MASQ_LPM_H
#define MASQ_LPM_H

#include <stddef.h>

#include "config/cidr.h"

/* The addresses of family whose longest containing prefix among keep and
 * masq is one of keep, as sorted, merged intervals (cidr_merge's output for
 * the same set). An address that no prefix contains is not in the result: it
 * is masqueraded, as upstream does. A prefix in both lists counts as keep
 * (the config reader refuses that first, see lpm_common). Prefixes of the
 * other family are skipped. Returns the count or -ENOMEM; *ret is malloc'ed
 * (NULL when none). */
int lpm_resolve(const struct cidr *keep, size_t nkeep, const struct cidr *masq, size_t nmasq,
		int family, struct addr_range **ret) __attribute__((warn_unused_result));

/* A prefix as an interval, with the list that decides it (keep: a
 * nonMasqueradeCIDRs one). */
struct lpm_prefix {
	struct addr_range r;
	uint8_t plen;
	bool keep;
};

/* Order for qsort_r (arg: the address length, a size_t): by start, then
 * the containing (shorter) prefix first. */
int lpm_prefix_cmp(const void *x, const void *y, void *len);

/* The resolution of n prefixes in lpm_prefix_cmp's order (equal ones in a
 * row fold into one, keep winning) into out, which has room for 2n: the
 * intervals that keep the pod IP, ascending and merged. When t[0] contains
 * all the others, the result lies within it: t[0] then stands for the
 * decision around them. Returns the count. */
size_t lpm_sweep(struct lpm_prefix *t, size_t n, size_t len, struct addr_range *out);

/* The same decision for one address a, by a plain scan of both lists (for
 * masqctl explain; tests hold it to lpm_resolve): 1 and the longest prefix
 * containing a, as an index into keep (*ret_keep true) or masq; an equal
 * pair counts as keep. 0 when no prefix contains a (masqueraded). */
int lpm_decide(const struct cidr *keep, size_t nkeep, const struct cidr *masq, size_t nmasq,
	       const struct cidr *a, size_t *ret_index, bool *ret_keep);

/* For each masq[j], ret_in_keep[j] is the index of the first prefix of keep
 * equal to it, or SIZE_MAX. Returns how many have one, or -ENOMEM. */
int lpm_common(const struct cidr *keep, size_t nkeep, const struct cidr *masq, size_t nmasq,
	       size_t *ret_in_keep) __attribute__((warn_unused_result));

#endif
