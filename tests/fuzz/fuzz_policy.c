/* libFuzzer target: any bytes as a file of EgressNATPolicy objects (one, a
 * List, or several documents), through the bounded YAML tree. */
#include <stdlib.h>

#include "config/policy.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct masq_opts opts = { .enable_ipv6 = size & 1 };
	struct masq_policy_list list = { 0 };
	struct diags d;

	diags_init(&d);
	if (policy_parse_buf("fuzz", (const char *)data, size, &opts, &list, &d) == 0) {
		for (size_t i = 0; i < list.n; i++) {
			if (!list.v[i].name[0])
				abort(); /* a valid policy always has a name */
		}
	}
	policy_list_clear(&list);
	return 0;
}
