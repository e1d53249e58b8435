/* libFuzzer target: one ctnetlink dump message (the input is the whole
 * netlink message; its length field is set to the input's, as the reply
 * walk only hands over messages that fit). An entry ct_entry_parse takes
 * must come back the same when it is written out again (both tuples,
 * status, zone, id) and parsed back; the dump callback must only pass on
 * entries of the filter's protocol and NAT state.
 *
 * netlink/conntrack.c is linked alone: the two socket calls its ct_dump and
 * ct_delete make are defined here, and abort, since nothing here sends. */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "netlink/conntrack.h"
#include "netlink/sock.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

uint32_t nft_sock_next_seq(struct nft_sock *sock)
{
	(void)sock;
	abort();
}

int nft_sock_request(struct nft_sock *sock, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	(void)sock, (void)nlh, (void)cb, (void)data;
	abort();
}

/* e written out as a dump part would carry it, and parsed back. */
static void round_trip(const struct ct_entry *e)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = ct_new_req(buf, 1, e, 1);
	struct ct_entry back;

	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(e->status));
	if (e->has_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(e->id));
	if (e->zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(e->zone));
	if (ct_entry_parse(nlh, &back) != 0)
		abort();
	if (back.family != e->family || back.proto != e->proto || back.status != e->status ||
	    back.zone != e->zone || back.has_id != e->has_id || back.id != e->id ||
	    memcmp(&back.orig, &e->orig, sizeof(e->orig)) != 0 ||
	    memcmp(&back.reply, &e->reply, sizeof(e->reply)) != 0)
		abort();
}

static int check_passed(const struct ct_entry *e, void *data)
{
	const struct ct_filter *f = data;

	if (e->proto != f->proto || (e->status & f->status_mask) != f->status)
		abort(); /* the userspace filter let through what it should skip */
	return MNL_CB_OK;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const struct ct_filter filters[] = {
		{ .family = AF_INET, .proto = IPPROTO_UDP },
		{ .family = AF_INET,
		  .proto = IPPROTO_UDP,
		  .status_mask = IPS_SRC_NAT,
		  .status = 0 },
		{ .family = AF_INET6,
		  .proto = IPPROTO_UDP,
		  .status_mask = IPS_SRC_NAT,
		  .status = IPS_SRC_NAT },
	};
	struct nlmsghdr *nlh;
	struct ct_entry e;
	void *buf;

	if (size < sizeof(*nlh) || size > 65536)
		return 0;
	buf = aligned_alloc(8, (size + 7) & ~(size_t)7);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	nlh = buf;
	nlh->nlmsg_len = (uint32_t)size;
	if (ct_entry_parse(nlh, &e) == 0) {
		if (e.family != AF_INET && e.family != AF_INET6)
			abort();
		round_trip(&e);
	}
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		struct ct_dump_ctx d = { &filters[i], check_passed, (void *)&filters[i] };
		int r = ct_dump_cb(nlh, &d);

		if (r != MNL_CB_OK && !(r == MNL_CB_ERROR && errno == EBADMSG))
			abort();
	}
	free(buf);
	return 0;
}
