/* masqctl: check and explain an ip-masq-agent config the way masqd reads it.
 *   masqctl validate [FLAGS] PATH
 *   masqctl render [FLAGS] PATH
 *   masqctl effective --json [FLAGS] PATH
 *   masqctl explain [FLAGS] PATH DEST [--source SRC] [--json]
 *   masqctl explain --live DEST [--socket PATH] [--json]
 *   masqctl status [--socket PATH] [--json] */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/cli.h"
#include "tools/masqctl_status.h"
#include "config/config.h"
#include "config/duration.h"
#include "config/explain.h"
#include "config/flags.h"
#include "config/outcome.h"
#include "config/ruleset.h"
#include "config/snat.h"
#include "config/sources.h"
#include "netlink/nodeaddr.h"

struct ctl {
	struct sources_settings set;
	const char *to_ports;
	const char *resync;
	int max_cidrs;
	struct flag_strings snat_to; /* --snat-to-address */
	const char *snat_iface;
	struct snat_spec snat; /* both, checked */
	struct flag_strings pod_cidrs; /* --pod-cidr, checked into set.opts.pods */
	bool json, help, version, live;
	const char *path;
	const char *config; /* masqd's --config: PATH when none is given */
	const char *socket;
	const char *source; /* explain --source */
};

#define STATUS_MAX (1u << 20) /* bound on the status document read */

static void usage(FILE *f, const struct flag_def *defs)
{
	fprintf(f,
		"Usage:\n"
		"  masqctl validate [FLAGS] PATH         check a config; prints PATH: OK\n"
		"  masqctl render [FLAGS] PATH           the nft ruleset masqd would program\n"
		"  masqctl effective --json [FLAGS] PATH the effective config as JSON\n"
		"  masqctl explain [FLAGS] PATH DEST    why DEST is masqueraded or not\n"
		"  masqctl explain --live DEST         the same from the running masqd, checked\n"
		"                                      against the kernel's set\n"
		"  masqctl status [--socket PATH] [--json] a running masqd's state\n\n"
		"PATH is an ip-masq-agent config file (YAML or JSON), or a directory whose\n"
		"ip-masq* files are merged as ip-masq-agent-v2 does. For render and\n"
		"effective a missing file means the built-in defaults, as for masqd.\n\n"
		"Flags (those of masqd that change the outcome, and masqctl's own):\n");
	flags_print_help(defs, f);
	fprintf(f, "\nmasqd's other flags (--masq-chain, --v, klog's, ...) are accepted and\n"
		   "ignored, so a DaemonSet's args can be pasted as they are.\n");
	fprintf(f,
		"\nExit status: 0 on success, 1 when the config has errors, 2 on a usage error,\n"
		"3 when explain --live finds the kernel's set disagreeing with the decision.\n");
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

/* Load PATH and the policies as masqd would; every problem is printed. */
static int load(const struct ctl *c, bool missing_is_error, struct masq_merged *ret)
{
	struct masq_sources *src = sources_new();
	struct source_state st[SOURCE_COUNT];
	struct sources_settings set = c->set;
	struct diags d;
	int r;

	if (!src)
		return -ENOMEM;
	if (missing_is_error && access(c->path, F_OK) < 0) {
		fprintf(stderr, "%s: %s\n", c->path,
			errno == ENOENT ? "no such file" : strerror(errno));
		sources_free(src);
		return -ENOENT;
	}
	set.config = c->path;
	diags_init(&d);
	r = sources_load(src, &set, ret, st, &d);
	print_diags(&d);
	sources_free(src);
	if (r > 0) { /* masqctl has no last good version to fall back on */
		merged_clear(ret);
		return -EINVAL;
	}
	if (r < 0 && d.errors == 0)
		fprintf(stderr, "%s: %s\n", c->path, strerror(-r));
	return r;
}

/* A config that turns masquerading off for a family is valid, and most
 * likely a mistake: say so, as masqd's log and masqd_masquerade_off do. */
static void warn_keeps_all(const struct masq_ruleset *rs)
{
	for (int f = 0; f < 2; f++) {
		if (masq_ruleset_keeps_all(rs, f ? AF_INET6 : AF_INET))
			fprintf(stderr,
				"warning: the non-masquerade set covers every %s address (%s): "
				"nothing of that family would be masqueraded\n",
				f ? "IPv6" : "IPv4", f ? "::/0" : "0.0.0.0/0");
	}
}

static int cmd_validate(const struct ctl *c)
{
	struct masq_merged m;
	struct masq_ruleset *rs;

	if (load(c, true, &m) < 0)
		return 1;
	if (masq_ruleset_build(m.cfg, &c->set.opts, &rs) == 0) {
		warn_keeps_all(rs);
		masq_ruleset_free(rs);
	}
	printf("%s: OK\n", c->path);
	merged_clear(&m);
	return 0;
}

/* The SNAT addresses masqd would program: --snat-to-address's as given (in
 * force while the address is on the node), --snat-interface's as this
 * host's interface has them now. */
static int render_snat(const struct ctl *c, struct masq_ruleset *rs)
{
	struct addr_watch *w = NULL;
	char err[160] = "";
	int r;

	if (!c->snat.iface[0]) {
		masq_ruleset_set_snat(rs, AF_INET, &c->snat.to[0]);
		masq_ruleset_set_snat(rs, AF_INET6, &c->snat.to[1]);
		return 0;
	}
	r = addr_watch_new(&w, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "masqctl: --snat-interface: %s\n", err[0] ? err : strerror(-r));
		return r;
	}
	for (int fi = 0; fi < (rs->ipv6 ? 2 : 1) && r == 0; fi++) {
		struct masq_snat s;

		r = addr_watch_resolve(w, &c->snat, fi, &s);
		if (r == 0 && !s.on)
			fprintf(stderr,
				"masqctl: %s has no global %s address here: masqd would masquerade "
				"meanwhile\n",
				c->snat.iface, fi ? "IPv6" : "IPv4");
		if (r == 0)
			masq_ruleset_set_snat(rs, fi ? AF_INET6 : AF_INET, &s);
	}
	addr_watch_free(w);
	return r;
}

static int cmd_render(const struct ctl *c)
{
	struct masq_merged m;
	struct masq_ruleset *rs;
	int r;

	if (load(c, false, &m) < 0)
		return 1;
	r = masq_ruleset_build(m.cfg, &c->set.opts, &rs);
	merged_clear(&m);
	if (r < 0) {
		fprintf(stderr, "masqctl: %s\n", strerror(-r));
		return 1;
	}
	warn_keeps_all(rs);
	r = render_snat(c, rs);
	if (r == 0)
		r = masq_ruleset_render(rs, stdout);
	masq_ruleset_free(rs);
	return r < 0 ? 1 : 0;
}

/* A list of CIDRs as strings, each with who gave it in sources (CIDR ->
 * origins; a CIDR is never in both lists). */
static json_t *cidrs_json(const struct cidr *c, size_t n, char **origins, json_t *sources)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		char buf[CIDR_STRLEN];
		json_t *who = json_array();
		cidr_format(&c[i], buf);
		json_array_append_new(list, json_string(buf));
		for (char *o2 = origins[i], *save = NULL, *tok; (tok = strtok_r(o2, ",", &save));
		     o2 = NULL)
			json_array_append_new(who, json_string(tok + (tok[0] == ' ')));
		json_object_set_new(sources, buf, who);
	}
	return list;
}

static json_t *effective_json(const struct masq_merged *m)
{
	const struct masq_config *cfg = m->cfg;
	json_t *o = json_object(), *sources = json_object();
	double secs = (double)cfg->resync_ns / 1e9;

	json_object_set_new(o, "nonMasqueradeCIDRs",
			    cidrs_json(cfg->cidrs, cfg->ncidrs, m->origins, sources));
	/* masqd's own key, only when set: upstream's output stays as it was */
	if (cfg->nmasq)
		json_object_set_new(
			o, "masqueradeCIDRs",
			cidrs_json(cfg->masq_cidrs, cfg->nmasq, m->masq_origins, sources));
	json_object_set_new(o, "masqLinkLocal", json_boolean(cfg->masq_link_local));
	json_object_set_new(o, "masqLinkLocalIPv6", json_boolean(cfg->masq_link_local6));
	/* whole seconds print as an integer, "1.5" for 1500ms */
	json_object_set_new(o, "resyncIntervalSeconds",
			    cfg->resync_ns % 1000000000 == 0
				    ? json_integer(cfg->resync_ns / 1000000000)
				    : json_real(secs));
	json_object_set_new(o, "cidrLimit", json_integer(cfg->cidr_limit));
	json_object_set_new(o, "sources", sources);
	return o;
}

static int cmd_effective(const struct ctl *c)
{
	struct masq_merged m;
	json_t *o;
	int r;

	if (!c->json) {
		fprintf(stderr, "masqctl: effective needs --json (the only output format)\n");
		return 2;
	}
	if (load(c, false, &m) < 0)
		return 1;
	o = effective_json(&m);
	merged_clear(&m);
	r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	printf("\n");
	return r < 0 ? 1 : 0;
}

static char *ask_masqd(const char *path, const char *request);

/* masqctl explain --live DEST: the running masqd's answer. */
static int cmd_explain_live(const struct ctl *c, const char *dest)
{
	char req[128], *text;
	json_error_t jerr;
	json_t *doc, *k;
	int rc = 0;

	if (strlen(dest) > 64 || strchr(dest, '\n')) {
		fprintf(stderr, "masqctl: \"%.64s\" is not an IPv4 or IPv6 address\n", dest);
		return 2;
	}
	snprintf(req, sizeof(req), "explain %s\n", dest);
	if (!(text = ask_masqd(c->socket, req)))
		return 1;
	doc = json_loads(text, 0, &jerr);
	if (!json_is_object(doc)) {
		fprintf(stderr, "masqctl: malformed answer from masqd: %s\n", jerr.text);
		rc = 1;
	} else if (json_object_get(doc, "error")) {
		fprintf(stderr, "masqctl: masqd: %s\n",
			json_string_value(json_object_get(doc, "error")) ?: "error");
		rc = 1;
	} else if (c->json) {
		printf("%s\n", text);
	} else {
		fputs(json_string_value(json_object_get(doc, "text")) ?: "", stdout);
		if (!json_is_true(json_object_get(doc, "current")))
			printf("  the sources as read now differ from what was applied last (a change "
			       "not applied yet, or one masqd refused: see masqctl status)\n");
		k = json_object_get(doc, "kernel");
		if (json_object_get(k, "error"))
			printf("  kernel: set %s: %s\n",
			       json_string_value(json_object_get(k, "set")),
			       json_string_value(json_object_get(k, "error")));
		else if (json_is_object(k))
			printf("  kernel: set %s %s it: %s\n",
			       json_string_value(json_object_get(k, "set")),
			       json_is_true(json_object_get(k, "holds")) ? "holds"
									 : "does not hold",
			       json_is_true(json_object_get(k, "agrees")) ? "agrees" : "DISAGREES");
		if (json_is_object(k) && !json_is_true(json_object_get(k, "agrees")))
			rc = 3;
	}
	json_decref(doc);
	free(text);
	return rc;
}

/* masqctl explain: DEST's decision from PATH, offline. */
static int cmd_explain(const struct ctl *c, const char *dest)
{
	struct ctl lines = *c;
	struct masq_merged m;
	struct explain e;
	struct cidr d, s;
	int r;

	if (cidr_parse_host(dest, &d) < 0 || (c->source && cidr_parse_host(c->source, &s) < 0)) {
		fprintf(stderr, "masqctl: \"%s\" is not an IPv4 or IPv6 address\n",
			cidr_parse_host(dest, &d) < 0 ? dest : c->source);
		return 2;
	}
	if (c->source && s.family != d.family) {
		fprintf(stderr, "masqctl: --source %s and %s are not of the same family\n",
			c->source, dest);
		return 2;
	}
	lines.set.origin_lines = true; /* origins as FILE:LINE */
	if (load(&lines, false, &m) < 0)
		return 1;
	r = explain_dest(&m, &c->set.opts, &d, c->source ? &s : NULL, &e);
	if (r == 0 && c->json) {
		json_t *o = explain_to_json(&e, dest, c->source);
		r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -EIO : 0;
		printf("\n");
		json_decref(o);
	} else if (r == 0) {
		explain_write(&e, dest, c->source, stdout);
	}
	explain_clear(&e);
	merged_clear(&m);
	if (r < 0)
		fprintf(stderr, "masqctl: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}

/* Send request (a line) to masqd's socket and read the whole answer,
 * bounded in size and time. */
static char *ask_masqd(const char *path, const char *request)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };
	ssize_t n;

	if (!buf || fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		goto fail;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request))
		goto fail;
	while ((n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			char *b = cap < STATUS_MAX ? realloc(buf, cap * 2 + 1) : NULL;
			if (!b)
				goto fail;
			buf = b;
			cap *= 2;
		}
	}
	if (n < 0)
		goto fail;
	buf[len] = '\0';
	close(fd);
	return buf;
fail:
	fprintf(stderr, "masqctl: %s: %s (is masqd running? see --status-socket)\n", path,
		strerror(errno ? errno : EPROTO));
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int cmd_status(const struct ctl *c)
{
	char *text = ask_masqd(c->socket, "status\n");
	json_error_t jerr;
	json_t *doc;

	if (!text)
		return 1;
	if (c->json) {
		printf("%s\n", text);
		free(text);
		return 0;
	}
	doc = json_loads(text, 0, &jerr);
	free(text);
	if (!json_is_object(doc)) {
		fprintf(stderr, "masqctl: malformed status from masqd: %s\n", jerr.text);
		json_decref(doc);
		return 1;
	}
	masqctl_print_status(doc);
	json_decref(doc);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { .set = { .opts = { .random_fully = true } },
			 .socket = AGENT_DEFAULT_STATUS,
			 .resync = "60",
			 .to_ports = "",
			 .max_cidrs = SOURCES_DEFAULT_MAX_CIDRS };
	/* masqctl's own first: they win over a masqd flag of the same name */
	const struct flag_def defs[] = {
		MASQ_OUTCOME_FLAGS(c.set, c.max_cidrs, c.resync, c.to_ports),
		MASQ_SNAT_FLAGS(c.snat_to, c.snat_iface),
		MASQ_PODSRC_FLAG(c.pod_cidrs),
		{ "json", FLAG_BOOL, &c.json, NULL, "JSON output (effective, explain, status)" },
		{ "live", FLAG_BOOL, &c.live, NULL,
		  "explain: ask the running masqd (--socket), and check the kernel's set" },
		{ "source", FLAG_STRING, &c.source, "ADDR",
		  "explain: the packet's source address (checked against --pod-cidr)" },
		{ "socket", FLAG_STRING, &c.socket, "PATH",
		  "masqd's status socket (status; default " AGENT_DEFAULT_STATUS ")" },
		{ "config", FLAG_STRING, &c.config, "PATH",
		  "as masqd's: the config to read when no PATH argument is given" },
		{ "help", FLAG_BOOL, &c.help, NULL, "show this help" },
		{ "h", FLAG_BOOL, &c.help, NULL, NULL },
		{ "version", FLAG_BOOL, &c.version, NULL, "print the version and exit" },
		MASQD_RUN_FLAGS(MASQD_FLAG_IGNORE, c), /* names no member of c */
		FLAGS_KLOG,
		FLAGS_END,
	};
	struct flag_ctx fc;
	const char *cmd;
	char why[256];
	size_t explain;

	if (flags_parse(defs, argc, argv, 1, &fc) < 0) {
		fprintf(stderr, "masqctl: %s\n", fc.err);
		return 2;
	}
	if (c.help) {
		usage(stdout, defs);
		return 0;
	}
	if (c.version) {
		printf("masqctl %s (%s)\n", MASQD_VERSION, MASQD_REVISION);
		return 0;
	}
	if (fc.ignored[0])
		fprintf(stderr, "masqctl: ignored, they do not change the rules: %s\n", fc.ignored);
	if (fc.nargs == 1 && strcmp(fc.args[0], "status") == 0)
		return cmd_status(&c);
	explain = fc.nargs >= 1 && strcmp(fc.args[0], "explain") == 0; /* takes DEST too */
	if (explain && c.live) {
		if (fc.nargs != 2) {
			usage(stderr, defs);
			return 2;
		}
		if (c.source) { /* the status socket's request carries no source */
			fprintf(stderr,
				"masqctl: explain --live takes no --source: it shows the "
				"scope in force; ask offline with --source and --pod-cidr\n");
			return 2;
		}
		return cmd_explain_live(&c, fc.args[1]);
	}
	if (fc.nargs != 2 + explain && !(fc.nargs == 1 + explain && c.config)) {
		usage(stderr, defs);
		return 2;
	}
	if (outcome_flags_apply(&(struct outcome_values){ c.max_cidrs, c.resync, c.to_ports },
				&c.set.opts, &c.set.max_cidrs_per_file, &c.set.dir_resync_ns, why,
				sizeof(why)) < 0) {
		fprintf(stderr, "masqctl: %s\n", why);
		return 2;
	}
	if (snat_spec_parse(&c.snat_to, c.snat_iface, c.set.opts.enable_ipv6, &c.snat, why,
			    sizeof(why)) < 0 ||
	    podsrc_parse_flag(&c.pod_cidrs, c.set.opts.enable_ipv6, &c.set.opts.pods, why,
			      sizeof(why)) < 0) {
		fprintf(stderr, "masqctl: %s\n", why);
		return 2;
	}
	cmd = fc.args[0];
	c.path = fc.nargs == 2 + explain ? fc.args[1] : c.config;
	if (explain)
		return cmd_explain(&c, fc.args[fc.nargs - 1]);
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
