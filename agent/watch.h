/* Watches the directory holding the config file with inotify, the way
 * kubelet updates a mounted ConfigMap: it writes a new hidden directory and
 * renames the ..data symlink onto the old one, so a watch on the file itself
 * would die with the old inode. */
#ifndef MASQ_WATCH_H
#define MASQ_WATCH_H

struct loop;
struct cfg_watch;

/* Called when the config may have changed; why names the event. */
typedef void (*cfg_watch_fn)(void *data, const char *why);

/* Which names in the directory matter (..data, kubelet's swap, always does). */
enum cfg_watch_match {
	CFG_WATCH_NAME, /* exactly the given name */
	CFG_WATCH_PREFIX, /* names starting with it (ip-masq-agent-v2's "ip-masq") */
	CFG_WATCH_ANY, /* any name that is not hidden */
};

/* Watch dir (or, while it is missing, its nearest existing ancestor) for
 * changes to the names that match. NULL with errno set. */
struct cfg_watch *cfg_watch_new(struct loop *l, const char *dir, enum cfg_watch_match match,
				const char *name, cfg_watch_fn fn, void *data);

/* Watch the directory holding the file path, for that file. */
struct cfg_watch *cfg_watch_file(struct loop *l, const char *path, cfg_watch_fn fn, void *data);

/* Stop watching; NULL is fine. */
void cfg_watch_free(struct cfg_watch *w);

/* The directory watched now, for logs. */
const char *cfg_watch_dir(const struct cfg_watch *w);

#endif
