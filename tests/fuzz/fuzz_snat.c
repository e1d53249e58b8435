/* libFuzzer target: --snat-to-address and --snat-interface values. The input
 * is split at newlines: up to FLAG_STRINGS_MAX addresses, then the
 * interface name; the first byte's low bit is --enable-ipv6. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/snat.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct flag_strings a = { 0 };
	struct snat_spec spec;
	const char *iface = NULL;
	char *s, *p, *nl, why[256];
	bool ipv6;

	if (size == 0)
		return 0;
	ipv6 = data[0] & 1;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	for (p = s; p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (a.n < FLAG_STRINGS_MAX && nl)
			a.v[a.n++] = p;
		else
			iface = p;
	}
	if (snat_spec_parse(&a, iface, ipv6, &spec, why, sizeof(why)) == 0 && spec.iface[0] &&
	    strlen(spec.iface) >= IFNAMSIZ)
		abort(); /* a name the kernel would refuse got through */
	free(s);
	return 0;
}
