/* The socket's request path, for the rest of netlink/ (table.c, legacy.c):
 * every request, dump and batch goes through nft.c's one send/receive helper. */
#ifndef MASQ_NFT_SOCK_H
#define MASQ_NFT_SOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

struct nft_batch;
struct nft_error;
struct nft_sock;

#define NFT_REQ_LEN 512 /* a request: a header and a few names of at most 256 bytes */

/* This socket's netlink port id: a table's owner when masqd owns it. */
uint32_t nft_sock_portid(const struct nft_sock *sock);

/* The socket's next sequence number, taken: for requests built elsewhere
 * (conntrack.c's, of another subsystem than nftables). */
uint32_t nft_sock_next_seq(struct nft_sock *sock);

/* Start a request in buf (NFT_REQ_LEN bytes, aligned, zeroed here), numbered
 * with the socket's next sequence number. */
struct nlmsghdr *nft_sock_req_start(struct nft_sock *sock, void *buf, uint16_t type,
				    uint16_t family, uint16_t flags);

/* Send the request and feed each data message of its answer to cb, until
 * DONE or the ACK. Returns 0, or -errno: the kernel's error reply (-ENOENT
 * for an absent object), cb's failure, -ETIMEDOUT. */
int nft_sock_request(struct nft_sock *sock, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
	__attribute__((warn_unused_result));

/* A batch numbered from the socket's next sequence number, opened with
 * BATCH_BEGIN; NULL on ENOMEM. */
struct nft_batch *nft_sock_batch_open(struct nft_sock *sock);

/* Send b (adding BATCH_END when commit: without it the kernel validates
 * every message, then aborts), then free it. As nft_sock_send_batch. */
int nft_sock_batch_close(struct nft_sock *sock, struct nft_batch *b, bool commit,
			 struct nft_error *ret_err) __attribute__((warn_unused_result));

#endif
