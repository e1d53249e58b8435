/* Go's time.ParseDuration, so upstream's resyncInterval values mean the same here. */
#ifndef MASQ_DURATION_H
#define MASQ_DURATION_H

#include <stdint.h>

/* Parse a Go duration ("60s", "1m30s", "1.5h", "-2ms", "500µs", "0") into
 * nanoseconds. Returns 0, -EINVAL (syntax, missing or unknown unit) or
 * -ERANGE (does not fit in int64 nanoseconds, as Go reports overflow). */
int duration_parse(const char *s, int64_t *ret_ns) __attribute__((warn_unused_result));

/* A flag value: a bare number is seconds (ip-masq-agent-v2's --resync-interval),
 * anything else a Go duration; at least 1s. */
int duration_parse_seconds(const char *s, int64_t *ret_ns) __attribute__((warn_unused_result));

#endif
