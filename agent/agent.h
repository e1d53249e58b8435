/* The agent's lifecycle: start-up (with the wait for the API), the event
 * loop's wiring (config events, signals, resync, drift polling, endpoints),
 * --once and --cleanup. What it reads is intake.h's, how the kernel is made
 * to hold it reconcile.h's. */
#ifndef MASQ_AGENT_H
#define MASQ_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "config/kubeconfig.h"
#include "config/snat.h"

#define AGENT_DEBOUNCE_NS 5000000LL /* 5 ms: kubelet's swap is a burst of a few events */
#define AGENT_GENPOLL_NS 1000000000LL /* drift check in the plain fallback */
/* A failed sync is tried again after 0.5 s, doubling up to 30 s, plus up to
 * half again (jitter): a kernel short of memory gets room, and thousands of
 * nodes do not retry in step. */
#define AGENT_RETRY_BASE_NS 500000000LL
#define AGENT_RETRY_MAX_NS 30000000000LL

#define AGENT_API_WAIT_NS 5000000000LL /* the first sync waits this long for the API */

/* The budget of EgressNATPolicies from the API (README, "Security model"):
 * the defaults keep the chart's 64Mi limit with room to spare. */
#define AGENT_DEFAULT_MAX_API_POLICIES 10000
#define AGENT_DEFAULT_MAX_API_CIDRS 100000
#define AGENT_MAX_API_POLICIES 1000000
#define AGENT_MAX_API_CIDRS 10000000
#define AGENT_STR_(x) #x
#define AGENT_STR(x) AGENT_STR_(x)
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
	size_t max_api_policies, max_api_cidrs; /* the API policies' budget; 0: none */
	uint8_t api_min_prefix[2]; /* API policies' destinations must be /N or narrower */
	const char *uninstall_ds; /* "NAMESPACE/NAME": SIGTERM removes the table when it is gone */
	struct k8s_ref cm_ref, ds_ref; /* the two above, parsed once (main.c) */
	struct snat_spec snat; /* --snat-to-address or --snat-interface (main.c) */
	bool pods_from_node; /* --pod-cidr-from-node */
	const char *node_name; /* --node-name, else $NODE_NAME (main.c) */
	const char *conntrack_cleanup; /* --conntrack-cleanup: "off" or "udp" (main.c checks) */
};

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

#endif
