/* The expressions of masqd's rules, built with libnftnl. Pure: batch.c puts
 * them in messages, and tests parse them back. For netlink/ only. */
#ifndef MASQ_NFT_EXPRS_H
#define MASQ_NFT_EXPRS_H

struct masq_rule;
struct masq_ruleset;
struct nftnl_rule;

#include <stdint.h>

/* Append to r the expressions of rule mr of rs, those nft builds for it. */
int nft_exprs_add(struct nftnl_rule *r, const struct masq_ruleset *rs, const struct masq_rule *mr)
	__attribute__((warn_unused_result));

/* The id a set of masqd's table has in a batch (NFTA_SET_ID, so that rules
 * of the same batch can name it): 1 to 4, 0 for a name that is not one. */
uint32_t nft_exprs_set_id(const char *set);

#endif
