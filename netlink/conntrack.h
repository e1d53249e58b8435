/* The conntrack table through ctnetlink, with libmnl: a filtered dump of one
 * family and protocol, and the deletion of one entry. Which entries to
 * delete is agent/ctclean.h's; this file only speaks the wire. Message
 * building and parsing are pure, so tests feed them messages they made.
 *
 * Why libmnl and not libnetfilter_conntrack: masqd needs three messages (a
 * dump request, its reply, a delete) and already links libmnl and walks its
 * replies through one checked path (netlink/reply.c: port id, sequence
 * numbers, error replies, truncation). libnetfilter_conntrack would add a
 * library and an object model (nf_conntrack with its getters, its own
 * callback and filter API) for these three messages, and its dump filter
 * (nfct_filter_dump) reaches the same CTA_FILTER attributes built here. */
#ifndef MASQ_CONNTRACK_H
#define MASQ_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

struct nft_sock;

#define CT_REQ_LEN 512 /* a dump or delete request: a header and two tuples */

/* One direction of a connection: addresses (the first 4 bytes for IPv4)
 * and ports, in network order. */
struct ct_tuple {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

/* One conntrack entry, as a dump reports it. */
struct ct_entry {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t proto; /* IPPROTO_UDP, ... */
	uint16_t zone; /* 0: the default zone */
	uint32_t status; /* IPS_* bits (IPS_SRC_NAT: its source was translated) */
	uint32_t id; /* the kernel's id, so that a delete hits this entry only */
	bool has_id;
	struct ct_tuple orig, reply;
};

/* Which entries a dump asks for: the kernel skips the others itself, so
 * that they are never copied out. */
struct ct_filter {
	uint8_t family; /* AF_INET or AF_INET6 (nfgen_family) */
	uint8_t proto; /* IPPROTO_UDP, ... (CTA_FILTER, Linux 5.9+) */
	/* entries whose status & status_mask == status (CTA_STATUS and
	 * CTA_STATUS_MASK: Debian 12's 6.1 has them); status_mask 0: any status */
	uint32_t status, status_mask;
};

/* Build a dump request for the entries f names in buf (CT_REQ_LEN bytes,
 * aligned), numbered seq. */
struct nlmsghdr *ct_dump_req(void *buf, uint32_t seq, const struct ct_filter *f);

/* Build the request that deletes e (its original tuple, zone and id): an
 * entry that has been replaced since the dump keeps its tuple but not its
 * id, and is left alone. */
struct nlmsghdr *ct_delete_req(void *buf, uint32_t seq, const struct ct_entry *e);

/* Build the request that reads the entry with e's original tuple in e's
 * zone (an entry is found by either of its tuples: the caller checks which
 * one the answer's original is). */
struct nlmsghdr *ct_get_req(void *buf, uint32_t seq, const struct ct_entry *e);

/* Build the request that creates e (both tuples; its status, zone and id
 * are the kernel's to choose) with a timeout of timeout_s seconds, failing
 * if it exists. masqd never creates entries: this is for the benchmark and
 * the tests, which fill a namespace's table with unrelated entries. */
struct nlmsghdr *ct_new_req(void *buf, uint32_t seq, const struct ct_entry *e, uint32_t timeout_s);

/* Parse one data message of a dump. Returns 0, or -EBADMSG when it is not a
 * conntrack entry or an attribute is malformed (short, wrong length, a
 * tuple without addresses or protocol). */
int ct_entry_parse(const struct nlmsghdr *nlh, struct ct_entry *ret)
	__attribute__((warn_unused_result));

/* Called for each entry of a dump: MNL_CB_OK to go on, MNL_CB_STOP to stop
 * (the rest of the dump is then left on the socket: close it), or
 * MNL_CB_ERROR with errno set. */
typedef int (*ct_entry_cb)(const struct ct_entry *e, void *data);

/* A dump's reply callback (an mnl_cb_t; public so that tests walk replies
 * they made through it): each entry the filter names goes to cb, others
 * are skipped, a malformed one fails the dump with EBADMSG. */
struct ct_dump_ctx {
	const struct ct_filter *filter;
	ct_entry_cb cb;
	void *data;
};
int ct_dump_cb(const struct nlmsghdr *nlh, void *ctx);

/* Dump the entries f names through sock (a NETLINK_NETFILTER socket of its
 * own: see nft_sock_new), each to cb. A kernel older than a filter
 * attribute ignores it (a dump skips attributes it does not know) and sends
 * more: protocol and status are checked here as well. Returns 0 or -errno
 * (a malformed entry is -EBADMSG). */
int ct_dump(struct nft_sock *sock, const struct ct_filter *f, ct_entry_cb cb, void *data)
	__attribute__((warn_unused_result));

/* Read the entry key's original tuple names, in key's zone, into ret.
 * Returns 0, -ENOENT when there is none, or -errno (-EBADMSG: a malformed
 * answer). */
int ct_get(struct nft_sock *sock, const struct ct_entry *key, struct ct_entry *ret)
	__attribute__((warn_unused_result));

/* Delete e. Returns 0, -ENOENT when it is gone already (expired, or
 * replaced), or -errno. */
int ct_delete(struct nft_sock *sock, const struct ct_entry *e) __attribute__((warn_unused_result));

#endif
