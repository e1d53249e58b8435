/* CIDR parsing, canonical text, and the sort/merge that turns a list of
 * prefixes into the non-overlapping intervals an nftables interval set needs. */
#ifndef MASQ_CIDR_H
#define MASQ_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIDR_STRLEN 96 /* "a:...:h-a:...:h" is two 45-byte addresses */

/* A parsed prefix. family is AF_INET or AF_INET6; addr is big endian and
 * only its first cidr_addr_len() bytes are meaningful. */
struct cidr {
	int family;
	uint8_t addr[16];
	uint8_t plen;
};

/* An inclusive address interval [lo, hi] of one family. */
struct addr_range {
	uint8_t lo[16];
	uint8_t hi[16];
};

/* Address length in bytes for AF_INET/AF_INET6, 0 otherwise. */
size_t cidr_addr_len(int family);

/* Parse "a.b.c.d/n" or "x::y/n". Returns 0, -EINVAL if it is not a CIDR, or
 * -EDOM if host bits are set; then ret_aligned holds the aligned form. */
int cidr_parse(const char *s, struct cidr *ret, char ret_aligned[CIDR_STRLEN])
	__attribute__((warn_unused_result));

/* Canonical text ("10.0.0.0/8", "fd00::/8"). */
void cidr_format(const struct cidr *c, char buf[CIDR_STRLEN]);

/* Parse a plain address ("10.1.2.3", "fd00::1") as a host prefix (/32,
 * /128). Returns 0 or -EINVAL. */
int cidr_parse_host(const char *s, struct cidr *ret) __attribute__((warn_unused_result));

/* True when prefix c contains address a (a host prefix of the same family). */
bool cidr_contains(const struct cidr *c, const struct cidr *a);

/* True when a and b are the same family, prefix length and address. */
bool cidr_equal(const struct cidr *a, const struct cidr *b);

/* The interval a prefix covers. */
void cidr_to_range(const struct cidr *c, struct addr_range *ret);

/* Add one to a big-endian number of len bytes; returns true on wrap-around. */
bool addr_increment(uint8_t *a, size_t len);

/* Subtract one from a big-endian number of len bytes; true on wrap-around. */
bool addr_decrement(uint8_t *a, size_t len);

/* How many leading bits two addresses of len bytes share. */
unsigned addr_common_bits(const uint8_t *a, const uint8_t *b, size_t len);

/* Append [lo, hi] (len-byte addresses) to the ascending intervals v[0..*n),
 * which have room for one more: joined to the last one when they touch. */
void range_append(struct addr_range *v, size_t *n, const uint8_t *lo, const uint8_t *hi,
		  size_t len);

/* Sort n 64-bit keys ascending; tmp has room for n. Large arrays take an
 * LSD radix sort (see cidr.c): IPv4 intervals fit in one key. */
void cidr_sort64(uint64_t *k, uint64_t *tmp, size_t n);

/* Sort the prefixes of one family and merge overlapping or adjacent ones
 * into non-overlapping intervals, ascending. Prefixes of the other family are
 * skipped. *ret is malloc'ed (NULL when none). Returns the count or -ENOMEM. */
int cidr_merge(const struct cidr *in, size_t n, int family, struct addr_range **ret)
	__attribute__((warn_unused_result));

/* One element of an nftables interval set: an interval's start, or its
 * end (hi + 1, flagged NFT_SET_ELEM_INTERVAL_END). */
struct set_elem {
	uint8_t key[16];
	bool end;
};

/* The elements of sorted, merged ranges, in key order: a start and an end
 * for each, except that a range reaching the top of the space has no end.
 * Returns the count (at most 2n) or -ENOMEM; *ret is malloc'ed. */
int range_elems(const struct addr_range *r, size_t n, size_t len, struct set_elem **ret)
	__attribute__((warn_unused_result));

/* The intervals of old that new lacks (to delete) and of new that old lacks
 * (to add), compared whole: an interval that changed at all is deleted and
 * added again. (Element by element is not enough: the kernel checks every
 * step of a transaction, and an end element left without its start makes
 * the intervals added before it overlap.) Inputs sorted and merged. */
int range_diff(const struct addr_range *old, size_t nold, const struct addr_range *new, size_t nnew,
	       size_t len, struct addr_range **ret_del, size_t *ret_ndel,
	       struct addr_range **ret_add, size_t *ret_nadd) __attribute__((warn_unused_result));

/* Text of a range as nft prints it: "a" for one address, "a/n" when the range
 * is exactly a prefix, "a-b" otherwise. */
void range_format(const struct addr_range *r, int family, char buf[CIDR_STRLEN]);

/* A hash of c's family, address and length (FNV-1a). */
uint64_t cidr_hash(const struct cidr *c);

/* For each CIDR, the index of the first one equal to it (its own index when
 * it is the first): duplicates found in O(n) with a hash table. Returns 0,
 * -ENOMEM, or -E2BIG past 2^31 CIDRs. */
int cidr_first_equal(const struct cidr *in, size_t n, size_t *ret_first)
	__attribute__((warn_unused_result));

/* The same with a table kept between calls (zero it first): each call
 * starts a new generation instead of allocating and clearing the table, so
 * a reload at 100,000 CIDRs neither clears 2 MiB nor faults it in again. */
struct cidr_eq {
	struct {
		uint32_t gen, idx;
	} * tab;
	size_t cap;
	uint32_t gen;
};
int cidr_eq_first(struct cidr_eq *t, const struct cidr *in, size_t n, size_t *ret_first)
	__attribute__((warn_unused_result));
void cidr_eq_free(struct cidr_eq *t);

#endif
