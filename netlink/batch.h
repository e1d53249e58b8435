/* One nftables transaction as a buffer of netlink messages, built with
 * libnftnl. Pure: it never touches a socket, so tests parse it back. */
#ifndef MASQ_BATCH_H
#define MASQ_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cidr.h"

struct masq_ruleset;
struct nft_batch;

#define NFT_ELEMS_PER_MSG 1024 /* keeps each element list well under the 64 KiB attribute limit */

/* An empty batch whose messages are numbered from first_seq; NULL on ENOMEM. */
struct nft_batch *nft_batch_new(uint32_t first_seq);

/* Free a batch; NULL is fine. */
void nft_batch_free(struct nft_batch *b);

/* Append BATCH_BEGIN. */
int nft_batch_begin(struct nft_batch *b) __attribute__((warn_unused_result));

/* Append BATCH_END: without it the kernel checks the batch, then aborts it. */
int nft_batch_end(struct nft_batch *b) __attribute__((warn_unused_result));

/* Append NEWTABLE for inet table name (NULL: ip-masq-agent) with flags and masqd's comment. */
int nft_batch_add_table(struct nft_batch *b, const char *name, uint32_t flags)
	__attribute__((warn_unused_result));

/* Append DELTABLE for the same table. */
int nft_batch_del_table(struct nft_batch *b) __attribute__((warn_unused_result));

/* Append the chain, the sets with their elements and the rules of rs, in the
 * order the kernel needs them (sets before the rules that look them up). */
int nft_batch_add_ruleset(struct nft_batch *b, const struct masq_ruleset *rs)
	__attribute__((warn_unused_result));

/* Append NEWSETELEM messages for elems of the family's set,
 * NFT_ELEMS_PER_MSG elements per message. */
int nft_batch_add_elems(struct nft_batch *b, int family, const struct set_elem *elems, size_t n)
	__attribute__((warn_unused_result));

/* Append DELSETELEM messages for elems of the family's set, as many per message. */
int nft_batch_del_elems(struct nft_batch *b, int family, const struct set_elem *elems, size_t n)
	__attribute__((warn_unused_result));

/* Append DELRULE for rule handle of chain in the family's table (not
 * inet: iptables-nft's are ip and ip6); handle 0 deletes every rule of
 * the chain. */
int nft_batch_del_rule(struct nft_batch *b, int family, const char *table, const char *chain,
		       uint64_t handle) __attribute__((warn_unused_result));

/* Append DELCHAIN for chain in the family's table. */
int nft_batch_del_chain(struct nft_batch *b, int family, const char *table, const char *chain)
	__attribute__((warn_unused_result));

/* The bytes to send. */
const void *nft_batch_get_data(const struct nft_batch *b);

/* How many bytes there are to send. */
size_t nft_batch_get_len(const struct nft_batch *b);

/* The sequence number after the last message: the batch used [first_seq, it). */
uint32_t nft_batch_get_next_seq(const struct nft_batch *b);

/* Does a message change a table other than masqd's own (inet ip-masq-agent):
 * upstream's chain in iptables-nft's ip or ip6 nat, another named table? */
bool nft_batch_other_tables(const struct nft_batch *b);

/* What the message with sequence number seq does, for error reports
 * ("set nomasq4 elements 1-2048"); NULL when seq is not in the batch. */
const char *nft_batch_describe(const struct nft_batch *b, uint32_t seq);

#endif
