/* A local unix socket that answers every connection with masqd's status
 * document (JSON) and closes it; masqctl status reads it. It works when the
 * HTTP endpoints are off. */
#ifndef MASQ_STATUS_H
#define MASQ_STATUS_H

struct loop;
struct status_server;

typedef char *(*status_fn)(void *data); /* a malloc'ed document */

/* Listen on path (mode 0600; its directory is created if missing). A socket
 * file nobody listens on is replaced; a live one is not. NULL with err set. */
struct status_server *status_server_new(struct loop *l, const char *path, status_fn fn, void *data,
					char *err, unsigned errlen);

/* Stop listening and remove the socket file; NULL is fine. */
void status_server_free(struct status_server *s);

#endif
