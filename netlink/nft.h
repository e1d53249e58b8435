/* The kernel side of nftables: one netlink socket for masqd's whole life
 * (table ownership belongs to it), feature probes, and sending a batch with
 * each error mapped to the object that caused it. The table is table.h's,
 * upstream's leftover chain legacy.h's; this header brings both. */
#ifndef MASQ_NFT_H
#define MASQ_NFT_H

#include <stdint.h>

#include "netlink/legacy.h"
#include "netlink/table.h"

struct nft_batch;
struct nft_sock;

/* The first error of a failed transaction. */
struct nft_error {
	int err; /* negative errno */
	char what[64]; /* the object: "set nomasq4 elements 1-512", "batch begin" */
	char msg[128]; /* the kernel's extended ACK message, if any */
	unsigned count; /* errors reported for the whole batch */
	uint16_t msg_type; /* the refused message's NFT_MSG_* type; 0: none known */
	/* The generation the batch's commit made (NFT_MSG_NEWGEN, which the
	 * kernel echoes for the NLM_F_ECHO of the batch's first message after
	 * BATCH_BEGIN). Not seen: nothing was committed (an error, an empty
	 * transaction), or a kernel without the 2021 fix (before 5.11, unless
	 * backported) left the echo out unless some socket listened to the
	 * nftables group (nft monitor). */
	uint32_t gen;
	bool gen_seen;
};

/* Open the socket (O_NONBLOCK|O_CLOEXEC); NULL with errno set. */
struct nft_sock *nft_sock_new(void);

/* Close the socket; NULL is fine. Tables it owns without persist go with it. */
void nft_sock_free(struct nft_sock *sock);

/* How long the kernel took over the last batch: its sendmsg() (the kernel
 * runs the whole transaction inside it), in nanoseconds. */
int64_t nft_sock_last_commit_ns(const struct nft_sock *sock);

/* Does the kernel accept these table flags? Sends a batch without BATCH_END,
 * which the kernel validates and then aborts: no side effects, but 8-15 ms
 * (the abort path), so masqd sends its real batch with the flags and asks
 * this only when the kernel refuses that batch's table.
 * Returns 1 (yes), 0 (no) or -errno. */
int nft_sock_probe_table_flags(struct nft_sock *sock, uint32_t flags)
	__attribute__((warn_unused_result));

/* Send a complete batch as it is. Every error reply is mapped to its object
 * through the batch's sequence numbers; the first one fills ret_err. */
int nft_sock_send_batch(struct nft_sock *sock, const struct nft_batch *b, struct nft_error *ret_err)
	__attribute__((warn_unused_result));

/* masqd's own commits through this socket: the batches sent with BATCH_END,
 * whatever came of them. */
uint64_t nft_sock_commits(const struct nft_sock *sock);

/* The generation the last of them made, into ret: true when the kernel said
 * which (its commit succeeded and echoed NFT_MSG_NEWGEN) and the batch changed
 * masqd's own table only (not upstream's chain in ip or ip6 nat). A commit
 * moves the generation by exactly one, so a reader that last saw gen - 1
 * knows that nobody else committed in between, and that nothing but masqd's
 * table changed. */
bool nft_sock_last_commit_gen(const struct nft_sock *sock, uint32_t *ret);

/* The nftables generation id: it moves with every commit on the host. */
int nft_sock_genid(struct nft_sock *sock, uint32_t *ret) __attribute__((warn_unused_result));

#endif
