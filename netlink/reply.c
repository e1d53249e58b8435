/* Walking the kernel's replies: which are ours, where an answer ends, and
 * which object of a batch each error belongs to. */
#include "netlink/reply.h"

#include <errno.h>
#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "netlink/batch.h"
#include "netlink/nft.h"

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

/* Record one error reply of a batch; the first one is the one reported. */
static void note_error(const struct nft_batch *b, const struct nlmsghdr *nlh, struct nft_error *e)
{
	const struct nlmsgerr *ne = mnl_nlmsg_get_payload(nlh);
	const char *what;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ne) || ne->error == 0)
		return; /* a positive ACK */
	if (e->count++ > 0)
		return;
	e->err = ne->error;
	e->msg_type = NFNL_MSG_TYPE(ne->msg.nlmsg_type);
	what = nft_batch_describe(b, ne->msg.nlmsg_seq);
	snprintf(e->what, sizeof(e->what), "%s", what ? what : "unknown message");
	ext_ack_msg(nlh, e->msg, sizeof(e->msg));
}

/* Sent to our port, for our request or for one of the batch's messages. */
static bool reply_ours(const struct nft_reply *rp, const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_pid != rp->portid)
		return false;
	if (rp->batch)
		return nft_batch_describe(rp->batch, nlh->nlmsg_seq) != NULL;
	return nlh->nlmsg_seq == rp->seq;
}

/* An ACK ends the answer; an error reply is its result. Subsystems differ in
 * the sign they give the errno (as libmnl's mnl_cb_error allows for). */
static int ack_result(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *ne = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ne))
		return -EBADMSG;
	return ne->error > 0 ? -ne->error : ne->error;
}

/* A dump's end carries the dump's result (the kernel's netlink_dump_done):
 * 0, or the error that ended the dump early, whose parts are then not the
 * whole. An end without it (older subsystems) is a success. */
static int done_result(const struct nlmsghdr *nlh)
{
	int err;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(err))
		return 0;
	memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
	return err > 0 ? -err : err;
}

/* One reply to a request, as libmnl's mnl_cb_run takes it. */
static int request_reply(const struct nft_reply *rp, const struct nlmsghdr *nlh)
{
	int r;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		return -EINTR; /* the dump changed under us: its parts do not add up */
	if (nlh->nlmsg_type == NLMSG_DONE)
		return done_result(nlh);
	if (nlh->nlmsg_type == NLMSG_ERROR)
		return ack_result(nlh);
	if (nlh->nlmsg_type < NLMSG_MIN_TYPE || !rp->cb)
		return 1; /* NOOP, OVERRUN */
	errno = 0;
	r = rp->cb(nlh, rp->data);
	if (r == MNL_CB_ERROR)
		return errno > 0 ? -errno : -EIO;
	return r == MNL_CB_STOP ? 0 : 1;
}

int nft_gen_parse(const struct nlmsghdr *nlh, uint32_t *ret)
{
	const struct nlattr *attr;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)))
		return -EBADMSG;
	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) == NFTA_GEN_ID) {
			if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
				return -EBADMSG;
			*ret = ntohl(mnl_attr_get_u32(attr));
			return 0;
		}
	}
	return -EBADMSG;
}

/* A batch's reply that is not an error: the generation its commit made
 * (BATCH_BEGIN asks for it); anything else is ignored, as before. */
static void note_data(const struct nlmsghdr *nlh, struct nft_error *e)
{
	uint32_t gen;

	if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN))
		return;
	if (nft_gen_parse(nlh, &gen) == 0) {
		e->gen = gen;
		e->gen_seen = true;
	}
}

int nft_reply_walk(const struct nft_reply *rp, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = len > INT32_MAX ? INT32_MAX : (int)len, r;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		if (!reply_ours(rp, nlh))
			continue;
		if (rp->batch) {
			if (nlh->nlmsg_type == NLMSG_ERROR)
				note_error(rp->batch, nlh, rp->err);
			else
				note_data(nlh, rp->err);
			continue;
		}
		r = request_reply(rp, nlh);
		if (r <= 0)
			return r;
	}
	return 1;
}
