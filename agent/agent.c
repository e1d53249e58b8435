#include "agent/agent.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/caps.h"
#include "agent/log.h"
#include "agent/http.h"
#include "agent/kube.h"
#include "agent/loop.h"
#include "agent/metrics.h"
#include "agent/status.h"
#include "agent/watch.h"
#include "config/ruleset.h"
#include "netlink/nft.h"

struct agent {
	struct agent_settings set;
	struct nft_sock *nft;
	uint32_t table_flags;
	struct masq_config *good; /* last good config; NULL until one loaded */
	uint64_t config_gen; /* moves when a loaded config differs from the last good one */
	uint64_t programmed_gen; /* config_gen the kernel was last made to hold */
	bool programmed;
	char last_err[DIAG_FILE_LEN + DIAG_MSG_LEN + 32]; /* logged once until it changes */
	int64_t resync_ns;

	struct loop *loop;
	struct loop_timer *resync, *debounce, *genpoll;
	struct cfg_watch *watch, *dirwatch, *polwatch;
	struct masq_sources *src;
	struct sources_settings srcset;
	struct http_server *metrics, *health;
	struct status_server *status;
	int sigfd;
	bool reload_pending;
	int64_t event_ns; /* first event of the pending reload */
	uint32_t last_gen;
	bool gen_known;
	struct agent_stats st;
	struct nft_counters counted; /* counters of tables replaced before */
	struct masq_ruleset *applied; /* what the kernel holds, after the last good sync */
	struct kube_client *kube; /* the API watch; NULL when off */
	char cm_label[300]; /* "configmap NS/NAME" */
	bool cm_outage; /* the ConfigMap watch is failing */
	bool cm_file_wins; /* ... and the mounted file changed since it began */
	uint64_t cm_outage_digest; /* the mounted config when the outage began */
	bool awaiting_api; /* the first sync waits for the API's first lists */
	bool stopping; /* SIGTERM came; the uninstall check runs */
	struct loop_timer *stop_timer;
	struct loop_timer *apiwait;
};

static void watch_config_dir(struct agent *a, bool on);

static const char *const outcome_names[] = { "unchanged", "adopted", "replaced" };

const double agent_sync_bounds[AGENT_SYNC_BUCKETS] = {
	0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,  0.128,
	0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384,
};

static double wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct agent *agent_new(const struct agent_settings *s)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->set = *s;
	a->sigfd = -1;
	a->resync_ns = MASQ_DEFAULT_RESYNC_NS;
	a->st.start_unix = wall_now();
	a->srcset = (struct sources_settings){ .config = s->config,
					       .policy_dir = s->policy_dir,
					       .max_cidrs_per_file = s->max_cidrs_per_file,
					       .dir_resync_ns = s->dir_resync_ns,
					       .opts = s->opts };
	a->st.src[SOURCE_FILE].path = s->config;
	a->st.src[SOURCE_POLICY].path = s->policy_dir;
	a->src = sources_new();
	a->nft = a->src ? nft_sock_new() : NULL;
	if (!a->nft) {
		int e = errno ? errno : ENOMEM;
		sources_free(a->src);
		free(a);
		errno = e;
		return NULL;
	}
	return a;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	cfg_watch_free(a->watch);
	cfg_watch_free(a->dirwatch);
	cfg_watch_free(a->polwatch);
	kube_client_free(a->kube);
	sources_free(a->src);
	http_server_free(a->metrics);
	http_server_free(a->health);
	status_server_free(a->status);
	if (a->sigfd >= 0)
		close(a->sigfd);
	loop_free(a->loop);
	nft_sock_free(a->nft);
	cfg_free(a->good);
	masq_ruleset_free(a->applied);
	free(a);
}

const struct agent_stats *agent_stats(const struct agent *a)
{
	return &a->st;
}

int agent_connections(struct agent *a, struct nft_counters *ret)
{
	struct nft_counters now;
	int r = nft_rule_counters(a->nft, &now);

	if (r < 0)
		return r;
	for (int f = 0; f < 2; f++) {
		ret->kept[f] = a->counted.kept[f] + now.kept[f];
		ret->masqueraded[f] = a->counted.masqueraded[f] + now.masqueraded[f];
	}
	return 0;
}

bool agent_ready(const struct agent *a, const char **ret_reason)
{
	static char why[256];

	if (a->st.syncs == 0) {
		*ret_reason = "the first sync has not run yet";
		return false;
	}
	if (!a->st.last_sync_ok) {
		snprintf(why, sizeof(why), "the last sync failed: %s", a->st.last_sync_error);
		*ret_reason = why;
		return false;
	}
	*ret_reason = "ok";
	return true;
}

/* Non-masquerade CIDRs by family: the config's, plus the link-local range
 * unless it is masqueraded (IPv6 only with --enable-ipv6). */
static void count_cidrs(struct agent *a)
{
	const struct masq_config *c = a->good;

	a->st.cidrs[0] = !c->masq_link_local;
	a->st.cidrs[1] = a->set.opts.enable_ipv6 && !c->masq_link_local6;
	for (size_t i = 0; i < c->ncidrs; i++)
		a->st.cidrs[c->cidrs[i].family == AF_INET6]++;
}

static void observe_sync(struct agent_stats *st, double seconds)
{
	size_t b = 0;

	while (b < AGENT_SYNC_BUCKETS && seconds > agent_sync_bounds[b])
		b++;
	st->sync_hist[b]++;
	st->sync_seconds_sum += seconds;
}

int agent_prepare(struct agent *a)
{
	uint32_t want = NFT_TABLE_OWNED_PERSISTENT;
	int r = caps_keep_net_admin();

	if (r < 0) {
		log_error("cannot keep CAP_NET_ADMIN: %s", strerror(-r));
		return r;
	}
	if (strcmp(a->set.table_flags_mode, "plain") == 0)
		return 0;
	r = nft_sock_probe_table_flags(a->nft, want);
	if (r < 0) {
		log_error("probing the kernel's nftables features failed: %s", strerror(-r));
		return r;
	}
	a->table_flags = r ? want : 0;
	a->st.table_flags = a->table_flags;
	if (!r)
		log_info("kernel has no persistent owned tables (needs 6.9): using a plain table");
	log_debug("table flags: 0x%x", a->table_flags);
	return 0;
}

/* Log a load's problems; errors only once until they change. */
static void report_diags(struct agent *a, const struct diags *d, bool failed)
{
	char line[sizeof(a->last_err)], key[sizeof(a->last_err)] = "";

	diag_for_each(g, d) {
		diag_format(g, line, sizeof(line));
		if (g->level == DIAG_ERROR && !key[0])
			snprintf(key, sizeof(key), "%s", line);
	}
	if (failed && strcmp(key, a->last_err) == 0)
		return; /* the same bad file again: already said */
	if (!failed && a->last_err[0] && strcmp(a->last_err, "warned") != 0)
		log_info("config: every source is valid again");
	if (!failed && strcmp(a->last_err, "warned") == 0)
		return;
	diag_for_each(g, d) {
		diag_format(g, line, sizeof(line));
		if (g->level == DIAG_ERROR)
			log_error("config: %s", line);
		else
			log_warnx("config: %s", line);
	}
	if (d->dropped)
		log_warnx("config: %zu more problems not shown", d->dropped);
	snprintf(a->last_err, sizeof(a->last_err), "%s", failed ? key : d->n ? "warned" : "");
}

const struct kube_stats *agent_kube_stats(const struct agent *a)
{
	return a->kube ? kube_client_stats(a->kube) : NULL;
}

/* The API sources' part of the stats: the watch's own health, and for the
 * policies, what its events loaded (each is validated as it arrives). */
static void count_api(struct agent *a, struct source_state *st)
{
	const struct kube_stats *ks = agent_kube_stats(a);
	struct agent_source_stats *p = &a->st.src[SOURCE_API_POLICY];

	if (!ks)
		return;
	if (a->set.watch_policies) {
		p->used = true;
		p->ok = ks->ok[KUBE_POLICIES];
		p->reloads_ok = ks->loads_ok[KUBE_POLICIES];
		p->reloads_failed = ks->loads_failed[KUBE_POLICIES];
		snprintf(p->error, sizeof(p->error), "%s", p->ok ? "" : ks->error[KUBE_POLICIES]);
	}
	if (st[SOURCE_API_CONFIG].used && st[SOURCE_API_CONFIG].ok && !ks->ok[KUBE_CONFIGMAP]) {
		st[SOURCE_API_CONFIG].ok = false; /* valid, but the API stopped answering */
		snprintf(st[SOURCE_API_CONFIG].error, sizeof(st[SOURCE_API_CONFIG].error), "%s",
			 ks->error[KUBE_CONFIGMAP]);
	}
}

static void count_loads(struct agent *a, const struct source_state *st)
{
	for (int k = 0; k < SOURCE_COUNT; k++) {
		if (k == SOURCE_API_POLICY)
			continue; /* count_api's */
		struct agent_source_stats *s = &a->st.src[k];

		s->used = st[k].used;
		s->ok = st[k].ok;
		if (!s->used)
			continue;
		snprintf(s->error, sizeof(s->error), "%s", st[k].ok ? "" : st[k].error);
		if (st[k].ok)
			s->reloads_ok++;
		else
			s->reloads_failed++;
	}
}

/* What the API gives, for sources_load. The ConfigMap read through the API
 * stands in for the mounted file while the API answers; during an outage
 * it stays until the mounted file's content actually changes (kubelet may
 * still be behind the API, or the admin fixed the file by hand). */
static void api_inputs(struct agent *a)
{
	const char *text;
	size_t len;

	a->srcset.api_policies = a->kube ? kube_client_policies(a->kube) : NULL;
	a->srcset.api_config_name = NULL;
	a->srcset.api_config = NULL;
	if (!a->kube || !kube_client_configmap(a->kube, &text, &len))
		return;
	if (a->cm_outage && !a->cm_file_wins &&
	    sources_config_digest(&a->srcset) != a->cm_outage_digest) {
		log_warnx("%s: the API is not answering and %s changed: using the file",
			  a->cm_label, a->set.config);
		a->cm_file_wins = true;
	}
	if (a->cm_file_wins)
		return;
	a->srcset.api_config_name = a->cm_label;
	a->srcset.api_config = text;
	a->srcset.api_config_len = len;
}

/* Load every source. A bad one keeps its last good version (see sources.h).
 * Returns 0 when all were good, 1 when some were not, -EAGAIN when a failed
 * source had nothing to stand in for it on the very first load (*ret_partial
 * then holds the merge without it), or -errno. */
static int load_config(struct agent *a, struct masq_config **ret_partial)
{
	struct source_state st[SOURCE_COUNT];
	struct masq_merged m;
	struct diags d;
	int r;

	diags_init(&d);
	api_inputs(a);
	r = sources_load(a->src, &a->srcset, &m, st, &d);
	report_diags(a, &d, r != 0);
	count_api(a, st);
	count_loads(a, st);
	a->st.config_ok = r == 0;
	if (r < 0)
		return r;
	if (!m.cfg->file_present && r == 0)
		log_debug("%s does not exist: the built-in defaults apply unless a policy exists",
			  a->set.config);
	if (m.is_dir != (a->dirwatch != NULL))
		watch_config_dir(a, m.is_dir);
	if (m.incomplete && !a->good && ret_partial) {
		*ret_partial = m.cfg; /* the caller decides whether to program it */
		m.cfg = NULL;
		merged_clear(&m);
		return -EAGAIN;
	}
	if (!a->good || !cfg_equal(m.cfg, a->good))
		a->config_gen++;
	cfg_free(a->good);
	a->good = m.cfg;
	a->resync_ns = m.cfg->resync_ns;
	m.cfg = NULL;
	merged_clear(&m);
	return r;
}

static void log_nft_error(const struct nft_error *e)
{
	if (e->err == -EBUSY) {
		log_error("%s is %s: stop masqd first", e->what, e->msg);
		return;
	}
	log_error("programming nftables failed at %s: %s%s%s (%u error%s)", e->what,
		  strerror(-e->err), e->msg[0] ? ": " : "", e->msg, e->count,
		  e->count == 1 ? "" : "s");
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

/* Log what a sync did. Replacing the table while the config is the one
 * programmed before means someone else changed it: a drift repair. */
static void log_outcome(struct agent *a, const struct masq_ruleset *rs, enum nft_outcome out,
			const char *reason, const char *diff, int64_t took)
{
	bool drift = a->programmed && a->programmed_gen == a->config_gen;

	if (out == NFT_UNCHANGED) {
		log_debug("sync (%s): the kernel already holds these rules", reason);
	} else if (out == NFT_ADOPTED) {
		a->st.adoptions++;
		log_info("adopted the table a previous masqd left, rules unchanged");
	} else if (drift) {
		a->st.drift_repairs++;
		log_warnx("table inet %s drifted (%s): restored", MASQ_TABLE, diff);
	} else {
		log_info("rules programmed (%s): %zu IPv4 and %zu IPv6 non-masquerade intervals in "
			 "%.3f ms (kernel %.3f ms)",
			 reason, rs->n4, rs->n6, (double)took / 1e6,
			 (double)nft_sock_last_commit_ns(a->nft) / 1e6);
		log_ruleset(rs);
	}
	if (out != NFT_UNCHANGED)
		log_debug("sync (%s) done: %s", reason, outcome_names[out]);
	a->programmed = true;
	a->programmed_gen = a->config_gen;
}

static void sync_done(struct agent *a, int64_t t0)
{
	a->st.last_sync_error[0] = '\0';
	a->st.last_sync_unix = wall_now();
	a->st.last_sync_seconds = (double)(loop_now_ns() - t0) / 1e9;
	count_cidrs(a);
}

static void sync_failed(struct agent *a, const struct nft_error *e)
{
	a->st.sync_failures++;
	snprintf(a->st.last_sync_error, sizeof(a->st.last_sync_error), "%s: %s%s%s", e->what,
		 strerror(-e->err), e->msg[0] ? ": " : "", e->msg);
	log_nft_error(e);
}

/* A config change on a table masqd owns: the kernel holds a->applied (nobody
 * else can change an owned table), so send only the set elements that
 * differ. Returns 0 when done, <0 when the full path must run. */
static int update_sets(struct agent *a, const struct masq_ruleset *rs, const char *reason,
		       int64_t t0)
{
	struct nft_error e;
	size_t changed;
	int r;

	if ((a->table_flags & NFT_TABLE_OWNED_PERSISTENT) != NFT_TABLE_OWNED_PERSISTENT ||
	    !a->applied || !masq_ruleset_same_shape(a->applied, rs))
		return -EAGAIN;
	r = nft_sets_update(a->nft, a->applied, rs, &changed, &e);
	if (r < 0) {
		log_warnx("incremental update failed at %s: %s; replacing the table", e.what,
			  strerror(-e.err));
		return r;
	}
	if (changed) {
		log_info("rules updated (%s): %zu set elements changed, %zu IPv4 and %zu IPv6 "
			 "intervals in %.3f ms (kernel %.3f ms)",
			 reason, changed, rs->n4, rs->n6, (double)(loop_now_ns() - t0) / 1e6,
			 (double)nft_sock_last_commit_ns(a->nft) / 1e6);
		log_ruleset(rs);
	} else {
		log_debug("sync (%s): the kernel already holds these rules", reason);
	}
	a->programmed = true;
	a->programmed_gen = a->config_gen;
	return 0;
}

/* Make the kernel hold the last good config. With incremental, a config
 * change may send only the set elements that changed; otherwise (start,
 * resync, drift checks) the table is read back and compared. */
static int reconcile(struct agent *a, const char *reason, bool incremental)
{
	struct masq_ruleset *rs;
	enum nft_outcome out;
	struct nft_counters lost;
	struct nft_error e;
	char diff[160];
	int64_t t0 = loop_now_ns();
	int r;

	if (!a->good)
		return 0; /* nothing valid yet: leave the kernel as it is */
	r = masq_ruleset_build(a->good, &a->set.opts, &rs);
	if (r < 0)
		return r;
	r = incremental ? update_sets(a, rs, reason, t0) : -EAGAIN;
	if (r < 0)
		r = nft_reconcile(a->nft, rs, a->table_flags, &out, diff, sizeof(diff), &lost, &e);
	else
		out = NFT_UNCHANGED, memset(&lost, 0, sizeof(lost));
	a->st.syncs++;
	a->st.last_sync_ok = r == 0;
	observe_sync(&a->st, (double)(loop_now_ns() - t0) / 1e9);
	if (r < 0) {
		sync_failed(a, &e);
		masq_ruleset_free(a->applied); /* unknown now: read back next time */
		a->applied = NULL;
		masq_ruleset_free(rs);
		return r;
	}
	for (int f = 0; f < 2; f++) {
		a->counted.kept[f] += lost.kept[f];
		a->counted.masqueraded[f] += lost.masqueraded[f];
	}
	sync_done(a, t0);
	/* a full read-back of a large table leaves megabytes of freed heap:
	 * give it back, so an idle masqd's memory is what it keeps */
	if (!incremental)
		malloc_trim(0);
	if (!incremental || out != NFT_UNCHANGED || !a->programmed)
		log_outcome(a, rs, out, reason, diff, loop_now_ns() - t0);
	masq_ruleset_free(a->applied);
	a->applied = rs;
	return 0;
}

/* Upstream's chain left behind after a switch still masquerades, before
 * masqd's decision counts: say so (once per change), or remove it. */
static void check_legacy(struct agent *a)
{
	static const char *const fam[2] = { "ip", "ip6" };
	struct nft_legacy found;
	struct nft_error e;
	bool was[2] = { a->st.legacy[0], a->st.legacy[1] };

	if (!a->set.masq_chain || !a->set.masq_chain[0] ||
	    nft_legacy_find(a->nft, a->set.masq_chain, &found) < 0)
		return;
	if ((found.f[0].present || found.f[1].present) && a->set.remove_legacy) {
		if (nft_legacy_remove(a->nft, a->set.masq_chain, &found, &e) < 0) {
			log_error("cannot remove upstream's chain %s: %s: %s", a->set.masq_chain,
				  e.what, e.msg[0] ? e.msg : strerror(-e.err));
		} else {
			for (int f = 0; f < 2; f++) {
				if (found.f[f].present)
					log_info(
						"removed upstream ip-masq-agent's chain %s from table "
						"%s nat (%u rules) and %zu POSTROUTING jumps to it",
						a->set.masq_chain, fam[f], found.f[f].rules,
						found.f[f].njumps);
				found.f[f].present = false;
			}
			a->st.legacy_removed++;
		}
	}
	for (int f = 0; f < 2; f++) {
		a->st.legacy[f] = found.f[f].present;
		if (found.f[f].present && !was[f])
			log_warnx(
				"upstream ip-masq-agent's chain %s is still in table %s nat (%u "
				"rules, %zu jumps from POSTROUTING): it masquerades traffic masqd "
				"leaves alone; run masqd with --remove-legacy-chain, or see "
				"deploy/MIGRATING.md",
				a->set.masq_chain, fam[f], found.f[f].rules, found.f[f].njumps);
	}
}

int agent_once(struct agent *a)
{
	int r;

	if (load_config(a, NULL) != 0)
		return 1; /* a bad source: --once changes nothing */
	r = reconcile(a, "once", false);
	check_legacy(a);
	return r < 0 ? 1 : 0;
}

int agent_cleanup(struct agent *a)
{
	struct nft_error e;
	int r = nft_table_remove(a->nft, &e);

	if (r == -EBUSY) {
		log_nft_error(&e);
		return 1;
	}
	if (r < 0) {
		log_error("deleting table inet %s failed: %s", MASQ_TABLE, strerror(-r));
		return 1;
	}
	log_info(r ? "table inet %s deleted" : "table inet %s not present: nothing to clean up",
		 MASQ_TABLE);
	return 0;
}

/* Reload the config and reconcile; re-arm the resync timer if it changed. */
static void reload(struct agent *a, const char *why)
{
	int64_t before = a->resync_ns;

	a->reload_pending = false;
	(void)load_config(a, NULL);
	/* a resync reads the table back; a change of config sends its difference */
	(void)reconcile(a, why, strcmp(why, "resync") != 0);
	if (a->resync_ns != before)
		loop_timer_arm(a->resync, a->resync_ns, a->resync_ns);
}

static void on_config_event(void *data, const char *why);

/* In directory mode the directory's own entries matter too. */
static void watch_config_dir(struct agent *a, bool on)
{
	cfg_watch_free(a->dirwatch);
	a->dirwatch = NULL;
	if (!on || !a->loop)
		return;
	a->dirwatch = cfg_watch_new(a->loop, a->set.config, CFG_WATCH_PREFIX, "ip-masq",
				    on_config_event, a);
	if (!a->dirwatch)
		log_warn("cannot watch %s: changes are seen at the next resync", a->set.config);
}

static void on_config_event(void *data, const char *why)
{
	struct agent *a = data;

	log_debug("config event: %s", why);
	if (a->reload_pending || a->awaiting_api)
		return; /* coalesce a burst into one reload */
	a->reload_pending = true;
	a->event_ns = loop_now_ns();
	loop_timer_arm(a->debounce, AGENT_DEBOUNCE_NS, 0);
}

static void on_debounce(struct loop *l, struct loop_timer *t, void *data)
{
	reload(data, "config changed");
}

static void on_resync(struct loop *l, struct loop_timer *t, void *data)
{
	reload(data, "resync");
	check_legacy(data);
}

/* The plain fallback (or an orphan) can be changed by anyone: when the
 * host's nftables generation moves, read the table back and repair it. */
static void on_genpoll(struct loop *l, struct loop_timer *t, void *data)
{
	struct agent *a = data;
	uint32_t gen;

	if (nft_sock_genid(a->nft, &gen) < 0)
		return;
	if (a->gen_known && gen == a->last_gen)
		return;
	/* the generation read before the check: a change after it moves it again */
	(void)reconcile(a, "generation moved", false);
	a->last_gen = gen;
	a->gen_known = true;
}

static int uninstall_check(struct agent *a);

static void on_signal(struct loop *l, int fd, uint32_t events, void *data)
{
	struct signalfd_siginfo si;
	struct agent *a = data;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading");
			reload(a, "SIGHUP");
			continue;
		}
		if (si.ssi_signo == SIGTERM && a->set.uninstall_ds[0] && !a->stopping &&
		    uninstall_check(a) == 0)
			continue; /* it stops the loop */
		log_info("signal %u: exiting; the rules stay in place", si.ssi_signo);
		loop_stop(l, 0);
	}
}

static int setup_loop(struct agent *a)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	a->loop = loop_new();
	a->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (!a->loop || a->sigfd < 0 || loop_add_fd(a->loop, a->sigfd, EPOLLIN, on_signal, a) < 0)
		return -errno;
	a->resync = loop_timer_new(a->loop, on_resync, a);
	a->debounce = loop_timer_new(a->loop, on_debounce, a);
	a->genpoll = loop_timer_new(a->loop, on_genpoll, a);
	/* the file (or directory) itself, as kubelet swaps it; its contents
	 * when it is a directory (watch_config_dir); and the policies */
	a->watch = cfg_watch_file(a->loop, a->set.config, on_config_event, a);
	if (a->set.policy_dir[0])
		a->polwatch = cfg_watch_new(a->loop, a->set.policy_dir, CFG_WATCH_ANY, NULL,
					    on_config_event, a);
	if (!a->resync || !a->debounce || !a->genpoll || !a->watch ||
	    (a->set.policy_dir[0] && !a->polwatch))
		return -errno;
	return 0;
}

/* At start a bad config with no table in the kernel gets the defaults, as
 * upstream starts from them; with a table (ours, from before a restart) the
 * kernel keeps what it has until the config is fixed. */
static void first_sync(struct agent *a)
{
	struct masq_config *partial = NULL;
	struct nft_table_info info;
	int r = load_config(a, &partial);

	if (r == -EAGAIN || r < 0) {
		if (nft_table_query(a->nft, &info) == 0 && info.exists) {
			log_warnx("keeping the rules in the kernel until the config is fixed");
			cfg_free(partial);
			return;
		}
		log_warnx("no rules programmed yet: programming what is valid meanwhile%s",
			  partial ? "" : " (the built-in defaults)");
		if (!partial && cfg_new_defaults(&a->set.opts, &partial) < 0)
			return;
		a->good = partial;
	}
	(void)reconcile(a, "start", false);
}

static char *status_doc(void *data)
{
	return metrics_status_json(data);
}

/* The endpoints; a metrics or health address that cannot be served is
 * fatal (probes would fail anyway), a status socket that cannot is not. */
static int setup_endpoints(struct agent *a)
{
	char err[128];

	if (a->set.metrics_bind[0] &&
	    !(a->metrics = http_server_new(a->loop, a->set.metrics_bind, metrics_routes, a,
					   a->set.http_deadline_ns, err, sizeof(err)))) {
		log_error("--metrics-bind-address %s: %s", a->set.metrics_bind, err);
		return -EINVAL;
	}
	if (a->set.healthz_bind[0] &&
	    !(a->health = http_server_new(a->loop, a->set.healthz_bind, health_routes, a,
					  a->set.http_deadline_ns, err, sizeof(err)))) {
		log_error("--healthz-bind-address %s: %s", a->set.healthz_bind, err);
		return -EINVAL;
	}
	if (a->set.status_socket[0] &&
	    !(a->status = status_server_new(a->loop, a->set.status_socket, status_doc, a, err,
					    sizeof(err))))
		log_warnx("--status-socket %s: %s; masqctl status will not answer",
			  a->set.status_socket, err);
	return 0;
}

/* Sync, then keep syncing: the resync timer, and drift polling where
 * someone else could change the table. */
static void start_syncing(struct agent *a)
{
	first_sync(a);
	check_legacy(a);
	loop_timer_arm(a->resync, a->resync_ns, a->resync_ns);
	/* Nobody else can touch an owned table while we run: no polling then,
	 * so the only idle wakeup is the resync timer. */
	if (!(a->table_flags & NFT_TABLE_OWNED_PERSISTENT))
		loop_timer_arm(a->genpoll, AGENT_GENPOLL_NS, AGENT_GENPOLL_NS);
	log_info("running: watching %s, resync every %.3gs%s", cfg_watch_dir(a->watch),
		 (double)a->resync_ns / 1e9,
		 a->table_flags ? "" : ", drift check every 1s (plain table)");
}

static void on_apiwait(struct loop *l, struct loop_timer *t, void *data)
{
	struct agent *a = data;

	if (!a->awaiting_api)
		return;
	a->awaiting_api = false;
	log_warnx("kubernetes: no answer from the API in %.0fs: starting from the files; the "
		  "API's state follows when it answers",
		  (double)AGENT_API_WAIT_NS / 1e9);
	start_syncing(a);
}

static bool api_synced(const struct agent *a)
{
	const struct kube_stats *ks = kube_client_stats(a->kube);

	return (!a->set.watch_policies || ks->synced[KUBE_POLICIES]) &&
	       (!a->set.watch_configmap[0] || ks->synced[KUBE_CONFIGMAP]);
}

static void on_kube_changed(void *data, enum kube_res res)
{
	struct agent *a = data;
	const struct kube_stats *ks = kube_client_stats(a->kube);

	if (res == KUBE_CONFIGMAP && !ks->healthy[res] && !a->cm_outage) {
		a->cm_outage = true;
		a->cm_outage_digest = sources_config_digest(&a->srcset);
		log_warnx("%s: keeping the API's version until the API answers or %s changes",
			  a->cm_label, a->set.config);
	} else if (res == KUBE_CONFIGMAP && ks->healthy[res] && a->cm_outage) {
		a->cm_outage = a->cm_file_wins = false;
		log_info("%s: the API answers again", a->cm_label);
	}
	if (a->awaiting_api) {
		if (!api_synced(a))
			return;
		a->awaiting_api = false;
		loop_timer_arm(a->apiwait, 0, 0);
		start_syncing(a);
		return;
	}
	on_config_event(a, kube_res_names[res]);
}

/* --kubeconfig, else --apiserver-url (with the service account's token and
 * CA when there is one), else in-cluster. */
static int kube_access_build(const struct agent_settings *s, struct kube_access *acc)
{
	char path[PATH_MAX], *buf = NULL, line[DIAG_FILE_LEN + DIAG_MSG_LEN + 32];
	struct diags d;
	size_t len;
	int r = 0;

	diags_init(&d);
	memset(acc, 0, sizeof(*acc));
	if (s->kubeconfig[0]) {
		r = cfg_read_file(s->kubeconfig, &buf, &len, &d);
		if (r == 0)
			r = kube_access_parse(s->kubeconfig, buf, len, acc, &d);
		free(buf);
	} else if (!s->apiserver_url[0]) {
		r = kube_access_in_cluster(getenv("KUBERNETES_SERVICE_HOST"),
					   getenv("KUBERNETES_SERVICE_PORT"), s->sa_dir, acc, &d);
	} else {
		snprintf(path, sizeof(path), "%s/token", s->sa_dir);
		if (access(path, R_OK) == 0 && !(acc->token_file = strdup(path)))
			r = -ENOMEM;
		snprintf(path, sizeof(path), "%s/ca.crt", s->sa_dir);
		if (access(path, R_OK) == 0 && !(acc->ca.file = strdup(path)))
			r = -ENOMEM;
	}
	if (r == 0 && s->apiserver_url[0] && kube_access_set_server(acc, s->apiserver_url) < 0) {
		diag_add(&d, DIAG_ERROR, "--apiserver-url", 0, 0,
			 "\"%s\" is not an http:// or https:// URL", s->apiserver_url);
		r = -EINVAL;
	}
	diag_for_each(g, &d) {
		diag_format(g, line, sizeof(line));
		log_error("kubernetes: %s", line);
	}
	if (r < 0)
		kube_access_clear(acc);
	return r;
}

static int setup_kube(struct agent *a)
{
	const char *cm = a->set.watch_configmap, *slash = strchr(cm, '/');
	struct kube_settings ks = { .policies = a->set.watch_policies,
				    .stall_ns = a->set.api_stall_ns,
				    .watch_timeout_ns = a->set.api_watch_timeout_ns,
				    .not_found_ns = a->set.api_not_found_ns,
				    .opts = a->set.opts };
	char ns[256] = "", err[300];

	if (!a->set.watch_policies && !cm[0])
		return 0;
	if (kube_access_build(&a->set, &ks.acc) < 0)
		return -EINVAL;
	if (ks.acc.insecure)
		log_warnx("kubernetes: insecure-skip-tls-verify: the API server is not verified");
	if (slash) {
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - cm), cm);
		ks.cm_namespace = ns;
		ks.cm_name = slash + 1;
		snprintf(a->cm_label, sizeof(a->cm_label), "configmap %s", cm);
	}
	log_info("kubernetes: watching%s%s%s at %s",
		 a->set.watch_policies ? " egressnatpolicies" : "", cm[0] ? " configmap " : "", cm,
		 ks.acc.server);
	a->kube = kube_client_new(a->loop, &ks, on_kube_changed, a, err, sizeof(err));
	if (!a->kube) {
		log_error("kubernetes: %s", err);
		return -EINVAL;
	}
	a->st.src[SOURCE_API_CONFIG].path = a->cm_label;
	a->st.src[SOURCE_API_POLICY].path = "apiserver";
	a->apiwait = loop_timer_new(a->loop, on_apiwait, a);
	if (!a->apiwait)
		return -ENOMEM;
	a->awaiting_api = true;
	return loop_timer_arm(a->apiwait, AGENT_API_WAIT_NS, 0);
}

/* --cleanup-on-uninstall: at SIGTERM, is masqd's DaemonSet gone (helm
 * uninstall, kubectl delete) or still there (an update, a restart)? A
 * pre-delete hook could not do this: while masqd runs, the table is owned
 * by its socket and nobody else may delete it. */
static void uninstall_answer(void *data, long code, const char *body, size_t len, const char *err)
{
	struct agent *a = data;
	json_t *ds = code == 200 ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *gone = json_object_get(json_object_get(ds, "metadata"), "deletionTimestamp");
	struct nft_error e;
	int r;

	if (code == 404 || (gone && !json_is_null(gone))) {
		r = nft_table_remove(a->nft, &e);
		if (r < 0)
			log_error("DaemonSet %s is %s, but deleting table inet %s failed: %s",
				  a->set.uninstall_ds, code == 404 ? "gone" : "being deleted",
				  MASQ_TABLE, e.msg[0] ? e.msg : strerror(-r));
		else
			log_info("DaemonSet %s is %s: masqd is being uninstalled; table inet %s "
				 "removed",
				 a->set.uninstall_ds, code == 404 ? "gone" : "being deleted",
				 MASQ_TABLE);
	} else if (code == 200) {
		log_info("SIGTERM: DaemonSet %s is still there (an update or a restart): the "
			 "rules stay in place",
			 a->set.uninstall_ds);
	} else {
		log_warnx("SIGTERM: cannot tell whether DaemonSet %s is being deleted (%s%s%ld): "
			  "the rules stay in place; `masqd --cleanup` removes them",
			  a->set.uninstall_ds, err && err[0] ? err : "",
			  err && err[0] ? ", HTTP " : "HTTP ", code);
	}
	json_decref(ds);
	loop_stop(a->loop, 0);
}

static void on_stop_timer(struct loop *l, struct loop_timer *t, void *data)
{
	log_warnx("SIGTERM: no answer about the DaemonSet in time: the rules stay in place");
	loop_stop(l, 0);
}

static int uninstall_check(struct agent *a)
{
	const char *ds = a->set.uninstall_ds, *slash = strchr(ds, '/');
	char path[600], err[300];
	struct kube_settings ks = { .opts = a->set.opts };

	a->stopping = true;
	if (!a->kube) {
		if (kube_access_build(&a->set, &ks.acc) < 0)
			return -EINVAL;
		a->kube = kube_client_new(a->loop, &ks, on_kube_changed, a, err, sizeof(err));
		if (!a->kube) {
			log_error("kubernetes: %s", err);
			return -EINVAL;
		}
	}
	snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%.*s/daemonsets/%s",
		 (int)(slash - ds), ds, slash + 1);
	a->stop_timer = loop_timer_new(a->loop, on_stop_timer, a);
	if (!a->stop_timer ||
	    loop_timer_arm(a->stop_timer, (AGENT_UNINSTALL_CHECK_MS + 500) * 1000000LL, 0) < 0 ||
	    kube_client_get(a->kube, path, AGENT_UNINSTALL_CHECK_MS, uninstall_answer, a) < 0)
		return -EIO;
	log_info("SIGTERM: asking the API whether DaemonSet %s is being deleted", ds);
	return 0;
}

int agent_run(struct agent *a)
{
	int r = setup_loop(a);

	if (r < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r ? -r : EINVAL));
		return 1;
	}
	if (setup_endpoints(a) < 0 || setup_kube(a) < 0)
		return 1;
	if (!a->awaiting_api)
		start_syncing(a);
	r = loop_run(a->loop);
	return r < 0 ? 1 : r;
}
