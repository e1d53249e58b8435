/* What masqd exports: the Prometheus families (each named once, in
 * metric_defs), /healthz and /readyz (the status document is
 * agent/statusdoc.c). They read
 * agent/stats.h, never the agent. */
#include "agent/metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/expo.h"
#include "agent/kube.h"
#include "agent/natconflict.h"
#include "agent/stats.h"
#include "config/cidr.h"
#include "config/sources.h"
#include "netlink/nft.h"
#include "netlink/state.h"

static const char *const families[2] = { "ipv4", "ipv6" };

/* Every family masqd exports, its name, type and help written once. */
enum metric {
	M_BUILD_INFO,
	M_SYNC_DURATION_SECONDS,
	M_LAST_SYNC_TIMESTAMP_SECONDS,
	M_SYNC_FAILURES_TOTAL,
	M_SYNC_RETRIES_TOTAL,
	M_SYNC_CONSECUTIVE_FAILURES,
	M_DRIFT_REPAIRS_TOTAL,
	M_LEGACY_CHAIN_PRESENT,
	M_LEGACY_CHAIN_REMOVALS_TOTAL,
	M_TABLE_ADOPTIONS_TOTAL,
	M_CONFIG_RELOADS_TOTAL,
	M_CONFIG_LAST_LOAD_SUCCESS,
	M_NONMASQUERADE_CIDRS,
	M_MASQUERADE_OFF,
	M_MASQUERADED_CONNECTIONS_TOTAL,
	M_NOT_MASQUERADED_CONNECTIONS_TOTAL,
	M_SNAT_ADDRESS_PRESENT,
	M_POD_CIDRS,
	M_CONNTRACK_CLEANUPS_TOTAL,
	M_CONNTRACK_CLEANUP_FAILURES_TOTAL,
	M_CONNTRACK_CLEANUP_BOUNDED_TOTAL,
	M_CONNTRACK_EXAMINED_TOTAL,
	M_CONNTRACK_DELETED_TOTAL,
	M_CONNTRACK_CLEANUP_SECONDS,
	M_CONNTRACK_INFLIGHT_DELETED_TOTAL,
	M_API_REQUESTS_TOTAL,
	M_API_WATCH_RESTARTS_TOTAL,
	M_API_UP,
	M_API_LIST_PAGES_TOTAL,
	M_API_WATCH_LIST,
	M_API_POLICIES_OVER_BUDGET,
	M_FOREIGN_NAT_CHAINS,
	M_PROCESS_CPU_SECONDS_TOTAL,
	M_PROCESS_RESIDENT_MEMORY_BYTES,
	M_PROCESS_VIRTUAL_MEMORY_BYTES,
	M_PROCESS_START_TIME_SECONDS,
	M_PROCESS_OPEN_FDS,
	M_PROCESS_MAX_FDS,
};

static const struct metric_def {
	const char *name, *type, *help;
} metric_defs[] = {
	[M_BUILD_INFO] = { "masqd_build_info", "gauge",
			   "A metric with a constant 1 labeled by masqd's version and revision." },
	[M_SYNC_DURATION_SECONDS] = { "masqd_sync_duration_seconds", "histogram",
				      "Time to reconcile the kernel's rules with the config: read back, compare, "
				      "and commit when they differ." },
	[M_LAST_SYNC_TIMESTAMP_SECONDS] = { "masqd_last_sync_timestamp_seconds", "gauge",
					    "Unix time of the last successful sync (0 before the first)." },
	[M_SYNC_FAILURES_TOTAL] = { "masqd_sync_failures_total", "counter",
				    "Syncs the kernel refused; one nftables transaction covers both families." },
	[M_SYNC_RETRIES_TOTAL] = { "masqd_sync_retries_total", "counter",
				   "Syncs tried after a failed one (by the backoff, a resync or a change) until one succeeds; the last good rules stay meanwhile." },
	[M_SYNC_CONSECUTIVE_FAILURES] = { "masqd_sync_consecutive_failures", "gauge",
					  "Syncs failed in a row; 0 once one succeeds." },
	[M_DRIFT_REPAIRS_TOTAL] = { "masqd_drift_repairs_total", "counter",
				    "Times the table had been changed by someone else and was restored." },
	[M_LEGACY_CHAIN_PRESENT] = { "masqd_legacy_chain_present", "gauge",
				     "1 while upstream ip-masq-agent's iptables-nft chain (--masq-chain) is still in "
				     "the nat table of the family: it overrides masqd's decisions." },
	[M_LEGACY_CHAIN_REMOVALS_TOTAL] = { "masqd_legacy_chain_removals_total", "counter",
					    "Times --remove-legacy-chain deleted upstream's chain." },
	[M_TABLE_ADOPTIONS_TOTAL] = { "masqd_table_adoptions_total", "counter",
				      "Times masqd took over the table a previous masqd left, unchanged." },
	[M_CONFIG_RELOADS_TOTAL] = { "masqd_config_reloads_total", "counter",
				     "Config loads by source and result; a failed one keeps the last good config." },
	[M_CONFIG_LAST_LOAD_SUCCESS] = { "masqd_config_last_load_success", "gauge",
					 "1 when the last load of the source succeeded, 0 when it failed." },
	[M_NONMASQUERADE_CIDRS] = { "masqd_nonmasquerade_cidrs", "gauge",
				    "Non-masquerade CIDRs programmed, by family, link-local included when kept." },
	[M_MASQUERADE_OFF] = { "masqd_masquerade_off", "gauge",
			       "1 when the non-masquerade set programmed covers the family's whole address "
			       "space (0.0.0.0/0, ::/0): nothing is masqueraded." },
	[M_MASQUERADED_CONNECTIONS_TOTAL] = { "masqd_masqueraded_connections_total", "counter",
					      "New connections that left with the node's address, by family." },
	[M_NOT_MASQUERADED_CONNECTIONS_TOTAL] = { "masqd_not_masqueraded_connections_total",
						  "counter",
						  "New connections to a non-masquerade CIDR, which kept the pod's address, by family." },
	[M_SNAT_ADDRESS_PRESENT] = { "masqd_snat_address_present", "gauge",
				     "1 while the --snat-to-address (or --snat-interface) address of the family is "
				     "on the node and the final rule snats to it; 0 while it masquerades instead." },
	[M_POD_CIDRS] = { "masqd_pod_cidrs", "gauge",
			  "Pod CIDRs the family's sources are scoped to (--pod-cidr, --pod-cidr-from-node); "
			  "0: every source is decided, as upstream." },
	[M_CONNTRACK_CLEANUPS_TOTAL] = { "masqd_conntrack_cleanups_total", "counter",
					 "Conntrack cleanups done (--conntrack-cleanup=udp): one per commit that "
					 "changed the non-masquerade set." },
	[M_CONNTRACK_CLEANUP_FAILURES_TOTAL] = { "masqd_conntrack_cleanup_failures_total",
						 "counter",
						 "Conntrack cleanups that failed (ctnetlink refused or broke); the "
						 "next sync tries the same change again." },
	[M_CONNTRACK_CLEANUP_BOUNDED_TOTAL] = { "masqd_conntrack_cleanup_bounded_total", "counter",
						"Cleanup passes that stopped at a bound (entries examined or "
						"deleted); the rest keep their decision until they expire." },
	[M_CONNTRACK_EXAMINED_TOTAL] = { "masqd_conntrack_examined_total", "counter",
					 "UDP conntrack entries the kernel's filtered dumps handed to the "
					 "cleanup." },
	[M_CONNTRACK_DELETED_TOTAL] = { "masqd_conntrack_deleted_total", "counter",
					"UDP conntrack entries deleted because the rules now decide them "
					"otherwise." },
	[M_CONNTRACK_CLEANUP_SECONDS] = { "masqd_conntrack_cleanup_seconds", "gauge",
					  "Duration of the last conntrack cleanup: dumps and deletions." },
	[M_CONNTRACK_INFLIGHT_DELETED_TOTAL] = { "masqd_conntrack_inflight_deleted_total",
						 "counter",
						 "UDP conntrack entries that answers in flight made again "
						 "after a cleanup, deleted by its rechecks." },
	[M_API_REQUESTS_TOTAL] = { "masqd_api_requests_total", "counter",
				   "Requests to the Kubernetes API by resource and HTTP code (<error>: no answer)." },
	[M_API_WATCH_RESTARTS_TOTAL] = { "masqd_api_watch_restarts_total", "counter",
					 "Watches (or lists) restarted, by resource and reason; expired means a relist." },
	[M_API_UP] = { "masqd_api_up", "gauge",
		       "1 while the API answers the watch of the resource; the last state stays when 0." },
	[M_API_LIST_PAGES_TOTAL] = { "masqd_api_list_pages_total", "counter",
				     "Pages of lists received whole (limit and continue), by resource." },
	[M_API_WATCH_LIST] = { "masqd_api_watch_list", "gauge",
			       "1 when the resource's state came by the streaming watch list "
			       "(sendInitialEvents), 0 when by list and watch." },
	[M_API_POLICIES_OVER_BUDGET] = { "masqd_api_policies_over_budget", "gauge",
					 "EgressNATPolicies from the API not applied because they are past "
					 "--max-api-policies or --max-api-cidrs, taken in name order." },
	[M_FOREIGN_NAT_CHAINS] = { "masqd_foreign_nat_chains", "gauge",
				   "Other base chains at the nat postrouting hook that masquerade or snat: "
				   "they can override masqd's decisions (masqctl status lists them)." },
	[M_PROCESS_CPU_SECONDS_TOTAL] = { "process_cpu_seconds_total", "counter",
					  "Total user and system CPU time spent in seconds." },
	[M_PROCESS_RESIDENT_MEMORY_BYTES] = { "process_resident_memory_bytes", "gauge",
					      "Resident memory size in bytes." },
	[M_PROCESS_VIRTUAL_MEMORY_BYTES] = { "process_virtual_memory_bytes", "gauge",
					     "Virtual memory size in bytes." },
	[M_PROCESS_START_TIME_SECONDS] = { "process_start_time_seconds", "gauge",
					   "Start time of the process since unix epoch in seconds." },
	[M_PROCESS_OPEN_FDS] = { "process_open_fds", "gauge", "Number of open file descriptors." },
	[M_PROCESS_MAX_FDS] = { "process_max_fds", "gauge",
				"Maximum number of open file descriptors." },
};

static void family(struct expo *e, enum metric m)
{
	expo_family(e, metric_defs[m].name, metric_defs[m].type, metric_defs[m].help);
}

static void sample(struct expo *e, enum metric m, const char *const *labels, double value)
{
	expo_sample(e, metric_defs[m].name, labels, value);
}

static void build_info(struct expo *e)
{
	const char *labels[] = { "version", MASQD_VERSION, "revision", MASQD_REVISION, NULL };

	family(e, M_BUILD_INFO);
	sample(e, M_BUILD_INFO, labels, 1);
}

static void sync_metrics(struct expo *e, const struct masqd_stats *st)
{
	family(e, M_SYNC_DURATION_SECONDS);
	expo_histogram(e, metric_defs[M_SYNC_DURATION_SECONDS].name, NULL, stats_sync_bounds,
		       st->sync_hist, STATS_SYNC_BUCKETS, st->sync_seconds_sum);
	family(e, M_LAST_SYNC_TIMESTAMP_SECONDS);
	sample(e, M_LAST_SYNC_TIMESTAMP_SECONDS, NULL, st->last_sync_unix);
	family(e, M_SYNC_FAILURES_TOTAL);
	sample(e, M_SYNC_FAILURES_TOTAL, NULL, (double)st->sync_failures);
	family(e, M_SYNC_RETRIES_TOTAL);
	sample(e, M_SYNC_RETRIES_TOTAL, NULL, (double)st->sync_retries);
	family(e, M_SYNC_CONSECUTIVE_FAILURES);
	sample(e, M_SYNC_CONSECUTIVE_FAILURES, NULL, st->sync_failing);
	family(e, M_DRIFT_REPAIRS_TOTAL);
	sample(e, M_DRIFT_REPAIRS_TOTAL, NULL, (double)st->drift_repairs);
	family(e, M_LEGACY_CHAIN_PRESENT);
	for (int f = 0; f < 2; f++)
		sample(e, M_LEGACY_CHAIN_PRESENT, (const char *[]){ "family", families[f], NULL },
		       st->legacy[f]);
	family(e, M_LEGACY_CHAIN_REMOVALS_TOTAL);
	sample(e, M_LEGACY_CHAIN_REMOVALS_TOTAL, NULL, (double)st->legacy_removed);
	family(e, M_TABLE_ADOPTIONS_TOTAL);
	sample(e, M_TABLE_ADOPTIONS_TOTAL, NULL, (double)st->adoptions);
	family(e, M_FOREIGN_NAT_CHAINS);
	sample(e, M_FOREIGN_NAT_CHAINS, NULL, st->natc.found.n);
}

static void config_metrics(struct expo *e, const struct masqd_stats *st)
{
	family(e, M_CONFIG_RELOADS_TOTAL);
	for (int k = 0; k < SOURCE_COUNT; k++) {
		if (!st->src[k].used && !st->src[k].reloads_ok && !st->src[k].reloads_failed)
			continue;
		sample(e, M_CONFIG_RELOADS_TOTAL,
		       (const char *[]){ "source", source_names[k], "result", "success", NULL },
		       (double)st->src[k].reloads_ok);
		sample(e, M_CONFIG_RELOADS_TOTAL,
		       (const char *[]){ "source", source_names[k], "result", "failure", NULL },
		       (double)st->src[k].reloads_failed);
	}
	family(e, M_CONFIG_LAST_LOAD_SUCCESS);
	for (int k = 0; k < SOURCE_COUNT; k++) {
		if (st->src[k].used)
			sample(e, M_CONFIG_LAST_LOAD_SUCCESS,
			       (const char *[]){ "source", source_names[k], NULL }, st->src[k].ok);
	}
	family(e, M_NONMASQUERADE_CIDRS);
	for (int f = 0; f < 2; f++)
		sample(e, M_NONMASQUERADE_CIDRS, (const char *[]){ "family", families[f], NULL },
		       st->cidrs[f]);
	family(e, M_MASQUERADE_OFF);
	for (int f = 0; f < 2; f++)
		sample(e, M_MASQUERADE_OFF, (const char *[]){ "family", families[f], NULL },
		       st->keeps_all[f]);
}

/* A nat chain sees a connection's first packet only: these count connections. */
static void connection_metrics(struct expo *e, const struct stats_view *v)
{
	struct nft_counters c;

	if (v->connections(v->ctx, &c) < 0)
		return; /* no table to read: leave the families out rather than report zeros */
	family(e, M_MASQUERADED_CONNECTIONS_TOTAL);
	for (int f = 0; f < 2; f++)
		sample(e, M_MASQUERADED_CONNECTIONS_TOTAL,
		       (const char *[]){ "family", families[f], NULL }, (double)c.masqueraded[f]);
	family(e, M_NOT_MASQUERADED_CONNECTIONS_TOTAL);
	for (int f = 0; f < 2; f++)
		sample(e, M_NOT_MASQUERADED_CONNECTIONS_TOTAL,
		       (const char *[]){ "family", families[f], NULL }, (double)c.kept[f]);
}

/* Only the families SNAT is asked for: an absent series is not a 0. */
static void snat_metrics(struct expo *e, const struct masqd_stats *st)
{
	if (!st->nat[0].snat_configured && !st->nat[1].snat_configured)
		return;
	family(e, M_SNAT_ADDRESS_PRESENT);
	for (int f = 0; f < 2; f++) {
		if (st->nat[f].snat_configured)
			sample(e, M_SNAT_ADDRESS_PRESENT,
			       (const char *[]){ "family", families[f], NULL },
			       st->nat[f].snat_present);
	}
}

/* Only with scoping asked for: 0 then says the scope is open (a Node's
 * podCIDRs not assigned yet). */
static void podsrc_metrics(struct expo *e, const struct masqd_stats *st)
{
	if (!st->pods.configured)
		return;
	family(e, M_POD_CIDRS);
	for (int f = 0; f < 2; f++)
		sample(e, M_POD_CIDRS, (const char *[]){ "family", families[f], NULL },
		       st->pods.now.n[f]);
}

/* Only with --conntrack-cleanup=udp: an absent series is not a 0. */
static void ct_metrics(struct expo *e, const struct masqd_ct_stats *ct)
{
	const struct {
		enum metric m;
		double v;
	} rows[] = {
		{ M_CONNTRACK_CLEANUPS_TOTAL, (double)ct->cleanups },
		{ M_CONNTRACK_CLEANUP_FAILURES_TOTAL, (double)ct->failures },
		{ M_CONNTRACK_CLEANUP_BOUNDED_TOTAL, (double)ct->bounded },
		{ M_CONNTRACK_EXAMINED_TOTAL, (double)ct->examined },
		{ M_CONNTRACK_DELETED_TOTAL, (double)ct->deleted },
		{ M_CONNTRACK_CLEANUP_SECONDS, ct->last_seconds },
		{ M_CONNTRACK_INFLIGHT_DELETED_TOTAL, (double)ct->inflight },
	};

	if (!ct->enabled)
		return;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		family(e, rows[i].m);
		sample(e, rows[i].m, NULL, rows[i].v);
	}
}

static void api_metrics(struct expo *e, const struct kube_stats *ks)
{
	char code[16];

	if (!ks)
		return;
	family(e, M_API_REQUESTS_TOTAL);
	for (int r = 0; r < KUBE_NRES; r++) {
		for (size_t i = 0; i < ks->ncodes[r]; i++) {
			if (ks->req[r][i].code)
				snprintf(code, sizeof(code), "%d", ks->req[r][i].code);
			else
				snprintf(code, sizeof(code), "<error>");
			sample(e, M_API_REQUESTS_TOTAL,
			       (const char *[]){ "resource", kube_res_names[r], "code", code,
						 NULL },
			       (double)ks->req[r][i].n);
		}
	}
	family(e, M_API_WATCH_RESTARTS_TOTAL);
	for (int r = 0; r < KUBE_NRES; r++) {
		for (int w = 0; w < KUBE_R_COUNT && ks->synced[r] + ks->ncodes[r]; w++)
			sample(e, M_API_WATCH_RESTARTS_TOTAL,
			       (const char *[]){ "resource", kube_res_names[r], "reason",
						 kube_restart_names[w], NULL },
			       (double)ks->restarts[r][w]);
	}
	family(e, M_API_UP);
	for (int r = 0; r < KUBE_NRES; r++) {
		if (ks->ncodes[r])
			sample(e, M_API_UP, (const char *[]){ "resource", kube_res_names[r], NULL },
			       ks->healthy[r]);
	}
	family(e, M_API_LIST_PAGES_TOTAL);
	for (int r = 0; r < KUBE_NRES; r++) {
		if (ks->ncodes[r])
			sample(e, M_API_LIST_PAGES_TOTAL,
			       (const char *[]){ "resource", kube_res_names[r], NULL },
			       (double)ks->list_pages[r]);
	}
	family(e, M_API_WATCH_LIST);
	for (int r = 0; r < KUBE_NRES; r++) {
		if (ks->synced[r])
			sample(e, M_API_WATCH_LIST,
			       (const char *[]){ "resource", kube_res_names[r], NULL },
			       ks->watch_list[r]);
	}
	if (ks->ncodes[KUBE_POLICIES]) {
		family(e, M_API_POLICIES_OVER_BUDGET);
		sample(e, M_API_POLICIES_OVER_BUDGET, NULL, (double)ks->over_budget);
	}
}

/* The standard process_* set, from /proc/self. */
static void process_metrics(struct expo *e)
{
	unsigned long utime = 0, stime = 0, vsize = 0;
	unsigned long long start = 0;
	long rss = 0, hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit rl = { 0 };
	FILE *f = fopen("/proc/self/stat", "re");
	char buf[1024];

	if (f && fgets(buf, sizeof(buf), f)) {
		const char *p = strrchr(buf, ')');
		if (p)
			sscanf(p + 2,
			       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d "
			       "%*d %*d %*d %llu %lu %ld",
			       &utime, &stime, &start, &vsize, &rss);
	}
	if (f)
		fclose(f);
	getrlimit(RLIMIT_NOFILE, &rl);
	family(e, M_PROCESS_CPU_SECONDS_TOTAL);
	sample(e, M_PROCESS_CPU_SECONDS_TOTAL, NULL, (double)(utime + stime) / (double)hz);
	family(e, M_PROCESS_RESIDENT_MEMORY_BYTES);
	sample(e, M_PROCESS_RESIDENT_MEMORY_BYTES, NULL, (double)rss * (double)page);
	family(e, M_PROCESS_VIRTUAL_MEMORY_BYTES);
	sample(e, M_PROCESS_VIRTUAL_MEMORY_BYTES, NULL, (double)vsize);
	family(e, M_PROCESS_START_TIME_SECONDS);
	sample(e, M_PROCESS_START_TIME_SECONDS, NULL,
	       stats_boot_time() + (double)start / (double)hz);
	family(e, M_PROCESS_OPEN_FDS);
	sample(e, M_PROCESS_OPEN_FDS, NULL, stats_open_fds());
	family(e, M_PROCESS_MAX_FDS);
	sample(e, M_PROCESS_MAX_FDS, NULL, (double)rl.rlim_cur);
}

static void reply_text(struct http_reply *out, unsigned status, const char *ctype, const char *text)
{
	out->status = status;
	out->content_type = ctype;
	out->body = strdup(text);
	out->len = out->body ? strlen(out->body) : 0;
}

static void serve_metrics(void *data, struct http_reply *out)
{
	const struct stats_view *v = data;
	const struct masqd_stats *st = v->st;
	struct expo *e = expo_new();
	const char *text;

	if (!e)
		return;
	build_info(e);
	sync_metrics(e, st);
	config_metrics(e, st);
	connection_metrics(e, v);
	snat_metrics(e, st);
	podsrc_metrics(e, st);
	ct_metrics(e, &st->ct);
	api_metrics(e, v->kube(v->ctx));
	process_metrics(e);
	text = expo_text(e, NULL);
	if (text)
		reply_text(out, 200, EXPO_CONTENT_TYPE, text);
	expo_free(e);
}

/* Liveness: answering at all proves the loop turns. Never fails on a bad
 * config or an API outage. */
static void serve_healthz(void *data, struct http_reply *out)
{
	reply_text(out, 200, "text/plain; charset=utf-8", "ok\n");
}

static void serve_readyz(void *data, struct http_reply *out)
{
	const struct stats_view *v = data;
	char why[STATS_WHY_LEN], line[STATS_WHY_LEN + 16];

	if (v->ready(v->ctx, why, sizeof(why))) {
		reply_text(out, 200, "text/plain; charset=utf-8", "ok\n");
		return;
	}
	snprintf(line, sizeof(line), "not ready: %s\n", why);
	reply_text(out, 503, "text/plain; charset=utf-8", line);
}

const struct http_route metrics_routes[] = {
	{ "/metrics", serve_metrics },
	{ NULL, NULL },
};

const struct http_route health_routes[] = {
	{ "/healthz", serve_healthz },
	{ "/readyz", serve_readyz },
	{ NULL, NULL },
};
