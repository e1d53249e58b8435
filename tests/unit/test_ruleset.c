/* The desired ruleset and its nft rendering. */
#include "tests/unit/unit.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_random_fully_false_is_bare_masquerade),
		cmocka_unit_test(test_ipv6_only_with_flag),
		cmocka_unit_test(test_link_local_follows_config),
		cmocka_unit_test(test_merged_ranges_and_wrapping),
		cmocka_unit_test(test_rule_order),
	};
	return cmocka_run_group_tests_name("ruleset", tests, NULL, NULL);
}
