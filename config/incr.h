/* The resolved non-masquerade intervals kept between reloads: a new config
 * is compared with the last one (the lists' common head and tail skipped,
 * the rest matched with a hash table), and only the prefixes that came or
 * went are re-resolved (config/lpmidx.h). The result is the intervals that
 * left and joined each set, ready for an incremental set update. */
#ifndef MASQ_INCR_H
#define MASQ_INCR_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* What changed in the sets, [0] IPv4 and [1] IPv6: whole intervals that
 * left (del) and joined (add), ascending, as range_diff gives them. */
struct masq_delta {
	struct addr_range *del[2], *add[2];
	size_t ndel[2], nadd[2];
};

/* Free what d holds and zero it. */
void masq_delta_clear(struct masq_delta *d);

struct masq_incr;

/* The resolution of cfg under opts (the same intervals masq_ruleset_build
 * gives), kept for masq_incr_update. -ENOMEM. O(n log n). */
int masq_incr_new(const struct masq_config *cfg, const struct masq_opts *opts,
		  struct masq_incr **ret) __attribute__((warn_unused_result));

/* Free it; NULL is fine. */
void masq_incr_free(struct masq_incr *x);

/* Move to cfg: *ret gets the intervals that changed. O(k log n) for k
 * prefixes changed, plus a scan of the lists for their common head and
 * tail. 0 or -ENOMEM; after an error x is unusable: free it. */
int masq_incr_update(struct masq_incr *x, const struct masq_config *cfg, struct masq_delta *ret)
	__attribute__((warn_unused_result));

/* The non-masquerade prefixes of family in the config (link-local
 * included), counted as they change. */
size_t masq_incr_cidrs(const struct masq_incr *x, int family);

/* The sets now: how many intervals family's holds, whether it is the whole
 * space, and its intervals (O(n), malloc'ed; the count or -ENOMEM). */
size_t masq_incr_count(const struct masq_incr *x, int family);
bool masq_incr_keeps_all(const struct masq_incr *x, int family);
int masq_incr_ranges(const struct masq_incr *x, int family, struct addr_range **ret)
	__attribute__((warn_unused_result));

#endif
