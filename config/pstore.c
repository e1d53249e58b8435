/* The per-name, last-good policy store and the claims of one load, both on
 * one small open-addressing index of names. */
#include "config/pstore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "config/nameset.h"

/* --- one generation of policies: a list, its index and its budget's state */

struct gen {
	struct masq_policy_list l;
	struct nindex idx;
	size_t ncidrs; /* in l */
	struct names rejected; /* invalid in their latest version */
	struct names over; /* refused or evicted for the budget */
	char *cutoff; /* the first name by order over the budget: the ones after are refused */
	struct heap heap; /* l's names, when there is a budget */
};

static const char *policy_key(const void *arr, size_t pos)
{
	return ((const struct masq_policy_list *)arr)->v[pos].name;
}

static void gen_init(struct gen *g, uint64_t *probes)
{
	memset(g, 0, sizeof(*g));
	g->idx.probes = g->rejected.idx.probes = g->over.idx.probes = probes;
}

static void gen_clear(struct gen *g)
{
	uint64_t *probes = g->idx.probes;

	policy_list_clear(&g->l);
	free(g->idx.v);
	names_clear(&g->rejected);
	names_clear(&g->over);
	free(g->cutoff);
	heap_clear(&g->heap);
	gen_init(g, probes);
}

static ssize_t gen_find(const struct gen *g, const char *name)
{
	return nindex_get(&g->idx, name, policy_key, &g->l);
}

static int gen_append(struct gen *g, const struct masq_policy *p)
{
	int e = policy_list_add(&g->l, p);

	if (e == 0 && (e = nindex_add(&g->idx, p->name, g->l.n - 1)) < 0)
		free(g->l.v[--g->l.n].cidrs);
	if (e == 0)
		g->ncidrs += p->ncidrs;
	return e;
}

/* Remove name; the last policy takes its place. */
static void gen_remove(struct gen *g, const char *name)
{
	ssize_t pos = nindex_del(&g->idx, name, policy_key, &g->l);
	size_t last;

	if (pos < 0)
		return;
	g->ncidrs -= g->l.v[pos].ncidrs;
	free(g->l.v[pos].cidrs);
	last = --g->l.n;
	if ((size_t)pos == last)
		return;
	g->l.v[pos] = g->l.v[last];
	nindex_move(&g->idx, g->l.v[pos].name, last, (size_t)pos);
}

/* --- the store */

struct pstore {
	struct gen cur, prev; /* prev: the generation a relist replaces */
	size_t max_policies, max_cidrs; /* 0: no bound */
	uint64_t evicted;
	uint64_t probes;
	bool relisting; /* between begin and end (or abort) */
};

struct pstore *pstore_new(void)
{
	struct pstore *s = calloc(1, sizeof(*s));

	if (s) {
		gen_init(&s->cur, &s->probes);
		gen_init(&s->prev, &s->probes);
	}
	return s;
}

void pstore_free(struct pstore *s)
{
	if (!s)
		return;
	gen_clear(&s->cur);
	gen_clear(&s->prev);
	free(s);
}

void pstore_set_budget(struct pstore *s, size_t max_policies, size_t max_cidrs)
{
	s->max_policies = max_policies;
	s->max_cidrs = max_cidrs;
}

static bool budgeted(const struct pstore *s)
{
	return s->max_policies || s->max_cidrs;
}

static bool over_budget(const struct pstore *s)
{
	return (s->max_policies && s->cur.l.n > s->max_policies) ||
	       (s->max_cidrs && s->cur.ncidrs > s->max_cidrs);
}

/* name is over the budget: it and every name after it by order. */
static int mark_over(struct gen *g, const char *name)
{
	char *c;

	if (!g->cutoff || strcmp(name, g->cutoff) < 0) {
		if (!(c = strdup(name)))
			return -ENOMEM;
		free(g->cutoff);
		g->cutoff = c;
	}
	return names_add(&g->over, name);
}

/* The heap again from the live names, once the stale ones outnumber them. */
static int heap_compact(struct gen *g)
{
	struct heap h = { 0 };

	if (g->heap.n <= 2 * g->l.n + 64)
		return 0;
	for (size_t i = 0; i < g->l.n; i++) {
		if (heap_push(&h, g->l.v[i].name) < 0) {
			heap_clear(&h);
			return -ENOMEM;
		}
	}
	heap_clear(&g->heap);
	g->heap = h;
	return 0;
}

/* Add p (absent from cur) within the budget. Returns 0, -EDQUOT when p
 * itself is past it, or -ENOMEM. */
static int insert(struct pstore *s, const struct masq_policy *p)
{
	struct gen *g = &s->cur;
	char *last;
	int e;

	if (!budgeted(s))
		return gen_append(g, p);
	if (g->cutoff && strcmp(p->name, g->cutoff) >= 0) {
		e = names_add(&g->over, p->name);
		return e < 0 ? e : -EDQUOT;
	}
	if ((e = heap_compact(g)) < 0 || (e = heap_push(&g->heap, p->name)) < 0)
		return e;
	if ((e = gen_append(g, p)) < 0)
		return e;
	while (over_budget(s) && (last = heap_pop(&g->heap))) {
		bool self = strcmp(last, p->name) == 0;
		if (gen_find(g, last) >= 0) {
			gen_remove(g, last);
			e = mark_over(g, last);
			if (!self)
				s->evicted++;
		}
		free(last);
		if (e < 0 || self)
			return e < 0 ? e : -EDQUOT;
	}
	return 0;
}

int pstore_put(struct pstore *s, const struct masq_policy *p)
{
	int e;

	gen_remove(&s->cur, p->name);
	names_del(&s->cur.over, p->name);
	e = insert(s, p);
	if (e == 0 || e == -EDQUOT)
		names_del(&s->cur.rejected, p->name);
	return e;
}

int pstore_reject(struct pstore *s, const char *name)
{
	ssize_t pos;
	int e;

	if (names_add(&s->cur.rejected, name) < 0)
		return -ENOMEM;
	if (gen_find(&s->cur, name) >= 0)
		return 1;
	pos = gen_find(&s->prev, name);
	if (pos < 0)
		return 0;
	names_del(&s->cur.over, name);
	e = insert(s, &s->prev.l.v[pos]);
	if (e == -EDQUOT)
		return 0;
	return e < 0 ? e : 1;
}

void pstore_delete(struct pstore *s, const char *name)
{
	gen_remove(&s->cur, name);
	names_del(&s->cur.rejected, name);
	names_del(&s->cur.over, name); /* the cutoff stays: a relist moves it */
}

void pstore_relist_begin(struct pstore *s)
{
	gen_clear(&s->prev);
	s->prev = s->cur;
	gen_init(&s->cur, &s->probes);
	s->relisting = true;
}

void pstore_relist_end(struct pstore *s)
{
	gen_clear(&s->prev);
	s->relisting = false;
}

void pstore_relist_abort(struct pstore *s)
{
	if (!s->relisting)
		return;
	gen_clear(&s->cur);
	s->cur = s->prev;
	gen_init(&s->prev, &s->probes);
	s->relisting = false;
}

const struct masq_policy *pstore_get(const struct pstore *s, const char *name)
{
	ssize_t pos = gen_find(&s->cur, name);

	return pos < 0 ? NULL : &s->cur.l.v[pos];
}

const struct masq_policy_list *pstore_policies(const struct pstore *s)
{
	return &s->cur.l;
}

const struct masq_policy_list *pstore_settled(const struct pstore *s)
{
	return s->relisting ? &s->prev.l : &s->cur.l;
}

size_t pstore_nrejected(const struct pstore *s)
{
	return s->cur.rejected.n;
}

size_t pstore_nover(const struct pstore *s)
{
	return s->cur.over.n;
}

const char *pstore_over_first(const struct pstore *s)
{
	return s->cur.over.n ? s->cur.cutoff : NULL;
}

size_t pstore_ncidrs(const struct pstore *s)
{
	return s->cur.ncidrs;
}

uint64_t pstore_evicted(const struct pstore *s)
{
	return s->evicted;
}

uint64_t pstore_probes(const struct pstore *s)
{
	return s->probes;
}

/* --- claims */

struct claim {
	const char *name, *origin;
};

struct pstore_claims {
	struct claim *v;
	size_t n, cap;
	struct nindex idx;
	uint64_t probes;
};

static const char *claim_key(const void *arr, size_t pos)
{
	return ((const struct pstore_claims *)arr)->v[pos].name;
}

struct pstore_claims *pstore_claims_new(void)
{
	struct pstore_claims *c = calloc(1, sizeof(*c));

	if (c)
		c->idx.probes = &c->probes;
	return c;
}

void pstore_claims_free(struct pstore_claims *c)
{
	if (!c)
		return;
	free(c->v);
	free(c->idx.v);
	free(c);
}

int pstore_claim(struct pstore_claims *c, const char *name, const char *origin,
		 const char **ret_other)
{
	ssize_t pos = nindex_get(&c->idx, name, claim_key, c);

	if (pos >= 0) {
		*ret_other = c->v[pos].origin;
		return -EEXIST;
	}
	if (nameset_grow((void **)&c->v, &c->cap, c->n, sizeof(*c->v)) < 0 ||
	    nindex_add(&c->idx, name, c->n) < 0)
		return -ENOMEM;
	c->v[c->n++] = (struct claim){ name, origin };
	return 0;
}
