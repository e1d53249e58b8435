/* The unix socket masqctl status reads: one JSON document per connection. */
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

struct status_server {
	struct loop *loop;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	status_fn fn;
	void *data;
};

/* Answer every pending client at once; a client that does not read its
 * (small) answer right away simply gets less. Nothing is read from it. */
static void on_accept(struct loop *l, int fd, uint32_t events, void *data)
{
	struct status_server *s = data;
	int c;

	while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		char *doc = s->fn(s->data);
		if (doc) {
			(void)!send(c, doc, strlen(doc), MSG_DONTWAIT | MSG_NOSIGNAL);
			free(doc);
		}
		close(c);
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

struct status_server *status_server_new(struct loop *l, const char *path, status_fn fn, void *data,
					char *err, unsigned errlen)
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
	*s = (struct status_server){ .loop = l, .fn = fn, .data = data, .fd = -1 };
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
		free(s);
		return NULL;
	}
	return s;
}

void status_server_free(struct status_server *s)
{
	if (!s)
		return;
	loop_del_fd(s->loop, s->fd);
	close(s->fd);
	unlink(s->path);
	free(s);
}
