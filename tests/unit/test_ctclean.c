/* A whole cleanup (ctclean_after_commit) against a scripted kernel: this
 * file defines the socket calls netlink/conntrack.c and agent/ctclean.c
 * make (nft_sock_new, _free, _next_seq, _request), so the archive's
 * netlink/nft.o is never linked. A dump hands over the entries scripted in
 * k, made as ctnetlink sends them; each delete answers the next error
 * scripted for it. */
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ctclean.h"
#include "config/ruleset.h"
#include "netlink/conntrack.h"
#include "netlink/nft.h"
#include "netlink/sock.h"

#define K_MAX 8

static struct kernel {
	struct ct_entry entries[K_MAX];
	size_t n;
	int del_err[K_MAX]; /* what the i-th delete answers */
	uint32_t del_id[K_MAX]; /* the CTA_ID each delete asked for */
	size_t ndel, dumps;
} k;

static char sock_token; /* the socket's address: never dereferenced */

struct nft_sock *nft_sock_new(void)
{
	return (struct nft_sock *)&sock_token;
}

void nft_sock_free(struct nft_sock *sock)
{
	(void)sock;
}

uint32_t nft_sock_next_seq(struct nft_sock *sock)
{
	(void)sock;
	return 1;
}

/* e as a dump part carries it: both tuples, the status, the id. */
static const struct nlmsghdr *entry_msg(void *buf, const struct ct_entry *e)
{
	struct nlmsghdr *nlh = ct_new_req(buf, 1, e, 60);

	nlh->nlmsg_flags = NLM_F_MULTI;
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(e->status));
	mnl_attr_put_u32(nlh, CTA_ID, htonl(e->id));
	return nlh;
}

static int attr_id(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTA_ID)
		*(uint32_t *)data = ntohl(mnl_attr_get_u32(attr));
	return MNL_CB_OK;
}

static int kernel_dump(const struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(req);
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));

	k.dumps++;
	for (size_t i = 0; i < k.n; i++) {
		int r;

		if (k.entries[i].family != g->nfgen_family)
			continue;
		errno = 0;
		r = cb(entry_msg(buf, &k.entries[i]), data);
		if (r == MNL_CB_ERROR)
			return errno ? -errno : -EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
	return 0;
}

int nft_sock_request(struct nft_sock *sock, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint8_t msg = nlh->nlmsg_type & 0xff;
	uint32_t id = 0;

	assert_ptr_equal(sock, &sock_token);
	assert_int_equal(nlh->nlmsg_type >> 8, NFNL_SUBSYS_CTNETLINK);
	if (msg == IPCTNL_MSG_CT_GET)
		return kernel_dump(nlh, cb, data);
	assert_int_equal(msg, IPCTNL_MSG_CT_DELETE);
	assert_true(k.ndel < K_MAX);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_id, &id), MNL_CB_OK);
	k.del_id[k.ndel] = id;
	return k.del_err[k.ndel++];
}

static struct masq_ruleset *rules(const char *cidr)
{
	struct masq_ruleset *rs = calloc(1, sizeof(*rs));
	struct cidr c;

	assert_non_null(rs);
	if (cidr) {
		assert_int_equal(cidr_parse(cidr, &c, NULL), 0);
		rs->n4 = (size_t)cidr_merge(&c, 1, AF_INET, &rs->v4);
	}
	return rs;
}

/* A UDP entry from a pod to dst, not NATed, with the kernel id id. */
static struct ct_entry kept_entry(const char *dst, uint32_t id)
{
	struct ct_entry e = { .family = AF_INET, .proto = IPPROTO_UDP, .id = id, .has_id = true };

	assert_int_equal(inet_pton(AF_INET, "10.244.1.5", e.orig.src), 1);
	assert_int_equal(inet_pton(AF_INET, dst, e.orig.dst), 1);
	e.orig.sport = htons(5353);
	e.orig.dport = htons(53);
	memcpy(e.reply.src, e.orig.dst, 16);
	memcpy(e.reply.dst, e.orig.src, 16);
	e.reply.sport = e.orig.dport;
	e.reply.dport = e.orig.sport;
	e.status = IPS_CONFIRMED | IPS_SRC_NAT_DONE;
	return e;
}

static int setup(void **state)
{
	(void)state;
	memset(&k, 0, sizeof(k));
	return 0;
}

/* A kernel before 6.4 refuses to delete an entry offloaded to a flowtable
 * (EBUSY) until it leaves the flowtable. That entry is left, but the other
 * stale entries still go, and the cleanup is done: otherwise every later
 * sync would dump again, fail on the same entry, and never get past it. */
static void test_offloaded_entry_skipped(void **state)
{
	struct masqd_stats st = { 0 };
	struct ctclean *cc = ctclean_new(&st);
	struct masq_ruleset *old = rules("10.0.0.0/8"), *new = rules(NULL);
	char note[CTCLEAN_NOTE_LEN];

	(void)state;
	assert_non_null(cc);
	k.entries[k.n++] = kept_entry("10.1.2.3", 1);
	k.entries[k.n++] = kept_entry("10.1.2.4", 2);
	k.del_err[0] = -EBUSY;
	assert_int_equal(ctclean_after_commit(cc, old, note, sizeof(note)), 0); /* remembered */
	assert_int_equal(k.dumps, 0);
	assert_int_equal(ctclean_after_commit(cc, new, note, sizeof(note)), 1);
	assert_int_equal(k.ndel, 2);
	assert_int_equal(k.del_id[0], 1);
	assert_int_equal(k.del_id[1], 2);
	assert_int_equal(st.ct.failures, 0);
	assert_int_equal(st.ct.cleanups, 1);
	assert_int_equal(st.ct.deleted, 1);
	assert_non_null(strstr(note, "1 UDP entry deleted"));
	/* done: the same rules again cost no dump */
	assert_int_equal(ctclean_after_commit(cc, new, note, sizeof(note)), 0);
	assert_int_equal(k.dumps, 1);
	ctclean_free(cc);
	masq_ruleset_free(old);
	masq_ruleset_free(new);
}

/* Any other refusal of a delete fails the cleanup, which the next sync
 * repeats whole. */
static void test_delete_failure_repeated(void **state)
{
	struct masqd_stats st = { 0 };
	struct ctclean *cc = ctclean_new(&st);
	struct masq_ruleset *old = rules("10.0.0.0/8"), *new = rules(NULL);
	char note[CTCLEAN_NOTE_LEN];

	(void)state;
	assert_non_null(cc);
	k.entries[k.n++] = kept_entry("10.1.2.3", 1);
	k.del_err[0] = -ENOBUFS;
	assert_int_equal(ctclean_after_commit(cc, old, note, sizeof(note)), 0);
	assert_int_equal(ctclean_after_commit(cc, new, note, sizeof(note)), -ENOBUFS);
	assert_int_equal(st.ct.failures, 1);
	assert_int_equal(st.ct.examined, 1); /* a failed pass's dump counts too */
	assert_non_null(strstr(note, "conntrack cleanup failed"));
	assert_int_equal(ctclean_after_commit(cc, new, note, sizeof(note)), 1);
	assert_int_equal(k.dumps, 2);
	assert_int_equal(st.ct.cleanups, 1);
	assert_int_equal(st.ct.deleted, 1);
	assert_int_equal(st.ct.examined, 2);
	ctclean_free(cc);
	masq_ruleset_free(old);
	masq_ruleset_free(new);
}

/* A cleanup that failed leaves two rulesets' entries in the kernel: those
 * made before the commit (the old decision) and after it (the new one).
 * When the next commit goes back to the old rules, the entries made in
 * between are stale although the old and the newest set are the same. */
static void test_failure_then_revert(void **state)
{
	struct masqd_stats st = { 0 };
	struct ctclean *cc = ctclean_new(&st);
	struct masq_ruleset *a = rules("10.0.0.0/8"), *b = rules(NULL);
	struct ct_entry between = kept_entry("10.9.9.9", 3);
	char note[CTCLEAN_NOTE_LEN];

	(void)state;
	assert_non_null(cc);
	k.entries[k.n++] = kept_entry("10.1.2.3", 1);
	k.del_err[0] = -ENOBUFS;
	assert_int_equal(ctclean_after_commit(cc, a, note, sizeof(note)), 0);
	assert_int_equal(ctclean_after_commit(cc, b, note, sizeof(note)), -ENOBUFS);
	/* under b, 10.9.9.9 was masqueraded; then a is back */
	between.status |= IPS_SRC_NAT;
	k.entries[k.n++] = between;
	assert_int_equal(ctclean_after_commit(cc, a, note, sizeof(note)), 1);
	assert_int_equal(k.dumps, 2);
	assert_int_equal(k.ndel, 2);
	assert_int_equal(k.del_id[1], 3); /* the kept entry 1 agrees with a */
	assert_int_equal(st.ct.failures, 1);
	assert_int_equal(st.ct.cleanups, 1);
	/* done: the uncertainty is gone with it */
	assert_int_equal(ctclean_after_commit(cc, a, note, sizeof(note)), 0);
	assert_int_equal(k.dumps, 2);
	ctclean_free(cc);
	masq_ruleset_free(a);
	masq_ruleset_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_offloaded_entry_skipped, setup),
		cmocka_unit_test_setup(test_delete_failure_repeated, setup),
		cmocka_unit_test_setup(test_failure_then_revert, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
