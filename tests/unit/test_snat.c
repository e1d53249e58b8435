/* --snat-to-address and --snat-interface: the flags' checks, the primary
 * address of an interface, and the rules' rendering with SNAT. */
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/config.h"
#include "config/flags.h"
#include "config/ruleset.h"
#include "config/snat.h"

static char why[256];

static int parse(const char *iface, bool ipv6, struct snat_spec *ret, size_t n, ...)
{
	struct flag_strings a = { .n = n };
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		a.v[i] = va_arg(ap, const char *);
	va_end(ap);
	why[0] = '\0';
	return snat_spec_parse(&a, iface, ipv6, ret, why, sizeof(why));
}

static void test_addresses_accepted(void **state)
{
	struct snat_spec s;
	uint8_t v4[4], v6[16];

	assert_int_equal(parse(NULL, false, &s, 0), 0);
	assert_false(snat_spec_used(&s));
	assert_int_equal(parse("", false, &s, 0), 0);
	assert_false(snat_spec_used(&s));
	assert_int_equal(parse(NULL, true, &s, 2, "203.0.113.9", "2001:db8::9"), 0);
	inet_pton(AF_INET, "203.0.113.9", v4);
	inet_pton(AF_INET6, "2001:db8::9", v6);
	assert_true(s.to[0].on && s.to[1].on);
	assert_memory_equal(s.to[0].addr, v4, 4);
	assert_memory_equal(s.to[1].addr, v6, 16);
	assert_true(snat_spec_used(&s));
	assert_true(snat_spec_family(&s, 0) && snat_spec_family(&s, 1));
	/* one family only: the other keeps masquerading */
	assert_int_equal(parse(NULL, true, &s, 1, "2001:db8::9"), 0);
	assert_false(snat_spec_family(&s, 0));
	assert_true(snat_spec_family(&s, 1));
}

static void expect_rejected(int r, const char *needle)
{
	assert_int_equal(r, -EINVAL);
	if (!strstr(why, needle))
		fail_msg("\"%s\" does not say \"%s\"", why, needle);
}

static void test_addresses_rejected(void **state)
{
	struct snat_spec s = { 0 };

	expect_rejected(parse(NULL, true, &s, 1, "203.0.113.9/32"), "without a prefix length");
	expect_rejected(parse(NULL, true, &s, 1, "node-ip"), "is not an IPv4 or IPv6 address");
	expect_rejected(parse(NULL, true, &s, 1, ""), "is not an IPv4 or IPv6 address");
	expect_rejected(parse(NULL, true, &s, 1, " 203.0.113.9"), "is not an IPv4");
	expect_rejected(parse(NULL, true, &s, 1, "203.0.113.256"), "is not an IPv4");
	expect_rejected(parse(NULL, true, &s, 1, "0.0.0.0"), "not a host address");
	expect_rejected(parse(NULL, true, &s, 1, "127.0.0.1"), "loopback");
	expect_rejected(parse(NULL, true, &s, 1, "224.0.0.1"), "multicast");
	expect_rejected(parse(NULL, true, &s, 1, "255.255.255.255"), "broadcast");
	expect_rejected(parse(NULL, true, &s, 1, "::"), "unspecified");
	expect_rejected(parse(NULL, true, &s, 1, "::1"), "loopback");
	expect_rejected(parse(NULL, true, &s, 1, "ff02::1"), "multicast");
	expect_rejected(parse(NULL, true, &s, 1, "fe80::1"), "link-local");
	expect_rejected(parse(NULL, true, &s, 1, "::ffff:203.0.113.9"), "give the IPv4 address");
	/* IPv6 is upstream's opt-in */
	expect_rejected(parse(NULL, false, &s, 1, "2001:db8::9"), "needs --enable-ipv6");
	/* once per family, and the message names both */
	expect_rejected(parse(NULL, true, &s, 2, "203.0.113.9", "203.0.113.10"),
			"two IPv4 addresses (203.0.113.9 and 203.0.113.10)");
	expect_rejected(parse(NULL, true, &s, 3, "2001:db8::9", "203.0.113.9", "2001:db8::a"),
			"two IPv6 addresses");
	assert_false(s.to[0].on); /* nothing is written on failure */
}

static void test_interface(void **state)
{
	struct snat_spec s;
	char long_name[80];

	assert_int_equal(parse("eth1", false, &s, 0), 0);
	assert_string_equal(s.iface, "eth1");
	assert_true(snat_spec_family(&s, 0));
	assert_false(snat_spec_family(&s, 1)); /* IPv6 only with --enable-ipv6 */
	assert_int_equal(parse("eth1", true, &s, 0), 0);
	assert_true(snat_spec_family(&s, 1));
	assert_int_equal(parse("123456789012345", true, &s, 0), 0); /* IFNAMSIZ - 1 */
	expect_rejected(parse("1234567890123456", true, &s, 0), "is not 1 to 15 bytes long");
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	expect_rejected(parse(long_name, true, &s, 0), "...\" is not 1 to 15 bytes");
	expect_rejected(parse("eth0:1", true, &s, 0), "is not an interface name");
	expect_rejected(parse("a/b", true, &s, 0), "is not an interface name");
	expect_rejected(parse("a b", true, &s, 0), "is not an interface name");
	expect_rejected(parse("..", true, &s, 0), "is not an interface name");
	/* both ways at once: refused rather than one silently winning */
	expect_rejected(parse("eth1", true, &s, 1, "203.0.113.9"),
			"--snat-to-address and --snat-interface exclude each other");
}

static void test_flag_repeats(void **state)
{
	struct flag_strings a = { 0 };
	const char *iface = NULL;
	const struct flag_def defs[] = { MASQ_SNAT_FLAGS(a, iface), FLAGS_END };
	const char *argv[] = { "masqd",
			       "--snat-to-address",
			       "203.0.113.9",
			       "--snat-to-address=2001:db8::9",
			       "--snat-interface",
			       "eth1",
			       "--snat-to-address",
			       "x",
			       "--snat-to-address",
			       "y",
			       "--snat-to-address",
			       "z" };
	struct flag_ctx ctx;

	assert_int_equal(flags_parse(defs, 6, (char **)argv, 1, &ctx), 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.v[0], "203.0.113.9");
	assert_string_equal(a.v[1], "2001:db8::9");
	assert_string_equal(iface, "eth1");
	a.n = 0;
	/* bounded: the fifth use is refused by the parser itself */
	assert_int_equal(flags_parse(defs, 12, (char **)argv, 1, &ctx), -EINVAL);
	assert_non_null(strstr(ctx.err, "--snat-to-address given more than 4 times"));
}

static struct snat_cand cand(int ifindex, const char *addr, uint32_t flags, uint8_t scope,
			     uint32_t cstamp)
{
	struct snat_cand c = {
		.ifindex = ifindex, .flags = flags, .scope = scope, .cstamp = cstamp
	};

	c.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(c.family, addr, c.addr), 1);
	return c;
}

static void test_primary(void **state)
{
	struct snat_cand c[] = {
		cand(2, "10.0.0.1", 0, RT_SCOPE_UNIVERSE, 500), /* another interface */
		cand(3, "203.0.113.7", IFA_F_SECONDARY, RT_SCOPE_UNIVERSE, 100),
		cand(3, "127.0.0.9", 0, RT_SCOPE_HOST, 50),
		cand(3, "203.0.113.1", IFA_F_PERMANENT, RT_SCOPE_UNIVERSE, 200),
		cand(3, "198.51.100.1", 0, RT_SCOPE_UNIVERSE, 300), /* a second subnet */
		cand(3, "fe80::1", 0, RT_SCOPE_LINK, 10),
		cand(3, "2001:db8::7", 0, RT_SCOPE_UNIVERSE, 400),
		cand(3, "2001:db8::1", IFA_F_TENTATIVE, RT_SCOPE_UNIVERSE, 100),
		cand(3, "2001:db8::5", 0, RT_SCOPE_UNIVERSE, 400),
	};
	size_t n = sizeof(c) / sizeof(c[0]);

	/* IPv4: no secondary, no host scope; the oldest primary */
	assert_int_equal(snat_pick_primary(c, n, 3, AF_INET), 3);
	c[3].cstamp = 999; /* 198.51.100.1 is older now */
	assert_int_equal(snat_pick_primary(c, n, 3, AF_INET), 4);
	/* IPv6: no link-local, none in DAD; equal ages: the lowest address */
	assert_int_equal(snat_pick_primary(c, n, 3, AF_INET6), 8);
	c[7].flags = 0; /* DAD done: the oldest wins */
	assert_int_equal(snat_pick_primary(c, n, 3, AF_INET6), 7);
	c[7].flags = IFA_F_DADFAILED;
	assert_int_equal(snat_pick_primary(c, n, 3, AF_INET6), 8);
	/* past its preferred lifetime, or a privacy address: never the primary */
	c[8].flags = IFA_F_DEPRECATED;
	assert_int_equal(snat_pick_primary(c, n, 3, AF_INET6), 6);
	c[6].flags = IFA_F_TEMPORARY;
	assert_int_equal(snat_pick_primary(c, n, 3, AF_INET6), -1);
	assert_true(snat_find(c, n, AF_INET6, c[8].addr)); /* chosen by hand: still used */
	assert_int_equal(snat_pick_primary(c, n, 4, AF_INET), -1);
	assert_int_equal(snat_pick_primary(c, 0, 3, AF_INET), -1);
	/* --snat-to-address: anywhere on the node, any scope, once usable */
	assert_true(snat_find(c, n, AF_INET, c[1].addr));
	assert_true(snat_find(c, n, AF_INET, c[0].addr));
	assert_false(snat_find(c, n, AF_INET6, c[7].addr));
	assert_false(snat_find(c, n, AF_INET6, c[0].addr));
}

static void test_action_format(void **state)
{
	struct masq_snat s4 = { .on = true }, s6 = { .on = true }, off = { 0 };
	char buf[SNAT_ACTION_LEN];

	inet_pton(AF_INET, "203.0.113.9", s4.addr);
	inet_pton(AF_INET6, "2001:db8::9", s6.addr);
	snat_action_format(&s4, AF_INET, 0, 0, buf);
	assert_string_equal(buf, "snat ip to 203.0.113.9");
	snat_action_format(&s4, AF_INET, 1024, 2047, buf);
	assert_string_equal(buf, "snat ip to 203.0.113.9:1024-2047");
	snat_action_format(&s6, AF_INET6, 0, 0, buf);
	assert_string_equal(buf, "snat ip6 to 2001:db8::9");
	snat_action_format(&s6, AF_INET6, 3000, 3000, buf);
	assert_string_equal(buf, "snat ip6 to [2001:db8::9]:3000");
	snat_action_format(&off, AF_INET6, 3000, 3001, buf);
	assert_string_equal(buf, "masquerade to :3000-3001");
	snat_action_format(NULL, AF_INET, 0, 0, buf);
	assert_string_equal(buf, "masquerade");
}

static char *render(const struct masq_ruleset *rs)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(masq_ruleset_render(rs, f), 0);
	fclose(f);
	return text;
}

static void test_ruleset_with_snat(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true, .random_fully = true };
	struct masq_snat s4 = { .on = true };
	struct masq_config *cfg;
	struct masq_ruleset *rs, *plain;
	char *text;

	inet_pton(AF_INET, "203.0.113.9", s4.addr);
	assert_int_equal(masq_ports_parse("1024-2047", &o, why, sizeof(why)), 0);
	assert_int_equal(cfg_new_defaults(&o, &cfg), 0);
	assert_int_equal(masq_ruleset_build(cfg, &o, &rs), 0);
	assert_int_equal(masq_ruleset_build(cfg, &o, &plain), 0);
	masq_ruleset_set_snat(rs, AF_INET, &s4);
	text = render(rs);
	assert_non_null(strstr(text, "meta nfproto ipv4 counter snat ip to 203.0.113.9 "
				     "fully-random comment"));
	assert_non_null(strstr(text, "meta nfproto ipv4 meta l4proto tcp counter snat ip to "
				     "203.0.113.9:1024-2047 fully-random comment"));
	/* IPv6 was not asked for: it still masquerades */
	assert_non_null(strstr(text, "meta nfproto ipv6 counter masquerade fully-random"));
	assert_null(strstr(text, "ipv4 meta l4proto udp counter masquerade"));
	free(text);
	/* the address changes the rules, not only the sets: a full replace */
	assert_false(masq_ruleset_same_shape(rs, plain));
	masq_ruleset_set_snat(rs, AF_INET, NULL);
	assert_true(masq_ruleset_same_shape(rs, plain));
	masq_ruleset_free(rs);
	masq_ruleset_free(plain);
	cfg_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses_accepted),
		cmocka_unit_test(test_addresses_rejected),
		cmocka_unit_test(test_interface),
		cmocka_unit_test(test_flag_repeats),
		cmocka_unit_test(test_primary),
		cmocka_unit_test(test_action_format),
		cmocka_unit_test(test_ruleset_with_snat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
