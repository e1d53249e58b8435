/* A config against the last one, as prefixes that came and went. */
#include "config/incr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/lpmidx.h"

/* One list as last seen. */
struct list {
	struct cidr *v;
	size_t n;
};

struct masq_incr {
	const struct masq_opts *opts;
	struct lpm_index *ix[2];
	int families;
	struct list keep, masq; /* the config's nonMasqueradeCIDRs and masqueradeCIDRs */
	struct list ll; /* the link-local prefixes kept */
	size_t ncidrs[2]; /* keep's and the link-local prefixes, by family */
};

void masq_delta_clear(struct masq_delta *d)
{
	for (int f = 0; f < 2; f++) {
		free(d->del[f]);
		free(d->add[f]);
	}
	memset(d, 0, sizeof(*d));
}

void masq_incr_free(struct masq_incr *x)
{
	if (!x)
		return;
	for (int f = 0; f < 2; f++)
		lpm_index_free(x->ix[f]);
	free(x->keep.v);
	free(x->masq.v);
	free(x->ll.v);
	free(x);
}

static int list_set(struct list *l, const struct cidr *v, size_t n)
{
	struct cidr *c = realloc(l->v, (n ? n : 1) * sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (n)
		memcpy(c, v, n * sizeof(*c));
	l->v = c;
	l->n = n;
	return 0;
}

int masq_incr_new(const struct masq_config *cfg, const struct masq_opts *opts,
		  struct masq_incr **ret)
{
	struct masq_incr *x = calloc(1, sizeof(*x));
	struct cidr *keep = calloc(cfg->ncidrs + 2, sizeof(*keep));
	size_t n = cfg->ncidrs, nll = 0;
	int r = x && keep ? 0 : -ENOMEM;

	if (r == 0) {
		x->opts = opts;
		x->families = opts->enable_ipv6 ? 2 : 1;
		if (n)
			memcpy(keep, cfg->cidrs, n * sizeof(*keep));
		nll = cfg_link_local(cfg, opts, keep + n);
		for (size_t i = 0; i < n + nll; i++)
			x->ncidrs[keep[i].family == AF_INET6]++;
	}
	for (int f = 0; r == 0 && f < x->families; f++) {
		x->ix[f] = lpm_index_new(f ? AF_INET6 : AF_INET, keep, n + nll, cfg->masq_cidrs,
					 cfg->nmasq);
		r = x->ix[f] ? 0 : -ENOMEM;
	}
	if (r == 0)
		r = list_set(&x->keep, cfg->cidrs, cfg->ncidrs);
	if (r == 0)
		r = list_set(&x->masq, cfg->masq_cidrs, cfg->nmasq);
	if (r == 0)
		r = list_set(&x->ll, keep + n, nll);
	free(keep);
	if (r < 0) {
		masq_incr_free(x);
		return r;
	}
	*ret = x;
	return 0;
}

/* Both prefixes to every index (the other family's skip it). */
static int change(struct masq_incr *x, const struct cidr *c, bool keep, int delta)
{
	int r = 0;

	for (int f = 0; r == 0 && f < x->families; f++)
		r = lpm_index_change(x->ix[f], c, keep, delta);
	if (keep)
		x->ncidrs[c->family == AF_INET6] += (size_t)delta; /* -1: wraps back */
	return r;
}

#define SCAN_BLOCK 256 /* CIDRs compared by one memcmp */

/* How many leading CIDRs of a and b (n each at most) are byte for byte
 * the same: a block at a time at memory speed, then one by one. Padding
 * bytes that differ only make a CIDR look changed, which costs its
 * re-resolution and nothing else. */
static size_t same_head(const struct cidr *a, const struct cidr *b, size_t n)
{
	size_t i = 0;

	while (i + SCAN_BLOCK <= n && memcmp(a + i, b + i, SCAN_BLOCK * sizeof(*a)) == 0)
		i += SCAN_BLOCK;
	while (i < n && memcmp(a + i, b + i, sizeof(*a)) == 0)
		i++;
	return i;
}

/* The same from the end: a[na - 1], b[nb - 1] backwards, n at most. */
static size_t same_tail(const struct cidr *a, size_t na, const struct cidr *b, size_t nb, size_t n)
{
	size_t j = 0;

	while (j + SCAN_BLOCK <= n && memcmp(a + na - j - SCAN_BLOCK, b + nb - j - SCAN_BLOCK,
					     SCAN_BLOCK * sizeof(*a)) == 0)
		j += SCAN_BLOCK;
	while (j < n && memcmp(a + na - 1 - j, b + nb - 1 - j, sizeof(*a)) == 0)
		j++;
	return j;
}

/* old becomes now, which differs from it only in [i, n - j): in place, and
 * without moving anything when the middle kept its length. */
static int list_patch(struct list *old, const struct cidr *now, size_t n, size_t i, size_t j)
{
	size_t wa = old->n - i - j, wb = n - i - j;

	if (wa != wb) {
		struct cidr *c = wb > wa ? realloc(old->v, n * sizeof(*c)) : old->v;

		if (!c)
			return -ENOMEM;
		memmove(c + i + wb, c + i + wa, j * sizeof(*c));
		old->v = c;
		old->n = n;
	}
	if (wb)
		memcpy(old->v + i, now + i, wb * sizeof(*now));
	return 0;
}

/* The prefixes of old that now lacks go, those of now that old lacked come.
 * Both lists are deduplicated. The common head and tail are skipped; the
 * rest is matched with a hash table (cidr_first_equal over both). */
static int diff(struct masq_incr *x, struct list *old, const struct cidr *now, size_t n, bool keep)
{
	size_t i = same_head(old->v, now, old->n < n ? old->n : n), j, wa, wb, *first;
	struct cidr *both;
	bool *matched;
	int r = 0;

	j = same_tail(old->v, old->n, now, n, (old->n < n ? old->n : n) - i);
	wa = old->n - i - j;
	wb = n - i - j;
	if (wa + wb == 0)
		return 0;
	both = malloc((wa + wb) * sizeof(*both));
	first = malloc((wa + wb) * sizeof(*first));
	matched = calloc(wa + 1, sizeof(*matched));
	if (both && first && matched) {
		memcpy(both, old->v + i, wa * sizeof(*both));
		if (wb) /* now may be NULL when n is 0 */
			memcpy(both + wa, now + i, wb * sizeof(*both));
	}
	if (!both || !first || !matched || cidr_first_equal(both, wa + wb, first) < 0)
		r = -ENOMEM;
	for (size_t k = wa; r == 0 && k < wa + wb; k++) {
		if (first[k] < wa)
			matched[first[k]] = true;
		else
			r = change(x, &both[k], keep, 1);
	}
	for (size_t k = 0; r == 0 && k < wa; k++) {
		if (!matched[k])
			r = change(x, &both[k], keep, -1);
	}
	if (r == 0)
		r = list_patch(old, now, n, i, j);
	free(both);
	free(first);
	free(matched);
	return r;
}

int masq_incr_update(struct masq_incr *x, const struct masq_config *cfg, struct masq_delta *ret)
{
	struct cidr now[2];
	size_t nll = cfg_link_local(cfg, x->opts, now);
	int r;

	memset(ret, 0, sizeof(*ret));
	r = diff(x, &x->keep, cfg->cidrs, cfg->ncidrs, true);
	if (r == 0)
		r = diff(x, &x->ll, now, nll, true);
	if (r == 0)
		r = diff(x, &x->masq, cfg->masq_cidrs, cfg->nmasq, false);
	for (int f = 0; r == 0 && f < x->families; f++)
		r = lpm_index_commit(x->ix[f], &ret->del[f], &ret->ndel[f], &ret->add[f],
				     &ret->nadd[f]);
	if (r < 0)
		masq_delta_clear(ret);
	return r;
}

size_t masq_incr_cidrs(const struct masq_incr *x, int family)
{
	return x->ncidrs[family == AF_INET6];
}

static const struct lpm_index *index_of(const struct masq_incr *x, int family)
{
	return family == AF_INET6 ? x->ix[1] : x->ix[0];
}

size_t masq_incr_count(const struct masq_incr *x, int family)
{
	return index_of(x, family) ? lpm_index_count(index_of(x, family)) : 0;
}

bool masq_incr_keeps_all(const struct masq_incr *x, int family)
{
	return index_of(x, family) && lpm_index_keeps_all(index_of(x, family));
}

int masq_incr_ranges(const struct masq_incr *x, int family, struct addr_range **ret)
{
	*ret = NULL;
	return index_of(x, family) ? lpm_index_ranges(index_of(x, family), ret) : 0;
}
