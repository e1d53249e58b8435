/* The values of the flags that change the outcome (MASQ_OUTCOME_FLAGS in
 * config/sources.h), checked and applied once for masqd and masqctl. */
#ifndef MASQ_OUTCOME_H
#define MASQ_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The values of the outcome flags that are not bound directly. */
struct outcome_values {
	int max_cidrs; /* --max-cidrs-per-file */
	const char *resync; /* --resync-interval */
	const char *to_ports; /* --to-ports */
};

/* Check them and put them in opts, *ret_max_cidrs and *ret_resync_ns.
 * Returns 0, or -EINVAL with why ("--to-ports: ...") in why. */
int outcome_flags_apply(const struct outcome_values *v, struct masq_opts *opts,
			unsigned *ret_max_cidrs, int64_t *ret_resync_ns, char *why, size_t why_len)
	__attribute__((warn_unused_result));

#endif
