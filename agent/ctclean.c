/* Conntrack cleanup after a commit (--conntrack-cleanup=udp): which
 * intervals changed, which UDP entries now disagree with the rules, the
 * bounds, the counters and the log. One dump per family, with the kernel
 * filtering family, protocol and (for a one-way change) NAT state; entries
 * are collected during the dump and deleted after it, never while it runs:
 * the kernel resumes each part of a dump at the entry that did not fit the
 * last one, and when that entry is gone it walks its hash bucket again from
 * the start (ctnetlink_dump_table), sending entries twice. */
#include "agent/ctclean.h"

#include <errno.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/ctrecheck.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "netlink/nft.h"

struct ctclean {
	struct nft_sock *sock; /* its own: a dump never shares the table owner's socket */
	struct masqd_stats *st;
	/* the intervals last cleaned up to, a copy (32 bytes an interval: the
	 * reconciler's own is freed on a failed sync); NULL: not known */
	struct masq_ruleset *prev;
	/* per family, the intervals of changes whose cleanup failed since the
	 * last one done (sorted, disjoint): entries there may hold either
	 * decision, whatever prev and the next ruleset say */
	struct addr_range *unsure[2];
	size_t nunsure[2];
	struct ctrecheck *recheck; /* in a daemon: answers in flight (agent/ctrecheck.h) */
};

/* Binary search: is a (len bytes) inside one of n sorted, disjoint ranges? */
static bool in_ranges(const struct addr_range *r, size_t n, const uint8_t *a, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(a, r[mid].hi, len) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && memcmp(a, r[lo].lo, len) >= 0;
}

/* The final rule's address changed: e was translated to the wrong source. */
static bool snat_stale(const struct ctclean_plan *p, const struct ct_entry *e)
{
	const uint8_t *src = e->reply.dst; /* the source e's packets leave with */

	if (!(e->status & IPS_SRC_NAT) || in_ranges(p->now, p->nnow, e->reply.src, p->len))
		return false;
	if (p->snat.on)
		return memcmp(src, p->snat.addr, p->len) != 0;
	return p->snat_was.on && memcmp(src, p->snat_was.addr, p->len) == 0;
}

bool ctclean_entry_stale(const struct ctclean_plan *p, const struct ct_entry *e)
{
	const uint8_t *dst = e->reply.src;
	bool masqueraded, kept_now;

	if (e->proto != IPPROTO_UDP || e->family != p->family)
		return false;
	if (p->npods && !in_ranges(p->pods, p->npods, e->orig.src, p->len))
		return false; /* a source masqd leaves alone, whatever the set says */
	if (p->snat_changed && snat_stale(p, e))
		return true;
	if (!in_ranges(p->del, p->ndel, dst, p->len) && !in_ranges(p->add, p->nadd, dst, p->len) &&
	    !in_ranges(p->unsure, p->nunsure, dst, p->len))
		return false;
	masqueraded = e->status & IPS_SRC_NAT;
	kept_now = in_ranges(p->now, p->nnow, dst, p->len);
	return masqueraded == kept_now;
}

static void family_ranges(const struct masq_ruleset *rs, int family, const struct addr_range **ret,
			  size_t *ret_n)
{
	*ret = family == AF_INET ? rs->v4 : rs->v6;
	*ret_n = family == AF_INET ? rs->n4 : rs->n6;
}

int ctclean_plan_make(const struct masq_ruleset *old, const struct masq_ruleset *new, int family,
		      struct ctclean_plan *ret)
{
	const struct addr_range *o;
	size_t no;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->family = family;
	ret->len = cidr_addr_len(family);
	family_ranges(old, family, &o, &no);
	family_ranges(new, family, &ret->now, &ret->nnow);
	ret->pods = new->pod[family == AF_INET6];
	ret->npods = new->npod[family == AF_INET6];
	r = range_diff(o, no, ret->now, ret->nnow, ret->len, &ret->del, &ret->ndel, &ret->add,
		       &ret->nadd);
	if (r < 0)
		return r;
	/* Intervals are compared whole, so a changed one is deleted and added:
	 * additions alone were masqueraded before, removals alone are now. */
	ret->filter = (struct ct_filter){ .family = (uint8_t)family, .proto = IPPROTO_UDP };
	if (!ret->ndel != !ret->nadd) {
		ret->filter.status_mask = IPS_SRC_NAT;
		ret->filter.status = ret->nadd ? IPS_SRC_NAT : 0;
	}
	ret->snat = new->snat[family == AF_INET6];
	ret->snat_was = old->snat[family == AF_INET6];
	ret->snat_changed =
		ret->snat.on != ret->snat_was.on ||
		(ret->snat.on && memcmp(ret->snat.addr, ret->snat_was.addr, ret->len) != 0);
	if (ret->snat_changed && !ret->ndel && !ret->nadd) {
		/* only translated entries can have the wrong source */
		ret->filter.status_mask = IPS_SRC_NAT;
		ret->filter.status = IPS_SRC_NAT;
	} else if (ret->snat_changed && ret->filter.status_mask && !ret->filter.status) {
		ret->filter.status_mask = 0; /* kept ones for the set, translated ones for this */
	}
	return (int)(ret->ndel + ret->nadd) + ret->snat_changed;
}

void ctclean_plan_done(struct ctclean_plan *p)
{
	free(p->del);
	free(p->add);
	p->del = p->add = NULL;
}

struct ctclean *ctclean_new(struct masqd_stats *st)
{
	struct ctclean *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return NULL;
	cc->sock = nft_sock_new();
	if (!cc->sock) {
		free(cc);
		return NULL;
	}
	cc->st = st;
	st->ct.enabled = true;
	return cc;
}

void ctclean_free(struct ctclean *cc)
{
	if (!cc)
		return;
	ctrecheck_free(cc->recheck);
	nft_sock_free(cc->sock);
	masq_ruleset_free(cc->prev);
	free(cc->unsure[0]);
	free(cc->unsure[1]);
	free(cc);
}

int ctclean_set_loop(struct ctclean *cc, struct loop *l)
{
	cc->recheck = ctrecheck_new(l, cc->sock, cc->st);
	return cc->recheck ? 0 : -errno;
}

int ctclean_collect(const struct ct_entry *e, void *data)
{
	struct ctclean_pass *ps = data;

	if (++ps->examined > ps->max_examined) {
		ps->bounded = true;
		return MNL_CB_STOP;
	}
	if (!ctclean_entry_stale(ps->plan, e))
		return MNL_CB_OK;
	if (ps->nstale == ps->max_delete) {
		ps->over++;
		return MNL_CB_OK;
	}
	if (ps->nstale == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 64;
		struct ct_entry *n = realloc(ps->stale, cap * sizeof(*n));

		if (!n) {
			errno = ENOMEM;
			return MNL_CB_ERROR;
		}
		ps->stale = n;
		ps->cap = cap;
	}
	ps->stale[ps->nstale++] = *e;
	return MNL_CB_OK;
}

/* A dump stopped early (at the bound, or by an error: a malformed entry, a
 * timeout) leaves its rest queued on the socket, and the kernel refuses a
 * new dump there (EBUSY) until it is read: start afresh. */
static int sock_renew(struct ctclean *cc)
{
	struct nft_sock *s = nft_sock_new();

	if (!s)
		return -errno;
	nft_sock_free(cc->sock);
	cc->sock = s;
	if (cc->recheck)
		ctrecheck_set_sock(cc->recheck, s); /* it borrowed the one just freed */
	return 0;
}

/* Delete what the dump collected; an entry gone since (ENOENT) is fine. A
 * kernel before 6.4 refuses to delete one offloaded to a flowtable (EBUSY)
 * until it leaves it: that one is counted in ret_busy and left, as failing
 * here would stop at the same entry at every sync. A kept entry deleted
 * (it is masqueraded now) is watched for the entry an answer in flight
 * makes (agent/ctrecheck.h). */
static int delete_stale(struct ctclean *cc, const struct ctclean_pass *ps, size_t *ret_deleted,
			size_t *ret_busy)
{
	bool warned = false;

	for (size_t i = 0; i < ps->nstale; i++) {
		const struct ct_entry *e = &ps->stale[i];
		int r = ct_delete(cc->sock, e);

		if (r < 0 && r != -ENOENT && r != -EBUSY)
			return r;
		*ret_deleted += r == 0;
		*ret_busy += r == -EBUSY;
		if (r == 0 && cc->recheck && !(e->status & IPS_SRC_NAT) &&
		    ctrecheck_watch(cc->recheck, e, CTCLEAN_MAX_DELETE) < 0 && !warned) {
			log_warnx(
				"conntrack cleanup: out of memory watching for answers in flight");
			warned = true;
		}
	}
	return 0;
}

static int clean_family(struct ctclean *cc, const struct ctclean_plan *p, size_t *ret_examined,
			size_t *ret_deleted)
{
	struct ctclean_pass ps = { .plan = p,
				   .max_examined = CTCLEAN_MAX_EXAMINED,
				   .max_delete = CTCLEAN_MAX_DELETE };
	int r = ct_dump(cc->sock, &p->filter, ctclean_collect, &ps);
	size_t busy = 0;

	*ret_examined += ps.bounded ? ps.max_examined : ps.examined;
	if (r < 0 || ps.bounded) {
		int rn = sock_renew(cc);

		r = r < 0 ? r : rn;
	}
	if (r == 0)
		r = delete_stale(cc, &ps, ret_deleted, &busy);
	if (busy)
		log_warnx("conntrack cleanup (%s): %zu stale entries offloaded to a flowtable "
			  "(EBUSY) keep their old decision until they leave it",
			  p->family == AF_INET ? "IPv4" : "IPv6", busy);
	if (ps.bounded || ps.over)
		cc->st->ct.bounded++;
	if (ps.bounded)
		log_warnx("conntrack cleanup (%s): stopped after %u UDP entries, its bound; the "
			  "rest keep their old decision until they expire",
			  p->family == AF_INET ? "IPv4" : "IPv6", CTCLEAN_MAX_EXAMINED);
	if (ps.over)
		log_warnx("conntrack cleanup (%s): %zu stale entries past its bound of %u "
			  "deletions keep their old decision until they expire",
			  p->family == AF_INET ? "IPv4" : "IPv6", ps.over, CTCLEAN_MAX_DELETE);
	free(ps.stale);
	return r;
}

/* The intervals of rs, copied: the reconciler frees its rulesets. */
static struct masq_ruleset *copy_sets(const struct masq_ruleset *rs)
{
	struct masq_ruleset *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->n4 = rs->n4;
	c->n6 = rs->n6;
	memcpy(c->snat, rs->snat, sizeof(c->snat)); /* the final rules' addresses */
	c->v4 = malloc((rs->n4 ? rs->n4 : 1) * sizeof(*c->v4));
	c->v6 = malloc((rs->n6 ? rs->n6 : 1) * sizeof(*c->v6));
	if (!c->v4 || !c->v6) {
		masq_ruleset_free(c);
		return NULL;
	}
	if (rs->n4)
		memcpy(c->v4, rs->v4, rs->n4 * sizeof(*c->v4));
	if (rs->n6)
		memcpy(c->v6, rs->v6, rs->n6 * sizeof(*c->v6));
	return c;
}

static int range_cmp(const void *a, const void *b, void *len)
{
	return memcmp(((const struct addr_range *)a)->lo, ((const struct addr_range *)b)->lo,
		      *(const size_t *)len);
}

/* Add a failed plan's changed intervals to the unsure ones of its family;
 * on ENOMEM they are not added, and that is logged. */
static void add_unsure(struct ctclean *cc, const struct ctclean_plan *p)
{
	int f = p->family == AF_INET6;
	size_t n = p->nunsure + p->ndel + p->nadd, len = p->len, out = 0;
	struct addr_range *u = malloc((n ? n : 1) * sizeof(*u));

	if (!u) {
		log_warnx(
			"conntrack cleanup: out of memory keeping the intervals to look at again");
		return;
	}
	if (p->nunsure) /* memcpy from NULL is undefined, even of 0 bytes */
		memcpy(u, p->unsure, p->nunsure * sizeof(*u));
	if (p->ndel)
		memcpy(u + p->nunsure, p->del, p->ndel * sizeof(*u));
	if (p->nadd)
		memcpy(u + p->nunsure + p->ndel, p->add, p->nadd * sizeof(*u));
	qsort_r(u, n, sizeof(*u), range_cmp, &len);
	for (size_t i = 0; i < n; i++) { /* merge overlapping ones */
		if (out && memcmp(u[i].lo, u[out - 1].hi, len) <= 0) {
			if (memcmp(u[i].hi, u[out - 1].hi, len) > 0)
				memcpy(u[out - 1].hi, u[i].hi, sizeof(u[i].hi));
		} else {
			u[out++] = u[i];
		}
	}
	free(cc->unsure[f]);
	cc->unsure[f] = u;
	cc->nunsure[f] = out;
}

/* The plan for one family, with the intervals left unsure by failed
 * cleanups: these may hold entries of either direction. */
static int plan_family(struct ctclean *cc, const struct masq_ruleset *rs, int f,
		       struct ctclean_plan *p)
{
	int r = ctclean_plan_make(cc->prev, rs, f ? AF_INET6 : AF_INET, p);

	if (r < 0 || !cc->nunsure[f])
		return r;
	p->unsure = cc->unsure[f];
	p->nunsure = cc->nunsure[f];
	p->filter.status_mask = p->filter.status = 0;
	return r + (int)p->nunsure;
}

/* Both families' passes (IPv6 only where rs has IPv6 rules). Returns the
 * number of changed intervals or -errno. A failure makes every family's
 * changed intervals unsure; a cleanup done clears them. */
static int clean(struct ctclean *cc, const struct masq_ruleset *rs, size_t *ret_examined,
		 size_t *ret_deleted)
{
	struct ctclean_plan p[2] = { 0 };
	int nf = rs->ipv6 ? 2 : 1, made = 0, changed = 0, r = 0;

	for (; made < nf && r >= 0; made += r >= 0) {
		r = plan_family(cc, rs, made, &p[made]);
		changed += r > 0 ? r : 0;
	}
	if (changed && cc->recheck)
		ctrecheck_reset(cc->recheck); /* these rules decide now */
	for (int f = 0; f < made && r >= 0; f++)
		if (p[f].ndel + p[f].nadd + p[f].nunsure || p[f].snat_changed)
			r = clean_family(cc, &p[f], ret_examined, ret_deleted);
	for (int f = 0; f < nf; f++) {
		if (r < 0 && f < made)
			add_unsure(cc, &p[f]);
		if (r >= 0) {
			free(cc->unsure[f]);
			cc->unsure[f] = NULL;
			cc->nunsure[f] = 0;
		}
		ctclean_plan_done(&p[f]);
	}
	return r < 0 ? r : changed;
}

/* Remember rs as what the kernel holds; on ENOMEM the earlier one stays,
 * and the next commit repeats this change's cleanup, which is harmless. */
static void remember(struct ctclean *cc, const struct masq_ruleset *rs)
{
	struct masq_ruleset *copy = copy_sets(rs);

	if (!copy) {
		log_warnx("conntrack cleanup: out of memory keeping the rules applied");
		return;
	}
	masq_ruleset_free(cc->prev);
	cc->prev = copy;
}

int ctclean_after_commit(struct ctclean *cc, const struct masq_ruleset *rs, char *note, size_t len)
{
	size_t examined = 0, deleted = 0;
	int64_t t0 = loop_now_ns();
	double ms;
	int r;

	note[0] = '\0';
	if (!cc->prev) {
		/* what the kernel held before masqd started is not known here: a
		 * change made while it was down is left to the entries' timeouts */
		remember(cc, rs);
		return 0;
	}
	r = clean(cc, rs, &examined, &deleted);
	if (r == 0)
		return 0; /* the same intervals: nothing to remember either */
	if (cc->recheck)
		ctrecheck_start(cc->recheck); /* what was deleted, even by a failed one */
	ms = (double)(loop_now_ns() - t0) / 1e6;
	cc->st->ct.deleted += deleted;
	cc->st->ct.examined += examined; /* what the dumps handed over, failed or not */
	if (r < 0) {
		cc->st->ct.failures++;
		log_warnx(
			"conntrack cleanup failed after %zu deletions of %zu entries examined: %s; "
			"tried again at the next sync",
			deleted, examined, strerror(-r));
		snprintf(note, len, "; conntrack cleanup failed: %s", strerror(-r));
		return r;
	}
	cc->st->ct.cleanups++;
	cc->st->ct.last_seconds = ms / 1e3;
	snprintf(note, len, "; conntrack: %zu UDP entr%s deleted of %zu examined in %.3f ms",
		 deleted, deleted == 1 ? "y" : "ies", examined, ms);
	remember(cc, rs);
	return (int)deleted;
}
