/* libFuzzer target: CIDR text, then merging the parsed prefixes. Merged
 * ranges must be sorted, non-overlapping and non-adjacent. A token starting
 * with '-' is a masqueradeCIDRs prefix: the longest-prefix resolution must
 * give the same kind of ranges, and agree with a brute-force search at the
 * edges of every prefix. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/cidr.h"
#include "config/lpm.h"

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

static void check_sorted(const struct addr_range *r, int cnt, size_t len)
{
	for (int i = 0; i < cnt; i++) {
		unsigned char next[16];
		if (memcmp(r[i].lo, r[i].hi, len) > 0)
			abort();
		if (i == 0)
			continue;
		memcpy(next, r[i - 1].hi, len);
		if (addr_increment(next, len) || memcmp(next, r[i].lo, len) >= 0)
			abort();
	}
}

static bool contains(const struct cidr *c, const unsigned char *a)
{
	for (unsigned b = 0; b < c->plen; b++) {
		unsigned m = 0x80u >> (b % 8);
		if ((c->addr[b / 8] & m) != (a[b / 8] & m))
			return false;
	}
	return true;
}

/* Kept by the longest containing prefix; an equal pair counts as kept. */
static bool brute_keeps(const struct cidr *k, size_t nk, const struct cidr *m, size_t nm,
			int family, const unsigned char *a)
{
	int best = -1;
	bool keep = false;

	for (size_t i = 0; i < nk + nm; i++) {
		const struct cidr *c = i < nk ? &k[i] : &m[i - nk];
		if (c->family != family || !contains(c, a))
			continue;
		if (c->plen > best || (c->plen == best && i < nk)) {
			best = c->plen;
			keep = i < nk;
		}
	}
	return keep;
}

static bool in_ranges(const struct addr_range *r, int cnt, size_t len, const unsigned char *a)
{
	for (int i = 0; i < cnt; i++) {
		if (memcmp(r[i].lo, a, len) <= 0 && memcmp(a, r[i].hi, len) <= 0)
			return true;
	}
	return false;
}

static void check_resolved(const struct cidr *k, size_t nk, const struct cidr *m, size_t nm,
			   int family)
{
	size_t len = cidr_addr_len(family);
	struct addr_range *r;
	int cnt = lpm_resolve(k, nk, m, nm, family, &r);

	if (cnt < 0)
		return;
	check_sorted(r, cnt, len);
	for (size_t i = 0; i < nk + nm; i++) { /* each prefix's first and last address */
		const struct cidr *c = i < nk ? &k[i] : &m[i - nk];
		struct addr_range e;
		if (c->family != family)
			continue;
		cidr_to_range(c, &e);
		if (in_ranges(r, cnt, len, e.lo) != brute_keeps(k, nk, m, nm, family, e.lo) ||
		    in_ranges(r, cnt, len, e.hi) != brute_keeps(k, nk, m, nm, family, e.hi))
			abort();
	}
	free(r);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct cidr c[64], masq[64];
	size_t n = 0, nm = 0;
	char *s = malloc(size + 1), *tok, *save = NULL;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (tok = strtok_r(s, "\n,", &save); tok && n < 64; tok = strtok_r(NULL, "\n,", &save)) {
		char aligned[CIDR_STRLEN], canon[CIDR_STRLEN];
		if (tok[0] == '-') {
			if (nm < 64 && cidr_parse(tok + 1, &masq[nm], aligned) == 0)
				nm++;
			continue;
		}
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
	check_resolved(c, n, masq, nm, AF_INET);
	check_resolved(c, n, masq, nm, AF_INET6);
	free(s);
	return 0;
}
