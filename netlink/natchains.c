/* Finding the other NAT chains at the postrouting hook: one dump of every
 * family's chains, then one rule dump per nat postrouting base chain (and per
 * chain it jumps to, NFT_NATCHAINS_DEPTH deep), and, when some NAT, one dump
 * of the tables for their flags. libnftnl parses every reply. */
#include "netlink/natchains.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/ruleset.h"
#include "netlink/sock.h"
#include "netlink/table.h"

#define CANDIDATES_MAX 64 /* nat postrouting base chains examined */

static void copy_name(char *dst, const char *src)
{
	snprintf(dst, NFT_NATCHAINS_NAME_LEN, "%s", src ? src : "");
}

int nft_natchain_parse(const struct nlmsghdr *nlh, struct nft_natchain *ret)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	const char *type, *table;
	uint32_t family;
	int r = 0;

	if (!c)
		return -ENOMEM;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0 || !nftnl_chain_is_set(c, NFTNL_CHAIN_TABLE) ||
	    !nftnl_chain_is_set(c, NFTNL_CHAIN_NAME)) {
		nftnl_chain_free(c);
		return -EBADMSG;
	}
	type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
	table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
	family = nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM) &&
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) == NF_INET_POST_ROUTING && type &&
	    strcmp(type, "nat") == 0 &&
	    !(family == NFPROTO_INET && strcmp(table, MASQ_TABLE) == 0)) {
		memset(ret, 0, sizeof(*ret));
		ret->family = (uint8_t)family;
		ret->priority = (int32_t)nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
		copy_name(ret->table, table);
		copy_name(ret->chain, nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
		r = 1;
	}
	nftnl_chain_free(c);
	return r;
}

/* The first NAT of the chain; conditional when the rule matches something
 * first or an earlier rule may have ended the chain. */
static void found_nat(struct nft_natscan *s, bool snat, bool matched)
{
	if (s->found)
		return;
	s->found = true;
	s->snat = snat;
	s->conditional = matched || s->ended;
}

/* An immediate's verdict: a jump to follow, and the end of what runs for sure. */
static void verdict(struct nft_natscan *s, struct nftnl_expr *e, bool matched)
{
	uint32_t v = nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
	const char *to = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);

	if ((v == (uint32_t)NFT_JUMP || v == (uint32_t)NFT_GOTO) && to && !s->found &&
	    s->njumps < sizeof(s->jumps) / sizeof(s->jumps[0])) {
		copy_name(s->jumps[s->njumps], to);
		s->jump_conditional[s->njumps++] = matched || s->ended;
	}
	s->ended = true; /* accept, drop, return, or a chain that may end in one */
}

/* One expression; true when it ends the rule (a NAT). */
static bool scan_expr(struct nft_natscan *s, struct nftnl_expr *e, bool *matched)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	const char *tg;

	if (!name || strcmp(name, "counter") == 0)
		return false; /* iptables-nft counts every rule: not a match */
	if (strcmp(name, "masq") == 0 ||
	    (strcmp(name, "nat") == 0 &&
	     nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_TYPE) == (uint32_t)NFT_NAT_SNAT)) {
		found_nat(s, name[0] == 'n', *matched);
		return true;
	}
	/* iptables-nft's -j MASQUERADE and -j SNAT are xtables targets */
	tg = strcmp(name, "target") == 0 ? nftnl_expr_get_str(e, NFTNL_EXPR_TG_NAME) : NULL;
	if (tg && (strcmp(tg, "MASQUERADE") == 0 || strcmp(tg, "SNAT") == 0)) {
		found_nat(s, tg[0] == 'S', *matched);
		return true;
	}
	if (strcmp(name, "immediate") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT)) {
		verdict(s, e, *matched);
		return true;
	}
	*matched = true;
	return false;
}

int nft_natrule_scan(const struct nlmsghdr *nlh, struct nft_natscan *s)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	bool matched = false;

	if (!r)
		return -ENOMEM;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 || !nftnl_rule_is_set(r, NFTNL_RULE_CHAIN) ||
	    !(it = nftnl_expr_iter_create(r))) {
		nftnl_rule_free(r);
		return -EBADMSG;
	}
	while ((e = nftnl_expr_iter_next(it)) && !scan_expr(s, e, &matched))
		;
	nftnl_expr_iter_destroy(it);
	nftnl_rule_free(r);
	return 0;
}

struct find {
	struct nft_natchain *cand;
	unsigned ncand;
	bool truncated;
	unsigned budget; /* rules left to examine */
	struct nft_natscan *scan;
	int err;
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct find *f = data;
	struct nft_natchain c;
	int r = nft_natchain_parse(nlh, &c);

	if (r < 0 && !f->err)
		f->err = r;
	if (r <= 0)
		return MNL_CB_OK; /* read the dump to its end; the error stays */
	if (f->ncand == CANDIDATES_MAX)
		f->truncated = true;
	else
		f->cand[f->ncand++] = c;
	return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct find *f = data;
	int r;

	if (!f->budget) {
		f->truncated = true;
		return MNL_CB_OK;
	}
	f->budget--;
	r = nft_natrule_scan(nlh, f->scan);
	if (r < 0 && !f->err)
		f->err = r;
	return MNL_CB_OK;
}

/* The rules of one chain, in order, into s. */
static int scan_chain(struct nft_sock *sock, struct find *f, const struct nft_natchain *c,
		      const char *chain, struct nft_natscan *s)
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	struct nlmsghdr *nlh =
		nft_sock_req_start(sock, buf, NFT_MSG_GETRULE, c->family, NLM_F_DUMP);
	int r;

	memset(s, 0, sizeof(*s));
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, c->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
	f->scan = s;
	r = nft_sock_request(sock, nlh, rule_cb, f);
	if (r == -ENOENT)
		return 0; /* gone meanwhile: nothing of it runs */
	return r < 0 ? r : f->err;
}

/* Does chain (of c's table) NAT, itself or depth jumps further? Fills c's
 * via and snat, and *cond when it may not. */
static int chain_nats(struct nft_sock *sock, struct find *f, struct nft_natchain *c,
		      const char *chain, unsigned depth, bool *cond)
{
	struct nft_natscan s;
	int r = scan_chain(sock, f, c, chain, &s);

	if (r < 0 || s.found) {
		c->snat = s.snat;
		*cond = s.conditional;
		return r < 0 ? r : 1;
	}
	for (unsigned i = 0; depth < NFT_NATCHAINS_DEPTH && i < s.njumps; i++) {
		r = chain_nats(sock, f, c, s.jumps[i], depth + 1, cond);
		if (r < 0)
			return r;
		if (r > 0) {
			if (!c->via[0])
				copy_name(c->via, s.jumps[i]);
			*cond = *cond || s.jump_conditional[i];
			return 1;
		}
	}
	return 0;
}

int nft_natchains_table_msg(const struct nlmsghdr *nlh, struct nft_natchains *found,
			    bool seen[NFT_NATCHAINS_MAX])
{
	struct nftnl_table *t = nftnl_table_alloc();
	const char *name;
	uint32_t flags, family;
	bool owned;

	if (!t)
		return -ENOMEM;
	if (nftnl_table_nlmsg_parse(nlh, t) < 0 || !nftnl_table_is_set(t, NFTNL_TABLE_NAME)) {
		nftnl_table_free(t);
		return -EBADMSG;
	}
	name = nftnl_table_get_str(t, NFTNL_TABLE_NAME);
	family = nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY);
	flags = nftnl_table_is_set(t, NFTNL_TABLE_FLAGS) ? nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS)
							 : 0;
	owned = (flags & NFT_TABLE_OWNED_PERSISTENT) == NFT_TABLE_F_OWNER;
	for (unsigned i = 0; i < found->n; i++)
		if (found->c[i].family == family && strcmp(found->c[i].table, name) == 0) {
			seen[i] = true;
			found->c[i].owned = owned;
		}
	nftnl_table_free(t);
	return 0;
}

void nft_natchains_keep_seen(struct nft_natchains *found, const bool seen[NFT_NATCHAINS_MAX])
{
	unsigned kept = 0;

	for (unsigned i = 0; i < found->n; i++)
		if (seen[i])
			found->c[kept++] = found->c[i];
	found->n = kept;
}

struct tables {
	struct nft_natchains *found;
	bool seen[NFT_NATCHAINS_MAX];
};

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tables *t = data;
	int r = nft_natchains_table_msg(nlh, t->found, t->seen);

	if (r < 0) {
		errno = -r;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

/* Mark the chains whose table goes with its owner, and drop those whose
 * table is gone already: an owner that exited after the chain dump took its
 * table with it, and no new generation would make the next check see it. */
static int mark_tables(struct nft_sock *sock, struct nft_natchains *found)
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	struct tables t = { .found = found };
	struct nlmsghdr *nlh =
		nft_sock_req_start(sock, buf, NFT_MSG_GETTABLE, NFPROTO_UNSPEC, NLM_F_DUMP);
	int r = nft_sock_request(sock, nlh, table_cb, &t);

	if (r < 0)
		return r;
	nft_natchains_keep_seen(found, t.seen);
	return 0;
}

int nft_natchains_owned_here(struct nft_sock *sock, const struct nft_natchains *found)
{
	for (unsigned i = 0; i < found->n; i++) {
		const struct nft_natchain *c = &found->c[i];
		int r = c->owned ? nft_table_get(sock, c->family, c->table, NULL, NULL) : 0;

		if (r < 0)
			return r == -ENOENT ? 0 : r;
	}
	return 1;
}

int nft_natchains_find(struct nft_sock *sock, struct nft_natchains *ret)
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	struct find f = { .budget = NFT_NATCHAINS_RULES_MAX };
	struct nlmsghdr *nlh;
	int r;

	memset(ret, 0, sizeof(*ret));
	f.cand = calloc(CANDIDATES_MAX, sizeof(*f.cand));
	if (!f.cand)
		return -ENOMEM;
	/* NFPROTO_UNSPEC: the chains of every family, ip, ip6 and inet alike */
	nlh = nft_sock_req_start(sock, buf, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NLM_F_DUMP);
	r = nft_sock_request(sock, nlh, chain_cb, &f);
	r = r < 0 ? r : f.err;
	for (unsigned i = 0; r >= 0 && i < f.ncand; i++) {
		struct nft_natchain *c = &f.cand[i];
		bool cond = false;

		r = chain_nats(sock, &f, c, c->chain, 0, &cond);
		if (r <= 0)
			continue;
		c->conditional = cond;
		if (ret->n == NFT_NATCHAINS_MAX)
			f.truncated = true;
		else
			ret->c[ret->n++] = *c;
	}
	ret->truncated = f.truncated;
	free(f.cand);
	if (r >= 0 && ret->n)
		r = mark_tables(sock, ret);
	return r < 0 ? r : 0;
}
