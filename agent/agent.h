/* The agent: keeps the last good config, reconciles the kernel with it, and
 * (as a daemon) reacts to config changes, signals, resync and drift. */
#ifndef MASQ_AGENT_H
#define MASQ_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

#define AGENT_DEBOUNCE_NS 5000000LL /* 5 ms: kubelet's swap is a burst of a few events */
#define AGENT_GENPOLL_NS 1000000000LL /* drift check in the plain fallback */

struct agent_settings {
	const char *config;
	const char *table_flags_mode; /* "auto" or "plain" */
	struct masq_opts opts;
};

/* What later issues export as metrics and status. */
struct agent_stats {
	uint64_t syncs, sync_failures, reloads_ok, reloads_failed, drift_repairs, adoptions;
	int64_t last_sync_ns; /* CLOCK_MONOTONIC of the last successful sync */
	int64_t last_sync_duration_ns;
	bool config_ok;
};

struct agent;

/* Open the netlink socket; NULL with errno set. */
struct agent *agent_new(const struct agent_settings *s);

/* Close everything; the rules stay in the kernel. NULL is fine. */
void agent_free(struct agent *a);

/* Keep only CAP_NET_ADMIN and probe the table flags to use. */
int agent_prepare(struct agent *a) __attribute__((warn_unused_result));

/* --once: program the config and return the exit code (1 on a bad config,
 * which changes nothing). */
int agent_once(struct agent *a);

/* --cleanup: delete the table; returns the exit code. */
int agent_cleanup(struct agent *a);

/* Run the daemon until SIGTERM/SIGINT; returns the exit code. */
int agent_run(struct agent *a);

/* Counters so far. */
const struct agent_stats *agent_stats(const struct agent *a);

#endif
