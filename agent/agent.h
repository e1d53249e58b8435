/* The agent: keeps the last good config, reconciles the kernel with it, and
 * (as a daemon) reacts to config changes, signals, resync and drift. */
#ifndef MASQ_AGENT_H
#define MASQ_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "config/sources.h"
#include "netlink/state.h"

#define AGENT_DEBOUNCE_NS 5000000LL /* 5 ms: kubelet's swap is a burst of a few events */
#define AGENT_GENPOLL_NS 1000000000LL /* drift check in the plain fallback */

#define AGENT_UNINSTALL_CHECK_MS 3000 /* inside the DaemonSet's 10 s grace period */
#define AGENT_API_WAIT_NS 5000000000LL /* the first sync waits this long for the API */

#define AGENT_DEFAULT_METRICS "127.0.0.1:9743" /* kube-proxy's defaults, masqd's ports */
#define AGENT_DEFAULT_HEALTHZ "0.0.0.0:9744"
#define AGENT_DEFAULT_STATUS "/run/masqd/masqd.sock"

struct agent_settings {
	const char *config;
	const char *table_flags_mode; /* "auto" or "plain" */
	struct masq_opts opts;
	const char *metrics_bind; /* "" turns the endpoint off */
	const char *healthz_bind;
	const char *status_socket;
	int64_t http_deadline_ns;
	const char *policy_dir; /* EgressNATPolicy files; "" for none */
	unsigned max_cidrs_per_file; /* in a config directory */
	int64_t dir_resync_ns; /* --resync-interval: the resync in directory mode */
	const char *masq_chain; /* upstream's iptables chain, to find after a switch */
	bool remove_legacy; /* --remove-legacy-chain */
	/* the Kubernetes API watch */
	bool watch_policies; /* --watch-egress-nat-policies */
	const char *watch_configmap; /* "NAMESPACE/NAME", or "" */
	const char *kubeconfig; /* "" for none */
	const char *apiserver_url; /* "" for none */
	const char *sa_dir; /* the service account's files, in a pod */
	int64_t api_stall_ns, api_watch_timeout_ns, api_not_found_ns;
	const char *uninstall_ds; /* "NAMESPACE/NAME": SIGTERM removes the table when it is gone */
};

struct agent_source_stats {
	bool used, ok;
	const char *path;
	char error[300]; /* the first error of the last failed load */
	uint64_t reloads_ok, reloads_failed;
};

#define AGENT_SYNC_BUCKETS 15 /* 1 ms, 2 ms, ... 16.384 s, as kube-proxy's */

/* What metrics and status report. */
struct agent_stats {
	uint64_t syncs, sync_failures, drift_repairs, adoptions;
	struct agent_source_stats src[SOURCE_COUNT];
	uint64_t sync_hist[AGENT_SYNC_BUCKETS + 1]; /* per bucket; the last is above 16.384 s */
	double sync_seconds_sum;
	double last_sync_unix; /* wall time of the last successful sync; 0: none yet */
	double last_sync_seconds; /* how long it took */
	bool last_sync_ok;
	char last_sync_error[200];
	bool config_ok;
	char config_error[300]; /* the first error of the last failed load */
	unsigned cidrs[2]; /* non-masquerade CIDRs programmed, IPv4 and IPv6 */
	uint32_t table_flags;
	double start_unix;
	bool legacy[2]; /* upstream's chain is still in ip / ip6 nat */
	uint64_t legacy_removed;
};

/* Upper bounds of the sync duration buckets, in seconds. */
extern const double agent_sync_bounds[AGENT_SYNC_BUCKETS];

struct agent;

/* Open the netlink socket; NULL with errno set. */
struct agent *agent_new(const struct agent_settings *s);

/* Close everything; the rules stay in the kernel. NULL is fine. */
void agent_free(struct agent *a);

/* Keep only CAP_NET_ADMIN and probe the table flags to use. */
int agent_prepare(struct agent *a) __attribute__((warn_unused_result));

/* --once: program the config and return the exit code (1 on a bad config,
 * which changes nothing). */
int agent_once(struct agent *a);

/* --cleanup: delete the table; returns the exit code. */
int agent_cleanup(struct agent *a);

/* Run the daemon until SIGTERM/SIGINT; returns the exit code. */
int agent_run(struct agent *a);

/* Counters so far. */
const struct agent_stats *agent_stats(const struct agent *a);

/* Connections counted since masqd started: the kernel's counters now plus
 * those of tables replaced before. */
int agent_connections(struct agent *a, struct nft_counters *ret)
	__attribute__((warn_unused_result));

struct kube_stats;

/* The API watch's counters; NULL when it is off. */
const struct kube_stats *agent_kube_stats(const struct agent *a);

/* Ready: the first sync is done and the last one succeeded. Otherwise
 * *ret_reason says why, in one line. A bad config does not make masqd
 * unready: the last good rules are in place. */
bool agent_ready(const struct agent *a, const char **ret_reason);

#endif
