/* A multiset of CIDRs: how many times each is named, and how many are
 * named more than once. config/merge.c keeps one of the merge's input
 * between loads, so a load where no CIDR is repeated skips the fold's
 * hash lookups. */
#ifndef MASQ_CIDRBAG_H
#define MASQ_CIDRBAG_H

#include <stddef.h>
#include <stdint.h>

#include "config/cidr.h"

struct cidr_bag {
	struct bag_entry {
		struct cidr c;
		uint32_t count; /* 0: empty */
	} * v;
	size_t cap, used; /* used: distinct CIDRs */
	size_t ndup; /* CIDRs counted more than once */
};

/* Count c once more (0, -ENOMEM, -E2BIG past 2^31 distinct), or once
 * less (it must be there). O(1) expected. */
int cidr_bag_add(struct cidr_bag *b, const struct cidr *c) __attribute__((warn_unused_result));
void cidr_bag_del(struct cidr_bag *b, const struct cidr *c);

/* Empty it, keeping its table. */
void cidr_bag_reset(struct cidr_bag *b);
void cidr_bag_free(struct cidr_bag *b);

#endif
