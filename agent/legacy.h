/* After a switch from upstream ip-masq-agent: its iptables-nft chain, left
 * behind, masquerades before masqd's decision counts. Found, reported and,
 * on request, removed. */
#ifndef MASQ_AGENT_LEGACY_H
#define MASQ_AGENT_LEGACY_H

#include <stdbool.h>

#include "agent/stats.h"
#include "netlink/nft.h"

/* Look for chain (--masq-chain; NULL or "" for none) in ip and ip6 nat; warn
 * once per family when it appears, remove it when remove is set, and keep
 * st->legacy and st->legacy_removed current. */
void legacy_check(struct nft_sock *nft, const char *chain, bool remove, struct masqd_stats *st);

#endif
