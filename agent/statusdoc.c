/* The status document masqctl status reads (JSON): readiness, the sources,
 * the last sync, the counters, the NAT in force, the pod-source scope, the
 * conntrack cleanup and the other NAT chains at the hook. Served by
 * agent/status.c's socket. */
#include "agent/statusdoc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/natconflict.h"
#include "agent/stats.h"
#include "config/cidr.h"
#include "config/sources.h"
#include "netlink/nft.h"
#include "netlink/state.h"

static const char *const families[2] = { "ipv4", "ipv6" };

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
		"{sI sI sI sI sI sI sI}", "syncs", (json_int_t)st->syncs, "syncFailures",
		(json_int_t)st->sync_failures, "syncRetries", (json_int_t)st->sync_retries,
		"configReloads", (json_int_t)total_reloads(st, true), "configReloadFailures",
		(json_int_t)total_reloads(st, false), "driftRepairs", (json_int_t)st->drift_repairs,
		"adoptions", (json_int_t)st->adoptions);

	if (o && v->connections(v->ctx, &c) == 0)
		json_object_set_new(o, "connections",
				    json_pack("{s{sI sI} s{sI sI}}", "ipv4", "masqueraded",
					      (json_int_t)c.masqueraded[0], "notMasqueraded",
					      (json_int_t)c.kept[0], "ipv6", "masqueraded",
					      (json_int_t)c.masqueraded[1], "notMasqueraded",
					      (json_int_t)c.kept[1]));
	return o;
}

/* What the final rule of each family does now. */
static json_t *nat_json(const struct masqd_stats *st)
{
	json_t *o = json_object();

	for (int f = 0; o && f < 2; f++) {
		json_t *n = json_pack("{s:s}", "action", st->nat[f].action);

		if (n && st->nat[f].snat_configured) {
			json_object_set_new(n, "snatAddressPresent",
					    json_boolean(st->nat[f].snat_present));
			json_object_set_new(n, "snatChanges",
					    json_integer((json_int_t)st->nat[f].snat_changes));
			json_object_set_new(n, "lastChangeSeconds",
					    json_real(st->nat[f].snat_reaction_seconds));
		}
		json_object_set_new(o, families[f], n);
	}
	return o;
}

/* The pod-source scope: each family's pod CIDRs, an array of strings as
 * explain --json's CIDR lists (empty: every source is decided), and the Node. */
static json_t *podsrc_json(const struct masqd_stats *st)
{
	const struct masqd_podsrc_stats *p = &st->pods;
	json_t *o = json_object();
	char c[CIDR_STRLEN];

	for (int f = 0; o && f < 2; f++) {
		json_t *a = json_array();

		for (size_t i = 0; a && i < p->now.n[f]; i++) {
			cidr_format(&p->now.v[f][i], c);
			json_array_append_new(a, json_string(c));
		}
		json_object_set_new(o, families[f], a);
	}
	if (o && p->node)
		json_object_set_new(o, "fromNode",
				    json_pack("{s:s s:b s:b}", "name", p->node, "listed",
					      p->node_listed, "exists", p->node_present));
	return o;
}

/* --conntrack-cleanup=udp's counts (the caller asks only with it). */
static json_t *ct_json(const struct masqd_ct_stats *ct)
{
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:f}", "mode", "udp", "cleanups",
			 (json_int_t)ct->cleanups, "failures", (json_int_t)ct->failures, "examined",
			 (json_int_t)ct->examined, "deleted", (json_int_t)ct->deleted,
			 "inflightDeleted", (json_int_t)ct->inflight, "lastSeconds",
			 ct->last_seconds);
}

/* Seconds until the pending retry of a failed sync; 0: none pending. */
static double retry_in(const struct masqd_stats *st)
{
	double d = st->retry_unix - stats_wall_now();

	return st->retry_unix > 0 && d > 0 ? d : 0;
}

char *statusdoc_json(const struct stats_view *v)
{
	const struct masqd_stats *st = v->st;
	char why[STATS_WHY_LEN];
	bool ready = v->ready(v->ctx, why, sizeof(why));
	json_t *doc = json_pack(
		"{s:s s:s s:b s:s s:o s:{s:f s:f s:b s:s s:i s:f} s:{s:i s:i} s:s s:o}", "version",
		MASQD_VERSION, "revision", MASQD_REVISION, "ready", ready, "readyReason", why,
		"sources", config_json(st), "lastSync", "unixTime", st->last_sync_unix,
		"durationSeconds", st->last_sync_seconds, "ok", st->last_sync_ok, "error",
		st->last_sync_error, "failuresInARow", (int)st->sync_failing, "retryInSeconds",
		retry_in(st), "nonMasqueradeCIDRs", "ipv4", (int)st->cidrs[0], "ipv6",
		(int)st->cidrs[1], "table",
		st->table_flags ? "owner,persist (protected while masqd runs)" : "plain",
		"counters", counters_json(v, st));
	char *text;

	if (doc)
		json_object_set_new(doc, "nat", nat_json(st));
	if (doc && st->pods.configured)
		json_object_set_new(doc, "podSource", podsrc_json(st));
	if (doc && st->ct.enabled)
		json_object_set_new(doc, "conntrackCleanup", ct_json(&st->ct));
	if (doc)
		json_object_set_new(doc, "natConflicts", natconflict_json(&st->natc, NULL, false));
	text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	return text;
}
