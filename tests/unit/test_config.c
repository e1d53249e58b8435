/* One test per row of the compatibility matrix (DESIGN.md §4), then bounds. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/kubeconfig.h"

static const struct masq_opts v4_opts = { .random_fully = true };
static const struct masq_opts v6_opts = { .enable_ipv6 = true, .random_fully = true };
static const struct masq_opts reserved_opts = { .all_reserved = true, .random_fully = true };

static struct diags d;

static int parse(const char *text, const struct masq_opts *o, struct masq_config **cfg)
{
	diags_init(&d);
	*cfg = NULL;
	return cfg_parse_buf("cfg.yaml", text, strlen(text), o, cfg, &d);
}

/* The config's CIDRs, comma-separated, canonical. */
static const char *cidrs_of(const struct masq_config *cfg)
{
	static char out[4096];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < cfg->ncidrs; i++) {
		char buf[CIDR_STRLEN];
		cidr_format(&cfg->cidrs[i], buf);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? "," : "", buf);
	}
	return out;
}

/* True when some problem, formatted, contains text. */
static bool has_diag(const char *text)
{
	char buf[1024];

	diag_for_each(g, &d) {
		diag_format(g, buf, sizeof(buf));
		if (strstr(buf, text))
			return true;
	}
	return false;
}

/* The first problem as "FILE:LINE:COL: message". */
static const char *first_diag(void)
{
	static char buf[1024];

	assert_true(d.n > 0);
	diag_format(&d.items[0], buf, sizeof(buf));
	return buf;
}

static void assert_defaults(const struct masq_config *cfg)
{
	assert_string_equal(cidrs_of(cfg), "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16");
	assert_false(cfg->masq_link_local);
	assert_false(cfg->masq_link_local6);
	assert_int_equal(cfg->resync_ns, 60000000000LL);
	assert_int_equal(cfg->cidr_limit, 64);
}

static void row_no_file_gives_defaults(void **state)
{
	struct masq_config *cfg;

	diags_init(&d);
	assert_int_equal(cfg_load_file("/nonexistent/ip-masq-agent", &v4_opts, &cfg, &d), 0);
	assert_false(cfg->file_present);
	assert_defaults(cfg);
	assert_int_equal(d.n, 0);
	cfg_free(cfg);
	/* --nomasq-all-reserved-ranges: the 11 reserved ranges */
	assert_int_equal(cfg_load_file("/nonexistent/ip-masq-agent", &reserved_opts, &cfg, &d), 0);
	assert_string_equal(cidrs_of(cfg),
			    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,192.0.0.0/24,"
			    "192.0.2.0/24,192.88.99.0/24,198.18.0.0/15,198.51.100.0/24,"
			    "203.0.113.0/24,240.0.0.0/4");
	cfg_free(cfg);
}

static void row_key_absent_keeps_default(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("masqLinkLocal: true\n", &v4_opts, &cfg), 0);
	assert_string_equal(cidrs_of(cfg), "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16");
	assert_true(cfg->masq_link_local);
	assert_int_equal(cfg->resync_ns, 60000000000LL);
	assert_int_equal(cfg->cidr_limit, 64);
	cfg_free(cfg);
	assert_int_equal(parse("nonMasqueradeCIDRs: [10.1.0.0/16]\n", &v4_opts, &cfg), 0);
	assert_string_equal(cidrs_of(cfg), "10.1.0.0/16");
	assert_false(cfg->masq_link_local);
	cfg_free(cfg);
}

static void row_explicit_empty_list(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("nonMasqueradeCIDRs: []\n", &v4_opts, &cfg), 0);
	assert_int_equal(cfg->ncidrs, 0);
	cfg_free(cfg);
	/* null is an empty list too, as encoding/json sets a nil slice */
	assert_int_equal(parse("nonMasqueradeCIDRs:\nmasqLinkLocal: false\n", &v4_opts, &cfg), 0);
	assert_int_equal(cfg->ncidrs, 0);
	cfg_free(cfg);
}

static void row_misaligned_cidr_names_aligned_form(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(
		parse("nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 10.0.0.1/8\n", &v4_opts, &cfg),
		-EINVAL);
	assert_null(cfg);
	assert_string_equal(first_diag(),
			    "cfg.yaml:3:5: CIDR \"10.0.0.1/8\" has host bits set; the aligned "
			    "form is 10.0.0.0/8");
}

static void row_ipv6_needs_enable_ipv6(void **state)
{
	const char *text = "nonMasqueradeCIDRs: [10.0.0.0/8, \"fd00::/8\"]\n";
	struct masq_config *cfg;

	assert_int_equal(parse(text, &v4_opts, &cfg), -EINVAL);
	assert_string_equal(first_diag(), "cfg.yaml:1:34: IPv6 CIDR fd00::/8 needs the "
					  "--enable-ipv6 flag");
	assert_int_equal(parse(text, &v6_opts, &cfg), 0);
	assert_string_equal(cidrs_of(cfg), "10.0.0.0/8,fd00::/8");
	cfg_free(cfg);
}

static void row_over_cidr_limit_rejected(void **state)
{
	struct masq_config *cfg;
	char text[4096];
	size_t o;

	assert_int_equal(parse("cidrLimit: 2\nnonMasqueradeCIDRs: [10.0.0.0/8, 11.0.0.0/8, "
			       "12.0.0.0/8]\n",
			       &v4_opts, &cfg),
			 -EINVAL);
	assert_string_equal(first_diag(), "cfg.yaml:2:1: nonMasqueradeCIDRs has 3 entries, over "
					  "the cidrLimit of 2");
	/* the default limit is 64: 64 pass, 65 do not */
	o = (size_t)snprintf(text, sizeof(text), "nonMasqueradeCIDRs:\n");
	for (int i = 0; i < 64; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "- 10.%d.0.0/16\n", i);
	assert_int_equal(parse(text, &v4_opts, &cfg), 0);
	assert_int_equal(cfg->ncidrs, 64);
	cfg_free(cfg);
	snprintf(text + o, sizeof(text) - o, "- 10.200.0.0/16\n");
	assert_int_equal(parse(text, &v4_opts, &cfg), -EINVAL);
}

static void row_unknown_key_warned(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqLinkLocall: true\n"
			       "extra: {a: [1, 2]}\n",
			       &v4_opts, &cfg),
			 0);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 2);
	assert_string_equal(first_diag(), "cfg.yaml:2:1: warning: unknown key \"masqLinkLocall\" "
					  "ignored");
	assert_false(cfg->masq_link_local);
	cfg_free(cfg);
}

static void row_duplicate_key_rejected(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("masqLinkLocal: true\nmasqLinkLocal: false\n", &v4_opts, &cfg),
			 -EINVAL);
	assert_string_equal(first_diag(), "cfg.yaml:2:1: duplicate key \"masqLinkLocal\" (first "
					  "on line 1)");
}

static void row_yaml11_booleans_unquoted_only(void **state)
{
	static const char *const yes[] = { "yes", "Yes", "on", "ON", "y", "true", "True" };
	static const char *const no[] = { "no", "off", "Off", "n", "false", "FALSE" };
	struct masq_config *cfg;
	char text[128];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "masqLinkLocal: %s\nmasqLinkLocalIPv6: %s\n", yes[i],
			 no[i % 6]);
		assert_int_equal(parse(text, &v4_opts, &cfg), 0);
		assert_true(cfg->masq_link_local);
		assert_false(cfg->masq_link_local6);
		cfg_free(cfg);
	}
	assert_int_equal(parse("masqLinkLocal: \"true\"\n", &v4_opts, &cfg), -EINVAL);
	assert_string_equal(first_diag(), "cfg.yaml:1:16: masqLinkLocal must be true or false "
					  "(unquoted), got \"true\"");
	assert_int_equal(parse("masqLinkLocal: 'yes'\n", &v4_opts, &cfg), -EINVAL);
	assert_int_equal(parse("masqLinkLocal: maybe\n", &v4_opts, &cfg), -EINVAL);
}

static void row_empty_file_gives_defaults(void **state)
{
	static const char *const empties[] = { "",	     "\n\n", "# only a comment\n", "---\n",
					       "---\n...\n", "~\n",  "\xef\xbb\xbf" };
	struct masq_config *cfg;

	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		assert_int_equal(parse(empties[i], &v4_opts, &cfg), 0);
		assert_true(cfg->file_present);
		assert_defaults(cfg);
		cfg_free(cfg);
	}
}

static void json_form_accepted(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("{\"nonMasqueradeCIDRs\": [\"10.0.0.0/8\", \"100.64.0.0/10\"],"
			       " \"masqLinkLocal\": true, \"resyncInterval\": \"1m30s\","
			       " \"cidrLimit\": 10}",
			       &v4_opts, &cfg),
			 0);
	assert_string_equal(cidrs_of(cfg), "10.0.0.0/8,100.64.0.0/10");
	assert_true(cfg->masq_link_local);
	assert_int_equal(cfg->resync_ns, 90000000000LL);
	assert_int_equal(cfg->cidr_limit, 10);
	cfg_free(cfg);
}

/* Upstream's own test configs indent JSON with tabs (Go's YAML reads it);
 * libyaml refuses tabs, so JSON goes to jansson. */
static void json_with_tabs_accepted(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("\n\t\t{\n\t\t  \"nonMasqueradeCIDRs\": [\"172.16.0.0/12\", "
			       "\"10.0.0.0/8\", \"fc00::/7\"],\n\t\t  \"masqLinkLocal\": true,\n"
			       "\t\t  \"resyncInterval\": \"5s\"\n\t\t}\n\t\t",
			       &v6_opts, &cfg),
			 0);
	assert_string_equal(cidrs_of(cfg), "172.16.0.0/12,10.0.0.0/8,fc00::/7");
	assert_true(cfg->masq_link_local);
	assert_int_equal(cfg->resync_ns, 5000000000LL);
	cfg_free(cfg);
	/* the same type rules as YAML: a quoted bool or number is refused */
	assert_int_equal(parse("{\n\t\"masqLinkLocal\": \"true\",\n\t\"cidrLimit\": \"3\"\n}",
			       &v4_opts, &cfg),
			 -EINVAL);
	assert_true(has_diag("cfg.yaml:2:19: masqLinkLocal must be true or false"));
	assert_true(has_diag("cfg.yaml:3:15: cidrLimit must be an unquoted integer"));
	assert_int_equal(parse("{\n\t\"resyncInterval\": 60\n}", &v4_opts, &cfg), -EINVAL);
	assert_true(has_diag("cfg.yaml:2:20: resyncInterval must be a duration string"));
	/* null keeps the default (a nil slice for the list), as encoding/json */
	assert_int_equal(
		parse("{\"nonMasqueradeCIDRs\": null,\t\"masqLinkLocal\": null}", &v4_opts, &cfg),
		0);
	assert_int_equal(cfg->ncidrs, 0);
	assert_false(cfg->masq_link_local);
	cfg_free(cfg);
	/* duplicate keys are refused in JSON too, where the tab would hide them */
	assert_int_equal(parse("{\n\t\"cidrLimit\": 3,\n\t\"cidrLimit\": 4\n}", &v4_opts, &cfg),
			 -EINVAL);
	assert_true(has_diag("cfg.yaml:3:12: JSON: duplicate object key"));
	/* a YAML flow mapping that looks like JSON is still YAML */
	assert_int_equal(
		parse("{nonMasqueradeCIDRs: [10.0.0.0/8], masqLinkLocal: yes}", &v4_opts, &cfg), 0);
	assert_string_equal(cidrs_of(cfg), "10.0.0.0/8");
	assert_true(cfg->masq_link_local);
	cfg_free(cfg);
}

/* "10.0.0.0/8\0junk" used to read as 10.0.0.0/8 and "cidrLimit\0xyz" as
 * cidrLimit; Go keeps the whole string and refuses both. */
static void nul_bytes_refused(void **state)
{
	static const char value[] = "nonMasqueradeCIDRs: [\"10.0.0.0/8\\0junk\"]\n";
	static const char key[] = "\"cidrLimit\\0xyz\": 3\n";
	static const char json[] = "{\"nonMasqueradeCIDRs\": [\"10.0.0.0/8\\u0000junk\"]}";
	struct masq_config *cfg;

	diags_init(&d);
	assert_int_equal(cfg_parse_buf("cfg.yaml", value, sizeof(value) - 1, &v4_opts, &cfg, &d),
			 -EINVAL);
	assert_true(has_diag("cfg.yaml:1:22: a key or value holds a NUL byte"));
	diags_init(&d);
	assert_int_equal(cfg_parse_buf("cfg.yaml", key, sizeof(key) - 1, &v4_opts, &cfg, &d),
			 -EINVAL);
	assert_true(has_diag("cfg.yaml:1:1: a key or value holds a NUL byte"));
	diags_init(&d);
	assert_int_equal(cfg_parse_buf("cfg.yaml", json, sizeof(json) - 1, &v4_opts, &cfg, &d),
			 -EINVAL);
	assert_true(has_diag("cfg.yaml:1:25: a key or value holds a NUL byte"));
}

/* Upstream applies its defaults before reading the file, then checks the
 * count against cidrLimit: the defaults must fit too. */
static void cidr_limit_bounds_defaults(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("cidrLimit: 2\n", &v4_opts, &cfg), -EINVAL);
	assert_string_equal(first_diag(), "cfg.yaml:1:1: cidrLimit 2 is below the 3 default "
					  "nonMasqueradeCIDRs (RFC 1918); list "
					  "nonMasqueradeCIDRs or raise cidrLimit");
	assert_int_equal(parse("masqLinkLocal: true\ncidrLimit: 0\n", &v4_opts, &cfg), -EINVAL);
	assert_true(has_diag("cfg.yaml:2:1: cidrLimit 0 is below the 3 default"));
	assert_int_equal(parse("cidrLimit: 10\n", &reserved_opts, &cfg), -EINVAL);
	assert_true(has_diag("below the 11 default nonMasqueradeCIDRs"));
	assert_int_equal(parse("cidrLimit: 3\n", &v4_opts, &cfg), 0);
	assert_int_equal(cfg->ncidrs, 3);
	cfg_free(cfg);
	assert_int_equal(parse("cidrLimit: 0\nnonMasqueradeCIDRs: []\n", &v4_opts, &cfg), 0);
	assert_int_equal(cfg->ncidrs, 0);
	cfg_free(cfg);
}

static void resync_interval_rules(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("resyncInterval: 60\n", &v4_opts, &cfg), -EINVAL);
	assert_string_equal(first_diag(), "cfg.yaml:1:17: resyncInterval must be a duration "
					  "string such as \"60s\", got 60");
	assert_int_equal(parse("resyncInterval: \"60\"\n", &v4_opts, &cfg), -EINVAL);
	assert_int_equal(parse("resyncInterval: 500ms\n", &v4_opts, &cfg), -EINVAL);
	assert_string_equal(first_diag(), "cfg.yaml:1:17: resyncInterval \"500ms\" is under the "
					  "1s minimum");
	assert_int_equal(parse("resyncInterval: 0s\n", &v4_opts, &cfg), -EINVAL);
	assert_int_equal(parse("resyncInterval: -5s\n", &v4_opts, &cfg), -EINVAL);
	assert_int_equal(parse("resyncInterval: 1.5s\n", &v4_opts, &cfg), 0);
	assert_int_equal(cfg->resync_ns, 1500000000LL);
	cfg_free(cfg);
	assert_int_equal(parse("resyncInterval: 1h\n", &v4_opts, &cfg), 0);
	assert_int_equal(cfg->resync_ns, 3600000000000LL);
	cfg_free(cfg);
}

static void bad_values_each_reported(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("nonMasqueradeCIDRs: [banana, 10.0.0.0/33, {a: b}]\n"
			       "cidrLimit: \"64\"\nmasqLinkLocal: 3\n",
			       &v4_opts, &cfg),
			 -EINVAL);
	assert_int_equal(d.errors, 5);
	assert_true(has_diag("cfg.yaml:1:43: each nonMasqueradeCIDRs entry must be a string"));
	assert_true(has_diag("cfg.yaml:2:12: cidrLimit must be an unquoted integer"));
	assert_true(has_diag("cfg.yaml:3:16: masqLinkLocal must be true or false"));
	assert_true(has_diag("cfg.yaml:1:22: invalid CIDR \"banana\""));
	assert_true(has_diag("cfg.yaml:1:30: invalid CIDR \"10.0.0.0/33\""));
	assert_int_equal(parse("cidrLimit: -1\n", &v4_opts, &cfg), -EINVAL);
	assert_int_equal(parse("nonMasqueradeCIDRs: 10.0.0.0/8\n", &v4_opts, &cfg), -EINVAL);
	assert_int_equal(parse("- 10.0.0.0/8\n", &v4_opts, &cfg), -EINVAL);
	assert_string_equal(first_diag(), "cfg.yaml:1:1: the config must be a mapping of keys "
					  "to values");
}

static void duplicate_cidrs_deduplicated(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("nonMasqueradeCIDRs: [10.0.0.0/8, 192.168.0.0/16, 10.0.0.0/8]\n",
			       &v4_opts, &cfg),
			 0);
	assert_string_equal(cidrs_of(cfg), "10.0.0.0/8,192.168.0.0/16");
	assert_int_equal(d.warnings, 1);
	cfg_free(cfg);
}

static void syntax_error_has_position(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(
		parse("nonMasqueradeCIDRs: [10.0.0.0/8\nmasqLinkLocal: true\n", &v4_opts, &cfg),
		-EINVAL);
	assert_null(cfg);
	assert_true(d.items[0].line >= 1);
	assert_non_null(strstr(d.items[0].msg, "YAML syntax error"));
	assert_int_equal(parse("a: 1\n---\nb: 2\n", &v4_opts, &cfg), -EINVAL);
	assert_true(has_diag("cfg.yaml:2:1: only one YAML document is allowed"));
}

static void crlf_and_bom_harmless(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("\xef\xbb\xbfnonMasqueradeCIDRs:\r\n  - 10.0.0.0/8\r\n"
			       "masqLinkLocal: true\r\n",
			       &v4_opts, &cfg),
			 0);
	assert_string_equal(cidrs_of(cfg), "10.0.0.0/8");
	assert_true(cfg->masq_link_local);
	cfg_free(cfg);
}

static void aliases_refused(void **state)
{
	struct masq_config *cfg;

	assert_int_equal(parse("x: &a [10.0.0.0/8]\nnonMasqueradeCIDRs: *a\n", &v4_opts, &cfg),
			 -EINVAL);
	assert_true(has_diag("cfg.yaml:2:21: YAML aliases are not supported"));
}

static void deep_nesting_stops_early(void **state)
{
	size_t depth = 100000;
	char *text = malloc(depth * 2 + 16);
	struct masq_config *cfg;

	/* 100k levels would take libyaml ~40 s; the cap stops after 33. */
	strcpy(text, "x: ");
	memset(text + 3, '[', depth);
	memset(text + 3 + depth, ']', depth);
	text[3 + 2 * depth] = '\0';
	assert_int_equal(parse(text, &v4_opts, &cfg), -EINVAL);
	assert_true(has_diag("cfg.yaml:1:35: nesting deeper than 32 levels"));
	free(text);
}

static void oversized_file_rejected_before_parse(void **state)
{
	char path[] = "/tmp/masqd-test-XXXXXX";
	int fd = mkstemp(path);
	struct masq_config *cfg;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MASQ_FILE_MAX + 1), 0);
	close(fd);
	diags_init(&d);
	assert_int_equal(cfg_load_file(path, &v4_opts, &cfg, &d), -EFBIG);
	assert_non_null(strstr(first_diag(), "larger than the 1048576-byte limit"));
	unlink(path);
}

static void directory_rejected_clearly(void **state)
{
	struct masq_config *cfg;

	diags_init(&d);
	assert_int_equal(cfg_load_file("/tmp", &v4_opts, &cfg, &d), -EINVAL);
	assert_string_equal(first_diag(), "/tmp: is a directory; --config must name a file");
}

/* A FIFO where a file should be: opened without blocking (a FIFO with no
 * writer would hang the loop) and refused by its type, the token file too. */
static void fifo_refused_without_blocking(void **state)
{
	char path[64] = "/tmp/masqd-fifo-XXXXXX";
	struct masq_config *cfg;
	char *tok = NULL;

	assert_non_null(mkdtemp(path));
	strcat(path, "/f");
	assert_int_equal(mkfifo(path, 0600), 0);
	diags_init(&d);
	assert_int_equal(cfg_load_file(path, &v4_opts, &cfg, &d), -EINVAL);
	assert_non_null(strstr(first_diag(), "is not a regular file"));
	assert_int_equal(kube_token_read(path, &tok), -EINVAL);
	assert_null(tok);
	unlink(path);
	*strrchr(path, '/') = '\0';
	rmdir(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(row_no_file_gives_defaults),
		cmocka_unit_test(row_key_absent_keeps_default),
		cmocka_unit_test(row_explicit_empty_list),
		cmocka_unit_test(row_misaligned_cidr_names_aligned_form),
		cmocka_unit_test(row_ipv6_needs_enable_ipv6),
		cmocka_unit_test(row_over_cidr_limit_rejected),
		cmocka_unit_test(row_unknown_key_warned),
		cmocka_unit_test(row_duplicate_key_rejected),
		cmocka_unit_test(row_yaml11_booleans_unquoted_only),
		cmocka_unit_test(row_empty_file_gives_defaults),
		cmocka_unit_test(json_form_accepted),
		cmocka_unit_test(json_with_tabs_accepted),
		cmocka_unit_test(nul_bytes_refused),
		cmocka_unit_test(cidr_limit_bounds_defaults),
		cmocka_unit_test(resync_interval_rules),
		cmocka_unit_test(bad_values_each_reported),
		cmocka_unit_test(duplicate_cidrs_deduplicated),
		cmocka_unit_test(syntax_error_has_position),
		cmocka_unit_test(crlf_and_bom_harmless),
		cmocka_unit_test(aliases_refused),
		cmocka_unit_test(deep_nesting_stops_early),
		cmocka_unit_test(oversized_file_rejected_before_parse),
		cmocka_unit_test(directory_rejected_clearly),
		cmocka_unit_test(fifo_refused_without_blocking),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
