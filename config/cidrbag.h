/* A multiset of CIDRs, by their 64-bit hashes: how many times each is
 * named, and how many are named more than once. Two CIDRs with one hash
 * count as one named twice, so ndup can only err upwards: config/merge.c
 * keeps one of the merge's input between loads, and a load where ndup is 0
 * skips the fold's hash lookups (a collision only costs the fold). Hashes
 * instead of CIDRs: 16 bytes an entry, 4 MiB at 100,000 CIDRs. */
#ifndef MASQ_CIDRBAG_H
#define MASQ_CIDRBAG_H

#include <stddef.h>
#include <stdint.h>

#include "config/cidr.h"

struct cidr_bag {
	struct bag_entry {
		uint64_t hash; /* cidr_hash */
		uint32_t count; /* 0: empty */
	} * v;
	size_t cap, used; /* used: distinct hashes */
	size_t ndup; /* hashes counted more than once */
};

/* Count c once more (0, -ENOMEM, -E2BIG past 2^31 distinct), or once
 * less (it must be there). O(1) expected. */
int cidr_bag_add(struct cidr_bag *b, const struct cidr *c) __attribute__((warn_unused_result));
void cidr_bag_del(struct cidr_bag *b, const struct cidr *c);

/* Empty it, keeping its table. */
void cidr_bag_reset(struct cidr_bag *b);
void cidr_bag_free(struct cidr_bag *b);

#endif
