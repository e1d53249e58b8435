/* Upstream ip-masq-agent's chain (--masq-chain) as iptables-nft left it in
 * table ip nat and ip6 nat: after a switch it still masquerades first and
 * overrides masqd. (iptables-legacy's cannot be seen through nftables.) */
#ifndef MASQ_NFT_LEGACY_H
#define MASQ_NFT_LEGACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nft_error;
struct nft_sock;

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

/* Look for the chain in both families. Returns 0, -ENAMETOOLONG for a name
 * no chain can have, or -errno. */
int nft_legacy_find(struct nft_sock *sock, const char *chain, struct nft_legacy *ret)
	__attribute__((warn_unused_result));

/* Delete what nft_legacy_find found, in one transaction: the POSTROUTING
 * jumps, the chain's rules, the chain. */
int nft_legacy_remove(struct nft_sock *sock, const char *chain, const struct nft_legacy *found,
		      struct nft_error *ret_err) __attribute__((warn_unused_result));

#endif
