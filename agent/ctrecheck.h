/* The cleanup's rechecks (--conntrack-cleanup=udp, in a daemon). When a
 * cleanup deletes a kept entry that is now masqueraded, an answer already on
 * its way to the pod's own address makes a new entry the other way round
 * (the peer to the pod, without NAT), and the pod's next packets match it
 * as their reply direction: the stream would keep the pod's address until
 * that entry expires. A little later, and twice more, masqd looks for that
 * entry by its exact tuple (the deleted entry's reply) and deletes it; the
 * pod's next packet then takes the new decision.
 *
 * Only an entry whose original tuple is exactly that one, without NAT, is
 * deleted: one the pod made since (found by its reply tuple) is left. A new
 * cleanup drops the watch of the one before: its rules decide now. It cannot
 * win against a peer that always has an answer in flight (one that answers
 * later than the pod sends): each deletion is then made again. */
#ifndef MASQ_CTRECHECK_H
#define MASQ_CTRECHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/loop.h"
#include "agent/stats.h"
#include "netlink/conntrack.h"

/* When the rechecks run, after the cleanup, in milliseconds: an answer in
 * flight takes a round trip, a slow peer's more. */
#define CTRECHECK_ROUNDS 3
extern const int64_t ctrecheck_after_ms[CTRECHECK_ROUNDS];

struct ctrecheck;

/* Rechecks on l through sock (borrowed: the cleanup's), counting into st;
 * NULL with errno set. */
struct ctrecheck *ctrecheck_new(struct loop *l, struct nft_sock *sock, struct masqd_stats *st);

/* The cleanup replaced its socket (a dump cut short leaves it unusable) and
 * freed the old one: borrow sock from now on. */
void ctrecheck_set_sock(struct ctrecheck *rc, struct nft_sock *sock);

/* Free it, before the loop it was made on; NULL is fine. */
void ctrecheck_free(struct ctrecheck *rc);

/* A new cleanup starts: forget what the last one watched, and stop. */
void ctrecheck_reset(struct ctrecheck *rc);

/* deleted, a kept entry the cleanup deleted because it is now masqueraded:
 * watch for the entry an answer in flight makes. Past max (CTCLEAN_MAX_DELETE)
 * entries nothing more is watched. Returns 0 or -ENOMEM. */
int ctrecheck_watch(struct ctrecheck *rc, const struct ct_entry *deleted, size_t max);

/* The cleanup is done: the first recheck runs after ctrecheck_after_ms[0]. */
void ctrecheck_start(struct ctrecheck *rc);

/* One recheck now (the timer's; public for tests). Returns the entries it
 * deleted, or -errno when the socket failed (the next round tries again). */
int ctrecheck_run(struct ctrecheck *rc);

/* What is watched (for tests). */
size_t ctrecheck_watched(const struct ctrecheck *rc);

/* The entry an answer to deleted makes: deleted's reply as its original. */
void ctrecheck_inverse(const struct ct_entry *deleted, struct ct_entry *ret);

/* Is found that entry, as the answer made it (key: ctrecheck_inverse's)? */
bool ctrecheck_is_answer(const struct ct_entry *key, const struct ct_entry *found);

#endif
