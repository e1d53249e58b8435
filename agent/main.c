/* masqd: programs the node's egress NAT decision (which pod traffic leaves
 * masqueraded) into nftables, from upstream ip-masq-agent's config. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/log.h"
#include "config/config.h"
#include "config/duration.h"
#include "config/flags.h"
#include "config/kubeconfig.h"
#include "config/outcome.h"
#include "config/ruleset.h"
#include "config/sources.h"

static void usage(const struct flag_def *defs)
{
	printf("Usage: masqd [FLAGS]\n\n"
	       "Programs the node's egress NAT rules (table inet %s) from the\n"
	       "ip-masq-agent config: traffic to nonMasqueradeCIDRs keeps the pod IP,\n"
	       "everything else leaves with the node IP. As a daemon it reloads within\n"
	       "milliseconds of a config change (inotify on the config's directory, as\n"
	       "kubelet swaps ..data), keeps the last good rules on a bad config, and\n"
	       "repairs drift. Flags are accepted as Go's flag package takes them\n"
	       "(-flag, --flag=v, --flag v), so ip-masq-agent's manifests work unchanged;\n"
	       "klog's flags are accepted and ignored.\n\n"
	       "Flags:\n",
	       MASQ_TABLE);
	flags_print_help(defs, stdout);
	printf("\nSignals: SIGHUP reloads; SIGTERM and SIGINT exit and leave the rules in place.\n"
	       "Exit status: 0 on success, 1 on a config or kernel error, 2 on a usage error.\n");
}

/* "NAMESPACE/NAME" into ret, or "" (nothing to parse). */
static bool ns_name(const char *s, struct k8s_ref *ret)
{
	return !s[0] || k8s_ref_parse(s, ret) == 0;
}

static int check_api_usage(struct cli *a)
{
	const char *cm = a->set.watch_configmap;

	if (!ns_name(cm, &a->set.cm_ref)) {
		fprintf(stderr, "masqd: --watch-configmap must be NAMESPACE/NAME, not \"%s\"\n",
			cm);
		return -EINVAL;
	}
	if (duration_parse(a->api_stall, &a->set.api_stall_ns) < 0 ||
	    a->set.api_stall_ns < 1000000000LL) {
		fprintf(stderr, "masqd: --api-stall-timeout must be a duration of at least 1s\n");
		return -EINVAL;
	}
	if (duration_parse(a->api_watch_timeout, &a->set.api_watch_timeout_ns) < 0 ||
	    a->set.api_watch_timeout_ns < 1000000000LL ||
	    a->set.api_watch_timeout_ns > 3600 * 1000000000LL) {
		fprintf(stderr, "masqd: --api-watch-timeout must be a duration from 1s to 1h\n");
		return -EINVAL;
	}
	if (duration_parse(a->api_not_found, &a->set.api_not_found_ns) < 0 ||
	    a->set.api_not_found_ns < 1000000000LL) {
		fprintf(stderr, "masqd: --api-not-found-retry must be a duration of at least 1s\n");
		return -EINVAL;
	}
	if (a->max_api_policies < 0 || a->max_api_policies > AGENT_MAX_API_POLICIES ||
	    a->max_api_cidrs < 0 || a->max_api_cidrs > AGENT_MAX_API_CIDRS) {
		fprintf(stderr,
			"masqd: --max-api-policies must be 0..%d and --max-api-cidrs 0..%d "
			"(0: no budget)\n",
			AGENT_MAX_API_POLICIES, AGENT_MAX_API_CIDRS);
		return -EINVAL;
	}
	if (a->api_min_prefix[0] < 0 || a->api_min_prefix[0] > 32 || a->api_min_prefix[1] < 0 ||
	    a->api_min_prefix[1] > 128) {
		fprintf(stderr, "masqd: --api-min-prefix-v4 must be 0..32 and --api-min-prefix-v6 "
				"0..128\n");
		return -EINVAL;
	}
	a->set.api_min_prefix[0] = (uint8_t)a->api_min_prefix[0];
	a->set.api_min_prefix[1] = (uint8_t)a->api_min_prefix[1];
	a->set.max_api_policies = (size_t)a->max_api_policies;
	a->set.max_api_cidrs = (size_t)a->max_api_cidrs;
	if (!ns_name(a->set.uninstall_ds, &a->set.ds_ref)) {
		fprintf(stderr,
			"masqd: --cleanup-on-uninstall must be NAMESPACE/NAME, not \"%s\"\n",
			a->set.uninstall_ds);
		return -EINVAL;
	}
	if ((a->set.watch_policies || cm[0] || a->set.uninstall_ds[0] || a->set.pods_from_node) &&
	    (a->once || a->cleanup)) {
		fprintf(stderr, "masqd: --once and --cleanup read files only; the API watch "
				"needs the daemon\n");
		return -EINVAL;
	}
	return 0;
}

/* iptables' limit for a chain name (XT_EXTENSION_MAXNAMELEN less its NUL):
 * upstream's chain was made by iptables, so a longer name cannot be it. */
#define IPT_CHAIN_MAXLEN 28

/* --masq-chain: empty (no migration check), or a name iptables could have made. */
static bool chain_name_ok(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		if (!isgraph((unsigned char)s[i]))
			return false;
	}
	return n <= IPT_CHAIN_MAXLEN;
}

/* A Node's name is a DNS subdomain: at most 253 of [a-z0-9.-]. */
static bool node_name_ok(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-')
			return false;
	}
	return n > 0 && n <= 253;
}

/* --pod-cidr, and the node name --pod-cidr-from-node needs. */
static int check_podsrc(struct cli *a)
{
	const char *env = getenv("NODE_NAME");
	char why[256];

	if (podsrc_parse_flag(&a->pod_cidrs, a->set.opts.enable_ipv6, &a->set.opts.pods, why,
			      sizeof(why)) < 0) {
		fprintf(stderr, "masqd: %s\n", why);
		return -EINVAL;
	}
	if (!a->set.node_name[0] && env)
		a->set.node_name = env;
	if (!a->set.pods_from_node)
		return 0;
	if (!a->set.node_name[0]) {
		fprintf(stderr,
			"masqd: --pod-cidr-from-node needs the node's name: --node-name, or "
			"the NODE_NAME variable (the chart sets it from spec.nodeName)\n");
		return -EINVAL;
	}
	if (!node_name_ok(a->set.node_name)) {
		fprintf(stderr,
			"masqd: node name \"%.64s\" is not a Kubernetes node name (at most 253 "
			"of a-z, 0-9, '.' and '-')\n",
			a->set.node_name);
		return -EINVAL;
	}
	return 0;
}

static int check_usage(struct cli *a)
{
	const char *tf = a->set.table_flags_mode;
	char why[256];

	if (strcmp(tf, "auto") != 0 && strcmp(tf, "plain") != 0) {
		fprintf(stderr, "masqd: --table-flags must be auto or plain, not \"%s\"\n", tf);
		return -EINVAL;
	}
	if (strcmp(a->set.conntrack_cleanup, "off") != 0 &&
	    strcmp(a->set.conntrack_cleanup, "udp") != 0) {
		fprintf(stderr, "masqd: --conntrack-cleanup must be off or udp, not \"%s\"\n",
			a->set.conntrack_cleanup);
		return -EINVAL;
	}
	if (!chain_name_ok(a->set.masq_chain)) {
		fprintf(stderr,
			"masqd: --masq-chain must be an iptables chain name: at most %d printable "
			"characters, no spaces\n",
			IPT_CHAIN_MAXLEN);
		return -EINVAL;
	}
	if (outcome_flags_apply(&(struct outcome_values){ a->max_cidrs, a->resync, a->to_ports },
				&a->set.opts, &a->set.max_cidrs_per_file, &a->set.dir_resync_ns,
				why, sizeof(why)) < 0) {
		fprintf(stderr, "masqd: %s\n", why);
		return -EINVAL;
	}
	if (snat_spec_parse(&a->snat_to, a->snat_iface, a->set.opts.enable_ipv6, &a->set.snat, why,
			    sizeof(why)) < 0) {
		fprintf(stderr, "masqd: %s\n", why);
		return -EINVAL;
	}
	if (duration_parse(a->http_deadline, &a->set.http_deadline_ns) < 0 ||
	    a->set.http_deadline_ns < 100000000LL) {
		fprintf(stderr, "masqd: --http-deadline must be a duration of at least 100ms\n");
		return -EINVAL;
	}
	if (check_podsrc(a) < 0 || check_api_usage(a) < 0)
		return -EINVAL;
	if (a->once && a->cleanup) {
		fprintf(stderr, "masqd: --once and --cleanup exclude each other\n");
		return -EINVAL;
	}
	return 0;
}

static int run(struct cli *c)
{
	struct agent *a = agent_new(&c->set);
	int rc;

	if (!a) {
		log_warn("cannot open the nftables netlink socket (masqd needs CAP_NET_ADMIN)");
		return 1;
	}
	if (c->cleanup)
		rc = agent_cleanup(a);
	else if (agent_prepare(a) < 0)
		rc = 1;
	else
		rc = c->once ? agent_once(a) : agent_run(a);
	agent_free(a);
	return rc;
}

int main(int argc, char **argv)
{
	struct cli a = {
		.set = { .config = MASQ_DEFAULT_CONFIG,
			 .table_flags_mode = "auto",
			 .opts = { .random_fully = true },
			 .metrics_bind = AGENT_DEFAULT_METRICS,
			 .healthz_bind = AGENT_DEFAULT_HEALTHZ,
			 .status_socket = AGENT_DEFAULT_STATUS,
			 .policy_dir = "",
			 .watch_configmap = "",
			 .kubeconfig = "",
			 .apiserver_url = "",
			 .sa_dir = KUBE_SA_DIR,
			 .masq_chain = "IP-MASQ-AGENT",
			 .uninstall_ds = "",
			 .node_name = "",
			 .conntrack_cleanup = "off" },
		.api_stall = "2m",
		.api_watch_timeout = "5m",
		.api_not_found = "60s",
		.max_api_policies = AGENT_DEFAULT_MAX_API_POLICIES,
		.max_api_cidrs = AGENT_DEFAULT_MAX_API_CIDRS,
		.http_deadline = "10s",
		.resync = "60",
		.to_ports = "",
		.max_cidrs = SOURCES_DEFAULT_MAX_CIDRS,
	};
	const struct flag_def defs[] = {
		{ "config", FLAG_STRING, &a.set.config, "PATH",
		  "config file (default " MASQ_DEFAULT_CONFIG "); missing means defaults; a "
		  "directory: its ip-masq* files are merged as ip-masq-agent-v2 does" },
		MASQ_OUTCOME_FLAGS(a.set, a.max_cidrs, a.resync, a.to_ports),
		MASQ_SNAT_FLAGS(a.snat_to, a.snat_iface),
		MASQ_PODSRC_FLAG(a.pod_cidrs),
		MASQD_RUN_FLAGS(MASQD_FLAG_BIND, a),
		{ "help", FLAG_BOOL, &a.help, NULL, "show this help" },
		{ "h", FLAG_BOOL, &a.help, NULL, NULL },
		{ "version", FLAG_BOOL, &a.version, NULL, "print the version and exit" },
		FLAGS_KLOG,
		FLAGS_END,
	};
	struct flag_ctx fc;

	if (flags_parse(defs, argc, argv, 1, &fc) < 0) {
		fprintf(stderr, "masqd: %s\nTry 'masqd --help'.\n", fc.err);
		return 2;
	}
	if (a.help) {
		usage(defs);
		return 0;
	}
	if (a.version) {
		printf("masqd %s (%s)\n", MASQD_VERSION, MASQD_REVISION);
		return 0;
	}
	if (fc.nargs) {
		fprintf(stderr, "masqd: unexpected argument \"%s\"\nTry 'masqd --help'.\n",
			fc.args[0]);
		return 2;
	}
	if (check_usage(&a) < 0)
		return 2;
	log_init(a.verbosity);
	if (fc.ignored[0])
		log_warnx("klog flags accepted for compatibility and ignored: %s", fc.ignored);
	return run(&a);
}
