/* An intrusive AVL tree: the caller embeds struct avl in its nodes and
 * compares a key with a node. Every operation is O(log n), recursion depth
 * at most 1.44 log2(n). */
#ifndef MASQ_AVL_H
#define MASQ_AVL_H

#include <stddef.h>

struct avl {
	struct avl *l, *r;
	int h; /* height: 1 for a leaf */
};

/* <0, 0, >0 as key sorts before, at, after node n. */
typedef int (*avl_cmp)(const void *key, const struct avl *n);

/* The node equal to key, or NULL. */
struct avl *avl_find(struct avl *root, const void *key, avl_cmp cmp);

/* The last node at or before key, or NULL. */
struct avl *avl_floor(struct avl *root, const void *key, avl_cmp cmp);

/* The last node strictly before key, or NULL. */
struct avl *avl_before(struct avl *root, const void *key, avl_cmp cmp);

/* The first node strictly after key, or NULL. */
struct avl *avl_after(struct avl *root, const void *key, avl_cmp cmp);

/* Insert n, whose key is key and equal to no node's. */
void avl_insert(struct avl **root, struct avl *n, const void *key, avl_cmp cmp);

/* Unlink the node equal to key and return it (NULL: none). */
struct avl *avl_remove(struct avl **root, const void *key, avl_cmp cmp);

/* A balanced tree of the n nodes v[], which are in key order; O(n). */
struct avl *avl_build(struct avl **v, size_t n);

/* The leftmost node, or NULL. */
struct avl *avl_first(struct avl *root);

#endif
