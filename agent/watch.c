/* inotify on the config's directory (kubelet's ..data swap), with the
 * nearest existing ancestor watched while it is missing. */
#include "agent/watch.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "agent/loop.h"

/* DESIGN.md §4: the directory, for kubelet's ..data swap, plain writes,
 * mv into place, deletion and re-creation. */
#define DIR_MASK                                                                                 \
	(IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | \
	 IN_MOVE_SELF | IN_ONLYDIR)
/* A missing directory's nearest ancestor: anything that could create it. */
#define ANCESTOR_MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct cfg_watch {
	struct loop *loop;
	int fd, wd;
	bool on_ancestor;
	char dir[PATH_MAX]; /* the config's directory */
	char base[NAME_MAX + 1]; /* the config's name in it */
	enum cfg_watch_match match;
	char watched[PATH_MAX];
	cfg_watch_fn fn;
	void *data;
};

const char *cfg_watch_dir(const struct cfg_watch *w)
{
	return w->watched;
}

/* Cut p to its parent directory in place ("/a/b" -> "/a", "/a" -> "/", "a" -> "."). */
static void to_parent(char *p)
{
	char *slash = strrchr(p, '/');

	if (!slash)
		strcpy(p, ".");
	else if (slash == p)
		p[1] = '\0';
	else
		*slash = '\0';
}

/* (Re)place the one watch: on the directory, or on its nearest ancestor. */
static int arm_once(struct cfg_watch *w)
{
	char p[PATH_MAX];

	if (w->wd >= 0)
		inotify_rm_watch(w->fd, w->wd);
	w->wd = -1;
	snprintf(p, sizeof(p), "%s", w->dir);
	for (;;) {
		w->on_ancestor = strcmp(p, w->dir) != 0;
		w->wd = inotify_add_watch(w->fd, p, w->on_ancestor ? ANCESTOR_MASK : DIR_MASK);
		if (w->wd >= 0) {
			snprintf(w->watched, sizeof(w->watched), "%s", p);
			return 0;
		}
		if ((errno != ENOENT && errno != ENOTDIR) || strcmp(p, "/") == 0 ||
		    strcmp(p, ".") == 0)
			return -errno;
		to_parent(p);
	}
}

/* The path one level below the watched ancestor, toward the directory. */
static void next_level(const struct cfg_watch *w, char *out, size_t len)
{
	size_t skip = strcmp(w->watched, "/") == 0 ? 1 : strlen(w->watched) + 1;
	const char *end = strchr(w->dir + skip, '/');

	snprintf(out, len, "%.*s", (int)(end ? (size_t)(end - w->dir) : strlen(w->dir)), w->dir);
}

/* A level below the ancestor may appear between finding it missing and the
 * watch being in place, and that creation would never be reported: look
 * again after placing the watch, and go down while levels exist. */
static int arm(struct cfg_watch *w)
{
	char next[PATH_MAX];
	int r;

	for (int depth = 0; depth < 64; depth++) {
		r = arm_once(w);
		if (r < 0 || !w->on_ancestor)
			return r;
		next_level(w, next, sizeof(next));
		if (access(next, F_OK) != 0)
			return 0; /* still missing: the watch will report its creation */
	}
	return 0;
}

static bool relevant_name(const struct cfg_watch *w, const struct inotify_event *ev)
{
	if (!ev->len)
		return false;
	if (strcmp(ev->name, "..data") == 0)
		return true;
	switch (w->match) {
	case CFG_WATCH_NAME:
		return strcmp(ev->name, w->base) == 0;
	case CFG_WATCH_PREFIX:
		return strncmp(ev->name, w->base, strlen(w->base)) == 0;
	default:
		return ev->name[0] != '.';
	}
}

/* One event; returns what happened, or NULL when it does not matter. */
static const char *handle(struct cfg_watch *w, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		arm(w);
		return "inotify queue overflow";
	}
	if (ev->wd != w->wd)
		return NULL; /* a watch already replaced */
	if (ev->mask & (IN_IGNORED | IN_UNMOUNT | IN_DELETE_SELF | IN_MOVE_SELF)) {
		arm(w);
		return "watched directory went away";
	}
	if (w->on_ancestor) {
		arm(w);
		return w->on_ancestor ? NULL : "config directory appeared";
	}
	return relevant_name(w, ev) ? (strcmp(ev->name, "..data") == 0 ? "..data swapped"
								       : "config file changed")
				    : NULL;
}

static void readable(struct loop *l, int fd, uint32_t events, void *data)
{
	struct cfg_watch *w = data;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	const char *why = NULL;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			const char *w_why = handle(w, ev);
			why = w_why ? w_why : why;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (why)
		w->fn(w->data, why);
}

struct cfg_watch *cfg_watch_file(struct loop *l, const char *path, cfg_watch_fn fn, void *data)
{
	char d[PATH_MAX], b[PATH_MAX];

	snprintf(d, sizeof(d), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	return cfg_watch_new(l, dirname(d), CFG_WATCH_NAME, basename(b), fn, data);
}

struct cfg_watch *cfg_watch_new(struct loop *l, const char *dir, enum cfg_watch_match match,
				const char *name, cfg_watch_fn fn, void *data)
{
	struct cfg_watch *w = calloc(1, sizeof(*w));
	int e;

	if (!w)
		return NULL;
	*w = (struct cfg_watch){
		.loop = l, .fd = -1, .wd = -1, .fn = fn, .data = data, .match = match
	};
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	snprintf(w->base, sizeof(w->base), "%s", name ? name : "");
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0 || arm(w) < 0 || loop_add_fd(l, w->fd, EPOLLIN, readable, w) < 0)
		goto fail;
	return w;
fail:
	e = errno;
	if (w->fd >= 0)
		close(w->fd);
	free(w);
	errno = e;
	return NULL;
}

void cfg_watch_free(struct cfg_watch *w)
{
	if (!w)
		return;
	loop_del_fd(w->loop, w->fd);
	close(w->fd);
	free(w);
}
