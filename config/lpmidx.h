/* The longest-prefix-match resolution of one family kept between reloads:
 * the prefixes (with how many times each list names them) and the resolved
 * intervals, each in a balanced tree. A change of k prefixes re-resolves
 * only the address ranges those prefixes cover and yields the intervals
 * that left and joined the set: O(k log n) plus the intervals and nested
 * prefixes inside the changed ranges. lpm_resolve stays the reference. */
#ifndef MASQ_LPMIDX_H
#define MASQ_LPMIDX_H

#include <stdbool.h>
#include <stddef.h>

#include "config/cidr.h"

struct lpm_index;

/* The index of family (AF_INET, AF_INET6) for the prefixes of keep and
 * masq of that family (the others are skipped); lpm_resolve's intervals.
 * NULL on ENOMEM. O(n log n). */
struct lpm_index *lpm_index_new(int family, const struct cidr *keep, size_t nkeep,
				const struct cidr *masq, size_t nmasq);

/* Free it; NULL is fine. */
void lpm_index_free(struct lpm_index *ix);

/* Count prefix c once more (delta 1) or once less (-1) in the keep list or
 * the masq one. A prefix of another family is ignored; taking away one not
 * counted is -ENOENT. The intervals follow at lpm_index_commit. 0 or
 * -ENOMEM; after an error, free the index. */
int lpm_index_change(struct lpm_index *ix, const struct cidr *c, bool keep, int delta)
	__attribute__((warn_unused_result));

/* Resolve the ranges changed since the last commit: *ret_del gets the
 * intervals that left the set, *ret_add those that joined it, whole and
 * ascending (malloc'ed, NULL when none; an interval that changed at all is
 * in both, as range_diff gives them). 0 or -ENOMEM; after an error, free
 * the index. */
int lpm_index_commit(struct lpm_index *ix, struct addr_range **ret_del, size_t *ret_ndel,
		     struct addr_range **ret_add, size_t *ret_nadd)
	__attribute__((warn_unused_result));

/* How many intervals the set holds. */
size_t lpm_index_count(const struct lpm_index *ix);

/* True when the set is the whole address space. */
bool lpm_index_keeps_all(const struct lpm_index *ix);

/* The intervals, ascending (*ret malloc'ed, NULL when none). Returns the
 * count or -ENOMEM. O(n). */
int lpm_index_ranges(const struct lpm_index *ix, struct addr_range **ret)
	__attribute__((warn_unused_result));

#endif
