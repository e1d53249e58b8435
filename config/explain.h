/* Why one destination is masqueraded or keeps the pod IP, from a merged
 * config: the longest-prefix decision (config/lpm.h, the rule the kernel set
 * is resolved with), the prefix that decided it with who gave it, and the
 * prefixes that lost. Pure: masqctl explain prints it. */
#ifndef MASQ_EXPLAIN_H
#define MASQ_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "config/sources.h"

#define EXPLAIN_LONGER_MAX 16 /* longer prefixes listed inside the deciding one */

enum explain_role {
	EXPLAIN_DECIDED, /* the longest prefix containing the destination */
	EXPLAIN_SHORTER, /* contains it too, but a longer prefix does */
	EXPLAIN_ELSEWHERE, /* inside the deciding prefix, but not containing it */
};

struct explain_prefix {
	struct cidr cidr;
	bool masquerade; /* from masqueradeCIDRs */
	enum explain_role role;
	const char *
		origins; /* borrowed: "FILE:LINE, EgressNATPolicy/NAME", "defaults", "link-local" */
};

struct explain {
	struct cidr dest;
	bool family_on; /* false: IPv6 without --enable-ipv6, which masqd leaves untouched */
	/* pod-source scoping of dest's family (opts->pods): its pod CIDRs ("":
	 * none, every source is decided), and whether the source given is
	 * outside them: then it keeps its source, not masqd's decision, and
	 * masqueraded below is false (the prefixes say what a pod source gets) */
	char pods[PODSRC_TEXT_LEN];
	bool source_outside;
	bool masqueraded;
	struct explain_prefix *v; /* the deciding prefix first, shorter ones, then elsewhere */
	size_t n;
	size_t more; /* prefixes inside the deciding one not listed (over EXPLAIN_LONGER_MAX) */
};

/* Explain dest (a host prefix) under m and opts, for a packet from source
 * (a host prefix of dest's family; NULL: any). ret borrows m's strings:
 * keep m until explain_clear. Returns 0 or -ENOMEM. */
int explain_dest(const struct masq_merged *m, const struct masq_opts *opts, const struct cidr *dest,
		 const struct cidr *source, struct explain *ret)
	__attribute__((warn_unused_result));

/* e as masqctl explain --json prints it (dest and source as written). */
json_t *explain_to_json(const struct explain *e, const char *dest, const char *source);

/* e as masqctl explain prints it. */
void explain_write(const struct explain *e, const char *dest, const char *source, FILE *out);

/* Free what explain_dest put in e. */
void explain_clear(struct explain *e);

#endif
