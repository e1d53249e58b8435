/* The Kubernetes API watch: EgressNATPolicies and, optionally, one ConfigMap,
 * each followed with client-go's reflector protocol (list, then watch from
 * the list's resourceVersion with bookmarks; relist on 410). libcurl's
 * multi-socket API runs the transfers inside masqd's epoll loop: no threads.
 * The last state the API gave stays until the API gives another: an outage
 * never changes rules. */
#ifndef MASQ_KUBE_H
#define MASQ_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/kubeconfig.h"
#include "config/node.h"
#include "config/policy.h"

struct loop;

enum kube_res { KUBE_POLICIES, KUBE_CONFIGMAP, KUBE_NODE, KUBE_NRES };

/* "egressnatpolicies", "configmaps", "nodes": the resource label of the metrics. */
extern const char *const kube_res_names[KUBE_NRES];

/* Why a watch was restarted (or a list retried). */
enum kube_restart {
	KUBE_R_EXPIRED, /* 410 Gone, as HTTP status or ERROR event: relist */
	KUBE_R_CLOSED, /* the server ended the watch (timeoutSeconds) */
	KUBE_R_STALL, /* no bytes for the stall timeout */
	KUBE_R_ERROR, /* connection, TLS or transfer error */
	KUBE_R_UNAUTHORIZED, /* 401: the token file is read again before each retry */
	KUBE_R_FORBIDDEN, /* 403: RBAC */
	KUBE_R_NOT_FOUND, /* 404: the CRD is not installed */
	KUBE_R_THROTTLED, /* 429 */
	KUBE_R_SERVER_ERROR, /* 5xx, or an ERROR event other than 410 */
	KUBE_R_BAD_RESPONSE, /* unparseable body or event, unexpected status */
	KUBE_R_COUNT
};

extern const char *const kube_restart_names[KUBE_R_COUNT];

#define KUBE_MAX_CODES 24 /* distinct HTTP codes counted per resource */
#define KUBE_DEFAULT_STALL_NS (120 * 1000000000LL)
#define KUBE_DEFAULT_NOT_FOUND_NS (60 * 1000000000LL)
#define KUBE_DEFAULT_LIST_LIMIT 500 /* items per page of a list: client-go's pager */
#define KUBE_DEFAULT_WATCH_TIMEOUT_NS (300 * 1000000000LL) /* client-go: 5 to 10 min */

struct kube_settings {
	struct kube_access acc; /* moved into the client */
	bool policies; /* watch EgressNATPolicies */
	const char *cm_namespace, *cm_name; /* watch this ConfigMap; NULL for none */
	const char *node_name; /* watch this Node's pod CIDRs; NULL for none */
	int64_t stall_ns; /* a watch with no bytes for this long is restarted */
	int64_t watch_timeout_ns; /* timeoutSeconds is random in [this, 2 * this) */
	int64_t not_found_ns; /* retry after a 404 (the CRD is not installed) */
	struct masq_opts opts; /* to validate policies */
	unsigned list_limit; /* items per page; 0: KUBE_DEFAULT_LIST_LIMIT */
	size_t max_policies, max_cidrs; /* the budget of API policies; 0: none */
};

struct kube_code_count {
	int code; /* 0: no HTTP answer (connection or TLS error) */
	uint64_t n;
};

struct kube_stats {
	struct kube_code_count req[KUBE_NRES][KUBE_MAX_CODES];
	size_t ncodes[KUBE_NRES];
	uint64_t restarts[KUBE_NRES][KUBE_R_COUNT];
	bool synced[KUBE_NRES]; /* listed at least once: the API's state is known */
	bool healthy[KUBE_NRES]; /* the last request was answered */
	bool ok[KUBE_NRES]; /* healthy, and every object is valid */
	char error[KUBE_NRES][300]; /* the last problem, while not ok */
	uint64_t loads_ok[KUBE_NRES], loads_failed[KUBE_NRES]; /* lists and events applied */
	size_t over_budget; /* EgressNATPolicies refused or evicted for the budget, now */
	uint64_t list_pages[KUBE_NRES]; /* pages of lists received whole */
	bool watch_list[KUBE_NRES]; /* the state came by the streaming watch list */
};

/* Called when a resource's state or health changed. */
typedef void (*kube_changed_fn)(void *data, enum kube_res res);

struct kube_client;

/* Load libcurl and start listing. s->acc is moved into the client (even on
 * failure). NULL with the reason in err. */
struct kube_client *kube_client_new(struct loop *l, struct kube_settings *s, kube_changed_fn fn,
				    void *data, char *err, size_t errlen);

/* Stop every transfer; NULL is fine. */
void kube_client_free(struct kube_client *k);

const struct kube_stats *kube_client_stats(const struct kube_client *k);

/* The valid policies the API holds; NULL before the first list. */
const struct masq_policy_list *kube_client_policies(const struct kube_client *k);

/* The ConfigMap's config text: false before the first list; else true with
 * *ret_text NULL when the ConfigMap or its key does not exist. */
bool kube_client_configmap(const struct kube_client *k, const char **ret_text, size_t *ret_len);

/* The Node's pod CIDRs: false before the first list, or while every
 * version seen was refused; else true and *ret (ret->present false when
 * the Node does not exist). An invalid object leaves the last good value. */
bool kube_client_node(const struct kube_client *k, struct node_pods *ret);

/* The answer to kube_client_get: code 0 when there was none (err says why). */
typedef void (*kube_get_fn)(void *data, long code, const char *body, size_t len, const char *err);

/* GET path once (bounded in time), beside the watches. One at a time. */
int kube_client_get(struct kube_client *k, const char *path, long timeout_ms, kube_get_fn fn,
		    void *data) __attribute__((warn_unused_result));

#endif
