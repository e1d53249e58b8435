/* The Prometheus text exposition format, version 0.0.4: families with one
 * HELP and one TYPE line each, escaped labels, cumulative histograms. */
#ifndef MASQ_EXPO_H
#define MASQ_EXPO_H

#include <stddef.h>
#include <stdint.h>

#define EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct expo;

/* An empty document; NULL on ENOMEM. */
struct expo *expo_new(void);

/* Free it; NULL is fine. */
void expo_free(struct expo *e);

/* Start a family: its HELP and TYPE ("counter", "gauge", "histogram").
 * A family started twice is written once: a second start is ignored. */
void expo_family(struct expo *e, const char *name, const char *type, const char *help);

/* One sample "name{k="v",...} value". labels: NULL or a NULL-terminated list
 * of key, value, key, value... */
void expo_sample(struct expo *e, const char *name, const char *const *labels, double value);

/* A histogram of one label set. counts[i] is the number of observations in
 * (bounds[i-1], bounds[i]], counts[n] those above the last bound; the writer
 * makes them cumulative and ends with le="+Inf" equal to the count. */
void expo_histogram(struct expo *e, const char *name, const char *const *labels,
		    const double *bounds, const uint64_t *counts, size_t n, double sum);

/* The text so far; NULL after an allocation failure. */
const char *expo_text(const struct expo *e, size_t *ret_len);

#endif
