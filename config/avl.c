/* The AVL tree: rebalanced on the way back up from each insert or removal. */
#include "config/avl.h"

#include <stdlib.h>
#include <string.h>

#define N(i) ((struct avl *)avl_at(p, (i)))

uint32_t avl_alloc(struct avl_pool *p)
{
	uint32_t i = p->free;

	if (i) {
		p->free = N(i)->l;
	} else {
		if (p->used == UINT32_MAX - 1)
			return 0;
		if (p->used % AVL_CHUNK == 0) {
			uint8_t **c = realloc(p->chunk, (p->nchunk + 1) * sizeof(*c));

			if (!c)
				return 0;
			p->chunk = c;
			c[p->nchunk] = malloc(AVL_CHUNK * p->size);
			if (!c[p->nchunk])
				return 0;
			p->nchunk++;
		}
		i = ++p->used;
	}
	memset(avl_at(p, i), 0, p->size);
	return i;
}

void avl_release(struct avl_pool *p, uint32_t i)
{
	N(i)->l = p->free;
	p->free = i;
}

void avl_pool_clear(struct avl_pool *p)
{
	for (size_t i = 0; i < p->nchunk; i++)
		free(p->chunk[i]);
	free(p->chunk);
	p->chunk = NULL;
	p->nchunk = 0;
	p->used = p->free = 0;
}

static int height(const struct avl_pool *p, uint32_t i)
{
	return i ? N(i)->h : 0;
}

static void fix_height(const struct avl_pool *p, uint32_t i)
{
	int l = height(p, N(i)->l), r = height(p, N(i)->r);

	N(i)->h = (uint8_t)(1 + (l > r ? l : r));
}

static uint32_t rotate_right(const struct avl_pool *p, uint32_t i)
{
	uint32_t l = N(i)->l;

	N(i)->l = N(l)->r;
	N(l)->r = i;
	fix_height(p, i);
	fix_height(p, l);
	return l;
}

static uint32_t rotate_left(const struct avl_pool *p, uint32_t i)
{
	uint32_t r = N(i)->r;

	N(i)->r = N(r)->l;
	N(r)->l = i;
	fix_height(p, i);
	fix_height(p, r);
	return r;
}

static uint32_t balance(const struct avl_pool *p, uint32_t i)
{
	struct avl *n = N(i);
	int b;

	fix_height(p, i);
	b = height(p, n->l) - height(p, n->r);
	if (b > 1) {
		if (height(p, N(n->l)->l) < height(p, N(n->l)->r))
			n->l = rotate_left(p, n->l);
		return rotate_right(p, i);
	}
	if (b < -1) {
		if (height(p, N(n->r)->r) < height(p, N(n->r)->l))
			n->r = rotate_right(p, n->r);
		return rotate_left(p, i);
	}
	return i;
}

uint32_t avl_find(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp)
{
	while (root) {
		int c = cmp(p, key, N(root));

		if (c == 0)
			return root;
		root = c < 0 ? N(root)->l : N(root)->r;
	}
	return 0;
}

/* The last record whose comparison with key is below limit (0: at or
 * before key; 1: strictly before). */
static uint32_t last_below(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp,
			   int limit)
{
	uint32_t best = 0;

	while (root) {
		if (cmp(p, key, N(root)) >= limit) {
			best = root;
			root = N(root)->r;
		} else {
			root = N(root)->l;
		}
	}
	return best;
}

uint32_t avl_floor(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp)
{
	return last_below(p, root, key, cmp, 0);
}

uint32_t avl_before(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp)
{
	return last_below(p, root, key, cmp, 1);
}

uint32_t avl_after(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp)
{
	uint32_t best = 0;

	while (root) {
		if (cmp(p, key, N(root)) < 0) {
			best = root;
			root = N(root)->l;
		} else {
			root = N(root)->r;
		}
	}
	return best;
}

static uint32_t insert(const struct avl_pool *p, uint32_t t, uint32_t n, const void *key,
		       avl_cmp cmp)
{
	if (!t) {
		N(n)->l = N(n)->r = 0;
		N(n)->h = 1;
		return n;
	}
	if (cmp(p, key, N(t)) < 0)
		N(t)->l = insert(p, N(t)->l, n, key, cmp);
	else
		N(t)->r = insert(p, N(t)->r, n, key, cmp);
	return balance(p, t);
}

void avl_insert(const struct avl_pool *p, uint32_t *root, uint32_t n, const void *key, avl_cmp cmp)
{
	*root = insert(p, *root, n, key, cmp);
}

static uint32_t remove_first(const struct avl_pool *p, uint32_t t, uint32_t *ret)
{
	if (!N(t)->l) {
		*ret = t;
		return N(t)->r;
	}
	N(t)->l = remove_first(p, N(t)->l, ret);
	return balance(p, t);
}

static uint32_t remove_key(const struct avl_pool *p, uint32_t t, const void *key, avl_cmp cmp,
			   uint32_t *ret)
{
	uint32_t m, r;
	int c;

	if (!t)
		return 0;
	c = cmp(p, key, N(t));
	if (c < 0) {
		N(t)->l = remove_key(p, N(t)->l, key, cmp, ret);
	} else if (c > 0) {
		N(t)->r = remove_key(p, N(t)->r, key, cmp, ret);
	} else {
		*ret = t;
		if (!N(t)->r)
			return N(t)->l;
		r = remove_first(p, N(t)->r, &m);
		N(m)->l = N(t)->l;
		N(m)->r = r;
		return balance(p, m);
	}
	return balance(p, t);
}

uint32_t avl_remove(const struct avl_pool *p, uint32_t *root, const void *key, avl_cmp cmp)
{
	uint32_t got = 0;

	*root = remove_key(p, *root, key, cmp, &got);
	return got;
}

uint32_t avl_build(const struct avl_pool *p, const uint32_t *v, size_t n)
{
	size_t mid = n / 2;
	uint32_t t;

	if (n == 0)
		return 0;
	t = v[mid];
	N(t)->l = avl_build(p, v, mid);
	N(t)->r = avl_build(p, v + mid + 1, n - mid - 1);
	fix_height(p, t);
	return t;
}
