/* One nftables transaction: the buffer of messages, their sequence numbers
 * and what each one does, for error reports. */
#include "netlink/batch.h"

#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/ruleset.h"
#include "netlink/exprs.h"

/* Room reserved for one message. nftnl writes without knowing the buffer
 * size; element messages stay far below this by NFT_ELEMS_PER_MSG. */
#define MSG_RESERVE (UINT16_MAX + 4096)
#define DESC_LEN 64

/* nft's datatype numbers, so `nft list` prints the keys as addresses */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8

struct nft_batch {
	char *buf;
	size_t len, cap;
	uint32_t first_seq, seq;
	char (*desc)[DESC_LEN]; /* desc[seq - first_seq] */
	size_t ndesc;
	uint32_t set_id;
	bool echo_next; /* BATCH_BEGIN was the last message: echo the next one */
	bool other_tables; /* a message changes a table that is not masqd's */
};

struct nft_batch *nft_batch_new(uint32_t first_seq)
{
	struct nft_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->first_seq = b->seq = first_seq;
	return b;
}

void nft_batch_free(struct nft_batch *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b->desc);
	free(b);
}

const void *nft_batch_get_data(const struct nft_batch *b)
{
	return b->buf;
}

size_t nft_batch_get_len(const struct nft_batch *b)
{
	return b->len;
}

uint32_t nft_batch_get_next_seq(const struct nft_batch *b)
{
	return b->seq;
}

bool nft_batch_other_tables(const struct nft_batch *b)
{
	return b->other_tables;
}

/* A message for table in family: note when it is not masqd's own. */
static void note_table(struct nft_batch *b, int family, const char *table)
{
	if (family != NFPROTO_INET || strcmp(table, MASQ_TABLE) != 0)
		b->other_tables = true;
}

const char *nft_batch_describe(const struct nft_batch *b, uint32_t seq)
{
	uint32_t i = seq - b->first_seq;

	return i < b->seq - b->first_seq ? b->desc[i] : NULL;
}

/* Make room for one more message and its description. */
static int reserve(struct nft_batch *b)
{
	size_t i = b->seq - b->first_seq;

	if (b->len + MSG_RESERVE > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4 * MSG_RESERVE;
		char *n = realloc(b->buf, cap);
		if (!n)
			return -ENOMEM;
		memset(n + b->cap, 0, cap - b->cap);
		b->buf = n;
		b->cap = cap;
	}
	if (i >= b->ndesc) {
		size_t nd = b->ndesc ? b->ndesc * 2 : 64;
		void *n = realloc(b->desc, nd * DESC_LEN);
		if (!n)
			return -ENOMEM;
		b->desc = n;
		b->ndesc = nd;
	}
	return 0;
}

/* Start a message; finish it with push(). */
static struct nlmsghdr *__attribute__((format(printf, 4, 5)))
start(struct nft_batch *b, uint16_t type, uint16_t flags, const char *fmt, ...)
{
	va_list ap;

	if (reserve(b) < 0)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(b->desc[b->seq - b->first_seq], DESC_LEN, fmt, ap);
	va_end(ap);
	/* Echo on the first message after BATCH_BEGIN: the kernel takes the
	 * flags of the batch's first message (BATCH_BEGIN is gone by then) for
	 * the generation notice, so a commit answers with the generation it
	 * made (NFT_MSG_NEWGEN, to this port, with this message's sequence
	 * number). That message's own notices come back too (a table's, or at
	 * most NFT_ELEMS_PER_MSG elements'); the reply walk skips them. */
	if (b->echo_next)
		flags |= NLM_F_ECHO;
	b->echo_next = false;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET, flags, b->seq);
}

static void push(struct nft_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->seq++;
}

static int batch_marker(struct nft_batch *b, bool begin)
{
	struct nlmsghdr *nlh;

	if (reserve(b) < 0)
		return -ENOMEM;
	snprintf(b->desc[b->seq - b->first_seq], DESC_LEN, "batch %s", begin ? "begin" : "end");
	nlh = begin ? nftnl_batch_begin(b->buf + b->len, b->seq)
		    : nftnl_batch_end(b->buf + b->len, b->seq);
	b->echo_next = begin;
	push(b, nlh);
	return 0;
}

int nft_batch_begin(struct nft_batch *b)
{
	return batch_marker(b, true);
}

int nft_batch_end(struct nft_batch *b)
{
	return batch_marker(b, false);
}

/* Userdata holding one comment TLV, as nft writes it. */
static int set_comment(void *obj, void (*set)(void *, uint16_t, const void *, uint32_t),
		       uint16_t attr, uint8_t tlv, const char *comment)
{
	struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(256);

	if (!u)
		return -ENOMEM;
	if (!nftnl_udata_put_strz(u, tlv, comment)) {
		nftnl_udata_buf_free(u);
		return -EINVAL;
	}
	set(obj, attr, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
	nftnl_udata_buf_free(u);
	return 0;
}

static void table_set_data(void *t, uint16_t a, const void *d, uint32_t l)
{
	nftnl_table_set_data(t, a, d, l);
}

static void rule_set_data(void *r, uint16_t a, const void *d, uint32_t l)
{
	nftnl_rule_set_data(r, a, d, l);
}

static struct nftnl_table *table_new(const char *name, uint32_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return NULL;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
	return t;
}

int nft_batch_add_table(struct nft_batch *b, const char *name, uint32_t flags)
{
	struct nftnl_table *t;
	struct nlmsghdr *nlh;
	int r = -ENOMEM;

	name = name ? name : MASQ_TABLE;
	note_table(b, NFPROTO_INET, name);
	t = table_new(name, flags);
	if (!t)
		return -ENOMEM;
	if (set_comment(t, table_set_data, NFTNL_TABLE_USERDATA, NFTNL_UDATA_TABLE_COMMENT,
			MASQ_TABLE_COMMENT) < 0)
		goto out;
	nlh = start(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "table inet %s", name);
	if (!nlh)
		goto out;
	nftnl_table_nlmsg_build_payload(nlh, t);
	push(b, nlh);
	r = 0;
out:
	nftnl_table_free(t);
	return r;
}

int nft_batch_del_table(struct nft_batch *b)
{
	struct nftnl_table *t = table_new(MASQ_TABLE, 0);
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	nftnl_table_unset(t, NFTNL_TABLE_FLAGS);
	nlh = start(b, NFT_MSG_DELTABLE, 0, "delete table inet %s", MASQ_TABLE);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		push(b, nlh);
	}
	nftnl_table_free(t);
	return nlh ? 0 : -ENOMEM;
}

static int add_chain(struct nft_batch *b)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, MASQ_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, MASQ_CHAIN);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_POST_ROUTING);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, MASQ_CHAIN_PRIORITY);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = start(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "chain %s", MASQ_CHAIN);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		push(b, nlh);
	}
	nftnl_chain_free(c);
	return nlh ? 0 : -ENOMEM;
}

static struct nftnl_set *set_new(const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, MASQ_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	return s;
}

static int add_set(struct nft_batch *b, const char *name, int family)
{
	struct nftnl_set *s = set_new(name);
	struct nlmsghdr *nlh;

	if (!s)
		return -ENOMEM;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
			  family == AF_INET ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)cidr_addr_len(family));
	nftnl_set_set_u32(s, NFTNL_SET_ID, nft_exprs_set_id(name));
	nlh = start(b, NFT_MSG_NEWSET, NLM_F_CREATE, "set %s", name);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		push(b, nlh);
	}
	nftnl_set_free(s);
	return nlh ? 0 : -ENOMEM;
}

/* One element message for elems[from, to), written with libmnl straight
 * into the batch: the same attributes libnftnl writes, without allocating
 * an object per element (the largest userspace cost at 10,000 CIDRs). */
static int elems_msg(struct nft_batch *b, const char *set, int family, const struct set_elem *elems,
		     size_t from, size_t to, bool del)
{
	size_t len = cidr_addr_len(family);
	struct nlattr *list, *elem, *key;
	struct nlmsghdr *nlh;

	/* NLM_F_EXCL: an element already there is a bug, not something to ignore */
	nlh = del ? start(b, NFT_MSG_DELSETELEM, 0, "set %s delete elements %zu-%zu", set, from + 1,
			  to)
		  : start(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL,
			  "set %s elements %zu-%zu", set, from + 1, to);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, MASQ_TABLE);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (size_t i = from; i < to; i++) {
		elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		if (elems[i].end)
			mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS,
					 htonl(NFT_SET_ELEM_INTERVAL_END));
		key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, len, elems[i].key);
		mnl_attr_nest_end(nlh, key);
		mnl_attr_nest_end(nlh, elem);
	}
	mnl_attr_nest_end(nlh, list);
	push(b, nlh);
	return 0;
}

/* elems in messages of NFT_ELEMS_PER_MSG elements; as a batch's first
 * message, which the kernel echoes element by element, one element alone */
static int elems_msgs(struct nft_batch *b, const char *set, int family,
		      const struct set_elem *elems, size_t n, bool del)
{
	size_t per;
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i += per) {
		per = b->echo_next ? 1 : NFT_ELEMS_PER_MSG;
		r = elems_msg(b, set, family, elems, i, i + per < n ? i + per : n, del);
	}
	return r;
}

int nft_batch_add_elems(struct nft_batch *b, int family, const struct set_elem *elems, size_t n)
{
	return elems_msgs(b, masq_ruleset_set_name(family), family, elems, n, false);
}

int nft_batch_del_elems(struct nft_batch *b, int family, const struct set_elem *elems, size_t n)
{
	return elems_msgs(b, masq_ruleset_set_name(family), family, elems, n, true);
}

static int add_set_with_elems(struct nft_batch *b, const char *set, int family,
			      const struct addr_range *r, size_t n)
{
	struct set_elem *elems;
	int ret = add_set(b, set, family), cnt;

	if (ret < 0)
		return ret;
	cnt = range_elems(r, n, cidr_addr_len(family), &elems);
	if (cnt < 0)
		return cnt;
	ret = elems_msgs(b, set, family, elems, (size_t)cnt, false);
	free(elems);
	return ret;
}

static int add_rule(struct nft_batch *b, const struct masq_ruleset *rs, const struct masq_rule *mr,
		    size_t idx)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	int ret;

	if (!r)
		return -ENOMEM;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, MASQ_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, MASQ_CHAIN);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	ret = nft_exprs_add(r, rs, mr);
	if (ret == 0)
		ret = set_comment(r, rule_set_data, NFTNL_RULE_USERDATA, NFTNL_UDATA_RULE_COMMENT,
				  mr->comment);
	if (ret == 0) {
		nlh = start(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, "rule %zu", idx + 1);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, r);
			push(b, nlh);
		} else {
			ret = -ENOMEM;
		}
	}
	nftnl_rule_free(r);
	return ret;
}

int nft_batch_add_ruleset(struct nft_batch *b, const struct masq_ruleset *rs)
{
	int r = add_chain(b);

	if (r == 0)
		r = add_set_with_elems(b, MASQ_SET4, AF_INET, rs->v4, rs->n4);
	if (r == 0 && rs->ipv6)
		r = add_set_with_elems(b, MASQ_SET6, AF_INET6, rs->v6, rs->n6);
	for (int fi = 0; r == 0 && fi < 2; fi++) {
		int family = fi ? AF_INET6 : AF_INET;

		if (rs->pod[fi])
			r = add_set_with_elems(b, masq_ruleset_pod_set_name(family), family,
					       rs->pod[fi], rs->npod[fi]);
	}
	for (size_t i = 0; r == 0 && i < rs->nrules; i++)
		r = add_rule(b, rs, &rs->rules[i], i);
	return r;
}

/* A message for another family's table (iptables-nft's ip and ip6 nat). */
static void set_family(struct nlmsghdr *nlh, int family)
{
	struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);

	g->nfgen_family = (uint8_t)family;
}

int nft_batch_del_rule(struct nft_batch *b, int family, const char *table, const char *chain,
		       uint64_t handle)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!r)
		return -ENOMEM;
	note_table(b, family, table);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	if (handle)
		nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, handle);
	nlh = handle ? start(b, NFT_MSG_DELRULE, 0, "delete rule %s %s handle %llu", table, chain,
			     (unsigned long long)handle)
		     : start(b, NFT_MSG_DELRULE, 0, "flush chain %s %s", table, chain);
	if (nlh) {
		set_family(nlh, family);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		push(b, nlh);
	}
	nftnl_rule_free(r);
	return nlh ? 0 : -ENOMEM;
}

int nft_batch_del_chain(struct nft_batch *b, int family, const char *table, const char *chain)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		return -ENOMEM;
	note_table(b, family, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain);
	nlh = start(b, NFT_MSG_DELCHAIN, 0, "delete chain %s %s", table, chain);
	if (nlh) {
		set_family(nlh, family);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		push(b, nlh);
	}
	nftnl_chain_free(c);
	return nlh ? 0 : -ENOMEM;
}
