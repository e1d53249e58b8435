/* ctnetlink's messages for conntrack cleanup: the filtered dump request, the
 * entries it returns, and the delete. The socket and the reply walk are
 * nft.c's and reply.c's: ports, sequence numbers and error replies are
 * checked there, once, for nftables and conntrack alike. */
#include "netlink/conntrack.h"

#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "netlink/sock.h"

/* The tuple fields a CTA_FILTER compares, as the kernel numbers them in
 * net/netfilter/nf_internals.h (CTA_FILTER_F_*): part of the ABI, but not in
 * the uapi headers (Debian 12's nor newer), and the same in
 * libnetfilter_conntrack. masqd filters on the protocol only: destination
 * ranges cannot be expressed, so they are checked in userspace. */
#define CT_FILTER_F_PROTO_NUM (1u << 3)

static struct nlmsghdr *req_start(void *buf, uint16_t msg, uint16_t flags, uint32_t seq,
				  uint8_t family)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;

	memset(buf, 0, CT_REQ_LEN); /* libmnl leaves attribute padding as it was */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	return nlh;
}

struct nlmsghdr *ct_dump_req(void *buf, uint32_t seq, const struct ct_filter *f)
{
	struct nlmsghdr *nlh = req_start(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq, f->family);
	struct nlattr *tuple, *p, *filter;

	if (f->status_mask) {
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(f->status));
		mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(f->status_mask));
	}
	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	p = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, f->proto);
	mnl_attr_nest_end(nlh, p);
	mnl_attr_nest_end(nlh, tuple);
	filter = mnl_attr_nest_start(nlh, CTA_FILTER);
	mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, CT_FILTER_F_PROTO_NUM);
	mnl_attr_nest_end(nlh, filter);
	return nlh;
}

static size_t addr_len(uint8_t family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static bool has_ports(uint8_t proto)
{
	return proto == IPPROTO_UDP || proto == IPPROTO_TCP || proto == IPPROTO_UDPLITE ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_DCCP;
}

static void put_tuple(struct nlmsghdr *nlh, uint16_t type, uint8_t family, uint8_t proto,
		      const struct ct_tuple *t)
{
	struct nlattr *tuple = mnl_attr_nest_start(nlh, type), *n;
	bool v4 = family == AF_INET;

	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, addr_len(family), t->src);
	mnl_attr_put(nlh, v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, addr_len(family), t->dst);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
	if (has_ports(proto)) {
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, t->sport);
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, t->dport);
	}
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, tuple);
}

struct nlmsghdr *ct_delete_req(void *buf, uint32_t seq, const struct ct_entry *e)
{
	struct nlmsghdr *nlh = req_start(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq, e->family);

	put_tuple(nlh, CTA_TUPLE_ORIG, e->family, e->proto, &e->orig);
	if (e->zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(e->zone));
	if (e->has_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(e->id));
	return nlh;
}

struct nlmsghdr *ct_get_req(void *buf, uint32_t seq, const struct ct_entry *e)
{
	struct nlmsghdr *nlh = req_start(buf, IPCTNL_MSG_CT_GET, NLM_F_ACK, seq, e->family);

	put_tuple(nlh, CTA_TUPLE_ORIG, e->family, e->proto, &e->orig);
	if (e->zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(e->zone));
	return nlh;
}

struct nlmsghdr *ct_new_req(void *buf, uint32_t seq, const struct ct_entry *e, uint32_t timeout_s)
{
	struct nlmsghdr *nlh = req_start(buf, IPCTNL_MSG_CT_NEW,
					 NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, seq, e->family);

	put_tuple(nlh, CTA_TUPLE_ORIG, e->family, e->proto, &e->orig);
	put_tuple(nlh, CTA_TUPLE_REPLY, e->family, e->proto, &e->reply);
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(timeout_s));
	return nlh;
}

/* The attributes of one nest (or message) by type, up to max; the last of
 * a repeated type wins, as the kernel's nla_parse. */
struct attr_tb {
	const struct nlattr **a;
	uint16_t max;
};

static int tb_put(const struct nlattr *attr, void *data)
{
	const struct attr_tb *tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= tb->max)
		tb->a[type] = attr;
	return MNL_CB_OK;
}

static int parse_nest(const struct nlattr *nest, const struct nlattr **a, uint16_t max)
{
	struct attr_tb tb = { a, max };

	memset(a, 0, (max + 1u) * sizeof(*a));
	if (mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0)
		return -EBADMSG;
	return mnl_attr_parse_nested(nest, tb_put, &tb) == MNL_CB_OK ? 0 : -EBADMSG;
}

/* An attribute of exactly len bytes, copied to out. */
static int get_fixed(const struct nlattr *attr, size_t len, void *out)
{
	if (!attr || mnl_attr_get_payload_len(attr) != len)
		return -EBADMSG;
	memcpy(out, mnl_attr_get_payload(attr), len);
	return 0;
}

static int parse_tuple(const struct nlattr *nest, uint8_t family, uint8_t *ret_proto,
		       struct ct_tuple *t)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
	bool v4 = family == AF_INET;
	size_t len = addr_len(family);

	if (!nest || parse_nest(nest, tb, CTA_TUPLE_MAX) < 0 || !tb[CTA_TUPLE_IP] ||
	    !tb[CTA_TUPLE_PROTO] || parse_nest(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0 ||
	    parse_nest(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) < 0)
		return -EBADMSG;
	if (get_fixed(ip[v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], len, t->src) < 0 ||
	    get_fixed(ip[v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], len, t->dst) < 0 ||
	    get_fixed(pr[CTA_PROTO_NUM], 1, ret_proto) < 0)
		return -EBADMSG;
	if (!has_ports(*ret_proto))
		return 0;
	if (get_fixed(pr[CTA_PROTO_SRC_PORT], 2, &t->sport) < 0 ||
	    get_fixed(pr[CTA_PROTO_DST_PORT], 2, &t->dport) < 0)
		return -EBADMSG;
	return 0;
}

/* The entry's scalar attributes: the status is required, the rest optional. */
static int parse_scalars(const struct nlattr *const *tb, struct ct_entry *e)
{
	uint32_t v;
	uint16_t z;

	if (get_fixed(tb[CTA_STATUS], 4, &v) < 0)
		return -EBADMSG;
	e->status = ntohl(v);
	if (tb[CTA_ID]) {
		if (get_fixed(tb[CTA_ID], 4, &v) < 0)
			return -EBADMSG;
		e->id = ntohl(v);
		e->has_id = true;
	}
	if (tb[CTA_ZONE]) {
		if (get_fixed(tb[CTA_ZONE], 2, &z) < 0)
			return -EBADMSG;
		e->zone = ntohs(z);
	}
	return 0;
}

int ct_entry_parse(const struct nlmsghdr *nlh, struct ct_entry *ret)
{
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };
	struct attr_tb t = { tb, CTA_MAX };
	const struct nfgenmsg *g;
	struct ct_entry e = { 0 };
	uint8_t rproto;

	if (nlh->nlmsg_type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW) ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*g))
		return -EBADMSG;
	g = mnl_nlmsg_get_payload(nlh);
	e.family = g->nfgen_family;
	if (!addr_len(e.family) || mnl_attr_parse(nlh, sizeof(*g), tb_put, &t) != MNL_CB_OK ||
	    parse_tuple(tb[CTA_TUPLE_ORIG], e.family, &e.proto, &e.orig) < 0 ||
	    parse_tuple(tb[CTA_TUPLE_REPLY], e.family, &rproto, &e.reply) < 0 ||
	    rproto != e.proto || parse_scalars(tb, &e) < 0)
		return -EBADMSG;
	*ret = e;
	return 0;
}

int ct_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ct_dump_ctx *d = data;
	struct ct_entry e;

	if (ct_entry_parse(nlh, &e) < 0) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e.proto != d->filter->proto || (e.status & d->filter->status_mask) != d->filter->status)
		return MNL_CB_OK; /* a kernel without that filter sent it */
	return d->cb(&e, d->data);
}

int ct_dump(struct nft_sock *sock, const struct ct_filter *f, ct_entry_cb cb, void *data)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct ct_dump_ctx d = { f, cb, data };
	struct nlmsghdr *nlh = ct_dump_req(buf, nft_sock_next_seq(sock), f);

	return nft_sock_request(sock, nlh, ct_dump_cb, &d);
}

/* A GET's answer: one entry, then the ACK. */
static int get_cb(const struct nlmsghdr *nlh, void *data)
{
	if (ct_entry_parse(nlh, data) < 0) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int ct_get(struct nft_sock *sock, const struct ct_entry *key, struct ct_entry *ret)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = ct_get_req(buf, nft_sock_next_seq(sock), key);
	int r;

	memset(ret, 0, sizeof(*ret));
	r = nft_sock_request(sock, nlh, get_cb, ret);
	if (r == 0 && !ret->family)
		return -EBADMSG; /* an ACK without the entry */
	return r;
}

int ct_delete(struct nft_sock *sock, const struct ct_entry *e)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = ct_delete_req(buf, nft_sock_next_seq(sock), e);

	return nft_sock_request(sock, nlh, NULL, NULL);
}
