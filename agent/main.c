/* masqd: programs the node's egress NAT decision (which pod traffic leaves
 * masqueraded) into nftables, from upstream ip-masq-agent's config. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent/log.h"
#include "config/config.h"
#include "config/flags.h"
#include "config/ruleset.h"
#include "netlink/nft.h"

struct agent {
	const char *config;
	const char *table_flags_mode;
	const char *to_ports;
	const char *masq_chain;
	bool once, cleanup, help, version;
	int verbosity;
	struct masq_opts opts;

	struct nft_ctx *nft;
	uint32_t table_flags;
	char *applied; /* render of the ruleset last programmed */
	char last_err[DIAG_FILE_LEN + DIAG_MSG_LEN + 32]; /* logged once until it changes */
	int64_t resync_ns;
};

static void usage(const struct flag_def *defs)
{
	printf("Usage: masqd [FLAGS]\n\n"
	       "Programs the node's egress NAT rules (table inet %s) from the\n"
	       "ip-masq-agent config: traffic to nonMasqueradeCIDRs keeps the pod IP,\n"
	       "everything else leaves with the node IP. Flags are accepted as Go's flag\n"
	       "package takes them (-flag, --flag=v, --flag v), so ip-masq-agent's\n"
	       "manifests work unchanged; klog's flags are accepted and ignored.\n\n"
	       "Flags:\n",
	       MASQ_TABLE);
	flags_print_help(defs, stdout);
	printf("\nExit status: 0 on success, 1 on a config or kernel error, 2 on a usage error.\n");
}

/* Log every problem of a config load; errors once until they change. */
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
	diag_for_each(g, d) {
		diag_format(g, line, sizeof(line));
		if (g->level == DIAG_ERROR)
			log_error("config: %s", line);
		else
			log_warnx("config: %s", line);
	}
	if (d->dropped)
		log_warnx("config: %zu more problems not shown", d->dropped);
	snprintf(a->last_err, sizeof(a->last_err), "%s", failed ? key : "");
}

static char *render_text(const struct masq_ruleset *rs)
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

static void report_nft_error(const struct nft_error *e)
{
	if (e->err == -EBUSY) {
		log_error("%s is %s: stop masqd first", e->what, e->msg);
		return;
	}
	log_error("programming nftables failed at %s: %s%s%s (%u error%s)", e->what,
		  strerror(-e->err), e->msg[0] ? ": " : "", e->msg, e->count,
		  e->count == 1 ? "" : "s");
}

/* Program cfg unless the kernel already has exactly this from us. */
static int program(struct agent *a, const struct masq_config *cfg)
{
	struct masq_ruleset *rs;
	struct nft_error e;
	char *text;
	int r;

	r = masq_ruleset_build(cfg, &a->opts, &rs);
	if (r < 0)
		return r;
	text = render_text(rs);
	if (text && a->applied && strcmp(text, a->applied) == 0) {
		log_debug("ruleset unchanged; nothing sent");
		masq_ruleset_free(rs);
		free(text);
		return 0;
	}
	r = nft_ruleset_apply(a->nft, rs, a->table_flags, &e);
	if (r < 0) {
		report_nft_error(&e);
		free(text);
	} else {
		log_info("rules programmed: %zu IPv4 and %zu IPv6 non-masquerade intervals", rs->n4,
			 rs->n6);
		if (text)
			log_debug("ruleset:\n%s", text);
		free(a->applied);
		a->applied = text;
	}
	masq_ruleset_free(rs);
	return r;
}

/* Load the config; on error keep what is programmed (or, when nothing is,
 * use the defaults, as upstream starts from its defaults). */
static int sync_once(struct agent *a, bool fail_on_bad_config)
{
	struct masq_config *cfg = NULL;
	struct diags d;
	int r;

	diags_init(&d);
	r = cfg_load_file(a->config, &a->opts, &cfg, &d);
	report_diags(a, &d, r < 0);
	if (r < 0) {
		if (fail_on_bad_config || a->applied)
			return r;
		struct nft_table_info info;
		if (nft_table_query(a->nft, &info) == 0 && info.exists) {
			log_warnx(
				"keeping the rules already in the kernel until the config is fixed");
			return r;
		}
		log_warnx("no rules programmed yet: using the built-in defaults meanwhile");
		r = cfg_new_defaults(&a->opts, &cfg);
		if (r < 0)
			return r;
	} else if (!cfg->file_present) {
		log_debug("%s does not exist: using the built-in defaults", a->config);
	}
	a->resync_ns = cfg->resync_ns;
	r = program(a, cfg);
	cfg_free(cfg);
	return r;
}

static int resolve_table_flags(struct agent *a)
{
	uint32_t want = NFT_TABLE_OWNED_PERSISTENT;
	int r;

	if (strcmp(a->table_flags_mode, "plain") == 0) {
		a->table_flags = 0;
		return 0;
	}
	r = nft_ctx_probe_table_flags(a->nft, want);
	if (r < 0)
		return r;
	a->table_flags = r ? want : 0;
	if (!r)
		log_info("kernel has no persistent owned tables (needs 6.9): using a plain table");
	log_debug("table flags: 0x%x", a->table_flags);
	return 0;
}

static int do_cleanup(struct agent *a)
{
	struct nft_error e;
	int r = nft_table_remove(a->nft, &e);

	if (r == -EBUSY) {
		report_nft_error(&e);
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

static int arm_timer(int tfd, int64_t ns)
{
	struct itimerspec its = { .it_value = { ns / 1000000000, ns % 1000000000 } };

	its.it_interval = its.it_value;
	return timerfd_settime(tfd, 0, &its, NULL);
}

/* Resync every resyncInterval; SIGHUP reloads now; SIGTERM/SIGINT exit and
 * leave the rules in place. The full event loop (inotify, drift) replaces this. */
static int run_daemon(struct agent *a)
{
	sigset_t mask;
	struct pollfd pfd[2];
	int64_t armed;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	pfd[0] = (struct pollfd){ .fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC),
				  .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
				  .events = POLLIN };
	if (pfd[0].fd < 0 || pfd[1].fd < 0) {
		log_warn("cannot create signal or timer descriptors");
		return 1;
	}
	(void)sync_once(a, false);
	armed = a->resync_ns;
	arm_timer(pfd[1].fd, armed);
	log_info("running; resync every %.3gs", (double)armed / 1e9);
	for (;;) {
		struct signalfd_siginfo si;
		uint64_t ticks;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			log_warn("poll");
			return 1;
		}
		if ((pfd[1].revents & POLLIN) && read(pfd[1].fd, &ticks, sizeof(ticks)) > 0)
			(void)sync_once(a, false);
		if ((pfd[0].revents & POLLIN) && read(pfd[0].fd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGHUP) {
				log_info("signal %u: exiting, rules stay in place", si.ssi_signo);
				return 0;
			}
			log_info("SIGHUP: reloading");
			(void)sync_once(a, false);
		}
		if (a->resync_ns != armed) {
			armed = a->resync_ns;
			arm_timer(pfd[1].fd, armed);
		}
	}
}

static int check_usage(struct agent *a)
{
	if (strcmp(a->table_flags_mode, "auto") != 0 && strcmp(a->table_flags_mode, "plain") != 0) {
		fprintf(stderr, "masqd: --table-flags must be auto or plain, not \"%s\"\n",
			a->table_flags_mode);
		return -EINVAL;
	}
	if (a->to_ports && *a->to_ports) {
		fprintf(stderr, "masqd: --to-ports is not supported yet: nft needs one rule per "
				"port range; run without it\n");
		return -EINVAL;
	}
	if (a->once && a->cleanup) {
		fprintf(stderr, "masqd: --once and --cleanup exclude each other\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct agent a = {
		.config = MASQ_DEFAULT_CONFIG,
		.table_flags_mode = "auto",
		.masq_chain = "IP-MASQ-AGENT",
		.opts = { .random_fully = true },
		.resync_ns = MASQ_DEFAULT_RESYNC_NS,
	};
	const struct flag_def defs[] = {
		{ "config", FLAG_STRING, &a.config, "PATH",
		  "config file (default " MASQ_DEFAULT_CONFIG "); missing means defaults" },
		{ "once", FLAG_BOOL, &a.once, NULL, "program the rules once and exit" },
		{ "cleanup", FLAG_BOOL, &a.cleanup, NULL, "delete masqd's table and exit" },
		{ "nomasq-all-reserved-ranges", FLAG_BOOL, &a.opts.all_reserved, NULL,
		  "default to all 11 reserved ranges instead of RFC 1918" },
		{ "enable-ipv6", FLAG_BOOL, &a.opts.enable_ipv6, NULL,
		  "also decide IPv6 traffic (untouched without it, as upstream)" },
		{ "random-fully", FLAG_BOOL, &a.opts.random_fully, NULL,
		  "masquerade with fully-random ports (default true; =false for plain)" },
		{ "to-ports", FLAG_STRING, &a.to_ports, "RANGES", "not supported yet; rejected" },
		{ "masq-chain", FLAG_STRING, &a.masq_chain, "NAME",
		  "legacy iptables chain name (default IP-MASQ-AGENT; GKE: IP-MASQ)" },
		{ "table-flags", FLAG_STRING, &a.table_flags_mode, "auto|plain",
		  "auto: owner|persist where the kernel has it (6.9+); plain: never" },
		{ "v", FLAG_INT, &a.verbosity, "N", "log verbosity; 2 or more adds debug" },
		{ "help", FLAG_BOOL, &a.help, NULL, "show this help" },
		{ "h", FLAG_BOOL, &a.help, NULL, NULL },
		{ "version", FLAG_BOOL, &a.version, NULL, "print the version and exit" },
		FLAGS_KLOG,
		FLAGS_END,
	};
	struct flag_ctx fc;
	int rc;

	if (flags_parse(defs, argc, argv, 1, &fc) < 0) {
		fprintf(stderr, "masqd: %s\nTry 'masqd --help'.\n", fc.err);
		return 2;
	}
	if (a.help) {
		usage(defs);
		return 0;
	}
	if (a.version) {
		printf("masqd %s (%s)\n", MASQD_VERSION, MASQD_REVISION);
		return 0;
	}
	if (fc.nargs) {
		fprintf(stderr, "masqd: unexpected argument \"%s\"\nTry 'masqd --help'.\n",
			fc.args[0]);
		return 2;
	}
	if (check_usage(&a) < 0)
		return 2;
	log_init(a.verbosity);
	if (fc.ignored[0])
		log_warnx("klog flags accepted for compatibility and ignored: %s", fc.ignored);

	a.nft = nft_ctx_new();
	if (!a.nft) {
		log_warn("cannot open the nftables netlink socket (masqd needs CAP_NET_ADMIN)");
		return 1;
	}
	if (a.cleanup) {
		rc = do_cleanup(&a);
	} else if (resolve_table_flags(&a) < 0) {
		log_error("probing the kernel's nftables features failed");
		rc = 1;
	} else if (a.once) {
		rc = sync_once(&a, true) < 0 ? 1 : 0;
	} else {
		rc = run_daemon(&a);
	}
	nft_ctx_free(a.nft);
	free(a.applied);
	return rc;
}
