/* The DaemonSet check at SIGTERM, and the table's removal on an uninstall.
 * A pre-delete hook could not do this: while masqd runs, the table is owned
 * by its socket and nobody else may delete it. */
#include "agent/uninstall.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "agent/intake.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "config/ruleset.h"

#define UNINSTALL_CHECK_MS 3000 /* inside the DaemonSet's 10 s grace period */

struct uninstall {
	struct loop *loop;
	const struct agent_settings *set;
	struct nft_sock *nft;
	struct loop_timer *timer;
};

static struct uninstall u; /* one SIGTERM per process */

static void remove_table(long code)
{
	struct nft_error e;
	const char *state = code == 404 ? "gone" : "being deleted";
	int r = nft_table_remove(u.nft, &e);

	if (r < 0)
		log_error("DaemonSet %s is %s, but deleting table inet %s failed: %s",
			  u.set->uninstall_ds, state, MASQ_TABLE, e.msg[0] ? e.msg : strerror(-r));
	else
		log_info("DaemonSet %s is %s: masqd is being uninstalled; table inet %s removed",
			 u.set->uninstall_ds, state, MASQ_TABLE);
}

static void on_answer(void *data, long code, const char *body, size_t len, const char *err)
{
	json_t *ds = code == 200 ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *gone = json_object_get(json_object_get(ds, "metadata"), "deletionTimestamp");

	if (code == 404 || (gone && !json_is_null(gone)))
		remove_table(code);
	else if (code == 200)
		log_info("SIGTERM: DaemonSet %s is still there (an update or a restart): the "
			 "rules stay in place",
			 u.set->uninstall_ds);
	else
		log_warnx("SIGTERM: cannot tell whether DaemonSet %s is being deleted (%s%s%ld): "
			  "the rules stay in place; `masqd --cleanup` removes them",
			  u.set->uninstall_ds, err && err[0] ? err : "",
			  err && err[0] ? ", HTTP " : "HTTP ", code);
	json_decref(ds);
	loop_timer_free(u.timer); /* answered: the deadline is moot */
	u.timer = NULL;
	loop_stop(u.loop, 0);
}

static void on_timeout(struct loop *l, struct loop_timer *t, void *data)
{
	log_warnx("SIGTERM: no answer about the DaemonSet in time: the rules stay in place");
	loop_stop(l, 0);
}

int uninstall_check(struct loop *l, const struct agent_settings *s, struct nft_sock *nft,
		    struct kube_client **kube, kube_changed_fn changed, void *data)
{
	struct kube_settings ks = { .opts = s->opts };
	char path[600], err[300];

	u = (struct uninstall){ .loop = l, .set = s, .nft = nft };
	if (!*kube) {
		if (intake_kube_access(s, &ks.acc) < 0)
			return -EINVAL;
		*kube = kube_client_new(l, &ks, changed, data, err, sizeof(err));
		if (!*kube) {
			log_error("kubernetes: %s", err);
			return -EINVAL;
		}
	}
	snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/daemonsets/%s", s->ds_ref.ns,
		 s->ds_ref.name);
	u.timer = loop_timer_new(l, on_timeout, NULL);
	if (!u.timer || loop_timer_arm(u.timer, (UNINSTALL_CHECK_MS + 500) * 1000000LL, 0) < 0 ||
	    kube_client_get(*kube, path, UNINSTALL_CHECK_MS, on_answer, NULL) < 0)
		return -EIO;
	log_info("SIGTERM: asking the API whether DaemonSet %s is being deleted", s->uninstall_ds);
	return 0;
}
