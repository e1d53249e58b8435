/* Conntrack cleanup without a kernel: the dump and delete requests parsed
 * back, entries made here as ctnetlink sends them (well formed, truncated,
 * foreign), and the predicate that picks the stale ones. */
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ctclean.h"
#include "agent/ctrecheck.h"
#include "config/podsrc.h"
#include "config/ruleset.h"
#include "netlink/conntrack.h"
#include "netlink/reply.h"

#define OURS 4242u
#define OTHER 77u
#define CT_NEW ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)

struct buf {
	char data[8192] __attribute__((aligned(8)));
	size_t len;
};

static void ip4(uint8_t *a, const char *s)
{
	memset(a, 0, 16);
	assert_int_equal(inet_pton(AF_INET, s, a), 1);
}

/* A UDP entry from 10.244.1.5:5353 to dst:53, NATed to 192.0.2.1 when nat
 * (the reply's destination is then the node address). */
static struct ct_entry udp_entry(const char *dst, bool nat)
{
	struct ct_entry e = {
		.family = AF_INET, .proto = IPPROTO_UDP, .id = 0xabcdef01, .has_id = true
	};

	ip4(e.orig.src, "10.244.1.5");
	ip4(e.orig.dst, dst);
	e.orig.sport = htons(5353);
	e.orig.dport = htons(53);
	e.reply = (struct ct_tuple){ .sport = e.orig.dport, .dport = e.orig.sport };
	memcpy(e.reply.src, e.orig.dst, 16);
	if (nat) {
		ip4(e.reply.dst, "192.0.2.1");
		e.status = IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE;
	} else {
		memcpy(e.reply.dst, e.orig.src, 16);
		e.status = IPS_CONFIRMED | IPS_SRC_NAT_DONE;
	}
	return e;
}

/* What to leave out of or break in a message made by put_entry. */
enum flaw { WHOLE, NO_STATUS, NO_REPLY, SHORT_ADDR, NO_PORTS, BAD_FAMILY, WRONG_TYPE };

static void put_tuple(struct nlmsghdr *nlh, uint16_t type, const struct ct_entry *e,
		      const struct ct_tuple *t, enum flaw f)
{
	struct nlattr *tu = mnl_attr_nest_start(nlh, type), *n;

	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, CTA_IP_V4_SRC, f == SHORT_ADDR ? 3 : 4, t->src);
	mnl_attr_put(nlh, CTA_IP_V4_DST, 4, t->dst);
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, e->proto);
	if (f != NO_PORTS) {
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, t->sport);
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, t->dport);
	}
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, tu);
}

/* e as a dump part carries it, to port pid, sequence seq. */
static struct nlmsghdr *put_entry(struct buf *b, const struct ct_entry *e, uint32_t seq,
				  uint32_t pid, enum flaw f)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->data + b->len);
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	nlh->nlmsg_type =
		f == WRONG_TYPE ? (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE : CT_NEW;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = pid;
	g->nfgen_family = f == BAD_FAMILY ? AF_UNSPEC : e->family;
	put_tuple(nlh, CTA_TUPLE_ORIG, e, &e->orig, f);
	if (f != NO_REPLY)
		put_tuple(nlh, CTA_TUPLE_REPLY, e, &e->reply, WHOLE);
	if (f != NO_STATUS)
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(e->status));
	mnl_attr_put_u32(nlh, CTA_ID, htonl(e->id));
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	return nlh;
}

static void test_entry_round_trip(void **state)
{
	struct buf b = { .len = 0 };
	struct ct_entry want = udp_entry("198.51.100.7", true), got;

	assert_int_equal(ct_entry_parse(put_entry(&b, &want, 1, OURS, WHOLE), &got), 0);
	assert_int_equal(got.family, AF_INET);
	assert_int_equal(got.proto, IPPROTO_UDP);
	assert_int_equal(got.status, want.status);
	assert_true(got.has_id);
	assert_int_equal(got.id, 0xabcdef01);
	assert_int_equal(got.zone, 0);
	assert_memory_equal(&got.orig, &want.orig, sizeof(want.orig));
	assert_memory_equal(&got.reply, &want.reply, sizeof(want.reply));
}

static void test_entry_malformed(void **state)
{
	const enum flaw flaws[] = { NO_STATUS, NO_REPLY,   SHORT_ADDR,
				    NO_PORTS,  BAD_FAMILY, WRONG_TYPE };
	struct ct_entry e = udp_entry("198.51.100.7", false), got;

	for (size_t i = 0; i < sizeof(flaws) / sizeof(flaws[0]); i++) {
		struct buf b = { .len = 0 };

		assert_int_equal(ct_entry_parse(put_entry(&b, &e, 1, OURS, flaws[i]), &got),
				 -EBADMSG);
	}
}

/* A message cut short: the header says less than its attributes need, so
 * the reply tuple (and the status) fall outside it. */
static void test_entry_truncated(void **state)
{
	struct buf b = { .len = 0 };
	struct ct_entry e = udp_entry("198.51.100.7", false), got;
	struct nlmsghdr *nlh = put_entry(&b, &e, 1, OURS, WHOLE);

	/* the header, struct nfgenmsg and 40 bytes: the original tuple only */
	nlh->nlmsg_len = (uint32_t)(MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)) + 40);
	assert_int_equal(ct_entry_parse(nlh, &got), -EBADMSG);
	nlh->nlmsg_len = sizeof(struct nlmsghdr) + 2; /* not even a struct nfgenmsg */
	assert_int_equal(ct_entry_parse(nlh, &got), -EBADMSG);
}

struct seen {
	int n;
	struct ct_entry last;
};

static int seen_cb(const struct ct_entry *e, void *data)
{
	struct seen *s = data;

	s->n++;
	s->last = *e;
	return MNL_CB_OK;
}

static void put_done_or_err(struct buf *b, uint16_t type, uint32_t seq, int error)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->data + b->len);
	struct nlmsgerr *ne;

	nlh->nlmsg_type = type;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = OURS;
	if (type == NLMSG_DONE) {
		nlh->nlmsg_flags = NLM_F_MULTI;
		*(int *)mnl_nlmsg_put_extra_header(nlh, sizeof(int)) = 0;
	} else {
		nlh->nlmsg_flags = NLM_F_CAPPED;
		ne = mnl_nlmsg_put_extra_header(nlh, sizeof(*ne));
		ne->error = error;
		ne->msg.nlmsg_len = sizeof(struct nlmsghdr);
		ne->msg.nlmsg_seq = seq;
	}
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* A dump's replies through the socket's walk: foreign ports and sequence
 * numbers are skipped, TCP (from a kernel that ignored the filter) too, and
 * the answer ends at DONE. */
static void test_dump_walk(void **state)
{
	struct buf b = { .len = 0 };
	struct seen s = { 0 };
	struct ct_filter f = { AF_INET, IPPROTO_UDP, IPS_SRC_NAT, IPS_SRC_NAT };
	struct ct_dump_ctx d = { &f, seen_cb, &s };
	struct nft_reply rp = { .portid = OURS, .seq = 9, .cb = ct_dump_cb, .data = &d };
	struct ct_entry udp = udp_entry("198.51.100.7", true), tcp = udp;
	struct ct_entry kept = udp_entry("198.51.100.7", false);

	tcp.proto = IPPROTO_TCP;
	put_entry(&b, &udp, 9, OTHER, WHOLE);
	put_entry(&b, &udp, 8, OURS, WHOLE);
	put_entry(&b, &tcp, 9, OURS, WHOLE);
	put_entry(&b, &kept, 9, OURS, WHOLE); /* not IPS_SRC_NAT: the filter's status */
	put_entry(&b, &udp, 9, OURS, WHOLE);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 1); /* more to come */
	assert_int_equal(s.n, 1);
	assert_memory_equal(&s.last.orig, &udp.orig, sizeof(udp.orig));
	b.len = 0;
	put_done_or_err(&b, NLMSG_DONE, 8, 0); /* another dump's end */
	put_done_or_err(&b, NLMSG_DONE, 9, 0);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), 0);
	assert_int_equal(s.n, 1);
}

static void test_dump_bad_replies(void **state)
{
	struct buf b = { .len = 0 };
	struct seen s = { 0 };
	struct ct_filter f = { AF_INET, IPPROTO_UDP, 0, 0 };
	struct ct_dump_ctx d = { &f, seen_cb, &s };
	struct nft_reply rp = { .portid = OURS, .seq = 9, .cb = ct_dump_cb, .data = &d };
	struct ct_entry udp = udp_entry("198.51.100.7", true);

	put_entry(&b, &udp, 9, OURS, SHORT_ADDR);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), -EBADMSG);
	b.len = 0;
	put_done_or_err(&b, NLMSG_ERROR, 9, -EPERM);
	assert_int_equal(nft_reply_walk(&rp, b.data, b.len), -EPERM);
	assert_int_equal(s.n, 0);
}

/* The attribute of type at the top of nlh (nest NULL) or inside nest. */
static const struct nlattr *find(const struct nlmsghdr *nlh, const struct nlattr *nest,
				 uint16_t type)
{
	const struct nlattr *a;

	if (nest) {
		mnl_attr_for_each_nested(a, nest) {
			if (mnl_attr_get_type(a) == type)
				return a;
		}
		return NULL;
	}
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == type)
			return a;
	}
	return NULL;
}

static void test_dump_request(void **state)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct ct_filter want = { AF_INET6, IPPROTO_UDP, 0, IPS_SRC_NAT };
	struct nlmsghdr *nlh = ct_dump_req(buf, 33, &want);
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *f, *t, *p;

	assert_int_equal(nlh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
	assert_int_equal(nlh->nlmsg_seq, 33);
	assert_int_equal(g->nfgen_family, AF_INET6);
	f = find(nlh, NULL, CTA_FILTER);
	assert_non_null(f);
	assert_non_null(find(nlh, f, CTA_FILTER_ORIG_FLAGS));
	assert_int_equal(mnl_attr_get_u32(find(nlh, f, CTA_FILTER_ORIG_FLAGS)), 1u << 3);
	assert_null(find(nlh, f, CTA_FILTER_REPLY_FLAGS));
	t = find(nlh, NULL, CTA_TUPLE_ORIG);
	p = t ? find(nlh, t, CTA_TUPLE_PROTO) : NULL;
	assert_non_null(p);
	assert_int_equal(mnl_attr_get_u8(find(nlh, p, CTA_PROTO_NUM)), IPPROTO_UDP);
	assert_null(find(nlh, t, CTA_TUPLE_IP)); /* addresses: checked here, not there */
	assert_int_equal(ntohl(mnl_attr_get_u32(find(nlh, NULL, CTA_STATUS))), 0);
	assert_int_equal(ntohl(mnl_attr_get_u32(find(nlh, NULL, CTA_STATUS_MASK))), IPS_SRC_NAT);
	want.status_mask = 0; /* any status: no status attributes at all */
	nlh = ct_dump_req(buf, 34, &want);
	assert_null(find(nlh, NULL, CTA_STATUS));
	assert_null(find(nlh, NULL, CTA_STATUS_MASK));
}

/* The same tuple attribute in two messages, byte for byte. */
static void same_tuple(const struct nlmsghdr *a, const struct nlmsghdr *b, uint16_t type)
{
	const struct nlattr *x = find(a, NULL, type), *y = find(b, NULL, type);

	assert_non_null(x);
	assert_non_null(y);
	assert_int_equal(x->nla_len, y->nla_len);
	assert_memory_equal(mnl_attr_get_payload(x), mnl_attr_get_payload(y),
			    mnl_attr_get_payload_len(x));
}

/* A delete carries the original tuple, the zone when not the default, and
 * the id; it parses back into the same entry (as a dump part would). */
static void test_delete_request(void **state)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct ct_entry e = udp_entry("198.51.100.7", true);
	struct buf b = { .len = 0 };
	struct nlmsghdr *nlh;
	const struct nfgenmsg *g;

	e.zone = 7;
	nlh = ct_delete_req(buf, 44, &e);
	g = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(nlh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	assert_int_equal(nlh->nlmsg_seq, 44);
	assert_int_equal(g->nfgen_family, AF_INET);
	assert_int_equal(ntohl(mnl_attr_get_u32(find(nlh, NULL, CTA_ID))), e.id);
	assert_int_equal(ntohs(mnl_attr_get_u16(find(nlh, NULL, CTA_ZONE))), 7);
	assert_null(find(nlh, NULL, CTA_TUPLE_REPLY));
	/* the same original tuple as a dump part's, byte for byte */
	same_tuple(nlh, put_entry(&b, &e, 1, OURS, WHOLE), CTA_TUPLE_ORIG);
}

/* A read: the original tuple and zone, an ACK after the answer, and no id
 * (the entry an answer made is not known yet). */
static void test_get_request(void **state)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct ct_entry e = udp_entry("198.51.100.7", false);
	struct buf b = { .len = 0 };
	struct nlmsghdr *nlh;

	e.zone = 3;
	nlh = ct_get_req(buf, 45, &e);
	assert_int_equal(nlh->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK); /* not a dump */
	assert_int_equal(nlh->nlmsg_seq, 45);
	assert_int_equal(ntohs(mnl_attr_get_u16(find(nlh, NULL, CTA_ZONE))), 3);
	assert_null(find(nlh, NULL, CTA_ID));
	assert_null(find(nlh, NULL, CTA_TUPLE_REPLY));
	same_tuple(nlh, put_entry(&b, &e, 1, OURS, WHOLE), CTA_TUPLE_ORIG);
}

/* The entry an answer in flight makes after a kept entry is deleted: the
 * deleted one's reply is its original; only that, untranslated, is it. */
static void test_recheck_answer(void **state)
{
	struct ct_entry kept = udp_entry("10.10.0.2", false), key, found;

	kept.zone = 2;
	ctrecheck_inverse(&kept, &key);
	assert_memory_equal(&key.orig, &kept.reply, sizeof(key.orig));
	assert_memory_equal(&key.reply, &kept.orig, sizeof(key.reply));
	assert_int_equal(key.zone, 2);
	assert_false(key.has_id); /* a delete then hits whatever the kernel holds */

	/* the peer's answer made it: peer to pod, without NAT */
	found = key;
	found.status = IPS_CONFIRMED;
	found.id = 9;
	found.has_id = true;
	assert_true(ctrecheck_is_answer(&key, &found));
	/* the pod's own new entry, found by its reply tuple: left alone */
	found.orig = kept.orig;
	found.reply = kept.reply;
	assert_false(ctrecheck_is_answer(&key, &found));
	/* translated: not an answer's */
	found = key;
	found.status = IPS_CONFIRMED | IPS_SRC_NAT;
	assert_false(ctrecheck_is_answer(&key, &found));
	found.status = IPS_CONFIRMED | IPS_DST_NAT;
	assert_false(ctrecheck_is_answer(&key, &found));
	/* another zone, or port */
	found = key;
	found.zone = 0;
	assert_false(ctrecheck_is_answer(&key, &found));
	found = key;
	found.orig.sport = htons(1);
	assert_false(ctrecheck_is_answer(&key, &found));
}

/* The benchmark's create request: both tuples as a dump part has them,
 * and the timeout. */
static void test_new_request(void **state)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct ct_entry e = udp_entry("198.51.100.7", false);
	struct buf b = { .len = 0 };
	struct nlmsghdr *nlh = ct_new_req(buf, 55, &e, 600);
	struct nlmsghdr *m = put_entry(&b, &e, 1, OURS, WHOLE);

	assert_int_equal(nlh->nlmsg_type, CT_NEW);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	assert_int_equal(ntohl(mnl_attr_get_u32(find(nlh, NULL, CTA_TIMEOUT))), 600);
	same_tuple(nlh, m, CTA_TUPLE_ORIG);
	same_tuple(nlh, m, CTA_TUPLE_REPLY);
}

static struct masq_ruleset *rules(const char *const *cidrs, size_t n)
{
	struct masq_ruleset *rs = calloc(1, sizeof(*rs));
	struct cidr c[4];

	assert_non_null(rs);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cidr_parse(cidrs[i], &c[i], NULL), 0);
	rs->n4 = (size_t)cidr_merge(c, n, AF_INET, &rs->v4);
	return rs;
}

static bool stale(const char *const *old, size_t nold, const char *const *new, size_t nnew,
		  const struct ct_entry *e)
{
	struct masq_ruleset *a = rules(old, nold), *b = rules(new, nnew);
	struct ctclean_plan p;
	bool r;

	assert_true(ctclean_plan_make(a, b, AF_INET, &p) >= 0);
	r = ctclean_entry_stale(&p, e);
	ctclean_plan_done(&p);
	masq_ruleset_free(a);
	masq_ruleset_free(b);
	return r;
}

/* The kernel's status filter follows the change's direction. */
static void test_plan_filter(void **state)
{
	static const char *const a[] = { "10.0.0.0/8" }, *const b[] = { "10.0.0.0/9" };
	struct masq_ruleset *ten8 = rules(a, 1), *ten9 = rules(b, 1), *none = rules(NULL, 0);
	struct ctclean_plan p;

	assert_int_equal(ctclean_plan_make(none, ten8, AF_INET, &p), 1); /* now kept */
	assert_int_equal(p.filter.proto, IPPROTO_UDP);
	assert_int_equal(p.filter.status_mask, IPS_SRC_NAT);
	assert_int_equal(p.filter.status, IPS_SRC_NAT);
	ctclean_plan_done(&p);
	assert_int_equal(ctclean_plan_make(ten8, none, AF_INET, &p), 1); /* now masqueraded */
	assert_int_equal(p.filter.status_mask, IPS_SRC_NAT);
	assert_int_equal(p.filter.status, 0);
	ctclean_plan_done(&p);
	assert_int_equal(ctclean_plan_make(ten9, ten8, AF_INET, &p), 2); /* both: no filter */
	assert_int_equal(p.filter.status_mask, 0);
	ctclean_plan_done(&p);
	assert_int_equal(ctclean_plan_make(ten8, ten8, AF_INET, &p), 0);
	ctclean_plan_done(&p);
	masq_ruleset_free(ten8);
	masq_ruleset_free(ten9);
	masq_ruleset_free(none);
}

static const char *const ten[] = { "10.0.0.0/8" };
static const char *const ten9[] = { "10.0.0.0/9" };

/* 10/8 leaves the non-masquerade set: kept entries into it go, entries
 * already masqueraded stay, and nothing else is looked at. */
static void test_stale_kept_to_masqueraded(void **state)
{
	struct ct_entry kept = udp_entry("10.1.2.3", false), nat = udp_entry("10.1.2.3", true);
	struct ct_entry other = udp_entry("198.51.100.7", false), tcp = kept;

	tcp.proto = IPPROTO_TCP;
	assert_true(stale(ten, 1, NULL, 0, &kept));
	assert_false(stale(ten, 1, NULL, 0, &nat));
	assert_false(stale(ten, 1, NULL, 0, &other));
	assert_false(stale(ten, 1, NULL, 0, &tcp)); /* TCP never */
}

static void test_stale_masqueraded_to_kept(void **state)
{
	struct ct_entry kept = udp_entry("10.1.2.3", false), nat = udp_entry("10.1.2.3", true);
	struct ct_entry tcp = nat;

	tcp.proto = IPPROTO_TCP;
	assert_true(stale(NULL, 0, ten, 1, &nat));
	assert_false(stale(NULL, 0, ten, 1, &kept));
	assert_false(stale(NULL, 0, ten, 1, &tcp));
	assert_false(stale(ten, 1, ten, 1, &nat)); /* no change: nothing is stale */
}

/* 10/9 grows to 10/8: the whole interval is replaced, but only entries
 * whose NAT state disagrees with the new set go. */
static void test_stale_interval_grows(void **state)
{
	struct ct_entry low_kept = udp_entry("10.1.2.3", false);
	struct ct_entry high_nat = udp_entry("10.200.0.1", true);
	struct ct_entry high_kept = udp_entry("10.200.0.1", false);

	assert_false(stale(ten9, 1, ten, 1, &low_kept));
	assert_true(stale(ten9, 1, ten, 1, &high_nat));
	assert_false(stale(ten9, 1, ten, 1, &high_kept));
}

/* After a DNAT the rule saw the translated destination: the reply's source
 * decides, not the original destination. */
static void test_stale_after_dnat(void **state)
{
	struct ct_entry svc = udp_entry("172.16.0.10", false);

	ip4(svc.reply.src, "10.1.2.3");
	assert_true(stale(ten, 1, NULL, 0, &svc));
	svc.family = AF_INET6;
	assert_false(stale(ten, 1, NULL, 0, &svc)); /* another family's plan */
}

/* A pass keeps at most max_delete stale entries, counts the rest, and
 * stops the dump past max_examined. */
static void test_pass_bounds(void **state)
{
	struct masq_ruleset *old = rules(ten, 1), *new = rules(NULL, 0);
	struct ctclean_plan p;
	struct ctclean_pass ps = { .plan = &p, .max_examined = 4, .max_delete = 2 };
	struct ct_entry stale = udp_entry("10.1.2.3", false);
	struct ct_entry fine = udp_entry("198.51.100.7", false);

	assert_int_equal(ctclean_plan_make(old, new, AF_INET, &p), 1);
	assert_int_equal(ctclean_collect(&fine, &ps), MNL_CB_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ctclean_collect(&stale, &ps), MNL_CB_OK);
	assert_int_equal(ps.nstale, 2);
	assert_int_equal(ps.over, 1);
	assert_false(ps.bounded);
	assert_int_equal(ctclean_collect(&fine, &ps), MNL_CB_STOP);
	assert_true(ps.bounded);
	assert_int_equal(ps.examined, 5);
	free(ps.stale);
	ctclean_plan_done(&p);
	masq_ruleset_free(old);
	masq_ruleset_free(new);
}

/* With a pod-source scope only the pods' entries are judged: a host's
 * source keeps its state whatever the set says. */
static void test_stale_pod_scope(void **state)
{
	struct masq_ruleset *old = rules(ten, 1), *new = rules(NULL, 0);
	struct podsrc pods = { .n = { 0 } };
	struct cidr c;
	struct ctclean_plan p;
	struct ct_entry pod = udp_entry("10.1.2.3", false), host = pod;

	ip4(host.orig.src, "192.168.7.7");
	assert_int_equal(cidr_parse("10.244.0.0/16", &c, NULL), 0);
	assert_int_equal(podsrc_add(&pods, &c), 1);
	assert_int_equal(masq_ruleset_set_podsrc(new, &pods), 0);
	assert_int_equal(ctclean_plan_make(old, new, AF_INET, &p), 1);
	assert_true(ctclean_entry_stale(&p, &pod)); /* 10.244.1.5: a pod */
	assert_false(ctclean_entry_stale(&p, &host));
	ctclean_plan_done(&p);
	masq_ruleset_free(old);
	masq_ruleset_free(new);
}

/* The final rule's address moved (the set the same): translated entries to
 * masqueraded destinations go when their source is not the new one. */
static void test_stale_snat_change(void **state)
{
	struct masq_ruleset *old = rules(ten, 1), *new = rules(ten, 1);
	struct ct_entry at_a = udp_entry("198.51.100.7", true), at_node = at_a, kept, to_ten;
	struct ctclean_plan p;

	ip4(at_a.reply.dst, "192.0.2.10"); /* snatted to A */
	ip4(at_node.reply.dst, "10.10.0.1"); /* masqueraded with the node's primary */
	kept = udp_entry("198.51.100.7", false);
	to_ten = at_a;
	ip4(to_ten.reply.src, "10.1.2.3"); /* a kept destination: not masqd's translation */

	/* the same rules: nothing changed */
	assert_int_equal(ctclean_plan_make(old, new, AF_INET, &p), 0);
	assert_false(p.snat_changed);
	ctclean_plan_done(&p);

	/* masquerade -> snat to A: what left with another address goes */
	new->snat[0].on = true;
	ip4(new->snat[0].addr, "192.0.2.10");
	assert_int_equal(ctclean_plan_make(old, new, AF_INET, &p), 1);
	assert_true(p.snat_changed);
	assert_int_equal(p.filter.status_mask, IPS_SRC_NAT); /* translated ones only */
	assert_int_equal(p.filter.status, IPS_SRC_NAT);
	assert_true(ctclean_entry_stale(&p, &at_node));
	assert_false(ctclean_entry_stale(&p, &at_a));
	assert_false(ctclean_entry_stale(&p, &kept));
	assert_false(ctclean_entry_stale(&p, &to_ten));
	ctclean_plan_done(&p);

	/* snat to A -> masquerade (A left the node): what left with A goes */
	assert_int_equal(ctclean_plan_make(new, old, AF_INET, &p), 1);
	assert_true(ctclean_entry_stale(&p, &at_a));
	assert_false(ctclean_entry_stale(&p, &at_node));
	assert_false(ctclean_entry_stale(&p, &kept));
	ctclean_plan_done(&p);

	/* A -> B: A's go, B's stay; the other family is untouched */
	old->snat[0] = new->snat[0];
	ip4(new->snat[0].addr, "192.0.2.11");
	assert_int_equal(ctclean_plan_make(old, new, AF_INET, &p), 1);
	assert_true(ctclean_entry_stale(&p, &at_a));
	ip4(at_a.reply.dst, "192.0.2.11");
	assert_false(ctclean_entry_stale(&p, &at_a));
	ctclean_plan_done(&p);
	assert_int_equal(ctclean_plan_make(old, new, AF_INET6, &p), 0);
	assert_false(p.snat_changed);
	ctclean_plan_done(&p);
	masq_ruleset_free(old);
	masq_ruleset_free(new);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_round_trip),
		cmocka_unit_test(test_entry_malformed),
		cmocka_unit_test(test_entry_truncated),
		cmocka_unit_test(test_dump_walk),
		cmocka_unit_test(test_dump_bad_replies),
		cmocka_unit_test(test_dump_request),
		cmocka_unit_test(test_delete_request),
		cmocka_unit_test(test_get_request),
		cmocka_unit_test(test_recheck_answer),
		cmocka_unit_test(test_new_request),
		cmocka_unit_test(test_plan_filter),
		cmocka_unit_test(test_stale_kept_to_masqueraded),
		cmocka_unit_test(test_stale_masqueraded_to_kept),
		cmocka_unit_test(test_stale_interval_grows),
		cmocka_unit_test(test_stale_after_dnat),
		cmocka_unit_test(test_stale_pod_scope),
		cmocka_unit_test(test_stale_snat_change),
		cmocka_unit_test(test_pass_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
