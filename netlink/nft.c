#include "netlink/nft.h"

#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/set.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/ruleset.h"
#include "netlink/batch.h"
#include "netlink/state.h"

#define RCVBUF_BYTES (4u << 20) /* error replies for a large batch must not be dropped */
#define PROBE_TABLE "masqd-probe"
#define REPLY_BUF 65536 /* a dump arrives in parts of at most this */
#define REPLY_TIMEOUT_MS 2000 /* the kernel answers at once; this only bounds a broken reply */

struct nft_sock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	int64_t last_commit_ns;
};

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int64_t nft_sock_last_commit_ns(const struct nft_sock *ctx)
{
	return ctx->last_commit_ns;
}

static void set_bufsize(int fd, int force, int plain, size_t bytes)
{
	int v = bytes > INT32_MAX ? INT32_MAX : (int)bytes;

	/* FORCE needs CAP_NET_ADMIN, which masqd has; fall back to the capped one. */
	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v));
}

struct nft_sock *nft_sock_new(void)
{
	struct nft_sock *ctx = calloc(1, sizeof(*ctx));
	int one = 1, e;

	if (!ctx)
		return NULL;
	ctx->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!ctx->nl || mnl_socket_bind(ctx->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	/* Small error replies, with the kernel's message and attribute offset. */
	mnl_socket_setsockopt(ctx->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(ctx->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	set_bufsize(mnl_socket_get_fd(ctx->nl), SO_RCVBUFFORCE, SO_RCVBUF, RCVBUF_BYTES);
	ctx->portid = mnl_socket_get_portid(ctx->nl);
	ctx->seq = (uint32_t)getpid() << 16;
	return ctx;
fail:
	e = errno;
	if (ctx->nl)
		mnl_socket_close(ctx->nl);
	free(ctx);
	errno = e;
	return NULL;
}

void nft_sock_free(struct nft_sock *ctx)
{
	if (!ctx)
		return;
	mnl_socket_close(ctx->nl);
	free(ctx);
}

uint32_t nft_sock_portid(const struct nft_sock *ctx)
{
	return ctx->portid;
}

/* The extended ACK message of an error reply, if the kernel sent one. */
static void ext_ack_msg(const struct nlmsghdr *nlh, char *buf, size_t len)
{
	const struct nlmsgerr *ne = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*ne);
	const struct nlattr *attr;

	buf[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += ne->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (off >= mnl_nlmsg_get_payload_len(nlh))
		return;
	mnl_attr_for_each_payload((const void *)((const char *)ne + off),
				  mnl_nlmsg_get_payload_len(nlh) - off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_STRING) == 0)
			snprintf(buf, len, "%s", mnl_attr_get_str(attr));
	}
}

/* Record one error reply; the first one is the one reported. */
static void note_error(const struct nft_batch *b, const struct nlmsghdr *nlh, struct nft_error *e)
{
	const struct nlmsgerr *ne = mnl_nlmsg_get_payload(nlh);
	const char *what;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ne) || ne->error == 0)
		return; /* a positive ACK */
	if (e->count++ > 0)
		return;
	e->err = ne->error;
	what = b ? nft_batch_describe(b, ne->msg.nlmsg_seq) : NULL;
	snprintf(e->what, sizeof(e->what), "%s", what ? what : "unknown message");
	ext_ack_msg(nlh, e->msg, sizeof(e->msg));
}

/* The kernel runs a whole batch inside sendmsg(), so every reply is queued
 * when it returns: read until the queue is empty. Success is "no error for
 * any message"; a zero ACK alone proves nothing. */
static int drain_replies(struct nft_sock *ctx, const struct nft_batch *b, struct nft_error *e)
{
	static char buf[REPLY_BUF] __attribute__((aligned(8)));
	int fd = mnl_socket_get_fd(ctx->nl);

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int len = (int)n;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			/* ENOBUFS: replies were lost, so the outcome is unknown */
			e->err = e->err ? e->err : -errno;
			snprintf(e->what, sizeof(e->what), "reading replies");
			return e->err;
		}
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_type == NLMSG_ERROR)
				note_error(b, nlh, e);
		}
	}
	return e->count ? e->err : 0;
}

int nft_sock_send_batch(struct nft_sock *ctx, const struct nft_batch *b, struct nft_error *e)
{
	size_t len = nft_batch_len(b);
	int fd = mnl_socket_get_fd(ctx->nl);
	ssize_t r;

	memset(e, 0, sizeof(*e));
	/* netlink refuses a message larger than the send buffer */
	set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, len + 65536);
	ctx->last_commit_ns = mono_ns();
	r = mnl_socket_sendto(ctx->nl, nft_batch_data(b), len);
	ctx->last_commit_ns = mono_ns() - ctx->last_commit_ns;
	if (r < 0) {
		e->err = -errno;
		snprintf(e->what, sizeof(e->what), "sending the batch (%zu bytes)", len);
		return e->err;
	}
	return drain_replies(ctx, b, e);
}

static struct nft_batch *batch_open(struct nft_sock *ctx)
{
	struct nft_batch *b = nft_batch_new(ctx->seq);

	if (b && nft_batch_begin(b) < 0) {
		nft_batch_free(b);
		return NULL;
	}
	return b;
}

/* Send b (adding BATCH_END when commit) and free it. */
static int batch_send_free(struct nft_sock *ctx, struct nft_batch *b, bool commit,
			   struct nft_error *e)
{
	int r = commit ? nft_batch_end(b) : 0;

	if (r == 0)
		r = nft_sock_send_batch(ctx, b, e);
	else
		e->err = r;
	ctx->seq = nft_batch_next_seq(b);
	nft_batch_free(b);
	return r;
}

int nft_sock_probe_table_flags(struct nft_sock *ctx, uint32_t flags)
{
	struct nft_batch *b = batch_open(ctx);
	struct nft_error e;
	int r;

	if (!b)
		return -ENOMEM;
	r = nft_batch_add_table(b, PROBE_TABLE, flags);
	if (r < 0) {
		nft_batch_free(b);
		return r;
	}
	/* No BATCH_END: the kernel validates every message, then aborts. */
	r = batch_send_free(ctx, b, false, &e);
	if (r == -EOPNOTSUPP || r == -EINVAL)
		return 0;
	return r < 0 ? r : 1;
}

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

int nft_table_query(struct nft_sock *ctx, struct nft_table_info *ret)
{
	static char buf[REPLY_BUF] __attribute__((aligned(8)));
	struct nft_table_info info = { 0 };
	struct nftnl_table *t = nftnl_table_alloc();
	uint32_t seq = ctx->seq++;
	struct nlmsghdr *nlh;
	ssize_t n;
	int r;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, MASQ_TABLE);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	if (mnl_socket_sendto(ctx->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	/* The reply is queued by the time sendto() returns; no waiting. */
	do {
		n = mnl_socket_recvfrom(ctx->nl, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN ? -EIO : -errno;
		r = mnl_cb_run(buf, (size_t)n, seq, ctx->portid, table_cb, &info);
	} while (r > MNL_CB_STOP);
	if (r < 0 && errno != ENOENT)
		return -errno;
	*ret = info;
	return 0;
}

/* A live socket other than ours owns the table. */
static int foreign_owner(const struct nft_sock *ctx, const struct nft_table_info *info,
			 struct nft_error *e)
{
	if (!info->exists || !info->has_owner || info->owner == ctx->portid)
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
static int replace_table(struct nft_sock *ctx, const struct masq_ruleset *rs, uint32_t flags,
			 const struct nft_table_info *info, struct nft_error *ret_err)
{
	struct nft_batch *b;
	int r;

	if (foreign_owner(ctx, info, ret_err) < 0)
		return -EBUSY;
	b = batch_open(ctx);
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
	return batch_send_free(ctx, b, true, ret_err);
}

int nft_ruleset_apply(struct nft_sock *ctx, const struct masq_ruleset *rs, uint32_t flags,
		      struct nft_error *ret_err)
{
	struct nft_table_info info;
	int r;

	memset(ret_err, 0, sizeof(*ret_err));
	r = nft_table_query(ctx, &info);
	if (r < 0) {
		ret_err->err = r;
		snprintf(ret_err->what, sizeof(ret_err->what), "reading table inet %s", MASQ_TABLE);
		return r;
	}
	return replace_table(ctx, rs, flags, &info, ret_err);
}

int nft_table_remove(struct nft_sock *ctx, struct nft_error *ret_err)
{
	struct nft_table_info info;
	struct nft_batch *b;
	int r;

	memset(ret_err, 0, sizeof(*ret_err));
	r = nft_table_query(ctx, &info);
	if (r < 0)
		return r;
	if (!info.exists)
		return 0;
	if (foreign_owner(ctx, &info, ret_err) < 0)
		return -EBUSY;
	b = batch_open(ctx);
	if (!b)
		return -ENOMEM;
	r = nft_batch_del_table(b);
	if (r < 0) {
		nft_batch_free(b);
		return r;
	}
	r = batch_send_free(ctx, b, true, ret_err);
	return r < 0 ? r : 1;
}

/* Wait for the next part of a reply; the kernel queues most replies inside
 * sendmsg(), but a dump's later parts are made as the reader drains it. */
static int wait_readable(struct nft_sock *ctx)
{
	struct pollfd p = { .fd = mnl_socket_get_fd(ctx->nl), .events = POLLIN };
	int r = poll(&p, 1, REPLY_TIMEOUT_MS);

	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

/* Send one request and feed every reply message to cb until DONE or ACK. */
static int request(struct nft_sock *ctx, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	static char buf[REPLY_BUF] __attribute__((aligned(8)));
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int r;

	if (mnl_socket_sendto(ctx->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(ctx->nl, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN) {
			r = wait_readable(ctx);
			if (r < 0)
				return r;
			r = MNL_CB_OK;
			continue;
		}
		if (n < 0)
			return -errno;
		r = mnl_cb_run(buf, (size_t)n, seq, ctx->portid, cb, data);
	} while (r > MNL_CB_STOP);
	return r < 0 ? -errno : 0;
}

static struct nlmsghdr *request_hdr(struct nft_sock *ctx, char *buf, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, flags, ctx->seq++);
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) == NFTA_GEN_ID &&
		    mnl_attr_validate(attr, MNL_TYPE_U32) == 0) {
			*(uint32_t *)data = ntohl(mnl_attr_get_u32(attr));
			return MNL_CB_OK;
		}
	}
	errno = EBADMSG;
	return MNL_CB_ERROR;
}

int nft_sock_genid(struct nft_sock *ctx, uint32_t *ret)
{
	char buf[256] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = request_hdr(ctx, buf, NFT_MSG_GETGEN, NLM_F_ACK);

	return request(ctx, nlh, gen_cb, ret);
}

struct dump_ctx {
	struct nft_state *st;
	struct nft_table_info *info;
	char sets[8][NFT_SET_MAXNAMELEN]; /* set names seen, to dump their elements */
	unsigned nsets;
	int err;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
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
	struct dump_ctx *d = data;
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
	struct dump_ctx *d = data;

	return table_cb(nlh, d->info) == MNL_CB_OK ? dump_cb(nlh, data) : MNL_CB_ERROR;
}

/* One dump of the table's objects of one type, filtered to our table. */
static int dump_type(struct nft_sock *ctx, uint16_t type, uint16_t table_attr, const char *set,
		     mnl_cb_t cb, struct dump_ctx *d)
{
	char buf[512] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = request_hdr(ctx, buf, type, NLM_F_DUMP);
	int r;

	mnl_attr_put_strz(nlh, table_attr, MASQ_TABLE);
	if (set)
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	r = request(ctx, nlh, cb, d);
	return d->err ? d->err : r;
}

int nft_table_dump(struct nft_sock *ctx, struct nft_table_info *ret_info,
		   struct nft_state **ret_state)
{
	char buf[512] __attribute__((aligned(8)));
	struct nft_table_info info = { 0 };
	struct dump_ctx d = { .info = &info };
	struct nlmsghdr *nlh;
	int r;

	d.st = nft_state_new();
	if (!d.st)
		return -ENOMEM;
	nlh = request_hdr(ctx, buf, NFT_MSG_GETTABLE, NLM_F_ACK);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, MASQ_TABLE);
	r = request(ctx, nlh, table_dump_cb, &d);
	if (r == -ENOENT) {
		nft_state_free(d.st);
		*ret_info = info;
		*ret_state = NULL;
		return 0;
	}
	if (r == 0)
		r = dump_type(ctx, NFT_MSG_GETCHAIN, NFTA_CHAIN_TABLE, NULL, dump_cb, &d);
	if (r == 0)
		r = dump_type(ctx, NFT_MSG_GETSET, NFTA_SET_TABLE, NULL, set_names_cb, &d);
	for (unsigned i = 0; r == 0 && i < d.nsets; i++)
		r = dump_type(ctx, NFT_MSG_GETSETELEM, NFTA_SET_ELEM_LIST_TABLE, d.sets[i], dump_cb,
			      &d);
	if (r == 0)
		r = dump_type(ctx, NFT_MSG_GETRULE, NFTA_RULE_TABLE, NULL, dump_cb, &d);
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
	int r = nft_state_from_ruleset(rs, &want);

	if (r < 0)
		return r;
	r = nft_state_compare(want, live, &diff);
	if (r && ret_diff)
		snprintf(ret_diff, diff_len, "%s", diff);
	nft_state_free(want);
	return r;
}

static int adopt(struct nft_sock *ctx, uint32_t flags, struct nft_error *e)
{
	struct nft_batch *b = batch_open(ctx);
	int r;

	if (!b)
		return -ENOMEM;
	r = nft_batch_add_table(b, NULL, flags);
	if (r < 0) {
		nft_batch_free(b);
		return r;
	}
	return batch_send_free(ctx, b, true, e);
}

int nft_reconcile(struct nft_sock *ctx, const struct masq_ruleset *rs, uint32_t flags,
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
	r = nft_table_dump(ctx, &info, &live);
	if (r < 0) {
		ret_err->err = r;
		snprintf(ret_err->what, sizeof(ret_err->what), "reading table inet %s back",
			 MASQ_TABLE);
		return r;
	}
	if (foreign_owner(ctx, &info, ret_err) < 0) {
		nft_state_free(live);
		return -EBUSY;
	}
	r = live ? contents_differ(rs, live, ret_diff, diff_len) : 1;
	if (live)
		nft_state_counters(live, &before);
	nft_state_free(live);
	if (r < 0)
		return r;
	if (r == 0 && info.flags == flags && (!(flags & NFT_TABLE_F_OWNER) || info.has_owner)) {
		*ret_outcome = NFT_UNCHANGED;
		return 0;
	}
	if (r == 0 && adoptable(&info, flags)) {
		*ret_outcome = NFT_ADOPTED;
		return adopt(ctx, flags, ret_err);
	}
	if (live == NULL && ret_diff && diff_len)
		snprintf(ret_diff, diff_len, "table absent");
	*ret_outcome = NFT_REPLACED;
	/* the table was just read: no second query before replacing it */
	r = replace_table(ctx, rs, flags, &info, ret_err);
	if (r == 0)
		*ret_replaced = before;
	return r;
}

int nft_rule_counters(struct nft_sock *ctx, struct nft_counters *ret)
{
	struct dump_ctx d = { 0 };
	int r;

	d.st = nft_state_new();
	if (!d.st)
		return -ENOMEM;
	r = dump_type(ctx, NFT_MSG_GETRULE, NFTA_RULE_TABLE, NULL, dump_cb, &d);
	if (r == 0)
		nft_state_counters(d.st, ret);
	nft_state_free(d.st);
	return r == -ENOENT ? (memset(ret, 0, sizeof(*ret)), 0) : r;
}

struct elem_diff {
	struct set_elem *del, *add;
	size_t ndel, nadd;
};

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

	if (r == 0 && (r = range_elems(del, nd, len, &ret->del)) >= 0) {
		ret->ndel = (size_t)r;
		r = range_elems(add, na, len, &ret->add);
		ret->nadd = r >= 0 ? (size_t)r : 0;
	}
	free(del);
	free(add);
	return r < 0 ? r : 0;
}

int nft_sets_update(struct nft_sock *ctx, const struct masq_ruleset *old,
		    const struct masq_ruleset *new, size_t *ret_changed, struct nft_error *ret_err)
{
	struct elem_diff d[2] = { 0 };
	int families = new->ipv6 ? 2 : 1, r = 0;
	struct nft_batch *b = NULL;
	size_t changed = 0;

	memset(ret_err, 0, sizeof(*ret_err));
	for (int f = 0; r == 0 && f < families; f++) {
		r = family_diff(old, new, f ? AF_INET6 : AF_INET, &d[f]);
		changed += d[f].ndel + d[f].nadd;
	}
	if (r == 0 && changed) {
		b = batch_open(ctx);
		r = b ? 0 : -ENOMEM;
		/* whole intervals out first, then the new ones in */
		for (int f = 0; r == 0 && f < families; f++)
			r = nft_batch_elems(b, f ? AF_INET6 : AF_INET, d[f].del, d[f].ndel, true);
		for (int f = 0; r == 0 && f < families; f++)
			r = nft_batch_elems(b, f ? AF_INET6 : AF_INET, d[f].add, d[f].nadd, false);
		if (r == 0) {
			r = batch_send_free(ctx, b, true, ret_err);
			b = NULL;
		}
	}
	nft_batch_free(b);
	for (int f = 0; f < 2; f++) {
		free(d[f].del);
		free(d[f].add);
	}
	if (r < 0 && !ret_err->err)
		ret_err->err = r;
	*ret_changed = changed;
	return r;
}

/* --- upstream ip-masq-agent's leftover chain, as iptables-nft left it */

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

static int legacy_family(struct nft_sock *ctx, int family, const char *chain,
			 struct nft_legacy_family *f)
{
	char buf[512] __attribute__((aligned(8)));
	struct legacy_dump d = { chain, f };
	struct nlmsghdr *nlh;
	int r;

	memset(f, 0, sizeof(*f));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, (uint16_t)family, NLM_F_ACK, ctx->seq++);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, "nat");
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain);
	r = request(ctx, nlh, chain_exists_cb, &f->present);
	if (r == -ENOENT || (r == 0 && !f->present))
		return 0;
	if (r < 0)
		return r;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)family, NLM_F_DUMP, ctx->seq++);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "nat");
	return request(ctx, nlh, legacy_rule_cb, &d);
}

int nft_legacy_find(struct nft_sock *ctx, const char *chain, struct nft_legacy *ret)
{
	int r = legacy_family(ctx, NFPROTO_IPV4, chain, &ret->f[0]);

	return r < 0 ? r : legacy_family(ctx, NFPROTO_IPV6, chain, &ret->f[1]);
}

int nft_legacy_remove(struct nft_sock *ctx, const char *chain, const struct nft_legacy *found,
		      struct nft_error *ret_err)
{
	static const int families[2] = { NFPROTO_IPV4, NFPROTO_IPV6 };
	struct nft_batch *b = batch_open(ctx);
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
	return batch_send_free(ctx, b, true, ret_err);
}
