/* The counters masqd keeps for /metrics and masqctl status, and the view
 * those readers get: they depend on this header, never on the agent. */
#ifndef MASQ_STATS_H
#define MASQ_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/podsrc.h"
#include "config/snat.h"
#include "config/sources.h"
#include "netlink/natchains.h"

struct kube_stats;
struct nft_counters;

struct masqd_source_stats {
	bool used, ok;
	const char *path;
	char error[300]; /* the first error of the last failed load */
	uint64_t reloads_ok, reloads_failed;
};

/* The NAT the final rules do, per family (agent/snat.c keeps it). */
struct masqd_nat_stats {
	bool snat_configured; /* --snat-to-address or --snat-interface covers this family */
	bool snat_present; /* and its address is on the node now */
	char action[SNAT_ACTION_LEN + 64]; /* "snat ip to 192.0.2.10", "masquerade (...)" */
	uint64_t snat_changes; /* times the address came, went or moved */
	double snat_reaction_seconds; /* the last change: event read to the kernel's ack */
};

/* Pod-source scoping in force (agent/podsrc.c keeps it). */
struct masqd_podsrc_stats {
	bool configured; /* --pod-cidr or --pod-cidr-from-node */
	const char *node; /* --pod-cidr-from-node's Node; NULL when not asked */
	bool node_listed; /* the API answered for it */
	bool node_present; /* and it exists */
	struct podsrc now; /* the pod CIDRs in force; a family with none: every source */
};

/* --conntrack-cleanup=udp (agent/ctclean.c keeps it). A cleanup is one
 * commit that changed the non-masquerade set. */
struct masqd_ct_stats {
	bool enabled;
	uint64_t cleanups, failures, bounded; /* bounded: a pass stopped at a bound */
	uint64_t examined, deleted; /* UDP entries looked at, and deleted */
	uint64_t inflight; /* entries answers in flight made again, deleted by a recheck */
	double last_seconds;
};

/* The other NAT chains at the postrouting hook (agent/natconflict.c). */
struct masqd_natconflict_stats {
	bool checked; /* found once at least */
	int err; /* the last check's failure; 0: it succeeded */
	uint64_t changes; /* times the set of chains changed */
	uint32_t gen; /* the nftables generation the last good check read */
	bool gen_ok;
	uint64_t commits; /* masqd's own commits when the last check began */
	struct nft_natchains found;
};

#define STATS_SYNC_BUCKETS 15 /* 1 ms, 2 ms, ... 16.384 s, as kube-proxy's */

struct masqd_stats {
	uint64_t syncs, sync_failures, drift_repairs, adoptions;
	struct masqd_source_stats src[SOURCE_COUNT];
	uint64_t sync_hist[STATS_SYNC_BUCKETS + 1]; /* per bucket; the last is above 16.384 s */
	double sync_seconds_sum;
	double last_sync_unix; /* wall time of the last successful sync; 0: none yet */
	double last_sync_seconds; /* how long it took */
	bool last_sync_ok;
	char last_sync_error[200];
	unsigned sync_failing; /* failed syncs in a row; 0 after a success */
	uint64_t sync_retries; /* syncs tried after a failed one, until one succeeds */
	double retry_unix; /* wall time of the pending retry; 0: none */
	bool config_ok;
	unsigned cidrs[2]; /* non-masquerade CIDRs programmed, IPv4 and IPv6 */
	bool keeps_all[2]; /* that set is the whole address space: nothing is masqueraded */
	uint32_t table_flags;
	double start_unix;
	bool legacy[2]; /* upstream's chain is still in ip / ip6 nat */
	uint64_t legacy_removed;
	struct masqd_nat_stats nat[2]; /* IPv4, IPv6 */
	struct masqd_podsrc_stats pods;
	struct masqd_ct_stats ct;
	struct masqd_natconflict_stats natc;
};

/* Upper bounds of the sync duration buckets, in seconds. */
extern const double stats_sync_bounds[STATS_SYNC_BUCKETS];

/* Count one sync of this many seconds in the histogram. */
void stats_observe_sync(struct masqd_stats *st, double seconds);

/* The wall clock, in seconds since the epoch. */
double stats_wall_now(void);

/* The host's boot time, in seconds since the epoch (0: unknown). */
double stats_boot_time(void);

/* This process's open file descriptors. */
unsigned stats_open_fds(void);

/* What metrics and status read: the counters, and what only the agent can
 * answer, through its callbacks (ctx is theirs). */
#define STATS_WHY_LEN 256 /* a readiness reason */

struct stats_view {
	const struct masqd_stats *st;
	void *ctx;
	/* the API watch's counters; NULL when it is off */
	const struct kube_stats *(*kube)(void *ctx);
	/* connections counted since start: the kernel's counters now plus those
	 * of tables replaced before; <0 when the table cannot be read */
	int (*connections)(void *ctx, struct nft_counters *ret);
	/* ready, or why not in one line (why gets "ok" when ready) */
	bool (*ready)(void *ctx, char *why, size_t why_len);
};

#endif
