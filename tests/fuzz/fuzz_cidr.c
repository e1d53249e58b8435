/* libFuzzer target: CIDR text, then merging the parsed prefixes. Merged
 * ranges must be sorted, non-overlapping and non-adjacent. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/cidr.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void check_merged(const struct cidr *c, size_t n, int family)
{
	size_t len = cidr_addr_len(family);
	struct addr_range *r;
	int cnt = cidr_merge(c, n, family, &r);

	for (int i = 1; i < cnt; i++) {
		unsigned char next[16];
		memcpy(next, r[i - 1].hi, len);
		if (addr_increment(next, len) || memcmp(next, r[i].lo, len) >= 0)
			abort(); /* overlap or adjacency survived the merge */
	}
	for (int i = 0; i < cnt; i++) {
		char buf[CIDR_STRLEN];
		if (memcmp(r[i].lo, r[i].hi, len) > 0)
			abort();
		range_format(&r[i], family, buf);
	}
	free(r);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct cidr c[64];
	size_t n = 0;
	char *s = malloc(size + 1), *tok, *save = NULL;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (tok = strtok_r(s, "\n,", &save); tok && n < 64; tok = strtok_r(NULL, "\n,", &save)) {
		char aligned[CIDR_STRLEN], canon[CIDR_STRLEN];
		if (cidr_parse(tok, &c[n], aligned) == 0) {
			struct cidr again;
			cidr_format(&c[n], canon);
			if (cidr_parse(canon, &again, NULL) != 0 || !cidr_equal(&again, &c[n]))
				abort(); /* canonical text must parse back to the same prefix */
			n++;
		}
	}
	check_merged(c, n, AF_INET);
	check_merged(c, n, AF_INET6);
	free(s);
	return 0;
}
