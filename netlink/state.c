/* A table's contents as sorted canonical lines, from the messages masqd
 * would send or the kernel's dump replies, and the rule counters seen. */
#include "netlink/state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/ruleset.h"
#include "netlink/batch.h"

struct nft_state {
	char **lines;
	size_t n, cap;
	unsigned rules; /* rules seen so far, for their order */
	struct nft_counters counters;
};

struct nft_state *nft_state_new(void)
{
	return calloc(1, sizeof(struct nft_state));
}

void nft_state_free(struct nft_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		free(st->lines[i]);
	free(st->lines);
	free(st);
}

static int __attribute__((format(printf, 2, 3)))
add_line(struct nft_state *st, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	if (st->n >= NFT_STATE_MAX_LINES)
		return -E2BIG;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		char **n = realloc(st->lines, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		st->lines = n;
		st->cap = cap;
	}
	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	st->lines[st->n++] = s;
	return 0;
}

static void hex(const void *data, size_t len, char *out, size_t outlen)
{
	const unsigned char *p = data;
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < len && o + 3 <= outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%02x", p[i]);
}

/* The payload of a top-level attribute, or NULL. */
static const struct nlattr *find_attr(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) == type)
			return attr;
	}
	return NULL;
}

/* Is this message about our table? Every message type names it. */
static bool ours(const struct nlmsghdr *nlh, uint16_t table_attr)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *t = find_attr(nlh, table_attr);

	return g->nfgen_family == NFPROTO_INET && t &&
	       mnl_attr_validate(t, MNL_TYPE_NUL_STRING) == 0 &&
	       strcmp(mnl_attr_get_str(t), MASQ_TABLE) == 0;
}

/* The table's comment; its flags and owner are compared separately. */
static int add_table(struct nft_state *st, const struct nlmsghdr *nlh)
{
	const struct nlattr *ud = find_attr(nlh, NFTA_TABLE_USERDATA);
	char udhex[2 * 256 + 1] = "";

	if (ud && mnl_attr_get_payload_len(ud) <= 256)
		hex(mnl_attr_get_payload(ud), mnl_attr_get_payload_len(ud), udhex, sizeof(udhex));
	return add_line(st, "table comment=%s", udhex);
}

static int add_chain(struct nft_state *st, const struct nlmsghdr *nlh)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	int r = -EBADMSG;

	if (!c)
		return -ENOMEM;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 && nftnl_chain_is_set(c, NFTNL_CHAIN_NAME)) {
		bool base = nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM);
		r = add_line(st, "chain %s type=%s hook=%d prio=%d policy=%d",
			     nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
			     nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE)
				     ? nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE)
				     : "-",
			     base ? (int)nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) : -1,
			     base ? nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO) : 0,
			     nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY)
				     ? (int)nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY)
				     : -1);
	}
	nftnl_chain_free(c);
	return r;
}

static int add_set(struct nft_state *st, const struct nlmsghdr *nlh)
{
	struct nftnl_set *s = nftnl_set_alloc();
	int r = -EBADMSG;

	if (!s)
		return -ENOMEM;
	if (nftnl_set_nlmsg_parse(nlh, s) == 0 && nftnl_set_is_set(s, NFTNL_SET_NAME))
		r = add_line(st, "set %s flags=0x%x keytype=%u keylen=%u datatype=%u",
			     nftnl_set_get_str(s, NFTNL_SET_NAME),
			     nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
			     nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
			     nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
			     nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE));
	nftnl_set_free(s);
	return r;
}

/* One element: "elem SET KEYHEX[ end]". Parsed with libmnl: it is the one
 * message libnftnl 1.2.4 fails to parse back when it holds several elements. */
static int add_elem(struct nft_state *st, const char *set, const struct nlattr *elem)
{
	const struct nlattr *a, *k;
	char key[2 * 16 + 1] = "";
	uint32_t flags = 0;
	bool other = false;

	mnl_attr_for_each_nested(a, elem) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_FLAGS:
			if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
				return -EBADMSG;
			flags = ntohl(mnl_attr_get_u32(a));
			break;
		case NFTA_SET_ELEM_KEY:
			mnl_attr_for_each_nested(k, a) {
				if (mnl_attr_get_type(k) != NFTA_DATA_VALUE ||
				    mnl_attr_get_payload_len(k) > 16)
					return -EBADMSG;
				hex(mnl_attr_get_payload(k), mnl_attr_get_payload_len(k), key,
				    sizeof(key));
			}
			break;
		case NFTA_SET_ELEM_DATA:
		case NFTA_SET_ELEM_EXPR:
		case NFTA_SET_ELEM_EXPRESSIONS:
		case NFTA_SET_ELEM_KEY_END:
			other = true; /* never ours: makes the states differ */
			break;
		default:
			break;
		}
	}
	if (!key[0])
		return -EBADMSG;
	return add_line(st, "elem %s %s%s%s", set, key,
			flags & NFT_SET_ELEM_INTERVAL_END ? " end" : "", other ? " extra" : "");
}

static int add_elems(struct nft_state *st, const struct nlmsghdr *nlh)
{
	const struct nlattr *set = find_attr(nlh, NFTA_SET_ELEM_LIST_SET);
	const struct nlattr *list = find_attr(nlh, NFTA_SET_ELEM_LIST_ELEMENTS), *e;
	int r;

	if (!set || mnl_attr_validate(set, MNL_TYPE_NUL_STRING) < 0)
		return -EBADMSG;
	if (!list)
		return 0; /* an empty set */
	mnl_attr_for_each_nested(e, list) {
		r = add_elem(st, mnl_attr_get_str(set), e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Append to a bounded text; past the end it is cut, which only ever makes
 * two states differ (and so leads to a rewrite), never equal. */
static void append(char *buf, size_t len, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= len)
		n = len - 1 - *o;
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
}

/* A rule's expressions as "name text;name text;". Counters are reduced to
 * their name: their values are state, not configuration. */
static int rule_exprs(struct nftnl_rule *r, char *buf, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	size_t o = 0;

	if (!it)
		return -ENOMEM;
	buf[0] = '\0';
	while ((e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		char text[512] = "";

		if (strcmp(name, "counter") != 0 &&
		    nftnl_expr_snprintf(text, sizeof(text), e, NFTNL_OUTPUT_DEFAULT, 0) < 0)
			text[0] = '\0';
		append(buf, len, &o, name);
		append(buf, len, &o, " ");
		append(buf, len, &o, text);
		append(buf, len, &o, ";");
	}
	nftnl_expr_iter_destroy(it);
	return 0;
}

/* Attribute a rule's counter to what the rule does: a lookup in nomasq4/6
 * keeps the pod IP; masquerade (or snat) after "meta nfproto" is per family. */
static void count_rule(struct nft_state *st, struct nftnl_rule *r)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	uint64_t packets = 0;
	int family = -1, kind = 0; /* 1 kept, 2 masqueraded */

	if (!it)
		return;
	while ((e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		const char *set;
		uint32_t len = 0;
		const uint8_t *d;

		if (strcmp(name, "cmp") == 0 && family < 0 &&
		    (d = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len)) && len == 1) {
			family = d[0] == NFPROTO_IPV6 ? 1 : d[0] == NFPROTO_IPV4 ? 0 : -1;
		} else if (strcmp(name, "lookup") == 0 &&
			   nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET)) {
			/* the set names the family, whatever came before; the
			 * pod-source scope's sets count nothing */
			set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
			family = strcmp(set, MASQ_SET6) == 0 ? 1 : 0;
			kind = strcmp(set, MASQ_SET4) == 0 || strcmp(set, MASQ_SET6) == 0;
		} else if (strcmp(name, "masq") == 0 || strcmp(name, "nat") == 0) {
			kind = 2;
		} else if (strcmp(name, "counter") == 0) {
			packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		}
	}
	nftnl_expr_iter_destroy(it);
	if (family < 0 || kind == 0)
		return;
	if (kind == 1)
		st->counters.kept[family] += packets;
	else
		st->counters.masqueraded[family] += packets;
}

void nft_state_get_counters(const struct nft_state *st, struct nft_counters *ret)
{
	*ret = st->counters;
}

/* "rule CHAIN NNNNNN EXPRS comment=HEX"; the number keeps the rules' order. */
static int add_rule(struct nft_state *st, const struct nlmsghdr *nlh)
{
	const struct nlattr *ud = find_attr(nlh, NFTA_RULE_USERDATA);
	struct nftnl_rule *r = nftnl_rule_alloc();
	char exprs[2048], udhex[2 * 256 + 1] = "";
	int ret = -EBADMSG;

	if (!r)
		return -ENOMEM;
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0 && nftnl_rule_is_set(r, NFTNL_RULE_CHAIN)) {
		ret = rule_exprs(r, exprs, sizeof(exprs));
		count_rule(st, r);
		if (ud && mnl_attr_get_payload_len(ud) <= 256)
			hex(mnl_attr_get_payload(ud), mnl_attr_get_payload_len(ud), udhex,
			    sizeof(udhex));
		if (ret == 0)
			ret = add_line(st, "rule %s %06u %s comment=%s",
				       nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), st->rules++, exprs,
				       udhex);
	}
	nftnl_rule_free(r);
	return ret;
}

int nft_state_add_msg(struct nft_state *st, const struct nlmsghdr *nlh)
{
	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
		return -EBADMSG;
	switch (nlh->nlmsg_type & 0xff) {
	case NFT_MSG_NEWTABLE:
		return ours(nlh, NFTA_TABLE_NAME) ? add_table(st, nlh) : 0;
	case NFT_MSG_NEWCHAIN:
		return ours(nlh, NFTA_CHAIN_TABLE) ? add_chain(st, nlh) : 0;
	case NFT_MSG_NEWSET:
		return ours(nlh, NFTA_SET_TABLE) ? add_set(st, nlh) : 0;
	case NFT_MSG_NEWSETELEM:
		return ours(nlh, NFTA_SET_ELEM_LIST_TABLE) ? add_elems(st, nlh) : 0;
	case NFT_MSG_NEWRULE:
		return ours(nlh, NFTA_RULE_TABLE) ? add_rule(st, nlh) : 0;
	default:
		return 0;
	}
}

int nft_state_build(const struct masq_ruleset *rs, struct nft_state **ret)
{
	struct nft_batch *b = nft_batch_new(0);
	struct nft_state *st = nft_state_new();
	const struct nlmsghdr *nlh;
	int len, r = -ENOMEM;

	if (!b || !st)
		goto out;
	r = nft_batch_add_table(b, NULL, 0);
	if (r == 0)
		r = nft_batch_add_ruleset(b, rs);
	nlh = nft_batch_get_data(b);
	len = (int)nft_batch_get_len(b);
	for (; r == 0 && mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
		r = nft_state_add_msg(st, nlh);
	if (r == 0) {
		nft_state_finish(st);
		*ret = st;
		st = NULL;
	}
out:
	nft_batch_free(b);
	nft_state_free(st);
	return r;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void nft_state_finish(struct nft_state *st)
{
	qsort(st->lines, st->n, sizeof(*st->lines), line_cmp);
}

int nft_state_compare(const struct nft_state *a, const struct nft_state *b,
		      const char **ret_first_diff)
{
	size_t i = 0;

	while (i < a->n && i < b->n && strcmp(a->lines[i], b->lines[i]) == 0)
		i++;
	if (i == a->n && i == b->n)
		return 0;
	if (ret_first_diff)
		*ret_first_diff = i < a->n ? a->lines[i] : b->lines[i];
	return 1;
}
