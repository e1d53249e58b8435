#include "netlink/nft.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/ruleset.h"
#include "netlink/batch.h"

#define RCVBUF_BYTES (4u << 20) /* error replies for a large batch must not be dropped */
#define PROBE_TABLE "masqd-probe"
#define REPLY_BUF 32768 /* larger than any reply masqd asks for */

struct nft_ctx {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

static void set_bufsize(int fd, int force, int plain, size_t bytes)
{
	int v = bytes > INT32_MAX ? INT32_MAX : (int)bytes;

	/* FORCE needs CAP_NET_ADMIN, which masqd has; fall back to the capped one. */
	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v));
}

struct nft_ctx *nft_ctx_new(void)
{
	struct nft_ctx *ctx = calloc(1, sizeof(*ctx));
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

void nft_ctx_free(struct nft_ctx *ctx)
{
	if (!ctx)
		return;
	mnl_socket_close(ctx->nl);
	free(ctx);
}

uint32_t nft_ctx_portid(const struct nft_ctx *ctx)
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
				  mnl_nlmsg_get_payload_len(nlh) - off)
	{
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
static int drain_replies(struct nft_ctx *ctx, const struct nft_batch *b, struct nft_error *e)
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

int nft_ctx_send_batch(struct nft_ctx *ctx, const struct nft_batch *b, struct nft_error *e)
{
	size_t len = nft_batch_len(b);
	int fd = mnl_socket_get_fd(ctx->nl);

	memset(e, 0, sizeof(*e));
	/* netlink refuses a message larger than the send buffer */
	set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, len + 65536);
	if (mnl_socket_sendto(ctx->nl, nft_batch_data(b), len) < 0) {
		e->err = -errno;
		snprintf(e->what, sizeof(e->what), "sending the batch (%zu bytes)", len);
		return e->err;
	}
	return drain_replies(ctx, b, e);
}

static struct nft_batch *batch_open(struct nft_ctx *ctx)
{
	struct nft_batch *b = nft_batch_new(ctx->seq);

	if (b && nft_batch_begin(b) < 0) {
		nft_batch_free(b);
		return NULL;
	}
	return b;
}

/* Send b (adding BATCH_END when commit) and free it. */
static int batch_send_free(struct nft_ctx *ctx, struct nft_batch *b, bool commit,
			   struct nft_error *e)
{
	int r = commit ? nft_batch_end(b) : 0;

	if (r == 0)
		r = nft_ctx_send_batch(ctx, b, e);
	else
		e->err = r;
	ctx->seq = nft_batch_next_seq(b);
	nft_batch_free(b);
	return r;
}

int nft_ctx_probe_table_flags(struct nft_ctx *ctx, uint32_t flags)
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

int nft_table_query(struct nft_ctx *ctx, struct nft_table_info *ret)
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
static int foreign_owner(const struct nft_ctx *ctx, const struct nft_table_info *info,
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

int nft_ruleset_apply(struct nft_ctx *ctx, const struct masq_ruleset *rs, uint32_t flags,
		      struct nft_error *ret_err)
{
	struct nft_table_info info;
	struct nft_batch *b;
	int r;

	memset(ret_err, 0, sizeof(*ret_err));
	r = nft_table_query(ctx, &info);
	if (r < 0) {
		ret_err->err = r;
		snprintf(ret_err->what, sizeof(ret_err->what), "reading table inet %s", MASQ_TABLE);
		return r;
	}
	if (foreign_owner(ctx, &info, ret_err) < 0)
		return -EBUSY;
	b = batch_open(ctx);
	if (!b)
		return -ENOMEM;
	/* Delete and recreate in the same transaction: packets see the old rules
	 * or the new ones, never none, never duplicates; it also replaces a table
	 * whose flags the kernel refuses to change (EOPNOTSUPP). */
	r = info.exists ? nft_batch_del_table(b) : 0;
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

int nft_table_remove(struct nft_ctx *ctx, struct nft_error *ret_err)
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
