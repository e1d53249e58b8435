/* What masqd exports over HTTP: Prometheus metrics (/metrics) and health
 * (/healthz, /readyz). The status document is agent/statusdoc.h's. */
#ifndef MASQ_METRICS_H
#define MASQ_METRICS_H

#include "agent/http.h"

struct stats_view;

/* Routes for the metrics server and for the health server; their data is
 * a const struct stats_view * (agent/stats.h). */
extern const struct http_route metrics_routes[];
extern const struct http_route health_routes[];

#endif
