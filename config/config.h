/* The ip-masq-agent config model: upstream's file format (YAML or JSON),
 * parsed with libyaml, validated, with upstream's defaults. */
#ifndef MASQ_CONFIG_H
#define MASQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cidr.h"
#include "config/diag.h"
#include "config/podsrc.h"

#define MASQ_DEFAULT_CONFIG "/etc/config/ip-masq-agent"
#define MASQ_FILE_MAX (1u << 20) /* bytes read from one config file */
#define MASQ_DEPTH_MAX 32 /* YAML nesting accepted, anywhere */
#define MASQ_DEFAULT_CIDR_LIMIT 64 /* upstream's cidrLimit default */
#define MASQ_CIDR_LIMIT_MAX 1000000 /* largest cidrLimit accepted */
#define MASQ_DEFAULT_RESYNC_NS 60000000000LL /* upstream's 60s */
#define MASQ_MIN_RESYNC_NS 1000000000LL /* under 1s would busy-loop */

/* Flags that change the outcome; shared by masqd and masqctl. */
struct masq_opts {
	bool all_reserved; /* --nomasq-all-reserved-ranges */
	bool enable_ipv6; /* --enable-ipv6 */
	bool random_fully; /* --random-fully, default true */
	/* --to-ports: TCP, UDP and SCTP leave from these ranges, in proportion to
	 * their sizes as upstream; none: any port (masq_ports_parse in ruleset.h) */
	struct masq_port_range {
		uint16_t first, last;
	} to_ports[16];
	unsigned nto_ports;
	/* EgressNATPolicy destinations broader than /N are refused, IPv4 and
	 * IPv6 (--api-min-prefix-v4, -v6: the API's policies only); 0: any */
	uint8_t policy_min_plen[2];
	/* --pod-cidr: only these sources are decided, per family that has some
	 * (config/podsrc.h); none: every source, as upstream */
	struct podsrc pods;
};

/* Where a CIDR was written; line 0 when it was not written in a file. */
struct cidr_pos {
	unsigned line, col;
};

/* A validated config. cidrs are canonical, deduplicated, in input order, and
 * exclude the implicit link-local ranges (those follow masq_link_local*).
 * masq_cidrs (masqueradeCIDRs, masqd's own key) are the same, and none of
 * them is also a non-masquerade prefix: the longest prefix containing a
 * destination, from either list, decides (config/lpm.h). */
struct masq_config {
	struct cidr *cidrs;
	struct cidr_pos *pos; /* where each of cidrs was written; NULL: nowhere (defaults) */
	size_t ncidrs;
	struct cidr *masq_cidrs;
	struct cidr_pos *masq_pos; /* where each of masq_cidrs was written */
	size_t nmasq;
	bool masq_link_local;
	bool masq_link_local6;
	int64_t resync_ns;
	unsigned cidr_limit;
	bool file_present; /* false: no file, built-in defaults */
};

/* A config with upstream's key defaults and no CIDRs; NULL on ENOMEM. */
struct masq_config *cfg_alloc(void);

/* Put upstream's default CIDRs for opts in cfg (which has none yet): RFC
 * 1918, or the 11 reserved ranges. */
int cfg_set_defaults(const struct masq_opts *opts, struct masq_config *cfg)
	__attribute__((warn_unused_result));

/* Upstream's defaults for opts: RFC 1918, or the 11 reserved ranges. */
int cfg_new_defaults(const struct masq_opts *opts, struct masq_config **ret)
	__attribute__((warn_unused_result));

/* Parse and validate one document named name. Returns 0 and *ret, or
 * -EINVAL with every problem in d (warnings are added on success too). */
int cfg_parse_buf(const char *name, const char *buf, size_t len, const struct masq_opts *opts,
		  struct masq_config **ret, struct diags *d) __attribute__((warn_unused_result));

/* One file of a config directory, with ip-masq-agent-v2's rules: at most
 * max_cidrs CIDRs, cidrLimit and resyncInterval ignored with a warning, and
 * no defaults (a file without nonMasqueradeCIDRs contributes none). */
int cfg_parse_member(const char *name, const char *buf, size_t len, const struct masq_opts *opts,
		     unsigned max_cidrs, struct masq_config **ret, struct diags *d)
	__attribute__((warn_unused_result));

/* Read a regular file of at most MASQ_FILE_MAX bytes (checked before reading).
 * -ENOENT (not reported) when it is missing; other problems go to d. */
int cfg_read_file(const char *path, char **ret_buf, size_t *ret_len, struct diags *d)
	__attribute__((warn_unused_result));

/* Read and parse path. A missing file gives the defaults; a file over
 * MASQ_FILE_MAX is rejected before it is parsed. */
int cfg_load_file(const char *path, const struct masq_opts *opts, struct masq_config **ret,
		  struct diags *d) __attribute__((warn_unused_result));

/* The implicit non-masquerade link-local prefixes of cfg under opts:
 * 169.254.0.0/16 unless masqLinkLocal, and with --enable-ipv6 fe80::/10
 * unless masqLinkLocalIPv6. Returns how many (0 to 2). */
size_t cfg_link_local(const struct masq_config *cfg, const struct masq_opts *opts,
		      struct cidr ret[2]);

#define CFG_LINK_LOCAL (SIZE_MAX - 1)

/* For each of cfg's masqueradeCIDRs, the non-masquerade prefix equal to it
 * (a located error for the reader): ret[j] is an index into cfg->cidrs,
 * CFG_LINK_LOCAL (counted only when link_local), or SIZE_MAX for none.
 * Returns how many have one, or -ENOMEM. */
int cfg_conflicts(const struct masq_config *cfg, const struct masq_opts *opts, bool link_local,
		  size_t *ret) __attribute__((warn_unused_result));

/* True when a and b would program the same rules. */
bool cfg_equal(const struct masq_config *a, const struct masq_config *b);

/* Free a config; NULL is fine. */
void cfg_free(struct masq_config *cfg);

#endif
