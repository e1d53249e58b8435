/* SNAT to a chosen node address, followed as it comes and goes: the
 * rtnetlink socket (netlink/addr.h) in the loop, the address in force per
 * family, the one log line per change and the stats. The agent re-syncs
 * when it changes; while an address is absent its family masquerades. */
#ifndef MASQ_AGENT_SNAT_H
#define MASQ_AGENT_SNAT_H

#include <stdbool.h>

#include "agent/loop.h"
#include "agent/stats.h"
#include "config/snat.h"

struct snat_follow;

/* Make the rules follow the addresses in force now; 0 or -errno. */
typedef int (*snat_changed_fn)(void *data, const struct masq_snat now[2]);

/* Read the node's addresses for spec and, with a loop, follow them there,
 * calling fn after each change; without one (--once, masqctl) read them
 * once. Writes st->nat; logs the state. NULL (logged) on failure. */
struct snat_follow *snat_follow_new(struct loop *l, const struct snat_spec *spec,
				    struct masqd_stats *st, snat_changed_fn fn, void *data);

/* Stop following; NULL is fine. */
void snat_follow_free(struct snat_follow *f);

/* The addresses in force, [0] IPv4 and [1] IPv6 (off: masquerade). */
const struct masq_snat *snat_follow_now(const struct snat_follow *f);

/* The NAT of each family when no SNAT is asked for, in st->nat. */
void snat_stats_plain(struct masqd_stats *st, bool enable_ipv6);

#endif
