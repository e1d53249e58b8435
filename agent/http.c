/* The HTTP endpoints: libmicrohttpd in the loop, its limits, and who may hold a connection. */
#include "agent/http.h"

#include <errno.h>
#include <ifaddrs.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "agent/dl.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "config/hostport.h"

#define REAP_EVERY_NS 250000000LL /* how often deadlines are checked while connections exist */
#define MHD_SONAME "libmicrohttpd.so.12"
/* MHD's own limit sits above ours (on_accept): a connection we cut counts in
 * MHD's until its next run closes it, and a run accepts up to 10, each of
 * which may cut one. */
#define MHD_CONN_LIMIT (HTTP_CONN_LIMIT + 32)
#define REMOTE_LIMIT (HTTP_CONN_LIMIT - HTTP_LOCAL_RESERVED)
#define LOCAL_ADDRS_MAX 256
#define LOCAL_ADDRS_TTL_NS 5000000000LL /* how long the node's address list is trusted */

/* libmicrohttpd is loaded when the first endpoint starts, not at exec: it
 * brings GnuTLS and eight more libraries, whose loading and initialisation
 * masqd --once and --cleanup never need (agent/dl.h has the cost).
 * (Images must still install it: ldd does not list it.) */
static struct {
	void *lib;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_get_connection_info) *get_connection_info;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_get_timeout) *get_timeout;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_run) *run;
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
} mhd;

/* a table entry: the symbol's name and the pointer it fills */
#define MHD_SYM(f) "MHD_" #f, (void **)&mhd.f

static int mhd_load(char *err, size_t errlen)
{
	static const struct dl_sym syms[] = {
		{ MHD_SYM(add_response_header) }, { MHD_SYM(create_response_from_buffer) },
		{ MHD_SYM(destroy_response) },	  { MHD_SYM(get_connection_info) },
		{ MHD_SYM(get_daemon_info) },	  { MHD_SYM(get_timeout) },
		{ MHD_SYM(queue_response) },	  { MHD_SYM(run) },
		{ MHD_SYM(start_daemon) },	  { MHD_SYM(stop_daemon) },
	};

	if (mhd.lib)
		return 0;
	return dl_load(MHD_SONAME, syms, sizeof(syms) / sizeof(syms[0]), &mhd.lib, err, errlen);
}

struct conn {
	struct MHD_Connection *c;
	int64_t started;
	int64_t waiting; /* since when it waits for a whole request (or its next one) */
	bool answering; /* a request is in and being answered: the wait is over */
	bool local; /* the peer is one of the node's own addresses */
	bool cut;
	struct conn *next;
};

/* The node's addresses, IPv4 ones as v4-mapped IPv6. */
struct local_addrs {
	struct in6_addr a[LOCAL_ADDRS_MAX];
	size_t n;
	int64_t at;
};

struct http_server {
	struct loop *loop;
	struct MHD_Daemon *d;
	int epfd;
	struct loop_timer *mhd_timer, *reaper;
	const struct http_route *routes;
	void *data;
	int64_t deadline_ns;
	struct conn *conns;
	unsigned nconns;
	bool closed; /* a connection closed during this run of MHD */
	struct local_addrs local;
	char bind[64];
	char mhd_msg[256]; /* MHD's last message */
};

unsigned http_server_connections(const struct http_server *s)
{
	return s->nconns;
}

/* Run MHD, then wake up again when it wants to (its inactivity timeouts).
 * At its connection limit MHD takes its listening socket out of its epoll
 * set, and puts it back only at the start of a run: with no run to come
 * (no connection left to time out), nothing would be accepted again. So
 * after a close, run again soon. */
static void run_mhd(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	s->closed = false;
	mhd.run(s->d);
	if (s->closed)
		loop_timer_arm(s->mhd_timer, 1000, 0);
	else if (mhd.get_timeout(s->d, &ms) == MHD_YES)
		loop_timer_arm(s->mhd_timer, ms ? (int64_t)ms * 1000000 : 1000, 0);
	else
		loop_timer_arm(s->mhd_timer, 0, 0);
}

static void on_epoll(struct loop *l, int fd, uint32_t events, void *data)
{
	run_mhd(data);
}

static void on_mhd_timer(struct loop *l, struct loop_timer *t, void *data)
{
	run_mhd(data);
}

/* Shutting the socket down makes MHD see the end and close it. */
static bool mhd_conn_shutdown(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		mhd.get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci && shutdown(ci->connect_fd, SHUT_RDWR) == 0;
}

static bool conn_cut(struct conn *c)
{
	if (!c->cut)
		c->cut = mhd_conn_shutdown(c->c);
	return c->cut;
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		mhd.get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The hard deadline: MHD's own timeout only measures inactivity, so a
 * client trickling a byte a second would keep its slot forever. And a
 * shorter one for a whole request: the slots of clients that have sent
 * nothing useful come back in seconds, not at the hard deadline. */
static void on_reap(struct loop *l, struct loop_timer *t, void *data)
{
	struct http_server *s = data;
	int64_t now = loop_now_ns();

	for (struct conn *c = s->conns; c; c = c->next) {
		if (now - c->started >= s->deadline_ns ||
		    (!c->answering && now - c->waiting >= HTTP_REQUEST_DEADLINE_NS))
			conn_cut(c);
	}
	run_mhd(s);
}

/* Any address v4-mapped into IPv6, to compare IPv4 and IPv6 peers alike. */
static bool addr_get(const struct sockaddr *sa, struct in6_addr *ret)
{
	if (sa->sa_family == AF_INET6) {
		*ret = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		return true;
	}
	if (sa->sa_family != AF_INET)
		return false;
	memset(ret, 0, sizeof(*ret));
	ret->s6_addr[10] = ret->s6_addr[11] = 0xff;
	memcpy(&ret->s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	return true;
}

/* On failure the last list stays. */
static void local_addrs_refresh(struct local_addrs *l, int64_t now)
{
	struct ifaddrs *ifa;

	l->at = now;
	if (getifaddrs(&ifa) < 0)
		return;
	l->n = 0;
	for (struct ifaddrs *i = ifa; i && l->n < LOCAL_ADDRS_MAX; i = i->ifa_next)
		if (i->ifa_addr && addr_get(i->ifa_addr, &l->a[l->n]))
			l->n++;
	freeifaddrs(ifa);
}

/* Kubelet probes a host-network pod from the node itself: from one of the
 * node's addresses, or loopback (all of 127/8, which is not listed). The
 * kernel drops packets from outside that claim a local source. */
static bool peer_is_local(struct http_server *s, const struct sockaddr *sa)
{
	struct in6_addr a;
	int64_t now = loop_now_ns();

	if (!addr_get(sa, &a))
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127))
		return true;
	if (!s->local.at || now - s->local.at >= LOCAL_ADDRS_TTL_NS)
		local_addrs_refresh(&s->local, now);
	for (size_t i = 0; i < s->local.n; i++)
		if (IN6_ARE_ADDR_EQUAL(&a, &s->local.a[i]))
			return true;
	return false;
}

/* The connection that has waited longest for its request, of remote peers
 * only or of all. */
static struct conn *oldest_waiting(struct http_server *s, bool remote_only)
{
	struct conn *old = NULL;

	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->cut || c->answering || (remote_only && c->local))
			continue;
		if (!old || c->waiting < old->waiting)
			old = c;
	}
	return old;
}

/* MHD has checked its per-address limit. Ours: HTTP_CONN_LIMIT in all, of
 * which other peers than the node may hold all but HTTP_LOCAL_RESERVED, so
 * a flood from outside cannot lock kubelet out. Over them, a newcomer takes
 * the slot of the connection that has waited longest for its request (a
 * remote one, if the newcomer is remote) rather than being refused: slow
 * clients cannot hold the door shut, and a probe is quick to answer. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct http_server *s = cls;
	bool local = peer_is_local(s, sa);
	unsigned total = 0, remote = 0;
	struct conn *victim;

	for (struct conn *c = s->conns; c; c = c->next) {
		total += !c->cut;
		remote += !c->cut && !c->local;
	}
	if (total < HTTP_CONN_LIMIT && (local || remote < REMOTE_LIMIT))
		return MHD_YES;
	victim = oldest_waiting(s, !local);
	return victim && conn_cut(victim) ? MHD_YES : MHD_NO;
}

static void conn_start(struct http_server *s, struct MHD_Connection *mc, void **socket_context)
{
	const union MHD_ConnectionInfo *ci =
		mhd.get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct conn *c = calloc(1, sizeof(*c));

	if (!c || !ci) { /* untracked, it would escape every limit: cut it */
		free(c);
		mhd_conn_shutdown(mc);
		return;
	}
	*c = (struct conn){ .c = mc, .started = loop_now_ns(), .next = s->conns };
	c->waiting = c->started;
	c->local = peer_is_local(s, ci->client_addr);
	s->conns = c;
	*socket_context = c;
	if (s->nconns++ == 0) /* reap only while there is something to reap */
		loop_timer_arm(s->reaper, REAP_EVERY_NS, REAP_EVERY_NS);
}

static void on_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
		      enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;
	struct conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		conn_start(s, mc, socket_context);
		return;
	}
	s->closed = true;
	if (!c)
		return;
	for (struct conn **p = &s->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	free(c);
	if (--s->nconns == 0)
		loop_timer_arm(s->reaper, 0, 0);
}

/* An answer went out, or the connection ends: a kept-alive connection
 * waits for its next request from now. */
static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn *c = conn_of(mc);

	if (c) {
		c->answering = false;
		c->waiting = loop_now_ns();
	}
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype,
			       char *body, size_t len, bool must_free, const char *allow)
{
	struct MHD_Response *r = mhd.create_response_from_buffer(
		len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	struct conn *conn = conn_of(c);
	enum MHD_Result ret;

	if (conn) /* the whole request is in (a body too): no longer evictable */
		conn->answering = true;
	if (!r) {
		if (must_free)
			free(body);
		return MHD_NO;
	}
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	mhd.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = mhd.queue_response(c, status, r);
	mhd.destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg,
			    const char *allow)
{
	return respond(c, status, "text/plain; charset=utf-8", (char *)msg, strlen(msg), false,
		       allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct http_server *s = cls;
	struct http_reply out = { 0 };

	static char headers_seen, body_seen;

	if (!*req_cls) { /* the headers are in; the body, if any, comes next */
		*req_cls = &headers_seen;
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
			return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				    "GET, HEAD");
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* MHD drops the connection if we answer mid-body: discard it (never
		 * stored; the deadline bounds it) and answer once it is in */
		*upload_data_size = 0;
		*req_cls = &body_seen;
		return MHD_YES;
	}
	if (*req_cls == &body_seen)
		return text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request bodies are not accepted\n",
			    NULL);
	for (const struct http_route *r = s->routes; r->path; r++) {
		if (strcmp(r->path, url) != 0)
			continue;
		r->fn(s->data, &out);
		if (!out.body)
			return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
		return respond(c, out.status, out.content_type, out.body, out.len, true, NULL);
	}
	return text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

/* The last message is kept: it says why MHD failed to start. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;

	vsnprintf(s->mhd_msg, sizeof(s->mhd_msg), fmt, ap);
	s->mhd_msg[strcspn(s->mhd_msg, "\n")] = '\0';
	log_debug("http %s: %s", s->bind, s->mhd_msg);
}

/* No MHD_OPTION_LISTENING_ADDRESS_REUSE: on Linux, with it at 1 MHD sets
 * SO_REUSEPORT, and a second process binding the same address would get
 * half the connections; at 0 it sets nothing, and a restart would fail to
 * bind over the connections it cut, still in TIME_WAIT. Left out, MHD sets
 * SO_REUSEADDR only: restarts bind, a second listener gets EADDRINUSE. */
static struct MHD_Daemon *start(struct http_server *s, const struct sockaddr_storage *sa)
{
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	uint16_t port = sa->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
						  : ((const struct sockaddr_in *)sa)->sin_port;

	if (sa->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* the port is only for MHD's messages, such as "Failed to bind to port 9744" */
	return mhd.start_daemon(
		flags, ntohs(port), on_accept, s, on_request, s, MHD_OPTION_SOCK_ADDR, sa,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP_LIMIT,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)MHD_CONN_LIMIT,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(s->deadline_ns / 1000000000 + 1),
		MHD_OPTION_NOTIFY_CONNECTION, on_notify, s, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
}

/* Start MHD and hand its epoll fd to the loop. MHD's last message says
 * what failed, such as "Failed to bind to port 9744: Address already in use". */
static int listen_start(struct http_server *s, const struct sockaddr_storage *sa, char *err,
			size_t errlen)
{
	const union MHD_DaemonInfo *info;
	int r;

	errno = 0;
	s->d = start(s, sa);
	if (!s->d) {
		r = errno ? -errno : -EINVAL;
		snprintf(err, errlen, "cannot listen: %s",
			 s->mhd_msg[0] ? s->mhd_msg : strerror(-r));
		return r;
	}
	info = mhd.get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	r = info ? loop_add_fd(s->loop, info->epoll_fd, EPOLLIN, on_epoll, s) : -EINVAL;
	if (r < 0) {
		snprintf(err, errlen, "cannot watch the server's epoll fd: %s", strerror(-r));
		return r;
	}
	s->epfd = info->epoll_fd;
	return 0;
}

struct http_server *http_server_new(struct loop *l, const char *bind,
				    const struct http_route *routes, void *data,
				    int64_t deadline_ns, char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage sa;
	socklen_t salen;

	if (!s || hostport_parse(bind, &sa, &salen) < 0) {
		snprintf(err, errlen, "%s", s ? "not an IP:PORT address" : "out of memory");
		free(s);
		return NULL;
	}
	if (mhd_load(err, errlen) < 0) {
		free(s);
		return NULL;
	}
	*s = (struct http_server){
		.loop = l, .routes = routes, .data = data, .deadline_ns = deadline_ns, .epfd = -1
	};
	snprintf(s->bind, sizeof(s->bind), "%s", bind);
	s->mhd_timer = loop_timer_new(l, on_mhd_timer, s);
	s->reaper = loop_timer_new(l, on_reap, s);
	if (!s->mhd_timer || !s->reaper) {
		snprintf(err, errlen, "out of memory");
		http_server_free(s);
		return NULL;
	}
	if (listen_start(s, &sa, err, errlen) < 0) {
		http_server_free(s);
		return NULL;
	}
	return s;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->epfd >= 0)
		loop_del_fd(s->loop, s->epfd);
	mhd.stop_daemon(s->d); /* which calls on_notify for the connections left */
	loop_timer_free(s->mhd_timer);
	loop_timer_free(s->reaper);
	free(s);
}
