/* One destination's decision, explained from a merged config. */
#include "config/explain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/lpm.h"

/* The non-masquerade side with who gave each: the config's CIDRs (files,
 * policies, defaults), then the link-local ranges it keeps. */
struct keep_side {
	struct cidr *c;
	const char **origin;
	size_t n;
};

static int keep_side_get(const struct masq_merged *m, const struct masq_opts *opts,
			 struct keep_side *ret)
{
	const struct masq_config *cfg = m->cfg;
	struct cidr ll[2];
	size_t nll = cfg_link_local(cfg, opts, ll);

	ret->c = malloc((cfg->ncidrs + nll) * sizeof(*ret->c) + 1);
	ret->origin = malloc((cfg->ncidrs + nll) * sizeof(*ret->origin) + 1);
	if (!ret->c || !ret->origin)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->ncidrs; i++) {
		ret->c[i] = cfg->cidrs[i];
		ret->origin[i] = i < m->norigins ? m->origins[i] : "?";
	}
	for (size_t i = 0; i < nll; i++) {
		ret->c[cfg->ncidrs + i] = ll[i];
		ret->origin[cfg->ncidrs + i] = "link-local";
	}
	ret->n = cfg->ncidrs + nll;
	return 0;
}

static void add(struct explain *e, const struct cidr *c, bool masq, enum explain_role role,
		const char *origins)
{
	e->v[e->n++] = (struct explain_prefix){
		.cidr = *c, .masquerade = masq, .role = role, .origins = origins
	};
}

static int longest_first(const void *x, const void *y)
{
	const struct explain_prefix *a = x, *b = y;

	return (b->cidr.plen > a->cidr.plen) - (b->cidr.plen < a->cidr.plen);
}

/* Everything but the decider: shorter prefixes containing dest lost to it;
 * longer ones inside it that do not contain dest were not in the running
 * (listed while e->n is under cap). */
static void add_loser(struct explain *e, const struct cidr *c, bool masq, const char *origins,
		      const struct cidr *decider, size_t cap)
{
	if (cidr_equal(c, decider))
		return;
	if (cidr_contains(c, &e->dest)) {
		add(e, c, masq, EXPLAIN_SHORTER, origins);
	} else if (c->plen > decider->plen && cidr_contains(decider, c)) {
		if (e->n < cap)
			add(e, c, masq, EXPLAIN_ELSEWHERE, origins);
		else
			e->more++;
	}
}

int explain_dest(const struct masq_merged *m, const struct masq_opts *opts, const struct cidr *dest,
		 const struct cidr *source, struct explain *ret)
{
	const struct masq_config *cfg = m->cfg;
	struct keep_side k = { 0 };
	const struct cidr *decider;
	size_t at, cap;
	bool kept;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->dest = *dest;
	ret->family_on = dest->family == AF_INET || opts->enable_ipv6;
	ret->masqueraded = ret->family_on;
	if (!ret->family_on)
		return 0;
	podsrc_format(&opts->pods, dest->family == AF_INET6, ret->pods);
	ret->source_outside = ret->pods[0] && source && !podsrc_contains(&opts->pods, source);
	r = keep_side_get(m, opts, &k);
	ret->v = calloc(k.n + cfg->nmasq + 1, sizeof(*ret->v));
	if (r < 0 || !ret->v) {
		r = -ENOMEM;
		goto done;
	}
	if (!lpm_decide(k.c, k.n, cfg->masq_cidrs, cfg->nmasq, dest, &at, &kept))
		goto done; /* no prefix: masqueraded, as always */
	ret->masqueraded = !kept;
	decider = kept ? &k.c[at] : &cfg->masq_cidrs[at];
	add(ret, decider, !kept, EXPLAIN_DECIDED, kept ? k.origin[at] : m->masq_origins[at]);
	for (size_t i = 0; i < k.n; i++) /* the shorter ones first, longest first */
		if (cidr_contains(&k.c[i], dest))
			add_loser(ret, &k.c[i], false, k.origin[i], decider, 0);
	for (size_t j = 0; j < cfg->nmasq; j++)
		if (cidr_contains(&cfg->masq_cidrs[j], dest))
			add_loser(ret, &cfg->masq_cidrs[j], true, m->masq_origins[j], decider, 0);
	qsort(ret->v + 1, ret->n - 1, sizeof(*ret->v), longest_first);
	cap = ret->n + EXPLAIN_LONGER_MAX;
	for (size_t i = 0; i < k.n; i++)
		if (!cidr_contains(&k.c[i], dest))
			add_loser(ret, &k.c[i], false, k.origin[i], decider, cap);
	for (size_t j = 0; j < cfg->nmasq; j++)
		if (!cidr_contains(&cfg->masq_cidrs[j], dest))
			add_loser(ret, &cfg->masq_cidrs[j], true, m->masq_origins[j], decider, cap);
	r = 0;
done:
	if (ret->source_outside)
		ret->masqueraded = false; /* the scope's rule returns first */
	free(k.c);
	free(k.origin);
	if (r < 0)
		explain_clear(ret);
	return r;
}

void explain_clear(struct explain *e)
{
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* --- the answer, as JSON and as text (masqctl explain, and masqd for --live) */

/* "a, b" as a JSON array. */
static json_t *origins_json(const char *list)
{
	json_t *a = json_array();

	for (const char *p = list; p && *p;) {
		const char *comma = strstr(p, ", ");
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		json_array_append_new(a, json_stringn(p, n));
		p = comma ? comma + 2 : NULL;
	}
	return a;
}

static const char *side_name(const struct explain_prefix *p)
{
	return p->masquerade ? "masqueradeCIDRs" : "nonMasquerade";
}

static json_t *prefix_json(const struct explain_prefix *p, const char *dest, const char *winner)
{
	char c[CIDR_STRLEN], why[2 * CIDR_STRLEN + 64];

	cidr_format(&p->cidr, c);
	if (p->role == EXPLAIN_SHORTER)
		snprintf(why, sizeof(why), "shorter than %s, which contains %s too", winner, dest);
	else
		snprintf(why, sizeof(why), "does not contain %s", dest);
	return json_pack("{s:s, s:s, s:o, s:s}", "cidr", c, "list", side_name(p), "origins",
			 origins_json(p->origins), "reason",
			 p->role == EXPLAIN_DECIDED ? "the longest prefix containing it" : why);
}

json_t *explain_to_json(const struct explain *e, const char *dest, const char *source)
{
	json_t *o = json_object(), *shorter = json_array(), *elsewhere = json_array();
	char winner[CIDR_STRLEN] = "";

	if (e->n)
		cidr_format(&e->v[0].cidr, winner);
	for (size_t i = 1; i < e->n; i++)
		json_array_append_new(e->v[i].role == EXPLAIN_SHORTER ? shorter : elsewhere,
				      prefix_json(&e->v[i], dest, winner));
	json_object_set_new(o, "destination", json_string(dest));
	json_object_set_new(o, "masqueraded", json_boolean(e->masqueraded));
	json_object_set_new(o, "familyDecided", json_boolean(e->family_on));
	json_object_set_new(o, "decidedBy",
			    e->n ? prefix_json(&e->v[0], dest, winner) : json_null());
	json_object_set_new(o, "shorter", shorter);
	json_object_set_new(o, "notContaining", elsewhere);
	json_object_set_new(o, "notContainingNotListed", json_integer((json_int_t)e->more));
	json_object_set_new(o, "source", source ? json_string(source) : json_null());
	json_object_set_new(o, "sourceScoped", json_boolean(e->pods[0] != '\0'));
	json_object_set_new(o, "podCIDRs", e->pods[0] ? origins_json(e->pods) : json_null());
	json_object_set_new(o, "decidedByMasqd", json_boolean(e->family_on && !e->source_outside));
	if (e->source_outside)
		json_object_set_new(o, "reason",
				    json_string("source outside the pod CIDRs, keeps its source"));
	return o;
}

void explain_write(const struct explain *e, const char *dest, const char *source, FILE *out)
{
	char c[CIDR_STRLEN], winner[CIDR_STRLEN] = "";

	if (e->source_outside)
		fprintf(out,
			"%s: not masqd's decision: source outside the pod CIDRs, keeps its source\n"
			"  for a source in the pod CIDRs:\n",
			dest);
	else
		fprintf(out, "%s: %s\n", dest, e->masqueraded ? "masqueraded" : "keeps the pod IP");
	if (!e->family_on)
		fprintf(out,
			"  IPv6 is not decided without --enable-ipv6: masqd leaves it untouched, as "
			"upstream does\n");
	else if (!e->n)
		fprintf(out, "  no prefix contains %s: masqueraded, as everything not listed\n",
			dest);
	if (e->n)
		cidr_format(&e->v[0].cidr, winner);
	for (size_t i = 0; i < e->n; i++) {
		const struct explain_prefix *p = &e->v[i];

		cidr_format(&p->cidr, c);
		if (p->role == EXPLAIN_DECIDED)
			fprintf(out, "  decided by %s (%s), from %s\n", c, side_name(p),
				p->origins);
		else if (p->role == EXPLAIN_SHORTER)
			fprintf(out, "  lost: %s (%s), from %s: shorter than %s\n", c, side_name(p),
				p->origins, winner);
		else
			fprintf(out,
				"  not in the running: %s (%s), from %s: does not contain %s\n", c,
				side_name(p), p->origins, dest);
	}
	if (e->more)
		fprintf(out, "  ... and %zu more prefixes inside %s that do not contain %s\n",
			e->more, winner, dest);
	if (e->family_on && !e->pods[0])
		fprintf(out, "  source %s: every source is decided (no pod-source scoping)\n",
			source ? source : "any");
	else if (e->family_on && !source)
		fprintf(out,
			"  pod-source scope: only sources in %s are decided; others keep theirs\n",
			e->pods);
	else if (e->family_on)
		fprintf(out, "  source %s: %s the pod CIDRs (%s)\n", source,
			e->source_outside ? "outside" : "in", e->pods);
}
