/* Node addresses through libnl-route-3's cache manager (route/link and
 * route/addr caches, kept current by the events on one socket). */
#include "netlink/nodeaddr.h"

#include <errno.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct addr_watch {
	struct nl_sock *sk; /* the events' socket, ours: a bigger receive buffer */
	struct nl_sock *sync; /* dumps after lost events */
	struct nl_cache_mngr *mngr;
	struct nl_cache *links, *addrs;
	unsigned events; /* changes applied by the last read */
};

static int nl_fail(int nlerr, const char *what, char *err, size_t err_len)
{
	snprintf(err, err_len, "%s: %s", what, nl_geterror(nlerr));
	return nlerr == -NLE_NOMEM ? -ENOMEM : -EIO;
}

static void on_change(struct nl_cache *c, struct nl_object *o, int action, void *data)
{
	struct addr_watch *w = data;

	w->events++;
}

static int watch_open(struct addr_watch *w, char *err, size_t err_len)
{
	int r;

	w->sk = nl_socket_alloc();
	w->sync = nl_socket_alloc();
	if (!w->sk || !w->sync)
		return -ENOMEM;
	r = nl_connect(w->sync, NETLINK_ROUTE);
	if (r < 0)
		return nl_fail(r, "rtnetlink socket", err, err_len);
	/* the manager connects sk, makes it non-blocking and subscribes it;
	 * libnl opens every socket with SOCK_CLOEXEC */
	r = nl_cache_mngr_alloc(w->sk, NETLINK_ROUTE, 0, &w->mngr);
	if (r < 0)
		return nl_fail(r, "rtnetlink cache manager", err, err_len);
	r = nl_socket_set_buffer_size(w->sk, ADDR_WATCH_RCVBUF, 0);
	if (r < 0)
		return nl_fail(r, "rtnetlink receive buffer", err, err_len);
	r = nl_cache_mngr_add(w->mngr, "route/link", on_change, w, &w->links);
	if (r < 0)
		return nl_fail(r, "dumping links", err, err_len);
	r = nl_cache_mngr_add(w->mngr, "route/addr", on_change, w, &w->addrs);
	if (r < 0)
		return nl_fail(r, "dumping addresses", err, err_len);
	return 0;
}

int addr_watch_new(struct addr_watch **ret, char *err, size_t err_len)
{
	struct addr_watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	r = watch_open(w, err, err_len);
	if (r < 0) {
		addr_watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

void addr_watch_free(struct addr_watch *w)
{
	if (!w)
		return;
	/* the manager frees its caches, not a socket it was given */
	if (w->mngr)
		nl_cache_mngr_free(w->mngr);
	nl_socket_free(w->sk);
	nl_socket_free(w->sync);
	free(w);
}

int addr_watch_fd(const struct addr_watch *w)
{
	return nl_cache_mngr_get_fd(w->mngr);
}

int addr_watch_ready(struct addr_watch *w, char *err, size_t err_len)
{
	int r;

	w->events = 0;
	r = nl_cache_mngr_data_ready(w->mngr);
	if (r >= 0)
		return (int)w->events;
	/* ENOBUFS (libnl says NLE_NOMEM): the socket overflowed and events
	 * are gone. Only a fresh dump tells the truth again. */
	if (r != -NLE_NOMEM)
		return nl_fail(r, "reading rtnetlink events", err, err_len);
	r = nl_cache_refill(w->sync, w->links);
	if (r == 0)
		r = nl_cache_refill(w->sync, w->addrs);
	if (r < 0)
		return nl_fail(r, "dumping links and addresses again", err, err_len);
	return -ENOBUFS;
}

static void to_cand(struct rtnl_addr *a, struct snat_cand *c)
{
	struct nl_addr *local = rtnl_addr_get_local(a);
	unsigned len = local ? nl_addr_get_len(local) : 0;

	memset(c, 0, sizeof(*c));
	c->ifindex = rtnl_addr_get_ifindex(a);
	c->family = rtnl_addr_get_family(a);
	c->flags = rtnl_addr_get_flags(a);
	c->scope = (uint8_t)rtnl_addr_get_scope(a);
	c->cstamp = rtnl_addr_get_create_time(a);
	if (len == (c->family == AF_INET6 ? 16u : 4u))
		memcpy(c->addr, nl_addr_get_binary_addr(local), len);
	else
		c->family = AF_UNSPEC; /* no local address: never a match */
}

/* The addresses of family (on ifindex, or anywhere when 0) into *ret. */
static int collect(const struct addr_watch *w, int family, int ifindex, struct snat_cand **ret,
		   size_t *ret_n)
{
	struct snat_cand *c = NULL, *grown;
	size_t n = 0, cap = 0;

	for (struct nl_object *o = nl_cache_get_first(w->addrs); o; o = nl_cache_get_next(o)) {
		struct snat_cand one;

		to_cand((struct rtnl_addr *)o, &one);
		if (one.family != family || (ifindex && one.ifindex != ifindex))
			continue;
		if (n == ADDR_WATCH_MAX_ADDRS)
			break; /* a bound: a node has a handful per interface */
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			grown = realloc(c, cap * sizeof(*c));
			if (!grown) {
				free(c);
				return -ENOMEM;
			}
			c = grown;
		}
		c[n++] = one;
	}
	*ret = c;
	*ret_n = n;
	return 0;
}

int addr_watch_resolve(const struct addr_watch *w, const struct snat_spec *spec, int fi,
		       struct masq_snat *ret)
{
	int family = fi ? AF_INET6 : AF_INET, ifindex = 0, best;
	struct snat_cand *c;
	size_t n;

	memset(ret, 0, sizeof(*ret));
	if (!snat_spec_family(spec, fi))
		return 0;
	if (spec->iface[0]) {
		ifindex = rtnl_link_name2i(w->links, spec->iface);
		if (ifindex <= 0)
			return 0; /* no such interface (yet) */
	}
	if (collect(w, family, ifindex, &c, &n) < 0)
		return -ENOMEM;
	if (!spec->iface[0]) {
		if (snat_find(c, n, family, spec->to[fi].addr))
			*ret = spec->to[fi];
	} else if ((best = snat_pick_primary(c, n, ifindex, family)) >= 0) {
		ret->on = true;
		memcpy(ret->addr, c[best].addr, sizeof(ret->addr));
	}
	free(c);
	return 0;
}
