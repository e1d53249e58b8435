/* Following the SNAT address: event in, one sync, one log line out. */
#include "agent/snat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "agent/log.h"
#include "netlink/nodeaddr.h"

struct snat_follow {
	struct loop *loop;
	struct snat_spec spec;
	struct addr_watch *w;
	struct masqd_stats *st;
	snat_changed_fn fn;
	void *data;
	struct masq_snat now[2];
};

static const char *const fam[2] = { "IPv4", "IPv6" };

static void addr_text(const uint8_t *a, int fi, char buf[INET6_ADDRSTRLEN])
{
	inet_ntop(fi ? AF_INET6 : AF_INET, a, buf, INET6_ADDRSTRLEN);
}

/* What is wanted, in words: "192.0.2.10" or "eth1's primary IPv4 address". */
static void wanted(const struct snat_follow *f, int fi, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (f->spec.iface[0]) {
		snprintf(buf, len, "%s's primary global %s address", f->spec.iface, fam[fi]);
		return;
	}
	addr_text(f->spec.to[fi].addr, fi, a);
	snprintf(buf, len, "%s", a);
}

/* st->nat[fi] from the address in force. */
static void note(struct snat_follow *f, int fi)
{
	struct masqd_nat_stats *n = &f->st->nat[fi];
	char a[INET6_ADDRSTRLEN], want[64];

	n->snat_configured = true;
	n->snat_present = f->now[fi].on;
	if (n->snat_present) {
		addr_text(f->now[fi].addr, fi, a);
		snprintf(n->action, sizeof(n->action), "snat to %s", a);
		return;
	}
	wanted(f, fi, want, sizeof(want));
	snprintf(n->action, sizeof(n->action), "masquerade (fallback: %s is not on the node)",
		 want);
}

/* One line per change of a family: where its traffic now goes. */
static void log_change(const struct snat_follow *f, int fi, double took_ms, bool ok)
{
	char a[INET6_ADDRSTRLEN], want[64];

	wanted(f, fi, want, sizeof(want));
	if (!f->now[fi].on) {
		log_warnx("snat: %s is not on the node: %s traffic is masqueraded until it is back "
			  "(rules %s %.3f ms after the address event)",
			  want, fam[fi], ok ? "committed" : "FAILED", took_ms);
		return;
	}
	addr_text(f->now[fi].addr, fi, a);
	log_info("snat: %s traffic leaves from %s%s%s%s (rules %s %.3f ms after the address event)",
		 fam[fi], a, f->spec.iface[0] ? " (" : "", f->spec.iface[0] ? want : "",
		 f->spec.iface[0] ? ")" : "", ok ? "committed" : "FAILED", took_ms);
}

/* Resolve both families; a bitmask of the families that changed. */
static int resolve(struct snat_follow *f)
{
	int changed = 0;

	for (int fi = 0; fi < 2; fi++) {
		struct masq_snat s;

		if (!snat_spec_family(&f->spec, fi))
			continue;
		if (addr_watch_resolve(f->w, &f->spec, fi, &s) < 0)
			return -ENOMEM;
		if (memcmp(&s, &f->now[fi], sizeof(s)) != 0)
			changed |= 1 << fi;
		f->now[fi] = s;
	}
	return changed;
}

static void on_readable(struct loop *l, int fd, uint32_t events, void *data)
{
	struct snat_follow *f = data;
	int64_t t0 = loop_now_ns();
	char err[160];
	int r = addr_watch_ready(f->w, err, sizeof(err)), changed;
	double ms;

	if (r == -ENOBUFS)
		log_warnx("snat: rtnetlink events were lost (socket overflow): read the node's "
			  "addresses again");
	else if (r < 0)
		log_error("snat: %s", err);
	if (r == 0 || (r < 0 && r != -ENOBUFS))
		return;
	changed = resolve(f);
	if (changed <= 0)
		return;
	r = f->fn(f->data, f->now);
	ms = (double)(loop_now_ns() - t0) / 1e6;
	for (int fi = 0; fi < 2; fi++) {
		if (!(changed & (1 << fi)))
			continue;
		note(f, fi);
		f->st->nat[fi].snat_changes++;
		f->st->nat[fi].snat_reaction_seconds = ms / 1e3;
		log_change(f, fi, ms, r == 0);
	}
}

/* The first state, logged once. */
static void log_start(struct snat_follow *f)
{
	for (int fi = 0; fi < 2; fi++) {
		char a[INET6_ADDRSTRLEN], want[64];

		if (!snat_spec_family(&f->spec, fi))
			continue;
		note(f, fi);
		wanted(f, fi, want, sizeof(want));
		if (!f->now[fi].on) {
			log_warnx("snat: %s is not on the node: %s traffic is masqueraded until it "
				  "is",
				  want, fam[fi]);
			continue;
		}
		addr_text(f->now[fi].addr, fi, a);
		log_info("snat: %s traffic leaves from %s%s%s%s", fam[fi], a,
			 f->spec.iface[0] ? " (" : "", f->spec.iface[0] ? want : "",
			 f->spec.iface[0] ? ")" : "");
	}
}

struct snat_follow *snat_follow_new(struct loop *l, const struct snat_spec *spec,
				    struct masqd_stats *st, snat_changed_fn fn, void *data)
{
	struct snat_follow *f = calloc(1, sizeof(*f));
	char err[160] = "";
	int r;

	if (!f)
		return NULL;
	*f = (struct snat_follow){ .loop = l, .spec = *spec, .st = st, .fn = fn, .data = data };
	r = addr_watch_new(&f->w, err, sizeof(err));
	if (r < 0) {
		log_error("snat: cannot read the node's addresses: %s",
			  err[0] ? err : strerror(-r));
		snat_follow_free(f);
		return NULL;
	}
	if (resolve(f) < 0 ||
	    (l && loop_add_fd(l, addr_watch_fd(f->w), EPOLLIN, on_readable, f) < 0)) {
		log_error("snat: cannot follow the node's addresses: %s", strerror(ENOMEM));
		snat_follow_free(f);
		return NULL;
	}
	log_start(f);
	return f;
}

void snat_follow_free(struct snat_follow *f)
{
	if (!f)
		return;
	if (f->loop && f->w)
		loop_del_fd(f->loop, addr_watch_fd(f->w));
	addr_watch_free(f->w);
	free(f);
}

const struct masq_snat *snat_follow_now(const struct snat_follow *f)
{
	return f->now;
}

void snat_stats_plain(struct masqd_stats *st, bool enable_ipv6)
{
	for (int fi = 0; fi < 2; fi++)
		snprintf(st->nat[fi].action, sizeof(st->nat[fi].action), "%s",
			 fi && !enable_ipv6 ? "none (IPv6 is left alone without --enable-ipv6)"
					    : "masquerade");
}
