#include "config/ruleset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* upstream's iptables comments, so admins recognise each rule */
static const char comment_local[] = "ip-masq-agent: local traffic is not subject to MASQUERADE";
static const char comment_nomasq[] =
	"ip-masq-agent: cluster-local traffic should not be subject to MASQUERADE";
static const char comment_masq[] =
	"ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)";

const char *masq_ruleset_set_name(int family)
{
	return family == AF_INET6 ? MASQ_SET6 : MASQ_SET4;
}

/* The config's CIDRs of one family plus, unless masqueraded, its link-local range. */
static int family_ranges(const struct masq_config *cfg, int family, bool add_link_local,
			 struct addr_range **ret)
{
	struct cidr *all = calloc(cfg->ncidrs + 1, sizeof(*all));
	size_t n = cfg->ncidrs;
	int r;

	if (!all)
		return -ENOMEM;
	if (cfg->ncidrs)
		memcpy(all, cfg->cidrs, cfg->ncidrs * sizeof(*all));
	if (add_link_local) {
		const char *ll = family == AF_INET ? "169.254.0.0/16" : "fe80::/10";
		r = cidr_parse(ll, &all[n++], NULL);
		if (r < 0) {
			free(all);
			return r;
		}
	}
	r = cidr_merge(all, n, family, ret);
	free(all);
	return r;
}

static void add_rule(struct masq_ruleset *rs, enum masq_rule_kind kind, int family,
		     const char *comment)
{
	rs->rules[rs->nrules++] = (struct masq_rule){ kind, family, comment };
}

int masq_ruleset_build(const struct masq_config *cfg, const struct masq_opts *opts,
		       struct masq_ruleset **ret)
{
	struct masq_ruleset *rs = calloc(1, sizeof(*rs));
	int r;

	if (!rs)
		return -ENOMEM;
	rs->ipv6 = opts->enable_ipv6;
	rs->random_fully = opts->random_fully;
	r = family_ranges(cfg, AF_INET, !cfg->masq_link_local, &rs->v4);
	if (r < 0)
		goto fail;
	rs->n4 = (size_t)r;
	if (rs->ipv6) {
		r = family_ranges(cfg, AF_INET6, !cfg->masq_link_local6, &rs->v6);
		if (r < 0)
			goto fail;
		rs->n6 = (size_t)r;
	}
	/* Order as upstream's chain: local, non-masquerade, then masquerade last. */
	add_rule(rs, MASQ_RULE_LOCAL_RETURN, 0, comment_local);
	add_rule(rs, MASQ_RULE_NOMASQ_RETURN, AF_INET, comment_nomasq);
	add_rule(rs, MASQ_RULE_MASQUERADE, AF_INET, comment_masq);
	if (rs->ipv6) {
		add_rule(rs, MASQ_RULE_NOMASQ_RETURN, AF_INET6, comment_nomasq);
		add_rule(rs, MASQ_RULE_MASQUERADE, AF_INET6, comment_masq);
	}
	*ret = rs;
	return 0;
fail:
	masq_ruleset_free(rs);
	return r;
}

bool masq_ruleset_same_shape(const struct masq_ruleset *a, const struct masq_ruleset *b)
{
	return a->ipv6 == b->ipv6 && a->random_fully == b->random_fully && a->nrules == b->nrules &&
	       memcmp(a->rules, b->rules, a->nrules * sizeof(a->rules[0])) == 0;
}

void masq_ruleset_free(struct masq_ruleset *rs)
{
	if (!rs)
		return;
	free(rs->v4);
	free(rs->v6);
	free(rs);
}

/* nft prints IPv4 interval elements two per line and IPv6 ones one per line. */
static void render_set(const struct masq_ruleset *rs, int family, FILE *f)
{
	const struct addr_range *r = family == AF_INET ? rs->v4 : rs->v6;
	size_t n = family == AF_INET ? rs->n4 : rs->n6, per_line = family == AF_INET ? 2 : 1;

	fprintf(f, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n", masq_ruleset_set_name(family),
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

static void render_rule(const struct masq_ruleset *rs, const struct masq_rule *rule, FILE *f)
{
	const char *v = rule->family == AF_INET6 ? "6" : "4";

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
		fprintf(f, "meta nfproto ipv%s counter masquerade%s", v,
			rs->random_fully ? " fully-random" : "");
		break;
	}
	fprintf(f, " comment \"%s\"\n", rule->comment);
}

int masq_ruleset_render(const struct masq_ruleset *rs, FILE *f)
{
	fprintf(f, "table inet %s {\n\tcomment \"%s\"\n", MASQ_TABLE, MASQ_TABLE_COMMENT);
	render_set(rs, AF_INET, f);
	if (rs->ipv6)
		render_set(rs, AF_INET6, f);
	fprintf(f, "\tchain %s {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
		MASQ_CHAIN);
	for (size_t i = 0; i < rs->nrules; i++)
		render_rule(rs, &rs->rules[i], f);
	fprintf(f, "\t}\n}\n");
	return ferror(f) ? -EIO : 0;
}
