/* A local unix socket that answers every connection with one JSON document
 * and closes it: masqd's status, or the answer to the request line the
 * client sent first ("explain ADDR"); masqctl reads it. A client that sends
 * nothing gets the status after 100 ms. It works when the HTTP endpoints
 * are off. */
#ifndef MASQ_STATUS_H
#define MASQ_STATUS_H

struct loop;
struct status_server;

typedef char *(*status_fn)(void *data); /* a malloc'ed document */

/* The answer to a request line (without its newline), malloc'ed; NULL for
 * a request it does not know. */
typedef char *(*status_request_fn)(void *data, const char *request);

/* Listen on path (mode 0600; its directory is created if missing). A socket
 * file nobody listens on is replaced; a live one is not. NULL with err set. */
struct status_server *status_server_new(struct loop *l, const char *path, status_fn fn,
					status_request_fn req, void *data, char *err,
					unsigned errlen);

/* Stop listening and remove the socket file; NULL is fine. */
void status_server_free(struct status_server *s);

#endif
