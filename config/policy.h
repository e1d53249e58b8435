/* GKE's EgressNATPolicy (networking.gke.io/v1, cluster-scoped):
 * spec.action NoSNAT and spec.destinations[].cidr join the non-masquerade set. */
#ifndef MASQ_POLICY_H
#define MASQ_POLICY_H

#include <stddef.h>

#include "config/cidr.h"
#include "config/config.h"
#include "config/diag.h"

#define POLICY_NAME_MAX 253 /* a DNS subdomain, as metadata.name */
#define POLICY_MAX_PER_FILE 10000
#define POLICY_MAX_DESTINATIONS 10000

struct masq_policy {
	char name[POLICY_NAME_MAX + 1];
	struct cidr *cidrs;
	size_t ncidrs;
	unsigned line; /* where it starts in its file */
};

struct masq_policy_list {
	struct masq_policy *v;
	size_t n, cap; /* cap: room in v, grown by doubling */
	char **rejected; /* names of policies rejected in this parse */
	size_t nrejected;
};

/* Parse a file of policies: one object, a List (items), or several YAML
 * documents. Valid policies go to ret; each invalid one is reported in d
 * (FILE:LINE:COL: policy NAME: ...) and its name put in ret->rejected.
 * Returns 0, or -EINVAL when the file itself cannot be read as YAML. */
int policy_parse_buf(const char *file, const char *buf, size_t len, const struct masq_opts *opts,
		     struct masq_policy_list *ret, struct diags *d)
	__attribute__((warn_unused_result));

/* Copy one policy into list (deep). */
int policy_list_add(struct masq_policy_list *list, const struct masq_policy *p)
	__attribute__((warn_unused_result));

/* Free the contents of a list (not the list itself). */
void policy_list_clear(struct masq_policy_list *list);

#endif
