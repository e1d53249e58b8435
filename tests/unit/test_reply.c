/* Netlink replies: buffers of messages made here, walked as the socket's
 * receive path walks them, without a kernel. A reply to another port or
 * another sequence number is skipped, never taken as the answer. */
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>

#include "netlink/batch.h"
#include "netlink/nft.h"
#include "netlink/reply.h"

#define OURS 4242u
#define OTHER 77u

struct buf {
	char data[4096] __attribute__((aligned(8)));
	size_t len;
};

static struct nlmsghdr *put_hdr(struct buf *b, uint16_t type, uint16_t flags, uint32_t seq,
				uint32_t pid)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->data + b->len);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = pid;
	return nlh;
}

static void push(struct buf *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* A NEWTABLE data message, as a GETTABLE's answer carries. */
static void put_data(struct buf *b, uint32_t seq, uint32_t pid, uint16_t flags)
{
	struct nlmsghdr *nlh =
		put_hdr(b, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE, flags, seq, pid);
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->nfgen_family = NFPROTO_INET;
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, "ip-masq-agent");
	push(b, nlh);
}

/* A dump's end with its result (0, or the error that cut the dump short). */
static void put_done_with(struct buf *b, uint32_t seq, uint32_t pid, int result)
{
	struct nlmsghdr *nlh = put_hdr(b, NLMSG_DONE, NLM_F_MULTI, seq, pid);
	int *r = mnl_nlmsg_put_extra_header(nlh, sizeof(int));

	*r = result;
	push(b, nlh);
}

static void put_done(struct buf *b, uint32_t seq, uint32_t pid)
{
	put_done_with(b, seq, pid, 0);
}

/* An ACK (error 0) or error reply; with text, the extended ACK message. A
 * capped reply (NETLINK_CAP_ACK) echoes only the request's header, an
 * uncapped one the whole request (here 8 bytes of payload). */
static void put_err(struct buf *b, uint32_t seq, uint32_t pid, int error, const char *text,
		    bool capped)
{
	uint16_t flags = (uint16_t)((text ? NLM_F_ACK_TLVS : 0) | (capped ? NLM_F_CAPPED : 0));
	struct nlmsghdr *nlh = put_hdr(b, NLMSG_ERROR, flags, seq, pid);
	struct nlmsgerr *ne = mnl_nlmsg_put_extra_header(nlh, sizeof(*ne));

	ne->error = error;
	ne->msg.nlmsg_len = capped ? sizeof(struct nlmsghdr) : sizeof(struct nlmsghdr) + 8;
	ne->msg.nlmsg_seq = seq;
	ne->msg.nlmsg_pid = pid;
	if (!capped)
		memset(mnl_nlmsg_put_extra_header(nlh, 8), 0xee, 8);
	if (text)
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
	push(b, nlh);
}

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	(*(int *)data)++;
	return MNL_CB_OK;
}

static struct nft_reply request(uint32_t seq, int *seen)
{
	struct nft_reply rp = { .portid = OURS, .seq = seq, .cb = count_cb, .data = seen };

	return rp;
}

static void test_request_answer_ends_at_ack(void **state)
{
	struct buf b = { .len = 0 };
	int seen = 0;
	struct nft_reply rp = request(7, &seen);

	put_data(&b, 7, OURS, 0);
	put_err(&b, 7, OURS, 0, NULL, true);
	put_data(&b, 7, OURS, 0); /* after the end: not read */
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 0);
	assert_int_equal(seen, 1);
}

static void test_request_skips_foreign_replies(void **state)
{
	struct buf b = { .len = 0 };
	int seen = 0;
	struct nft_reply rp = request(7, &seen);

	put_data(&b, 7, OTHER, 0); /* another port's */
	put_data(&b, 6, OURS, 0); /* an earlier request's */
	put_err(&b, 6, OURS, -ENOENT, NULL, true); /* not our answer */
	put_err(&b, 7, OTHER, -EPERM, NULL, true);
	put_err(&b, 7, OTHER, 0, NULL, true); /* an ACK, but not to us */
	put_done(&b, 8, OURS);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1); /* still waiting */
	assert_int_equal(seen, 0);

	put_data(&b, 7, OURS, 0);
	put_err(&b, 7, OURS, -ENOENT, NULL, true);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), -ENOENT);
	assert_int_equal(seen, 1);
}

static void test_request_dump(void **state)
{
	struct buf b = { .len = 0 };
	int seen = 0;
	struct nft_reply rp = request(9, &seen);

	put_data(&b, 9, OURS, NLM_F_MULTI);
	put_data(&b, 9, OURS, NLM_F_MULTI);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1); /* more parts to come */
	assert_int_equal(seen, 2);
	b.len = 0;
	put_done(&b, 3, OURS); /* another dump's end */
	put_data(&b, 9, OURS, NLM_F_MULTI);
	put_done(&b, 9, OURS);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 0);
	assert_int_equal(seen, 3);
}

static void test_request_interrupted_dump(void **state)
{
	struct buf b = { .len = 0 };
	int seen = 0;
	struct nft_reply rp = request(9, &seen);

	put_data(&b, 9, OURS, NLM_F_MULTI | NLM_F_DUMP_INTR);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), -EINTR);
	assert_int_equal(seen, 0);
}

/* A dump the kernel ended with an error is no whole answer; an end that
 * carries no result at all is taken as a success. */
static void test_request_dump_ended_by_error(void **state)
{
	struct buf b = { .len = 0 };
	int seen = 0;
	struct nft_reply rp = request(9, &seen);
	struct nlmsghdr *nlh;

	put_data(&b, 9, OURS, NLM_F_MULTI);
	put_done_with(&b, 9, OURS, -ENOBUFS);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), -ENOBUFS);
	assert_int_equal(seen, 1);

	b.len = 0;
	seen = 0;
	put_data(&b, 9, OURS, NLM_F_MULTI);
	nlh = put_hdr(&b, NLMSG_DONE, NLM_F_MULTI, 9, OURS);
	push(&b, nlh);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 0);
	assert_int_equal(seen, 1);
}

static int failing_cb(const struct nlmsghdr *nlh, void *data)
{
	errno = EBADMSG;
	return MNL_CB_ERROR;
}

static int stopping_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_STOP;
}

static void test_request_callback_result(void **state)
{
	struct buf b = { .len = 0 };
	struct nft_reply rp = { .portid = OURS, .seq = 5, .cb = failing_cb };

	put_data(&b, 5, OURS, 0);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), -EBADMSG);
	rp.cb = stopping_cb;
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 0);
}

static void test_request_short_error_reply(void **state)
{
	struct buf b = { .len = 0 };
	int seen = 0;
	struct nft_reply rp = request(5, &seen);
	struct nlmsghdr *nlh = put_hdr(&b, NLMSG_ERROR, 0, 5, OURS);

	push(&b, nlh); /* no struct nlmsgerr at all */
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), -EBADMSG);
}

/* BATCH_BEGIN, NEWTABLE, BATCH_END numbered 100, 101, 102. */
static struct nft_batch *small_batch(void)
{
	struct nft_batch *b = nft_batch_new(100);

	assert_non_null(b);
	assert_int_equal(nft_batch_begin(b), 0);
	assert_int_equal(nft_batch_add_table(b, NULL, 0), 0);
	assert_int_equal(nft_batch_end(b), 0);
	return b;
}

static void test_batch_errors_by_sequence_number(void **state)
{
	struct nft_batch *batch = small_batch();
	struct nft_error e = { 0 };
	struct nft_reply rp = { .portid = OURS, .batch = batch, .err = &e };
	struct buf b = { .len = 0 };

	put_err(&b, 101, OTHER, -EPERM, "not ours", true); /* another port's */
	put_err(&b, 99, OURS, -EPERM, "before the batch", true);
	put_err(&b, 103, OURS, -EPERM, "after the batch", true);
	put_err(&b, 102, OURS, 0, NULL, true); /* BATCH_END's positive ACK */
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1);
	assert_int_equal(e.count, 0);

	b.len = 0;
	put_err(&b, 101, OURS, -EEXIST, "Could not process rule: File exists", true);
	put_err(&b, 100, OURS, -EINVAL, "second", true);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1); /* read until the queue is empty */
	assert_int_equal(e.count, 2);
	assert_int_equal(e.err, -EEXIST); /* the first one is reported */
	assert_string_equal(e.what, "table inet ip-masq-agent");
	assert_string_equal(e.msg, "Could not process rule: File exists");
	nft_batch_free(batch);
}

static void test_batch_uncapped_error(void **state)
{
	struct nft_batch *batch = small_batch();
	struct nft_error e = { 0 };
	struct nft_reply rp = { .portid = OURS, .batch = batch, .err = &e };
	struct buf b = { .len = 0 };

	/* the message text comes after the echoed request */
	put_err(&b, 100, OURS, -EOPNOTSUPP, "Operation not supported", false);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1);
	assert_int_equal(e.count, 1);
	assert_int_equal(e.err, -EOPNOTSUPP);
	assert_string_equal(e.what, "batch begin");
	assert_string_equal(e.msg, "Operation not supported");

	/* without NLM_F_ACK_TLVS there is no message */
	memset(&e, 0, sizeof(e));
	b.len = 0;
	put_err(&b, 102, OURS, -ENOMEM, NULL, true);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1);
	assert_string_equal(e.what, "batch end");
	assert_string_equal(e.msg, "");
	nft_batch_free(batch);
}

/* NFT_MSG_NEWGEN, as a commit echoes it (gen < 0: without NFTA_GEN_ID) */
static void put_gen(struct buf *b, uint32_t seq, uint32_t pid, int64_t gen)
{
	struct nlmsghdr *nlh =
		put_hdr(b, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN, 0, seq, pid);
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->nfgen_family = AF_UNSPEC;
	if (gen >= 0)
		mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl((uint32_t)gen));
	mnl_attr_put_u32(nlh, NFTA_GEN_PROC_PID, htonl(1));
	push(b, nlh);
}

static void test_batch_commit_generation(void **state)
{
	struct nft_batch *batch = small_batch();
	struct nft_error e = { 0 };
	struct nft_reply rp = { .portid = OURS, .batch = batch, .err = &e };
	struct buf b = { .len = 0 };

	/* another port's commit, or one outside the batch: not ours */
	put_gen(&b, 101, OTHER, 7);
	put_gen(&b, 99, OURS, 8);
	put_data(&b, 101, OURS, 0); /* the echoed message's own notice: skipped */
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1);
	assert_false(e.gen_seen);
	assert_int_equal(e.count, 0);

	/* without its attribute it says nothing */
	b.len = 0;
	put_gen(&b, 101, OURS, -1);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1);
	assert_false(e.gen_seen);

	b.len = 0;
	put_gen(&b, 101, OURS, 0xfffffffeu);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1);
	assert_true(e.gen_seen);
	assert_int_equal(e.gen, 0xfffffffeu);
	assert_int_equal(e.count, 0); /* not an error */
	nft_batch_free(batch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_answer_ends_at_ack),
		cmocka_unit_test(test_request_skips_foreign_replies),
		cmocka_unit_test(test_request_dump),
		cmocka_unit_test(test_request_interrupted_dump),
		cmocka_unit_test(test_request_dump_ended_by_error),
		cmocka_unit_test(test_request_callback_result),
		cmocka_unit_test(test_request_short_error_reply),
		cmocka_unit_test(test_batch_errors_by_sequence_number),
		cmocka_unit_test(test_batch_uncapped_error),
		cmocka_unit_test(test_batch_commit_generation),
	};
	return cmocka_run_group_tests_name("reply", tests, NULL, NULL);
}
