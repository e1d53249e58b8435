/* The outcome flags' values, checked once for both programs. */
#include "config/outcome.h"

#include <errno.h>
#include <stdio.h>

#include "config/duration.h"
#include "config/ruleset.h"

int outcome_flags_apply(const struct outcome_values *v, struct masq_opts *opts,
			unsigned *ret_max_cidrs, int64_t *ret_resync_ns, char *why, size_t why_len)
{
	char ports[128];

	if (masq_ports_parse(v->to_ports, opts, ports, sizeof(ports)) < 0) {
		snprintf(why, why_len, "--to-ports: %s", ports);
		return -EINVAL;
	}
	if (duration_parse_seconds(v->resync, ret_resync_ns) < 0) {
		snprintf(why, why_len,
			 "--resync-interval must be seconds or a duration of at least 1s");
		return -EINVAL;
	}
	if (v->max_cidrs < 1 || v->max_cidrs > MASQ_CIDR_LIMIT_MAX) {
		snprintf(why, why_len, "--max-cidrs-per-file must be 1..%d", MASQ_CIDR_LIMIT_MAX);
		return -EINVAL;
	}
	*ret_max_cidrs = (unsigned)v->max_cidrs;
	return 0;
}
