/* Netlink messages: build a batch, parse every message back with libnftnl
 * and compare, without a kernel (as libnftnl's own tests do). */
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/config.h"
#include "config/ruleset.h"
#include "netlink/batch.h"
#include "netlink/nft.h"

#define MSG(t) ((NFNL_SUBSYS_NFTABLES << 8) | (t))

struct msgs {
	const struct nlmsghdr *m[4096];
	size_t n;
};

static void split(const struct nft_batch *b, struct msgs *out)
{
	const struct nlmsghdr *nlh = nft_batch_get_data(b);
	int len = (int)nft_batch_get_len(b);

	out->n = 0;
	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
		out->m[out->n++] = nlh;
	assert_int_equal(len, 0); /* no trailing bytes */
}

static struct masq_ruleset *ruleset(const char *yaml, const struct masq_opts *o)
{
	struct masq_config *cfg;
	struct masq_ruleset *rs;
	struct diags d;

	diags_init(&d);
	if (yaml)
		assert_int_equal(cfg_parse_buf("t", yaml, strlen(yaml), o, &cfg, &d), 0);
	else
		assert_int_equal(cfg_new_defaults(o, &cfg), 0);
	assert_int_equal(masq_ruleset_build(cfg, o, &rs), 0);
	cfg_free(cfg);
	return rs;
}

static struct nft_batch *full_batch(const struct masq_ruleset *rs, bool del)
{
	struct nft_batch *b = nft_batch_new(100);

	assert_non_null(b);
	assert_int_equal(nft_batch_begin(b), 0);
	if (del)
		assert_int_equal(nft_batch_del_table(b), 0);
	assert_int_equal(nft_batch_add_table(b, NULL, NFT_TABLE_OWNED_PERSISTENT), 0);
	assert_int_equal(nft_batch_add_ruleset(b, rs), 0);
	assert_int_equal(nft_batch_end(b), 0);
	return b;
}

static const struct nlattr *raw_attr(const struct nlmsghdr *nlh, uint16_t type);

static void check_comment(const void *ud, uint32_t len, const char *want)
{
	/* one TLV: type 0 (comment), length, NUL-terminated text */
	const uint8_t *p = ud;

	assert_int_equal(len, 2 + strlen(want) + 1);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[1], strlen(want) + 1);
	assert_string_equal((const char *)p + 2, want);
}

static void check_table(const struct nlmsghdr *nlh, uint32_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	const struct nlattr *ud;

	assert_int_equal(nlh->nlmsg_type, MSG(NFT_MSG_NEWTABLE));
	assert_true(nlh->nlmsg_flags & NLM_F_CREATE);
	assert_int_equal(nftnl_table_nlmsg_parse(nlh, t), 0);
	assert_string_equal(nftnl_table_get_str(t, NFTNL_TABLE_NAME), "ip-masq-agent");
	assert_int_equal(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY), NFPROTO_INET);
	assert_int_equal(nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS), flags);
	/* libnftnl 1.2.4 writes table userdata but does not parse it back */
	ud = raw_attr(nlh, NFTA_TABLE_USERDATA);
	assert_non_null(ud);
	check_comment(mnl_attr_get_payload(ud), mnl_attr_get_payload_len(ud), "managed by masqd");
	nftnl_table_free(t);
}

static void check_chain(const struct nlmsghdr *nlh)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	assert_int_equal(nlh->nlmsg_type, MSG(NFT_MSG_NEWCHAIN));
	assert_int_equal(nftnl_chain_nlmsg_parse(nlh, c), 0);
	assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), "ip-masq-agent");
	assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), "postrouting");
	assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), "nat");
	assert_int_equal(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM), NF_INET_POST_ROUTING);
	assert_int_equal(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), 100);
	assert_int_equal(nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY), NF_ACCEPT);
	nftnl_chain_free(c);
}

static void check_set(const struct nlmsghdr *nlh, const char *name, uint32_t keylen,
		      uint32_t keytype)
{
	struct nftnl_set *s = nftnl_set_alloc();

	assert_int_equal(nlh->nlmsg_type, MSG(NFT_MSG_NEWSET));
	assert_int_equal(nftnl_set_nlmsg_parse(nlh, s), 0);
	assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), name);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), NFT_SET_INTERVAL);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), keylen);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), keytype);
	nftnl_set_free(s);
}

/* The payload of a top-level attribute of an nftables message. */
static const struct nlattr *raw_attr(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) == type)
			return attr;
	}
	return NULL;
}

/* One element: its key as text, with " END" when it closes an interval. */
static void format_elem(const struct nlattr *elem, int family, char out[64])
{
	const struct nlattr *a, *k;
	char addr[INET6_ADDRSTRLEN] = "?";
	uint32_t flags = 0;

	mnl_attr_for_each_nested(a, elem) {
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_FLAGS)
			flags = ntohl(mnl_attr_get_u32(a));
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_KEY)
			continue;
		mnl_attr_for_each_nested(k, a) {
			assert_int_equal(mnl_attr_get_type(k), NFTA_DATA_VALUE);
			assert_int_equal(mnl_attr_get_payload_len(k), family == AF_INET ? 4 : 16);
			inet_ntop(family, mnl_attr_get_payload(k), addr, sizeof(addr));
		}
	}
	snprintf(out, 64, "%s%s", addr, flags & NFT_SET_ELEM_INTERVAL_END ? " END" : "");
}

/* Walk an element message on the wire into "addr" / "addr END" strings. */
static size_t parse_elems(const struct nlmsghdr *nlh, int family, char out[][64], size_t max)
{
	const struct nlattr *list, *elem;
	size_t n = 0;

	assert_int_equal(nlh->nlmsg_type, MSG(NFT_MSG_NEWSETELEM));
	assert_true(nlh->nlmsg_flags & NLM_F_EXCL);
	assert_string_equal(mnl_attr_get_str(raw_attr(nlh, NFTA_SET_ELEM_LIST_TABLE)),
			    "ip-masq-agent");
	list = raw_attr(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	assert_non_null(list);
	mnl_attr_for_each_nested(elem, list) {
		assert_true(n < max);
		format_elem(elem, family, out[n++]);
	}
	return n;
}

/* Expression names of a rule, space-separated, and its comment. */
static void parse_rule(const struct nlmsghdr *nlh, char *names, size_t len, struct nftnl_rule **ret)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	size_t o = 0;

	assert_int_equal(nlh->nlmsg_type, MSG(NFT_MSG_NEWRULE));
	assert_true(nlh->nlmsg_flags & NLM_F_APPEND);
	assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
	assert_string_equal(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "postrouting");
	it = nftnl_expr_iter_create(r);
	names[0] = '\0';
	while ((e = nftnl_expr_iter_next(it)))
		o += (size_t)snprintf(names + o, len - o, "%s%s", o ? " " : "",
				      nftnl_expr_get_str(e, NFTNL_EXPR_NAME));
	nftnl_expr_iter_destroy(it);
	*ret = r;
}

/* The n-th expression of a rule. */
static struct nftnl_expr *nth_expr(struct nftnl_rule *r, int n)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e = NULL;

	for (int i = 0; i <= n; i++)
		e = nftnl_expr_iter_next(it);
	nftnl_expr_iter_destroy(it);
	assert_non_null(e);
	return e;
}

static void test_default_batch_layout(void **state)
{
	struct masq_opts o = { .random_fully = true };
	struct masq_ruleset *rs = ruleset(NULL, &o);
	struct nft_batch *b = full_batch(rs, true);
	struct msgs m;
	char el[16][64];

	split(b, &m);
	/* begin, deltable, table, chain, set, elems, 3 rules, end */
	assert_int_equal(m.n, 10);
	assert_int_equal(m.m[0]->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
	assert_int_equal(m.m[1]->nlmsg_type, MSG(NFT_MSG_DELTABLE));
	check_table(m.m[2], NFT_TABLE_OWNED_PERSISTENT);
	check_chain(m.m[3]);
	check_set(m.m[4], "nomasq4", 4, 7);
	assert_int_equal(parse_elems(m.m[5], AF_INET, el, 16), 8);
	assert_string_equal(el[0], "10.0.0.0");
	assert_string_equal(el[1], "11.0.0.0 END");
	assert_string_equal(el[2], "169.254.0.0");
	assert_string_equal(el[3], "169.255.0.0 END");
	assert_string_equal(el[6], "192.168.0.0");
	assert_string_equal(el[7], "192.169.0.0 END");
	assert_int_equal(m.m[9]->nlmsg_type, NFNL_MSG_BATCH_END);
	/* the first message after BATCH_BEGIN, and only it, asks for an echo:
	 * the kernel sends the commit's generation for it */
	for (size_t i = 0; i < m.n; i++)
		assert_int_equal(!!(m.m[i]->nlmsg_flags & NLM_F_ECHO), i == 1);
	/* sequence numbers are consecutive and map back to the objects */
	for (size_t i = 0; i < m.n; i++)
		assert_int_equal(m.m[i]->nlmsg_seq, 100 + i);
	assert_string_equal(nft_batch_describe(b, 100), "batch begin");
	assert_string_equal(nft_batch_describe(b, 102), "table inet ip-masq-agent");
	assert_string_equal(nft_batch_describe(b, 105), "set nomasq4 elements 1-8");
	assert_string_equal(nft_batch_describe(b, 108), "rule 3");
	assert_null(nft_batch_describe(b, 110));
	assert_null(nft_batch_describe(b, 99));
	assert_int_equal(nft_batch_get_next_seq(b), 110);
	nft_batch_free(b);
	masq_ruleset_free(rs);
}

static void test_rules_expressions(void **state)
{
	struct masq_opts o = { .random_fully = true };
	struct masq_ruleset *rs = ruleset(NULL, &o);
	struct nft_batch *b = full_batch(rs, false);
	struct nftnl_rule *r;
	struct msgs m;
	char names[256];
	uint32_t len;

	split(b, &m);
	parse_rule(m.m[5], names, sizeof(names), &r);
	assert_string_equal(names, "fib cmp immediate");
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 0), NFTNL_EXPR_FIB_FLAGS),
			 NFTA_FIB_F_DADDR);
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 0), NFTNL_EXPR_FIB_RESULT),
			 NFT_FIB_RESULT_ADDRTYPE);
	assert_int_equal(
		*(const uint32_t *)nftnl_expr_get(nth_expr(r, 1), NFTNL_EXPR_CMP_DATA, &len),
		2 /* RTN_LOCAL */);
	assert_int_equal((int32_t)nftnl_expr_get_u32(nth_expr(r, 2), NFTNL_EXPR_IMM_VERDICT),
			 NFT_RETURN);
	check_comment(mnl_attr_get_payload(raw_attr(m.m[5], NFTA_RULE_USERDATA)),
		      mnl_attr_get_payload_len(raw_attr(m.m[5], NFTA_RULE_USERDATA)),
		      "ip-masq-agent: local traffic is not subject to MASQUERADE");
	nftnl_rule_free(r);

	parse_rule(m.m[6], names, sizeof(names), &r);
	assert_string_equal(names, "meta cmp payload lookup counter immediate");
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 0), NFTNL_EXPR_META_KEY), NFT_META_NFPROTO);
	assert_int_equal(
		*(const uint8_t *)nftnl_expr_get(nth_expr(r, 1), NFTNL_EXPR_CMP_DATA, &len),
		NFPROTO_IPV4);
	assert_int_equal(len, 1);
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 2), NFTNL_EXPR_PAYLOAD_OFFSET), 16);
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 2), NFTNL_EXPR_PAYLOAD_LEN), 4);
	assert_string_equal(nftnl_expr_get_str(nth_expr(r, 3), NFTNL_EXPR_LOOKUP_SET), "nomasq4");
	nftnl_rule_free(r);

	parse_rule(m.m[7], names, sizeof(names), &r);
	assert_string_equal(names, "meta cmp counter masq");
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 3), NFTNL_EXPR_MASQ_FLAGS),
			 NF_NAT_RANGE_PROTO_RANDOM_FULLY);
	nftnl_rule_free(r);
	nft_batch_free(b);
	masq_ruleset_free(rs);
}

static void test_ipv6_and_plain_masquerade(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true, .random_fully = false };
	struct masq_ruleset *rs = ruleset("nonMasqueradeCIDRs: ['2001:db8::/96', '::/0', "
					  "10.0.0.0/8]\nmasqLinkLocal: true\n",
					  &o);
	struct nft_batch *b = full_batch(rs, false);
	struct nftnl_rule *r;
	struct msgs m;
	char names[256], el[8][64];

	split(b, &m);
	/* begin, table, chain, set4, elems4, set6, elems6, 5 rules, end */
	assert_int_equal(m.n, 13);
	check_set(m.m[5], "nomasq6", 16, 8);
	/* ::/0 reaches the top of the space: a start element and no end */
	assert_int_equal(parse_elems(m.m[6], AF_INET6, el, 8), 1);
	assert_string_equal(el[0], "::");
	parse_rule(m.m[10], names, sizeof(names), &r);
	assert_string_equal(names, "meta cmp payload lookup counter immediate");
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 2), NFTNL_EXPR_PAYLOAD_OFFSET), 24);
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 2), NFTNL_EXPR_PAYLOAD_LEN), 16);
	assert_string_equal(nftnl_expr_get_str(nth_expr(r, 3), NFTNL_EXPR_LOOKUP_SET), "nomasq6");
	nftnl_rule_free(r);
	parse_rule(m.m[11], names, sizeof(names), &r);
	assert_string_equal(names, "meta cmp counter masq");
	assert_false(nftnl_expr_is_set(nth_expr(r, 3), NFTNL_EXPR_MASQ_FLAGS));
	nftnl_rule_free(r);
	nft_batch_free(b);
	masq_ruleset_free(rs);
}

static void test_ipv6_end_element_carry(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true };
	struct masq_ruleset *rs = ruleset("nonMasqueradeCIDRs: ['2001:db8::/96']\n"
					  "masqLinkLocalIPv6: true\nmasqLinkLocal: true\n",
					  &o);
	struct nft_batch *b = full_batch(rs, false);
	struct msgs m;
	char el[8][64];

	split(b, &m);
	/* begin, table, chain, set4 (empty: no element message), set6, elems6 */
	check_set(m.m[4], "nomasq6", 16, 8);
	assert_int_equal(parse_elems(m.m[5], AF_INET6, el, 8), 2);
	assert_string_equal(el[0], "2001:db8::");
	assert_string_equal(el[1], "2001:db8::1:0:0 END"); /* ffff:ffff + 1 carries */
	nft_batch_free(b);
	masq_ruleset_free(rs);
}

static void test_large_sets_are_chunked(void **state)
{
	struct masq_ruleset rs = { .random_fully = true };
	struct nft_batch *b;
	struct msgs m;
	size_t total = 0;
	static char el[2048][64];

	/* 1500 disjoint /24s: 3000 elements over 3 messages */
	rs.n4 = 1500;
	rs.v4 = calloc(rs.n4, sizeof(*rs.v4));
	for (size_t i = 0; i < rs.n4; i++) {
		/* 10.x.y.0/24 with y even: disjoint and never adjacent */
		uint8_t a[4] = { 10, (uint8_t)(i >> 7), (uint8_t)((i & 127) << 1), 0 };
		memcpy(rs.v4[i].lo, a, 4);
		memcpy(rs.v4[i].hi, a, 4);
		rs.v4[i].hi[3] = 255;
	}
	b = full_batch(&rs, false);
	split(b, &m);
	for (size_t i = 0; i < m.n; i++) {
		if (m.m[i]->nlmsg_type == MSG(NFT_MSG_NEWSETELEM)) {
			size_t n = parse_elems(m.m[i], AF_INET, el, 2048);
			assert_true(n <= NFT_ELEMS_PER_MSG);
			assert_true(m.m[i]->nlmsg_len < 65536);
			total += n;
		}
	}
	assert_int_equal(total, 3000);
	assert_string_equal(nft_batch_describe(b, 104), "set nomasq4 elements 1-1024");
	assert_string_equal(nft_batch_describe(b, 106), "set nomasq4 elements 2049-3000");
	nft_batch_free(b);
	free(rs.v4);
}

/* An incremental batch starts with elements: the echoed first message holds
 * one alone, so the kernel echoes one element's notice, not 1,024. */
static void test_elements_first_echoes_one(void **state)
{
	struct set_elem e[3] = { { .key = { 10 } },
				 { .key = { 11 }, .end = true },
				 { .key = { 12 } } };
	struct nft_batch *b = nft_batch_new(1);
	struct msgs m;
	char el[4][64];

	assert_int_equal(nft_batch_begin(b), 0);
	assert_int_equal(nft_batch_add_elems(b, AF_INET, e, 3), 0);
	assert_int_equal(nft_batch_add_elems(b, AF_INET, e, 2), 0);
	assert_int_equal(nft_batch_end(b), 0);
	split(b, &m);
	assert_int_equal(m.n, 5);
	assert_true(m.m[1]->nlmsg_flags & NLM_F_ECHO);
	assert_int_equal(parse_elems(m.m[1], AF_INET, el, 4), 1);
	assert_string_equal(el[0], "10.0.0.0");
	assert_false(m.m[2]->nlmsg_flags & NLM_F_ECHO);
	assert_int_equal(parse_elems(m.m[2], AF_INET, el, 4), 2);
	assert_string_equal(el[0], "11.0.0.0 END");
	assert_false(m.m[3]->nlmsg_flags & NLM_F_ECHO);
	assert_int_equal(parse_elems(m.m[3], AF_INET, el, 4), 2); /* later ones: whole */
	assert_string_equal(nft_batch_describe(b, 2), "set nomasq4 elements 1-1");
	assert_string_equal(nft_batch_describe(b, 3), "set nomasq4 elements 2-3");
	nft_batch_free(b);
}

static void test_delete_elements(void **state)
{
	struct set_elem e[2] = { { .key = { 10 } }, { .key = { 11 }, .end = true } };
	struct nft_batch *b = nft_batch_new(7);
	const struct nlattr *list, *elem;
	struct msgs m;
	char el[4][64];
	size_t n = 0;

	assert_int_equal(nft_batch_del_elems(b, AF_INET, e, 2), 0);
	split(b, &m);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.m[0]->nlmsg_type, MSG(NFT_MSG_DELSETELEM));
	assert_false(m.m[0]->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO));
	list = raw_attr(m.m[0], NFTA_SET_ELEM_LIST_ELEMENTS);
	assert_non_null(list);
	mnl_attr_for_each_nested(elem, list) {
		format_elem(elem, AF_INET, el[n++]);
	}
	assert_int_equal(n, 2);
	assert_string_equal(el[0], "10.0.0.0");
	assert_string_equal(el[1], "11.0.0.0 END");
	assert_string_equal(nft_batch_describe(b, 7), "set nomasq4 delete elements 1-2");
	nft_batch_free(b);
}

/* masqd's own table, or someone else's: a commit that changes another table
 * (upstream's chain, a probe table) can change the other NAT chains at the
 * hook, so its generation must not stand for the last check's. */
static void test_other_tables(void **state)
{
	struct masq_opts o = { .random_fully = true };
	struct masq_ruleset *rs = ruleset(NULL, &o);
	struct set_elem e[2] = { { .key = { 10 } }, { .key = { 11 }, .end = true } };
	struct nft_batch *b = full_batch(rs, true);

	assert_false(nft_batch_other_tables(b)); /* deltable, table, ruleset */
	nft_batch_free(b);
	b = nft_batch_new(1);
	assert_int_equal(nft_batch_begin(b), 0);
	assert_int_equal(nft_batch_del_elems(b, AF_INET, e, 2), 0);
	assert_int_equal(nft_batch_add_elems(b, AF_INET, e, 2), 0);
	assert_false(nft_batch_other_tables(b));
	assert_int_equal(nft_batch_del_rule(b, NFPROTO_IPV4, "nat", "POSTROUTING", 7), 0);
	assert_true(nft_batch_other_tables(b));
	nft_batch_free(b);
	b = nft_batch_new(1);
	assert_int_equal(nft_batch_del_chain(b, NFPROTO_IPV6, "nat", "IP-MASQ-AGENT"), 0);
	assert_true(nft_batch_other_tables(b));
	nft_batch_free(b);
	b = nft_batch_new(1);
	assert_int_equal(nft_batch_add_table(b, "masqd-probe", 0), 0);
	assert_true(nft_batch_other_tables(b));
	nft_batch_free(b);
	masq_ruleset_free(rs);
}

/* A rule's expressions as `nft --debug=netlink` prints them. */
static void debug_text(struct nftnl_rule *r, char *out, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	size_t o = 0;

	out[0] = '\0';
	while ((e = nftnl_expr_iter_next(it))) {
		char text[256];

		nftnl_expr_snprintf(text, sizeof(text), e, NFTNL_OUTPUT_DEFAULT, 0);
		o += (size_t)snprintf(out + o, len - o, "  [ %s %s]\n",
				      nftnl_expr_get_str(e, NFTNL_EXPR_NAME), text);
	}
	nftnl_expr_iter_destroy(it);
}

/* What nft 1.0.6 builds for the same rules, from `nft --debug=netlink -f`
 * of masqctl render's lines. */
static const char nft_tcp_first_range[] = "  [ meta load nfproto => reg 1 ]\n"
					  "  [ cmp eq reg 1 0x00000002 ]\n"
					  "  [ meta load l4proto => reg 1 ]\n"
					  "  [ cmp eq reg 1 0x00000006 ]\n"
					  "  [ numgen reg 1 = random mod 61744 ]\n"
					  "  [ byteorder reg 1 = hton(reg 1, 4, 4) ]\n"
					  "  [ cmp lt reg 1 0x30710000 ]\n"
					  "  [ counter pkts 0 bytes 0 ]\n"
					  "  [ immediate reg 1 0x00000004 ]\n"
					  "  [ immediate reg 2 0x00002f75 ]\n"
					  "  [ masq proto_min reg 1 proto_max reg 2 flags 0x12 ]\n";
/* nft leaves proto_max out for a single port; the kernel stores and dumps
 * proto_max = proto_min's register then, and masqd says so itself */
static const char nft_sctp6_single_port[] =
	"  [ meta load nfproto => reg 1 ]\n"
	"  [ cmp eq reg 1 0x0000000a ]\n"
	"  [ meta load l4proto => reg 1 ]\n"
	"  [ cmp eq reg 1 0x00000084 ]\n"
	"  [ counter pkts 0 bytes 0 ]\n"
	"  [ immediate reg 1 0x00000004 ]\n"
	"  [ masq proto_min reg 1 proto_max reg 1 flags 0x2 ]\n";

/* snat as nft sends it (`nft --debug=netlink`), plus what the kernel adds
 * and dumps back: addr_max = addr_min's register, MAP_IPS (0x1) and, with
 * ports, PROTO_SPECIFIED (0x2). Sending them keeps read-back equal. */
static const char snat4_catch_all[] =
	"  [ meta load nfproto => reg 1 ]\n"
	"  [ cmp eq reg 1 0x00000002 ]\n"
	"  [ counter pkts 0 bytes 0 ]\n"
	"  [ immediate reg 1 0x0971cbcb ]\n"
	"  [ nat snat ip addr_min reg 1 addr_max reg 1 flags 0x11 ]\n";
static const char snat6_udp_range[] =
	"  [ meta load nfproto => reg 1 ]\n"
	"  [ cmp eq reg 1 0x0000000a ]\n"
	"  [ meta load l4proto => reg 1 ]\n"
	"  [ cmp eq reg 1 0x00000011 ]\n"
	"  [ counter pkts 0 bytes 0 ]\n"
	"  [ immediate reg 1 0xb80d0120 0x00000000 0x00000000 0x09000000 ]\n"
	"  [ immediate reg 2 0x00000004 ]\n"
	"  [ immediate reg 3 0x0000ff07 ]\n"
	"  [ nat snat ip6 addr_min reg 1 addr_max reg 1 proto_min reg 2 proto_max reg 3 flags 0x3 ]\n";

static struct nftnl_rule *rule_at(const struct msgs *m, size_t i, char *names, size_t len)
{
	struct nftnl_rule *r;

	parse_rule(m->m[i], names, len, &r);
	return r;
}

static void test_snat_expressions(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true, .random_fully = true };
	struct masq_snat s4 = { .on = true }, s6 = { .on = true };
	struct masq_ruleset *rs;
	struct nft_batch *b;
	struct nftnl_rule *r;
	struct msgs m;
	char names[256], text[2048];

	inet_pton(AF_INET, "203.203.113.9", s4.addr);
	inet_pton(AF_INET6, "2001:db8::9", s6.addr);
	rs = ruleset(NULL, &o);
	masq_ruleset_set_snat(rs, AF_INET, &s4);
	b = full_batch(rs, false);
	split(b, &m);
	r = rule_at(&m, 9, names, sizeof(names)); /* the IPv4 catch-all */
	debug_text(r, text, sizeof(text));
	assert_string_equal(text, snat4_catch_all);
	nftnl_rule_free(r);
	r = rule_at(&m, 11, names, sizeof(names)); /* IPv6 was not asked for */
	assert_string_equal(names, "meta cmp counter masq");
	nftnl_rule_free(r);
	nft_batch_free(b);
	masq_ruleset_free(rs);

	o.random_fully = false;
	assert_int_equal(masq_ports_parse("1024-2047", &o, text, sizeof(text)), 0);
	rs = ruleset(NULL, &o);
	masq_ruleset_set_snat(rs, AF_INET6, &s6);
	b = full_batch(rs, false);
	split(b, &m);
	/* local, IPv4 nomasq + 3 + 1, IPv6 nomasq, tcp, then udp */
	r = rule_at(&m, 7 + 1 + 4 + 1 + 2, names, sizeof(names));
	debug_text(r, text, sizeof(text));
	assert_string_equal(text, snat6_udp_range);
	nftnl_rule_free(r);
	r = rule_at(&m, 7 + 1 + 4, names, sizeof(names)); /* IPv4: masquerade as before */
	assert_string_equal(names, "meta cmp counter masq");
	nftnl_rule_free(r);
	nft_batch_free(b);
	masq_ruleset_free(rs);
}

static void test_to_ports_expressions(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true, .random_fully = true };
	struct masq_ruleset *rs;
	struct nft_batch *b;
	struct nftnl_rule *r;
	struct msgs m;
	char names[256], text[2048];
	char why[64];

	assert_int_equal(masq_ports_parse("1024-29999,32768-65535", &o, why, sizeof(why)), 0);
	rs = ruleset(NULL, &o);
	b = full_batch(rs, false);
	split(b, &m);
	/* begin, table, chain, set4, elems4, set6, elems6, local, then per family:
	 * nomasq, 3 protocols x 2 ranges, catch-all; end */
	assert_int_equal(m.n, 7 + 1 + 2 * 8 + 1);
	r = rule_at(&m, 9, names, sizeof(names));
	debug_text(r, text, sizeof(text));
	assert_string_equal(text, nft_tcp_first_range);
	nftnl_rule_free(r);
	r = rule_at(&m, 10, names, sizeof(names)); /* the last range: no numgen */
	assert_string_equal(names, "meta cmp meta cmp counter immediate immediate masq");
	assert_int_equal(nftnl_expr_get_u32(nth_expr(r, 7), NFTNL_EXPR_MASQ_FLAGS),
			 NF_NAT_RANGE_PROTO_SPECIFIED | NF_NAT_RANGE_PROTO_RANDOM_FULLY);
	nftnl_rule_free(r);
	r = rule_at(&m, 15, names, sizeof(names)); /* the IPv4 catch-all: no ports */
	assert_string_equal(names, "meta cmp counter masq");
	nftnl_rule_free(r);
	r = rule_at(&m, 17, names, sizeof(names)); /* IPv6, tcp, first range */
	assert_string_equal(names, "meta cmp meta cmp numgen byteorder cmp counter immediate "
				   "immediate masq");
	assert_int_equal(*(const uint8_t *)nftnl_expr_get(nth_expr(r, 1), NFTNL_EXPR_CMP_DATA,
							  &(uint32_t){ 0 }),
			 NFPROTO_IPV6);
	nftnl_rule_free(r);
	assert_string_equal(nft_batch_describe(b, 100 + 23), "rule 17");
	nft_batch_free(b);
	masq_ruleset_free(rs);

	o.random_fully = false;
	assert_int_equal(masq_ports_parse("1024", &o, why, sizeof(why)), 0);
	rs = ruleset(NULL, &o);
	b = full_batch(rs, false);
	split(b, &m);
	/* local, IPv4 nomasq and 3 + 1 masquerades, IPv6 nomasq, tcp, udp; then sctp */
	r = rule_at(&m, 7 + 1 + 4 + 1 + 3, names, sizeof(names));
	debug_text(r, text, sizeof(text));
	assert_string_equal(text, nft_sctp6_single_port);
	nftnl_rule_free(r);
	nft_batch_free(b);
	masq_ruleset_free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_batch_layout),
		cmocka_unit_test(test_rules_expressions),
		cmocka_unit_test(test_ipv6_and_plain_masquerade),
		cmocka_unit_test(test_ipv6_end_element_carry),
		cmocka_unit_test(test_large_sets_are_chunked),
		cmocka_unit_test(test_delete_elements),
		cmocka_unit_test(test_elements_first_echoes_one),
		cmocka_unit_test(test_other_tables),
		cmocka_unit_test(test_to_ports_expressions),
		cmocka_unit_test(test_snat_expressions),
	};
	return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
