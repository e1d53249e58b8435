/* The netlink socket masqd keeps for its whole life, and the one path every
 * request, dump and batch takes through it, with its one receive buffer. */
#include "netlink/nft.h"

#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netlink/batch.h"
#include "netlink/reply.h"
#include "netlink/sock.h"

#define RCVBUF_BYTES (4u << 20) /* error replies for a large batch must not be dropped */
#define PROBE_TABLE "masqd-probe"
#define REPLY_BUF 65536 /* a dump arrives in parts of at most this */
#define REPLY_TIMEOUT_MS 2000 /* the kernel answers at once; this only bounds a broken reply */
#define EINTR_TRIES 8 /* an interrupted call is tried again, but not forever */

struct nft_sock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	int64_t last_commit_ns;
	uint64_t commits; /* batches sent with BATCH_END */
	uint32_t last_gen; /* the generation the last one made, when last_gen_ok */
	bool last_gen_ok;
	char buf[REPLY_BUF] __attribute__((aligned(8))); /* every reply is read into it */
};

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int64_t nft_sock_last_commit_ns(const struct nft_sock *sock)
{
	return sock->last_commit_ns;
}

static void set_bufsize(int fd, int force, int plain, size_t bytes)
{
	int v = bytes > INT32_MAX ? INT32_MAX : (int)bytes;

	/* FORCE needs CAP_NET_ADMIN, which masqd has; fall back to the capped one. */
	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v));
}

struct nft_sock *nft_sock_new(void)
{
	struct nft_sock *sock = calloc(1, sizeof(*sock));
	int one = 1, e;

	if (!sock)
		return NULL;
	sock->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!sock->nl || mnl_socket_bind(sock->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	/* Small error replies, with the kernel's message and attribute offset. */
	mnl_socket_setsockopt(sock->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(sock->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	set_bufsize(mnl_socket_get_fd(sock->nl), SO_RCVBUFFORCE, SO_RCVBUF, RCVBUF_BYTES);
	sock->portid = mnl_socket_get_portid(sock->nl);
	sock->seq = (uint32_t)getpid() << 16;
	return sock;
fail:
	e = errno;
	if (sock->nl)
		mnl_socket_close(sock->nl);
	free(sock);
	errno = e;
	return NULL;
}

void nft_sock_free(struct nft_sock *sock)
{
	if (!sock)
		return;
	mnl_socket_close(sock->nl);
	free(sock);
}

uint32_t nft_sock_portid(const struct nft_sock *sock)
{
	return sock->portid;
}

/* Wait for the next part of a reply; the kernel queues most replies inside
 * sendmsg(), but a dump's later parts are made as the reader drains it. */
static int wait_readable(struct nft_sock *sock)
{
	struct pollfd p = { .fd = mnl_socket_get_fd(sock->nl), .events = POLLIN };
	int r = poll(&p, 1, REPLY_TIMEOUT_MS);

	if (r > 0)
		return 0;
	return r == 0 ? -ETIMEDOUT : -errno;
}

/* A batch's outcome once its replies are read: no error for any message.
 * A zero ACK alone proves nothing. */
static int batch_result(const struct nft_error *e)
{
	return e->count ? e->err : 0;
}

/* The socket failed a batch, sending it or reading its replies (ENOBUFS:
 * replies were lost, so the outcome is unknown). */
static int __attribute__((format(printf, 3, 4)))
batch_fail(struct nft_error *e, int err, const char *fmt, ...)
{
	va_list ap;

	e->err = e->err ? e->err : err;
	va_start(ap, fmt);
	vsnprintf(e->what, sizeof(e->what), fmt, ap);
	va_end(ap);
	return e->err;
}

/* send and recv, again after EINTR: the call did nothing, so it is safe to
 * repeat, but only a few times, so that a storm of signals (or a test's fault
 * shim) cannot spin the loop. */
static ssize_t sock_send(struct nft_sock *sock, const void *msg, size_t len)
{
	ssize_t n;
	int tries = 0;

	do
		n = mnl_socket_sendto(sock->nl, msg, len);
	while (n < 0 && errno == EINTR && ++tries < EINTR_TRIES);
	return n;
}

static ssize_t sock_recv(struct nft_sock *sock)
{
	ssize_t n;
	int tries = 0;

	do
		n = mnl_socket_recvfrom(sock->nl, sock->buf, sizeof(sock->buf));
	while (n < 0 && errno == EINTR && ++tries < EINTR_TRIES);
	return n;
}

/* The one way to the kernel and back: send len bytes of msg, then read the
 * replies into the socket's buffer until rp's answer is complete. The kernel
 * runs a whole batch inside sendmsg(), so every reply to one is queued when
 * it returns: a batch reads until the queue is empty. */
static int sock_exchange(struct nft_sock *sock, const void *msg, size_t len,
			 const struct nft_reply *rp)
{
	int64_t start = rp->batch ? mono_ns() : 0;
	ssize_t n = sock_send(sock, msg, len);
	int r;

	if (rp->batch)
		sock->last_commit_ns = mono_ns() - start;
	if (n < 0 && rp->batch)
		return batch_fail(rp->err, -errno, "sending the batch (%zu bytes)", len);
	if (n < 0)
		return -errno;
	for (;;) {
		n = sock_recv(sock);
		if (n < 0 && errno == EAGAIN && rp->batch)
			return batch_result(rp->err);
		if (n < 0 && errno == EAGAIN) {
			r = wait_readable(sock);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0 && rp->batch)
			return batch_fail(rp->err, -errno, "reading replies");
		if (n < 0)
			return -errno;
		r = nft_reply_walk(rp, sock->buf, (size_t)n);
		if (r <= 0)
			return r;
	}
}

uint32_t nft_sock_next_seq(struct nft_sock *sock)
{
	return sock->seq++;
}

struct nlmsghdr *nft_sock_req_start(struct nft_sock *sock, void *buf, uint16_t type,
				    uint16_t family, uint16_t flags)
{
	/* libmnl 1.0.4 does not zero an attribute's padding: without this, the
	 * stack's old bytes went to the kernel (valgrind: "sendto(msg) points
	 * to uninitialised byte(s)", the soak's first sync) */
	memset(buf, 0, NFT_REQ_LEN);
	return nftnl_nlmsg_build_hdr(buf, type, family, flags, sock->seq++);
}

int nft_sock_request(struct nft_sock *sock, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct nft_reply rp = {
		.portid = sock->portid, .seq = nlh->nlmsg_seq, .cb = cb, .data = data
	};

	return sock_exchange(sock, nlh, nlh->nlmsg_len, &rp);
}

int nft_sock_send_batch(struct nft_sock *sock, const struct nft_batch *b, struct nft_error *e)
{
	struct nft_reply rp = { .portid = sock->portid, .batch = b, .err = e };
	size_t len = nft_batch_get_len(b);

	memset(e, 0, sizeof(*e));
	/* netlink refuses a message larger than the send buffer */
	set_bufsize(mnl_socket_get_fd(sock->nl), SO_SNDBUFFORCE, SO_SNDBUF, len + 65536);
	return sock_exchange(sock, nft_batch_get_data(b), len, &rp);
}

struct nft_batch *nft_sock_batch_open(struct nft_sock *sock)
{
	struct nft_batch *b = nft_batch_new(sock->seq);

	if (b && nft_batch_begin(b) < 0) {
		nft_batch_free(b);
		return NULL;
	}
	return b;
}

int nft_sock_batch_close(struct nft_sock *sock, struct nft_batch *b, bool commit,
			 struct nft_error *e)
{
	int r = commit ? nft_batch_end(b) : 0;
	bool other = nft_batch_other_tables(b);

	if (r == 0)
		r = nft_sock_send_batch(sock, b, e);
	else
		e->err = r;
	sock->seq = nft_batch_get_next_seq(b);
	nft_batch_free(b);
	if (commit) {
		sock->commits++;
		/* a commit that changed someone else's table (upstream's chain)
		 * may have changed what the generation stands for */
		sock->last_gen_ok = r == 0 && e->gen_seen && !other;
		sock->last_gen = e->gen;
	}
	return r;
}

uint64_t nft_sock_commits(const struct nft_sock *sock)
{
	return sock->commits;
}

bool nft_sock_last_commit_gen(const struct nft_sock *sock, uint32_t *ret)
{
	*ret = sock->last_gen;
	return sock->last_gen_ok;
}

int nft_sock_probe_table_flags(struct nft_sock *sock, uint32_t flags)
{
	struct nft_batch *b = nft_sock_batch_open(sock);
	struct nft_error e;
	int r;

	if (!b)
		return -ENOMEM;
	r = nft_batch_add_table(b, PROBE_TABLE, flags);
	if (r < 0) {
		nft_batch_free(b);
		return r;
	}
	/* No BATCH_END: the kernel validates every message, then aborts. */
	r = nft_sock_batch_close(sock, b, false, &e);
	if (r == -EOPNOTSUPP || r == -EINVAL)
		return 0;
	return r < 0 ? r : 1;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nft_gen_parse(nlh, data) == 0)
		return MNL_CB_OK;
	errno = EBADMSG;
	return MNL_CB_ERROR;
}

int nft_sock_genid(struct nft_sock *sock, uint32_t *ret)
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	struct nlmsghdr *nlh =
		nft_sock_req_start(sock, buf, NFT_MSG_GETGEN, NFPROTO_INET, NLM_F_ACK);

	return nft_sock_request(sock, nlh, gen_cb, ret);
}
