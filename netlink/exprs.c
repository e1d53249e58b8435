/* The expressions of masqd's rules, exactly those nft builds for the same
 * rules, so `nft list table` renders them as nft would, comments included. */
#include "netlink/exprs.h"

#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <errno.h>
#include <stdio.h> /* before libnftnl's headers, which need FILE */
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "config/ruleset.h"

static struct nftnl_expr *expr_new(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (e)
		nftnl_rule_add_expr(r, e);
	return e;
}

/* cmp: register 1 OP data, as every match here ends */
static int expr_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *c = expr_new(r, "cmp");

	if (!c)
		return -ENOMEM;
	nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(c, NFTNL_EXPR_CMP_DATA, data, len);
	return 0;
}

/* meta KEY == value: one byte, as nft compares nfproto and l4proto */
static int expr_meta_eq(struct nftnl_rule *r, uint32_t key, uint8_t value)
{
	struct nftnl_expr *m = expr_new(r, "meta");

	if (!m)
		return -ENOMEM;
	nftnl_expr_set_u32(m, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(m, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return expr_cmp(r, NFT_CMP_EQ, &value, sizeof(value));
}

static int expr_meta_nfproto_eq(struct nftnl_rule *r, int family)
{
	return expr_meta_eq(r, NFT_META_NFPROTO, family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
}

static int expr_verdict(struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *e = expr_new(r, "immediate");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	return 0;
}

static int expr_simple(struct nftnl_rule *r, const char *name)
{
	return expr_new(r, name) ? 0 : -ENOMEM;
}

/* fib daddr type local: the kernel's RTN_LOCAL check, as -m addrtype --dst-type LOCAL */
static int exprs_local(struct nftnl_rule *r)
{
	struct nftnl_expr *f = expr_new(r, "fib");
	uint32_t local = RTN_LOCAL;

	if (!f)
		return -ENOMEM;
	nftnl_expr_set_u32(f, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
	nftnl_expr_set_u32(f, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(f, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	if (expr_cmp(r, NFT_CMP_EQ, &local, sizeof(local)) < 0)
		return -ENOMEM;
	return expr_verdict(r, NFT_RETURN);
}

/* meta nfproto X; payload saddr or daddr; lookup @set (!= with inv) */
static int exprs_lookup(struct nftnl_rule *r, int family, bool saddr, const char *set,
			uint32_t set_id, bool inv)
{
	bool v6 = family == AF_INET6;
	struct nftnl_expr *p, *l;

	if (expr_meta_nfproto_eq(r, family) < 0 || !(p = expr_new(r, "payload")))
		return -ENOMEM;
	nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	/* the headers' source and destination addresses */
	nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_OFFSET, v6 ? (saddr ? 8 : 24) : (saddr ? 12 : 16));
	nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_LEN, v6 ? 16 : 4);
	nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	l = expr_new(r, "lookup");
	if (!l)
		return -ENOMEM;
	nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(l, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	/* the kernel reports the flags (0 when plain) in dumps; set them so
	 * read-back compares equal */
	nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_FLAGS, inv ? NFT_LOOKUP_F_INV : 0);
	return 0;
}

/* meta nfproto X; payload daddr; lookup @nomasq; counter; return */
static int exprs_nomasq(struct nftnl_rule *r, int family)
{
	if (exprs_lookup(r, family, false, masq_ruleset_set_name(family),
			 nft_exprs_set_id(masq_ruleset_set_name(family)), false) < 0 ||
	    expr_simple(r, "counter") < 0)
		return -ENOMEM;
	return expr_verdict(r, NFT_RETURN);
}

/* meta nfproto X; payload saddr; lookup != @podsrc; return. No counter:
 * the scope costs one lookup per packet, nothing more. */
static int exprs_podsrc(struct nftnl_rule *r, int family)
{
	const char *set = masq_ruleset_pod_set_name(family);

	if (exprs_lookup(r, family, true, set, nft_exprs_set_id(set), true) < 0)
		return -ENOMEM;
	return expr_verdict(r, NFT_RETURN);
}

uint32_t nft_exprs_set_id(const char *set)
{
	static const char *const ids[] = { MASQ_SET4, MASQ_SET6, MASQ_PODSET4, MASQ_PODSET6 };

	for (uint32_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (strcmp(set, ids[i]) == 0)
			return i + 1;
	}
	return 0;
}

/* A port into a register, two bytes in network order. */
static int expr_port(struct nftnl_rule *r, uint32_t reg, uint16_t port)
{
	struct nftnl_expr *e = expr_new(r, "immediate");
	uint16_t be = htons(port);

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &be, sizeof(be));
	return 0;
}

/* snat ip[6] to ADDR[:FIRST-LAST] in nft's layout: the address in register
 * 1, the ports in 2 and 3. The kernel dumps addr_max, proto_max and the
 * MAP_IPS and PROTO_SPECIFIED flags it sets itself: send them too, so that
 * read-back compares equal. */
static int exprs_snat(struct nftnl_rule *r, const struct masq_snat *s, int family, uint16_t first,
		      uint16_t last, bool random_fully)
{
	struct nftnl_expr *a = expr_new(r, "immediate"), *n;
	uint32_t flags = NF_NAT_RANGE_MAP_IPS;

	if (!a)
		return -ENOMEM;
	nftnl_expr_set_u32(a, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	nftnl_expr_set(a, NFTNL_EXPR_IMM_DATA, s->addr, family == AF_INET6 ? 16 : 4);
	if (first && (expr_port(r, NFT_REG_2, first) < 0 ||
		      (last != first && expr_port(r, NFT_REG_3, last) < 0)))
		return -ENOMEM;
	n = expr_new(r, "nat");
	if (!n)
		return -ENOMEM;
	nftnl_expr_set_u32(n, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
	nftnl_expr_set_u32(n, NFTNL_EXPR_NAT_FAMILY,
			   family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	nftnl_expr_set_u32(n, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_expr_set_u32(n, NFTNL_EXPR_NAT_REG_ADDR_MAX, NFT_REG_1);
	if (first) {
		flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
		nftnl_expr_set_u32(n, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
		nftnl_expr_set_u32(n, NFTNL_EXPR_NAT_REG_PROTO_MAX,
				   last != first ? NFT_REG_3 : NFT_REG_2);
	}
	if (random_fully)
		flags |= NF_NAT_RANGE_PROTO_RANDOM_FULLY;
	nftnl_expr_set_u32(n, NFTNL_EXPR_NAT_FLAGS, flags);
	return 0;
}

static int exprs_masq(struct nftnl_rule *r, int family, const struct masq_ruleset *rs)
{
	const struct masq_snat *s = &rs->snat[family == AF_INET6];
	bool random_fully = rs->random_fully;
	struct nftnl_expr *m;

	if (expr_meta_nfproto_eq(r, family) < 0 || expr_simple(r, "counter") < 0)
		return -ENOMEM;
	if (s->on)
		return exprs_snat(r, s, family, 0, 0, random_fully);
	m = expr_new(r, "masq");
	if (!m)
		return -ENOMEM;
	/* upstream's --random-fully is nft's fully-random alone (0x10), not 0x14 */
	if (random_fully)
		nftnl_expr_set_u32(m, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
	return 0;
}

/* numgen random mod M < N: nft turns the host-order number into network
 * order before comparing it with a big-endian constant. */
static int exprs_numgen_lt(struct nftnl_rule *r, uint32_t mod, uint32_t lt)
{
	struct nftnl_expr *n = expr_new(r, "numgen"), *o;
	uint32_t be = htonl(lt);

	if (!n)
		return -ENOMEM;
	nftnl_expr_set_u32(n, NFTNL_EXPR_NG_DREG, NFT_REG_1);
	nftnl_expr_set_u32(n, NFTNL_EXPR_NG_MODULUS, mod);
	nftnl_expr_set_u32(n, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
	/* nft leaves offset out; the kernel reports 0: send what it will report */
	nftnl_expr_set_u32(n, NFTNL_EXPR_NG_OFFSET, 0);
	o = expr_new(r, "byteorder");
	if (!o)
		return -ENOMEM;
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_LEN, 4);
	nftnl_expr_set_u32(o, NFTNL_EXPR_BYTEORDER_SIZE, 4);
	return expr_cmp(r, NFT_CMP_LT, &be, sizeof(be));
}

/* --to-ports: meta nfproto X; meta l4proto P; [numgen]; counter; masquerade to :A-B */
static int exprs_masq_ports(struct nftnl_rule *r, const struct masq_rule *mr,
			    const struct masq_ruleset *rs)
{
	const struct masq_snat *s = &rs->snat[mr->family == AF_INET6];
	bool random_fully = rs->random_fully;
	bool range = mr->port_last != mr->port_first;
	uint32_t flags = NF_NAT_RANGE_PROTO_SPECIFIED;
	struct nftnl_expr *m;

	if (expr_meta_nfproto_eq(r, mr->family) < 0 ||
	    expr_meta_eq(r, NFT_META_L4PROTO, mr->l4proto) < 0)
		return -ENOMEM;
	if (mr->ng_mod && exprs_numgen_lt(r, mr->ng_mod, mr->ng_lt) < 0)
		return -ENOMEM;
	if (s->on)
		return expr_simple(r, "counter") < 0 ? -ENOMEM
						     : exprs_snat(r, s, mr->family, mr->port_first,
								  mr->port_last, random_fully);
	if (expr_simple(r, "counter") < 0 || expr_port(r, NFT_REG_1, mr->port_first) < 0 ||
	    (range && expr_port(r, NFT_REG_2, mr->port_last) < 0))
		return -ENOMEM;
	m = expr_new(r, "masq");
	if (!m)
		return -ENOMEM;
	/* nft leaves proto_max out for a single port; the kernel then uses
	 * proto_min's register for both and dumps both, so name it here too */
	nftnl_expr_set_u32(m, NFTNL_EXPR_MASQ_REG_PROTO_MIN, NFT_REG_1);
	nftnl_expr_set_u32(m, NFTNL_EXPR_MASQ_REG_PROTO_MAX, range ? NFT_REG_2 : NFT_REG_1);
	if (random_fully)
		flags |= NF_NAT_RANGE_PROTO_RANDOM_FULLY;
	nftnl_expr_set_u32(m, NFTNL_EXPR_MASQ_FLAGS, flags);
	return 0;
}

int nft_exprs_add(struct nftnl_rule *r, const struct masq_ruleset *rs, const struct masq_rule *mr)
{
	switch (mr->kind) {
	case MASQ_RULE_LOCAL_RETURN:
		return exprs_local(r);
	case MASQ_RULE_NOMASQ_RETURN:
		return exprs_nomasq(r, mr->family);
	case MASQ_RULE_MASQUERADE:
		return exprs_masq(r, mr->family, rs);
	case MASQ_RULE_MASQUERADE_PORTS:
		return exprs_masq_ports(r, mr, rs);
	case MASQ_RULE_PODSRC_RETURN:
		return exprs_podsrc(r, mr->family);
	}
	return -EINVAL;
}
