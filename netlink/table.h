/* table inet ip-masq-agent in the kernel: read back, compared with the
 * desired ruleset, and replaced or updated in one transaction. */
#ifndef MASQ_NFT_TABLE_H
#define MASQ_NFT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

struct masq_delta;
struct masq_ruleset;
struct nft_counters;
struct nft_error;
struct nft_sock;
struct nft_state;

/* NFT_TABLE_F_OWNER (5.12) | NFT_TABLE_F_PERSIST (6.9, absent from Debian 12's headers):
 * nobody else can touch the table, and it outlives masqd for the next one to adopt. */
#define NFT_TABLE_OWNED_PERSISTENT 0x6u

/* What the kernel says about table inet ip-masq-agent. */
struct nft_table_info {
	bool exists;
	uint32_t flags;
	bool has_owner; /* a live socket owns it */
	uint32_t owner; /* that socket's netlink port id */
};

/* GETTABLE for one table of any family: cb (may be NULL) gets the NEWTABLE
 * reply. 0, -ENOENT when the table is absent, or -errno. */
int nft_table_get(struct nft_sock *sock, uint16_t family, const char *name, mnl_cb_t cb, void *data)
	__attribute__((warn_unused_result));

/* Read the table's flags and owner. */
int nft_table_query(struct nft_sock *sock, struct nft_table_info *ret)
	__attribute__((warn_unused_result));

/* Replace the table with rs in one transaction (delete and recreate when it
 * exists), with table flags. -EBUSY when another live socket owns it.
 * On failure nothing changed and ret_err says why. */
int nft_ruleset_apply(struct nft_sock *sock, const struct masq_ruleset *rs, uint32_t flags,
		      struct nft_error *ret_err) __attribute__((warn_unused_result));

/* Read the table back: its flags and owner, and its contents in canonical
 * form (*ret_state is NULL when the table does not exist). */
int nft_table_dump(struct nft_sock *sock, struct nft_table_info *ret_info,
		   struct nft_state **ret_state) __attribute__((warn_unused_result));

enum nft_outcome {
	NFT_UNCHANGED, /* the kernel already held exactly this: nothing sent */
	NFT_ADOPTED, /* same contents, ownership taken with one NEWTABLE */
	NFT_REPLACED, /* the table was (re)created in one transaction */
};

/* Make the kernel hold rs with table flags: read the table back, send
 * nothing when it matches, adopt an orphan whose contents match, and
 * replace it otherwise. ret_diff (optional) gets the first differing line
 * of the canonical forms when the table was replaced, and ret_replaced the
 * counters the replaced table had (zero otherwise), so totals can go on. */
int nft_reconcile(struct nft_sock *sock, const struct masq_ruleset *rs, uint32_t flags,
		  enum nft_outcome *ret_outcome, char *ret_diff, size_t diff_len,
		  struct nft_counters *ret_replaced, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

/* Turn old into new by changing set elements only (the two must have the
 * same shape, see masq_ruleset_same_shape): one transaction deleting the
 * elements new lacks and adding those old lacked. Nothing is sent when they
 * are equal. ret_changed gets the number of elements deleted plus added.
 * The caller must know the kernel holds old (masqd owns the table). */
int nft_sets_update(struct nft_sock *sock, const struct masq_ruleset *old,
		    const struct masq_ruleset *new, size_t *ret_changed, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

/* The same from a delta already known (config/incr.h): delete its intervals
 * that left, add those that joined, in one transaction; families 1 or 2
 * (ipv6). The caller must know the kernel holds the intervals before it. */
int nft_sets_apply(struct nft_sock *sock, const struct masq_delta *delta, bool ipv6,
		   size_t *ret_changed, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

/* The connection counters of masqd's rules now (a dump of the rules only). */
int nft_rule_counters(struct nft_sock *sock, struct nft_counters *ret)
	__attribute__((warn_unused_result));

/* Delete the table. Returns 1 when deleted, 0 when absent, -EBUSY when a live
 * socket owns it (ret_err->what names the owner), or -errno. */
int nft_table_remove(struct nft_sock *sock, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

#endif
