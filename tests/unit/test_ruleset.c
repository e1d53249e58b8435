/* The desired ruleset and its nft rendering. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/config.h"
#include "config/ruleset.h"

static char *render(const char *yaml, const struct masq_opts *o)
{
	struct masq_config *cfg;
	struct masq_ruleset *rs;
	struct diags d;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	diags_init(&d);
	if (yaml)
		assert_int_equal(cfg_parse_buf("t", yaml, strlen(yaml), o, &cfg, &d), 0);
	else
		assert_int_equal(cfg_new_defaults(o, &cfg), 0);
	assert_int_equal(masq_ruleset_build(cfg, o, &rs), 0);
	assert_int_equal(masq_ruleset_render(rs, f), 0);
	fclose(f);
	masq_ruleset_free(rs);
	cfg_free(cfg);
	return buf;
}

static const char expected_defaults[] =
	"table inet ip-masq-agent {\n"
	"\tcomment \"managed by masqd\"\n"
	"\tset nomasq4 {\n"
	"\t\ttype ipv4_addr\n"
	"\t\tflags interval\n"
	"\t\telements = { 10.0.0.0/8, 169.254.0.0/16,\n"
	"\t\t\t     172.16.0.0/12, 192.168.0.0/16 }\n"
	"\t}\n"
	"\n"
	"\tchain postrouting {\n"
	"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	"\t\tfib daddr type local return comment \"ip-masq-agent: local traffic is not subject "
	"to MASQUERADE\"\n"
	"\t\tip daddr @nomasq4 counter return comment \"ip-masq-agent: cluster-local traffic "
	"should not be subject to MASQUERADE\"\n"
	"\t\tmeta nfproto ipv4 counter masquerade fully-random comment \"ip-masq-agent: outbound "
	"traffic is subject to MASQUERADE (must be last in chain)\"\n"
	"\t}\n"
	"}\n";

static void test_defaults(void **state)
{
	struct masq_opts o = { .random_fully = true };
	char *out = render(NULL, &o);

	assert_string_equal(out, expected_defaults);
	free(out);
}

static void test_random_fully_false_is_bare_masquerade(void **state)
{
	struct masq_opts o = { .random_fully = false };
	char *out = render(NULL, &o);

	assert_non_null(strstr(out, "counter masquerade comment"));
	assert_null(strstr(out, "fully-random"));
	free(out);
}

static void test_ipv6_only_with_flag(void **state)
{
	struct masq_opts o4 = { .random_fully = true }, o6 = { .enable_ipv6 = true };
	char *out = render(NULL, &o4);

	assert_null(strstr(out, "nomasq6"));
	assert_null(strstr(out, "ipv6"));
	free(out);
	out = render("nonMasqueradeCIDRs: [10.0.0.0/8, 'fd00::/8', '2001:db8::/32']\n", &o6);
	assert_non_null(strstr(out, "\tset nomasq6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n"
				    "\t\telements = { 2001:db8::/32,\n\t\t\t     fd00::/8,\n"
				    "\t\t\t     fe80::/10 }\n\t}\n"));
	assert_non_null(strstr(out, "\t\tip6 daddr @nomasq6 counter return comment"));
	assert_non_null(strstr(out, "\t\tmeta nfproto ipv6 counter masquerade comment"));
	free(out);
}

static void test_link_local_follows_config(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true };
	char *out = render("nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqLinkLocal: true\n"
			   "masqLinkLocalIPv6: true\n",
			   &o);

	assert_null(strstr(out, "169.254"));
	assert_null(strstr(out, "fe80"));
	assert_non_null(strstr(out, "elements = { 10.0.0.0/8 }"));
	/* an empty IPv6 set has no elements line */
	assert_non_null(
		strstr(out, "\tset nomasq6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t}\n"));
	free(out);
}

static void test_merged_ranges_and_wrapping(void **state)
{
	struct masq_opts o = { 0 };
	char *out = render("nonMasqueradeCIDRs: [10.0.0.0/8, 11.0.0.0/8, 12.0.0.0/8, 1.1.1.1/32,"
			   " 10.5.0.0/16]\nmasqLinkLocal: true\n",
			   &o);

	assert_non_null(strstr(out, "elements = { 1.1.1.1, 10.0.0.0-12.255.255.255 }\n"));
	free(out);
	out = render("nonMasqueradeCIDRs: [1.0.0.0/8, 3.0.0.0/8, 5.0.0.0/8, 7.0.0.0/8, 9.0.0.0/8]\n"
		     "masqLinkLocal: true\n",
		     &o);
	assert_non_null(strstr(out, "elements = { 1.0.0.0/8, 3.0.0.0/8,\n\t\t\t     5.0.0.0/8, "
				    "7.0.0.0/8,\n\t\t\t     9.0.0.0/8 }\n"));
	free(out);
}

static void test_rule_order(void **state)
{
	struct masq_opts o = { .enable_ipv6 = true };
	struct masq_config *cfg;
	struct masq_ruleset *rs;

	assert_int_equal(cfg_new_defaults(&o, &cfg), 0);
	assert_int_equal(masq_ruleset_build(cfg, &o, &rs), 0);
	assert_int_equal(rs->nrules, 5);
	assert_int_equal(rs->rules[0].kind, MASQ_RULE_LOCAL_RETURN);
	assert_int_equal(rs->rules[1].kind, MASQ_RULE_NOMASQ_RETURN);
	assert_int_equal(rs->rules[1].family, AF_INET);
	assert_int_equal(rs->rules[2].kind, MASQ_RULE_MASQUERADE);
	assert_int_equal(rs->rules[3].family, AF_INET6);
	assert_int_equal(rs->rules[4].kind, MASQ_RULE_MASQUERADE);
	assert_int_equal(rs->n4, 4);
	assert_int_equal(rs->n6, 1); /* fe80::/10 only */
	masq_ruleset_free(rs);
	cfg_free(cfg);
}

static int ports(const char *s, struct masq_opts *o)
{
	char why[128] = "";
	int r = masq_ports_parse(s, o, why, sizeof(why));

	/* a failure always says why, a success never does */
	assert_int_equal(r < 0, why[0] != '\0');
	return r;
}

static void test_ports_parse(void **state)
{
	struct masq_opts o = { 0 };

	assert_int_equal(ports("1024-29999,32768-65535", &o), 0);
	assert_int_equal(o.nto_ports, 2);
	assert_int_equal(o.to_ports[0].first, 1024);
	assert_int_equal(o.to_ports[0].last, 29999);
	assert_int_equal(o.to_ports[1].first, 32768);
	assert_int_equal(o.to_ports[1].last, 65535);
	assert_int_equal(ports("1024", &o), 0); /* a single port, as upstream */
	assert_int_equal(o.nto_ports, 1);
	assert_int_equal(o.to_ports[0].first, 1024);
	assert_int_equal(o.to_ports[0].last, 1024);
	assert_int_equal(ports("1-1,65535,0080-00443", &o), 0); /* Go's Atoi takes leading zeros */
	assert_int_equal(o.nto_ports, 3);
	assert_int_equal(o.to_ports[0].last, 1);
	assert_int_equal(o.to_ports[1].first, 65535);
	assert_int_equal(o.to_ports[2].first, 80);
	assert_int_equal(o.to_ports[2].last, 443);
	assert_int_equal(ports("", &o), 0); /* the default: no port mapping */
	assert_int_equal(o.nto_ports, 0);
	assert_int_equal(ports("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", &o), 0);
	assert_int_equal(o.nto_ports, MASQ_PORT_RANGES_MAX);
	assert_int_equal(MASQ_PORT_RANGES_MAX, 16);
}

static void test_ports_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"0",
		"0-100",
		"65536",
		"1024-65536",
		"99999999999999999999",
		"2000-1000",
		"abc",
		"1024,",
		",1024",
		"1024,,2000",
		",",
		" 1024",
		"1024 ",
		"+1024",
		"-1024",
		"1024-",
		"1-2-3",
		"1024:2000",
		"1024-2000;",
		"0x400",
		"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
	};
	struct masq_opts o = { .nto_ports = 1, .to_ports = { { 7, 9 } } };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("--to-ports %s\n", bad[i]);
		assert_int_equal(ports(bad[i], &o), -EINVAL);
		/* on failure opts keep what they had */
		assert_int_equal(o.nto_ports, 1);
		assert_int_equal(o.to_ports[0].first, 7);
	}
}

static struct masq_ruleset *build_ports(const char *to_ports, bool ipv6)
{
	struct masq_opts o = { .enable_ipv6 = ipv6, .random_fully = true };
	struct masq_config *cfg;
	struct masq_ruleset *rs;

	assert_int_equal(ports(to_ports, &o), 0);
	assert_int_equal(cfg_new_defaults(&o, &cfg), 0);
	assert_int_equal(masq_ruleset_build(cfg, &o, &rs), 0);
	cfg_free(cfg);
	return rs;
}

static const char masq_comment[] =
	" comment \"ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in "
	"chain)\"\n";

static void test_to_ports_render(void **state)
{
	struct masq_opts o = { .random_fully = true };
	char *out, want[4096], *chain;
	size_t n = 0;

	assert_int_equal(ports("1024-29999,32768-65535", &o), 0);
	out = render(NULL, &o);
	chain = strstr(out, "\t\tip daddr @nomasq4 counter return");
	assert_non_null(chain);
	chain = strchr(chain, '\n') + 1;
	/* per protocol as upstream: the first range with probability 28976/61744,
	 * the second takes the rest; then the catch-all for other protocols */
	for (int p = 0; p < 3; p++) {
		const char *proto = p == 0 ? "tcp" : p == 1 ? "udp" : "sctp";
		n += (size_t)snprintf(
			want + n, sizeof(want) - n,
			"\t\tmeta nfproto ipv4 meta l4proto %s numgen random mod 61744 "
			"< 28976 counter masquerade to :1024-29999 fully-random%s"
			"\t\tmeta nfproto ipv4 meta l4proto %s counter masquerade to "
			":32768-65535 fully-random%s",
			proto, masq_comment, proto, masq_comment);
	}
	snprintf(want + n, sizeof(want) - n,
		 "\t\tmeta nfproto ipv4 counter masquerade fully-random%s\t}\n}\n", masq_comment);
	assert_string_equal(chain, want);
	free(out);

	o.random_fully = false;
	assert_int_equal(ports("1024", &o), 0);
	out = render(NULL, &o);
	/* one range takes every connection: no numgen; a single port has no "-LAST" */
	assert_non_null(strstr(out, "\t\tmeta nfproto ipv4 meta l4proto udp counter masquerade to "
				    ":1024 comment"));
	assert_null(strstr(out, "numgen"));
	assert_null(strstr(out, "fully-random"));
	free(out);
}

/* Upstream's test expectations (ip-masq-agent_test.go) for three ranges:
 * --probability 0.5807279140612474, then 0.7831739961759082, then none. */
static void test_to_ports_weights_as_upstream(void **state)
{
	struct masq_ruleset *rs = build_ports("1024-29999,32768-49151,61000-65535", false);
	const struct masq_rule *r = &rs->rules[2];

	assert_int_equal(rs->nrules, 1 + 1 + 3 * 3 + 1);
	for (int p = 0; p < 3; p++, r += 3) {
		assert_int_equal(r[0].kind, MASQ_RULE_MASQUERADE_PORTS);
		assert_int_equal(r[0].l4proto, masq_port_protos[p]);
		assert_int_equal(r[0].ng_mod, 28976 + 16384 + 4536);
		assert_int_equal(r[0].ng_lt, 28976);
		assert_true(fabs((double)r[0].ng_lt / r[0].ng_mod - 0.5807279140612474) < 1e-15);
		assert_int_equal(r[1].ng_mod, 16384 + 4536);
		assert_int_equal(r[1].ng_lt, 16384);
		assert_true(fabs((double)r[1].ng_lt / r[1].ng_mod - 0.7831739961759082) < 1e-15);
		assert_int_equal(r[2].ng_mod, 0); /* the last range: the rest */
		assert_int_equal(r[2].port_first, 61000);
		assert_int_equal(r[2].port_last, 65535);
	}
	assert_int_equal(masq_port_protos[0], IPPROTO_TCP);
	assert_int_equal(masq_port_protos[2], IPPROTO_SCTP);
	assert_int_equal(rs->rules[rs->nrules - 1].kind, MASQ_RULE_MASQUERADE);
	masq_ruleset_free(rs);
	/* two single ports: 0.5 each, as upstream's "1024,65535" case */
	rs = build_ports("1024,65535", false);
	assert_int_equal(rs->rules[2].ng_mod, 2);
	assert_int_equal(rs->rules[2].ng_lt, 1);
	masq_ruleset_free(rs);
}

static void test_to_ports_per_family_and_bound(void **state)
{
	struct masq_ruleset *rs = build_ports("1-2,3-4,5-6,7-8,9-10,11-12,13-14,15-16,17-18,19-20,"
					      "21-22,23-24,25-26,27-28,29-30,31-32",
					      true);
	struct masq_ruleset *plain = build_ports("", true), *other = build_ports("1-2", true);

	/* every rule but the two pod-source scope rules (test_podsrc.c) */
	assert_int_equal(rs->nrules, MASQ_RULES_MAX - 2);
	assert_int_equal(rs->rules[1 + 1 + 48].kind, MASQ_RULE_MASQUERADE);
	assert_int_equal(rs->rules[1 + 1 + 48].family, AF_INET);
	assert_int_equal(rs->rules[1 + 50 + 1].family, AF_INET6);
	assert_int_equal(rs->rules[1 + 50 + 1].kind, MASQ_RULE_MASQUERADE_PORTS);
	/* equal sizes: 1/16, 1/15, ... 1/2, then the rest */
	assert_int_equal(rs->rules[2].ng_mod, 32);
	assert_int_equal(rs->rules[2].ng_lt, 2);
	assert_int_equal(rs->rules[16].ng_mod, 4);
	assert_int_equal(rs->rules[17].ng_mod, 0);
	/* ports change the rules, not only the sets' elements */
	assert_false(masq_ruleset_same_shape(rs, plain));
	assert_false(masq_ruleset_same_shape(plain, other));
	assert_true(masq_ruleset_same_shape(rs, rs));
	masq_ruleset_free(rs);
	rs = build_ports("1-3", true);
	assert_false(masq_ruleset_same_shape(rs, other));
	masq_ruleset_free(rs);
	rs = build_ports("1-2", true);
	assert_true(masq_ruleset_same_shape(rs, other));
	masq_ruleset_free(rs);
	masq_ruleset_free(other);
	masq_ruleset_free(plain);
}

/* The whole space, one prefix or several adding up to it, turns
 * masquerading off for the family (masqd_masquerade_off). */
static void test_keeps_all(void **state)
{
	static const struct {
		const char *yaml;
		bool v4, v6;
	} cases[] = {
		{ "nonMasqueradeCIDRs: [0.0.0.0/0]\n", true, false },
		{ "nonMasqueradeCIDRs: [0.0.0.0/1, 128.0.0.0/1]\n", true, false },
		{ "nonMasqueradeCIDRs: [0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/2]\n", true, false },
		{ "nonMasqueradeCIDRs: [0.0.0.0/1, 192.0.0.0/2]\n", false, false },
		{ "nonMasqueradeCIDRs: ['::/0']\n", false, true },
		{ "nonMasqueradeCIDRs: [10.0.0.0/8]\n", false, false },
	};
	struct masq_opts o = { .enable_ipv6 = true };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct masq_config *cfg;
		struct masq_ruleset *rs;
		struct diags d;
		diags_init(&d);
		assert_int_equal(
			cfg_parse_buf("t", cases[i].yaml, strlen(cases[i].yaml), &o, &cfg, &d), 0);
		assert_int_equal(masq_ruleset_build(cfg, &o, &rs), 0);
		if (masq_ruleset_keeps_all(rs, AF_INET) != cases[i].v4 ||
		    masq_ruleset_keeps_all(rs, AF_INET6) != cases[i].v6)
			fail_msg("case %zu: %s", i, cases[i].yaml);
		masq_ruleset_free(rs);
		cfg_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keeps_all),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_random_fully_false_is_bare_masquerade),
		cmocka_unit_test(test_ipv6_only_with_flag),
		cmocka_unit_test(test_link_local_follows_config),
		cmocka_unit_test(test_merged_ranges_and_wrapping),
		cmocka_unit_test(test_rule_order),
		cmocka_unit_test(test_ports_parse),
		cmocka_unit_test(test_ports_parse_rejects),
		cmocka_unit_test(test_to_ports_render),
		cmocka_unit_test(test_to_ports_weights_as_upstream),
		cmocka_unit_test(test_to_ports_per_family_and_bound),
	};
	return cmocka_run_group_tests_name("ruleset", tests, NULL, NULL);
}
