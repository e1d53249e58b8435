/* Upstream's leftover chain: reported once per appearance, or removed with
 * --remove-legacy-chain. The netlink side is nft_legacy_*. */
#include "agent/legacy.h"

#include <string.h>

#include "agent/log.h"

static const char *const fam[2] = { "ip", "ip6" };

static void remove_chain(struct nft_sock *nft, const char *chain, struct nft_legacy *found,
			 struct masqd_stats *st)
{
	struct nft_error e;

	if (nft_legacy_remove(nft, chain, found, &e) < 0) {
		log_error("cannot remove upstream's chain %s: %s: %s", chain, e.what,
			  e.msg[0] ? e.msg : strerror(-e.err));
		return;
	}
	for (int f = 0; f < 2; f++) {
		if (found->f[f].present)
			log_info("removed upstream ip-masq-agent's chain %s from table %s nat (%u "
				 "rules) and %zu POSTROUTING jumps to it",
				 chain, fam[f], found->f[f].rules, found->f[f].njumps);
		found->f[f].present = false;
	}
	st->legacy_removed++;
}

void legacy_check(struct nft_sock *nft, const char *chain, bool remove, struct masqd_stats *st)
{
	struct nft_legacy found;
	bool was[2] = { st->legacy[0], st->legacy[1] };

	if (!chain || !chain[0] || nft_legacy_find(nft, chain, &found) < 0)
		return;
	if ((found.f[0].present || found.f[1].present) && remove)
		remove_chain(nft, chain, &found, st);
	for (int f = 0; f < 2; f++) {
		st->legacy[f] = found.f[f].present;
		if (found.f[f].present && !was[f])
			log_warnx(
				"upstream ip-masq-agent's chain %s is still in table %s nat (%u "
				"rules, %zu jumps from POSTROUTING): it masquerades traffic masqd "
				"leaves alone; run masqd with --remove-legacy-chain, or see "
				"deploy/MIGRATING.md",
				chain, fam[f], found.f[f].rules, found.f[f].njumps);
	}
}
