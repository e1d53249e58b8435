/* Reading back the pod-source scope's sets (podsrc4, podsrc6) from the
 * kernel: what a previous masqd programmed from a Node's spec.podCIDRs,
 * kept while the API has not said what the Node holds now. */
#ifndef MASQ_NFT_PODSET_H
#define MASQ_NFT_PODSET_H

#include <stddef.h>

#include "config/cidr.h"

struct nft_sock;

#define NFT_PODSET_MAX 64 /* intervals read per set; more is not masqd's */

/* The intervals of family's pod set in masqd's table, ascending, into ret
 * (room for NFT_PODSET_MAX). Returns their number (0 when the table or the
 * set is absent), -E2BIG beyond NFT_PODSET_MAX, -EBADMSG for elements that
 * are not intervals of the family, or -errno. */
int nft_podset_read(struct nft_sock *sock, int family, struct addr_range ret[NFT_PODSET_MAX])
	__attribute__((warn_unused_result));

#endif
