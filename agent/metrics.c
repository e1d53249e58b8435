#include "agent/metrics.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/expo.h"
#include "agent/kube.h"
#include "agent/stats.h"
#include "config/sources.h"
#include "netlink/nft.h"
#include "netlink/state.h"

static const char *const families[2] = { "ipv4", "ipv6" };

static void build_info(struct expo *e)
{
	const char *labels[] = { "version", MASQD_VERSION, "revision", MASQD_REVISION, NULL };

	expo_family(e, "masqd_build_info", "gauge",
		    "A metric with a constant 1 labeled by masqd's version and revision.");
	expo_sample(e, "masqd_build_info", labels, 1);
}

static void sync_metrics(struct expo *e, const struct masqd_stats *st)
{
	expo_family(e, "masqd_sync_duration_seconds", "histogram",
		    "Time to reconcile the kernel's rules with the config: read back, compare, "
		    "and commit when they differ.");
	expo_histogram(e, "masqd_sync_duration_seconds", NULL, stats_sync_bounds, st->sync_hist,
		       STATS_SYNC_BUCKETS, st->sync_seconds_sum);
	expo_family(e, "masqd_last_sync_timestamp_seconds", "gauge",
		    "Unix time of the last successful sync (0 before the first).");
	expo_sample(e, "masqd_last_sync_timestamp_seconds", NULL, st->last_sync_unix);
	expo_family(e, "masqd_sync_failures_total", "counter",
		    "Syncs the kernel refused; one nftables transaction covers both families.");
	expo_sample(e, "masqd_sync_failures_total", NULL, (double)st->sync_failures);
	expo_family(e, "masqd_drift_repairs_total", "counter",
		    "Times the table had been changed by someone else and was restored.");
	expo_sample(e, "masqd_drift_repairs_total", NULL, (double)st->drift_repairs);
	expo_family(
		e, "masqd_legacy_chain_present", "gauge",
		"1 while upstream ip-masq-agent's iptables-nft chain (--masq-chain) is still in "
		"the nat table of the family: it overrides masqd's decisions.");
	for (int f = 0; f < 2; f++)
		expo_sample(e, "masqd_legacy_chain_present",
			    (const char *[]){ "family", families[f], NULL }, st->legacy[f]);
	expo_family(e, "masqd_legacy_chain_removals_total", "counter",
		    "Times --remove-legacy-chain deleted upstream's chain.");
	expo_sample(e, "masqd_legacy_chain_removals_total", NULL, (double)st->legacy_removed);
	expo_family(e, "masqd_table_adoptions_total", "counter",
		    "Times masqd took over the table a previous masqd left, unchanged.");
	expo_sample(e, "masqd_table_adoptions_total", NULL, (double)st->adoptions);
}

static void config_metrics(struct expo *e, const struct masqd_stats *st)
{
	expo_family(e, "masqd_config_reloads_total", "counter",
		    "Config loads by source and result; a failed one keeps the last good config.");
	for (int k = 0; k < SOURCE_COUNT; k++) {
		if (!st->src[k].used && !st->src[k].reloads_ok && !st->src[k].reloads_failed)
			continue;
		expo_sample(
			e, "masqd_config_reloads_total",
			(const char *[]){ "source", source_names[k], "result", "success", NULL },
			(double)st->src[k].reloads_ok);
		expo_sample(
			e, "masqd_config_reloads_total",
			(const char *[]){ "source", source_names[k], "result", "failure", NULL },
			(double)st->src[k].reloads_failed);
	}
	expo_family(e, "masqd_config_last_load_success", "gauge",
		    "1 when the last load of the source succeeded, 0 when it failed.");
	for (int k = 0; k < SOURCE_COUNT; k++) {
		if (st->src[k].used)
			expo_sample(e, "masqd_config_last_load_success",
				    (const char *[]){ "source", source_names[k], NULL },
				    st->src[k].ok);
	}
	expo_family(e, "masqd_nonmasquerade_cidrs", "gauge",
		    "Non-masquerade CIDRs programmed, by family, link-local included when kept.");
	for (int f = 0; f < 2; f++)
		expo_sample(e, "masqd_nonmasquerade_cidrs",
			    (const char *[]){ "family", families[f], NULL }, st->cidrs[f]);
}

/* A nat chain sees a connection's first packet only: these count connections. */
static void connection_metrics(struct expo *e, const struct stats_view *v)
{
	struct nft_counters c;

	if (v->connections(v->ctx, &c) < 0)
		return; /* no table to read: leave the families out rather than report zeros */
	expo_family(e, "masqd_masqueraded_connections_total", "counter",
		    "New connections that left with the node's address, by family.");
	for (int f = 0; f < 2; f++)
		expo_sample(e, "masqd_masqueraded_connections_total",
			    (const char *[]){ "family", families[f], NULL },
			    (double)c.masqueraded[f]);
	expo_family(
		e, "masqd_not_masqueraded_connections_total", "counter",
		"New connections to a non-masquerade CIDR, which kept the pod's address, by family.");
	for (int f = 0; f < 2; f++)
		expo_sample(e, "masqd_not_masqueraded_connections_total",
			    (const char *[]){ "family", families[f], NULL }, (double)c.kept[f]);
}

static void api_metrics(struct expo *e, const struct kube_stats *ks)
{
	char code[16];

	if (!ks)
		return;
	expo_family(
		e, "masqd_api_requests_total", "counter",
		"Requests to the Kubernetes API by resource and HTTP code (<error>: no answer).");
	for (int r = 0; r < KUBE_NRES; r++) {
		for (size_t i = 0; i < ks->ncodes[r]; i++) {
			if (ks->req[r][i].code)
				snprintf(code, sizeof(code), "%d", ks->req[r][i].code);
			else
				snprintf(code, sizeof(code), "<error>");
			expo_sample(e, "masqd_api_requests_total",
				    (const char *[]){ "resource", kube_res_names[r], "code", code,
						      NULL },
				    (double)ks->req[r][i].n);
		}
	}
	expo_family(
		e, "masqd_api_watch_restarts_total", "counter",
		"Watches (or lists) restarted, by resource and reason; expired means a relist.");
	for (int r = 0; r < KUBE_NRES; r++) {
		for (int w = 0; w < KUBE_R_COUNT && ks->synced[r] + ks->ncodes[r]; w++)
			expo_sample(e, "masqd_api_watch_restarts_total",
				    (const char *[]){ "resource", kube_res_names[r], "reason",
						      kube_restart_names[w], NULL },
				    (double)ks->restarts[r][w]);
	}
	expo_family(
		e, "masqd_api_up", "gauge",
		"1 while the API answers the watch of the resource; the last state stays when 0.");
	for (int r = 0; r < KUBE_NRES; r++) {
		if (ks->ncodes[r])
			expo_sample(e, "masqd_api_up",
				    (const char *[]){ "resource", kube_res_names[r], NULL },
				    ks->healthy[r]);
	}
}

static double boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	double btime = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "btime %lf", &btime) == 1)
			break;
	}
	if (f)
		fclose(f);
	return btime;
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n > 2 ? n - 3 : 0; /* ".", ".." and the directory's own fd */
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
	expo_family(e, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.");
	expo_sample(e, "process_cpu_seconds_total", NULL, (double)(utime + stime) / (double)hz);
	expo_family(e, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	expo_sample(e, "process_resident_memory_bytes", NULL, (double)rss * (double)page);
	expo_family(e, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	expo_sample(e, "process_virtual_memory_bytes", NULL, (double)vsize);
	expo_family(e, "process_start_time_seconds", "gauge",
		    "Start time of the process since unix epoch in seconds.");
	expo_sample(e, "process_start_time_seconds", NULL,
		    boot_time() + (double)start / (double)hz);
	expo_family(e, "process_open_fds", "gauge", "Number of open file descriptors.");
	expo_sample(e, "process_open_fds", NULL, open_fds());
	expo_family(e, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	expo_sample(e, "process_max_fds", NULL, (double)rl.rlim_cur);
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

static json_t *config_json(const struct masqd_stats *st)
{
	json_t *list = json_array();

	for (int k = 0; k < SOURCE_COUNT; k++) {
		json_t *src;

		if (!st->src[k].used)
			continue;
		src = json_pack("{s:s s:s s:s}", "source", source_names[k], "path", st->src[k].path,
				"state", st->src[k].ok ? "ok" : "error");
		if (src && !st->src[k].ok)
			json_object_set_new(src, "error", json_string(st->src[k].error));
		json_array_append_new(list, src);
	}
	return list;
}

static uint64_t total_reloads(const struct masqd_stats *st, bool ok)
{
	uint64_t n = 0;

	for (int k = 0; k < SOURCE_COUNT; k++)
		n += ok ? st->src[k].reloads_ok : st->src[k].reloads_failed;
	return n;
}

static json_t *counters_json(const struct stats_view *v, const struct masqd_stats *st)
{
	struct nft_counters c = { 0 };
	json_t *o = json_pack(
		"{sI sI sI sI sI sI}", "syncs", (json_int_t)st->syncs, "syncFailures",
		(json_int_t)st->sync_failures, "configReloads", (json_int_t)total_reloads(st, true),
		"configReloadFailures", (json_int_t)total_reloads(st, false), "driftRepairs",
		(json_int_t)st->drift_repairs, "adoptions", (json_int_t)st->adoptions);

	if (o && v->connections(v->ctx, &c) == 0)
		json_object_set_new(o, "connections",
				    json_pack("{s{sI sI} s{sI sI}}", "ipv4", "masqueraded",
					      (json_int_t)c.masqueraded[0], "notMasqueraded",
					      (json_int_t)c.kept[0], "ipv6", "masqueraded",
					      (json_int_t)c.masqueraded[1], "notMasqueraded",
					      (json_int_t)c.kept[1]));
	return o;
}

char *metrics_status_json(const struct stats_view *v)
{
	const struct masqd_stats *st = v->st;
	char why[STATS_WHY_LEN];
	bool ready = v->ready(v->ctx, why, sizeof(why));
	json_t *doc =
		json_pack("{s:s s:s s:b s:s s:o s:{s:f s:f s:b s:s} s:{s:i s:i} s:s s:o}",
			  "version", MASQD_VERSION, "revision", MASQD_REVISION, "ready", ready,
			  "readyReason", why, "sources", config_json(st), "lastSync", "unixTime",
			  st->last_sync_unix, "durationSeconds", st->last_sync_seconds, "ok",
			  st->last_sync_ok, "error", st->last_sync_error, "nonMasqueradeCIDRs",
			  "ipv4", (int)st->cidrs[0], "ipv6", (int)st->cidrs[1], "table",
			  st->table_flags ? "owner,persist (protected while masqd runs)" : "plain",
			  "counters", counters_json(v, st));
	char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	json_decref(doc);
	return text;
}
