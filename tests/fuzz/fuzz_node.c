/* libFuzzer target: a Node object's spec.podCIDRs (config/node.c), parsed
 * as the watch parses objects (duplicates refused, NUL allowed), then the
 * pod-source scope built from it. On success: at most two CIDRs, one per
 * family, each canonical (its text parses back to itself). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "config/node.h"
#include "config/podsrc.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	json_t *o =
		json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	struct node_pods p = { .n = 99 };
	struct podsrc s = { 0 };
	char why[200], text[CIDR_STRLEN];

	if (!o)
		return 0;
	if (node_pods_parse(o, &p, why, sizeof(why)) == 0) {
		if (!p.present || p.n > NODE_POD_CIDRS_MAX ||
		    (p.n == 2 && p.v[0].family == p.v[1].family))
			abort();
		for (size_t i = 0; i < p.n; i++) {
			struct cidr back;

			cidr_format(&p.v[i], text);
			if (cidr_parse(text, &back, NULL) != 0 || !cidr_equal(&back, &p.v[i]))
				abort();
			if (podsrc_add(&s, &p.v[i]) != 1)
				abort(); /* one per family: never a duplicate, never full */
		}
	} else if (p.n != 99) {
		abort(); /* a refused object left its mark */
	}
	json_decref(o);
	return 0;
}
