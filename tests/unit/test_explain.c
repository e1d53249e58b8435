/* masqctl explain's answer: the decision for one destination, the prefix
 * that decided it with its origins, and the prefixes that lost. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/explain.h"
#include "config/ruleset.h"

static char dir[64], pol[64];
static struct sources_settings set;
static struct masq_sources *src;
static struct source_state st[SOURCE_COUNT];
static struct masq_merged m;

static int setup(void **state)
{
	unit_tmpdir(dir, "expl");
	unit_tmpdir(pol, "explpol");
	set = (struct sources_settings){ .config = dir,
					 .policy_dir = pol,
					 .max_cidrs_per_file = 64,
					 .dir_resync_ns = 30000000000LL,
					 .origin_lines = true,
					 .opts = { .enable_ipv6 = true, .random_fully = true } };
	src = sources_new();
	unit_put(dir, "ip-masq-a",
		 "nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 10.1.2.0/24\n  - \"fd10::/16\"\n"
		 "  - \"fd10:1:2::/48\"\n");
	unit_put(
		dir, "ip-masq-b",
		"masqueradeCIDRs:\n  - 10.1.0.0/16\n  - \"fd10:1::/32\"\nnonMasqueradeCIDRs: [10.0.0.0/8]\n");
	unit_put(
		pol, "p.yaml",
		"apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\nmetadata:\n  name: onprem\n"
		"spec:\n  action: NoSNAT\n  destinations:\n    - cidr: 10.1.5.0/24\n");
	return 0;
}

static int teardown(void **state)
{
	merged_clear(&m);
	sources_free(src);
	unit_rmdirs(dir, pol);
	return 0;
}

static void load(void)
{
	struct diags d;

	diags_init(&d);
	merged_clear(&m);
	assert_int_equal(sources_load(src, &set, &m, st, &d), 0);
}

/* "ROLE CIDR SIDE <origins>; ..." with the temporary directories cut out. */
static const char *explained(const char *dest, bool *ret_masq)
{
	static char out[2048];
	static const char *const roles[] = { "decided", "shorter", "elsewhere" };
	struct explain e;
	struct cidr d;
	size_t o = 0;

	assert_int_equal(cidr_parse_host(dest, &d), 0);
	assert_int_equal(explain_dest(&m, &set.opts, &d, NULL, &e), 0);
	*ret_masq = e.masqueraded;
	out[0] = '\0';
	for (size_t i = 0; i < e.n; i++) {
		char c[CIDR_STRLEN], origins[512], *p;
		cidr_format(&e.v[i].cidr, c);
		snprintf(origins, sizeof(origins), "%s", e.v[i].origins);
		while ((p = strstr(origins, dir))) /* "DIR/" */
			memmove(p, p + strlen(dir) + 1, strlen(p + strlen(dir) + 1) + 1);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s %s %s <%s>", i ? "; " : "",
				      roles[e.v[i].role], c, e.v[i].masquerade ? "masq" : "keep",
				      origins);
	}
	if (e.more)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "; %zu more", e.more);
	explain_clear(&e);
	return out;
}

static void nested_both_families(void **state)
{
	bool masq;

	load();
	assert_string_equal(explained("10.1.6.1", &masq),
			    "decided 10.1.0.0/16 masq <ip-masq-b:2>; "
			    "shorter 10.0.0.0/8 keep <ip-masq-a:2, ip-masq-b:4>; "
			    "elsewhere 10.1.2.0/24 keep <ip-masq-a:3>; "
			    "elsewhere 10.1.5.0/24 keep <EgressNATPolicy/onprem>");
	assert_true(masq);
	assert_string_equal(explained("10.1.2.9", &masq),
			    "decided 10.1.2.0/24 keep <ip-masq-a:3>; "
			    "shorter 10.1.0.0/16 masq <ip-masq-b:2>; "
			    "shorter 10.0.0.0/8 keep <ip-masq-a:2, ip-masq-b:4>");
	assert_false(masq);
	/* a NoSNAT destination is a non-masquerade prefix in the decision */
	assert_string_equal(explained("10.1.5.9", &masq),
			    "decided 10.1.5.0/24 keep <EgressNATPolicy/onprem>; "
			    "shorter 10.1.0.0/16 masq <ip-masq-b:2>; "
			    "shorter 10.0.0.0/8 keep <ip-masq-a:2, ip-masq-b:4>");
	assert_false(masq);
	assert_string_equal(explained("fd10:1:5::2", &masq),
			    "decided fd10:1::/32 masq <ip-masq-b:3>; "
			    "shorter fd10::/16 keep <ip-masq-a:4>; "
			    "elsewhere fd10:1:2::/48 keep <ip-masq-a:5>");
	assert_true(masq);
	assert_string_equal(explained("fd10:1:2::2", &masq),
			    "decided fd10:1:2::/48 keep <ip-masq-a:5>; "
			    "shorter fd10:1::/32 masq <ip-masq-b:3>; "
			    "shorter fd10::/16 keep <ip-masq-a:4>");
	assert_false(masq);
}

static void no_prefix_link_local_and_ipv6_off(void **state)
{
	struct explain e;
	struct cidr d;
	bool masq;

	load();
	assert_string_equal(explained("203.0.113.2", &masq), "");
	assert_true(masq);
	assert_string_equal(explained("169.254.169.254", &masq),
			    "decided 169.254.0.0/16 keep <link-local>");
	assert_false(masq);
	assert_string_equal(explained("fe80::1", &masq), "decided fe80::/10 keep <link-local>");
	set.opts.enable_ipv6 = false;
	unit_put(dir, "ip-masq-a", "nonMasqueradeCIDRs: [10.0.0.0/8]\n");
	unit_put(dir, "ip-masq-b", "masqueradeCIDRs: [10.1.0.0/16]\n");
	load();
	assert_int_equal(cidr_parse_host("2001:db8::1", &d), 0);
	assert_int_equal(explain_dest(&m, &set.opts, &d, NULL, &e), 0);
	assert_false(e.family_on);
	assert_false(e.masqueraded); /* untouched: it leaves with the pod IP */
	assert_int_equal(e.n, 0);
	explain_clear(&e);
}

/* Every answer agrees with the set the kernel gets. */
static void agrees_with_the_resolved_set(void **state)
{
	struct masq_ruleset *rs;
	unsigned seed = 7;

	load();
	assert_int_equal(masq_ruleset_build(m.cfg, &set.opts, &rs), 0);
	for (int i = 0; i < 20000; i++) {
		struct cidr d = { .family = AF_INET,
				  .plen = 32,
				  .addr = { 10, (uint8_t)(rand_r(&seed) % 3),
					    (uint8_t)rand_r(&seed), (uint8_t)rand_r(&seed) } };
		bool in = false;
		struct explain e;

		for (size_t k = 0; k < rs->n4; k++)
			in |= memcmp(rs->v4[k].lo, d.addr, 4) <= 0 &&
			      memcmp(d.addr, rs->v4[k].hi, 4) <= 0;
		assert_int_equal(explain_dest(&m, &set.opts, &d, NULL, &e), 0);
		assert_int_equal(in, !e.masqueraded);
		explain_clear(&e);
	}
	masq_ruleset_free(rs);
}

static void long_lists_are_capped(void **state)
{
	char text[4096] = "nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n";
	bool masq;

	for (int i = 1; i <= 20; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "  - 10.%d.0.0/16\n", i);
	unit_put(dir, "ip-masq-a", text);
	unit_put(dir, "ip-masq-b", "masqueradeCIDRs: [10.200.0.0/16]\n");
	load();
	/* 20 /16s, the exception and the policy's /24: 16 listed */
	assert_non_null(strstr(explained("10.100.0.1", &masq), "; 6 more"));
	assert_false(masq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(nested_both_families, setup, teardown),
		cmocka_unit_test_setup_teardown(no_prefix_link_local_and_ipv6_off, setup, teardown),
		cmocka_unit_test_setup_teardown(agrees_with_the_resolved_set, setup, teardown),
		cmocka_unit_test_setup_teardown(long_lists_are_capped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
