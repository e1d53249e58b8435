/* Longest-prefix-match resolution of the two CIDR lists into intervals. */
#include "config/lpm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Prefixes are nested or disjoint, so a stack deeper than one entry per
 * prefix length cannot happen (equal prefixes are folded before a push). */
#define LPM_DEPTH_MAX 129

int lpm_prefix_cmp(const void *x, const void *y, void *len)
{
	const struct lpm_prefix *a = x, *b = y;
	int r = memcmp(a->r.lo, b->r.lo, *(size_t *)len);

	/* by start, then the containing (shorter) prefix first */
	return r ? r : (a->plen > b->plen) - (a->plen < b->plen);
}

/* IPv4 in tagged_cmp's order with the radix sort, as cidr_merge does: a
 * comparison sort of 200,000 prefixes was most of the resolution. The key
 * is the start, the length, and the list: nothing else is needed to
 * rebuild the prefix. -ENOMEM: the caller sorts in place instead. */
static int sort_v4(struct lpm_prefix *t, size_t n)
{
	uint64_t *k = malloc(n * sizeof(*k)), *tmp = malloc(n * sizeof(*tmp));

	if (!k || !tmp) {
		free(k);
		free(tmp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		k[i] = (uint64_t)t[i].r.lo[0] << 41 | (uint64_t)t[i].r.lo[1] << 33 |
		       (uint64_t)t[i].r.lo[2] << 25 | (uint64_t)t[i].r.lo[3] << 17 |
		       (uint64_t)t[i].plen << 1 | !t[i].keep;
	cidr_sort64(k, tmp, n);
	for (size_t i = 0; i < n; i++) {
		struct cidr c = { .family = AF_INET, .plen = (uint8_t)(k[i] >> 1 & 0xff) };

		for (int b = 0; b < 4; b++)
			c.addr[b] = (uint8_t)(k[i] >> (41 - 8 * b));
		cidr_to_range(&c, &t[i].r);
		t[i].plen = c.plen;
		t[i].keep = !(k[i] & 1);
	}
	free(k);
	free(tmp);
	return 0;
}

/* The resolved intervals being written, ascending. */
struct out {
	struct addr_range *v;
	size_t n, len;
};

/* Append [lo, hi], joining it to the last interval when they touch. */
static void emit(struct out *o, const uint8_t *lo, const uint8_t *hi)
{
	range_append(o->v, &o->n, lo, hi, o->len);
}

/* The sweep: pos is the first address not decided yet; done once pos
 * would pass the top of the space. */
struct sweep {
	struct out o;
	const struct lpm_prefix *stack[LPM_DEPTH_MAX];
	size_t sp;
	uint8_t pos[16];
	bool done;
};

/* The innermost open prefix ends: what is left of it up to its end is its. */
static void close_top(struct sweep *s)
{
	const struct lpm_prefix *t = s->stack[--s->sp];
	size_t len = s->o.len;

	if (s->done || memcmp(s->pos, t->r.hi, len) > 0)
		return;
	if (t->keep)
		emit(&s->o, s->pos, t->r.hi);
	memcpy(s->pos, t->r.hi, len);
	s->done = addr_increment(s->pos, len);
}

/* A prefix starts: the enclosing one decides what lies before it. */
static void open_prefix(struct sweep *s, const struct lpm_prefix *t)
{
	size_t len = s->o.len;

	while (s->sp && memcmp(s->stack[s->sp - 1]->r.hi, t->r.lo, len) < 0)
		close_top(s);
	if (s->sp && s->stack[s->sp - 1]->keep && memcmp(s->pos, t->r.lo, len) < 0) {
		uint8_t before[16];

		memcpy(before, t->r.lo, len);
		addr_decrement(before, len);
		emit(&s->o, s->pos, before);
	}
	memcpy(s->pos, t->r.lo, len);
	s->stack[s->sp++] = t;
}

static size_t collect(struct lpm_prefix *t, size_t k, const struct cidr *in, size_t n, int family,
		      bool keep)
{
	for (size_t i = 0; i < n; i++) {
		if (in[i].family != family)
			continue;
		cidr_to_range(&in[i], &t[k].r);
		t[k].plen = in[i].plen;
		t[k++].keep = keep;
	}
	return k;
}

static size_t count_family(const struct cidr *in, size_t n, int family)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += in[i].family == family;
	return k;
}

size_t lpm_sweep(struct lpm_prefix *t, size_t n, size_t len, struct addr_range *out)
{
	struct sweep s = { .o = { .v = out, .len = len } };

	for (size_t i = 0; i < n; i++) {
		struct lpm_prefix *top = s.sp ? (struct lpm_prefix *)s.stack[s.sp - 1] : NULL;

		if (top && top->plen == t[i].plen && memcmp(top->r.lo, t[i].r.lo, len) == 0) {
			top->keep |= t[i].keep; /* the same prefix twice */
			continue;
		}
		open_prefix(&s, &t[i]);
	}
	while (s.sp)
		close_top(&s);
	return s.o.n;
}

int lpm_resolve(const struct cidr *keep, size_t nkeep, const struct cidr *masq, size_t nmasq,
		int family, struct addr_range **ret)
{
	size_t len = cidr_addr_len(family), n = count_family(masq, nmasq, family);
	struct lpm_prefix *t;

	if (n == 0) /* nothing to carve out: the plain merge, with its fast IPv4 sort */
		return cidr_merge(keep, nkeep, family, ret);
	*ret = NULL;
	n += count_family(keep, nkeep, family);
	t = calloc(n, sizeof(*t));
	*ret = calloc(2 * n, sizeof(**ret));
	if (!t || !*ret) {
		free(t);
		free(*ret);
		*ret = NULL;
		return -ENOMEM;
	}
	collect(t, collect(t, 0, keep, nkeep, family, true), masq, nmasq, family, false);
	if (family != AF_INET || sort_v4(t, n) < 0)
		qsort_r(t, n, sizeof(*t), lpm_prefix_cmp, &len);
	n = lpm_sweep(t, n, len, *ret);
	if (n == 0) {
		free(*ret);
		*ret = NULL;
	}
	free(t);
	return (int)n;
}

int lpm_decide(const struct cidr *keep, size_t nkeep, const struct cidr *masq, size_t nmasq,
	       const struct cidr *a, size_t *ret_index, bool *ret_keep)
{
	int best = -1;

	for (size_t i = 0; i < nkeep + nmasq; i++) {
		bool k = i < nkeep;
		const struct cidr *c = k ? &keep[i] : &masq[i - nkeep];

		/* masq comes after keep: an equal masq prefix never replaces keep's */
		if ((int)c->plen <= best || !cidr_contains(c, a))
			continue;
		best = c->plen;
		*ret_index = k ? i : i - nkeep;
		*ret_keep = k;
	}
	return best >= 0;
}

int lpm_common(const struct cidr *keep, size_t nkeep, const struct cidr *masq, size_t nmasq,
	       size_t *ret_in_keep)
{
	size_t n = nkeep + nmasq;
	struct cidr *all = malloc((n ? n : 1) * sizeof(*all));
	size_t *first = malloc((n ? n : 1) * sizeof(*first));
	int found = 0;

	if (all && nkeep)
		memcpy(all, keep, nkeep * sizeof(*all));
	if (all && nmasq)
		memcpy(all + nkeep, masq, nmasq * sizeof(*all));
	if (!all || !first || cidr_first_equal(all, n, first) < 0) {
		free(all);
		free(first);
		return -ENOMEM;
	}
	for (size_t j = 0; j < nmasq; j++) {
		/* the first of equal ones is in keep when keep has one */
		ret_in_keep[j] = first[nkeep + j] < nkeep ? first[nkeep + j] : SIZE_MAX;
		found += ret_in_keep[j] != SIZE_MAX;
	}
	free(all);
	free(first);
	return found;
}
