/* --conntrack-cleanup=udp: after a change of the non-masquerade set is
 * committed, delete the UDP conntrack entries that would now be decided
 * otherwise, so that the next packet of a long-lived stream takes the new
 * decision. TCP is never touched: deleting a TCP entry breaks the
 * connection. Which entries (the predicate, in one place), the bounds, the
 * counters and the log note are here; the wire is netlink/conntrack.h's. */
#ifndef MASQ_CTCLEAN_H
#define MASQ_CTCLEAN_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/stats.h"
#include "config/ruleset.h"
#include "netlink/conntrack.h"

/* Bounds of one cleanup, per family: entries looked at (the kernel has
 * already left out the other families and protocols) and entries deleted.
 * Past either, the rest keep their old decision until they expire, and the
 * log says so. */
#define CTCLEAN_MAX_EXAMINED (1u << 21) /* 2,097,152: above any nf_conntrack_max in use */
#define CTCLEAN_MAX_DELETE 65536u /* about 5 MB of entries held at once */

#define CTCLEAN_NOTE_LEN 160

/* What changed between two rulesets, for one family: the intervals of the
 * old set the new one lacks and those of the new one the old lacks
 * (range_diff), the new set, which decides, and what to ask the kernel for.
 * Borrowed pointers except del and add. */
struct ctclean_plan {
	int family;
	size_t len; /* address bytes */
	struct addr_range *del, *add;
	size_t ndel, nadd;
	const struct addr_range *now;
	size_t nnow;
	/* intervals of the changes whose cleanup failed since the last one
	 * done: their entries may hold either decision (borrowed; 0: none) */
	const struct addr_range *unsure;
	size_t nunsure;
	/* the new ruleset's pod-source scope (--pod-cidr, the Node's podCIDRs):
	 * masqd decides only for sources inside it; 0 ranges: every source */
	const struct addr_range *pods;
	size_t npods;
	/* UDP of the family; with only additions to the set (all changed
	 * addresses now kept) only masqueraded entries can be stale, with only
	 * removals only kept ones: the kernel filters on IPS_SRC_NAT then */
	struct ct_filter filter;
	/* the family's final rule changed its source address (--snat-to-address,
	 * --snat-interface: the address came, went or moved): translated
	 * entries to masqueraded destinations whose source is no longer the one
	 * it gives are stale too. snat: the new rule's address (on: snat to it;
	 * off: masquerade); snat_was: the old one's */
	bool snat_changed;
	struct masq_snat snat, snat_was;
};

/* The predicate: should e go? It is UDP, of the plan's family; its original
 * source is one masqd decides for (inside the pod-source scope, when there is
 * one); and either the address its packets were routed to (the reply's
 * source: after a DNAT, not the original destination) lies in an interval
 * whose decision may have changed (del, add or unsure) and its NAT state
 * (IPS_SRC_NAT) disagrees with what the new set decides there (kept: inside
 * it; masqueraded: outside), or the final rule's address changed
 * (snat_changed), the address is masqueraded, and e was translated to a
 * source the new rule no longer gives: not the snat address while there is
 * one, the old snat address when it went (masquerade picks another). */
bool ctclean_entry_stale(const struct ctclean_plan *p, const struct ct_entry *e);

/* The plan from old to new for family; ret->del and ->add are malloc'ed
 * (ctclean_plan_done frees them). Returns the number of changed intervals
 * (0: nothing to do) or -ENOMEM. */
int ctclean_plan_make(const struct masq_ruleset *old, const struct masq_ruleset *new, int family,
		      struct ctclean_plan *ret) __attribute__((warn_unused_result));
void ctclean_plan_done(struct ctclean_plan *p);

/* One family's pass: the plan, its bounds, what the dump collected, and
 * the counts. */
struct ctclean_pass {
	const struct ctclean_plan *plan;
	size_t max_examined, max_delete; /* CTCLEAN_MAX_* (tests take less) */
	struct ct_entry *stale; /* malloc'ed */
	size_t nstale, cap;
	size_t examined, over; /* over: stale entries past max_delete */
	bool bounded; /* the dump stopped past max_examined */
};

/* The dump's callback (ct_entry_cb) for a pass: counts e, keeps it when
 * stale, MNL_CB_STOP once past max_examined; past max_delete stale entries
 * are only counted. */
int ctclean_collect(const struct ct_entry *e, void *pass);

struct ctclean;

/* A cleaner with its own ctnetlink socket, counting into st (borrowed);
 * NULL with errno set. */
struct ctclean *ctclean_new(struct masqd_stats *st);

/* Free it; NULL is fine. */
void ctclean_free(struct ctclean *cc);

/* In a daemon: recheck on l for the entries answers in flight make after a
 * kept-to-masqueraded cleanup (agent/ctrecheck.h). Returns 0 or -errno. */
struct loop;
int ctclean_set_loop(struct ctclean *cc, struct loop *l) __attribute__((warn_unused_result));

/* rs has just been committed: delete the entries it decides otherwise than
 * the ruleset committed before. The first call has nothing to compare with
 * (masqd just started: what the kernel held before is not known) and only
 * remembers rs. A failed cleanup keeps the earlier ruleset, so the next
 * commit (a resync at the latest) tries the same change again, and keeps
 * the change's intervals as unsure until a cleanup is done: entries made
 * after this commit hold rs's decision, so a next commit back to the
 * earlier rules must still look there. note gets a
 * few words for the sync log line ("" when nothing was looked at). Returns
 * the entries deleted or -errno (logged and counted here). */
int ctclean_after_commit(struct ctclean *cc, const struct masq_ruleset *rs, char *note, size_t len);

#endif
