/* Merging config sources: ip-masq-agent-v2's directory merge, EgressNATPolicy
 * files, defaults, and last good versions standing in for bad ones. */
#include "tests/unit/unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/sources.h"

static char dir[64], pol[64];
static struct sources_settings set;
static struct masq_sources *src;
static struct source_state st[SOURCE_COUNT];
static struct diags d;

static int setup(void **state)
{
	unit_tmpdir(dir, "src");
	unit_tmpdir(pol, "pol");
	set = (struct sources_settings){ .config = dir,
					 .max_cidrs_per_file = 64,
					 .dir_resync_ns = 30000000000LL,
					 .opts = { .random_fully = true } };
	src = sources_new();
	return 0;
}

static int teardown(void **state)
{
	sources_free(src);
	unit_rmdirs(dir, pol);
	return 0;
}

/* Load and describe: "cidr<origin>,..." */
static const char *load(int want_r, struct masq_merged *m)
{
	static char out[2048];
	size_t o = 0;

	diags_init(&d);
	assert_int_equal(sources_load(src, &set, m, st, &d), want_r);
	out[0] = '\0';
	for (size_t i = 0; i < m->cfg->ncidrs; i++) {
		char c[CIDR_STRLEN], origins[512], *save = NULL;
		const char *sep = "";

		cidr_format(&m->cfg->cidrs[i], c);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s<", o ? "," : "", c);
		/* each origin's last path part keeps the expectations short */
		snprintf(origins, sizeof(origins), "%s", m->origins[i]);
		for (char *t = strtok_r(origins, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
			const char *slash = strrchr(t, '/');
			o += (size_t)snprintf(
				out + o, sizeof(out) - o, "%s%s", sep,
				strncmp(t, "EgressNATPolicy/", 16) == 0 || !slash ? t : slash + 1);
			sep = "+";
		}
		o += (size_t)snprintf(out + o, sizeof(out) - o, ">");
	}
	return out;
}

static void test_directory_merge(void **state)
{
	struct masq_merged m;

	unit_put(dir, "ip-masq-agent-user",
		 "nonMasqueradeCIDRs: [100.64.0.0/10, 10.0.0.0/8]\n"
		 "masqLinkLocal: true\nresyncInterval: 5s\ncidrLimit: 1\n");
	unit_put(dir, "ip-masq-agent", "nonMasqueradeCIDRs: [10.0.0.0/8, 192.168.0.0/16]\n");
	unit_put(dir, "other", "nonMasqueradeCIDRs: [1.0.0.0/8]\n");
	unit_put(dir, ".hidden-ip-masq", "nonMasqueradeCIDRs: [2.0.0.0/8]\n");
	/* files sorted by name, then the order inside each; duplicates merge */
	assert_string_equal(
		load(0, &m),
		"10.0.0.0/8<ip-masq-agent+ip-masq-agent-user>,192.168.0.0/16<ip-masq-agent>,"
		"100.64.0.0/10<ip-masq-agent-user>");
	merged_clear(&m);
	assert_string_equal(
		load(0, &m),
		"10.0.0.0/8<ip-masq-agent+ip-masq-agent-user>,192.168.0.0/16<ip-masq-agent>,"
		"100.64.0.0/10<ip-masq-agent-user>");
	assert_true(m.is_dir);
	assert_true(m.cfg->masq_link_local); /* OR'ed across files */
	assert_int_equal(m.cfg->resync_ns, 30000000000LL); /* from the flag, not the file */
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 2); /* resyncInterval and cidrLimit ignored */
	assert_true(st[SOURCE_FILE].ok);
	merged_clear(&m);
}

/* Repeats across several files: each CIDR kept once, where it first came,
 * naming every file that gave it, whatever moves in between. */
static void test_merge_repeats(void **state)
{
	struct masq_merged m;

	unit_put(dir, "ip-masq-a", "nonMasqueradeCIDRs: [10.0.0.0/8, 192.168.0.0/16]\n");
	unit_put(dir, "ip-masq-b",
		 "nonMasqueradeCIDRs: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n");
	unit_put(dir, "ip-masq-c",
		 "nonMasqueradeCIDRs: [192.168.0.0/16, 100.64.0.0/10, 10.0.0.0/8]\n");
	assert_string_equal(
		load(0, &m),
		"10.0.0.0/8<ip-masq-a+ip-masq-b+ip-masq-c>,"
		"192.168.0.0/16<ip-masq-a+ip-masq-b+ip-masq-c>,172.16.0.0/12<ip-masq-b>,"
		"100.64.0.0/10<ip-masq-c>");
	merged_clear(&m);
}

static void test_bad_file_keeps_last_good(void **state)
{
	struct masq_merged m;

	unit_put(dir, "ip-masq-a", "nonMasqueradeCIDRs: [10.0.0.0/8]\n");
	unit_put(dir, "ip-masq-b", "nonMasqueradeCIDRs: [172.16.0.0/12]\n");
	assert_string_equal(load(0, &m), "10.0.0.0/8<ip-masq-a>,172.16.0.0/12<ip-masq-b>");
	merged_clear(&m);
	unit_put(dir, "ip-masq-a", "nonMasqueradeCIDRs: [10.0.0.1/8]\n"); /* now bad */
	unit_put(dir, "ip-masq-b", "nonMasqueradeCIDRs: [192.168.0.0/16]\n"); /* still updates */
	assert_string_equal(load(1, &m), "10.0.0.0/8<ip-masq-a>,192.168.0.0/16<ip-masq-b>");
	assert_false(m.incomplete);
	assert_false(st[SOURCE_FILE].ok);
	assert_non_null(strstr(st[SOURCE_FILE].error, "ip-masq-a:1:22: CIDR \"10.0.0.1/8\""));
	merged_clear(&m);
	/* a new bad file has no last good version: it contributes nothing */
	unit_put(dir, "ip-masq-c", "nonMasqueradeCIDRs: {x: 1}\n");
	assert_string_equal(load(1, &m), "10.0.0.0/8<ip-masq-a>,192.168.0.0/16<ip-masq-b>");
	assert_true(m.incomplete);
	merged_clear(&m);
	/* a removed file stops contributing */
	unit_drop(dir, "ip-masq-a");
	unit_drop(dir, "ip-masq-c");
	assert_string_equal(load(0, &m), "192.168.0.0/16<ip-masq-b>");
	merged_clear(&m);
}

static void test_per_file_limit(void **state)
{
	struct masq_merged m;
	char text[2048];
	size_t o = (size_t)snprintf(text, sizeof(text), "nonMasqueradeCIDRs:\n");

	for (int i = 0; i < 65; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "- 10.%d.0.0/16\n", i);
	unit_put(dir, "ip-masq-big", text);
	load(1, &m);
	assert_non_null(strstr(st[SOURCE_FILE].error,
			       "over the per-file limit (--max-cidrs-per-file) of 64"));
	merged_clear(&m);
	set.max_cidrs_per_file = 100;
	load(0, &m);
	assert_int_equal(m.cfg->ncidrs, 65);
	merged_clear(&m);
}

static void test_defaults_only_without_files(void **state)
{
	struct masq_merged m;

	assert_string_equal(load(0, &m), "10.0.0.0/8<defaults>,172.16.0.0/12<defaults>,"
					 "192.168.0.0/16<defaults>");
	assert_false(m.cfg->file_present);
	merged_clear(&m);
	unit_put(dir, "ip-masq-agent",
		 "masqLinkLocal: true\n"); /* a file without CIDRs adds none */
	assert_string_equal(load(0, &m), "");
	merged_clear(&m);
}

static void test_policies(void **state)
{
	struct masq_merged m;

	set.config = "/nonexistent/ip-masq-agent";
	set.policy_dir = pol;
	unit_put(
		pol, "a.yaml",
		"apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\n"
		"metadata: {name: default}\n"
		"spec: {action: NoSNAT, destinations: [{cidr: 10.0.0.0/8}, {cidr: 172.16.0.0/12}]}\n");
	unit_put(
		pol, "b.json",
		"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": ["
		"{\"apiVersion\": \"networking.gke.io/v1\", \"kind\": \"EgressNATPolicy\","
		" \"metadata\": {\"name\": \"peering\"},"
		" \"spec\": {\"action\": \"NoSNAT\", \"destinations\": [{\"cidr\": \"100.64.0.0/10\"}]}},"
		"{\"apiVersion\": \"networking.gke.io/v1\", \"kind\": \"EgressNATPolicy\","
		" \"metadata\": {\"name\": \"odd\"},"
		" \"spec\": {\"action\": \"SNAT\", \"destinations\": [{\"cidr\": \"1.0.0.0/8\"}]}}]}");
	/* with policies and no config file, the built-in defaults are not added */
	assert_string_equal(load(1, &m), "10.0.0.0/8<EgressNATPolicy/default>,"
					 "172.16.0.0/12<EgressNATPolicy/default>,"
					 "100.64.0.0/10<EgressNATPolicy/peering>");
	assert_true(st[SOURCE_FILE].ok);
	assert_false(st[SOURCE_POLICY].ok);
	if (!strstr(st[SOURCE_POLICY].error, "b.json:1:") ||
	    !strstr(st[SOURCE_POLICY].error,
		    ": policy odd: spec.action \"SNAT\" is not supported (only NoSNAT)"))
		fail_msg("policy error: %s", st[SOURCE_POLICY].error);
	merged_clear(&m);
	/* a policy turned bad keeps its last good version; a duplicate name is refused */
	unit_put(
		pol, "a.yaml",
		"apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\n"
		"metadata: {name: default}\nspec: {action: NoSNAT, destinations: [{cidr: 10.0.0.1/8}]}\n"
		"---\napiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\n"
		"metadata: {name: peering}\nspec: {action: NoSNAT}\n");
	/* files are read in name order: a.yaml's "peering" (no destinations) wins */
	assert_string_equal(load(1, &m), "10.0.0.0/8<EgressNATPolicy/default>,"
					 "172.16.0.0/12<EgressNATPolicy/default>");
	{
		bool dup = false;
		for (size_t i = 0; i < d.n; i++)
			dup |= strstr(d.items[i].msg, "policy peering: also defined in") != NULL;
		assert_true(dup);
	}
	merged_clear(&m);
	unit_drop(pol, "a.yaml");
	unit_drop(pol, "b.json");
	assert_string_equal(load(0, &m), "10.0.0.0/8<defaults>,172.16.0.0/12<defaults>,"
					 "192.168.0.0/16<defaults>");
	merged_clear(&m);
}

/* v2's own tests write directory files and policies as tab-indented JSON. */
static void test_tab_indented_json(void **state)
{
	struct masq_merged m;

	set.policy_dir = pol;
	unit_put(dir, "ip-masq-a",
		 "{\n\t\"nonMasqueradeCIDRs\": [\"10.0.0.0/8\"],\n"
		 "\t\"masqLinkLocal\": true\n}\n");
	unit_put(pol, "p.json",
		 "{\n\t\"apiVersion\": \"networking.gke.io/v1\",\n"
		 "\t\"kind\": \"EgressNATPolicy\",\n"
		 "\t\"metadata\": {\"name\": \"tabs\"},\n"
		 "\t\"spec\": {\n\t\t\"action\": \"NoSNAT\",\n"
		 "\t\t\"destinations\": [{\"cidr\": \"100.64.0.0/10\"}]\n\t}\n}\n");
	assert_string_equal(load(0, &m),
			    "10.0.0.0/8<ip-masq-a>,100.64.0.0/10<EgressNATPolicy/tabs>");
	assert_true(m.cfg->masq_link_local);
	merged_clear(&m);
	/* a bad CIDR in such a policy is located in the file, line and column */
	unit_put(pol, "p.json",
		 "{\n\t\"apiVersion\": \"networking.gke.io/v1\",\n"
		 "\t\"kind\": \"EgressNATPolicy\",\n"
		 "\t\"metadata\": {\"name\": \"tabs\"},\n"
		 "\t\"spec\": {\"action\": \"NoSNAT\", \"destinations\": "
		 "[{\"cidr\": \"100.64.0.1/10\"}]}\n}\n");
	assert_string_equal(load(1, &m),
			    "10.0.0.0/8<ip-masq-a>,100.64.0.0/10<EgressNATPolicy/tabs>");
	if (!strstr(st[SOURCE_POLICY].error, "p.json:5:"))
		fail_msg("policy error: %s", st[SOURCE_POLICY].error);
	merged_clear(&m);
}

#define POLICY(name, cidr)                                                  \
	"apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\n"         \
	"metadata: {name: " name "}\nspec: {action: NoSNAT, destinations: " \
	"[{cidr: " cidr "}]}\n---\n"

/* Every error of the last load, in order, with the directory cut out. */
static const char *errors(void)
{
	static char out[2048];
	size_t o = 0, n = strlen(pol);

	out[0] = '\0';
	for (size_t i = 0; i < d.n; i++) {
		char line[DIAG_FILE_LEN + DIAG_MSG_LEN + 32], *p;
		diag_format(&d.items[i], line, sizeof(line));
		while ((p = strstr(line, pol)))
			memmove(p, p + n + 1, strlen(p + n + 1) + 1);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s\n", line);
	}
	return out;
}

/* A name defined twice: in one file, across files, and by the API. The
 * first definition stands and each later one is refused where it is, in
 * the order a reader meets them; a bad edit keeps the last good version. */
static void test_policy_duplicates(void **state)
{
	struct masq_policy_list api = { 0 };
	struct masq_policy w = { .name = "w", .ncidrs = 1 };
	struct masq_merged m;
	struct cidr c;

	assert_int_equal(cidr_parse("10.9.0.0/16", &c, NULL), 0);
	w.cidrs = &c;
	assert_int_equal(policy_list_add(&api, &w), 0);
	set.config = "/nonexistent/ip-masq-agent";
	set.policy_dir = pol;
	set.api_policies = &api;
	unit_put(pol, "a.yaml",
		 POLICY("x", "10.1.0.0/16") POLICY("x", "10.2.0.0/16") POLICY("y", "10.3.0.0/16")
			 POLICY("w", "10.8.0.0/16"));
	unit_put(pol, "b.yaml",
		 POLICY("z", "10.5.0.0/16") POLICY("y", "10.4.0.0/16") POLICY("z", "10.6.0.0/16"));
	assert_string_equal(load(1, &m), "10.9.0.0/16<EgressNATPolicy/w>,"
					 "10.1.0.0/16<EgressNATPolicy/x>,"
					 "10.3.0.0/16<EgressNATPolicy/y>,"
					 "10.5.0.0/16<EgressNATPolicy/z>");
	assert_string_equal(errors(),
			    "a.yaml:6:1: policy x: also defined in a.yaml; this one is "
			    "ignored\n"
			    "a.yaml:16:1: policy w: also defined in apiserver; this one is "
			    "ignored\n"
			    "b.yaml:6:1: policy y: also defined in a.yaml; this one is "
			    "ignored\n"
			    "b.yaml:11:1: policy z: also defined in b.yaml; this one is "
			    "ignored\n");
	assert_non_null(strstr(st[SOURCE_POLICY].error, "a.yaml:6:1: policy x: also defined"));
	merged_clear(&m);
	/* b's z turns bad and its second definition goes: the last good z stays */
	unit_put(pol, "b.yaml", POLICY("z", "10.5.0.1/16") POLICY("y", "10.4.0.0/16"));
	assert_string_equal(load(1, &m), "10.9.0.0/16<EgressNATPolicy/w>,"
					 "10.1.0.0/16<EgressNATPolicy/x>,"
					 "10.3.0.0/16<EgressNATPolicy/y>,"
					 "10.5.0.0/16<EgressNATPolicy/z>");
	assert_non_null(strstr(errors(), "b.yaml:4:"));
	merged_clear(&m);
	/* the API's w goes: a.yaml's is no longer a second definition */
	set.api_policies = NULL;
	unit_drop(pol, "b.yaml");
	assert_string_equal(load(1, &m), "10.1.0.0/16<EgressNATPolicy/x>,"
					 "10.3.0.0/16<EgressNATPolicy/y>,"
					 "10.8.0.0/16<EgressNATPolicy/w>");
	assert_string_equal(errors(), "a.yaml:6:1: policy x: also defined in a.yaml; this one is "
				      "ignored\n");
	merged_clear(&m);
	policy_list_clear(&api);
}

static void test_single_file_and_policies(void **state)
{
	struct masq_merged m;
	char file[128];

	snprintf(file, sizeof(file), "%s/ip-masq-agent", dir);
	unit_put(dir, "ip-masq-agent", "nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 7s\n");
	unit_put(
		pol, "p.yaml",
		"apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\n"
		"metadata: {name: p}\nspec: {action: NoSNAT, destinations: [{cidr: 10.0.0.0/8}, {cidr: 203.0.113.0/24}]}\n");
	set.config = file;
	set.policy_dir = pol;
	assert_string_equal(load(0, &m), "10.0.0.0/8<ip-masq-agent+EgressNATPolicy/p>,"
					 "203.0.113.0/24<EgressNATPolicy/p>");
	assert_false(m.is_dir);
	assert_int_equal(m.cfg->resync_ns, 7000000000LL); /* the file's own key counts here */
	merged_clear(&m);
}

/* A file whose bytes have not changed since its last good parse is not
 * parsed again, and what that parse said is said again; a changed file, a
 * bad one, and a policy file with refused policies are handled as before. */
static void test_unchanged_files_skip_the_parse(void **state)
{
	struct masq_merged m;
	uint64_t p0;

	set.policy_dir = pol;
	unit_put(dir, "ip-masq-a",
		 "nonMasqueradeCIDRs: [10.0.0.0/8, 10.0.0.0/8]\n"); /* a warning */
	unit_put(dir, "ip-masq-b", "nonMasqueradeCIDRs: [172.16.0.0/12]\n");
	unit_put(pol, "p.yaml",
		 "apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\n"
		 "metadata: {name: good}\nspec: {action: NoSNAT, destinations: "
		 "[{cidr: 192.168.0.0/16}]}\n---\napiVersion: networking.gke.io/v1\n"
		 "kind: EgressNATPolicy\nmetadata: {name: bad}\nspec: {action: SNAT}\n");
	p0 = sources_parses(src);
	assert_string_equal(load(1, &m), "10.0.0.0/8<ip-masq-a>,172.16.0.0/12<ip-masq-b>,"
					 "192.168.0.0/16<EgressNATPolicy/good>");
	merged_clear(&m);
	assert_int_equal(sources_parses(src) - p0, 3);
	assert_int_equal(d.warnings, 1);
	assert_int_equal(d.errors, 1);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(load(1, &m), "10.0.0.0/8<ip-masq-a>,172.16.0.0/12<ip-masq-b>,"
						 "192.168.0.0/16<EgressNATPolicy/good>");
		merged_clear(&m);
	}
	assert_int_equal(sources_parses(src) - p0, 3); /* nothing changed: no parse */
	assert_int_equal(d.warnings, 1); /* said again */
	assert_int_equal(d.errors, 1);
	assert_false(st[SOURCE_POLICY].ok); /* the refused policy still counts */
	assert_non_null(strstr(st[SOURCE_POLICY].error, "SNAT"));
	/* one file changed (same size): only it is parsed */
	unit_put(dir, "ip-masq-b", "nonMasqueradeCIDRs: [172.17.0.0/16]\n");
	assert_non_null(strstr(load(1, &m), "172.17.0.0/16<ip-masq-b>"));
	merged_clear(&m);
	assert_int_equal(sources_parses(src) - p0, 4);
	/* bad bytes are parsed every time, and their error said every time */
	unit_put(dir, "ip-masq-b", "nonMasqueradeCIDRs: [172.17.0.1/16]\n");
	assert_non_null(strstr(load(1, &m), "172.17.0.0/16<ip-masq-b>"));
	merged_clear(&m);
	assert_non_null(strstr(load(1, &m), "172.17.0.0/16<ip-masq-b>"));
	merged_clear(&m);
	assert_int_equal(sources_parses(src) - p0, 6);
	assert_int_equal(d.errors, 2);
	set.policy_dir = NULL;
}

/* A file parsed after an unchanged one sorts its own problems, not the
 * ones said again before it: each is reported once, file by file. */
static void test_problems_said_again_stay_in_place(void **state)
{
	struct masq_merged m;
	char a[DIAG_MSG_LEN + DIAG_FILE_LEN + 64];

	unit_put(dir, "ip-masq-a", "nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 10.0.0.0/8\n");
	unit_put(dir, "ip-masq-b", "nonMasqueradeCIDRs: [172.16.0.0/12, 172.16.0.0/12]\n");
	load(0, &m);
	merged_clear(&m);
	/* b changes: its new problem is on line 1, before a's on line 3 */
	unit_put(dir, "ip-masq-b", "nonMasqueradeCIDRs: [172.17.0.0/16, 172.17.0.0/16]\n");
	load(0, &m);
	merged_clear(&m);
	assert_int_equal(d.n, 2);
	diag_format(&d.items[0], a, sizeof(a));
	assert_non_null(strstr(a, "ip-masq-a:3:"));
	diag_format(&d.items[1], a, sizeof(a));
	assert_non_null(strstr(a, "ip-masq-b:1:"));
	/* and both are said again, once each, when nothing changes */
	load(0, &m);
	merged_clear(&m);
	assert_int_equal(d.n, 2);
	assert_non_null(strstr(d.items[1].file, "ip-masq-b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_directory_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_repeats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_file_keeps_last_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_file_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_only_without_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tab_indented_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_file_and_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_files_skip_the_parse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_policy_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_problems_said_again_stay_in_place, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("sources", tests, NULL, NULL);
}
