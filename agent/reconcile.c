/* The full and incremental sync, what each one logs and counts; the
 * reconciler keeps what the kernel was last made to hold. */
#include "agent/reconcile.h"

#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/ctclean.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "config/incr.h"
#include "config/ruleset.h"

struct reconciler {
	struct nft_sock *nft;
	const struct masq_opts *opts;
	struct masqd_stats *st;
	uint32_t table_flags;
	bool flags_unproven; /* table_flags not yet accepted by this kernel */
	uint64_t gen; /* the config generation being synced */
	uint64_t programmed_gen; /* the generation the kernel was last made to hold */
	bool programmed;
	struct masq_ruleset *applied; /* what the kernel holds, after the last good sync */
	struct nft_counters counted; /* counters of tables replaced before */
	struct masq_snat snat[2]; /* the SNAT addresses in force */
	struct podsrc pods; /* the pod-source scope in force */
	/* The resolution of the config last synced, kept (reconciler_keep_index)
	 * so that a change re-resolves only what it touches. After an update
	 * from it, applied's intervals are behind (applied_behind) until needed. */
	struct masq_incr *incr;
	bool keep_index, applied_behind;
	struct masq_delta delta; /* the intervals the last update from incr changed */
	struct ctclean *ct; /* --conntrack-cleanup=udp; NULL when off */
};

static const char *const outcome_names[] = { "unchanged", "adopted", "replaced" };

struct reconciler *reconciler_new(struct nft_sock *nft, const struct masq_opts *opts,
				  struct masqd_stats *st)
{
	struct reconciler *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->nft = nft;
	rc->opts = opts;
	rc->st = st;
	rc->pods = opts->pods; /* --pod-cidr, until the Node's are known */
	return rc;
}

void reconciler_free(struct reconciler *rc)
{
	if (!rc)
		return;
	masq_ruleset_free(rc->applied);
	ctclean_free(rc->ct);
	masq_incr_free(rc->incr);
	masq_delta_clear(&rc->delta);
	free(rc);
}

void reconciler_keep_index(struct reconciler *rc, bool on)
{
	rc->keep_index = on;
}

int reconciler_enable_ctclean(struct reconciler *rc)
{
	rc->ct = ctclean_new(rc->st);
	return rc->ct ? 0 : -errno;
}

int reconciler_ctclean_loop(struct reconciler *rc, struct loop *l)
{
	return rc->ct ? ctclean_set_loop(rc->ct, l) : 0;
}

/* After a commit: the conntrack cleanup, and its note for the log line. */
static void clean_conntrack(struct reconciler *rc, const struct masq_ruleset *rs, char *note,
			    size_t len)
{
	note[0] = '\0';
	if (rc->ct)
		(void)ctclean_after_commit(rc->ct, rs, note, len); /* logged there */
}

void reconciler_set_table_flags(struct reconciler *rc, uint32_t flags, bool proven)
{
	rc->table_flags = flags;
	rc->flags_unproven = flags && !proven;
	rc->st->table_flags = flags;
}

uint32_t reconciler_table_flags(const struct reconciler *rc)
{
	return rc->table_flags;
}

static bool snat_same(const struct masq_snat *a, const struct masq_snat *b)
{
	return a->on == b->on && (!a->on || memcmp(a->addr, b->addr, sizeof(a->addr)) == 0);
}

void reconciler_set_snat(struct reconciler *rc, const struct masq_snat snat[2])
{
	/* the replace that follows is a change of ours, not a drift repair */
	if (!snat_same(&rc->snat[0], &snat[0]) || !snat_same(&rc->snat[1], &snat[1]))
		rc->programmed = false;
	memcpy(rc->snat, snat, sizeof(rc->snat));
}

void reconciler_set_podsrc(struct reconciler *rc, const struct podsrc *p)
{
	/* the replace that follows is a change of ours, not a drift repair */
	if (!podsrc_equal(&rc->pods, p))
		rc->programmed = false;
	rc->pods = *p;
}

int reconciler_connections(struct reconciler *rc, struct nft_counters *ret)
{
	struct nft_counters now;
	int r = nft_rule_counters(rc->nft, &now);

	if (r < 0)
		return r;
	for (int f = 0; f < 2; f++) {
		ret->kept[f] = rc->counted.kept[f] + now.kept[f];
		ret->masqueraded[f] = rc->counted.masqueraded[f] + now.masqueraded[f];
	}
	return 0;
}

void reconcile_log_error(const struct nft_error *e)
{
	if (e->err == -EBUSY) {
		log_error("%s is %s: stop masqd first", e->what, e->msg);
		return;
	}
	if (!e->count) { /* no reply named a message: the socket failed, or a read */
		log_error("programming nftables failed at %s: %s", e->what, strerror(-e->err));
		return;
	}
	log_error("programming nftables failed at %s: %s%s%s (%u error%s)", e->what,
		  strerror(-e->err), e->msg[0] ? ": " : "", e->msg, e->count,
		  e->count == 1 ? "" : "s");
}

/* Non-masquerade CIDRs by family: the config's, plus the link-local range
 * unless it is masqueraded (IPv6 only with --enable-ipv6). */
static void count_cidrs(struct reconciler *rc, const struct masq_config *c)
{
	if (rc->incr) { /* counted as it changes */
		rc->st->cidrs[0] = masq_incr_cidrs(rc->incr, AF_INET);
		rc->st->cidrs[1] = masq_incr_cidrs(rc->incr, AF_INET6);
		return;
	}
	rc->st->cidrs[0] = !c->masq_link_local;
	rc->st->cidrs[1] = rc->opts->enable_ipv6 && !c->masq_link_local6;
	for (size_t i = 0; i < c->ncidrs; i++)
		rc->st->cidrs[c->cidrs[i].family == AF_INET6]++;
}

static char *render(const struct masq_ruleset *rs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (masq_ruleset_render(rs, f) < 0) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	return buf;
}

static void log_ruleset(const struct masq_ruleset *rs)
{
	char *text;

	if (!log_debug_enabled() || !(text = render(rs)))
		return;
	log_debug("ruleset:\n%s", text);
	free(text);
}

static void mark_programmed(struct reconciler *rc)
{
	rc->programmed = true;
	rc->programmed_gen = rc->gen;
}

/* Log what a sync did. Replacing the table while the config is the one
 * programmed before means someone else changed it: a drift repair. */
static void log_outcome(struct reconciler *rc, const struct masq_ruleset *rs, enum nft_outcome out,
			const char *reason, const char *diff, int64_t took, const char *ct)
{
	bool drift = rc->programmed && rc->programmed_gen == rc->gen;

	if (out == NFT_UNCHANGED && ct[0]) { /* a cleanup that failed before, done now */
		log_info("sync (%s): the kernel already holds these rules%s", reason, ct);
	} else if (out == NFT_UNCHANGED) {
		log_debug("sync (%s): the kernel already holds these rules", reason);
	} else if (out == NFT_ADOPTED) {
		rc->st->adoptions++;
		log_info("adopted the table a previous masqd left, rules unchanged");
	} else if (drift) {
		rc->st->drift_repairs++;
		log_warnx("table inet %s drifted (%s): restored%s", MASQ_TABLE, diff, ct);
	} else {
		log_info("rules programmed (%s): %zu IPv4 and %zu IPv6 non-masquerade intervals in "
			 "%.3f ms (kernel %.3f ms)%s",
			 reason, rs->n4, rs->n6, (double)took / 1e6,
			 (double)nft_sock_last_commit_ns(rc->nft) / 1e6, ct);
		log_ruleset(rs);
	}
	if (out != NFT_UNCHANGED)
		log_debug("sync (%s) done: %s", reason, outcome_names[out]);
	mark_programmed(rc);
}

static void sync_done(struct reconciler *rc, const struct masq_config *good,
		      const struct masq_ruleset *rs, int64_t t0)
{
	rc->st->last_sync_error[0] = '\0';
	rc->st->sync_failing = 0;
	rc->st->last_sync_unix = stats_wall_now();
	rc->st->last_sync_seconds = (double)(loop_now_ns() - t0) / 1e9;
	count_cidrs(rc, good);
	for (int f = 0; f < 2; f++) {
		int family = f ? AF_INET6 : AF_INET;
		bool all = rs ? masq_ruleset_keeps_all(rs, family)
			      : masq_incr_keeps_all(rc->incr, family);
		if (all && !rc->st->keeps_all[f])
			log_warnx(
				"the non-masquerade set covers every %s address (%s): nothing of "
				"that family is masqueraded on this node; check nonMasqueradeCIDRs "
				"and EgressNATPolicy destinations",
				f ? "IPv6" : "IPv4", f ? "::/0" : "0.0.0.0/0");
		rc->st->keeps_all[f] = all;
	}
}

static void sync_failed(struct reconciler *rc, const struct nft_error *e)
{
	rc->st->sync_failures++;
	rc->st->sync_failing++;
	snprintf(rc->st->last_sync_error, sizeof(rc->st->last_sync_error), "%s: %s%s%s", e->what,
		 strerror(-e->err), e->msg[0] ? ": " : "", e->msg);
	reconcile_log_error(e);
}

/* A config change on a table masqd owns: the kernel holds rc->applied
 * (nobody else can change an owned table), so send only the set elements
 * that differ. Returns 0 when done, <0 when the full path must run. */
static int update_sets(struct reconciler *rc, const struct masq_ruleset *rs, const char *reason,
		       int64_t t0)
{
	struct nft_error e;
	char ct[CTCLEAN_NOTE_LEN];
	size_t changed;
	int r;

	if ((rc->table_flags & NFT_TABLE_OWNED_PERSISTENT) != NFT_TABLE_OWNED_PERSISTENT ||
	    !rc->applied || !masq_ruleset_same_shape(rc->applied, rs))
		return -EAGAIN;
	r = nft_sets_update(rc->nft, rc->applied, rs, &changed, &e);
	if (r < 0) {
		log_warnx("incremental update failed at %s: %s; replacing the table", e.what,
			  strerror(-e.err));
		return r;
	}
	clean_conntrack(rc, rs, ct, sizeof(ct));
	if (changed) {
		log_info("rules updated (%s): %zu set elements changed, %zu IPv4 and %zu IPv6 "
			 "intervals in %.3f ms (kernel %.3f ms)%s",
			 reason, changed, rs->n4, rs->n6, (double)(loop_now_ns() - t0) / 1e6,
			 (double)nft_sock_last_commit_ns(rc->nft) / 1e6, ct);
		log_ruleset(rs);
	} else if (ct[0]) {
		log_info("sync (%s): the kernel already holds these rules%s", reason, ct);
	} else {
		log_debug("sync (%s): the kernel already holds these rules", reason);
	}
	mark_programmed(rc);
	return 0;
}

/* The SNAT addresses and the pod-source scope in force, on rs. */
static int set_in_force(const struct reconciler *rc, struct masq_ruleset *rs)
{
	masq_ruleset_set_snat(rs, AF_INET, &rc->snat[0]);
	if (rs->ipv6)
		masq_ruleset_set_snat(rs, AF_INET6, &rc->snat[1]);
	return masq_ruleset_set_podsrc(rs, &rc->pods);
}

/* The rules (the SNAT address, the pod sets) would stay as they are. */
static bool same_rules(const struct reconciler *rc)
{
	struct masq_ruleset *rules;
	bool same;

	if (masq_ruleset_build_rules(rc->opts, &rules) < 0)
		return false;
	same = set_in_force(rc, rules) == 0 && masq_ruleset_same_shape(rc->applied, rules);
	masq_ruleset_free(rules);
	return same;
}

/* Forget the kept index, and what the kernel holds when the index was
 * ahead of it: the full path reads the table back. */
static void drop_index(struct reconciler *rc)
{
	masq_incr_free(rc->incr);
	rc->incr = NULL;
	if (rc->applied_behind) {
		masq_ruleset_free(rc->applied);
		rc->applied = NULL;
		rc->applied_behind = false;
	}
}

/* A config change from the kept index: the intervals it changed, found in
 * O(k log n), go to the kernel as they are, with no ruleset built and no
 * whole arrays compared (update_sets' conditions hold). Returns 0 when
 * done, <0 when the other paths must run. */
static int update_from_index(struct reconciler *rc, const struct masq_config *good,
			     const char *reason, int64_t t0)
{
	struct nft_error e;
	size_t changed;
	int r;

	if (!rc->incr || !rc->applied || !same_rules(rc) ||
	    (rc->table_flags & NFT_TABLE_OWNED_PERSISTENT) != NFT_TABLE_OWNED_PERSISTENT)
		return -EAGAIN;
	masq_delta_clear(&rc->delta);
	r = masq_incr_update(rc->incr, good, &rc->delta);
	if (r < 0) {
		drop_index(rc);
		return r;
	}
	r = nft_sets_apply(rc->nft, &rc->delta, rc->applied->ipv6, &changed, &e);
	if (r < 0) {
		log_warnx("incremental update failed at %s: %s; replacing the table", e.what,
			  strerror(-e.err));
		masq_ruleset_free(rc->applied); /* the index is ahead of the kernel now */
		rc->applied = NULL;
		rc->applied_behind = false;
		return r;
	}
	rc->applied_behind = true;
	if (changed)
		log_info("rules updated (%s): %zu set elements changed, %zu IPv4 and %zu IPv6 "
			 "intervals in %.3f ms (kernel %.3f ms)",
			 reason, changed, masq_incr_count(rc->incr, AF_INET),
			 masq_incr_count(rc->incr, AF_INET6), (double)(loop_now_ns() - t0) / 1e6,
			 (double)nft_sock_last_commit_ns(rc->nft) / 1e6);
	else
		log_debug("sync (%s): the kernel already holds these rules", reason);
	mark_programmed(rc);
	return 0;
}

/* rc->applied's intervals brought up to the index's after updates from it
 * (O(n), for the paths that compare whole arrays). */
static void applied_catch_up(struct reconciler *rc)
{
	struct addr_range *v[2] = { NULL, NULL };
	int n[2] = { 0, 0 };

	if (!rc->applied_behind)
		return;
	rc->applied_behind = false;
	for (int f = 0; f < 2 && n[0] >= 0; f++)
		n[f] = masq_incr_ranges(rc->incr, f ? AF_INET6 : AF_INET, &v[f]);
	if (n[0] < 0 || n[1] < 0) {
		free(v[0]);
		free(v[1]);
		masq_ruleset_free(rc->applied); /* unknown now: read back */
		rc->applied = NULL;
		return;
	}
	free(rc->applied->v4);
	free(rc->applied->v6);
	rc->applied->v4 = v[0];
	rc->applied->n4 = (size_t)n[0];
	rc->applied->v6 = v[1];
	rc->applied->n6 = (size_t)n[1];
}

/* After the other paths, the index follows the config the kernel now
 * holds. The conntrack cleanup compares whole rulesets: no index then. */
static void index_follow(struct reconciler *rc, const struct masq_config *good)
{
	struct masq_delta d;

	if (!rc->keep_index || rc->ct)
		return;
	if (!rc->incr) {
		if (masq_incr_new(good, rc->opts, &rc->incr) < 0)
			log_warnx("no memory to keep the resolved intervals: a change will rebuild "
				  "them");
		return;
	}
	if (masq_incr_update(rc->incr, good, &d) < 0)
		drop_index(rc);
	masq_delta_clear(&d);
}

/* The read-back, compare and replace. Unproven table flags go with the real
 * batch, not a probe first (a probe is a batch the kernel aborts: 8-15 ms of
 * every start). When the kernel refuses the table message with EOPNOTSUPP,
 * the probe tells a kernel without the flags (before 6.9: a plain table from
 * then on, and this sync again) from any other refusal (the error stands). */
static int full_sync(struct reconciler *rc, const struct masq_ruleset *rs, enum nft_outcome *out,
		     char *diff, size_t difflen, struct nft_counters *lost, struct nft_error *e)
{
	int r = nft_reconcile(rc->nft, rs, rc->table_flags, out, diff, difflen, lost, e);

	if (r == 0 || !rc->flags_unproven || r != -EOPNOTSUPP || e->msg_type != NFT_MSG_NEWTABLE)
		return r;
	if (nft_sock_probe_table_flags(rc->nft, rc->table_flags) != 0)
		return r;
	log_info("kernel has no persistent owned tables (needs 6.9): using a plain table");
	reconciler_set_table_flags(rc, 0, true);
	return nft_reconcile(rc->nft, rs, 0, out, diff, difflen, lost, e);
}

/* The counters of a replaced table go on in the totals. */
static void carry_counters(struct reconciler *rc, const struct nft_counters *lost)
{
	for (int f = 0; f < 2; f++) {
		rc->counted.kept[f] += lost->kept[f];
		rc->counted.masqueraded[f] += lost->masqueraded[f];
	}
}

int reconciler_sync(struct reconciler *rc, const struct masq_config *good, uint64_t gen,
		    const char *reason, bool incremental)
{
	struct masq_ruleset *rs;
	enum nft_outcome out = NFT_UNCHANGED;
	struct nft_counters lost = { 0 };
	struct nft_error e;
	char diff[160], ct[CTCLEAN_NOTE_LEN];
	int64_t t0 = loop_now_ns();
	int r;

	if (!good)
		return 0; /* nothing valid yet: leave the kernel as it is */
	rc->gen = gen;
	if (rc->st->sync_failing)
		rc->st->sync_retries++;
	if (incremental && update_from_index(rc, good, reason, t0) == 0) {
		rc->st->syncs++;
		rc->st->last_sync_ok = true;
		stats_observe_sync(rc->st, (double)(loop_now_ns() - t0) / 1e9);
		sync_done(rc, good, NULL, t0);
		return 0;
	}
	applied_catch_up(rc);
	r = masq_ruleset_build(good, rc->opts, &rs);
	if (r < 0)
		return r;
	r = set_in_force(rc, rs);
	if (r < 0) {
		masq_ruleset_free(rs);
		return r;
	}
	r = incremental ? update_sets(rc, rs, reason, t0) : -EAGAIN;
	ct[0] = '\0';
	if (r < 0) {
		r = full_sync(rc, rs, &out, diff, sizeof(diff), &lost, &e);
		if (r == 0)
			clean_conntrack(rc, rs, ct, sizeof(ct));
	}
	rc->st->syncs++;
	rc->st->last_sync_ok = r == 0;
	stats_observe_sync(rc->st, (double)(loop_now_ns() - t0) / 1e9);
	if (r < 0) {
		sync_failed(rc, &e);
		masq_ruleset_free(rc->applied); /* unknown now: read back next time */
		rc->applied = NULL;
		masq_ruleset_free(rs);
		return r;
	}
	rc->flags_unproven = false; /* the kernel took them */
	carry_counters(rc, &lost);
	index_follow(rc, good);
	sync_done(rc, good, rs, t0);
	/* a full read-back of a large table leaves megabytes of freed heap:
	 * give it back, so an idle masqd's memory is what it keeps */
	if (!incremental)
		malloc_trim(0);
	if (!incremental || out != NFT_UNCHANGED || !rc->programmed || ct[0])
		log_outcome(rc, rs, out, reason, diff, loop_now_ns() - t0, ct);
	masq_ruleset_free(rc->applied);
	rc->applied = rs;
	return 0;
}
