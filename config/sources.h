/* All config sources merged into one config: the ip-masq-agent file or a
 * directory of ip-masq* files (ip-masq-agent-v2's merge), and a directory
 * of EgressNATPolicy files. Each file and each policy keeps its last good
 * version: a bad one goes on contributing what it contributed before. */
#ifndef MASQ_SOURCES_H
#define MASQ_SOURCES_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "config/diag.h"
#include "config/policy.h"

#define SOURCES_MAX_FILES 256 /* files read from one directory */
#define SOURCES_DEFAULT_MAX_CIDRS 64 /* per file in a directory, as v2 */

enum source_kind { SOURCE_FILE, SOURCE_POLICY, SOURCE_API_CONFIG, SOURCE_API_POLICY, SOURCE_COUNT };

/* Label values for metrics and status: "file", "egress-nat-policy-dir",
 * "configmap-api", "egress-nat-policy-api". */
extern const char *const source_names[SOURCE_COUNT];

struct sources_settings {
	const char *config; /* a file, or a directory of ip-masq* files */
	const char *policy_dir; /* EgressNATPolicy files; NULL or "" for none */
	unsigned max_cidrs_per_file; /* in a directory */
	int64_t dir_resync_ns; /* the resync interval in directory mode */
	struct masq_opts opts;
	/* From the Kubernetes API watch (agent/kube.c); NULL when not in use. */
	const struct masq_policy_list *api_policies; /* valid EgressNATPolicies, by name */
	const char *api_config_name; /* "configmap NS/NAME": stands in for config */
	const char *api_config; /* its data.config; NULL when it has none */
	size_t api_config_len;
	bool origin_lines; /* origins of a file's CIDRs as "FILE:LINE" (masqctl explain) */
};

/* The flags that change the outcome, shared by masqd and masqctl so the two
 * read configs alike (needs config/flags.h). set is a struct
 * sources_settings; the others are strings or an int, checked by the caller. */
#define MASQ_OUTCOME_FLAGS(set, max_cidrs, resync, to_ports)                                         \
	{ "nomasq-all-reserved-ranges", FLAG_BOOL, &(set).opts.all_reserved, NULL,                   \
	  "default to all 11 reserved ranges instead of RFC 1918" },                                 \
		{ "enable-ipv6", FLAG_BOOL, &(set).opts.enable_ipv6, NULL,                           \
		  "also decide IPv6 traffic (untouched without it, as upstream)" },                  \
		{ "random-fully", FLAG_BOOL, &(set).opts.random_fully, NULL,                         \
		  "masquerade with fully-random ports (default true; =false for plain)" },           \
		{ "egress-nat-policy-dir", FLAG_STRING, &(set).policy_dir, "DIR",                    \
		  "also read EgressNATPolicy objects (NoSNAT destinations) from the files in DIR" }, \
		{ "max-cidrs-per-file", FLAG_INT, &(max_cidrs), "N",                                 \
		  "CIDRs allowed per file in a config directory (default 64, as v2)" },              \
		{ "resync-interval", FLAG_STRING, &(resync), "DURATION",                             \
		  "resync in directory mode (default 60; a bare number is seconds, as v2)" },        \
	{                                                                                            \
		"to-ports", FLAG_STRING, &(to_ports), "RANGES",                                      \
			"masquerade TCP, UDP and SCTP to these ports, e.g. 1024-29999,32768-65535 "  \
			"(ranges used in proportion to their sizes, as upstream)"                    \
	}

struct source_state {
	bool used; /* configured */
	bool ok; /* the last load had no error */
	char error[300]; /* the first error of the last load */
};

/* A merged config and, for each of its CIDRs, who gave it ("FILE",
 * "EgressNATPolicy/NAME" or "defaults"; several joined by ", "). Each list
 * is the union of every source's, in input order; EgressNATPolicy NoSNAT
 * destinations are non-masquerade prefixes like the files' own. */
struct merge_strs;
struct masq_merged {
	struct masq_config *cfg;
	/* The origin strings live in strs, one copy per source (not per CIDR):
	 * read them, never free or change them. */
	char **origins; /* one per CIDR merged; the caller may take cfg alone */
	size_t norigins;
	char **masq_origins; /* one per masqueradeCIDRs entry merged */
	size_t nmasq_origins;
	bool incomplete; /* a failed source had no last good version to stand in */
	bool origin_lines; /* a file's origins are "FILE:LINE" */
	bool is_dir; /* the config was a directory */
	struct merge_strs *strs; /* where origins and masq_origins point */
};

struct masq_sources;

/* Remembers the last good version of each source between loads. */
struct masq_sources *sources_new(void);
void sources_free(struct masq_sources *s);

/* Files parsed since sources_new: a file whose bytes are those of its last
 * good parse is not parsed again (its problems are reported again). */
uint64_t sources_parses(const struct masq_sources *s);

/* Load every source and merge. Returns 0 when all were good, 1 when some
 * failed (their last good versions stand in; see ret->incomplete), or
 * -errno when nothing could be built. st gets each source's state. */
int sources_load(struct masq_sources *s, const struct sources_settings *set,
		 struct masq_merged *ret, struct source_state st[SOURCE_COUNT], struct diags *d)
	__attribute__((warn_unused_result));

/* A digest of the config's content as sources_load would read it (the file,
 * or the names and contents of a directory's ip-masq files), to tell whether
 * the mounted config really changed. */
uint64_t sources_config_digest(const struct sources_settings *set);

/* Free what sources_load put in m. */
void merged_clear(struct masq_merged *m);

#endif
