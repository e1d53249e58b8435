/* The kept resolution: a prefix tree ordered as lpm_prefix_cmp (start, then
 * shorter first) and an interval tree ordered by start, each of small
 * records in a pool (config/avl.h) holding only the family's address bytes:
 * 24 bytes a prefix and 24 an interval for IPv4. Keys are 16 bytes, an IPv4
 * address zero past its 4. */
#include "config/lpmidx.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/avl.h"
#include "config/lpm.h"

struct pnode {
	struct avl a;
	uint8_t plen;
	uint16_t nkeep, nmasq; /* keep wins an equal pair, as in lpm_resolve */
	uint8_t lo[]; /* the family's length */
};

struct inode {
	struct avl a;
	uint32_t fresh; /* 1 + its place in fresh[] when it joined since the last commit */
	uint8_t lohi[]; /* lo, then hi, each the family's length */
};

struct lpm_index {
	size_t len;
	struct avl_pool pp, ip; /* prefixes, intervals; ctx: len */
	uint32_t prefixes, ranges; /* the roots */
	size_t nranges;
	struct lpm_prefix *dirty; /* the prefixes changed since the last commit */
	size_t ndirty, cdirty;
	struct addr_range *gone; /* intervals of the last commit removed since */
	size_t ngone, cgone;
	uint32_t *fresh; /* intervals inserted since the last commit */
	size_t nfresh, cfresh;
};

#define PN(ix, i) ((struct pnode *)avl_at(&(ix)->pp, (i)))
#define IN(ix, i) ((struct inode *)avl_at(&(ix)->ip, (i)))

static uint64_t be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static uint32_t be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

/* memcmp of two addresses of len (4 or 16) bytes, without a call: the
 * trees' hot path. -1, 0 or 1. */
static int addr_cmp(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint64_t x, y;

	if (len == 4) {
		x = be32(a);
		y = be32(b);
	} else {
		x = be64(a);
		y = be64(b);
		if (x == y) {
			x = be64(a + 8);
			y = be64(b + 8);
		}
	}
	return (x > y) - (x < y);
}

/* key: a struct lpm_prefix */
static int prefix_cmp(const struct avl_pool *p, const void *key, const void *rec)
{
	const struct lpm_prefix *a = key;
	const struct pnode *b = rec;
	int r = addr_cmp(a->r.lo, b->lo, p->ctx);

	return r ? r : (a->plen > b->plen) - (a->plen < b->plen);
}

/* key: an address (16 bytes); intervals by their start */
static int range_cmp(const struct avl_pool *p, const void *key, const void *rec)
{
	return addr_cmp(key, ((const struct inode *)rec)->lohi, p->ctx);
}

/* Record n's prefix in full. */
static void pnode_prefix(const struct lpm_index *ix, const struct pnode *n, struct lpm_prefix *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->r.lo, n->lo, ix->len);
	memcpy(ret->r.hi, n->lo, ix->len);
	for (size_t i = 0; i < ix->len; i++) {
		unsigned bits = n->plen > i * 8 ? n->plen - (unsigned)i * 8 : 0;
		if (bits < 8)
			ret->r.hi[i] |= (uint8_t)(0xff >> bits);
	}
	ret->plen = n->plen;
	ret->keep = n->nkeep > 0;
}

static void inode_range(const struct lpm_index *ix, const struct inode *n, struct addr_range *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->lo, n->lohi, ix->len);
	memcpy(ret->hi, n->lohi + ix->len, ix->len);
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

void lpm_index_free(struct lpm_index *ix)
{
	if (!ix)
		return;
	avl_pool_clear(&ix->pp);
	avl_pool_clear(&ix->ip);
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
	uint32_t i;
	struct inode *n;

	if (reserve(&ix->fresh, ix->nfresh, &ix->cfresh, sizeof(*ix->fresh)) < 0 ||
	    !(i = avl_alloc(&ix->ip)))
		return -ENOMEM;
	n = IN(ix, i);
	memcpy(n->lohi, r->lo, ix->len);
	memcpy(n->lohi + ix->len, r->hi, ix->len);
	ix->fresh[ix->nfresh++] = i;
	n->fresh = (uint32_t)ix->nfresh;
	avl_insert(&ix->ip, &ix->ranges, i, r->lo, range_cmp);
	ix->nranges++;
	return 0;
}

/* Take interval i out: one inserted since the last commit simply goes;
 * one of the last commit is remembered as gone. */
static int range_drop(struct lpm_index *ix, uint32_t i)
{
	struct inode *n = IN(ix, i);
	struct addr_range r;

	inode_range(ix, n, &r);
	if (!n->fresh && reserve(&ix->gone, ix->ngone, &ix->cgone, sizeof(*ix->gone)) < 0)
		return -ENOMEM;
	avl_remove(&ix->ip, &ix->ranges, r.lo, range_cmp);
	ix->nranges--;
	if (n->fresh) {
		uint32_t last = ix->fresh[--ix->nfresh];

		ix->fresh[n->fresh - 1] = last;
		IN(ix, last)->fresh = n->fresh;
	} else {
		ix->gone[ix->ngone++] = r;
	}
	avl_release(&ix->ip, i);
	return 0;
}

static int prefix_add(struct lpm_index *ix, const struct lpm_prefix *p, bool keep)
{
	uint32_t i = avl_find(&ix->pp, ix->prefixes, p, prefix_cmp);
	struct pnode *n;

	if (!i) {
		i = avl_alloc(&ix->pp);
		if (!i)
			return -ENOMEM;
		n = PN(ix, i);
		memcpy(n->lo, p->r.lo, ix->len);
		n->plen = p->plen;
		avl_insert(&ix->pp, &ix->prefixes, i, p, prefix_cmp);
	}
	n = PN(ix, i);
	if ((keep ? n->nkeep : n->nmasq) == UINT16_MAX)
		return -EOVERFLOW;
	if (keep)
		n->nkeep++;
	else
		n->nmasq++;
	return 0;
}

int lpm_index_change(struct lpm_index *ix, const struct cidr *c, bool keep, int delta)
{
	struct lpm_prefix p;
	struct pnode *n;
	uint16_t *count;
	uint32_t i;

	if (cidr_addr_len(c->family) != ix->len)
		return 0;
	prefix_of(c, &p);
	if (reserve(&ix->dirty, ix->ndirty, &ix->cdirty, sizeof(*ix->dirty)) < 0)
		return -ENOMEM;
	ix->dirty[ix->ndirty++] = p;
	if (delta > 0)
		return prefix_add(ix, &p, keep);
	i = avl_find(&ix->pp, ix->prefixes, &p, prefix_cmp);
	n = i ? PN(ix, i) : NULL;
	count = n ? (keep ? &n->nkeep : &n->nmasq) : NULL;
	if (!count || *count == 0)
		return -ENOENT;
	(*count)--;
	if (n->nkeep + n->nmasq == 0) {
		avl_remove(&ix->pp, &ix->prefixes, &p, prefix_cmp);
		avl_release(&ix->pp, i);
	}
	return 0;
}

/* q's start cut to its first plen bits. */
static void cut(struct lpm_prefix *q, unsigned plen)
{
	for (size_t i = plen / 8; i < sizeof(q->r.lo); i++)
		q->r.lo[i] &= i == plen / 8 ? (uint8_t)(0xff00u >> (plen % 8)) : 0;
	q->plen = (uint8_t)plen;
}

/* The decision around region p: the innermost prefix strictly containing
 * it. The prefix just before p in the order contains p, and is the
 * innermost, or lies apart before it; then the innermost one containing p
 * contains that one too, so it is no longer than the bits the two share:
 * look there, and go on from there. A few steps, each O(log n). */
static bool enclosing_keep(const struct lpm_index *ix, const struct lpm_prefix *p)
{
	struct lpm_prefix q = *p, e;
	uint32_t i;

	while (q.plen > 0) {
		unsigned c;

		i = avl_before(&ix->pp, ix->prefixes, &q, prefix_cmp);
		if (!i)
			return false;
		pnode_prefix(ix, PN(ix, i), &e);
		if (addr_cmp(e.r.hi, q.r.lo, ix->len) >= 0)
			return e.keep; /* before q, reaching it: it contains q */
		c = addr_common_bits(e.r.lo, q.r.lo, ix->len);
		if (c >= q.plen)
			return false; /* cannot be: it would lie inside q */
		cut(&q, c);
		i = avl_find(&ix->pp, ix->prefixes, &q, prefix_cmp);
		if (i)
			return PN(ix, i)->nkeep > 0;
	}
	return false;
}

/* Region p resolved alone: p itself (or, when no list names it, p standing
 * for the decision around it) and every prefix inside it, swept. */
static int resolve_region(const struct lpm_index *ix, const struct lpm_prefix *p,
			  struct lpm_prefix **t, size_t *ct, struct addr_range **out, size_t *ret_n)
{
	uint32_t i = avl_find(&ix->pp, ix->prefixes, p, prefix_cmp);
	size_t m = 1;

	if (i) {
		pnode_prefix(ix, PN(ix, i), &(*t)[0]);
	} else {
		(*t)[0] = *p;
		(*t)[0].keep = enclosing_keep(ix, p);
	}
	for (i = avl_after(&ix->pp, ix->prefixes, p, prefix_cmp);
	     i && addr_cmp(PN(ix, i)->lo, p->r.hi, ix->len) <= 0;
	     i = avl_after(&ix->pp, ix->prefixes, &(*t)[m - 1], prefix_cmp)) {
		if (reserve(t, m, ct, sizeof(**t)) < 0)
			return -ENOMEM;
		pnode_prefix(ix, PN(ix, i), &(*t)[m++]);
	}
	free(*out);
	*out = calloc(2 * m, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*ret_n = lpm_sweep(*t, m, ix->len, *out);
	return 0;
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
	struct addr_range *v = calloc(n + 2, sizeof(*v)), x;
	uint32_t a = avl_floor(&ix->ip, ix->ranges, p->r.lo, range_cmp);
	bool left = false, right = false;
	size_t m = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	if (a)
		inode_range(ix, IN(ix, a), &x);
	if (!a || addr_cmp(x.hi, has_before ? before : p->r.lo, ix->len) < 0)
		a = avl_after(&ix->ip, ix->ranges, p->r.lo,
			      range_cmp); /* the one before is apart */
	while (r == 0 && a) {
		inode_range(ix, IN(ix, a), &x);
		if (addr_cmp(x.lo, has_after ? after : p->r.hi, ix->len) > 0)
			break;
		if (addr_cmp(x.lo, p->r.lo, ix->len) < 0) {
			left = true;
			memcpy(lo, x.lo, 16);
		}
		if (addr_cmp(x.hi, p->r.hi, ix->len) > 0) {
			right = true;
			memcpy(hi, x.hi, 16);
		}
		r = range_drop(ix, a);
		a = avl_after(&ix->ip, ix->ranges, x.lo, range_cmp);
	}
	if (left)
		range_append(v, &m, lo, before, ix->len);
	for (size_t i = 0; i < n; i++)
		range_append(v, &m, in[i].lo, in[i].hi, ix->len);
	if (right)
		range_append(v, &m, after, hi, ix->len);
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
	if (ix->ndirty) /* qsort wants an array, even of none */
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
		inode_range(ix, IN(ix, ix->fresh[i]), &add[i]);
		IN(ix, ix->fresh[i])->fresh = 0;
	}
	qsort(add, ix->nfresh, sizeof(*add), range_sort_cmp);
	if (ix->ngone)
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
	struct addr_range r, all;

	if (ix->nranges != 1)
		return false;
	inode_range(ix, IN(ix, ix->ranges), &r);
	memset(&all, 0, sizeof(all));
	memset(all.hi, 0xff, ix->len);
	return memcmp(&r, &all, sizeof(r)) == 0;
}

static void walk(const struct lpm_index *ix, uint32_t t, struct addr_range *v, size_t *n)
{
	if (!t)
		return;
	walk(ix, IN(ix, t)->a.l, v, n);
	inode_range(ix, IN(ix, t), &v[(*n)++]);
	walk(ix, IN(ix, t)->a.r, v, n);
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
	walk(ix, ix->ranges, *ret, &n);
	return (int)n;
}

/* Bulk: every prefix (folded by count), sorted, into a tree built in O(n);
 * the sweep's intervals into the other. */
static int fill(struct lpm_index *ix, struct lpm_prefix *t, size_t n, const uint32_t *nkeep,
		const uint32_t *nmasq)
{
	struct addr_range *out = calloc(2 * n + 1, sizeof(*out));
	uint32_t *v = calloc(2 * n + 1, sizeof(*v));
	size_t m, k;
	int r = out && v ? 0 : -ENOMEM;

	for (m = 0; r == 0 && m < n; m++) {
		struct pnode *p;

		if (nkeep[m] > UINT16_MAX || nmasq[m] > UINT16_MAX)
			r = -EOVERFLOW;
		else if (!(v[m] = avl_alloc(&ix->pp)))
			r = -ENOMEM;
		if (r < 0)
			break;
		p = PN(ix, v[m]);
		memcpy(p->lo, t[m].r.lo, ix->len);
		p->plen = t[m].plen;
		p->nkeep = (uint16_t)nkeep[m];
		p->nmasq = (uint16_t)nmasq[m];
	}
	if (r == 0) {
		ix->prefixes = avl_build(&ix->pp, v, n);
		k = lpm_sweep(t, n, ix->len, out);
		for (m = 0; r == 0 && m < k; m++) {
			if (!(v[m] = avl_alloc(&ix->ip))) {
				r = -ENOMEM;
				break;
			}
			memcpy(IN(ix, v[m])->lohi, out[m].lo, ix->len);
			memcpy(IN(ix, v[m])->lohi + ix->len, out[m].hi, ix->len);
		}
		if (r == 0) {
			ix->ranges = avl_build(&ix->ip, v, k);
			ix->nranges = k;
		}
	}
	free(out);
	free(v);
	return r; /* on failure the pools hold what was made: lpm_index_free */
}

/* Record bytes: the header, then the family's address bytes, to 4. */
static size_t record_size(size_t head, size_t addr)
{
	return (head + addr + 3) / 4 * 4;
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

	if (ix) {
		ix->len = cidr_addr_len(family);
		ix->pp =
			(struct avl_pool){ .size = record_size(offsetof(struct pnode, lo), ix->len),
					   .ctx = ix->len };
		ix->ip = (struct avl_pool){ .size = record_size(offsetof(struct inode, lohi),
								2 * ix->len),
					    .ctx = ix->len };
	}
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
