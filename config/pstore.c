/* The per-name, last-good policy store and the claims of one load, both on
 * one small open-addressing index of names. */
#include "config/pstore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* An index over names kept in an array elsewhere: each slot holds a name's
 * hash and its position in that array plus one (0: empty). Linear probing,
 * at most half full, and deletion by shifting back (no tombstones), so a
 * lookup costs a few probes however many names there are. */
struct islot {
	uint32_t hash, pos1;
};

struct nindex {
	struct islot *v;
	size_t cap, n; /* cap: 0 or a power of two */
	uint64_t *probes;
};

/* The name at pos of the array an index is over. */
typedef const char *(*key_fn)(const void *arr, size_t pos);

static uint32_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (uint32_t)(h ^ (h >> 32));
}

/* The slot holding name, or the empty slot where it would go. */
static size_t nindex_seek(const struct nindex *x, const char *name, uint32_t h, key_fn key,
			  const void *arr, bool *ret_found)
{
	size_t mask = x->cap - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		(*x->probes)++;
		if (!x->v[i].pos1 ||
		    (x->v[i].hash == h && strcmp(key(arr, x->v[i].pos1 - 1), name) == 0)) {
			*ret_found = x->v[i].pos1 != 0;
			return i;
		}
	}
}

/* name's position, or -1. */
static ssize_t nindex_get(const struct nindex *x, const char *name, key_fn key, const void *arr)
{
	bool found;
	size_t i;

	if (!x->n)
		return -1;
	i = nindex_seek(x, name, name_hash(name), key, arr, &found);
	return found ? (ssize_t)x->v[i].pos1 - 1 : -1;
}

static void nindex_place(struct islot *v, size_t mask, struct islot s, uint64_t *probes)
{
	size_t i = s.hash & mask;

	while (v[i].pos1) {
		(*probes)++;
		i = (i + 1) & mask;
	}
	v[i] = s;
}

static int nindex_grow(struct nindex *x)
{
	size_t cap = x->cap ? x->cap * 2 : 16;
	struct islot *v;

	if ((x->n + 1) * 2 <= x->cap)
		return 0;
	if (cap > UINT32_MAX || !(v = calloc(cap, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < x->cap; i++) {
		if (x->v[i].pos1)
			nindex_place(v, cap - 1, x->v[i], x->probes);
	}
	free(x->v);
	x->v = v;
	x->cap = cap;
	return 0;
}

/* Index name (absent) at pos. */
static int nindex_add(struct nindex *x, const char *name, size_t pos)
{
	if (pos >= UINT32_MAX || nindex_grow(x) < 0)
		return -ENOMEM;
	nindex_place(x->v, x->cap - 1, (struct islot){ name_hash(name), (uint32_t)pos + 1 },
		     x->probes);
	x->n++;
	return 0;
}

/* Is h cyclically in (i, j]? */
static bool between(size_t i, size_t h, size_t j)
{
	return i <= j ? i < h && h <= j : i < h || h <= j;
}

/* Forget name; returns the position it had, or -1. The slots after it that
 * may move back into the hole do, so that no lookup meets a gap. */
static ssize_t nindex_del(struct nindex *x, const char *name, key_fn key, const void *arr)
{
	size_t mask = x->cap - 1, i, j;
	bool found;
	ssize_t pos;

	if (!x->n)
		return -1;
	i = nindex_seek(x, name, name_hash(name), key, arr, &found);
	if (!found)
		return -1;
	pos = (ssize_t)x->v[i].pos1 - 1;
	x->v[i].pos1 = 0;
	for (j = (i + 1) & mask; x->v[j].pos1; j = (j + 1) & mask) {
		(*x->probes)++;
		if (!between(i, x->v[j].hash & mask, j)) {
			x->v[i] = x->v[j];
			x->v[j].pos1 = 0;
			i = j;
		}
	}
	x->n--;
	return pos;
}

/* The entry at from moved to to (an array's swap-remove). */
static void nindex_move(struct nindex *x, const char *name, size_t from, size_t to)
{
	size_t mask = x->cap - 1, i = name_hash(name) & mask;

	while (x->v[i].pos1 != from + 1) {
		(*x->probes)++;
		i = (i + 1) & mask;
	}
	x->v[i].pos1 = (uint32_t)to + 1;
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, c * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

/* --- a set of names (the rejected ones, the ones over the budget) */

struct names {
	char **v;
	size_t n, cap;
	struct nindex idx;
};

static const char *names_key(const void *arr, size_t pos)
{
	return ((const struct names *)arr)->v[pos];
}

static int names_add(struct names *s, const char *name)
{
	if (nindex_get(&s->idx, name, names_key, s) >= 0)
		return 0;
	if (grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v)) < 0 || !(s->v[s->n] = strdup(name)))
		return -ENOMEM;
	if (nindex_add(&s->idx, name, s->n) < 0) {
		free(s->v[s->n]);
		return -ENOMEM;
	}
	s->n++;
	return 0;
}

static void names_del(struct names *s, const char *name)
{
	ssize_t pos = nindex_del(&s->idx, name, names_key, s);
	size_t last;

	if (pos < 0)
		return;
	free(s->v[pos]);
	last = --s->n;
	if ((size_t)pos == last)
		return;
	s->v[pos] = s->v[last];
	nindex_move(&s->idx, s->v[pos], last, (size_t)pos);
}

static void names_clear(struct names *s)
{
	uint64_t *probes = s->idx.probes;

	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->idx.v);
	memset(s, 0, sizeof(*s));
	s->idx.probes = probes;
}

/* --- a max-heap of names: the last one by strcmp order comes first. It
 * may hold names that have gone since (checked when popped), and is built
 * again when those outnumber the live ones. */

struct heap {
	char **v;
	size_t n, cap;
};

static void heap_clear(struct heap *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i]);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

static void heap_up(struct heap *h, size_t i)
{
	while (i && strcmp(h->v[(i - 1) / 2], h->v[i]) < 0) {
		char *t = h->v[i];
		h->v[i] = h->v[(i - 1) / 2];
		h->v[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static void heap_down(struct heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		char *t;
		if (l < h->n && strcmp(h->v[l], h->v[m]) > 0)
			m = l;
		if (r < h->n && strcmp(h->v[r], h->v[m]) > 0)
			m = r;
		if (m == i)
			return;
		t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
}

static int heap_push(struct heap *h, const char *name)
{
	if (grow((void **)&h->v, &h->cap, h->n, sizeof(*h->v)) < 0 || !(h->v[h->n] = strdup(name)))
		return -ENOMEM;
	heap_up(h, h->n++);
	return 0;
}

/* The first name, malloc'ed, now the caller's; NULL when empty. */
static char *heap_pop(struct heap *h)
{
	char *top;

	if (!h->n)
		return NULL;
	top = h->v[0];
	h->v[0] = h->v[--h->n];
	heap_down(h, 0);
	return top;
}

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
	if (grow((void **)&c->v, &c->cap, c->n, sizeof(*c->v)) < 0 ||
	    nindex_add(&c->idx, name, c->n) < 0)
		return -ENOMEM;
	c->v[c->n++] = (struct claim){ name, origin };
	return 0;
}
