/* masqueradeCIDRs: the key as the reader takes it (positions, located
 * errors, limits), merged across sources, and resolved into the ruleset. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "config/ruleset.h"
#include "config/sources.h"

static const struct masq_opts v4_opts = { .random_fully = true };
static const struct masq_opts v6_opts = { .enable_ipv6 = true, .random_fully = true };

static struct diags d;

static int parse(const char *text, const struct masq_opts *o, struct masq_config **cfg)
{
	diags_init(&d);
	*cfg = NULL;
	return cfg_parse_buf("cfg.yaml", text, strlen(text), o, cfg, &d);
}

static int parse_member(const char *text, unsigned max, struct masq_config **cfg)
{
	diags_init(&d);
	*cfg = NULL;
	return cfg_parse_member("dir/ip-masq-x", text, strlen(text), &v6_opts, max, cfg, &d);
}

static const char *list_of(const struct cidr *c, size_t n)
{
	static char out[2][1024];
	static int k;
	size_t o = 0;

	k ^= 1;
	out[k][0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char buf[CIDR_STRLEN];
		cidr_format(&c[i], buf);
		o += (size_t)snprintf(out[k] + o, sizeof(out[k]) - o, "%s%s", i ? "," : "", buf);
	}
	return out[k];
}

/* Every problem, "FILE:LINE:COL: message" joined by "\n". */
static const char *diags_text(void)
{
	static char out[4096];
	size_t o = 0;

	out[0] = '\0';
	diag_for_each(g, &d) {
		char buf[1024];
		diag_format(g, buf, sizeof(buf));
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", o ? "\n" : "", buf);
	}
	return out;
}

/* The non-masquerade set of family as nft prints it, space-separated. */
static const char *resolved(const struct masq_config *cfg, const struct masq_opts *o, int family)
{
	static char out[1024];
	struct masq_ruleset *rs;
	const struct addr_range *r;
	size_t n, k = 0;

	assert_int_equal(masq_ruleset_build(cfg, o, &rs), 0);
	r = family == AF_INET ? rs->v4 : rs->v6;
	n = family == AF_INET ? rs->n4 : rs->n6;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char b[CIDR_STRLEN];
		range_format(&r[i], family, b);
		k += (size_t)snprintf(out + k, sizeof(out) - k, "%s%s", i ? " " : "", b);
	}
	masq_ruleset_free(rs);
	return out;
}

static void parse_both_lists(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 10.1.2.0/24\n"
			       "masqueradeCIDRs:\n  - 10.1.0.0/16\n  - \"fd00:1::/32\"\n"
			       "  - 10.1.0.0/16\n",
			       &v6_opts, &cfg),
			 0);
	assert_string_equal(list_of(cfg->cidrs, cfg->ncidrs), "10.0.0.0/8,10.1.2.0/24");
	assert_string_equal(list_of(cfg->masq_cidrs, cfg->nmasq), "10.1.0.0/16,fd00:1::/32");
	/* positions of the entries kept, for errors found after a merge */
	assert_int_equal(cfg->masq_pos[0].line, 5);
	assert_int_equal(cfg->masq_pos[0].col, 5);
	assert_int_equal(cfg->masq_pos[1].line, 6);
	assert_string_equal(diags_text(),
			    "cfg.yaml:7:5: warning: duplicate CIDR 10.1.0.0/16 ignored");
	/* the three levels, link-local kept as today */
	assert_string_equal(resolved(cfg, &v6_opts, AF_INET),
			    "10.0.0.0/16 10.1.2.0/24 10.2.0.0-10.255.255.255 169.254.0.0/16");
	assert_string_equal(resolved(cfg, &v6_opts, AF_INET6), "fe80::/10");
	cfg_free(cfg);
	/* JSON, as a ConfigMap may hold it; masqueradeCIDRs alone keeps the defaults */
	assert_int_equal(parse("{\"masqueradeCIDRs\": [\"10.9.0.0/16\"]}", &v4_opts, &cfg), 0);
	assert_string_equal(list_of(cfg->cidrs, cfg->ncidrs),
			    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16");
	assert_string_equal(resolved(cfg, &v4_opts, AF_INET),
			    "10.0.0.0-10.8.255.255 10.10.0.0-10.255.255.255 169.254.0.0/16 "
			    "172.16.0.0/12 192.168.0.0/16");
	cfg_free(cfg);
	/* null and [] are an empty list */
	assert_int_equal(parse("masqueradeCIDRs:\nnonMasqueradeCIDRs: []\n", &v4_opts, &cfg), 0);
	assert_int_equal(cfg->nmasq, 0);
	cfg_free(cfg);
}

static void masquerade_only_these(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("nonMasqueradeCIDRs: [0.0.0.0/0, \"::/0\"]\n"
			       "masqueradeCIDRs: [203.0.113.0/24, \"2001:db8::/32\"]\n",
			       &v6_opts, &cfg),
			 0);
	assert_string_equal(resolved(cfg, &v6_opts, AF_INET),
			    "0.0.0.0-203.0.112.255 203.0.114.0-255.255.255.255");
	assert_string_equal(resolved(cfg, &v6_opts, AF_INET6),
			    "::-2001:db7:ffff:ffff:ffff:ffff:ffff:ffff "
			    "2001:db9::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	cfg_free(cfg);
}

static void same_prefix_is_a_located_error(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 10.1.0.0/16\n"
			       "masqueradeCIDRs: [10.2.0.0/16, 10.1.0.0/16]\n",
			       &v4_opts, &cfg),
			 -EINVAL);
	assert_null(cfg);
	assert_string_equal(diags_text(),
			    "cfg.yaml:4:32: 10.1.0.0/16 is in both masqueradeCIDRs and "
			    "nonMasqueradeCIDRs (line 3); the longest prefix decides, so keep it "
			    "in one list");
	/* the defaults are non-masquerade prefixes too */
	assert_int_equal(parse("masqueradeCIDRs:\n  - 172.16.0.0/12\n", &v4_opts, &cfg), -EINVAL);
	assert_string_equal(diags_text(),
			    "cfg.yaml:2:5: 172.16.0.0/12 is in masqueradeCIDRs and in the default "
			    "nonMasqueradeCIDRs; list nonMasqueradeCIDRs without it");
	/* and so is link-local, unless masqueraded by its own key */
	assert_int_equal(
		parse("masqueradeCIDRs: [169.254.0.0/16, \"fe80::/10\"]\n", &v6_opts, &cfg),
		-EINVAL);
	assert_string_equal(diags_text(),
			    "cfg.yaml:1:19: 169.254.0.0/16 in masqueradeCIDRs is the link-local "
			    "range; set masqLinkLocal: true to masquerade it\n"
			    "cfg.yaml:1:35: fe80::/10 in masqueradeCIDRs is the link-local range; "
			    "set masqLinkLocalIPv6: true to masquerade it");
	assert_int_equal(
		parse("masqLinkLocal: true\nmasqueradeCIDRs: [169.254.0.0/16]\n", &v4_opts, &cfg),
		0);
	assert_string_equal(resolved(cfg, &v4_opts, AF_INET),
			    "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16");
	cfg_free(cfg);
	/* a longer or shorter prefix is no conflict: that is what the key is for */
	assert_int_equal(parse("nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqueradeCIDRs: [10.0.0.0/9, "
			       "0.0.0.0/0]\n",
			       &v4_opts, &cfg),
			 0);
	assert_string_equal(resolved(cfg, &v4_opts, AF_INET), "10.128.0.0/9 169.254.0.0/16");
	cfg_free(cfg);
	/* in a directory's file: its own lists (link-local waits for the merge) */
	assert_int_equal(parse_member("nonMasqueradeCIDRs: [\"fd00::/8\"]\n"
				      "masqueradeCIDRs: [\"fd00::/8\", 169.254.0.0/16]\n",
				      64, &cfg),
			 -EINVAL);
	assert_string_equal(
		diags_text(),
		"dir/ip-masq-x:2:19: fd00::/8 is in both masqueradeCIDRs and "
		"nonMasqueradeCIDRs (line 1); the longest prefix decides, so keep it in "
		"one list");
}

static void limits_count_both_lists(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("cidrLimit: 3\nnonMasqueradeCIDRs: [10.0.0.0/8, 11.0.0.0/8]\n"
			       "masqueradeCIDRs: [10.1.0.0/16, 11.1.0.0/16]\n",
			       &v4_opts, &cfg),
			 -EINVAL);
	assert_string_equal(diags_text(), "cfg.yaml:3:1: nonMasqueradeCIDRs and masqueradeCIDRs "
					  "have 4 entries together, over the cidrLimit of 3");
	assert_int_equal(parse("cidrLimit: 3\nnonMasqueradeCIDRs: [10.0.0.0/8, 11.0.0.0/8]\n"
			       "masqueradeCIDRs: [10.1.0.0/16]\n",
			       &v4_opts, &cfg),
			 0);
	cfg_free(cfg);
	/* the defaults count with them, as upstream counts its defaults */
	assert_int_equal(parse("cidrLimit: 4\nmasqueradeCIDRs: [10.1.0.0/16, 10.2.0.0/16]\n",
			       &v4_opts, &cfg),
			 -EINVAL);
	assert_string_equal(
		diags_text(),
		"cfg.yaml:1:1: cidrLimit 4 is below the 3 default nonMasqueradeCIDRs "
		"(RFC 1918) and the 2 masqueradeCIDRs together; list nonMasqueradeCIDRs "
		"or raise cidrLimit");
	/* the default limit, 64, when cidrLimit is not written: at masqueradeCIDRs */
	{
		char text[2048] = "masqueradeCIDRs:\n";
		for (int i = 0; i < 62; i++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text),
				 "  - 10.%d.0.0/16\n", i + 1);
		assert_int_equal(parse(text, &v4_opts, &cfg), -EINVAL);
		assert_true(strstr(diags_text(),
				   "cfg.yaml:1:1: cidrLimit 64 is below the 3 "
				   "default nonMasqueradeCIDRs (RFC 1918) and the 62 "));
	}
	/* --max-cidrs-per-file in a directory */
	assert_int_equal(parse_member("nonMasqueradeCIDRs: [10.0.0.0/8]\n"
				      "masqueradeCIDRs: [10.1.0.0/16, 10.2.0.0/16]\n",
				      2, &cfg),
			 -EINVAL);
	assert_string_equal(
		diags_text(),
		"dir/ip-masq-x:2:1: nonMasqueradeCIDRs and masqueradeCIDRs have 3 entries "
		"together, over the per-file limit (--max-cidrs-per-file) of 2");
}

static void malformed_entries(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("masqueradeCIDRs: 10.0.0.0/8\n", &v4_opts, &cfg), -EINVAL);
	assert_string_equal(diags_text(),
			    "cfg.yaml:1:18: masqueradeCIDRs must be a list of CIDR strings");
	assert_int_equal(parse("masqueradeCIDRs: [[10.0.0.0/8], 10.0.0.1/8, x, \"fd00::/8\"]\n",
			       &v4_opts, &cfg),
			 -EINVAL);
	assert_string_equal(
		diags_text(),
		"cfg.yaml:1:19: each masqueradeCIDRs entry must be a string\n"
		"cfg.yaml:1:33: CIDR \"10.0.0.1/8\" has host bits set; the aligned form "
		"is 10.0.0.0/8\n"
		"cfg.yaml:1:45: invalid CIDR \"x\"\n"
		"cfg.yaml:1:48: IPv6 CIDR fd00::/8 needs the --enable-ipv6 flag");
	assert_int_equal(parse("masqueradeCIDRs: []\nmasqueradeCIDRs: []\n", &v4_opts, &cfg),
			 -EINVAL);
	assert_true(strstr(diags_text(), "cfg.yaml:2:1: duplicate key \"masqueradeCIDRs\""));
}

static void equality_sees_either_list(void **state)
{
	struct masq_config *a, *b;

	assert_int_equal(parse("masqueradeCIDRs: [10.1.0.0/16]\n", &v4_opts, &a), 0);
	assert_int_equal(parse("masqueradeCIDRs: [10.2.0.0/16]\n", &v4_opts, &b), 0);
	assert_false(cfg_equal(a, b));
	cfg_free(b);
	assert_int_equal(parse("\n\nmasqueradeCIDRs: [10.1.0.0/16]\n", &v4_opts, &b), 0);
	assert_true(cfg_equal(a, b)); /* positions are not the config */
	cfg_free(b);
	assert_int_equal(parse("{}", &v4_opts, &b), 0);
	assert_false(cfg_equal(a, b));
	cfg_free(a);
	cfg_free(b);
}

/* The incremental sync sends only set elements when the shapes agree
 * (agent/reconcile.c, update_sets): a change of masqueradeCIDRs alone must
 * keep the shape and change the elements, both ways. */
static void masquerade_change_is_a_set_change(void **state)
{
	static const char *const texts[] = {
		"nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.2.0/24]\n",
		"nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.2.0/24]\nmasqueradeCIDRs: [10.1.0.0/16]\n",
		"nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.2.0/24]\nmasqueradeCIDRs: [10.1.0.0/17]\n",
	};
	struct masq_ruleset *rs[3];

	for (int i = 0; i < 3; i++) {
		struct masq_config *cfg;
		assert_int_equal(parse(texts[i], &v4_opts, &cfg), 0);
		assert_int_equal(masq_ruleset_build(cfg, &v4_opts, &rs[i]), 0);
		cfg_free(cfg);
	}
	for (int i = 0; i < 3; i++) {
		int j = (i + 1) % 3;
		struct addr_range *del, *add;
		size_t ndel, nadd;

		assert_true(masq_ruleset_same_shape(rs[i], rs[j]));
		assert_int_equal(range_diff(rs[i]->v4, rs[i]->n4, rs[j]->v4, rs[j]->n4, 4, &del,
					    &ndel, &add, &nadd),
				 0);
		assert_true(ndel + nadd > 0);
		free(del);
		free(add);
	}
	for (int i = 0; i < 3; i++)
		masq_ruleset_free(rs[i]);
}

/* Sources: a directory and policy files, merged, then resolved. */

static char dir[64], pol[64];
static struct sources_settings set;
static struct masq_sources *src;
static struct source_state st[SOURCE_COUNT];

static int setup(void **state)
{
	unit_tmpdir(dir, "lpm");
	unit_tmpdir(pol, "lpmpol");
	set = (struct sources_settings){ .config = dir,
					 .max_cidrs_per_file = 64,
					 .dir_resync_ns = 30000000000LL,
					 .opts = v6_opts };
	src = sources_new();
	return 0;
}

static int teardown(void **state)
{
	sources_free(src);
	unit_rmdirs(dir, pol);
	return 0;
}

/* Every problem with the temporary directories' names cut out. */
static const char *diags_short(void)
{
	static char out[4096];
	const char *s = diags_text();
	size_t o = 0;

	while (*s && o + 1 < sizeof(out)) {
		if (strncmp(s, dir, strlen(dir)) == 0)
			s += strlen(dir) + 1;
		else if (strncmp(s, pol, strlen(pol)) == 0)
			s += strlen(pol) + 1;
		else
			out[o++] = *s++;
	}
	out[o] = '\0';
	return out;
}

static void directory_union_then_resolve(void **state)
{
	struct masq_merged m;

	unit_put(dir, "ip-masq-a", "nonMasqueradeCIDRs: [10.0.0.0/8, \"fd00::/8\"]\n");
	unit_put(dir, "ip-masq-b", "masqueradeCIDRs: [10.1.0.0/16, \"fd00:1::/32\"]\n");
	unit_put(dir, "ip-masq-c",
		 "nonMasqueradeCIDRs: [10.1.2.0/24]\nmasqueradeCIDRs: [10.1.0.0/16]\n");
	diags_init(&d);
	assert_int_equal(sources_load(src, &set, &m, st, &d), 0);
	assert_string_equal(list_of(m.cfg->masq_cidrs, m.cfg->nmasq), "10.1.0.0/16,fd00:1::/32");
	assert_int_equal(m.nmasq_origins, 2);
	assert_non_null(strstr(m.masq_origins[0], "ip-masq-b, "));
	assert_non_null(strstr(m.masq_origins[0], "ip-masq-c"));
	assert_string_equal(resolved(m.cfg, &set.opts, AF_INET),
			    "10.0.0.0/16 10.1.2.0/24 10.2.0.0-10.255.255.255 169.254.0.0/16");
	assert_string_equal(resolved(m.cfg, &set.opts, AF_INET6),
			    "fd00::/32 fd00:2::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff fe80::/10");
	merged_clear(&m);
}

static void policies_are_non_masquerade_prefixes(void **state)
{
	struct masq_merged m;

	set.policy_dir = pol;
	unit_put(dir, "ip-masq-a",
		 "nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqueradeCIDRs: [10.1.0.0/16]\n");
	unit_put(
		pol, "p.yaml",
		"apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\nmetadata:\n  name: onprem\n"
		"spec:\n  action: NoSNAT\n  destinations:\n    - cidr: 10.1.5.0/24\n");
	diags_init(&d);
	assert_int_equal(sources_load(src, &set, &m, st, &d), 0);
	/* the longer NoSNAT destination wins inside the masquerade exception */
	assert_string_equal(resolved(m.cfg, &set.opts, AF_INET),
			    "10.0.0.0/16 10.1.5.0/24 10.2.0.0-10.255.255.255 169.254.0.0/16");
	merged_clear(&m);
	/* the same prefix as a NoSNAT destination: refused at the config's entry */
	unit_put(
		pol, "p.yaml",
		"apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\nmetadata:\n  name: onprem\n"
		"spec:\n  action: NoSNAT\n  destinations:\n    - cidr: 10.1.0.0/16\n");
	diags_init(&d);
	assert_int_equal(sources_load(src, &set, &m, st, &d), -EINVAL);
	assert_string_equal(diags_short(),
			    "ip-masq-a:2:19: 10.1.0.0/16 is in masqueradeCIDRs here and a "
			    "non-masquerade prefix from EgressNATPolicy/onprem; the longest prefix "
			    "decides, so keep it in one list");
	assert_false(st[SOURCE_FILE].ok);
	set.policy_dir = NULL;
}

static void conflicts_across_files(void **state)
{
	struct masq_merged m;

	unit_put(dir, "ip-masq-a", "nonMasqueradeCIDRs: [10.0.0.0/8]\n");
	unit_put(dir, "ip-masq-b", "\nmasqueradeCIDRs:\n  - 10.1.0.0/16\n");
	unit_put(dir, "ip-masq-c", "nonMasqueradeCIDRs: [10.1.0.0/16]\n");
	diags_init(&d);
	assert_int_equal(sources_load(src, &set, &m, st, &d), -EINVAL);
	assert_string_equal(diags_short(),
			    "ip-masq-b:3:5: 10.1.0.0/16 is in masqueradeCIDRs here and a "
			    "non-masquerade prefix from ip-masq-c; the longest prefix decides, so "
			    "keep it in one list");
	/* the link-local flags merge first: one file may masquerade it for another */
	unit_put(dir, "ip-masq-c", "masqueradeCIDRs: [169.254.0.0/16]\n");
	diags_init(&d);
	assert_int_equal(sources_load(src, &set, &m, st, &d), -EINVAL);
	assert_string_equal(diags_short(),
			    "ip-masq-c:1:19: 169.254.0.0/16 in masqueradeCIDRs is the link-local "
			    "range; set masqLinkLocal: true to masquerade it");
	unit_put(dir, "ip-masq-a", "nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqLinkLocal: true\n");
	diags_init(&d);
	assert_int_equal(sources_load(src, &set, &m, st, &d), 0);
	assert_string_equal(resolved(m.cfg, &set.opts, AF_INET),
			    "10.0.0.0/16 10.2.0.0-10.255.255.255");
	merged_clear(&m);
}

/* The ConfigMap read through the API goes through the same reader. */
static void api_configmap_has_the_key(void **state)
{
	static const char text[] = "nonMasqueradeCIDRs: [0.0.0.0/0]\n"
				   "masqueradeCIDRs: [203.0.113.0/24]\n";
	struct masq_merged m;

	set.api_config_name = "configmap kube-system/ip-masq-agent";
	set.api_config = text;
	set.api_config_len = strlen(text);
	diags_init(&d);
	assert_int_equal(sources_load(src, &set, &m, st, &d), 0);
	assert_string_equal(resolved(m.cfg, &set.opts, AF_INET),
			    "0.0.0.0-203.0.112.255 203.0.114.0-255.255.255.255");
	assert_string_equal(m.masq_origins[0], "configmap kube-system/ip-masq-agent");
	merged_clear(&m);
	set.api_config = "nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqueradeCIDRs: [10.0.0.0/8]\n";
	set.api_config_len = strlen(set.api_config);
	diags_init(&d);
	/* a bad ConfigMap: its last good version stands in */
	assert_int_equal(sources_load(src, &set, &m, st, &d), 1);
	assert_string_equal(diags_text(),
			    "configmap kube-system/ip-masq-agent:2:19: 10.0.0.0/8 is in both "
			    "masqueradeCIDRs and nonMasqueradeCIDRs (line 1); the longest prefix "
			    "decides, so keep it in one list");
	assert_string_equal(list_of(m.cfg->masq_cidrs, m.cfg->nmasq), "203.0.113.0/24");
	merged_clear(&m);
	set.api_config_name = NULL;
	set.api_config = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_both_lists),
		cmocka_unit_test(masquerade_only_these),
		cmocka_unit_test(same_prefix_is_a_located_error),
		cmocka_unit_test(limits_count_both_lists),
		cmocka_unit_test(malformed_entries),
		cmocka_unit_test(equality_sees_either_list),
		cmocka_unit_test(masquerade_change_is_a_set_change),
		cmocka_unit_test_setup_teardown(directory_union_then_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(policies_are_non_masquerade_prefixes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(conflicts_across_files, setup, teardown),
		cmocka_unit_test_setup_teardown(api_configmap_has_the_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
