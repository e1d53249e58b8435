/* The other NAT chains at the hook: chain and rule messages built with
 * libnftnl, parsed back by netlink/natchains.c without a kernel, and the
 * override rule of agent/natconflict.c. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/natconflict.h"
#include "netlink/natchains.h"

static char buf[8192] __attribute__((aligned(8)));

static const struct nlmsghdr *chain_msg(uint32_t family, const char *table, const char *name,
					const char *type, int hook, int32_t prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	if (type) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWCHAIN, (uint16_t)family, 0, 1);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return nlh;
}

static void test_chain_parse(void **state)
{
	struct nft_natchain c;

	assert_int_equal(nft_natchain_parse(chain_msg(NFPROTO_IPV4, "nat", "POSTROUTING", "nat",
						      NF_INET_POST_ROUTING, 100),
					    &c),
			 1);
	assert_int_equal(c.family, NFPROTO_IPV4);
	assert_int_equal(c.priority, 100);
	assert_string_equal(c.table, "nat");
	assert_string_equal(c.chain, "POSTROUTING");
	assert_int_equal(nft_natchain_parse(chain_msg(NFPROTO_INET, "cni", "post", "nat",
						      NF_INET_POST_ROUTING, -50),
					    &c),
			 1);
	assert_int_equal(c.priority, -50);
	/* masqd's own, another hook, another type, a regular chain: not listed */
	assert_int_equal(nft_natchain_parse(chain_msg(NFPROTO_INET, "ip-masq-agent", "post", "nat",
						      NF_INET_POST_ROUTING, 100),
					    &c),
			 0);
	assert_int_equal(nft_natchain_parse(chain_msg(NFPROTO_IPV4, "nat", "PREROUTING", "nat",
						      NF_INET_PRE_ROUTING, -100),
					    &c),
			 0);
	assert_int_equal(nft_natchain_parse(chain_msg(NFPROTO_IPV4, "f", "post", "filter",
						      NF_INET_POST_ROUTING, 0),
					    &c),
			 0);
	assert_int_equal(nft_natchain_parse(chain_msg(NFPROTO_IPV4, "nat", "KUBE", NULL, 0, 0), &c),
			 0);
	/* the same table name in ip is someone else's */
	assert_int_equal(nft_natchain_parse(chain_msg(NFPROTO_IPV4, "ip-masq-agent", "post", "nat",
						      NF_INET_POST_ROUTING, 100),
					    &c),
			 1);
}

static void test_chain_malformed(void **state)
{
	struct nlmsghdr *nlh;
	struct nft_natchain c;

	/* no table, no name: not a chain the kernel sends */
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWCHAIN, NFPROTO_IPV4, 0, 1);
	assert_int_equal(nft_natchain_parse(nlh, &c), -EBADMSG);
	/* a first attribute (the table) that overruns its message */
	nlh = (struct nlmsghdr *)chain_msg(NFPROTO_IPV4, "nat", "POSTROUTING", "nat",
					   NF_INET_POST_ROUTING, 100);
	((struct nlattr *)mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg)))->nla_len =
		4000;
	assert_int_equal(nft_natchain_parse(nlh, &c), -EBADMSG);
}

/* A rule of chain "c" with the expressions named in spec, in order:
 * "payload", "counter", "masq", "snat", "dnat", "target:NAME", "jump:CHAIN",
 * "goto:CHAIN", "return". */
static const struct nlmsghdr *rule_msg(const char *const *spec)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "t");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "c");
	for (; *spec; spec++) {
		const char *s = *spec, *arg = strchr(s, ':');
		struct nftnl_expr *e;

		if (strcmp(s, "snat") == 0 || strcmp(s, "dnat") == 0) {
			e = nftnl_expr_alloc("nat");
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE,
					   s[0] == 's' ? NFT_NAT_SNAT : NFT_NAT_DNAT);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		} else if (strncmp(s, "target", 6) == 0) {
			e = nftnl_expr_alloc("target");
			nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, arg + 1);
			nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 0);
		} else if (arg || strcmp(s, "return") == 0) {
			e = nftnl_expr_alloc("immediate");
			nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
			nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT,
					   (uint32_t)(s[0] == 'j'   ? NFT_JUMP
						      : s[0] == 'g' ? NFT_GOTO
								    : NFT_RETURN));
			if (arg)
				nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, arg + 1);
		} else if (strcmp(s, "payload") == 0) {
			e = nftnl_expr_alloc("payload");
			nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
			nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 16);
			nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 4);
			nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
		} else {
			e = nftnl_expr_alloc(s);
		}
		assert_non_null(e);
		nftnl_rule_add_expr(r, e);
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_IPV4, 0, 1);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return nlh;
}

#define SCAN(s, ...) \
	assert_int_equal(nft_natrule_scan(rule_msg((const char *[]){ __VA_ARGS__, NULL }), s), 0)

static void test_rule_scan(void **state)
{
	struct nft_natscan s = { 0 };

	SCAN(&s, "counter", "masq"); /* nft's `counter masquerade` */
	assert_true(s.found && !s.snat && !s.conditional);

	memset(&s, 0, sizeof(s));
	SCAN(&s, "payload", "counter", "target:MASQUERADE"); /* iptables -d X -j MASQUERADE */
	assert_true(s.found && !s.snat && s.conditional);

	memset(&s, 0, sizeof(s));
	SCAN(&s, "counter", "target:SNAT");
	assert_true(s.found && s.snat && !s.conditional);

	memset(&s, 0, sizeof(s));
	SCAN(&s, "snat");
	assert_true(s.found && s.snat && !s.conditional);

	/* neither a dnat, a counter nor another target is a NAT here */
	memset(&s, 0, sizeof(s));
	SCAN(&s, "dnat");
	SCAN(&s, "counter");
	SCAN(&s, "target:MARK");
	assert_false(s.found);

	/* an earlier rule that may end the chain makes a later NAT conditional */
	memset(&s, 0, sizeof(s));
	SCAN(&s, "payload", "return");
	SCAN(&s, "masq");
	assert_true(s.found && s.conditional);

	/* jumps before any NAT are kept to follow, with their condition */
	memset(&s, 0, sizeof(s));
	SCAN(&s, "counter", "jump:KUBE-POSTROUTING");
	SCAN(&s, "payload", "goto:other");
	assert_false(s.found);
	assert_int_equal(s.njumps, 2);
	assert_string_equal(s.jumps[0], "KUBE-POSTROUTING");
	assert_false(s.jump_conditional[0]);
	assert_string_equal(s.jumps[1], "other");
	assert_true(s.jump_conditional[1]);
	/* and bounded */
	for (int i = 0; i < 10; i++)
		SCAN(&s, "jump:more");
	assert_int_equal(s.njumps, 4);
}

static void test_rule_malformed(void **state)
{
	struct nft_natscan s = { 0 };
	struct nlmsghdr *nlh;

	/* the first attribute (the table) overruns the message */
	nlh = (struct nlmsghdr *)rule_msg((const char *[]){ "masq", NULL });
	((struct nlattr *)mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg)))->nla_len =
		4000;
	assert_int_equal(nft_natrule_scan(nlh, &s), -EBADMSG);
	assert_false(s.found);
}

static void test_override(void **state)
{
	struct nft_natchain before = { .family = NFPROTO_INET, .priority = 50 };
	struct nft_natchain after = { .family = NFPROTO_IPV4,
				      .priority = 100,
				      .conditional = true };
	struct nft_natchain v6 = { .family = NFPROTO_IPV6, .priority = 0 };

	/* one that runs first decides either way */
	assert_int_equal(natconflict_override(&before, AF_INET, true), NATC_DOES);
	assert_int_equal(natconflict_override(&before, AF_INET6, false), NATC_DOES);
	/* one that runs after (equal priority too) only what masqd kept */
	assert_int_equal(natconflict_override(&after, AF_INET, false), NATC_MAY);
	assert_int_equal(natconflict_override(&after, AF_INET, true), NATC_NO);
	/* a family's table sees only its family */
	assert_int_equal(natconflict_override(&after, AF_INET6, false), NATC_NO);
	assert_int_equal(natconflict_override(&v6, AF_INET, false), NATC_NO);
	assert_int_equal(natconflict_override(&v6, AF_INET6, true), NATC_DOES);
}

static const struct nlmsghdr *table_msg(uint32_t family, const char *name, uint32_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWTABLE, (uint16_t)family, 0, 1);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return nlh;
}

/* A table dump marks the chains of tables that go with their owner
 * (owner without persist), and which chains' tables it saw. */
static void test_table_owned(void **state)
{
	struct nft_natchains found = { .n = 4 };
	bool seen[NFT_NATCHAINS_MAX] = { false };
	struct nlmsghdr *nlh;

	(void)state;
	found.c[0] = (struct nft_natchain){ .family = NFPROTO_IPV4, .table = "own" };
	found.c[1] = (struct nft_natchain){ .family = NFPROTO_IPV6, .table = "own" };
	found.c[2] = (struct nft_natchain){ .family = NFPROTO_IPV4, .table = "kept" };
	found.c[3] = (struct nft_natchain){ .family = NFPROTO_INET, .table = "sleepy" };
	/* owner only: goes with its process; the same name in ip6 is another table */
	assert_int_equal(nft_natchains_table_msg(table_msg(NFPROTO_IPV4, "own", NFT_TABLE_F_OWNER),
						 &found, seen),
			 0);
	assert_true(seen[0] && found.c[0].owned);
	assert_false(seen[1] || found.c[1].owned);
	/* owner|persist (6.9) outlives its process: not owned in this sense */
	assert_int_equal(
		nft_natchains_table_msg(table_msg(NFPROTO_IPV4, "kept", 0x6), &found, seen), 0);
	assert_true(seen[2]);
	assert_false(found.c[2].owned);
	/* owner|dormant goes all the same; no flags: a plain table */
	assert_int_equal(nft_natchains_table_msg(table_msg(NFPROTO_INET, "sleepy",
							   NFT_TABLE_F_OWNER | NFT_TABLE_F_DORMANT),
						 &found, seen),
			 0);
	assert_true(seen[3] && found.c[3].owned);
	assert_int_equal(nft_natchains_table_msg(table_msg(NFPROTO_IPV6, "own", 0), &found, seen),
			 0);
	assert_true(seen[1]);
	assert_false(found.c[1].owned);
	/* a table the chains are not in changes nothing */
	assert_int_equal(nft_natchains_table_msg(
				 table_msg(NFPROTO_IPV4, "other", NFT_TABLE_F_OWNER), &found, seen),
			 0);
	assert_true(found.c[0].owned && !found.c[2].owned);
	/* no name: not a table the kernel sends */
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWTABLE, NFPROTO_IPV4, 0, 1);
	assert_int_equal(nft_natchains_table_msg(nlh, &found, seen), -EBADMSG);
}

/* The owner exited between the chain dump and the table dump: its table is
 * missing from the second, and its chains are dropped; the others keep
 * their order and what the dump marked. */
static void test_table_gone(void **state)
{
	struct nft_natchains found = { .n = 3 };
	bool seen[NFT_NATCHAINS_MAX] = { false };

	(void)state;
	found.c[0] = (struct nft_natchain){ .family = NFPROTO_IPV4, .table = "a", .chain = "x" };
	found.c[1] = (struct nft_natchain){ .family = NFPROTO_IPV4, .table = "gone", .chain = "y" };
	found.c[2] = (struct nft_natchain){ .family = NFPROTO_INET, .table = "b", .chain = "z" };
	assert_int_equal(nft_natchains_table_msg(table_msg(NFPROTO_INET, "b", NFT_TABLE_F_OWNER),
						 &found, seen),
			 0);
	assert_int_equal(nft_natchains_table_msg(table_msg(NFPROTO_IPV4, "a", 0), &found, seen), 0);
	nft_natchains_keep_seen(&found, seen);
	assert_int_equal(found.n, 2);
	assert_string_equal(found.c[0].chain, "x");
	assert_false(found.c[0].owned);
	assert_string_equal(found.c[1].chain, "z");
	assert_true(found.c[1].owned);
	/* every table gone: nothing listed */
	memset(seen, 0, sizeof(seen));
	nft_natchains_keep_seen(&found, seen);
	assert_int_equal(found.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_parse), cmocka_unit_test(test_chain_malformed),
		cmocka_unit_test(test_rule_scan),   cmocka_unit_test(test_rule_malformed),
		cmocka_unit_test(test_override),    cmocka_unit_test(test_table_owned),
		cmocka_unit_test(test_table_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
