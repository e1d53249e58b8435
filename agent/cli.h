/* masqd's command line: its settings, and the flags that do not change the
 * rules, written once. masqd binds each flag to its setting (agent/main.c);
 * masqctl accepts each and ignores it (tools/masqctl.c), so that a
 * DaemonSet's args can be pasted into masqctl as they are. A flag added
 * here reaches both; tests/cli/test_masqctl.sh checks every flag of
 * `masqd --help` against masqctl. The flags that do change the rules are
 * MASQ_OUTCOME_FLAGS (config/sources.h), which both bind. */
#ifndef MASQ_CLI_H
#define MASQ_CLI_H

#include <stdbool.h>

#include "agent/agent.h"
#include "config/flags.h"
#include "config/kubeconfig.h"

struct cli {
	struct agent_settings set;
	const char *http_deadline;
	const char *resync;
	int max_cidrs;
	const char *to_ports;
	struct flag_strings snat_to; /* --snat-to-address, checked into set.snat */
	const char *snat_iface;
	struct flag_strings pod_cidrs; /* --pod-cidr, checked into set.opts.pods */
	const char *api_stall, *api_watch_timeout, *api_not_found;
	int max_api_policies, max_api_cidrs;
	int api_min_prefix[2];
	bool once, cleanup, help, version;
	int verbosity;
};

/* X(NAME, KIND, MEMBER, METAVAR, HELP) for each flag, comma-separated: KIND
 * is BOOL, STRING or INT, MEMBER the member of struct cli c for its value. */
#define MASQD_RUN_FLAGS(X, c)                                                                              \
	X("once", BOOL, (c).once, NULL, "program the rules once and exit"),                                \
		X("cleanup", BOOL, (c).cleanup, NULL, "delete masqd's table and exit"),                    \
		X("masq-chain", STRING, (c).set.masq_chain, "NAME",                                        \
		  "upstream's iptables chain, looked for after a switch (default IP-MASQ-AGENT; GKE: "     \
		  "IP-MASQ)"),                                                                             \
		X("remove-legacy-chain", BOOL, (c).set.remove_legacy, NULL,                                \
		  "delete that chain and its POSTROUTING jump (iptables-nft), in one transaction"),        \
		X("table-flags", STRING, (c).set.table_flags_mode, "auto|plain",                           \
		  "auto: owner|persist where the kernel has it (6.9+); plain: never"),                     \
		X("metrics-bind-address", STRING, (c).set.metrics_bind, "IP:PORT",                         \
		  "serve /metrics here (default " AGENT_DEFAULT_METRICS "); empty: off"),                  \
		X("healthz-bind-address", STRING, (c).set.healthz_bind, "IP:PORT",                         \
		  "serve /healthz and /readyz here (default " AGENT_DEFAULT_HEALTHZ                        \
		  "); empty: off"),                                                                        \
		X("status-socket", STRING, (c).set.status_socket, "PATH",                                  \
		  "unix socket for masqctl status (default " AGENT_DEFAULT_STATUS                          \
		  "); empty: off"),                                                                        \
		X("http-deadline", STRING, (c).http_deadline, "DURATION",                                  \
		  "longest an HTTP connection may stay open, however active (default 10s)"),               \
		X("watch-egress-nat-policies", BOOL, (c).set.watch_policies, NULL,                         \
		  "watch EgressNATPolicy objects (networking.gke.io/v1) through the API"),                 \
		X("watch-configmap", STRING, (c).set.watch_configmap, "NAMESPACE/NAME",                    \
		  "watch this ConfigMap (data key config) through the API; while the API answers it "      \
		  "wins over --config"),                                                                   \
		X("kubeconfig", STRING, (c).set.kubeconfig, "PATH",                                        \
		  "API access from this kubeconfig (default: in-cluster)"),                                \
		X("apiserver-url", STRING, (c).set.apiserver_url, "URL",                                   \
		  "the API server (overrides the kubeconfig's; in a pod the service account's token "      \
		  "and CA are still used)"),                                                               \
		X("serviceaccount-dir", STRING, (c).set.sa_dir, "DIR",                                     \
		  "in-cluster token, ca.crt and namespace (default " KUBE_SA_DIR ")"),                     \
		X("api-stall-timeout", STRING, (c).api_stall, "DURATION",                                  \
		  "restart a watch that sent nothing, not even a bookmark, for this long (default 2m)"),   \
		X("api-watch-timeout", STRING, (c).api_watch_timeout, "DURATION",                          \
		  "watches last a random time from this to twice this, as client-go's (default 5m)"),      \
		X("api-not-found-retry", STRING, (c).api_not_found, "DURATION",                            \
		  "retry after a 404, when the EgressNATPolicy CRD is not installed (default 60s)"),       \
		X("max-api-policies", INT, (c).max_api_policies, "N",                                      \
		  "the budget of EgressNATPolicies from the API; past it they are taken in name order "    \
		  "and the rest refused (default " AGENT_STR(                                              \
			  AGENT_DEFAULT_MAX_API_POLICIES) "; 0: none)"),                                   \
		X("max-api-cidrs", INT, (c).max_api_cidrs, "N",                                            \
		  "the budget of their destinations in all, likewise (default " AGENT_STR(                 \
			  AGENT_DEFAULT_MAX_API_CIDRS) "; 0: none)"),                                      \
		X("api-min-prefix-v4", INT, (c).api_min_prefix[0], "N",                                    \
		  "refuse API policies with an IPv4 destination broader than /N, such as 0.0.0.0/0 "       \
		  "(default 0: any)"),                                                                     \
		X("api-min-prefix-v6", INT, (c).api_min_prefix[1], "N",                                    \
		  "likewise for IPv6 destinations (default 0: any)"),                                      \
		X("pod-cidr-from-node", BOOL, (c).set.pods_from_node, NULL,                                \
		  "decide only for sources in this node's spec.podCIDRs, read and watched through the "    \
		  "API (needs get, list, watch on nodes); every source until they are assigned"),          \
		X("node-name", STRING, (c).set.node_name, "NAME",                                          \
		  "this node's name, for --pod-cidr-from-node (default: $NODE_NAME)"),                     \
		X("cleanup-on-uninstall", STRING, (c).set.uninstall_ds, "NAMESPACE/NAME",                  \
		  "at SIGTERM, ask the API for this DaemonSet (masqd's own): gone or being deleted means " \
		  "an uninstall, and the table is removed; otherwise (an update) it stays"),               \
		X("conntrack-cleanup", STRING, (c).set.conntrack_cleanup, "off|udp",                       \
		  "udp: after a change of the non-masquerade set or the SNAT address, delete the UDP "     \
		  "conntrack entries it now decides otherwise, so that long-lived streams follow it "      \
		  "(TCP never; default off)"),                                                             \
		X("v", INT, (c).verbosity, "N", "log verbosity; 2 or more adds debug")

/* masqd: a struct flag_def that sets the member. */
#define MASQD_FLAG_BIND(n, k, member, meta, h)  \
	{                                       \
		n, FLAG_##k, &(member), meta, h \
	}

/* masqctl: a struct flag_def that takes the flag (and its value) and names
 * it in flag_ctx.ignored; hidden from --help. */
#define MASQD_FLAG_IGNORE(n, k, member, meta, h)     \
	{                                            \
		.name = n, .type = MASQD_IGNORED_##k \
	}
#define MASQD_IGNORED_BOOL FLAG_IGNORED_BOOL
#define MASQD_IGNORED_STRING FLAG_IGNORED_VALUE
#define MASQD_IGNORED_INT FLAG_IGNORED_VALUE

#endif
