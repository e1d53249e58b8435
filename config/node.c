/* A Node's spec.podCIDRs, checked. */
#include "config/node.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* One entry: a string holding a CIDR with no host bits. */
static int parse_entry(const json_t *v, const char *where, struct cidr *ret, char *err,
		       size_t errlen)
{
	char aligned[CIDR_STRLEN];
	const char *s = json_string_value(v);
	int r;

	if (!s || json_string_length(v) >= CIDR_STRLEN || strlen(s) != json_string_length(v)) {
		snprintf(err, errlen, "%s is not a CIDR string", where);
		return -EINVAL;
	}
	r = cidr_parse(s, ret, aligned);
	if (r == -EDOM)
		snprintf(err, errlen, "%s: %s has host bits set (the aligned form is %s)", where, s,
			 aligned);
	else if (r < 0)
		snprintf(err, errlen, "%s: \"%s\" is not a CIDR", where, s);
	return r < 0 ? -EINVAL : 0;
}

static int parse_list(const json_t *list, struct node_pods *p, char *err, size_t errlen)
{
	char where[48];
	size_t n = json_array_size(list);

	if (!json_is_array(list)) {
		snprintf(err, errlen, "spec.podCIDRs is not a list");
		return -EINVAL;
	}
	if (n > NODE_POD_CIDRS_MAX) {
		snprintf(err, errlen, "spec.podCIDRs has %zu entries: at most %d (one per family)",
			 n, NODE_POD_CIDRS_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "spec.podCIDRs[%zu]", i);
		if (parse_entry(json_array_get(list, i), where, &p->v[i], err, errlen) < 0)
			return -EINVAL;
		if (i && p->v[0].family == p->v[i].family) {
			snprintf(err, errlen,
				 "spec.podCIDRs has two %s CIDRs: at most one per family",
				 p->v[i].family == AF_INET ? "IPv4" : "IPv6");
			return -EINVAL;
		}
	}
	p->n = n;
	return 0;
}

int node_pods_parse(const json_t *node, struct node_pods *ret, char *err, size_t errlen)
{
	const json_t *spec = json_object_get(node, "spec"), *list, *one;
	struct node_pods p = { .present = true };

	if (!json_is_object(node)) {
		snprintf(err, errlen, "the Node is not an object");
		return -EINVAL;
	}
	if (spec && !json_is_object(spec)) {
		snprintf(err, errlen, "spec is not an object");
		return -EINVAL;
	}
	list = json_object_get(spec, "podCIDRs");
	one = json_object_get(spec, "podCIDR");
	if (list && !json_is_null(list)) {
		if (parse_list(list, &p, err, errlen) < 0)
			return -EINVAL;
	} else if (one && !json_is_null(one) &&
		   !(json_is_string(one) && json_string_length(one) == 0)) {
		/* an older API server, or an object written before podCIDRs */
		if (parse_entry(one, "spec.podCIDR", &p.v[0], err, errlen) < 0)
			return -EINVAL;
		p.n = 1;
	}
	*ret = p;
	return 0;
}

bool node_pods_equal(const struct node_pods *a, const struct node_pods *b)
{
	if (a->present != b->present || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (!cidr_equal(&a->v[i], &b->v[i]))
			return false;
	}
	return true;
}
