/* The node's addresses and links, followed through rtnetlink with
 * libnl-route-3's cache manager: one socket subscribed to address and link
 * events, read from masqd's own loop when its fd is readable (no thread,
 * no polling). What an address means for SNAT is config/snat.h's. Not
 * netlink/addr.h: with -I. that name would shadow libnl's <netlink/addr.h>. */
#ifndef MASQ_NODEADDR_H
#define MASQ_NODEADDR_H

#include <stddef.h>

#include "config/snat.h"

#define ADDR_WATCH_RCVBUF (1 << 20) /* a burst of events on a busy node */
#define ADDR_WATCH_MAX_ADDRS 65536 /* addresses looked at on one interface */

struct addr_watch;

/* Dump the links and addresses and subscribe to their changes. Returns 0
 * and *ret, or -errno with why (libnl's words) in err. */
int addr_watch_new(struct addr_watch **ret, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* Close it; NULL is fine. */
void addr_watch_free(struct addr_watch *w);

/* The fd to wait on for EPOLLIN; it is O_NONBLOCK and O_CLOEXEC. */
int addr_watch_fd(const struct addr_watch *w);

/* Take in what the kernel reported. Returns the events read (0: none), or
 * -ENOBUFS when some were lost and the caches were dumped anew, which puts
 * them right again; other -errno with why in err. */
int addr_watch_ready(struct addr_watch *w, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* What spec resolves to now for family fi (0 IPv4, 1 IPv6): ret->on and its
 * address while --snat-to-address's address is on the node, or while
 * --snat-interface's interface has a primary global address. Returns 0 or
 * -ENOMEM. */
int addr_watch_resolve(const struct addr_watch *w, const struct snat_spec *spec, int fi,
		       struct masq_snat *ret) __attribute__((warn_unused_result));

#endif
