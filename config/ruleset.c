/* The desired ruleset from a config and flags, and its nft rendering. */
#include "config/ruleset.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/lpm.h"

/* upstream's iptables comments, so admins recognise each rule */
static const char comment_local[] = "ip-masq-agent: local traffic is not subject to MASQUERADE";
static const char comment_nomasq[] =
	"ip-masq-agent: cluster-local traffic should not be subject to MASQUERADE";
static const char comment_masq[] =
	"ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)";

static const char comment_podsrc[] = "masqd: sources outside the pod CIDRs keep their address";

const char *masq_ruleset_set_name(int family)
{
	return family == AF_INET6 ? MASQ_SET6 : MASQ_SET4;
}

const char *masq_ruleset_pod_set_name(int family)
{
	return family == AF_INET6 ? MASQ_PODSET6 : MASQ_PODSET4;
}

/* The addresses of family that keep the pod IP: the longest prefix among
 * the config's CIDRs, the link-local range unless masqueraded, and the
 * masqueradeCIDRs decides (config/lpm.h). */
static int family_ranges(const struct masq_config *cfg, const struct masq_opts *opts, int family,
			 struct addr_range **ret)
{
	struct cidr *keep = calloc(cfg->ncidrs + 2, sizeof(*keep));
	size_t n = cfg->ncidrs;
	int r;

	if (!keep)
		return -ENOMEM;
	if (cfg->ncidrs)
		memcpy(keep, cfg->cidrs, cfg->ncidrs * sizeof(*keep));
	n += cfg_link_local(cfg, opts, keep + n);
	r = lpm_resolve(keep, n, cfg->masq_cidrs, cfg->nmasq, family, ret);
	free(keep);
	return r;
}

const uint8_t masq_port_protos[MASQ_PORT_PROTOS] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };

/* One port, 1..65535, digits only. Returns the characters read, or 0. */
static size_t parse_port(const char *s, uint16_t *ret)
{
	unsigned long v = 0;
	size_t i = 0;

	while (s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (unsigned long)(s[i++] - '0');
		if (v > 65535)
			return 0;
	}
	if (i == 0 || v == 0)
		return 0;
	*ret = (uint16_t)v;
	return i;
}

/* One element of the list: PORT or FIRST-LAST, up to the next comma. */
static int parse_range(const char *s, size_t len, struct masq_port_range *ret, char *why,
		       size_t why_len)
{
	size_t n = parse_port(s, &ret->first);

	ret->last = ret->first;
	if (n && n < len && s[n] == '-') {
		size_t m = parse_port(s + n + 1, &ret->last);
		n = m ? n + 1 + m : 0;
	}
	if (n == 0 || n != len) {
		snprintf(why, why_len, "\"%.*s\" is not a port (1-65535) or a FIRST-LAST range",
			 (int)len, s);
		return -EINVAL;
	}
	if (ret->first > ret->last) {
		snprintf(why, why_len, "range \"%.*s\" is reversed", (int)len, s);
		return -EINVAL;
	}
	return 0;
}

int masq_ports_parse(const char *s, struct masq_opts *opts, char *why, size_t why_len)
{
	struct masq_port_range r[MASQ_PORT_RANGES_MAX];
	const char *p = s, *comma;
	unsigned n = 0;

	while (*s) { /* "" is no ranges, as upstream's default */
		size_t len = (comma = strchr(p, ',')) ? (size_t)(comma - p) : strlen(p);

		if (n == MASQ_PORT_RANGES_MAX) {
			snprintf(why, why_len, "more than %zu port ranges", MASQ_PORT_RANGES_MAX);
			return -EINVAL;
		}
		if (len == 0) {
			snprintf(why, why_len, "an empty port range in \"%s\"", s);
			return -EINVAL;
		}
		if (parse_range(p, len, &r[n++], why, why_len) < 0)
			return -EINVAL;
		if (!comma)
			break;
		p = comma + 1;
	}
	memcpy(opts->to_ports, r, n * sizeof(r[0]));
	opts->nto_ports = n;
	return 0;
}

static void add_rule(struct masq_ruleset *rs, enum masq_rule_kind kind, int family,
		     const char *comment)
{
	rs->rules[rs->nrules++] =
		(struct masq_rule){ .kind = kind, .family = family, .comment = comment };
}

/* Upstream's writeMasqToPortsRules, per protocol: range i is taken with
 * probability size_i / (the sizes of ranges i..n), so that overall each
 * range gets its share of the total size; the last range takes the rest.
 * numgen random mod M < N is that probability exactly. */
static void add_port_rules(struct masq_ruleset *rs, const struct masq_opts *opts, int family)
{
	uint32_t total = 0;

	for (unsigned i = 0; i < opts->nto_ports; i++)
		total += (uint32_t)(opts->to_ports[i].last - opts->to_ports[i].first) + 1;
	for (size_t p = 0; p < MASQ_PORT_PROTOS; p++) {
		uint32_t left = total;

		for (unsigned i = 0; i < opts->nto_ports; i++) {
			const struct masq_port_range *pr = &opts->to_ports[i];
			uint32_t size = (uint32_t)(pr->last - pr->first) + 1;

			rs->rules[rs->nrules++] = (struct masq_rule){
				.kind = MASQ_RULE_MASQUERADE_PORTS,
				.family = family,
				.comment = comment_masq,
				.l4proto = masq_port_protos[p],
				.port_first = pr->first,
				.port_last = pr->last,
				.ng_mod = size == left ? 0 : left,
				.ng_lt = size == left ? 0 : size,
			};
			left -= size;
		}
	}
}

/* Per family: its non-masquerade set, --to-ports, then masquerade the rest. */
static void add_family_rules(struct masq_ruleset *rs, const struct masq_opts *opts, int family)
{
	add_rule(rs, MASQ_RULE_NOMASQ_RETURN, family, comment_nomasq);
	add_port_rules(rs, opts, family);
	add_rule(rs, MASQ_RULE_MASQUERADE, family, comment_masq);
}

int masq_ruleset_build_rules(const struct masq_opts *opts, struct masq_ruleset **ret)
{
	struct masq_ruleset *rs;
	int r;

	if (opts->nto_ports > MASQ_PORT_RANGES_MAX)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->ipv6 = opts->enable_ipv6;
	rs->random_fully = opts->random_fully;
	/* Order as upstream's chain: local, non-masquerade, then masquerade last. */
	add_rule(rs, MASQ_RULE_LOCAL_RETURN, 0, comment_local);
	add_family_rules(rs, opts, AF_INET);
	if (rs->ipv6)
		add_family_rules(rs, opts, AF_INET6);
	r = masq_ruleset_set_podsrc(rs, &opts->pods);
	if (r < 0) {
		masq_ruleset_free(rs);
		return r;
	}
	*ret = rs;
	return 0;
}

int masq_ruleset_build(const struct masq_config *cfg, const struct masq_opts *opts,
		       struct masq_ruleset **ret)
{
	struct masq_ruleset *rs;
	int r = masq_ruleset_build_rules(opts, &rs);

	if (r < 0)
		return r;
	r = family_ranges(cfg, opts, AF_INET, &rs->v4);
	if (r < 0)
		goto fail;
	rs->n4 = (size_t)r;
	if (rs->ipv6) {
		r = family_ranges(cfg, opts, AF_INET6, &rs->v6);
		if (r < 0)
			goto fail;
		rs->n6 = (size_t)r;
	}
	*ret = rs;
	return 0;
fail:
	masq_ruleset_free(rs);
	return r;
}

/* Field by field: the structs have padding. */
static bool rule_equal(const struct masq_rule *a, const struct masq_rule *b)
{
	return a->kind == b->kind && a->family == b->family && a->comment == b->comment &&
	       a->l4proto == b->l4proto && a->port_first == b->port_first &&
	       a->port_last == b->port_last && a->ng_mod == b->ng_mod && a->ng_lt == b->ng_lt;
}

bool masq_ruleset_same_shape(const struct masq_ruleset *a, const struct masq_ruleset *b)
{
	if (a->ipv6 != b->ipv6 || a->random_fully != b->random_fully || a->nrules != b->nrules ||
	    memcmp(a->snat, b->snat, sizeof(a->snat)) != 0)
		return false;
	/* the pod sets change rarely (a Node's podCIDRs once): a new table */
	for (int fi = 0; fi < 2; fi++) {
		if (a->npod[fi] != b->npod[fi] ||
		    (a->npod[fi] &&
		     memcmp(a->pod[fi], b->pod[fi], a->npod[fi] * sizeof(*a->pod[fi])) != 0))
			return false;
	}
	for (size_t i = 0; i < a->nrules; i++) {
		if (!rule_equal(&a->rules[i], &b->rules[i]))
			return false;
	}
	return true;
}

void masq_ruleset_set_snat(struct masq_ruleset *rs, int family, const struct masq_snat *s)
{
	struct masq_snat *d = &rs->snat[family == AF_INET6];

	memset(d, 0, sizeof(*d)); /* compared with memcmp: no stale bytes */
	if (s && s->on)
		*d = *s;
}

static void drop_podsrc(struct masq_ruleset *rs)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->nrules; i++) {
		if (rs->rules[i].kind != MASQ_RULE_PODSRC_RETURN)
			rs->rules[n++] = rs->rules[i];
	}
	rs->nrules = n;
	for (int fi = 0; fi < 2; fi++) {
		free(rs->pod[fi]);
		rs->pod[fi] = NULL;
		rs->npod[fi] = 0;
	}
}

/* The scope rules go first: a packet from elsewhere is left alone before
 * anything else is looked at, with one set lookup per family. */
int masq_ruleset_set_podsrc(struct masq_ruleset *rs, const struct podsrc *p)
{
	struct masq_rule head[2];
	size_t nhead = 0;

	drop_podsrc(rs);
	for (int fi = 0; p && fi < (rs->ipv6 ? 2 : 1); fi++) {
		int family = fi ? AF_INET6 : AF_INET, r;

		if (!podsrc_scoped(p, fi))
			continue;
		r = cidr_merge(p->v[fi], p->n[fi], family, &rs->pod[fi]);
		if (r < 0) {
			drop_podsrc(rs);
			return r;
		}
		rs->npod[fi] = (size_t)r;
		head[nhead++] = (struct masq_rule){ .kind = MASQ_RULE_PODSRC_RETURN,
						    .family = family,
						    .comment = comment_podsrc };
	}
	memmove(rs->rules + nhead, rs->rules, rs->nrules * sizeof(rs->rules[0]));
	memcpy(rs->rules, head, nhead * sizeof(head[0]));
	rs->nrules += nhead;
	return 0;
}

void masq_ruleset_free(struct masq_ruleset *rs)
{
	if (!rs)
		return;
	free(rs->v4);
	free(rs->v6);
	free(rs->pod[0]);
	free(rs->pod[1]);
	free(rs);
}

/* nft prints IPv4 interval elements two per line and IPv6 ones one per line. */
static void render_set(const char *name, int family, const struct addr_range *r, size_t n, FILE *f)
{
	size_t per_line = family == AF_INET ? 2 : 1;

	fprintf(f, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n", name,
		family == AF_INET ? "ipv4_addr" : "ipv6_addr");
	for (size_t i = 0; i < n; i++) {
		char buf[CIDR_STRLEN];

		range_format(&r[i], family, buf);
		if (i == 0)
			fprintf(f, "\t\telements = { ");
		else if (i % per_line == 0)
			fprintf(f, ",\n\t\t\t     ");
		else
			fprintf(f, ", ");
		fprintf(f, "%s", buf);
	}
	fprintf(f, "%s\t}\n\n", n ? " }\n" : "");
}

/* As nft lists it: a single port without "-LAST", numgen before the counter. */
static void render_port_rule(const struct masq_ruleset *rs, const struct masq_rule *rule, FILE *f)
{
	const char *proto = rule->l4proto == IPPROTO_TCP   ? "tcp"
			    : rule->l4proto == IPPROTO_UDP ? "udp"
							   : "sctp";
	char action[SNAT_ACTION_LEN];

	fprintf(f, "meta nfproto ipv%s meta l4proto %s ", rule->family == AF_INET6 ? "6" : "4",
		proto);
	if (rule->ng_mod)
		fprintf(f, "numgen random mod %u < %u ", rule->ng_mod, rule->ng_lt);
	snat_action_format(&rs->snat[rule->family == AF_INET6], rule->family, rule->port_first,
			   rule->port_last, action);
	fprintf(f, "counter %s%s", action, rs->random_fully ? " fully-random" : "");
}

static void render_rule(const struct masq_ruleset *rs, const struct masq_rule *rule, FILE *f)
{
	const char *v = rule->family == AF_INET6 ? "6" : "4";
	char action[SNAT_ACTION_LEN];

	fprintf(f, "\t\t");
	switch (rule->kind) {
	case MASQ_RULE_LOCAL_RETURN:
		fprintf(f, "fib daddr type local return");
		break;
	case MASQ_RULE_NOMASQ_RETURN:
		fprintf(f, "ip%s daddr @%s counter return", rule->family == AF_INET6 ? "6" : "",
			masq_ruleset_set_name(rule->family));
		break;
	case MASQ_RULE_MASQUERADE:
		snat_action_format(&rs->snat[rule->family == AF_INET6], rule->family, 0, 0, action);
		fprintf(f, "meta nfproto ipv%s counter %s%s", v, action,
			rs->random_fully ? " fully-random" : "");
		break;
	case MASQ_RULE_MASQUERADE_PORTS:
		render_port_rule(rs, rule, f);
		break;
	case MASQ_RULE_PODSRC_RETURN:
		fprintf(f, "ip%s saddr != @%s return", rule->family == AF_INET6 ? "6" : "",
			masq_ruleset_pod_set_name(rule->family));
		break;
	}
	fprintf(f, " comment \"%s\"\n", rule->comment);
}

int masq_ruleset_render(const struct masq_ruleset *rs, FILE *f)
{
	fprintf(f, "table inet %s {\n\tcomment \"%s\"\n", MASQ_TABLE, MASQ_TABLE_COMMENT);
	/* in the order they are created (netlink/batch.c), as nft lists them */
	render_set(MASQ_SET4, AF_INET, rs->v4, rs->n4, f);
	if (rs->ipv6)
		render_set(MASQ_SET6, AF_INET6, rs->v6, rs->n6, f);
	for (int fi = 0; fi < 2; fi++) {
		if (rs->pod[fi])
			render_set(masq_ruleset_pod_set_name(fi ? AF_INET6 : AF_INET),
				   fi ? AF_INET6 : AF_INET, rs->pod[fi], rs->npod[fi], f);
	}
	fprintf(f, "\tchain %s {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
		MASQ_CHAIN);
	for (size_t i = 0; i < rs->nrules; i++)
		render_rule(rs, &rs->rules[i], f);
	fprintf(f, "\t}\n}\n");
	return ferror(f) ? -EIO : 0;
}

bool masq_ruleset_keeps_all(const struct masq_ruleset *rs, int family)
{
	const struct addr_range *r = family == AF_INET6 ? rs->v6 : rs->v4;
	size_t n = family == AF_INET6 ? rs->n6 : rs->n4, len = cidr_addr_len(family);

	/* the intervals are merged: the whole space is one */
	if (n != 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (r->lo[i] != 0 || r->hi[i] != 0xff)
			return false;
	}
	return true;
}
