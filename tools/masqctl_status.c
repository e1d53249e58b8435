/* masqctl status's text form: the status document, a line per part. */
#include "tools/masqctl_status.h"

#include <stdio.h>
#include <time.h>

/* The other NAT chains at masqd's hook, from the status document. */
static void print_conflicts(json_t *list)
{
	json_t *c;
	size_t i;

	if (!json_is_array(list))
		return;
	if (!json_array_size(list)) {
		printf("other NAT chains at the nat postrouting hook: none\n");
		return;
	}
	printf("other NAT chains at the nat postrouting hook (masqd's: priority 100; one that runs "
	       "before decides first, one after can masquerade what masqd kept):\n");
	json_array_foreach(list, i, c) {
		const char *via = json_string_value(json_object_get(c, "via"));
		printf("  %s %s %s, priority %lld, runs %s masqd: %s%s%s for %s%s\n",
		       json_string_value(json_object_get(c, "family")),
		       json_string_value(json_object_get(c, "table")),
		       json_string_value(json_object_get(c, "chain")),
		       (long long)json_integer_value(json_object_get(c, "priority")),
		       json_string_value(json_object_get(c, "runs")),
		       json_string_value(json_object_get(c, "nat")), via && via[0] ? " via " : "",
		       via ? via : "", json_string_value(json_object_get(c, "natFor")),
		       json_is_true(json_object_get(c, "tableOwned"))
			       ? " (its table goes when the process that owns it exits)"
			       : "");
	}
}

/* The pod-source scope, a line per family: its pod CIDRs (an array in the
 * document; empty: every source is decided), and the Node they come from. */
static void print_pods(json_t *p)
{
	json_t *n = json_object_get(p, "fromNode"), *c;
	size_t j;

	for (int i = 0; p && i < 2; i++) {
		json_t *list = json_object_get(p, i ? "ipv6" : "ipv4");

		printf("pod-source scope %s: ", i ? "IPv6" : "IPv4");
		json_array_foreach(list, j, c)
			printf("%s%s", j ? ", " : "", json_string_value(c));
		printf("%s%s%s\n", json_array_size(list) ? "" : "every source (no pod CIDR known)",
		       n ? ", from node " : "",
		       n ? json_string_value(json_object_get(n, "name")) : "");
	}
}

static const char *when(double unix_time, char *buf, size_t len)
{
	time_t t = (time_t)unix_time;
	struct tm tm;

	if (unix_time <= 0)
		return "never";
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

void masqctl_print_status(json_t *d)
{
	json_t *src, *sync = json_object_get(d, "lastSync"), *cnt = json_object_get(d, "counters");
	json_t *cidrs = json_object_get(d, "nonMasqueradeCIDRs"), *conn, *ct;
	size_t i;
	char t[32];

	printf("masqd %s (%s): %s\n", json_string_value(json_object_get(d, "version")),
	       json_string_value(json_object_get(d, "revision")),
	       json_is_true(json_object_get(d, "ready"))
		       ? "ready"
		       : json_string_value(json_object_get(d, "readyReason")));
	printf("config sources:\n");
	json_array_foreach(json_object_get(d, "sources"), i, src) {
		json_t *err = json_object_get(src, "error");
		printf("  %s %s: %s%s%s\n", json_string_value(json_object_get(src, "source")),
		       json_string_value(json_object_get(src, "path")),
		       err ? "error (the last good config stays in force): " : "OK",
		       err ? json_string_value(err) : "", "");
	}
	printf("last sync: %s, took %.3f ms, %s%s\n",
	       when(json_real_value(json_object_get(sync, "unixTime")), t, sizeof(t)),
	       json_real_value(json_object_get(sync, "durationSeconds")) * 1e3,
	       json_is_true(json_object_get(sync, "ok")) ? "succeeded" : "failed: ",
	       json_is_true(json_object_get(sync, "ok"))
		       ? ""
		       : json_string_value(json_object_get(sync, "error")));
	if (json_real_value(json_object_get(sync, "retryInSeconds")) > 0)
		printf("  %lld failed in a row, the last good rules stay; trying again in %.1fs\n",
		       (long long)json_integer_value(json_object_get(sync, "failuresInARow")),
		       json_real_value(json_object_get(sync, "retryInSeconds")));
	printf("non-masquerade CIDRs: %lld IPv4, %lld IPv6\n",
	       (long long)json_integer_value(json_object_get(cidrs, "ipv4")),
	       (long long)json_integer_value(json_object_get(cidrs, "ipv6")));
	printf("table: inet ip-masq-agent, %s\n", json_string_value(json_object_get(d, "table")));
	printf("counters: %lld syncs (%lld failed), %lld config loads (%lld failed), %lld drift "
	       "repairs, %lld adoptions\n",
	       (long long)json_integer_value(json_object_get(cnt, "syncs")),
	       (long long)json_integer_value(json_object_get(cnt, "syncFailures")),
	       (long long)json_integer_value(json_object_get(cnt, "configReloads")),
	       (long long)json_integer_value(json_object_get(cnt, "configReloadFailures")),
	       (long long)json_integer_value(json_object_get(cnt, "driftRepairs")),
	       (long long)json_integer_value(json_object_get(cnt, "adoptions")));
	for (i = 0; i < 2; i++) {
		json_t *nat = json_object_get(json_object_get(d, "nat"), i ? "ipv6" : "ipv4");
		if (nat)
			printf("final rule %s: %s\n", i ? "IPv6" : "IPv4",
			       json_string_value(json_object_get(nat, "action")));
	}
	print_pods(json_object_get(d, "podSource"));
	if ((ct = json_object_get(d, "conntrackCleanup")))
		printf("conntrack cleanup: %s, %lld cleanups (%lld failed), %lld UDP entries deleted "
		       "of %lld examined, the last in %.3f ms\n",
		       json_string_value(json_object_get(ct, "mode")),
		       (long long)json_integer_value(json_object_get(ct, "cleanups")),
		       (long long)json_integer_value(json_object_get(ct, "failures")),
		       (long long)json_integer_value(json_object_get(ct, "deleted")),
		       (long long)json_integer_value(json_object_get(ct, "examined")),
		       json_real_value(json_object_get(ct, "lastSeconds")) * 1e3);
	conn = json_object_get(cnt, "connections");
	for (i = 0; conn && i < 2; i++) {
		json_t *f = json_object_get(conn, i ? "ipv6" : "ipv4");
		printf("connections %s: %lld masqueraded, %lld kept the pod IP\n",
		       i ? "IPv6" : "IPv4",
		       (long long)json_integer_value(json_object_get(f, "masqueraded")),
		       (long long)json_integer_value(json_object_get(f, "notMasqueraded")));
	}
	print_conflicts(json_object_get(d, "natConflicts"));
}
