/* The unix socket masqctl reads: one JSON document per connection. A
 * client may send one request line first ("status", "explain ADDR"); one
 * that sends nothing within 100 ms gets the status, as before requests
 * existed. */
#include "agent/status.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/loop.h"

#define STATUS_CLIENTS 8 /* connections waiting for their request line */
#define STATUS_WAIT_NS (100 * 1000000LL) /* then they get the status */
#define STATUS_REQ_MAX 256

struct client {
	int fd;
	int64_t since;
	char buf[STATUS_REQ_MAX];
	size_t len;
};

struct status_server {
	struct loop *loop;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	status_fn fn;
	status_request_fn req;
	void *data;
	struct client c[STATUS_CLIENTS];
	size_t n;
	struct loop_timer *timer;
};

/* Answer fd and close it: a client that does not read its (small) answer
 * right away simply gets less. */
static void answer(struct status_server *s, int fd, const char *line)
{
	char *doc;

	if (!line[0] || strcmp(line, "status") == 0)
		doc = s->fn(s->data);
	else
		doc = s->req ? s->req(s->data, line) : NULL;
	if (!doc && asprintf(&doc, "{\"error\": \"unknown request\"}\n") < 0)
		doc = NULL;
	if (doc) {
		(void)!send(fd, doc, strlen(doc), MSG_DONTWAIT | MSG_NOSIGNAL);
		free(doc);
	}
	close(fd);
}

/* Answer the waiting client i with its line, and forget it. */
static void answer_client(struct status_server *s, size_t i)
{
	struct client *c = &s->c[i];
	char *nl = memchr(c->buf, '\n', c->len);

	c->buf[nl ? (size_t)(nl - c->buf) : c->len < STATUS_REQ_MAX ? c->len : 0] = '\0';
	loop_del_fd(s->loop, c->fd);
	answer(s, c->fd, c->buf);
	s->c[i] = s->c[--s->n];
}

static void on_client(struct loop *l, int fd, uint32_t events, void *data)
{
	struct status_server *s = data;
	size_t i;
	ssize_t got;

	for (i = 0; i < s->n && s->c[i].fd != fd; i++)
		;
	if (i == s->n)
		return;
	got = recv(fd, s->c[i].buf + s->c[i].len, STATUS_REQ_MAX - 1 - s->c[i].len, MSG_DONTWAIT);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got > 0)
		s->c[i].len += (size_t)got;
	if (got <= 0 || memchr(s->c[i].buf, '\n', s->c[i].len) || s->c[i].len == STATUS_REQ_MAX - 1)
		answer_client(s, i); /* a line, the end, or too long (answered as status) */
}

/* Those who said nothing in time get the status. */
static void on_wait(struct loop *l, struct loop_timer *t, void *data)
{
	struct status_server *s = data;
	int64_t now = loop_now_ns(), next = 0;

	for (size_t i = 0; i < s->n;) {
		if (now - s->c[i].since >= STATUS_WAIT_NS) {
			s->c[i].len = 0;
			answer_client(s, i);
			continue;
		}
		if (!next || s->c[i].since + STATUS_WAIT_NS - now < next)
			next = s->c[i].since + STATUS_WAIT_NS - now;
		i++;
	}
	if (next)
		loop_timer_arm(s->timer, next, 0);
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *data)
{
	struct status_server *s = data;
	int c;

	while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (s->n == STATUS_CLIENTS || loop_add_fd(l, c, EPOLLIN, on_client, s) < 0) {
			answer(s, c, ""); /* too many waiting: the status at once */
			continue;
		}
		s->c[s->n++] = (struct client){ .fd = c, .since = loop_now_ns() };
		if (s->n == 1)
			loop_timer_arm(s->timer, STATUS_WAIT_NS, 0);
	}
}

/* Is someone listening on path already? */
static int live_socket(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int live;

	if (fd < 0)
		return 0;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return live;
}

static int prepare_path(const struct sockaddr_un *sa)
{
	char dir[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", sa->sun_path);
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST; /* never remove something that is not ours */
	if (live_socket(sa))
		return -EADDRINUSE;
	return unlink(sa->sun_path) < 0 ? -errno : 0;
}

struct status_server *status_server_new(struct loop *l, const char *path, status_fn fn,
					status_request_fn req, void *data, char *err,
					unsigned errlen)
{
	struct status_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	if (!s || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s", s ? "path too long" : "out of memory");
		free(s);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	*s = (struct status_server){ .loop = l, .fn = fn, .req = req, .data = data, .fd = -1 };
	if (!(s->timer = loop_timer_new(l, on_wait, s))) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	r = prepare_path(&sa);
	if (r == 0) {
		s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    chmod(path, 0600) < 0 || listen(s->fd, 16) < 0 ||
		    loop_add_fd(l, s->fd, EPOLLIN, on_accept, s) < 0)
			r = -errno;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s",
			 r == -EEXIST	    ? "exists and is not a socket"
			 : r == -EADDRINUSE ? "another masqd is listening on it"
					    : strerror(-r));
		if (s->fd >= 0)
			close(s->fd);
		loop_timer_free(s->timer);
		free(s);
		return NULL;
	}
	return s;
}

void status_server_free(struct status_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		loop_del_fd(s->loop, s->c[i].fd);
		close(s->c[i].fd);
	}
	loop_timer_free(s->timer);
	loop_del_fd(s->loop, s->fd);
	close(s->fd);
	unlink(s->path);
	free(s);
}
