/* What masqd exports: Prometheus metrics (/metrics), health (/healthz,
 * /readyz) and the status document masqctl status reads. */
#ifndef MASQ_METRICS_H
#define MASQ_METRICS_H

#include "agent/http.h"

struct stats_view;

/* Routes for the metrics server and for the health server; their data is
 * a const struct stats_view * (agent/stats.h). */
extern const struct http_route metrics_routes[];
extern const struct http_route health_routes[];

/* The status document (JSON), malloc'ed; NULL on ENOMEM. */
char *metrics_status_json(const struct stats_view *v);

#endif
