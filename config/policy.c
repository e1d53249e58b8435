/* EgressNATPolicy objects from a document: one, a List, or several; each
 * validated alone, with FILE:LINE:COL errors. */
#include "config/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/yamltree.h"

#define API_VERSION "networking.gke.io/v1"

void policy_list_clear(struct masq_policy_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->v[i].cidrs);
	for (size_t i = 0; i < list->nrejected; i++)
		free(list->rejected[i]);
	free(list->v);
	free(list->rejected);
	memset(list, 0, sizeof(*list));
}

int policy_list_add(struct masq_policy_list *list, const struct masq_policy *p)
{
	struct masq_policy *v = list->v;

	/* doubling: a list of 10,000 policies is built without 10,000 copies */
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 8;

		if (!(v = realloc(list->v, cap * sizeof(*v))))
			return -ENOMEM;
		list->v = v;
		list->cap = cap;
	}
	v[list->n] = *p;
	v[list->n].cidrs = calloc(p->ncidrs ? p->ncidrs : 1, sizeof(*p->cidrs));
	if (!v[list->n].cidrs)
		return -ENOMEM;
	if (p->ncidrs)
		memcpy(v[list->n].cidrs, p->cidrs, p->ncidrs * sizeof(*p->cidrs));
	list->n++;
	return 0;
}

static int add_rejected(struct masq_policy_list *list, const char *name)
{
	char **r = realloc(list->rejected, (list->nrejected + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	list->rejected = r;
	r[list->nrejected] = strdup(name);
	return r[list->nrejected++] ? 0 : -ENOMEM;
}

struct ctx {
	const char *file;
	const struct masq_opts *opts;
	struct diags *d;
	const char *name; /* the policy being read, for messages */
	bool bad;
};

static void __attribute__((format(printf, 3, 4)))
perr(struct ctx *c, const struct yt_node *at, const char *fmt, ...)
{
	char msg[DIAG_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(c->d, DIAG_ERROR, c->file, at ? at->line : 0, at ? at->col : 0, "policy %s: %s",
		 c->name, msg);
	c->bad = true;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > POLICY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.'))
			return false;
	}
	return true;
}

static void read_destination(struct ctx *c, const struct yt_node *item, struct masq_policy *p)
{
	const struct yt_node *cn = yt_get(item, "cidr");
	char aligned[CIDR_STRLEN], canon[CIDR_STRLEN];
	struct cidr cidr;
	bool v6;
	int r;

	if (!yt_str(cn)) {
		perr(c, item, "each destination needs a cidr string");
		return;
	}
	r = cidr_parse(cn->text, &cidr, aligned);
	if (r == -EDOM) {
		perr(c, cn, "CIDR \"%s\" has host bits set; the aligned form is %s", cn->text,
		     aligned);
		return;
	}
	if (r < 0) {
		perr(c, cn, "invalid CIDR \"%s\"", cn->text);
		return;
	}
	cidr_format(&cidr, canon);
	if (cidr.family == AF_INET6 && !c->opts->enable_ipv6) {
		perr(c, cn, "IPv6 CIDR %s needs the --enable-ipv6 flag", canon);
		return;
	}
	v6 = cidr.family == AF_INET6;
	if (cidr.plen < c->opts->policy_min_plen[v6]) {
		perr(c, cn, "destination %s is broader than /%u, the broadest %s allows", canon,
		     c->opts->policy_min_plen[v6],
		     v6 ? "--api-min-prefix-v6" : "--api-min-prefix-v4");
		return;
	}
	if (cidr.plen == 0)
		diag_add(c->d, DIAG_WARNING, c->file, cn->line, cn->col,
			 "policy %s: destination %s keeps the pod IP for every destination: "
			 "only masqueradeCIDRs are masqueraded on this node",
			 c->name, canon);
	p->cidrs[p->ncidrs++] = cidr;
}

static void read_spec(struct ctx *c, const struct yt_node *obj, struct masq_policy *p)
{
	const struct yt_node *spec = yt_get(obj, "spec"), *action = yt_get(spec, "action");
	const struct yt_node *dests = yt_get(spec, "destinations");

	if (!spec || spec->type != YT_MAP) {
		perr(c, obj, "spec is missing");
		return;
	}
	if (!yt_str(action) || strcmp(action->text, "NoSNAT") != 0) {
		perr(c, action ? action : spec, "spec.action \"%s\" is not supported (only NoSNAT)",
		     yt_str(action) ? action->text : "");
		return;
	}
	if (!dests)
		return; /* no destinations: contributes nothing */
	if (dests->type != YT_SEQ || dests->nkids > POLICY_MAX_DESTINATIONS) {
		perr(c, dests, "spec.destinations must be a list of at most %d {cidr: ...}",
		     POLICY_MAX_DESTINATIONS);
		return;
	}
	p->cidrs = calloc(dests->nkids ? dests->nkids : 1, sizeof(*p->cidrs));
	if (!p->cidrs) {
		perr(c, dests, "out of memory");
		return;
	}
	for (size_t i = 0; i < dests->nkids; i++)
		read_destination(c, dests->kids[i], p);
}

/* One EgressNATPolicy object; added to ret when valid, named in rejected if not. */
static int read_policy(struct ctx *c, const struct yt_node *obj, struct masq_policy_list *ret)
{
	const char *api = yt_str(yt_get(obj, "apiVersion")), *kind = yt_str(yt_get(obj, "kind"));
	const struct yt_node *name = yt_get(yt_get(obj, "metadata"), "name");
	struct masq_policy p = { .line = obj->line };
	int r = 0;

	c->bad = false;
	c->name = yt_str(name) ? name->text : "(unnamed)";
	if (!yt_str(name) || !valid_name(name->text))
		perr(c, name ? name : obj, "metadata.name must be a DNS subdomain name");
	else if (!api || strcmp(api, API_VERSION) != 0)
		perr(c, obj, "apiVersion must be %s", API_VERSION);
	else if (!kind || strcmp(kind, "EgressNATPolicy") != 0)
		perr(c, obj, "kind must be EgressNATPolicy");
	else
		read_spec(c, obj, &p);
	if (!c->bad) {
		snprintf(p.name, sizeof(p.name), "%s", name->text);
		r = policy_list_add(ret, &p);
	} else if (yt_str(name)) {
		r = add_rejected(ret, name->text);
	}
	free(p.cidrs);
	return r;
}

/* A document: one policy or a List of them. */
static int read_document(struct ctx *c, const struct yt_node *doc, struct masq_policy_list *ret)
{
	const char *kind = yt_str(yt_get(doc, "kind"));
	const struct yt_node *items = yt_get(doc, "items");
	int r = 0;

	if (!doc)
		return 0;
	if (doc->type != YT_MAP) {
		diag_add(c->d, DIAG_ERROR, c->file, doc->line, doc->col,
			 "expected an EgressNATPolicy object or a List of them");
		return 0;
	}
	if (!kind || (strcmp(kind, "List") != 0 && strcmp(kind, "EgressNATPolicyList") != 0))
		return read_policy(c, doc, ret);
	if (!items || items->type != YT_SEQ || items->nkids > POLICY_MAX_PER_FILE) {
		diag_add(c->d, DIAG_ERROR, c->file, doc->line, doc->col,
			 "a List needs items: at most %d objects", POLICY_MAX_PER_FILE);
		return 0;
	}
	for (size_t i = 0; r == 0 && i < items->nkids; i++)
		r = items->kids[i]->type == YT_MAP ? read_policy(c, items->kids[i], ret) : 0;
	return r;
}

int policy_parse_buf(const char *file, const char *buf, size_t len, const struct masq_opts *opts,
		     struct masq_policy_list *ret, struct diags *d)
{
	struct ctx c = { .file = file, .opts = opts, .d = d };
	struct yt_node **docs;
	int n = yt_parse(file, buf, len, &docs, d), r = 0;

	if (n < 0)
		return n;
	for (int i = 0; r == 0 && i < n; i++)
		r = read_document(&c, docs[i], ret);
	yt_free_docs(docs, n);
	if (r == 0 && ret->n > POLICY_MAX_PER_FILE) {
		diag_add(d, DIAG_ERROR, file, 0, 0, "more than %d policies in one file",
			 POLICY_MAX_PER_FILE);
		return -E2BIG;
	}
	return r;
}
