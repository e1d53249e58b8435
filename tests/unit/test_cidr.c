#include "tests/unit/unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/cidr.h"

static void parse_ok(const char *in, int family, unsigned plen, const char *canon)
{
	char buf[CIDR_STRLEN];
	struct cidr c;

	assert_int_equal(cidr_parse(in, &c, NULL), 0);
	assert_int_equal(c.family, family);
	assert_int_equal(c.plen, plen);
	cidr_format(&c, buf);
	assert_string_equal(buf, canon);
}

static void test_parse_valid(void **state)
{
	parse_ok("10.0.0.0/8", AF_INET, 8, "10.0.0.0/8");
	parse_ok("0.0.0.0/0", AF_INET, 0, "0.0.0.0/0");
	parse_ok("192.168.1.7/32", AF_INET, 32, "192.168.1.7/32");
	parse_ok("fd00::/8", AF_INET6, 8, "fd00::/8");
	parse_ok("FD00:0:0::/16", AF_INET6, 16, "fd00::/16");
	parse_ok("::/0", AF_INET6, 0, "::/0");
	parse_ok("2001:db8::1/128", AF_INET6, 128, "2001:db8::1/128");
}

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0",	"10.0.0.0/33",	  "10.0.0.0/",	  "/8",		 "abc/8",
		"10.0.0/8",	"10.0.0.0/-1",	  "10.0.0.0/ 8",  " 10.0.0.0/8", "010.0.0.0/8",
		"fe80::/129",	"fe80::%eth0/64", "10.0.0.0/8/8", "10.0.0.0/8x", "",
		"1.2.3.4/1000",
	};
	struct cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cidr_parse(bad[i], &c, NULL) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void test_parse_misaligned_names_aligned_form(void **state)
{
	char aligned[CIDR_STRLEN];
	struct cidr c;

	assert_int_equal(cidr_parse("10.0.0.1/8", &c, aligned), -EDOM);
	assert_string_equal(aligned, "10.0.0.0/8");
	assert_int_equal(cidr_parse("172.16.5.0/12", &c, aligned), -EDOM);
	assert_string_equal(aligned, "172.16.0.0/12");
	assert_int_equal(cidr_parse("fd00::1/8", &c, aligned), -EDOM);
	assert_string_equal(aligned, "fd00::/8");
	assert_int_equal(cidr_parse("2001:db8::ff/121", &c, aligned), -EDOM);
	assert_string_equal(aligned, "2001:db8::80/121");
}

static void test_increment_carry(void **state)
{
	uint8_t a[4] = { 10, 0, 255, 255 };
	uint8_t b[16];

	assert_false(addr_increment(a, 4));
	assert_memory_equal(a, ((uint8_t[]){ 10, 1, 0, 0 }), 4);
	memset(b, 0xff, sizeof(b));
	b[0] = 0x20;
	assert_false(addr_increment(b, 16)); /* the carry crosses 15 bytes */
	assert_int_equal(b[0], 0x21);
	for (int i = 1; i < 16; i++)
		assert_int_equal(b[i], 0);
	memset(b, 0xff, sizeof(b));
	assert_true(addr_increment(b, 16)); /* wraps at the top */
}

/* Merge the given CIDRs of family and compare the ranges nft would print. */
static void merge_expect(int family, const char *const *in, size_t n, const char *const *want,
			 size_t nwant)
{
	struct cidr *c = calloc(n, sizeof(*c));
	struct addr_range *r;
	int cnt;

	for (size_t i = 0; i < n; i++)
		assert_int_equal(cidr_parse(in[i], &c[i], NULL), 0);
	cnt = cidr_merge(c, n, family, &r);
	assert_int_equal(cnt, (int)nwant);
	for (size_t i = 0; i < nwant; i++) {
		char buf[CIDR_STRLEN];
		range_format(&r[i], family, buf);
		assert_string_equal(buf, want[i]);
	}
	free(r);
	free(c);
}

#define MERGE(fam, in, want) \
	merge_expect(fam, in, sizeof(in) / sizeof(in[0]), want, sizeof(want) / sizeof(want[0]))

static void test_merge_overlap_containment(void **state)
{
	static const char *const in[] = { "10.1.0.0/16", "10.0.0.0/8", "10.200.3.0/24" };
	static const char *const want[] = { "10.0.0.0/8" };
	MERGE(AF_INET, in, want);
}

static void test_merge_adjacent(void **state)
{
	/* two halves become one prefix; adjacent non-aligned runs become a range */
	static const char *const in[] = { "10.128.0.0/9", "10.0.0.0/9", "11.0.0.0/8", "13.0.0.0/8",
					  "12.0.0.0/8" };
	static const char *const want[] = { "10.0.0.0-13.255.255.255" };
	MERGE(AF_INET, in, want);
	static const char *const in2[] = { "10.0.0.0/8", "11.0.0.0/8" };
	static const char *const want2[] = { "10.0.0.0/7" };
	MERGE(AF_INET, in2, want2);
}

static void test_merge_sorted_disjoint(void **state)
{
	static const char *const in[] = { "192.168.0.0/16", "1.2.3.4/32", "172.16.0.0/12",
					  "10.0.0.0/8", "1.2.3.6/32" };
	static const char *const want[] = { "1.2.3.4", "1.2.3.6", "10.0.0.0/8", "172.16.0.0/12",
					    "192.168.0.0/16" };
	MERGE(AF_INET, in, want);
}

static void test_merge_zero_prefix(void **state)
{
	static const char *const in[] = { "10.0.0.0/8", "0.0.0.0/0", "255.255.255.255/32" };
	static const char *const want[] = { "0.0.0.0/0" };
	MERGE(AF_INET, in, want);
	static const char *const in6[] = { "::/0", "fe80::/10" };
	static const char *const want6[] = { "::/0" };
	MERGE(AF_INET6, in6, want6);
}

static void test_merge_top_of_space(void **state)
{
	static const char *const in[] = { "255.255.255.255/32", "255.255.255.254/32" };
	static const char *const want[] = { "255.255.255.254/31" };
	MERGE(AF_INET, in, want);
	static const char *const in6[] = { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
					   "ffff::/16" };
	static const char *const want6[] = { "ffff::/16" };
	MERGE(AF_INET6, in6, want6);
}

static void test_merge_ipv6_carry(void **state)
{
	/* 2001:db8::/96 ends at 2001:db8::ffff:ffff; the next /96 starts after a
	 * carry across four bytes, so the two are adjacent and merge. */
	static const char *const in[] = { "2001:db8::1:0:0/96", "2001:db8::/96", "fe80::/10",
					  "2001:db8::1:0:0/128" };
	static const char *const want[] = { "2001:db8::/95", "fe80::/10" };
	MERGE(AF_INET6, in, want);
	static const char *const in2[] = { "2001:db8::/96", "2001:db8::2:0:0/96" };
	static const char *const want2[] = { "2001:db8::/96", "2001:db8::2:0:0/96" };
	MERGE(AF_INET6, in2, want2);
}

static void test_merge_family_filter(void **state)
{
	static const char *const in[] = { "10.0.0.0/8", "fd00::/8" };
	static const char *const want4[] = { "10.0.0.0/8" };
	static const char *const want6[] = { "fd00::/8" };
	MERGE(AF_INET, in, want4);
	MERGE(AF_INET6, in, want6);
	struct addr_range *r;
	assert_int_equal(cidr_merge(NULL, 0, AF_INET, &r), 0);
	assert_null(r);
}

static void test_merge_single_hosts(void **state)
{
	static const char *const in[] = { "10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32" };
	static const char *const want[] = { "10.0.0.1-10.0.0.3" };
	MERGE(AF_INET, in, want);
	static const char *const in6[] = { "2001:db8::1/128" };
	static const char *const want6[] = { "2001:db8::1" };
	MERGE(AF_INET6, in6, want6);
}

/* IPv4 is merged with a radix sort of its own: against a bitmap of a /16,
 * the merged ranges must be exactly the runs of covered addresses. */
static void test_merge_random_v4(void **state)
{
	static uint8_t covered[65536];
	static struct cidr c[6000];
	struct addr_range *r;
	unsigned seed = 1;

	for (int round = 0; round < 50; round++) {
		/* both sorts: under 1024 ranges and over */
		size_t n = 1 + (size_t)(rand_r(&seed) % (round % 2 ? 6000 : 600)), k = 0;
		int cnt;

		memset(covered, 0, sizeof(covered));
		for (size_t i = 0; i < n; i++) {
			unsigned plen = 16 + (unsigned)rand_r(&seed) % 17, size = 1u << (32 - plen);
			unsigned off = ((unsigned)rand_r(&seed) % 65536) & ~(size - 1);
			char s[32];
			snprintf(s, sizeof(s), "10.0.%u.%u/%u", off >> 8, off & 255, plen);
			assert_int_equal(cidr_parse(s, &c[i], NULL), 0);
			memset(covered + off, 1, size);
		}
		cnt = cidr_merge(c, n, AF_INET, &r);
		assert_true(cnt > 0);
		for (unsigned a = 0; a < 65536;) {
			unsigned b = a;
			if (!covered[a]) {
				a++;
				continue;
			}
			while (b + 1 < 65536 && covered[b + 1])
				b++;
			assert_true(k < (size_t)cnt);
			assert_int_equal(r[k].lo[2] << 8 | r[k].lo[3], a);
			assert_int_equal(r[k].hi[2] << 8 | r[k].hi[3], b);
			assert_int_equal(r[k].lo[0], 10);
			k++;
			a = b + 1;
		}
		assert_int_equal(k, (size_t)cnt);
		free(r);
	}
}

/* Ranges of CIDR strings (merged), for the diff tests. */
static size_t ranges(const char *const *in, size_t n, struct addr_range **ret)
{
	struct cidr c[16];
	int cnt;

	for (size_t i = 0; i < n; i++)
		assert_int_equal(cidr_parse(in[i], &c[i], NULL), 0);
	cnt = cidr_merge(c, n, AF_INET, ret);
	assert_true(cnt >= 0);
	return (size_t)cnt;
}

static const char *fmt_ranges(const struct addr_range *r, size_t n)
{
	static char out[512];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char b[CIDR_STRLEN];
		range_format(&r[i], AF_INET, b);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? " " : "", b);
	}
	return out;
}

static void diff_expect(const char *const *a, size_t na, const char *const *b, size_t nb,
			const char *want_del, const char *want_add)
{
	struct addr_range *ra = NULL, *rb = NULL, *del, *add;
	size_t nra = ranges(a, na, &ra), nrb = ranges(b, nb, &rb), nd, nad;

	assert_int_equal(range_diff(ra, nra, rb, nrb, 4, &del, &nd, &add, &nad), 0);
	assert_string_equal(fmt_ranges(del, nd), want_del);
	assert_string_equal(fmt_ranges(add, nad), want_add);
	free(ra);
	free(rb);
	free(del);
	free(add);
}

static void test_range_diff(void **state)
{
	static const char *const base[] = { "10.0.0.0/8", "192.168.0.0/16" };
	static const char *const added[] = { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16" };
	static const char *const extended[] = { "10.0.0.0/8", "11.0.0.0/8", "192.168.0.0/16" };
	static const char *const split[] = { "10.0.0.0/9", "10.192.0.0/10", "192.168.0.0/16" };

	diff_expect(base, 2, base, 2, "", "");
	diff_expect(base, 2, added, 3, "", "172.16.0.0/12"); /* add */
	diff_expect(added, 3, base, 2, "172.16.0.0/12", ""); /* delete */
	/* an interval that changed at all goes out whole and comes back whole */
	diff_expect(base, 2, extended, 3, "10.0.0.0/8", "10.0.0.0/7");
	diff_expect(base, 2, split, 3, "10.0.0.0/8", "10.0.0.0/9 10.192.0.0/10");
	diff_expect(base, 0, base, 2, "", "10.0.0.0/8 192.168.0.0/16");
	diff_expect(base, 2, base, 0, "10.0.0.0/8 192.168.0.0/16", "");
}

static void test_range_elems(void **state)
{
	static const char *const in[] = { "10.0.0.0/8", "255.255.255.0/24" };
	struct addr_range *r = NULL;
	struct set_elem *e;
	size_t n = ranges(in, 2, &r);
	int cnt = range_elems(r, n, 4, &e);

	/* 10/8: a start and an end (11.0.0.0); the last reaches the top: no end */
	assert_int_equal(cnt, 3);
	assert_memory_equal(e[0].key, ((uint8_t[]){ 10, 0, 0, 0 }), 4);
	assert_false(e[0].end);
	assert_memory_equal(e[1].key, ((uint8_t[]){ 11, 0, 0, 0 }), 4);
	assert_true(e[1].end);
	assert_memory_equal(e[2].key, ((uint8_t[]){ 255, 255, 255, 0 }), 4);
	assert_false(e[2].end);
	free(r);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_misaligned_names_aligned_form),
		cmocka_unit_test(test_increment_carry),
		cmocka_unit_test(test_merge_overlap_containment),
		cmocka_unit_test(test_merge_random_v4),
		cmocka_unit_test(test_merge_adjacent),
		cmocka_unit_test(test_merge_sorted_disjoint),
		cmocka_unit_test(test_merge_zero_prefix),
		cmocka_unit_test(test_merge_top_of_space),
		cmocka_unit_test(test_merge_ipv6_carry),
		cmocka_unit_test(test_merge_family_filter),
		cmocka_unit_test(test_merge_single_hosts),
		cmocka_unit_test(test_range_diff),
		cmocka_unit_test(test_range_elems),
	};
	return cmocka_run_group_tests_name("cidr", tests, NULL, NULL);
}
