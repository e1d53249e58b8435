/* An AVL tree whose nodes are fixed-size records in a pool, linked by
 * 32-bit indices (0: none): small nodes for trees of 100,000 entries. The
 * caller's record starts with struct avl; the comparator gets the pool (for
 * its ctx), the key and a record. Every operation is O(log n), recursion
 * depth at most 1.44 log2(n). Records never move. */
#ifndef MASQ_AVL_H
#define MASQ_AVL_H

#include <stddef.h>
#include <stdint.h>

#define AVL_CHUNK 4096 /* records per allocation */

struct avl {
	uint32_t l, r;
	uint8_t h; /* height: 1 for a leaf */
};

struct avl_pool {
	uint8_t **chunk;
	size_t nchunk;
	size_t size; /* bytes per record, a multiple of 4 */
	uint32_t used; /* records ever handed out */
	uint32_t free; /* released ones, linked through l */
	size_t ctx; /* the caller's, for its comparator */
};

/* <0, 0, >0 as key sorts before, at, after record n. */
typedef int (*avl_cmp)(const struct avl_pool *p, const void *key, const void *n);

/* The record of index i (not 0). */
static inline void *avl_at(const struct avl_pool *p, uint32_t i)
{
	return p->chunk[(i - 1) / AVL_CHUNK] + (size_t)((i - 1) % AVL_CHUNK) * p->size;
}

/* A zeroed record; 0 when out of memory. */
uint32_t avl_alloc(struct avl_pool *p);

/* Give record i back (it must be in no tree). */
void avl_release(struct avl_pool *p, uint32_t i);

/* Free every record. */
void avl_pool_clear(struct avl_pool *p);

/* The record equal to key, or 0. */
uint32_t avl_find(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp);

/* The last record at or before key / strictly before it / the first
 * strictly after it, or 0. */
uint32_t avl_floor(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp);
uint32_t avl_before(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp);
uint32_t avl_after(const struct avl_pool *p, uint32_t root, const void *key, avl_cmp cmp);

/* Insert record n, whose key is key and equal to no record's. */
void avl_insert(const struct avl_pool *p, uint32_t *root, uint32_t n, const void *key, avl_cmp cmp);

/* Unlink the record equal to key and return it (0: none). */
uint32_t avl_remove(const struct avl_pool *p, uint32_t *root, const void *key, avl_cmp cmp);

/* A balanced tree of the n records v[], which are in key order; O(n). */
uint32_t avl_build(const struct avl_pool *p, const uint32_t *v, size_t n);

#endif
