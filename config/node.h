/* A Node object's pod CIDRs, as --pod-cidr-from-node reads them: spec.podCIDRs
 * (at most one per family, as the API allows), or the older spec.podCIDR
 * alone. Both are empty until IPAM assigns them. Pure: the API client
 * (agent/kube_state.c) hands the object over, agent/podsrc.c follows it. */
#ifndef MASQ_NODE_H
#define MASQ_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/cidr.h"

#define NODE_POD_CIDRS_MAX 2 /* the API's own bound: one per family */

/* What the Node gave. */
struct node_pods {
	bool present; /* the Node object exists */
	struct cidr v[NODE_POD_CIDRS_MAX];
	size_t n; /* 0: not assigned yet */
};

/* Read node's pod CIDRs into *ret (present, n 0 when unassigned). A value
 * that is not a list of at most NODE_POD_CIDRS_MAX CIDR strings, one per
 * family, with no host bits, is an error: -EINVAL with why (err), *ret
 * unchanged. */
int node_pods_parse(const json_t *node, struct node_pods *ret, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* True when a and b say the same. */
bool node_pods_equal(const struct node_pods *a, const struct node_pods *b);

#endif
