/* The kept resolution: a prefix tree ordered as lpm_prefix_cmp (start, then
 * shorter first) and an interval tree ordered by start. Addresses are
 * compared on all 16 bytes: an IPv4 one is zero past its 4. */
#include "config/lpmidx.h"

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/avl.h"
#include "config/lpm.h"

struct pnode {
	struct avl a;
	struct lpm_prefix p; /* p.keep: nkeep > 0, as an equal pair counts as keep */
	uint32_t nkeep, nmasq;
};

struct inode {
	struct avl a;
	struct addr_range r;
	size_t fresh; /* 1 + its place in fresh[] when it joined since the last commit */
};

struct lpm_index {
	size_t len;
	struct avl *prefixes, *ranges;
	size_t nranges;
	struct lpm_prefix *dirty; /* the prefixes changed since the last commit */
	size_t ndirty, cdirty;
	struct addr_range *gone; /* intervals of the last commit removed since */
	size_t ngone, cgone;
	struct inode **fresh; /* intervals inserted since the last commit */
	size_t nfresh, cfresh;
};

#define PNODE(n) ((struct pnode *)(void *)(n))
#define INODE(n) ((struct inode *)(void *)(n))

static uint64_t be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

/* memcmp of two 16-byte addresses, without a call: the trees' hot path */
static int addr_cmp(const uint8_t *a, const uint8_t *b)
{
	uint64_t x = be64(a), y = be64(b);

	if (x == y) {
		x = be64(a + 8);
		y = be64(b + 8);
	}
	return (x > y) - (x < y);
}

static int prefix_cmp(const void *key, const struct avl *n)
{
	const struct lpm_prefix *a = key, *b = &PNODE(n)->p;
	int r = addr_cmp(a->r.lo, b->r.lo);

	return r ? r : (a->plen > b->plen) - (a->plen < b->plen);
}

/* key: an address (16 bytes); intervals by their start */
static int range_cmp(const void *key, const struct avl *n)
{
	return addr_cmp(key, INODE(n)->r.lo);
}

/* Room for one more of size each in *v (n used, *cap allocated). */
static int reserve(void *v, size_t n, size_t *cap, size_t size)
{
	void **p = v, *q;
	size_t c = *cap ? *cap * 2 : 16;

	if (n < *cap)
		return 0;
	q = realloc(*p, c * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static void free_tree(struct avl *t)
{
	if (!t)
		return;
	free_tree(t->l);
	free_tree(t->r);
	free(t);
}

void lpm_index_free(struct lpm_index *ix)
{
	if (!ix)
		return;
	free_tree(ix->prefixes);
	free_tree(ix->ranges);
	free(ix->dirty);
	free(ix->gone);
	free(ix->fresh);
	free(ix);
}

static void prefix_of(const struct cidr *c, struct lpm_prefix *ret)
{
	memset(ret, 0, sizeof(*ret));
	cidr_to_range(c, &ret->r);
	ret->plen = c->plen;
}

/* Insert an interval that joins the set now. */
static int range_add(struct lpm_index *ix, const struct addr_range *r)
{
	struct inode *n = calloc(1, sizeof(*n));

	if (!n || reserve(&ix->fresh, ix->nfresh, &ix->cfresh, sizeof(*ix->fresh)) < 0) {
		free(n);
		return -ENOMEM;
	}
	n->r = *r;
	ix->fresh[ix->nfresh++] = n;
	n->fresh = ix->nfresh;
	avl_insert(&ix->ranges, &n->a, n->r.lo, range_cmp);
	ix->nranges++;
	return 0;
}

/* Take interval n out: one inserted since the last commit simply goes;
 * one of the last commit is remembered as gone. */
static int range_drop(struct lpm_index *ix, struct inode *n)
{
	if (!n->fresh && reserve(&ix->gone, ix->ngone, &ix->cgone, sizeof(*ix->gone)) < 0)
		return -ENOMEM;
	avl_remove(&ix->ranges, n->r.lo, range_cmp);
	ix->nranges--;
	if (n->fresh) {
		struct inode *last = ix->fresh[--ix->nfresh];

		ix->fresh[n->fresh - 1] = last;
		last->fresh = n->fresh;
	} else {
		ix->gone[ix->ngone++] = n->r;
	}
	free(n);
	return 0;
}

static int prefix_add(struct lpm_index *ix, const struct lpm_prefix *p, bool keep)
{
	struct pnode *n = PNODE(avl_find(ix->prefixes, p, prefix_cmp));

	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		n->p = *p;
		avl_insert(&ix->prefixes, &n->a, &n->p, prefix_cmp);
	}
	if (keep)
		n->nkeep++;
	else
		n->nmasq++;
	n->p.keep = n->nkeep > 0;
	return 0;
}

int lpm_index_change(struct lpm_index *ix, const struct cidr *c, bool keep, int delta)
{
	struct lpm_prefix p;
	struct pnode *n;
	uint32_t *count;

	if (cidr_addr_len(c->family) != ix->len)
		return 0;
	prefix_of(c, &p);
	if (reserve(&ix->dirty, ix->ndirty, &ix->cdirty, sizeof(*ix->dirty)) < 0)
		return -ENOMEM;
	ix->dirty[ix->ndirty++] = p;
	if (delta > 0)
		return prefix_add(ix, &p, keep);
	n = PNODE(avl_find(ix->prefixes, &p, prefix_cmp));
	count = n ? (keep ? &n->nkeep : &n->nmasq) : NULL;
	if (!count || *count == 0)
		return -ENOENT;
	(*count)--;
	n->p.keep = n->nkeep > 0;
	if (n->nkeep + n->nmasq == 0)
		free(avl_remove(&ix->prefixes, &p, prefix_cmp));
	return 0;
}

/* q's start cut to its first plen bits. */
static void cut(struct lpm_prefix *q, unsigned plen)
{
	for (size_t i = plen / 8; i < sizeof(q->r.lo); i++)
		q->r.lo[i] &= i == plen / 8 ? (uint8_t)(0xff00u >> (plen % 8)) : 0;
	q->plen = (uint8_t)plen;
}

/* The bits two starts have in common. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i] != b[i])
			return (unsigned)(i * 8) +
			       (unsigned)__builtin_clz((unsigned)(a[i] ^ b[i])) - 24;
	}
	return (unsigned)len * 8;
}

/* The decision around region p: the innermost prefix strictly containing
 * it. The prefix just before p in the order contains p, and is the
 * innermost, or lies apart before it; then the innermost one containing p
 * contains that one too, so it is no longer than the bits the two share:
 * look there, and go on from there. A few steps, each O(log n). */
static bool enclosing_keep(const struct lpm_index *ix, const struct lpm_prefix *p)
{
	struct lpm_prefix q = *p;
	struct pnode *n;

	while (q.plen > 0) {
		struct avl *a = avl_before(ix->prefixes, &q, prefix_cmp);
		unsigned c;

		if (!a)
			return false;
		n = PNODE(a);
		if (memcmp(n->p.r.hi, q.r.lo, sizeof(q.r.lo)) >= 0)
			return n->p.keep; /* before q, reaching it: it contains q */
		c = common_bits(n->p.r.lo, q.r.lo, ix->len);
		if (c >= q.plen)
			return false; /* cannot be: n would lie inside q */
		cut(&q, c);
		n = PNODE(avl_find(ix->prefixes, &q, prefix_cmp));
		if (n)
			return n->p.keep;
	}
	return false;
}

/* Region p resolved alone: p itself (or, when no list names it, p standing
 * for the decision around it) and every prefix inside it, swept. */
static int resolve_region(const struct lpm_index *ix, const struct lpm_prefix *p,
			  struct lpm_prefix **t, size_t *ct, struct addr_range **out, size_t *ret_n)
{
	struct pnode *n = PNODE(avl_find(ix->prefixes, p, prefix_cmp));
	size_t m = 1;

	(*t)[0] = n ? n->p : *p;
	if (!n)
		(*t)[0].keep = enclosing_keep(ix, p);
	for (struct avl *a = avl_after(ix->prefixes, p, prefix_cmp);
	     a && memcmp(PNODE(a)->p.r.lo, p->r.hi, sizeof(p->r.hi)) <= 0;
	     a = avl_after(ix->prefixes, &PNODE(a)->p, prefix_cmp)) {
		if (reserve(t, m, ct, sizeof(**t)) < 0)
			return -ENOMEM;
		(*t)[m++] = PNODE(a)->p;
	}
	free(*out);
	*out = calloc(2 * m, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*ret_n = lpm_sweep(*t, m, ix->len, *out);
	return 0;
}

/* Append [lo, hi] to v (room for it), joined to the last one when they touch. */
static void append(struct addr_range *v, size_t *n, const uint8_t *lo, const uint8_t *hi,
		   size_t len)
{
	if (*n) {
		uint8_t next[16];

		memcpy(next, v[*n - 1].hi, sizeof(next));
		if (!addr_increment(next, len) && memcmp(next, lo, len) == 0) {
			memcpy(v[*n - 1].hi, hi, len);
			return;
		}
	}
	memset(&v[*n], 0, sizeof(v[0]));
	memcpy(v[*n].lo, lo, len);
	memcpy(v[(*n)++].hi, hi, len);
}

/* Replace the intervals within region p by in[0..n) (p's resolution): the
 * intervals overlapping or touching p go, what they held outside p comes
 * back joined with in's. */
static int splice(struct lpm_index *ix, const struct lpm_prefix *p, const struct addr_range *in,
		  size_t n)
{
	uint8_t before[16], after[16], lo[16], hi[16];
	bool has_before = !addr_decrement(memcpy(before, p->r.lo, 16), ix->len);
	bool has_after = !addr_increment(memcpy(after, p->r.hi, 16), ix->len);
	struct addr_range *v = calloc(n + 2, sizeof(*v));
	struct avl *a = avl_floor(ix->ranges, p->r.lo, range_cmp);
	bool left = false, right = false;
	size_t m = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	if (!a || memcmp(INODE(a)->r.hi, has_before ? before : p->r.lo, 16) < 0)
		a = avl_after(ix->ranges, p->r.lo, range_cmp); /* the one before is apart */
	while (r == 0 && a && memcmp(INODE(a)->r.lo, has_after ? after : p->r.hi, 16) <= 0) {
		struct inode *x = INODE(a);

		if (memcmp(x->r.lo, p->r.lo, 16) < 0) {
			left = true;
			memcpy(lo, x->r.lo, 16);
		}
		if (memcmp(x->r.hi, p->r.hi, 16) > 0) {
			right = true;
			memcpy(hi, x->r.hi, 16);
		}
		a = avl_after(ix->ranges, x->r.lo, range_cmp);
		r = range_drop(ix, x);
	}
	if (left)
		append(v, &m, lo, before, ix->len);
	for (size_t i = 0; i < n; i++)
		append(v, &m, in[i].lo, in[i].hi, ix->len);
	if (right)
		append(v, &m, after, hi, ix->len);
	for (size_t i = 0; r == 0 && i < m; i++)
		r = range_add(ix, &v[i]);
	free(v);
	return r;
}

static int range_sort_cmp(const void *x, const void *y)
{
	return memcmp(((const struct addr_range *)x)->lo, ((const struct addr_range *)y)->lo, 16);
}

static int prefix_sort_cmp(const void *x, const void *y)
{
	size_t len = 16;

	return lpm_prefix_cmp(x, y, &len);
}

int lpm_index_commit(struct lpm_index *ix, struct addr_range **ret_del, size_t *ret_ndel,
		     struct addr_range **ret_add, size_t *ret_nadd)
{
	struct lpm_prefix *t = calloc(16, sizeof(*t));
	const struct lpm_prefix *last = NULL;
	struct addr_range *out = NULL, *add = NULL;
	size_t ct = 16, n = 0;
	int r = t ? 0 : -ENOMEM;

	*ret_del = *ret_add = NULL;
	*ret_ndel = *ret_nadd = 0;
	qsort(ix->dirty, ix->ndirty, sizeof(*ix->dirty), prefix_sort_cmp);
	for (size_t i = 0; r == 0 && i < ix->ndirty; i++) {
		const struct lpm_prefix *p = &ix->dirty[i];

		/* regions are nested or apart: one inside the last is done */
		if (last && memcmp(p->r.hi, last->r.hi, 16) <= 0)
			continue;
		last = p;
		r = resolve_region(ix, p, &t, &ct, &out, &n);
		if (r == 0)
			r = splice(ix, p, out, n);
	}
	free(t);
	free(out);
	ix->ndirty = 0;
	if (r < 0)
		return r;
	add = malloc((ix->nfresh ? ix->nfresh : 1) * sizeof(*add));
	if (!add)
		return -ENOMEM;
	for (size_t i = 0; i < ix->nfresh; i++) {
		add[i] = ix->fresh[i]->r;
		ix->fresh[i]->fresh = 0;
	}
	qsort(add, ix->nfresh, sizeof(*add), range_sort_cmp);
	qsort(ix->gone, ix->ngone, sizeof(*ix->gone), range_sort_cmp);
	/* an interval that went and came back unchanged is neither */
	r = range_diff(ix->gone, ix->ngone, add, ix->nfresh, ix->len, ret_del, ret_ndel, ret_add,
		       ret_nadd);
	ix->nfresh = ix->ngone = 0;
	free(add);
	return r;
}

size_t lpm_index_count(const struct lpm_index *ix)
{
	return ix->nranges;
}

bool lpm_index_keeps_all(const struct lpm_index *ix)
{
	const struct inode *n = INODE(ix->ranges);
	uint8_t top[16] = { 0 };

	memset(top, 0xff, ix->len);
	return ix->nranges == 1 && !memcmp(n->r.lo, (uint8_t[16]){ 0 }, 16) &&
	       !memcmp(n->r.hi, top, 16);
}

static void walk(const struct avl *t, struct addr_range *v, size_t *n)
{
	if (!t)
		return;
	walk(t->l, v, n);
	v[(*n)++] = INODE(t)->r;
	walk(t->r, v, n);
}

int lpm_index_ranges(const struct lpm_index *ix, struct addr_range **ret)
{
	size_t n = 0;

	*ret = NULL;
	if (!ix->nranges)
		return 0;
	*ret = malloc(ix->nranges * sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	walk(ix->ranges, *ret, &n);
	return (int)n;
}

/* Bulk: every prefix (folded by count), sorted, into a tree built in O(n);
 * the sweep's intervals into the other. */
static int fill(struct lpm_index *ix, struct lpm_prefix *t, size_t n, const uint32_t *nkeep,
		const uint32_t *nmasq)
{
	struct addr_range *out = calloc(2 * n + 1, sizeof(*out));
	struct avl **v = calloc(2 * n + 1, sizeof(*v));
	size_t m = 0, k;
	int r = out && v ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < n; i++) {
		struct pnode *p = calloc(1, sizeof(*p));

		if (!p) {
			r = -ENOMEM;
			break;
		}
		p->p = t[i];
		p->nkeep = nkeep[i];
		p->nmasq = nmasq[i];
		v[m++] = &p->a;
	}
	if (r == 0) {
		ix->prefixes = avl_build(v, m);
		k = lpm_sweep(t, n, ix->len, out);
		for (m = 0; m < k; m++) {
			struct inode *x = calloc(1, sizeof(*x));

			if (!x) {
				r = -ENOMEM;
				break;
			}
			x->r = out[m];
			v[m] = &x->a;
		}
		ix->ranges = avl_build(v, m);
		ix->nranges = m;
	} else {
		for (size_t i = 0; i < m; i++)
			free(v[i]);
	}
	free(out);
	free(v);
	return r;
}

struct lpm_index *lpm_index_new(int family, const struct cidr *keep, size_t nkeep,
				const struct cidr *masq, size_t nmasq)
{
	struct lpm_index *ix = calloc(1, sizeof(*ix));
	size_t n = 0, k = 0, total = nkeep + nmasq;
	struct lpm_prefix *t = calloc(total ? total : 1, sizeof(*t));
	uint32_t *ck = calloc(total ? total : 1, sizeof(*ck));
	uint32_t *cm = calloc(total ? total : 1, sizeof(*cm));
	int r = ix && t && ck && cm ? 0 : -ENOMEM;

	if (ix)
		ix->len = cidr_addr_len(family);
	for (size_t i = 0; r == 0 && i < total; i++) {
		const struct cidr *c = i < nkeep ? &keep[i] : &masq[i - nkeep];

		if (cidr_addr_len(c->family) != ix->len)
			continue;
		prefix_of(c, &t[n]);
		t[n++].keep = i < nkeep;
	}
	if (r == 0) {
		qsort(t, n, sizeof(*t), prefix_sort_cmp);
		for (size_t i = 0; i < n; i++) { /* fold equal ones, counting */
			if (k && prefix_sort_cmp(&t[k - 1], &t[i]) == 0) {
				ck[k - 1] += t[i].keep;
				cm[k - 1] += !t[i].keep;
				t[k - 1].keep |= t[i].keep;
				continue;
			}
			ck[k] = t[i].keep;
			cm[k] = !t[i].keep;
			t[k++] = t[i];
		}
		r = fill(ix, t, k, ck, cm);
	}
	free(t);
	free(ck);
	free(cm);
	if (r < 0) {
		lpm_index_free(ix);
		return NULL;
	}
	return ix;
}
