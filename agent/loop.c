/* The single-threaded epoll loop: fd handlers, timerfd timers, stop. */
#include "agent/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 16

struct handler {
	int fd;
	loop_fd_fn fn; /* NULL once removed */
	void *data;
	struct handler *next;
};

struct loop_timer {
	struct loop *loop;
	int fd;
	loop_timer_fn fn;
	void *data;
	struct loop_timer *next;
};

struct loop {
	int epfd;
	struct handler *handlers;
	struct handler *removed; /* freed after the round that may still name them */
	struct loop_timer *timers;
	int stopped, code;
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;
		free(l);
		errno = e;
		return NULL;
	}
	return l;
}

static void free_list(struct handler *h)
{
	while (h) {
		struct handler *next = h->next;
		free(h);
		h = next;
	}
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	while (l->timers) {
		struct loop_timer *t = l->timers;
		l->timers = t->next;
		close(t->fd);
		free(t);
	}
	free_list(l->handlers);
	free_list(l->removed);
	close(l->epfd);
	free(l);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *data)
{
	struct handler *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = events };

	if (!h)
		return -ENOMEM;
	*h = (struct handler){ fd, fn, data, l->handlers };
	ev.data.ptr = h;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(h);
		return -e;
	}
	l->handlers = h;
	return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	for (struct handler *h = l->handlers; h; h = h->next) {
		if (h->fd == fd) {
			struct epoll_event ev = { .events = events, .data.ptr = h };
			return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
		}
	}
	return -ENOENT;
}

void loop_del_fd(struct loop *l, int fd)
{
	for (struct handler **p = &l->handlers; *p; p = &(*p)->next) {
		if ((*p)->fd == fd) {
			struct handler *h = *p;
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			*p = h->next;
			h->fn = NULL;
			h->next = l->removed;
			l->removed = h;
			return;
		}
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event ev[MAX_EVENTS];

	l->stopped = 0;
	while (!l->stopped) {
		int n = epoll_wait(l->epfd, ev, MAX_EVENTS, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int i = 0; i < n && !l->stopped; i++) {
			struct handler *h = ev[i].data.ptr;
			if (h->fn)
				h->fn(l, h->fd, ev[i].events, h->data);
		}
		free_list(l->removed);
		l->removed = NULL;
	}
	return l->code;
}

void loop_stop(struct loop *l, int code)
{
	l->stopped = 1;
	l->code = code;
}

static void timer_ready(struct loop *l, int fd, uint32_t events, void *data)
{
	struct loop_timer *t = data;
	uint64_t ticks;

	if (read(fd, &ticks, sizeof(ticks)) == sizeof(ticks))
		t->fn(l, t, t->data);
}

struct loop_timer *loop_timer_new(struct loop *l, loop_timer_fn fn, void *data)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd < 0 || loop_add_fd(l, t->fd, EPOLLIN, timer_ready, t) < 0) {
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	*t = (struct loop_timer){ l, t->fd, fn, data, l->timers };
	l->timers = t;
	return t;
}

void loop_timer_free(struct loop_timer *t)
{
	if (!t)
		return;
	for (struct loop_timer **p = &t->loop->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	loop_del_fd(t->loop, t->fd);
	close(t->fd);
	free(t);
}

static struct timespec ts(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
}

int loop_timer_arm(struct loop_timer *t, int64_t first_ns, int64_t interval_ns)
{
	struct itimerspec its = { .it_value = ts(first_ns), .it_interval = ts(interval_ns) };

	if (first_ns == 0 && interval_ns != 0)
		its.it_value = its.it_interval;
	return timerfd_settime(t->fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int64_t loop_now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}
