/* Pod-source scoping: --pod-cidr's checks, a Node's spec.podCIDRs, the
 * scope rules in the ruleset and its rendering, their netlink expressions
 * (parsed back and compared with what nft builds) and the canonical state
 * that drift healing compares. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <jansson.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/statusdoc.h"
#include "agent/podsrc.h"
#include "agent/stats.h"
#include "config/config.h"
#include "config/node.h"
#include "config/podsrc.h"
#include "config/ruleset.h"
#include "netlink/batch.h"
#include "netlink/state.h"
#include "netlink/table.h"

static char why[256];

static int parse(bool ipv6, struct podsrc *ret, size_t n, ...)
{
	struct flag_strings a = { .n = n };
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		a.v[i] = va_arg(ap, const char *);
	va_end(ap);
	why[0] = '\0';
	return podsrc_parse_flag(&a, ipv6, ret, why, sizeof(why));
}

static void expect_rejected(int r, const char *needle)
{
	assert_int_equal(r, -EINVAL);
	if (!strstr(why, needle))
		fail_msg("\"%s\" does not say \"%s\"", why, needle);
}

static struct cidr host(const char *s)
{
	struct cidr c;

	assert_int_equal(cidr_parse_host(s, &c), 0);
	return c;
}

static void test_flag_accepted(void **state)
{
	struct cidr a = host("10.244.1.7"), b = host("10.244.2.7"), c = host("10.9.0.1"),
		    d = host("fd00:244:1::2"), e = host("fd00:244:2::2");
	struct podsrc p;
	char text[PODSRC_TEXT_LEN];

	assert_int_equal(parse(false, &p, 0), 0);
	assert_false(podsrc_scoped(&p, 0) || podsrc_scoped(&p, 1));
	/* a comma list, repeated, both families, a duplicate counted once */
	assert_int_equal(
		parse(true, &p, 2, "10.244.1.0/24,fd00:244:1::/64", "10.244.1.0/24,10.8.0.0/14"),
		0);
	assert_int_equal(p.n[0], 2);
	assert_int_equal(p.n[1], 1);
	podsrc_format(&p, 0, text);
	assert_string_equal(text, "10.244.1.0/24, 10.8.0.0/14");
	podsrc_format(&p, 1, text);
	assert_string_equal(text, "fd00:244:1::/64");
	assert_true(podsrc_contains(&p, &a));
	assert_false(podsrc_contains(&p, &b));
	assert_true(podsrc_contains(&p, &c));
	assert_true(podsrc_contains(&p, &d));
	assert_false(podsrc_contains(&p, &e));
}

static void test_flag_rejected(void **state)
{
	struct podsrc p;
	char big[PODSRC_MAX * 20 + 32];
	size_t o = 0;

	expect_rejected(parse(false, &p, 1, "10.244.1.1/24"),
			"10.244.1.1/24 has host bits set (did you mean 10.244.1.0/24?)");
	expect_rejected(parse(false, &p, 1, "pods"), "\"pods\" is not a CIDR");
	expect_rejected(parse(false, &p, 1, "10.244.1.0"), "is not a CIDR");
	expect_rejected(parse(false, &p, 1, "10.244.1.0/24,"), "\"\" is not a CIDR");
	expect_rejected(parse(false, &p, 1, ""), "\"\" is not a CIDR");
	expect_rejected(parse(false, &p, 1, "fd00::/64"), "is IPv6: add --enable-ipv6");
	for (int i = 0; i <= PODSRC_MAX; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s10.%d.0.0/16", i ? "," : "", i);
	expect_rejected(parse(false, &p, 1, big), "more than 64 IPv4 CIDRs");
	big[strrchr(big, ',') - big] = '\0'; /* 64: the bound itself is fine */
	assert_int_equal(parse(false, &p, 1, big), 0);
	assert_int_equal(p.n[0], PODSRC_MAX);
}

static int node(const char *json, struct node_pods *ret)
{
	json_t *o = json_loads(json, JSON_ALLOW_NUL, NULL);
	int r;

	assert_non_null(o);
	why[0] = '\0';
	r = node_pods_parse(o, ret, why, sizeof(why));
	json_decref(o);
	return r;
}

static void test_node_pod_cidrs(void **state)
{
	struct node_pods p, q;
	char c[CIDR_STRLEN];

	/* unassigned yet: present, none */
	assert_int_equal(node("{\"metadata\":{\"name\":\"n1\"},\"spec\":{}}", &p), 0);
	assert_true(p.present);
	assert_int_equal(p.n, 0);
	assert_int_equal(node("{\"spec\":{\"podCIDRs\":null,\"podCIDR\":\"\"}}", &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(node("{\"metadata\":{}}", &p), 0);
	assert_int_equal(p.n, 0);
	/* dual stack */
	assert_int_equal(node("{\"spec\":{\"podCIDR\":\"10.244.1.0/24\",\"podCIDRs\":"
			      "[\"10.244.1.0/24\",\"fd00:244:1::/64\"]}}",
			      &p),
			 0);
	assert_int_equal(p.n, 2);
	cidr_format(&p.v[1], c);
	assert_string_equal(c, "fd00:244:1::/64");
	/* the older field alone */
	assert_int_equal(node("{\"spec\":{\"podCIDR\":\"10.244.3.0/24\"}}", &q), 0);
	assert_int_equal(q.n, 1);
	assert_false(node_pods_equal(&p, &q));
	assert_true(node_pods_equal(&q, &q));
}

static void test_node_rejected(void **state)
{
	struct node_pods p = { .n = 7 };

	assert_int_equal(node("[]", &p), -EINVAL);
	assert_non_null(strstr(why, "not an object"));
	assert_int_equal(node("{\"spec\":\"x\"}", &p), -EINVAL);
	assert_int_equal(node("{\"spec\":{\"podCIDRs\":\"10.0.0.0/24\"}}", &p), -EINVAL);
	assert_non_null(strstr(why, "spec.podCIDRs is not a list"));
	assert_int_equal(node("{\"spec\":{\"podCIDRs\":[\"10.0.0.0/24\",\"10.1.0.0/24\","
			      "\"fd00::/64\"]}}",
			      &p),
			 -EINVAL);
	assert_non_null(strstr(why, "3 entries: at most 2"));
	assert_int_equal(node("{\"spec\":{\"podCIDRs\":[\"10.0.0.0/24\",\"10.1.0.0/24\"]}}", &p),
			 -EINVAL);
	assert_non_null(strstr(why, "two IPv4 CIDRs"));
	assert_int_equal(node("{\"spec\":{\"podCIDRs\":[\"10.0.0.1/24\"]}}", &p), -EINVAL);
	assert_non_null(strstr(why, "spec.podCIDRs[0]: 10.0.0.1/24 has host bits set (the aligned "
				    "form is 10.0.0.0/24)"));
	assert_int_equal(node("{\"spec\":{\"podCIDRs\":[7]}}", &p), -EINVAL);
	assert_non_null(strstr(why, "spec.podCIDRs[0] is not a CIDR string"));
	assert_int_equal(node("{\"spec\":{\"podCIDRs\":[\"10.0.0.0/24\\u0000x\"]}}", &p), -EINVAL);
	assert_int_equal(node("{\"spec\":{\"podCIDR\":\"nope\"}}", &p), -EINVAL);
	assert_non_null(strstr(why, "spec.podCIDR: \"nope\" is not a CIDR"));
	assert_int_equal(p.n, 7); /* unchanged on error */
}

static struct masq_ruleset *ruleset(struct masq_opts *o)
{
	struct masq_config *cfg;
	struct masq_ruleset *rs;

	assert_int_equal(cfg_new_defaults(o, &cfg), 0);
	assert_int_equal(masq_ruleset_build(cfg, o, &rs), 0);
	cfg_free(cfg);
	return rs;
}

static char *render(const struct masq_ruleset *rs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(masq_ruleset_render(rs, f), 0);
	fclose(f);
	return buf;
}

static void test_ruleset_scope(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true, .random_fully = true };
	struct masq_ruleset *plain, *rs;
	struct podsrc p4 = { 0 };
	char *text;

	plain = ruleset(&o);
	assert_int_equal(plain->rules[0].kind, MASQ_RULE_LOCAL_RETURN);
	assert_null(plain->pod[0]);
	text = render(plain);
	assert_null(strstr(text, "podsrc"));
	free(text);
	/* IPv4 only: IPv6 stays decided for every source */
	assert_int_equal(parse(true, &o.pods, 1, "10.244.1.0/24,10.244.0.0/24"), 0);
	rs = ruleset(&o);
	assert_int_equal(rs->nrules, plain->nrules + 1);
	assert_int_equal(rs->rules[0].kind, MASQ_RULE_PODSRC_RETURN);
	assert_int_equal(rs->rules[0].family, AF_INET);
	assert_int_equal(rs->rules[1].kind, MASQ_RULE_LOCAL_RETURN);
	assert_int_equal(rs->npod[0], 1); /* adjacent: merged */
	assert_null(rs->pod[1]);
	assert_false(masq_ruleset_same_shape(plain, rs));
	text = render(rs);
	assert_non_null(strstr(text, "\tset podsrc4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
				     "\t\telements = { 10.244.0.0/23 }\n\t}\n"));
	assert_non_null(strstr(text, "policy accept;\n\t\tip saddr != @podsrc4 return comment "
				     "\"masqd: sources outside the pod CIDRs keep their address\"\n"
				     "\t\tfib daddr type local"));
	assert_null(strstr(text, "podsrc6"));
	free(text);
	/* a new scope replaces the old one; another CIDR is another shape */
	assert_int_equal(parse(true, &p4, 1, "10.244.0.0/24,fd00:244::/64"), 0);
	assert_int_equal(masq_ruleset_set_podsrc(rs, &p4), 0);
	assert_int_equal(rs->nrules, plain->nrules + 2);
	assert_int_equal(rs->rules[1].kind, MASQ_RULE_PODSRC_RETURN);
	assert_int_equal(rs->rules[1].family, AF_INET6);
	assert_int_equal(rs->npod[1], 1);
	text = render(rs);
	assert_non_null(strstr(text, "ip6 saddr != @podsrc6 return"));
	free(text);
	/* NULL: upstream's every source again, the same shape as never scoped */
	assert_int_equal(masq_ruleset_set_podsrc(rs, NULL), 0);
	assert_true(masq_ruleset_same_shape(plain, rs));
	masq_ruleset_free(rs);
	/* without --enable-ipv6 an IPv6 pod CIDR (from a Node) scopes nothing */
	o.enable_ipv6 = false;
	o.pods = (struct podsrc){ 0 };
	rs = ruleset(&o);
	assert_int_equal(parse(true, &p4, 1, "fd00:244::/64"), 0);
	assert_int_equal(masq_ruleset_set_podsrc(rs, &p4), 0);
	assert_null(rs->pod[1]);
	assert_int_equal(rs->rules[0].kind, MASQ_RULE_LOCAL_RETURN);
	masq_ruleset_free(rs);
	masq_ruleset_free(plain);
}

/* What nft 1.0.6 builds for `ip saddr != @podsrc4 return` and its IPv6 twin
 * (`nft --debug=netlink -f` of masqctl render's output). */
static const char nft_podsrc4[] = "  [ meta load nfproto => reg 1 ]\n"
				  "  [ cmp eq reg 1 0x00000002 ]\n"
				  "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
				  "  [ lookup reg 1 set podsrc4 0x1 ]\n"
				  "  [ immediate reg 0 return ]\n";
static const char nft_podsrc6[] = "  [ meta load nfproto => reg 1 ]\n"
				  "  [ cmp eq reg 1 0x0000000a ]\n"
				  "  [ payload load 16b @ network header + 8 => reg 1 ]\n"
				  "  [ lookup reg 1 set podsrc6 0x1 ]\n"
				  "  [ immediate reg 0 return ]\n";

/* A rule's expressions as nft --debug=netlink prints them. */
static void debug_text(const struct nlmsghdr *nlh, char *out, size_t len)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	size_t o = 0;

	assert_int_equal(nlh->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE);
	assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
	it = nftnl_expr_iter_create(r);
	out[0] = '\0';
	while ((e = nftnl_expr_iter_next(it))) {
		char text[256];

		nftnl_expr_snprintf(text, sizeof(text), e, NFTNL_OUTPUT_DEFAULT, 0);
		o += (size_t)snprintf(out + o, len - o, "  [ %s %s]\n",
				      nftnl_expr_get_str(e, NFTNL_EXPR_NAME), text);
	}
	nftnl_expr_iter_destroy(it);
	nftnl_rule_free(r);
}

static void test_batch_and_state(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true, .random_fully = true };
	const struct nlmsghdr *m[64], *nlh;
	struct nft_state *want, *plain_st;
	struct masq_ruleset *rs, *plain;
	struct nft_batch *b = nft_batch_new(1);
	const char *diff = NULL;
	char text[1024];
	size_t n = 0;
	int len;

	plain = ruleset(&o);
	assert_int_equal(parse(true, &o.pods, 1, "10.244.1.0/24,fd00:244:1::/64"), 0);
	rs = ruleset(&o);
	assert_int_equal(nft_batch_add_ruleset(b, rs), 0);
	nlh = nft_batch_get_data(b);
	len = (int)nft_batch_get_len(b);
	for (; mnl_nlmsg_ok(nlh, len) && n < 64; nlh = mnl_nlmsg_next(nlh, &len))
		m[n++] = nlh;
	/* chain, nomasq4 + elems, nomasq6 + elems, podsrc4 + elems, podsrc6 +
	 * elems, then the two scope rules first */
	assert_int_equal(n, 9 + rs->nrules);
	assert_string_equal(nft_batch_describe(b, 6), "set podsrc4");
	assert_string_equal(nft_batch_describe(b, 7), "set podsrc4 elements 1-2");
	assert_string_equal(nft_batch_describe(b, 9), "set podsrc6 elements 1-2");
	debug_text(m[9], text, sizeof(text));
	assert_string_equal(text, nft_podsrc4);
	debug_text(m[10], text, sizeof(text));
	assert_string_equal(text, nft_podsrc6);
	/* the canonical state holds the sets and their elements: a kernel
	 * table without the scope differs from it (drift healing sees it) */
	assert_int_equal(nft_state_build(rs, &want), 0);
	assert_int_equal(nft_state_build(plain, &plain_st), 0);
	assert_int_not_equal(nft_state_compare(want, plain_st, &diff), 0);
	assert_non_null(diff);
	assert_int_equal(nft_state_compare(want, want, NULL), 0);
	nft_state_free(want);
	nft_state_free(plain_st);
	nft_batch_free(b);
	masq_ruleset_free(rs);
	masq_ruleset_free(plain);
}

static struct cidr net(const char *s)
{
	char aligned[CIDR_STRLEN];
	struct cidr c;

	assert_int_equal(cidr_parse(s, &c, aligned), 0);
	return c;
}

static struct node_pods node_with(size_t n, ...)
{
	struct node_pods p = { .present = true, .n = n };
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		p.v[i] = net(va_arg(ap, const char *));
	va_end(ap);
	return p;
}

/* The Node's pod CIDRs set, then the Node deleted (or missing from a
 * relist): its pods keep their addresses, so the scope stays; a Node that
 * exists again is taken as it says. */
static void test_follow_node_gone(void **state)
{
	struct agent_settings s = { .pods_from_node = true, .node_name = "node-a" };
	struct masqd_stats st = { 0 };
	struct podsrc_follow *f;
	struct node_pods gone = { 0 }, n;

	s.opts.enable_ipv6 = true;
	f = podsrc_follow_new(&s, &st);
	assert_non_null(f);
	assert_false(podsrc_scoped(podsrc_follow_now(f), 0));
	assert_false(podsrc_follow_node(f, &gone)); /* not there yet: still open */
	n = node_with(2, "10.244.1.0/24", "fd00:244:1::/64");
	assert_true(podsrc_follow_node(f, &n));
	assert_int_equal(podsrc_follow_now(f)->n[0], 1);
	assert_false(podsrc_follow_node(f, &gone));
	assert_int_equal(podsrc_follow_now(f)->n[0], 1);
	assert_int_equal(podsrc_follow_now(f)->n[1], 1);
	assert_true(cidr_equal(&podsrc_follow_now(f)->v[0][0], &n.v[0]));
	assert_false(st.pods.node_present);
	assert_int_equal(st.pods.now.n[0], 1);
	n = node_with(1, "10.245.0.0/24"); /* recreated, given another range */
	assert_true(podsrc_follow_node(f, &n));
	assert_int_equal(podsrc_follow_now(f)->n[0], 1);
	assert_int_equal(podsrc_follow_now(f)->n[1], 0);
	assert_true(cidr_equal(&podsrc_follow_now(f)->v[0][0], &n.v[0]));
	podsrc_follow_free(f);
}

static int add_range(struct podsrc *p, const char *lo, const char *hi)
{
	struct cidr a = host(lo), b = host(hi);
	struct addr_range r;

	memcpy(r.lo, a.addr, sizeof(r.lo));
	memcpy(r.hi, b.addr, sizeof(r.hi));
	return podsrc_add_range(p, a.family, &r);
}

/* The kernel's pod set read back (intervals) into the fewest CIDRs. */
static void test_add_range(void **state)
{
	char text[PODSRC_TEXT_LEN];
	struct podsrc p = { 0 };

	assert_int_equal(add_range(&p, "10.244.1.0", "10.244.2.255"), 0);
	assert_int_equal(add_range(&p, "10.0.0.1", "10.0.0.6"), 0);
	podsrc_format(&p, 0, text);
	assert_string_equal(text, "10.244.1.0/24, 10.244.2.0/24, 10.0.0.1/32, 10.0.0.2/31, "
				  "10.0.0.4/31, 10.0.0.6/32");
	memset(&p, 0, sizeof(p));
	assert_int_equal(add_range(&p, "0.0.0.0", "255.255.255.255"), 0);
	assert_int_equal(add_range(&p, "fd00:244:1::", "fd00:244:1::ffff:ffff:ffff:ffff"), 0);
	assert_int_equal(add_range(&p, "ffff::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 0);
	podsrc_format(&p, 0, text);
	assert_string_equal(text, "0.0.0.0/0");
	podsrc_format(&p, 1, text);
	assert_string_equal(text, "fd00:244:1::/64, ffff::/16");
	assert_int_equal(add_range(&p, "::1", "fffe::"), -E2BIG); /* 143 prefixes */
	assert_int_equal(add_range(&p, "10.0.0.2", "10.0.0.1"), -EINVAL);
}

static bool always_ready(void *ctx, char *reason, size_t reason_len)
{
	snprintf(reason, reason_len, "ok");
	return true;
}

static int no_counters(void *ctx, struct nft_counters *ret)
{
	return -ENOENT;
}

/* masqctl status --json's podSource: each family's pod CIDRs as an array of
 * strings, as explain --json gives CIDR lists; empty for every source. */
static json_t *status_pods(const struct masqd_stats *st)
{
	struct stats_view v = { .st = st, .connections = no_counters, .ready = always_ready };
	char *text = statusdoc_json(&v);
	json_t *doc, *p;

	assert_non_null(text);
	doc = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(doc);
	p = json_incref(json_object_get(doc, "podSource"));
	json_decref(doc);
	return p;
}

static void expect_cidrs(json_t *p, const char *fam, size_t n, ...)
{
	json_t *a = json_object_get(p, fam);
	va_list ap;

	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(a, i)),
				    va_arg(ap, const char *));
	va_end(ap);
}

static void test_status_json(void **state)
{
	struct agent_settings s = { .node_name = "node-a" };
	struct masqd_stats st = { 0 };
	struct podsrc_follow *f;
	struct node_pods n;
	json_t *p;

	assert_int_equal(parse(false, &s.opts.pods, 1, "10.244.1.0/24,10.244.2.0/24"), 0);
	f = podsrc_follow_new(&s, &st);
	assert_non_null(f);
	p = status_pods(&st);
	expect_cidrs(p, "ipv4", 2, "10.244.1.0/24", "10.244.2.0/24");
	expect_cidrs(p, "ipv6", 0);
	assert_null(json_object_get(p, "fromNode"));
	json_decref(p);
	podsrc_follow_free(f);

	memset(&s.opts.pods, 0, sizeof(s.opts.pods));
	memset(&st, 0, sizeof(st));
	s.pods_from_node = true;
	s.opts.enable_ipv6 = true;
	f = podsrc_follow_new(&s, &st);
	assert_non_null(f);
	p = status_pods(&st); /* not assigned yet: every source */
	expect_cidrs(p, "ipv4", 0);
	expect_cidrs(p, "ipv6", 0);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(p, "fromNode"), "name")),
		"node-a");
	json_decref(p);
	n = node_with(2, "10.244.1.0/24", "fd00:244:1::/64");
	assert_true(podsrc_follow_node(f, &n));
	p = status_pods(&st);
	expect_cidrs(p, "ipv4", 1, "10.244.1.0/24");
	expect_cidrs(p, "ipv6", 1, "fd00:244:1::/64");
	json_decref(p);
	podsrc_follow_free(f);

	memset(&st, 0, sizeof(st));
	assert_null(status_pods(&st)); /* no scoping asked for: no podSource */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_accepted),	 cmocka_unit_test(test_flag_rejected),
		cmocka_unit_test(test_node_pod_cidrs),	 cmocka_unit_test(test_node_rejected),
		cmocka_unit_test(test_ruleset_scope),	 cmocka_unit_test(test_batch_and_state),
		cmocka_unit_test(test_follow_node_gone), cmocka_unit_test(test_add_range),
		cmocka_unit_test(test_status_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
