/* Merging config sources' CIDR lists (config/sources.c reads the sources).
 * CIDRs are appended with their origin in input order, and duplicates are
 * folded at the end (merge_finish) with a hash table, so a large config
 * merges in O(n). Each list has its own room: the nonMasqueradeCIDRs' and
 * the masqueradeCIDRs'. */
#ifndef MASQ_MERGE_H
#define MASQ_MERGE_H

#include "config/cidrbag.h"
#include "config/sources.h"

/* What a merge uses for a while and the next one can use again (kept by
 * config/sources.c between loads; zero it first, merge_scratch_free it). */
struct merge_scratch {
	struct cidr_eq eq;
	size_t *first, cap;
	size_t last_n; /* CIDRs the last merge added: the next starts that large */
	/* The last merge's non-masquerade input, before the fold, and how many
	 * times each CIDR is in it: a load that names none twice skips the
	 * fold, and keeping the bag costs only the CIDRs that changed. */
	struct cidr *prev;
	size_t nprev, prevcap;
	struct cidr_bag bag;
	bool bag_ok; /* bag counts prev */
	unsigned long merges; /* merges that used this scratch */
};
void merge_scratch_free(struct merge_scratch *s);

/* A merge in progress into m (m->cfg allocated by the caller). */
struct merge {
	struct masq_merged *m;
	struct merge_scratch *scratch; /* NULL: allocated for this merge */
	size_t cap, mcap;
	char *last; /* the origin named last, in m->strs */
};

/* Append a non-masquerade CIDR, where it was written (NULL: nowhere), and
 * who gave it. 0 or -ENOMEM. */
int merge_add(struct merge *mg, const struct cidr *c, const struct cidr_pos *pos,
	      const char *origin) __attribute__((warn_unused_result));

/* Append n non-masquerade CIDRs of one source at once (pos NULL: their
 * positions are unknown). 0 or -ENOMEM. */
int merge_add_all(struct merge *mg, const struct cidr *c, const struct cidr_pos *pos, size_t n,
		  const char *origin) __attribute__((warn_unused_result));

/* Append a masqueradeCIDRs entry, where it was written, and who gave it. */
int merge_add_masq(struct merge *mg, const struct cidr *c, const struct cidr_pos *pos,
		   const char *origin) __attribute__((warn_unused_result));

/* Keep the first of each CIDR of each list, in input order, naming every
 * origin. 0 or -ENOMEM. */
int merge_finish(struct merge *mg) __attribute__((warn_unused_result));

/* Each source was checked alone; the union can still hold a masqueradeCIDRs
 * prefix that another source makes non-masquerade. Each is an error in d at
 * the masqueradeCIDRs entry, naming the other; returns -EINVAL then, else 0
 * (or -ENOMEM). */
int merge_conflicts(const struct masq_opts *opts, const struct masq_merged *m, struct diags *d)
	__attribute__((warn_unused_result));

#endif
