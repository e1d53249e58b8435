/* Making the kernel hold the last good config: the full sync (read back,
 * compare, replace) and the incremental one (set elements only), their log
 * lines and sync counters. The reconciler owns what was applied and the
 * config generation the kernel was last made to hold. */
#ifndef MASQ_RECONCILE_H
#define MASQ_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/stats.h"
#include "config/config.h"
#include "netlink/nft.h"
#include "netlink/state.h"

struct reconciler;

/* A reconciler over nft (borrowed) for opts, counting into st (borrowed). */
struct reconciler *reconciler_new(struct nft_sock *nft, const struct masq_opts *opts,
				  struct masqd_stats *st);

/* Free it; NULL is fine. The rules stay in the kernel. */
void reconciler_free(struct reconciler *rc);

/* The table flags to create the table with (0: plain), also shown in the
 * stats. Unless proven, a kernel that refuses them at the first sync turns
 * them off (see full_sync). */
void reconciler_set_table_flags(struct reconciler *rc, uint32_t flags, bool proven);

/* The table flags in use: 0 once a kernel refused the unproven ones. */
uint32_t reconciler_table_flags(const struct reconciler *rc);

/* The SNAT addresses in force, [0] IPv4 and [1] IPv6 (off: masquerade);
 * the next sync programs them. */
void reconciler_set_snat(struct reconciler *rc, const struct masq_snat snat[2]);

/* The pod CIDRs the sources are scoped to (config/podsrc.h; none in a
 * family: every source); the next sync programs them. */
void reconciler_set_podsrc(struct reconciler *rc, const struct podsrc *p);

/* --conntrack-cleanup=udp: after each commit that changes the
 * non-masquerade set, delete the UDP entries it now decides otherwise
 * (agent/ctclean.h), and say so in the sync's log line. Returns 0, or
 * -errno when its ctnetlink socket cannot be opened. */
int reconciler_enable_ctclean(struct reconciler *rc) __attribute__((warn_unused_result));

/* In a daemon, with the cleanup: its rechecks run on l (agent/ctrecheck.h).
 * Returns 0 (also without the cleanup) or -errno. */
struct loop;
int reconciler_ctclean_loop(struct reconciler *rc, struct loop *l)
	__attribute__((warn_unused_result));

/* Keep the resolved intervals between syncs (a daemon; not --once): a
 * config change then costs what it changes (config/incr.h). Not with the
 * conntrack cleanup, which compares whole rulesets anyway. */
void reconciler_keep_index(struct reconciler *rc, bool on);

/* Make the kernel hold good (generation gen; NULL: nothing valid yet, the
 * kernel is left as it is). With incremental, a config change may send only
 * the set elements that changed; otherwise the table is read back and
 * compared. Returns 0 or -errno (logged and counted). */
int reconciler_sync(struct reconciler *rc, const struct masq_config *good, uint64_t gen,
		    const char *reason, bool incremental) __attribute__((warn_unused_result));

/* Connections counted since start: the kernel's counters now plus those of
 * tables replaced before. */
int reconciler_connections(struct reconciler *rc, struct nft_counters *ret)
	__attribute__((warn_unused_result));

/* Log a failed transaction once, as one line ("stop masqd first" for EBUSY). */
void reconcile_log_error(const struct nft_error *e);

#endif
