/* The conntrack cleanup's rechecks: the entries answers in flight make
 * after a kept-to-masqueraded cleanup, found by their exact tuple and
 * deleted (see the header). */
#include "agent/ctrecheck.h"

#include <errno.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/log.h"

const int64_t ctrecheck_after_ms[CTRECHECK_ROUNDS] = { 250, 1000, 3000 };

struct ctrecheck {
	struct nft_sock *sock; /* the cleanup's */
	struct masqd_stats *st;
	struct loop_timer *timer;
	struct ct_entry *watch; /* the entries answers would make (ctrecheck_inverse) */
	size_t n, cap;
	int round; /* the next round, 0-based */
};

static void on_timer(struct loop *l, struct loop_timer *t, void *data);

struct ctrecheck *ctrecheck_new(struct loop *l, struct nft_sock *sock, struct masqd_stats *st)
{
	struct ctrecheck *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->sock = sock;
	rc->st = st;
	rc->timer = loop_timer_new(l, on_timer, rc);
	if (!rc->timer) {
		int e = errno;

		free(rc);
		errno = e;
		return NULL;
	}
	return rc;
}

void ctrecheck_set_sock(struct ctrecheck *rc, struct nft_sock *sock)
{
	rc->sock = sock;
}

void ctrecheck_free(struct ctrecheck *rc)
{
	if (!rc)
		return;
	loop_timer_free(rc->timer);
	free(rc->watch);
	free(rc);
}

void ctrecheck_reset(struct ctrecheck *rc)
{
	(void)loop_timer_arm(rc->timer, 0, 0);
	free(rc->watch);
	rc->watch = NULL;
	rc->n = rc->cap = 0;
	rc->round = 0;
}

void ctrecheck_inverse(const struct ct_entry *deleted, struct ct_entry *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = deleted->family;
	ret->proto = deleted->proto;
	ret->zone = deleted->zone;
	ret->orig = deleted->reply;
	ret->reply = deleted->orig;
}

static bool same_tuple(const struct ct_tuple *a, const struct ct_tuple *b)
{
	return memcmp(a->src, b->src, sizeof(a->src)) == 0 &&
	       memcmp(a->dst, b->dst, sizeof(a->dst)) == 0 && a->sport == b->sport &&
	       a->dport == b->dport;
}

bool ctrecheck_is_answer(const struct ct_entry *key, const struct ct_entry *found)
{
	/* found by its original tuple (not by its reply: that is an entry the
	 * pod made since), and untranslated, as an answer to the pod makes it */
	return found->family == key->family && found->proto == key->proto &&
	       found->zone == key->zone && same_tuple(&found->orig, &key->orig) &&
	       !(found->status & (IPS_SRC_NAT | IPS_DST_NAT));
}

int ctrecheck_watch(struct ctrecheck *rc, const struct ct_entry *deleted, size_t max)
{
	if (rc->n == max)
		return 0;
	if (rc->n == rc->cap) {
		size_t cap = rc->cap ? rc->cap * 2 : 16;
		struct ct_entry *w;

		cap = cap > max ? max : cap;
		w = realloc(rc->watch, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		rc->watch = w;
		rc->cap = cap;
	}
	ctrecheck_inverse(deleted, &rc->watch[rc->n++]);
	return 0;
}

size_t ctrecheck_watched(const struct ctrecheck *rc)
{
	return rc->n;
}

static void arm_round(struct ctrecheck *rc)
{
	int64_t prev = rc->round ? ctrecheck_after_ms[rc->round - 1] : 0;

	(void)loop_timer_arm(rc->timer, (ctrecheck_after_ms[rc->round] - prev) * 1000000, 0);
}

void ctrecheck_start(struct ctrecheck *rc)
{
	rc->round = 0;
	if (rc->n)
		arm_round(rc);
}

int ctrecheck_run(struct ctrecheck *rc)
{
	int deleted = 0;

	for (size_t i = 0; i < rc->n; i++) {
		struct ct_entry found;
		int r = ct_get(rc->sock, &rc->watch[i], &found);

		if (r == -ENOENT)
			continue;
		if (r == 0 && ctrecheck_is_answer(&rc->watch[i], &found))
			r = ct_delete(rc->sock, &found);
		else if (r == 0)
			continue;
		/* gone since (ENOENT), or offloaded to a flowtable, which a kernel
		 * before 6.4 refuses to delete (EBUSY): the others still go */
		if (r == 0)
			deleted++;
		else if (r != -ENOENT && r != -EBUSY)
			return r;
	}
	return deleted;
}

static void on_timer(struct loop *l, struct loop_timer *t, void *data)
{
	struct ctrecheck *rc = data;
	int r = ctrecheck_run(rc);

	if (r > 0) {
		rc->st->ct.inflight += (uint64_t)r;
		log_info("conntrack cleanup: %d UDP entr%s made again by answers in flight to the "
			 "pods' own addresses deleted (recheck %d of %d, %lld ms after)",
			 r, r == 1 ? "y" : "ies", rc->round + 1, CTRECHECK_ROUNDS,
			 (long long)ctrecheck_after_ms[rc->round]);
	} else if (r < 0) {
		log_warnx("conntrack cleanup: recheck %d of %d failed: %s", rc->round + 1,
			  CTRECHECK_ROUNDS, strerror(-r));
	}
	if (++rc->round < CTRECHECK_ROUNDS) {
		arm_round(rc);
		return;
	}
	ctrecheck_reset(rc);
}
