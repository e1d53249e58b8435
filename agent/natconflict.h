/* Conflicts at the hook: the other NAT chains at the postrouting hook that
 * can override masqd's decision (netlink/natchains.h finds them). Checked at
 * start, after each sync and at each resync; logged once per change. */
#ifndef MASQ_AGENT_NATCONFLICT_H
#define MASQ_AGENT_NATCONFLICT_H

#include <jansson.h>
#include <stdbool.h>

#include "agent/stats.h"
#include "config/cidr.h"

struct nft_sock;

/* Find the chains now, keep them in st->natc, and warn once when the set
 * changes; skipped when the host's nftables generation has not moved since
 * the last good check and no chain listed is in an owned table (one that
 * goes with its owner's socket, with no new generation). A failed dump
 * keeps the last result and is logged once. */
void natconflict_check(struct nft_sock *nft, struct masqd_stats *st);

enum natconflict_override { NATC_NO, NATC_MAY, NATC_DOES };

/* Can chain c override masqd's decision (masqueraded or kept) for a
 * destination of family af? One that runs first decides either way; one
 * that runs after (a higher or equal priority) can only masquerade what
 * masqd kept, as a connection keeps its first NAT. */
enum natconflict_override natconflict_override(const struct nft_natchain *c, int af,
					       bool masqueraded);

/* The chains as a JSON array; with dest, each says whether it overrides
 * masqd's decision (masqueraded or not) for it. */
json_t *natconflict_json(const struct masqd_natconflict_stats *nc, const struct cidr *dest,
			 bool masqueraded);

/* The same as lines of text, for explain --live. */
void natconflict_write(const struct masqd_natconflict_stats *nc, const struct cidr *dest,
		       bool masqueraded, FILE *f);

#endif
