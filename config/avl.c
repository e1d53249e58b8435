/* The AVL tree: rebalanced on the way back up from each insert or removal. */
#include "config/avl.h"

static int height(const struct avl *n)
{
	return n ? n->h : 0;
}

static void fix_height(struct avl *n)
{
	int l = height(n->l), r = height(n->r);

	n->h = 1 + (l > r ? l : r);
}

static struct avl *rotate_right(struct avl *n)
{
	struct avl *l = n->l;

	n->l = l->r;
	l->r = n;
	fix_height(n);
	fix_height(l);
	return l;
}

static struct avl *rotate_left(struct avl *n)
{
	struct avl *r = n->r;

	n->r = r->l;
	r->l = n;
	fix_height(n);
	fix_height(r);
	return r;
}

static struct avl *balance(struct avl *n)
{
	int b;

	fix_height(n);
	b = height(n->l) - height(n->r);
	if (b > 1) {
		if (height(n->l->l) < height(n->l->r))
			n->l = rotate_left(n->l);
		return rotate_right(n);
	}
	if (b < -1) {
		if (height(n->r->r) < height(n->r->l))
			n->r = rotate_right(n->r);
		return rotate_left(n);
	}
	return n;
}

struct avl *avl_find(struct avl *root, const void *key, avl_cmp cmp)
{
	while (root) {
		int c = cmp(key, root);

		if (c == 0)
			return root;
		root = c < 0 ? root->l : root->r;
	}
	return NULL;
}

struct avl *avl_floor(struct avl *root, const void *key, avl_cmp cmp)
{
	struct avl *best = NULL;

	while (root) {
		int c = cmp(key, root);

		if (c == 0)
			return root;
		if (c > 0) {
			best = root;
			root = root->r;
		} else {
			root = root->l;
		}
	}
	return best;
}

struct avl *avl_before(struct avl *root, const void *key, avl_cmp cmp)
{
	struct avl *best = NULL;

	while (root) {
		if (cmp(key, root) > 0) {
			best = root;
			root = root->r;
		} else {
			root = root->l;
		}
	}
	return best;
}

struct avl *avl_after(struct avl *root, const void *key, avl_cmp cmp)
{
	struct avl *best = NULL;

	while (root) {
		if (cmp(key, root) < 0) {
			best = root;
			root = root->l;
		} else {
			root = root->r;
		}
	}
	return best;
}

static struct avl *insert(struct avl *t, struct avl *n, const void *key, avl_cmp cmp)
{
	if (!t) {
		n->l = n->r = NULL;
		n->h = 1;
		return n;
	}
	if (cmp(key, t) < 0)
		t->l = insert(t->l, n, key, cmp);
	else
		t->r = insert(t->r, n, key, cmp);
	return balance(t);
}

void avl_insert(struct avl **root, struct avl *n, const void *key, avl_cmp cmp)
{
	*root = insert(*root, n, key, cmp);
}

static struct avl *remove_first(struct avl *t, struct avl **ret)
{
	if (!t->l) {
		*ret = t;
		return t->r;
	}
	t->l = remove_first(t->l, ret);
	return balance(t);
}

static struct avl *remove(struct avl *t, const void *key, avl_cmp cmp, struct avl **ret)
{
	struct avl *m, *r;
	int c;

	if (!t)
		return NULL;
	c = cmp(key, t);
	if (c < 0) {
		t->l = remove(t->l, key, cmp, ret);
	} else if (c > 0) {
		t->r = remove(t->r, key, cmp, ret);
	} else {
		*ret = t;
		if (!t->r)
			return t->l;
		r = remove_first(t->r, &m);
		m->l = t->l;
		m->r = r;
		return balance(m);
	}
	return balance(t);
}

struct avl *avl_remove(struct avl **root, const void *key, avl_cmp cmp)
{
	struct avl *got = NULL;

	*root = remove(*root, key, cmp, &got);
	return got;
}

struct avl *avl_build(struct avl **v, size_t n)
{
	size_t mid = n / 2;
	struct avl *t;

	if (n == 0)
		return NULL;
	t = v[mid];
	t->l = avl_build(v, mid);
	t->r = avl_build(v + mid + 1, n - mid - 1);
	fix_height(t);
	return t;
}

struct avl *avl_first(struct avl *root)
{
	while (root && root->l)
		root = root->l;
	return root;
}
