/* One single-threaded epoll loop. Every event source (signals, timers,
 * inotify, later netlink, curl and HTTP) is a file descriptor with a
 * handler; adding a source is one call. */
#ifndef MASQ_LOOP_H
#define MASQ_LOOP_H

#include <stdint.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_fn)(struct loop *l, int fd, uint32_t events, void *data);
typedef void (*loop_timer_fn)(struct loop *l, struct loop_timer *t, void *data);

/* A new loop; NULL with errno set. */
struct loop *loop_new(void);

/* Free the loop and its timers (not other fds); NULL is fine. */
void loop_free(struct loop *l);

/* Call fn when fd is ready for events (EPOLLIN, ...). fd must be O_NONBLOCK. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *data)
	__attribute__((warn_unused_result));

/* Change the events watched on an added fd. */
int loop_mod_fd(struct loop *l, int fd, uint32_t events) __attribute__((warn_unused_result));

/* Stop watching fd (before closing it). */
void loop_del_fd(struct loop *l, int fd);

/* Run until loop_stop(); returns the code given to it, or -errno. */
int loop_run(struct loop *l);

/* Make loop_run() return code once the current handler returns. */
void loop_stop(struct loop *l, int code);

/* A disarmed timer (a timerfd on CLOCK_MONOTONIC) that calls fn. */
struct loop_timer *loop_timer_new(struct loop *l, loop_timer_fn fn, void *data);

/* Stop and free a timer, from any handler (its own included); NULL is fine.
 * loop_free() frees the timers left. */
void loop_timer_free(struct loop_timer *t);

/* Fire after first_ns, then every interval_ns (0: once). 0/0 disarms. */
int loop_timer_arm(struct loop_timer *t, int64_t first_ns, int64_t interval_ns);

/* Nanoseconds on CLOCK_MONOTONIC, for durations. */
int64_t loop_now_ns(void);

#endif
