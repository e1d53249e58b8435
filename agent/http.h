/* Small HTTP endpoints served by libmicrohttpd from masqd's epoll loop.
 * Limits: connections per client IP and in all, with slots only the node's
 * own addresses (kubelet's probes) may use; request header size, no request
 * bodies, GET/HEAD only; a short deadline for a whole request and a hard one
 * per connection. At the limit, a newcomer evicts the connection that has
 * waited longest for its request instead of being refused. */
#ifndef MASQ_HTTP_H
#define MASQ_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_PER_IP_LIMIT 8 /* concurrent connections from one address */
#define HTTP_CONN_LIMIT 64 /* concurrent connections in all */
#define HTTP_LOCAL_RESERVED 8 /* of those, only for the node's own addresses */
#define HTTP_MEMORY_LIMIT 32768 /* bytes for one request's headers */
#define HTTP_REQUEST_DEADLINE_NS 2000000000LL /* to send a whole request */
#define HTTP_DEFAULT_DEADLINE_NS 10000000000LL /* whole life of a connection */

struct loop;
struct http_server;

struct http_reply {
	unsigned status;
	const char *content_type;
	char *body; /* malloc'ed; the server frees it */
	size_t len;
};

typedef void (*http_route_fn)(void *data, struct http_reply *out);

struct http_route {
	const char *path;
	http_route_fn fn;
};

/* Listen on bind ("IP:PORT", "[IPv6]:PORT", ":PORT"), serving routes (a
 * NULL path ends them). NULL with err set on failure. */
struct http_server *http_server_new(struct loop *l, const char *bind,
				    const struct http_route *routes, void *data,
				    int64_t deadline_ns, char *err, size_t errlen);

/* Stop serving; NULL is fine. */
void http_server_free(struct http_server *s);

/* Connections open now, for tests and status. */
unsigned http_server_connections(const struct http_server *s);

#endif
