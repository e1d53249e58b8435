/* masqctl: check and explain an ip-masq-agent config the way masqd reads it.
 *   masqctl validate [FLAGS] PATH
 *   masqctl render [FLAGS] PATH
 *   masqctl effective --json [FLAGS] PATH */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/flags.h"
#include "config/ruleset.h"

struct ctl {
	struct masq_opts opts;
	const char *to_ports;
	bool json, help;
	const char *path;
};

static void usage(FILE *f, const struct flag_def *defs)
{
	fprintf(f, "Usage:\n"
		   "  masqctl validate [FLAGS] PATH         check a config; prints PATH: OK\n"
		   "  masqctl render [FLAGS] PATH           the nft ruleset masqd would program\n"
		   "  masqctl effective --json [FLAGS] PATH the effective config as JSON\n\n"
		   "PATH is an ip-masq-agent config file (YAML or JSON). For render and\n"
		   "effective a missing file means the built-in defaults, as for masqd.\n\n"
		   "Flags (those of masqd that change the outcome):\n");
	flags_print_help(defs, f);
	fprintf(f,
		"\nExit status: 0 on success, 1 when the config has errors, 2 on a usage error.\n");
}

/* Print warnings and errors, one FILE:LINE:COL: message line each. */
static void print_diags(const struct diags *d)
{
	char line[DIAG_FILE_LEN + DIAG_MSG_LEN + 32];

	diag_for_each(g, d) {
		diag_format(g, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	if (d->dropped)
		fprintf(stderr, "masqctl: %zu more problems not shown\n", d->dropped);
}

static int load(const struct ctl *c, bool missing_is_error, struct masq_config **ret)
{
	struct diags d;
	int r;

	diags_init(&d);
	r = cfg_load_file(c->path, &c->opts, ret, &d);
	print_diags(&d);
	if (r == 0 && missing_is_error && !(*ret)->file_present) {
		fprintf(stderr, "%s: no such file\n", c->path);
		cfg_free(*ret);
		return -ENOENT;
	}
	if (r < 0 && d.errors == 0)
		fprintf(stderr, "%s: %s\n", c->path, strerror(-r));
	return r;
}

static int cmd_validate(const struct ctl *c)
{
	struct masq_config *cfg;

	if (load(c, true, &cfg) < 0)
		return 1;
	printf("%s: OK\n", c->path);
	cfg_free(cfg);
	return 0;
}

static int cmd_render(const struct ctl *c)
{
	struct masq_config *cfg;
	struct masq_ruleset *rs;
	int r;

	if (load(c, false, &cfg) < 0)
		return 1;
	r = masq_ruleset_build(cfg, &c->opts, &rs);
	cfg_free(cfg);
	if (r < 0) {
		fprintf(stderr, "masqctl: %s\n", strerror(-r));
		return 1;
	}
	r = masq_ruleset_render(rs, stdout);
	masq_ruleset_free(rs);
	return r < 0 ? 1 : 0;
}

static json_t *effective_json(const struct masq_config *cfg)
{
	json_t *o = json_object(), *list = json_array();
	double secs = (double)cfg->resync_ns / 1e9;

	for (size_t i = 0; i < cfg->ncidrs; i++) {
		char buf[CIDR_STRLEN];
		cidr_format(&cfg->cidrs[i], buf);
		json_array_append_new(list, json_string(buf));
	}
	json_object_set_new(o, "nonMasqueradeCIDRs", list);
	json_object_set_new(o, "masqLinkLocal", json_boolean(cfg->masq_link_local));
	json_object_set_new(o, "masqLinkLocalIPv6", json_boolean(cfg->masq_link_local6));
	/* whole seconds print as an integer, "1.5" for 1500ms */
	json_object_set_new(o, "resyncIntervalSeconds",
			    cfg->resync_ns % 1000000000 == 0
				    ? json_integer(cfg->resync_ns / 1000000000)
				    : json_real(secs));
	json_object_set_new(o, "cidrLimit", json_integer(cfg->cidr_limit));
	return o;
}

static int cmd_effective(const struct ctl *c)
{
	struct masq_config *cfg;
	json_t *o;
	int r;

	if (!c->json) {
		fprintf(stderr, "masqctl: effective needs --json (the only output format)\n");
		return 2;
	}
	if (load(c, false, &cfg) < 0)
		return 1;
	o = effective_json(cfg);
	cfg_free(cfg);
	r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	printf("\n");
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { .opts = { .random_fully = true } };
	const struct flag_def defs[] = {
		{ "nomasq-all-reserved-ranges", FLAG_BOOL, &c.opts.all_reserved, NULL,
		  "default to all 11 reserved ranges instead of RFC 1918" },
		{ "enable-ipv6", FLAG_BOOL, &c.opts.enable_ipv6, NULL, "accept and program IPv6" },
		{ "random-fully", FLAG_BOOL, &c.opts.random_fully, NULL,
		  "masquerade fully-random (default true)" },
		{ "to-ports", FLAG_STRING, &c.to_ports, "RANGES", "not supported yet; rejected" },
		{ "json", FLAG_BOOL, &c.json, NULL, "JSON output (effective)" },
		{ "help", FLAG_BOOL, &c.help, NULL, "show this help" },
		{ "h", FLAG_BOOL, &c.help, NULL, NULL },
		FLAGS_END,
	};
	struct flag_ctx fc;
	const char *cmd;

	if (flags_parse(defs, argc, argv, 1, &fc) < 0) {
		fprintf(stderr, "masqctl: %s\n", fc.err);
		return 2;
	}
	if (c.help) {
		usage(stdout, defs);
		return 0;
	}
	if (fc.nargs != 2) {
		usage(stderr, defs);
		return 2;
	}
	if (c.to_ports && *c.to_ports) {
		fprintf(stderr, "masqctl: --to-ports is not supported yet\n");
		return 2;
	}
	cmd = fc.args[0];
	c.path = fc.args[1];
	if (strcmp(cmd, "validate") == 0)
		return cmd_validate(&c);
	if (strcmp(cmd, "render") == 0)
		return cmd_render(&c);
	if (strcmp(cmd, "effective") == 0)
		return cmd_effective(&c);
	fprintf(stderr, "masqctl: unknown command \"%s\"\n", cmd);
	usage(stderr, defs);
	return 2;
}
