/* The longest-prefix resolution of nonMasqueradeCIDRs and masqueradeCIDRs:
 * worked examples, then random configs against a brute-force search. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/lpm.h"

#define LIST_MAX 16

static size_t parse_list(const char *list, struct cidr *out)
{
	char buf[512], *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		assert_true(n < LIST_MAX);
		if (cidr_parse(tok, &out[n++], NULL) != 0)
			fail_msg("bad CIDR in the test: %s", tok);
	}
	return n;
}

/* Resolve the space-separated keep and masq lists of family and compare
 * the intervals as nft prints them, space-separated. */
static void resolve_expect(int family, const char *keep, const char *masq, const char *want)
{
	struct cidr k[LIST_MAX], m[LIST_MAX];
	size_t nk = parse_list(keep, k), nm = parse_list(masq, m), o = 0;
	struct addr_range *r;
	char got[1024] = "";
	int cnt = lpm_resolve(k, nk, m, nm, family, &r);

	assert_true(cnt >= 0);
	for (int i = 0; i < cnt; i++) {
		char b[CIDR_STRLEN];
		range_format(&r[i], family, b);
		o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s", i ? " " : "", b);
	}
	assert_string_equal(got, want);
	free(r);
}

static void test_nested_three_levels(void **state)
{
	/* the example: 10/8 kept, 10.1/16 masqueraded, 10.1.2/24 kept */
	resolve_expect(AF_INET, "10.0.0.0/8 10.1.2.0/24", "10.1.0.0/16",
		       "10.0.0.0/16 10.1.2.0/24 10.2.0.0-10.255.255.255");
	/* four levels, the innermost masqueraded again */
	resolve_expect(AF_INET, "10.0.0.0/8 10.1.2.0/24", "10.1.0.0/16 10.1.2.128/25",
		       "10.0.0.0/16 10.1.2.0/25 10.2.0.0-10.255.255.255");
	/* order in the lists does not matter */
	resolve_expect(AF_INET, "10.1.2.0/24 10.0.0.0/8", "10.1.0.0/16",
		       "10.0.0.0/16 10.1.2.0/24 10.2.0.0-10.255.255.255");
}

static void test_exception_at_the_edges(void **state)
{
	/* an exception at the start and at the end of its enclosing prefix */
	resolve_expect(AF_INET, "10.0.0.0/8", "10.0.0.0/16", "10.1.0.0-10.255.255.255");
	resolve_expect(AF_INET, "10.0.0.0/8", "10.255.0.0/16", "10.0.0.0-10.254.255.255");
	/* two halves masqueraded: nothing of the /8 is left */
	resolve_expect(AF_INET, "10.0.0.0/8", "10.0.0.0/9 10.128.0.0/9", "");
	/* a single address */
	resolve_expect(AF_INET, "10.0.0.0/8", "10.0.0.1/32", "10.0.0.0 10.0.0.2-10.255.255.255");
}

static void test_adjacent_and_disjoint(void **state)
{
	/* adjacent kept prefixes still merge around an exception elsewhere */
	resolve_expect(AF_INET, "10.0.0.0/8 11.0.0.0/8", "11.1.0.0/16",
		       "10.0.0.0-11.0.255.255 11.2.0.0-11.255.255.255");
	/* a masquerade prefix adjacent to a kept one changes nothing */
	resolve_expect(AF_INET, "10.0.0.0/8", "11.0.0.0/8", "10.0.0.0/8");
	/* a masquerade prefix no kept prefix contains: masqueraded anyway */
	resolve_expect(AF_INET, "10.0.0.0/8", "192.168.0.0/16", "10.0.0.0/8");
	/* a kept prefix inside a masquerade one that is inside a kept one */
	resolve_expect(AF_INET, "172.16.0.0/12 172.20.5.0/24", "172.20.0.0/16",
		       "172.16.0.0/14 172.20.5.0/24 172.21.0.0-172.31.255.255");
}

static void test_equal_prefix_counts_as_kept(void **state)
{
	/* the config refuses it; the resolver's own rule is "kept" */
	resolve_expect(AF_INET, "10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8");
	resolve_expect(AF_INET, "10.0.0.0/8 10.1.0.0/16", "10.1.0.0/16", "10.0.0.0/8");
}

static void test_whole_space(void **state)
{
	/* masquerade only these: everything kept but the listed prefixes */
	resolve_expect(AF_INET, "0.0.0.0/0", "203.0.113.0/24 198.51.100.0/24",
		       "0.0.0.0-198.51.99.255 198.51.101.0-203.0.112.255 "
		       "203.0.114.0-255.255.255.255");
	/* the exception at the very bottom and the very top of the space */
	resolve_expect(AF_INET, "0.0.0.0/0", "0.0.0.0/8 255.0.0.0/8", "1.0.0.0-254.255.255.255");
	/* the whole space masqueraded, a hole kept */
	resolve_expect(AF_INET, "10.0.0.0/8", "0.0.0.0/0", "10.0.0.0/8");
	/* kept up to the top, with an exception below it */
	resolve_expect(AF_INET, "128.0.0.0/1", "200.0.0.0/8",
		       "128.0.0.0-199.255.255.255 201.0.0.0-255.255.255.255");
}

static void test_ipv6(void **state)
{
	resolve_expect(AF_INET6, "fd00::/8 fd00:1:2::/48", "fd00:1::/32",
		       "fd00::/32 fd00:1:2::/48 "
		       "fd00:2::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	resolve_expect(AF_INET6, "::/0", "2001:db8::/32",
		       "::-2001:db7:ffff:ffff:ffff:ffff:ffff:ffff "
		       "2001:db9::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	resolve_expect(AF_INET6, "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
		       "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	/* each family is resolved alone */
	resolve_expect(AF_INET6, "fd00::/8 10.0.0.0/8", "10.1.0.0/16 fd00::/16",
		       "fd01::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	resolve_expect(AF_INET, "fd00::/8 10.0.0.0/8", "fd00::/16", "10.0.0.0/8");
}

static void test_common(void **state)
{
	struct cidr k[LIST_MAX], m[LIST_MAX];
	size_t nk = parse_list("10.0.0.0/8 fd00::/8 10.1.0.0/16", k);
	size_t nm = parse_list("10.1.0.0/16 10.2.0.0/16 fd00::/8 fd00::/9", m);
	size_t at[LIST_MAX];

	assert_int_equal(lpm_common(k, nk, m, nm, at), 2);
	assert_int_equal(at[0], 2);
	assert_true(at[1] == SIZE_MAX);
	assert_int_equal(at[2], 1);
	assert_true(at[3] == SIZE_MAX);
	assert_int_equal(lpm_common(NULL, 0, m, nm, at), 0);
	assert_int_equal(lpm_common(k, nk, NULL, 0, at), 0);
}

/* The property: for random configs, every address gets from the resolved
 * set the answer a brute-force longest-prefix search gives. */

#define RND_MAX 3000 /* over 1024: IPv4 then takes the radix sort */

struct rnd_cfg {
	struct cidr c[RND_MAX];
	bool keep[RND_MAX];
	size_t n;
};

/* Does c contain a (len bytes)? */
static bool contains(const struct cidr *c, const uint8_t *a, size_t len)
{
	for (unsigned bit = 0; bit < c->plen; bit++) {
		unsigned byte = bit / 8, mask = 0x80u >> (bit % 8);
		if ((c->addr[byte] & mask) != (a[byte] & mask))
			return false;
	}
	return len > 0;
}

/* Kept by the longest containing prefix; equal prefixes: kept wins. */
static bool brute_force_keeps(const struct rnd_cfg *cfg, const uint8_t *a, size_t len)
{
	int best = -1;
	bool keep = false;

	for (size_t i = 0; i < cfg->n; i++) {
		if (!contains(&cfg->c[i], a, len))
			continue;
		if (cfg->c[i].plen > best || (cfg->c[i].plen == best && cfg->keep[i])) {
			best = cfg->c[i].plen;
			keep = cfg->keep[i];
		}
	}
	return best >= 0 && keep;
}

static bool in_ranges(const struct addr_range *r, size_t n, const uint8_t *a, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(r[mid].hi, a, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && memcmp(r[lo].lo, a, len) <= 0;
}

static void clear_host_bits(struct cidr *c)
{
	for (unsigned b = c->plen; b < cidr_addr_len(c->family) * 8; b++)
		c->addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
}

/* Prefixes under two roots, half of them inside one drawn before, so that
 * they nest deeply, touch and repeat. */
static void random_cidr(unsigned *seed, int family, const struct cidr *prev, size_t nprev,
			struct cidr *c)
{
	size_t len = cidr_addr_len(family);
	unsigned bits = (unsigned)len * 8;

	memset(c, 0, sizeof(*c));
	c->family = family;
	for (size_t i = 0; i < len; i++)
		c->addr[i] = (uint8_t)rand_r(seed);
	if (nprev && rand_r(seed) % 2) {
		const struct cidr *p = &prev[(size_t)rand_r(seed) % nprev];
		unsigned plen = p->plen + (unsigned)rand_r(seed) % 9;

		for (unsigned b = 0; b < p->plen; b++) { /* p's bits, then random ones */
			uint8_t m = (uint8_t)(0x80u >> (b % 8));
			c->addr[b / 8] = (uint8_t)((c->addr[b / 8] & ~m) | (p->addr[b / 8] & m));
		}
		c->plen = (uint8_t)(plen > bits ? bits : plen);
	} else {
		c->addr[0] = (uint8_t)(10 + rand_r(seed) % 2);
		c->plen =
			(uint8_t)(rand_r(seed) % 20 == 0 ? (unsigned)rand_r(seed) % 8
							 : 6 + (unsigned)rand_r(seed) % (bits - 5));
	}
	clear_host_bits(c);
}

/* An address near a boundary of one of the prefixes, or anywhere. */
static void random_addr(unsigned *seed, const struct rnd_cfg *cfg, size_t len, uint8_t *a)
{
	struct addr_range r;

	for (size_t i = 0; i < len; i++)
		a[i] = (uint8_t)rand_r(seed);
	if (rand_r(seed) % 4 == 0)
		return;
	cidr_to_range(&cfg->c[(size_t)rand_r(seed) % cfg->n], &r);
	switch (rand_r(seed) % 4) {
	case 0:
		memcpy(a, r.lo, len);
		break;
	case 1:
		memcpy(a, r.hi, len);
		break;
	case 2:
		memcpy(a, r.hi, len);
		(void)addr_increment(a, len); /* just after */
		break;
	default:
		memcpy(a, r.lo, len); /* just before */
		for (size_t i = len; i-- > 0 && a[i]-- == 0;)
			;
		break;
	}
}

static void check_sorted_merged(const struct addr_range *r, size_t n, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t next[16];
		assert_true(memcmp(r[i].lo, r[i].hi, len) <= 0);
		if (i == 0)
			continue;
		memcpy(next, r[i - 1].hi, len);
		assert_false(addr_increment(next, len));
		assert_true(memcmp(next, r[i].lo, len) < 0); /* neither overlapping nor touching */
	}
}

static void property_round(unsigned *seed, int family, size_t max)
{
	size_t len = cidr_addr_len(family), nk = 0, nm = 0;
	static struct cidr keep[RND_MAX], masq[RND_MAX];
	static struct rnd_cfg cfg;
	struct addr_range *r;
	int cnt;

	cfg.n = 1 + (size_t)rand_r(seed) % max;

	for (size_t i = 0; i < cfg.n; i++) {
		random_cidr(seed, family, cfg.c, i, &cfg.c[i]);
		cfg.keep[i] = rand_r(seed) % 2;
		if (cfg.keep[i])
			keep[nk++] = cfg.c[i];
		else
			masq[nm++] = cfg.c[i];
	}
	cnt = lpm_resolve(keep, nk, masq, nm, family, &r);
	assert_true(cnt >= 0 && (size_t)cnt <= 2 * cfg.n);
	check_sorted_merged(r, (size_t)cnt, len);
	for (int probe = 0; probe < 400; probe++) {
		uint8_t a[16] = { 0 };
		random_addr(seed, &cfg, len, a);
		struct cidr h = { .family = family, .plen = (uint8_t)(len * 8) };
		bool want = brute_force_keeps(&cfg, a, len), k = false;
		size_t at;
		char s[CIDR_STRLEN];

		memcpy(h.addr, a, len);
		cidr_format(&h, s);
		if (in_ranges(r, (size_t)cnt, a, len) != want)
			fail_msg("%s: the resolved set and the brute-force search disagree", s);
		/* masqctl explain's answer is the kernel set's */
		if ((lpm_decide(keep, nk, masq, nm, &h, &at, &k) && k) != want)
			fail_msg("%s: lpm_decide and the brute-force search disagree", s);
	}
	free(r);
}

static void test_property_random_configs(void **state)
{
	unsigned seed = 15;

	for (int round = 0; round < 3000; round++)
		property_round(&seed, round % 2 ? AF_INET6 : AF_INET, 40);
	for (int round = 0; round < 20; round++) /* large: the IPv4 radix sort */
		property_round(&seed, round % 2 ? AF_INET6 : AF_INET, RND_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_three_levels),
		cmocka_unit_test(test_exception_at_the_edges),
		cmocka_unit_test(test_adjacent_and_disjoint),
		cmocka_unit_test(test_equal_prefix_counts_as_kept),
		cmocka_unit_test(test_whole_space),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_common),
		cmocka_unit_test(test_property_random_configs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
