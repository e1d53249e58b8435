/* libFuzzer target: any bytes as a kubeconfig file. */
#include <stdlib.h>
#include <string.h>

#include "config/kubeconfig.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct kube_access a;
	struct diags d;

	diags_init(&d);
	if (kube_access_parse("dir/kubeconfig", (const char *)data, size, &a, &d) == 0) {
		if (!a.server ||
		    (strncmp(a.server, "http://", 7) && strncmp(a.server, "https://", 8)))
			abort(); /* a parsed kubeconfig always has a usable server */
		kube_access_clear(&a);
	} else if (a.server || !d.errors) {
		abort(); /* a refusal leaves nothing behind and says why */
	}
	return 0;
}
