/* Upstream ip-masq-agent's leftover chain in iptables-nft's table ip nat and
 * ip6 nat: finding it and its POSTROUTING jumps, and removing them. */
#include "netlink/legacy.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <string.h>

#include "netlink/batch.h"
#include "netlink/nft.h"
#include "netlink/sock.h"

struct legacy_dump {
	const char *chain;
	struct nft_legacy_family *f;
};

/* Is this expression a jump (or goto) to the chain? */
static bool jumps_to(struct nftnl_expr *e, const char *chain)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME), *to;
	uint32_t v;

	if (!name || strcmp(name, "immediate") != 0 || !nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
		return false;
	v = nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
	to = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
	return (v == (uint32_t)NFT_JUMP || v == (uint32_t)NFT_GOTO) && to && strcmp(to, chain) == 0;
}

static int legacy_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct legacy_dump *d = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	const char *chain;

	if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0) {
		nftnl_rule_free(r);
		return MNL_CB_OK; /* not ours to judge; skip it */
	}
	chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
	if (chain && strcmp(chain, d->chain) == 0)
		d->f->rules++;
	it = chain && strcmp(chain, "POSTROUTING") == 0 ? nftnl_expr_iter_create(r) : NULL;
	while (it && (e = nftnl_expr_iter_next(it))) {
		if (jumps_to(e, d->chain) && d->f->njumps < NFT_LEGACY_MAX_JUMPS) {
			d->f->jumps[d->f->njumps++] = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
			break;
		}
	}
	nftnl_expr_iter_destroy(it);
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static int chain_exists_cb(const struct nlmsghdr *nlh, void *data)
{
	*(bool *)data = true;
	return MNL_CB_OK;
}

static int legacy_family(struct nft_sock *sock, int family, const char *chain,
			 struct nft_legacy_family *f)
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	struct legacy_dump d = { chain, f };
	struct nlmsghdr *nlh;
	int r;

	memset(f, 0, sizeof(*f));
	nlh = nft_sock_req_start(sock, buf, NFT_MSG_GETCHAIN, (uint16_t)family, NLM_F_ACK);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, "nat");
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain);
	r = nft_sock_request(sock, nlh, chain_exists_cb, &f->present);
	if (r == -ENOENT || (r == 0 && !f->present))
		return 0;
	if (r < 0)
		return r;
	nlh = nft_sock_req_start(sock, buf, NFT_MSG_GETRULE, (uint16_t)family, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "nat");
	return nft_sock_request(sock, nlh, legacy_rule_cb, &d);
}

int nft_legacy_find(struct nft_sock *sock, const char *chain, struct nft_legacy *ret)
{
	int r;

	/* the kernel refuses longer names; the request buffer is sized for them */
	if (strlen(chain) >= NFT_CHAIN_MAXNAMELEN)
		return -ENAMETOOLONG;
	r = legacy_family(sock, NFPROTO_IPV4, chain, &ret->f[0]);
	return r < 0 ? r : legacy_family(sock, NFPROTO_IPV6, chain, &ret->f[1]);
}

int nft_legacy_remove(struct nft_sock *sock, const char *chain, const struct nft_legacy *found,
		      struct nft_error *ret_err)
{
	static const int families[2] = { NFPROTO_IPV4, NFPROTO_IPV6 };
	struct nft_batch *b = nft_sock_batch_open(sock);
	int r = b ? 0 : -ENOMEM;

	memset(ret_err, 0, sizeof(*ret_err));
	for (int i = 0; r == 0 && i < 2; i++) {
		const struct nft_legacy_family *f = &found->f[i];
		if (!f->present)
			continue;
		/* the jumps first: a chain still jumped to cannot be deleted */
		for (size_t j = 0; r == 0 && j < f->njumps; j++)
			r = nft_batch_del_rule(b, families[i], "nat", "POSTROUTING", f->jumps[j]);
		if (r == 0)
			r = nft_batch_del_rule(b, families[i], "nat", chain, 0);
		if (r == 0)
			r = nft_batch_del_chain(b, families[i], "nat", chain);
	}
	if (r < 0) {
		nft_batch_free(b);
		return r;
	}
	return nft_sock_batch_close(sock, b, true, ret_err);
}
