/* table inet ip-masq-agent: reading it back (flags, owner, contents), and
 * replacing, adopting, updating or deleting it, each in one transaction. */
#include "netlink/table.h"

#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/incr.h"
#include "config/ruleset.h"
#include "netlink/batch.h"
#include "netlink/nft.h"
#include "netlink/sock.h"
#include "netlink/state.h"

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_table_info *info = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
		nftnl_table_free(t);
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	info->exists = true;
	info->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
	info->has_owner = nftnl_table_is_set(t, NFTNL_TABLE_OWNER);
	info->owner = info->has_owner ? nftnl_table_get_u32(t, NFTNL_TABLE_OWNER) : 0;
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int nft_table_get(struct nft_sock *sock, uint16_t family, const char *name, mnl_cb_t cb, void *data)
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = nft_sock_req_start(sock, buf, NFT_MSG_GETTABLE, family, NLM_F_ACK);

	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, name);
	return nft_sock_request(sock, nlh, cb, data);
}

/* GETTABLE for our table, the one way it is asked. */
static int table_get(struct nft_sock *sock, mnl_cb_t cb, void *data)
{
	return nft_table_get(sock, NFPROTO_INET, MASQ_TABLE, cb, data);
}

int nft_table_query(struct nft_sock *sock, struct nft_table_info *ret)
{
	struct nft_table_info info = { 0 };
	int r = table_get(sock, table_cb, &info);

	if (r < 0 && r != -ENOENT)
		return r;
	*ret = info;
	return 0;
}

/* A live socket other than ours owns the table. */
static int foreign_owner(const struct nft_sock *sock, const struct nft_table_info *info,
			 struct nft_error *e)
{
	if (!info->exists || !info->has_owner || info->owner == nft_sock_portid(sock))
		return 0;
	memset(e, 0, sizeof(*e));
	e->err = -EBUSY;
	e->count = 1;
	snprintf(e->what, sizeof(e->what), "table inet %s", MASQ_TABLE);
	snprintf(e->msg, sizeof(e->msg), "owned by a running process (netlink port id %u)",
		 info->owner);
	return -EBUSY;
}

/* Replace the table described by info with rs, in one transaction. */
static int replace_table(struct nft_sock *sock, const struct masq_ruleset *rs, uint32_t flags,
			 const struct nft_table_info *info, struct nft_error *ret_err)
{
	struct nft_batch *b;
	int r;

	if (foreign_owner(sock, info, ret_err) < 0)
		return -EBUSY;
	b = nft_sock_batch_open(sock);
	if (!b)
		return -ENOMEM;
	/* Delete and recreate in the same transaction: packets see the old rules
	 * or the new ones, never none, never duplicates; it also replaces a table
	 * whose flags the kernel refuses to change (EOPNOTSUPP). */
	r = info->exists ? nft_batch_del_table(b) : 0;
	if (r == 0)
		r = nft_batch_add_table(b, NULL, flags);
	if (r == 0)
		r = nft_batch_add_ruleset(b, rs);
	if (r < 0) {
		nft_batch_free(b);
		ret_err->err = r;
		return r;
	}
	return nft_sock_batch_close(sock, b, true, ret_err);
}

int nft_ruleset_apply(struct nft_sock *sock, const struct masq_ruleset *rs, uint32_t flags,
		      struct nft_error *ret_err)
{
	struct nft_table_info info;
	int r;

	memset(ret_err, 0, sizeof(*ret_err));
	r = nft_table_query(sock, &info);
	if (r < 0) {
		ret_err->err = r;
		snprintf(ret_err->what, sizeof(ret_err->what), "reading table inet %s", MASQ_TABLE);
		return r;
	}
	return replace_table(sock, rs, flags, &info, ret_err);
}

int nft_table_remove(struct nft_sock *sock, struct nft_error *ret_err)
{
	struct nft_table_info info;
	struct nft_batch *b;
	int r;

	memset(ret_err, 0, sizeof(*ret_err));
	r = nft_table_query(sock, &info);
	if (r < 0)
		return r;
	if (!info.exists)
		return 0;
	if (foreign_owner(sock, &info, ret_err) < 0)
		return -EBUSY;
	b = nft_sock_batch_open(sock);
	if (!b)
		return -ENOMEM;
	r = nft_batch_del_table(b);
	if (r < 0) {
		nft_batch_free(b);
		return r;
	}
	r = nft_sock_batch_close(sock, b, true, ret_err);
	return r < 0 ? r : 1;
}

struct dump {
	struct nft_state *st;
	struct nft_table_info *info;
	char sets[8][NFT_SET_MAXNAMELEN]; /* set names seen, to dump their elements */
	unsigned nsets;
	int err;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	int r = nft_state_add_msg(d->st, nlh);

	if (r < 0) {
		d->err = r;
		errno = -r;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int set_names_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_nlmsg_parse(nlh, s) == 0 && nftnl_set_is_set(s, NFTNL_SET_TABLE) &&
	    strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE), MASQ_TABLE) == 0 && d->nsets < 8)
		snprintf(d->sets[d->nsets++], NFT_SET_MAXNAMELEN, "%s",
			 nftnl_set_get_str(s, NFTNL_SET_NAME));
	nftnl_set_free(s);
	return dump_cb(nlh, data);
}

static int table_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;

	return table_cb(nlh, d->info) == MNL_CB_OK ? dump_cb(nlh, data) : MNL_CB_ERROR;
}

/* One dump of the table's objects of one type, filtered to our table. */
static int dump_type(struct nft_sock *sock, uint16_t type, uint16_t table_attr, const char *set,
		     mnl_cb_t cb, struct dump *d)
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = nft_sock_req_start(sock, buf, type, NFPROTO_INET, NLM_F_DUMP);
	int r;

	mnl_attr_put_strz(nlh, table_attr, MASQ_TABLE);
	if (set)
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	r = nft_sock_request(sock, nlh, cb, d);
	return d->err ? d->err : r;
}

int nft_table_dump(struct nft_sock *sock, struct nft_table_info *ret_info,
		   struct nft_state **ret_state)
{
	struct nft_table_info info = { 0 };
	struct dump d = { .info = &info };
	int r;

	d.st = nft_state_new();
	if (!d.st)
		return -ENOMEM;
	r = table_get(sock, table_dump_cb, &d);
	if (r == -ENOENT) {
		nft_state_free(d.st);
		*ret_info = info;
		*ret_state = NULL;
		return 0;
	}
	if (r == 0)
		r = dump_type(sock, NFT_MSG_GETCHAIN, NFTA_CHAIN_TABLE, NULL, dump_cb, &d);
	if (r == 0)
		r = dump_type(sock, NFT_MSG_GETSET, NFTA_SET_TABLE, NULL, set_names_cb, &d);
	for (unsigned i = 0; r == 0 && i < d.nsets; i++)
		r = dump_type(sock, NFT_MSG_GETSETELEM, NFTA_SET_ELEM_LIST_TABLE, d.sets[i],
			      dump_cb, &d);
	if (r == 0)
		r = dump_type(sock, NFT_MSG_GETRULE, NFTA_RULE_TABLE, NULL, dump_cb, &d);
	if (r < 0) {
		nft_state_free(d.st);
		return r;
	}
	nft_state_finish(d.st);
	*ret_info = info;
	*ret_state = d.st;
	return 0;
}

/* An orphan masqd left (persist, no owner) that we may take over as is. */
static bool adoptable(const struct nft_table_info *info, uint32_t flags)
{
	return (flags & NFT_TABLE_OWNED_PERSISTENT) == NFT_TABLE_OWNED_PERSISTENT &&
	       !info->has_owner && info->flags == (flags & ~(uint32_t)NFT_TABLE_F_OWNER);
}

/* Compare the live table with rs; 0 when the contents are equal. */
static int contents_differ(const struct masq_ruleset *rs, const struct nft_state *live,
			   char *ret_diff, size_t diff_len)
{
	struct nft_state *want;
	const char *diff = NULL;
	int r = nft_state_build(rs, &want);

	if (r < 0)
		return r;
	r = nft_state_compare(want, live, &diff);
	if (r && ret_diff)
		snprintf(ret_diff, diff_len, "%s", diff);
	nft_state_free(want);
	return r;
}

static int adopt(struct nft_sock *sock, uint32_t flags, struct nft_error *e)
{
	struct nft_batch *b = nft_sock_batch_open(sock);
	int r;

	if (!b)
		return -ENOMEM;
	r = nft_batch_add_table(b, NULL, flags);
	if (r < 0) {
		nft_batch_free(b);
		return r;
	}
	return nft_sock_batch_close(sock, b, true, e);
}

int nft_reconcile(struct nft_sock *sock, const struct masq_ruleset *rs, uint32_t flags,
		  enum nft_outcome *ret_outcome, char *ret_diff, size_t diff_len,
		  struct nft_counters *ret_replaced, struct nft_error *ret_err)
{
	struct nft_counters before = { 0 };
	struct nft_table_info info;
	struct nft_state *live;
	int r;

	memset(ret_err, 0, sizeof(*ret_err));
	memset(ret_replaced, 0, sizeof(*ret_replaced));
	if (ret_diff && diff_len)
		ret_diff[0] = '\0';
	r = nft_table_dump(sock, &info, &live);
	if (r < 0) {
		ret_err->err = r;
		snprintf(ret_err->what, sizeof(ret_err->what), "reading table inet %s back",
			 MASQ_TABLE);
		return r;
	}
	if (foreign_owner(sock, &info, ret_err) < 0) {
		nft_state_free(live);
		return -EBUSY;
	}
	r = live ? contents_differ(rs, live, ret_diff, diff_len) : 1;
	if (live)
		nft_state_get_counters(live, &before);
	nft_state_free(live);
	if (r < 0)
		return r;
	if (r == 0 && info.flags == flags && (!(flags & NFT_TABLE_F_OWNER) || info.has_owner)) {
		*ret_outcome = NFT_UNCHANGED;
		return 0;
	}
	if (r == 0 && adoptable(&info, flags)) {
		*ret_outcome = NFT_ADOPTED;
		return adopt(sock, flags, ret_err);
	}
	if (live == NULL && ret_diff && diff_len)
		snprintf(ret_diff, diff_len, "table absent");
	*ret_outcome = NFT_REPLACED;
	/* the table was just read: no second query before replacing it */
	r = replace_table(sock, rs, flags, &info, ret_err);
	if (r == 0)
		*ret_replaced = before;
	return r;
}

int nft_rule_counters(struct nft_sock *sock, struct nft_counters *ret)
{
	struct dump d = { 0 };
	int r;

	d.st = nft_state_new();
	if (!d.st)
		return -ENOMEM;
	r = dump_type(sock, NFT_MSG_GETRULE, NFTA_RULE_TABLE, NULL, dump_cb, &d);
	if (r == 0)
		nft_state_get_counters(d.st, ret);
	nft_state_free(d.st);
	if (r == -ENOENT) {
		memset(ret, 0, sizeof(*ret)); /* no table, no counters */
		return 0;
	}
	return r;
}

struct elem_diff {
	struct set_elem *del, *add;
	size_t ndel, nadd;
};

/* The elements of whole intervals del and add, for one family. */
static int delta_elems(const struct addr_range *del, size_t ndel, const struct addr_range *add,
		       size_t nadd, size_t len, struct elem_diff *ret)
{
	int r = range_elems(del, ndel, len, &ret->del);

	if (r >= 0) {
		ret->ndel = (size_t)r;
		r = range_elems(add, nadd, len, &ret->add);
		ret->nadd = r >= 0 ? (size_t)r : 0;
	}
	return r < 0 ? r : 0;
}

/* One transaction: whole intervals out first, then the new ones in. */
static int send_elems(struct nft_sock *sock, struct elem_diff d[2], int families,
		      struct nft_error *ret_err)
{
	struct nft_batch *b = nft_sock_batch_open(sock);
	int r = b ? 0 : -ENOMEM;

	for (int f = 0; r == 0 && f < families; f++)
		r = nft_batch_del_elems(b, f ? AF_INET6 : AF_INET, d[f].del, d[f].ndel);
	for (int f = 0; r == 0 && f < families; f++)
		r = nft_batch_add_elems(b, f ? AF_INET6 : AF_INET, d[f].add, d[f].nadd);
	if (r == 0)
		return nft_sock_batch_close(sock, b, true, ret_err);
	nft_batch_free(b);
	return r;
}

/* Send d (when anything changed), then free its elements. */
static int sets_send(struct nft_sock *sock, struct elem_diff d[2], int families, int r,
		     size_t *ret_changed, struct nft_error *ret_err)
{
	size_t changed = 0;

	for (int f = 0; f < families; f++)
		changed += d[f].ndel + d[f].nadd;
	if (r == 0 && changed)
		r = send_elems(sock, d, families, ret_err);
	for (int f = 0; f < 2; f++) {
		free(d[f].del);
		free(d[f].add);
	}
	if (r < 0 && !ret_err->err)
		ret_err->err = r;
	*ret_changed = changed;
	return r;
}

/* The elements to delete and to add for one family: those of whole
 * intervals (see range_diff). */
static int family_diff(const struct masq_ruleset *old, const struct masq_ruleset *new, int family,
		       struct elem_diff *ret)
{
	size_t len = cidr_addr_len(family), nd = 0, na = 0;
	bool v6 = family == AF_INET6;
	struct addr_range *del = NULL, *add = NULL;
	int r = range_diff(v6 ? old->v6 : old->v4, v6 ? old->n6 : old->n4, v6 ? new->v6 : new->v4,
			   v6 ? new->n6 : new->n4, len, &del, &nd, &add, &na);

	if (r == 0)
		r = delta_elems(del, nd, add, na, len, ret);
	free(del);
	free(add);
	return r;
}

int nft_sets_update(struct nft_sock *sock, const struct masq_ruleset *old,
		    const struct masq_ruleset *new, size_t *ret_changed, struct nft_error *ret_err)
{
	struct elem_diff d[2] = { 0 };
	int families = new->ipv6 ? 2 : 1, r = 0;

	memset(ret_err, 0, sizeof(*ret_err));
	for (int f = 0; r == 0 && f < families; f++)
		r = family_diff(old, new, f ? AF_INET6 : AF_INET, &d[f]);
	return sets_send(sock, d, families, r, ret_changed, ret_err);
}

int nft_sets_apply(struct nft_sock *sock, const struct masq_delta *delta, bool ipv6,
		   size_t *ret_changed, struct nft_error *ret_err)
{
	struct elem_diff d[2] = { 0 };
	int families = ipv6 ? 2 : 1, r = 0;

	memset(ret_err, 0, sizeof(*ret_err));
	for (int f = 0; r == 0 && f < families; f++)
		r = delta_elems(delta->del[f], delta->ndel[f], delta->add[f], delta->nadd[f],
				cidr_addr_len(f ? AF_INET6 : AF_INET), &d[f]);
	return sets_send(sock, d, families, r, ret_changed, ret_err);
}
