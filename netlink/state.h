/* A table's contents in a canonical text form, so the desired ruleset and
 * what the kernel holds can be compared exactly. Both sides go through the
 * same parser: the desired side as the messages masqd would send, the live
 * side as the kernel's dump replies (which have the same layout). Counter
 * values, handles and other kernel-only attributes are left out. */
#ifndef MASQ_STATE_H
#define MASQ_STATE_H

#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;
struct masq_ruleset;
struct nft_state;

#define NFT_STATE_MAX_LINES (8u << 20) /* bound on what a dump may hold */

/* Connections counted by masqd's rules (a nat chain sees a connection's
 * first packet only); index 0 is IPv4, 1 is IPv6. */
struct nft_counters {
	uint64_t kept[2]; /* matched a non-masquerade set: the pod IP stays */
	uint64_t masqueraded[2]; /* reached the masquerade rule */
};

/* An empty state; NULL on ENOMEM. */
struct nft_state *nft_state_new(void);

/* Free a state; NULL is fine. */
void nft_state_free(struct nft_state *st);

/* Add one NEWCHAIN/NEWSET/NEWSETELEM/NEWRULE message (sent or dumped) of
 * table inet ip-masq-agent; messages of other tables are ignored.
 * Returns 0, -EBADMSG for a malformed message, -E2BIG past the bound. */
int nft_state_add_msg(struct nft_state *st, const struct nlmsghdr *nlh)
	__attribute__((warn_unused_result));

/* The state masqd would create for rs. */
int nft_state_build(const struct masq_ruleset *rs, struct nft_state **ret)
	__attribute__((warn_unused_result));

/* Sort into canonical order; call once all messages are in. */
void nft_state_finish(struct nft_state *st);

/* 0 when equal; otherwise nonzero, and *ret_first_diff (if given) points to
 * the first line of a that b lacks, or of b that a lacks. */
int nft_state_compare(const struct nft_state *a, const struct nft_state *b,
		      const char **ret_first_diff);

/* The rule counters seen in dumped NEWRULE messages (zero for sent ones). */
void nft_state_get_counters(const struct nft_state *st, struct nft_counters *ret);

#endif
