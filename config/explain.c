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
		 struct explain *ret)
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
