/* The kernel's replies to one request or one batch, walked in a buffer the
 * socket filled. Pure: it never touches a socket, so tests feed it messages
 * they made. For netlink/ only. */
#ifndef MASQ_NFT_REPLY_H
#define MASQ_NFT_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

struct nft_batch;
struct nft_error;

/* What a request or a batch expects back. Every reply is checked against
 * portid and the sequence numbers: one that is not ours (a late reply to an
 * earlier request, say) is skipped, never taken as the answer. */
struct nft_reply {
	uint32_t portid; /* our socket's netlink port id */
	uint32_t seq; /* a request's sequence number */
	mnl_cb_t cb; /* a request's data messages; NULL when none are expected */
	void *data; /* cb's argument */
	const struct nft_batch *batch; /* a batch: replies carry its sequence numbers */
	struct nft_error *err; /* a batch's errors, mapped to their objects (required) */
};

/* Walk one buffer of replies. Returns 1 while the answer goes on, 0 at its
 * end (DONE, the ACK, cb's MNL_CB_STOP), or -errno (an error reply, cb's
 * MNL_CB_ERROR, an interrupted dump). A batch's walk always returns 1: every
 * error reply is recorded in err, and the caller reads until the queue is
 * empty. */
/* NFTA_GEN_ID of a NEWGEN message (a GETGEN answer, a commit's echo) into
 * ret: 0, or -EBADMSG when it is short or has none. */
int nft_gen_parse(const struct nlmsghdr *nlh, uint32_t *ret) __attribute__((warn_unused_result));

int nft_reply_walk(const struct nft_reply *rp, const void *buf, size_t len)
	__attribute__((warn_unused_result));

#endif
