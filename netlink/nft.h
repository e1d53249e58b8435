/* The kernel side of nftables: one netlink socket for masqd's whole life
 * (table ownership belongs to it), feature probes, reading the table back,
 * and sending a batch with each error mapped to the object that caused it. */
#ifndef MASQ_NFT_H
#define MASQ_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct masq_ruleset;
struct nft_batch;
struct nft_sock;
struct nft_state;
struct nft_counters;

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

/* The first error of a failed transaction. */
struct nft_error {
	int err; /* negative errno */
	char what[64]; /* the object: "set nomasq4 elements 1-512", "batch begin" */
	char msg[128]; /* the kernel's extended ACK message, if any */
	unsigned count; /* errors reported for the whole batch */
};

/* Open the socket (O_NONBLOCK|O_CLOEXEC); NULL with errno set. */
struct nft_sock *nft_sock_new(void);

/* Close the socket; NULL is fine. Tables it owns without persist go with it. */
void nft_sock_free(struct nft_sock *ctx);

/* How long the kernel took over the last batch: its sendmsg() (the kernel
 * runs the whole transaction inside it), in nanoseconds. */
int64_t nft_sock_last_commit_ns(const struct nft_sock *ctx);

/* This socket's netlink port id. */
uint32_t nft_sock_portid(const struct nft_sock *ctx);

/* Does the kernel accept these table flags? Sends a batch without BATCH_END,
 * which the kernel validates and then aborts: no side effects.
 * Returns 1 (yes), 0 (no) or -errno. */
int nft_sock_probe_table_flags(struct nft_sock *ctx, uint32_t flags)
	__attribute__((warn_unused_result));

/* Read the table's flags and owner. */
int nft_table_query(struct nft_sock *ctx, struct nft_table_info *ret)
	__attribute__((warn_unused_result));

/* Replace the table with rs in one transaction (delete and recreate when it
 * exists), with table flags. -EBUSY when another live socket owns it.
 * On failure nothing changed and ret_err says why. */
int nft_ruleset_apply(struct nft_sock *ctx, const struct masq_ruleset *rs, uint32_t flags,
		      struct nft_error *ret_err) __attribute__((warn_unused_result));

/* Send a complete batch as it is. Every error reply is mapped to its object
 * through the batch's sequence numbers; the first one fills ret_err. */
int nft_sock_send_batch(struct nft_sock *ctx, const struct nft_batch *b, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

/* The nftables generation id: it moves with every commit on the host. */
int nft_sock_genid(struct nft_sock *ctx, uint32_t *ret) __attribute__((warn_unused_result));

/* Read the table back: its flags and owner, and its contents in canonical
 * form (*ret_state is NULL when the table does not exist). */
int nft_table_dump(struct nft_sock *ctx, struct nft_table_info *ret_info,
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
int nft_reconcile(struct nft_sock *ctx, const struct masq_ruleset *rs, uint32_t flags,
		  enum nft_outcome *ret_outcome, char *ret_diff, size_t diff_len,
		  struct nft_counters *ret_replaced, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

/* Turn old into new by changing set elements only (the two must have the
 * same shape, see masq_ruleset_same_shape): one transaction deleting the
 * elements new lacks and adding those old lacked. Nothing is sent when they
 * are equal. ret_changed gets the number of elements deleted plus added.
 * The caller must know the kernel holds old (masqd owns the table). */
int nft_sets_update(struct nft_sock *ctx, const struct masq_ruleset *old,
		    const struct masq_ruleset *new, size_t *ret_changed, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

/* The connection counters of masqd's rules now (a dump of the rules only). */
int nft_rule_counters(struct nft_sock *ctx, struct nft_counters *ret)
	__attribute__((warn_unused_result));

/* Delete the table. Returns 1 when deleted, 0 when absent, -EBUSY when a live
 * socket owns it (ret_err->what names the owner), or -errno. */
int nft_table_remove(struct nft_sock *ctx, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

/* Upstream ip-masq-agent's chain (--masq-chain) as iptables-nft left it in
 * table ip nat and ip6 nat: after a switch it still masquerades first and
 * overrides masqd. (iptables-legacy's cannot be seen through nftables.) */
#define NFT_LEGACY_MAX_JUMPS 16

struct nft_legacy_family {
	bool present;
	unsigned rules; /* in the chain */
	uint64_t jumps[NFT_LEGACY_MAX_JUMPS]; /* handles of POSTROUTING rules jumping to it */
	size_t njumps;
};

struct nft_legacy {
	struct nft_legacy_family f[2]; /* ip, ip6 */
};

/* Look for the chain in both families. Returns 0 or -errno. */
int nft_legacy_find(struct nft_sock *ctx, const char *chain, struct nft_legacy *ret)
	__attribute__((warn_unused_result));

/* Delete what nft_legacy_find found, in one transaction: the POSTROUTING
 * jumps, the chain's rules, the chain. */
int nft_legacy_remove(struct nft_sock *ctx, const char *chain, const struct nft_legacy *found,
		      struct nft_error *ret_err) __attribute__((warn_unused_result));

#endif
