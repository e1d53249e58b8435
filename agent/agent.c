/* The agent's lifecycle and wiring: start-up (waiting for the API's first
 * lists), the loop's handlers, the endpoints, --once and --cleanup. */
#include "agent/agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/caps.h"
#include "agent/explain_live.h"
#include "agent/http.h"
#include "agent/intake.h"
#include "agent/kube.h"
#include "agent/legacy.h"
#include "agent/natconflict.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "agent/metrics.h"
#include "agent/statusdoc.h"
#include "agent/podsrc.h"
#include "agent/reconcile.h"
#include "agent/snat.h"
#include "agent/stats.h"
#include "agent/status.h"
#include "agent/uninstall.h"
#include "agent/watch.h"
#include "config/ruleset.h"
#include "netlink/nft.h"

struct agent {
	struct agent_settings set;
	struct nft_sock *nft;
	uint32_t table_flags;
	struct masqd_stats st;
	struct stats_view view; /* what metrics and status read */
	struct intake *in;
	struct reconciler *rc;

	struct loop *loop;
	struct loop_timer *resync, *debounce, *genpoll, *apiwait, *retry;
	struct cfg_watch *watch, *dirwatch, *polwatch;
	struct http_server *metrics, *health;
	struct status_server *status;
	int sigfd;
	bool reload_pending;
	uint32_t last_gen;
	bool gen_known;
	struct kube_client *kube; /* the API watch; NULL when off */
	struct snat_follow *snat; /* the SNAT address followed; NULL when not asked for */
	struct podsrc_follow *pods; /* the pod-source scope in force */
	bool awaiting_api; /* the first sync waits for the API's first lists */
	bool stopping; /* SIGTERM came; the uninstall check runs */
};

static const struct kube_stats *view_kube(void *ctx)
{
	struct agent *a = ctx;

	return a->kube ? kube_client_stats(a->kube) : NULL;
}

static int view_connections(void *ctx, struct nft_counters *ret)
{
	struct agent *a = ctx;

	return reconciler_connections(a->rc, ret);
}

/* Ready: the first sync is done and the last one succeeded. A bad config
 * does not make masqd unready: the last good rules are in place. */
static bool view_ready(void *ctx, char *why, size_t why_len)
{
	struct agent *a = ctx;

	if (a->st.syncs == 0)
		snprintf(why, why_len, "the first sync has not run yet");
	else if (!a->st.last_sync_ok)
		snprintf(why, why_len, "the last sync failed: %s", a->st.last_sync_error);
	else
		snprintf(why, why_len, "ok");
	return a->st.syncs && a->st.last_sync_ok;
}

struct agent *agent_new(const struct agent_settings *s)
{
	struct agent *a = calloc(1, sizeof(*a));
	int e;

	if (!a)
		return NULL;
	a->set = *s;
	a->sigfd = -1;
	a->st.start_unix = stats_wall_now();
	snat_stats_plain(&a->st, s->opts.enable_ipv6);
	a->view = (struct stats_view){ .st = &a->st,
				       .ctx = a,
				       .kube = view_kube,
				       .connections = view_connections,
				       .ready = view_ready };
	a->in = intake_new(&a->set, &a->st);
	a->nft = a->in ? nft_sock_new() : NULL;
	a->rc = a->nft ? reconciler_new(a->nft, &a->set.opts, &a->st) : NULL;
	if (a->rc && strcmp(s->conntrack_cleanup, "udp") == 0 &&
	    (e = -reconciler_enable_ctclean(a->rc)) != 0) {
		agent_free(a);
		errno = e;
		return NULL;
	}
	if (!a->rc) {
		e = errno ? errno : ENOMEM;
		agent_free(a);
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
	intake_free(a->in);
	http_server_free(a->metrics);
	http_server_free(a->health);
	status_server_free(a->status);
	snat_follow_free(a->snat);
	podsrc_follow_free(a->pods);
	if (a->sigfd >= 0)
		close(a->sigfd);
	reconciler_free(a->rc); /* before the loop: the cleanup's rechecks hold a timer on it */
	loop_free(a->loop);
	nft_sock_free(a->nft);
	free(a);
}

int agent_prepare(struct agent *a)
{
	int r = caps_keep_net_admin();

	if (r < 0) {
		log_error("cannot keep CAP_NET_ADMIN: %s", strerror(-r));
		return r;
	}
	/* auto: owner|persist, tried by the first sync itself (see reconcile.c) */
	if (strcmp(a->set.table_flags_mode, "plain") != 0)
		a->table_flags = NFT_TABLE_OWNED_PERSISTENT;
	reconciler_set_table_flags(a->rc, a->table_flags, false);
	return 0;
}

static void watch_config_dir(struct agent *a, bool on);

/* Load every source (see intake.h); a directory's entries get watched. */
static int load_config(struct agent *a, struct masq_config **ret_partial)
{
	int r = intake_load(a->in, ret_partial);

	if (r >= 0 || r == -EAGAIN) {
		if (intake_is_dir(a->in) != (a->dirwatch != NULL))
			watch_config_dir(a, intake_is_dir(a->in));
	}
	return r;
}

/* A failed sync is tried again, a full one (what the kernel holds is unknown
 * after a failure), sooner than the next resync: exponential backoff with
 * jitter, as the API watch's. Nothing runs it in --once (no loop). */
static void retry_later(struct agent *a)
{
	unsigned n = a->st.sync_failing ? a->st.sync_failing - 1 : 0;
	int64_t d = AGENT_RETRY_BASE_NS << (n < 6 ? n : 6);

	if (!a->retry)
		return;
	if (d > AGENT_RETRY_MAX_NS)
		d = AGENT_RETRY_MAX_NS;
	d += (int64_t)((double)d * 0.5 * ((double)random() / RAND_MAX));
	a->st.retry_unix = stats_wall_now() + (double)d / 1e9;
	log_info("sync failed (%u in a row): trying again in %.1fs", a->st.sync_failing,
		 (double)d / 1e9);
	loop_timer_arm(a->retry, d, 0);
}

static int reconcile(struct agent *a, const char *reason, bool incremental)
{
	int r = reconciler_sync(a->rc, intake_good(a->in), intake_gen(a->in), reason, incremental);

	if (a->table_flags && !reconciler_table_flags(a->rc)) {
		/* the kernel refused them: someone else may change a plain table */
		a->table_flags = 0;
		if (a->genpoll)
			loop_timer_arm(a->genpoll, AGENT_GENPOLL_NS, AGENT_GENPOLL_NS);
	}
	natconflict_check(a->nft, &a->st); /* a sync is when someone else's rules may have come */
	if (r < 0) {
		retry_later(a);
	} else if (a->st.retry_unix > 0) {
		a->st.retry_unix = 0; /* a sync for another reason did it */
		loop_timer_arm(a->retry, 0, 0);
	}
	return r;
}

static void check_legacy(struct agent *a)
{
	legacy_check(a->nft, a->set.masq_chain, a->set.remove_legacy, &a->st);
	natconflict_check(a->nft, &a->st);
}

/* The SNAT address changed: one sync replaces the final rules (before the
 * first sync there is nothing to replace; it will use them). */
static int on_snat_changed(void *data, const struct masq_snat now[2])
{
	struct agent *a = data;

	reconciler_set_snat(a->rc, now);
	if (a->st.syncs == 0 || a->awaiting_api)
		return 0;
	return reconcile(a, "node address changed", true);
}

/* Read (and, with a loop, follow) the SNAT address; 0 when none is asked for. */
static int setup_snat(struct agent *a)
{
	if (!snat_spec_used(&a->set.snat))
		return 0;
	a->snat = snat_follow_new(a->loop, &a->set.snat, &a->st, on_snat_changed, a);
	if (!a->snat)
		return -EIO;
	reconciler_set_snat(a->rc, snat_follow_now(a->snat));
	return 0;
}

int agent_once(struct agent *a)
{
	int r;

	if (setup_snat(a) < 0 || !(a->pods = podsrc_follow_new(&a->set, &a->st)))
		return 1;
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
		reconcile_log_error(&e);
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
	int64_t before = intake_resync_ns(a->in);

	a->reload_pending = false;
	(void)load_config(a, NULL);
	/* a resync reads the table back; a change of config sends its difference */
	(void)reconcile(a, why, strcmp(why, "resync") != 0);
	if (intake_resync_ns(a->in) != before)
		loop_timer_arm(a->resync, intake_resync_ns(a->in), intake_resync_ns(a->in));
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
	loop_timer_arm(a->debounce, AGENT_DEBOUNCE_NS, 0);
}

static void on_debounce(struct loop *l, struct loop_timer *t, void *data)
{
	reload(data, "config changed");
}

static void on_retry(struct loop *l, struct loop_timer *t, void *data)
{
	struct agent *a = data;

	a->st.retry_unix = 0;
	(void)reconcile(a, "retry", false);
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

static void on_kube_changed(void *data, enum kube_res res);

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
		if (si.ssi_signo == SIGTERM && a->set.uninstall_ds[0] && !a->stopping) {
			a->stopping = true;
			if (uninstall_check(l, &a->set, a->nft, &a->kube, on_kube_changed, a) == 0)
				continue; /* its answer stops the loop */
		}
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
	srandom((unsigned)loop_now_ns() ^ (unsigned)getpid()); /* the retries' jitter */
	a->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (!a->loop || a->sigfd < 0 || loop_add_fd(a->loop, a->sigfd, EPOLLIN, on_signal, a) < 0)
		return -errno;
	a->resync = loop_timer_new(a->loop, on_resync, a);
	a->debounce = loop_timer_new(a->loop, on_debounce, a);
	a->genpoll = loop_timer_new(a->loop, on_genpoll, a);
	a->retry = loop_timer_new(a->loop, on_retry, a);
	/* the file (or directory) itself, as kubelet swaps it; its contents
	 * when it is a directory (watch_config_dir); and the policies */
	a->watch = cfg_watch_file(a->loop, a->set.config, on_config_event, a);
	if (a->set.policy_dir[0])
		a->polwatch = cfg_watch_new(a->loop, a->set.policy_dir, CFG_WATCH_ANY, NULL,
					    on_config_event, a);
	if (!a->resync || !a->debounce || !a->genpoll || !a->retry || !a->watch ||
	    (a->set.policy_dir[0] && !a->polwatch))
		return -errno;
	return reconciler_ctclean_loop(a->rc, a->loop);
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
		intake_adopt(a->in, partial);
	}
	(void)reconcile(a, "start", false);
}

static char *status_doc(void *data)
{
	return statusdoc_json(data);
}

/* The status socket's requests beside the status: "explain ADDR". */
static char *status_request(void *data, const char *line)
{
	struct agent *a = ((struct stats_view *)data)->ctx;

	if (strncmp(line, "explain ", 8) == 0)
		return explain_live(a->in, a->nft, a->snat ? snat_follow_now(a->snat) : NULL,
				    podsrc_follow_now(a->pods), &a->st, line + 8);
	return NULL;
}

/* The endpoints; a metrics or health address that cannot be served is
 * fatal (probes would fail anyway), a status socket that cannot is not. */
static int setup_endpoints(struct agent *a)
{
	char err[128];

	if (a->set.metrics_bind[0] &&
	    !(a->metrics = http_server_new(a->loop, a->set.metrics_bind, metrics_routes, &a->view,
					   a->set.http_deadline_ns, err, sizeof(err)))) {
		log_error("--metrics-bind-address %s: %s", a->set.metrics_bind, err);
		return -EINVAL;
	}
	if (a->set.healthz_bind[0] &&
	    !(a->health = http_server_new(a->loop, a->set.healthz_bind, health_routes, &a->view,
					  a->set.http_deadline_ns, err, sizeof(err)))) {
		log_error("--healthz-bind-address %s: %s", a->set.healthz_bind, err);
		return -EINVAL;
	}
	if (a->set.status_socket[0] &&
	    !(a->status = status_server_new(a->loop, a->set.status_socket, status_doc,
					    status_request, &a->view, err, sizeof(err))))
		log_warnx("--status-socket %s: %s; masqctl status will not answer",
			  a->set.status_socket, err);
	return 0;
}

/* Sync, then keep syncing: the resync timer, and drift polling where
 * someone else could change the table. */
static void start_syncing(struct agent *a)
{
	int64_t every;

	if (podsrc_follow_kernel(a->pods, a->nft)) /* the Node not known yet */
		reconciler_set_podsrc(a->rc, podsrc_follow_now(a->pods));
	first_sync(a);
	check_legacy(a);
	every = intake_resync_ns(a->in);
	loop_timer_arm(a->resync, every, every);
	/* Nobody else can touch an owned table while we run: no polling then,
	 * so the only idle wakeup is the resync timer. */
	if (!(a->table_flags & NFT_TABLE_OWNED_PERSISTENT))
		loop_timer_arm(a->genpoll, AGENT_GENPOLL_NS, AGENT_GENPOLL_NS);
	log_info("running: watching %s, resync every %.3gs%s", cfg_watch_dir(a->watch),
		 (double)every / 1e9, a->table_flags ? "" : ", drift check every 1s (plain table)");
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
	       (!a->set.watch_configmap[0] || ks->synced[KUBE_CONFIGMAP]) &&
	       (!a->set.pods_from_node || ks->synced[KUBE_NODE]);
}

static void on_kube_changed(void *data, enum kube_res res)
{
	struct agent *a = data;
	bool pods = res == KUBE_NODE && podsrc_follow_kube(a->pods, a->kube);

	if (pods)
		reconciler_set_podsrc(a->rc, podsrc_follow_now(a->pods));
	intake_kube_changed(a->in, res);
	if (a->awaiting_api) {
		if (!api_synced(a))
			return;
		a->awaiting_api = false;
		loop_timer_arm(a->apiwait, 0, 0);
		start_syncing(a);
		return;
	}
	if (res != KUBE_NODE)
		on_config_event(a, kube_res_names[res]);
	else if (pods && a->st.syncs) /* not its status or its health: only its pod CIDRs */
		(void)reconcile(a, "node pod CIDRs changed", true);
}

static int setup_kube(struct agent *a)
{
	const char *cm = a->set.watch_configmap;
	struct kube_settings ks = { .policies = a->set.watch_policies,
				    .stall_ns = a->set.api_stall_ns,
				    .watch_timeout_ns = a->set.api_watch_timeout_ns,
				    .not_found_ns = a->set.api_not_found_ns,
				    .opts = a->set.opts,
				    .max_policies = a->set.max_api_policies,
				    .max_cidrs = a->set.max_api_cidrs };
	char err[300];

	if (!a->set.watch_policies && !cm[0] && !a->set.pods_from_node)
		return 0;
	/* only the API's policies: files are the node's own, and trusted */
	ks.opts.policy_min_plen[0] = a->set.api_min_prefix[0];
	ks.opts.policy_min_plen[1] = a->set.api_min_prefix[1];
	if (intake_kube_access(&a->set, &ks.acc) < 0)
		return -EINVAL;
	if (ks.acc.insecure)
		log_warnx("kubernetes: insecure-skip-tls-verify: the API server is not verified");
	if (cm[0]) {
		ks.cm_namespace = a->set.cm_ref.ns;
		ks.cm_name = a->set.cm_ref.name;
	}
	ks.node_name = a->set.pods_from_node ? a->set.node_name : NULL;
	log_info("kubernetes: watching%s%s%s%s%s at %s",
		 a->set.watch_policies ? " egressnatpolicies" : "", cm[0] ? " configmap " : "", cm,
		 ks.node_name ? " node " : "", ks.node_name ? ks.node_name : "", ks.acc.server);
	a->kube = kube_client_new(a->loop, &ks, on_kube_changed, a, err, sizeof(err));
	if (!a->kube) {
		log_error("kubernetes: %s", err);
		return -EINVAL;
	}
	intake_use_kube(a->in, a->kube);
	a->apiwait = loop_timer_new(a->loop, on_apiwait, a);
	if (!a->apiwait)
		return -ENOMEM;
	a->awaiting_api = true;
	return loop_timer_arm(a->apiwait, AGENT_API_WAIT_NS, 0);
}

int agent_run(struct agent *a)
{
	int r = setup_loop(a);

	if (r < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r ? -r : EINVAL));
		return 1;
	}
	if (setup_endpoints(a) < 0 || !(a->pods = podsrc_follow_new(&a->set, &a->st)) ||
	    setup_kube(a) < 0 || setup_snat(a) < 0)
		return 1;
	if (a->rc) /* a change then costs what it changes */
		reconciler_keep_index(a->rc, true);
	if (!a->awaiting_api)
		start_syncing(a);
	r = loop_run(a->loop);
	return r < 0 ? 1 : r;
}
