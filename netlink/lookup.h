/* One address looked up in masqd's non-masquerade set in the kernel, as
 * `nft get element` does: what the kernel holds, not what masqd meant to
 * program (masqctl explain --live checks one against the other). */
#ifndef MASQ_NFT_LOOKUP_H
#define MASQ_NFT_LOOKUP_H

#include <stdbool.h>

#include "config/cidr.h"

struct nft_sock;

/* Is addr (a host prefix) in the set of its family? Returns 0 with
 * *ret_found (false too when the table or the set is absent), or -errno. */
int nft_set_lookup(struct nft_sock *sock, const struct cidr *addr, bool *ret_found)
	__attribute__((warn_unused_result));

#endif
