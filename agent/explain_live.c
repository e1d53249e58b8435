/* The live explanation: masqctl explain's answer for the sources as masqd
 * reads them now, whether that is what it applied, and what the kernel's
 * set says of the address. */
#include "agent/explain_live.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include "agent/intake.h"
#include "agent/natconflict.h"
#include "config/snat.h"
#include "config/explain.h"
#include "config/ruleset.h"
#include "netlink/lookup.h"

static char *error_doc(const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *doc;

	doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return doc;
}

/* What the kernel's set holds for dest, against the decision. */
static json_t *kernel_json(struct nft_sock *nft, const struct explain *e)
{
	bool holds;
	int r;

	if (!e->family_on)
		return json_null();
	r = nft_set_lookup(nft, &e->dest, &holds);
	if (r < 0)
		return json_pack("{s:s, s:s}", "set",
				 e->dest.family == AF_INET6 ? MASQ_SET6 : MASQ_SET4, "error",
				 strerror(-r));
	return json_pack("{s:s, s:b, s:b}", "set",
			 e->dest.family == AF_INET6 ? MASQ_SET6 : MASQ_SET4, "holds", holds,
			 "agrees", holds == !e->masqueraded);
}

/* The source address a masqueraded packet of dest's family leaves with. */
static void leaves_with(const struct explain *e, const struct masq_snat *snat, FILE *f, char *buf,
			size_t len)
{
	int v6 = e->dest.family == AF_INET6;

	if (snat && snat[v6].on && inet_ntop(v6 ? AF_INET6 : AF_INET, snat[v6].addr, buf, len)) {
		fprintf(f, "  leaves with %s (snat to the node address followed)\n", buf);
		return;
	}
	snprintf(buf, len, "%s", snat ? "masquerade (the SNAT address is absent)" : "masquerade");
	fprintf(f, "  leaves with the address of the interface it goes out by (%s)\n", buf);
}

char *explain_live(struct intake *in, struct nft_sock *nft, const struct masq_snat *snat,
		   const struct podsrc *pods, const struct masqd_stats *st, const char *addr)
{
	char action[INET6_ADDRSTRLEN + 64] = "";
	struct masq_merged m;
	struct explain e;
	struct cidr dest;
	bool current;
	char *text = NULL, *doc = NULL;
	size_t tlen = 0;
	FILE *f;
	json_t *o;
	int r;

	char msg[300];

	if (strlen(addr) >= CIDR_STRLEN || cidr_parse_host(addr, &dest) < 0) {
		snprintf(msg, sizeof(msg), "\"%.64s\" is not an IPv4 or IPv6 address", addr);
		return error_doc(msg);
	}
	r = intake_explain(in, &dest, pods, &m, &e, &current);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "the sources cannot be read: %s", strerror(-r));
		return error_doc(msg);
	}
	f = open_memstream(&text, &tlen);
	if (f) {
		explain_write(&e, addr, NULL, f);
		if (e.family_on && e.masqueraded)
			leaves_with(&e, snat, f, action, sizeof(action));
		if (e.family_on)
			natconflict_write(&st->natc, &e.dest, e.masqueraded, f);
		fclose(f);
	}
	o = json_pack("{s:o, s:s?, s:b, s:o, s:s?, s:o}", "explain",
		      explain_to_json(&e, addr, NULL), "text", text, "current", current, "kernel",
		      kernel_json(nft, &e), "leavesWith", action[0] ? action : NULL, "natConflicts",
		      natconflict_json(&st->natc, &e.dest, e.masqueraded));
	if (o)
		doc = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(text);
	explain_clear(&e);
	merged_clear(&m);
	return doc;
}
