/* faultnl.so, for tests only: an LD_PRELOAD shim that makes the nftables
 * netlink socket (AF_NETLINK, NETLINK_NETFILTER; every other socket passes
 * untouched) fail the way a loaded kernel can: ENOBUFS, EINTR, ENOMEM, or a
 * short read (the datagram cut in half, as the kernel cuts one that does not
 * fit: MSG_TRUNC set, the rest lost).
 *
 * The fault is read from the file $FAULTNL_CTL at every netfilter call, so a
 * test arms it while masqd runs; writing a different line starts counting
 * anew. One line of words:
 *   call=send|recv|any  kind=batch|dump|request|any  err=ENOBUFS|EINTR|ENOMEM|short|trace
 *   skip=N   let N matching calls through first        (default 0)
 *   count=N  then fail N calls; 0: every one from then (default 1)
 *   prob=P   instead of skip/count: fail each matching call with probability
 *            P (0..1), from seed=S
 *   part=N   only the Nth datagram of the answer to one send (a receive)
 *   minlen=N only messages or datagrams of at least N bytes
 * "call=recv kind=dump part=2 minlen=1000" hits the middle of the first dump
 * that spans several datagrams (masqd's read-back of a large set).
 * A send is a batch when it starts with BATCH_BEGIN, a dump with NLM_F_DUMP,
 * otherwise a request; a receive has the kind of the last send on its socket.
 * Each fault injected is one line in $FAULTNL_LOG, so a test can prove that
 * the fault it armed really happened; err=trace only writes those lines (a
 * test counts a dump's datagrams to aim at its middle). An absent or empty
 * file: no faults.
 *
 * With FAULTNL_OLD_KERNEL=1 in the environment, the shim also plays a kernel
 * before 6.9, which does not know NFT_TABLE_F_PERSIST: a NEWTABLE whose flags
 * ask for it goes out with one more flag bit that no kernel knows, so the
 * real kernel refuses that message with EOPNOTSUPP, as an old one refuses
 * persist. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { K_ANY, K_BATCH, K_DUMP, K_REQUEST };
static const char *const kind_names[] = { "any", "batch", "dump", "request" };

struct fault {
	char line[256]; /* the control line this fault was read from */
	int call; /* the calls it counts: 1 sends, 0 receives, -1 both */
	enum kind kind;
	int err; /* 0: a short read; -1: trace only */
	unsigned long skip, count, part, minlen;
	double prob;
	unsigned seed;
	unsigned long seen, failed; /* matching calls so far, and failed */
};

static struct fault cur;
static enum kind last_send[1024]; /* per socket: the kind of its last send */
static unsigned long parts[1024]; /* per socket: datagrams received since it */

/* Is fd an nftables netlink socket? */
static bool netfilter_socket(int fd)
{
	int domain = 0, proto = 0;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_NETLINK)
		return false;
	len = sizeof(int);
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
	       proto == NETLINK_NETFILTER;
}

static int errno_named(const char *s)
{
	if (strcmp(s, "ENOBUFS") == 0)
		return ENOBUFS;
	if (strcmp(s, "EINTR") == 0)
		return EINTR;
	if (strcmp(s, "ENOMEM") == 0)
		return ENOMEM;
	return strcmp(s, "trace") == 0 ? -1 : 0; /* else "short" */
}

static void parse(struct fault *f, const char *line)
{
	char buf[256], *save = NULL, *w;

	memset(f, 0, sizeof(*f));
	snprintf(f->line, sizeof(f->line), "%s", line);
	f->count = 1;
	snprintf(buf, sizeof(buf), "%s", line);
	for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(w, "call=", 5) == 0)
			f->call = strcmp(w + 5, "send") == 0   ? 1
				  : strcmp(w + 5, "recv") == 0 ? 0
							       : -1;
		else if (strncmp(w, "kind=", 5) == 0)
			for (int k = 0; k < 4; k++)
				f->kind =
					strcmp(w + 5, kind_names[k]) == 0 ? (enum kind)k : f->kind;
		else if (strncmp(w, "err=", 4) == 0)
			f->err = errno_named(w + 4);
		else if (strncmp(w, "skip=", 5) == 0)
			f->skip = strtoul(w + 5, NULL, 10);
		else if (strncmp(w, "count=", 6) == 0)
			f->count = strtoul(w + 6, NULL, 10);
		else if (strncmp(w, "prob=", 5) == 0)
			f->prob = strtod(w + 5, NULL);
		else if (strncmp(w, "part=", 5) == 0)
			f->part = strtoul(w + 5, NULL, 10);
		else if (strncmp(w, "minlen=", 7) == 0)
			f->minlen = strtoul(w + 7, NULL, 10);
		else if (strncmp(w, "seed=", 5) == 0)
			f->seed = (unsigned)strtoul(w + 5, NULL, 10);
	}
}

/* The armed fault, re-read from $FAULTNL_CTL; NULL when none. */
static struct fault *armed(void)
{
	const char *path = getenv("FAULTNL_CTL");
	char line[256] = "";
	ssize_t n = 0;
	int fd, e = errno;

	if (path && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, line, sizeof(line) - 1);
		close(fd);
	}
	errno = e;
	line[n > 0 ? n : 0] = '\0';
	if (!line[0] || strspn(line, " \t\n") == strlen(line))
		return NULL;
	if (strcmp(line, cur.line) != 0)
		parse(&cur, line);
	return &cur;
}

static void note(const char *call, enum kind k, int err, size_t len)
{
	const char *path = getenv("FAULTNL_LOG");
	FILE *f = path ? fopen(path, "ae") : NULL;

	if (!f)
		return;
	fprintf(f, "%s %s %s len=%zu n=%lu\n", call, kind_names[k],
		err > 0 ? strerrorname_np(err)
		: err	? "trace"
			: "short",
		len, cur.seen);
	fclose(f);
}

/* Should this call fail? Counts it against the armed fault; part is the
 * datagram's place in its answer (0 for a send). */
static struct fault *strike(bool send, enum kind k, size_t len, unsigned long part)
{
	struct fault *f = armed();

	if (!f || (f->call >= 0 && f->call != send) || (f->kind != K_ANY && f->kind != k) ||
	    len < f->minlen || (f->part && f->part != part))
		return NULL;
	f->seen++;
	if (f->prob > 0)
		return (double)rand_r(&f->seed) / RAND_MAX < f->prob ? f : NULL;
	if (f->seen <= f->skip || (f->count && f->failed >= f->count))
		return NULL;
	f->failed++;
	if (f->err < 0) {
		note(send ? "send" : "recv", k, -1, len);
		return NULL;
	}
	return f;
}

static enum kind kind_of(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;

	if (len < sizeof(*nlh))
		return K_REQUEST;
	if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN)
		return K_BATCH;
	return (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP ? K_DUMP : K_REQUEST;
}

/* A send: fails before the kernel sees it (a short send is no netlink
 * failure: a datagram goes whole or not at all). */
static int send_fault(int fd, const void *buf, size_t len)
{
	enum kind k = kind_of(buf, len);
	struct fault *f;

	if (fd >= 0 && fd < 1024) {
		last_send[fd] = k;
		parts[fd] = 0;
	}
	f = strike(true, k, len, 0);
	if (!f)
		return 0;
	note("send", k, f->err ? f->err : ENOBUFS, len);
	errno = f->err ? f->err : ENOBUFS;
	return -1;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

#define PERSIST 0x4 /* NFT_TABLE_F_PERSIST: not in every uapi header */
#define UNKNOWN_FLAG 0x80000000u

/* FAULTNL_OLD_KERNEL: a copy of buf (the caller frees it) where each
 * NEWTABLE asking for persist also asks for an unknown flag; NULL when
 * nothing was changed. */
static void *old_kernel(const void *buf, size_t len)
{
	const char *env = getenv("FAULTNL_OLD_KERNEL");
	bool changed = false;
	char *copy;

	if (!env || strcmp(env, "1") != 0 || !(copy = malloc(len)))
		return NULL;
	memcpy(copy, buf, len);
	for (size_t off = 0; off + NLMSG_HDRLEN <= len;) {
		struct nlmsghdr *nlh = (void *)(copy + off);
		size_t mlen = nlh->nlmsg_len,
		       a = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
		if (mlen < NLMSG_HDRLEN || off + mlen > len)
			break;
		while (nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE) &&
		       a + NLA_HDRLEN <= mlen) {
			struct nlattr *at = (void *)((char *)nlh + a);
			uint32_t v;
			if (at->nla_len < NLA_HDRLEN || a + at->nla_len > mlen)
				break;
			if ((at->nla_type & NLA_TYPE_MASK) == NFTA_TABLE_FLAGS &&
			    at->nla_len == NLA_HDRLEN + 4) {
				memcpy(&v, (char *)at + NLA_HDRLEN, 4);
				if (ntohl(v) & PERSIST) {
					v = htonl(ntohl(v) | UNKNOWN_FLAG);
					memcpy((char *)at + NLA_HDRLEN, &v, 4);
					changed = true;
				}
			}
			a += NLA_ALIGN(at->nla_len);
		}
		off += NLMSG_ALIGN(mlen);
	}
	if (changed)
		return copy;
	free(copy);
	return NULL;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
	       socklen_t tolen)
{
	void *old;
	ssize_t n;

	if (!netfilter_socket(fd))
		return REAL(sendto)(fd, buf, len, flags, to, tolen);
	if (send_fault(fd, buf, len) < 0)
		return -1;
	old = old_kernel(buf, len);
	n = REAL(sendto)(fd, old ? old : buf, len, flags, to, tolen);
	free(old);
	return n;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	return sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr m;
	struct iovec iov;
	void *old;
	ssize_t n;

	if (!netfilter_socket(fd) || msg->msg_iovlen == 0)
		return REAL(sendmsg)(fd, msg, flags);
	if (send_fault(fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len) < 0)
		return -1;
	old = msg->msg_iovlen == 1 ? old_kernel(msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len)
				   : NULL;
	if (!old)
		return REAL(sendmsg)(fd, msg, flags);
	m = *msg;
	iov = (struct iovec){ old, msg->msg_iov[0].iov_len };
	m.msg_iov = &iov;
	n = REAL(sendmsg)(fd, &m, flags);
	free(old);
	return n;
}

/* A receive: an errno leaves the datagram queued (as the kernel reports a
 * lost one: ENOBUFS once, then the queue goes on); a short read takes the
 * datagram and gives half of it, MSG_TRUNC set. */
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t (*real)(int, struct msghdr *, int) = REAL(recvmsg);
	bool ours = fd >= 0 && fd < 1024 && !(flags & MSG_PEEK) && netfilter_socket(fd);
	struct fault *f = NULL;
	size_t keep;
	ssize_t n = 0;
	char peek;

	if (ours) /* only a call that would return a datagram counts */
		n = REAL(recvfrom)(fd, &peek, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, NULL, NULL);
	if (n > 0)
		f = strike(false, last_send[fd], (size_t)n, parts[fd] + 1);
	if (f && f->err) {
		note("recv", last_send[fd], f->err, (size_t)n);
		errno = f->err;
		return -1;
	}
	if (n > 0)
		parts[fd]++; /* the call below takes it */
	if (!f || msg->msg_iovlen != 1)
		return real(fd, msg, flags);
	keep = msg->msg_iov[0].iov_len;
	msg->msg_iov[0].iov_len = (size_t)n / 2;
	n = real(fd, msg, flags);
	msg->msg_iov[0].iov_len = keep;
	note("recv", last_send[fd], 0, (size_t)n);
	return n;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		 socklen_t *fromlen)
{
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_name = from,
			      .msg_namelen = fromlen ? *fromlen : 0,
			      .msg_iov = &iov,
			      .msg_iovlen = 1 };
	ssize_t n;

	if (!netfilter_socket(fd))
		return REAL(recvfrom)(fd, buf, len, flags, from, fromlen);
	n = recvmsg(fd, &msg, flags);
	if (n >= 0 && fromlen)
		*fromlen = msg.msg_namelen;
	return n;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	return recvfrom(fd, buf, len, flags, NULL, NULL);
}
