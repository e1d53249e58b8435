/* --cleanup-on-uninstall: at SIGTERM, is masqd's DaemonSet gone (helm
 * uninstall, kubectl delete) or still there (an update, a restart)? Gone or
 * being deleted means the table is removed; otherwise the rules stay. */
#ifndef MASQ_UNINSTALL_H
#define MASQ_UNINSTALL_H

#include "agent/agent.h"
#include "agent/kube.h"
#include "netlink/nft.h"

struct loop;

/* Ask the API about s->uninstall_ds through *kube (made here when NULL, with
 * changed/data as its callback; the caller frees it). The answer, or a
 * timeout, stops the loop. Returns 0 when the question is on its way. */
int uninstall_check(struct loop *l, const struct agent_settings *s, struct nft_sock *nft,
		    struct kube_client **kube, kube_changed_fn changed, void *data)
	__attribute__((warn_unused_result));

#endif
