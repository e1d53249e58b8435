/* Sets of names for the policy store (config/pstore.c): an index over names
 * kept in an array elsewhere, a set of names with its index, and a max-heap
 * of names. Internal to config/; the store's contract is config/pstore.h. */
#ifndef MASQ_NAMESET_H
#define MASQ_NAMESET_H

#include <stddef.h>
#include <stdint.h>
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

/* A set of names (the rejected ones, the ones over the budget). */
struct names {
	char **v;
	size_t n, cap;
	struct nindex idx;
};

/* A max-heap of names: the last one by strcmp order comes first. It may
 * hold names that have gone since (checked when popped), and is built again
 * when those outnumber the live ones. */
struct heap {
	char **v;
	size_t n, cap;
};

/* The position of name in arr, or -1. */
ssize_t nindex_get(const struct nindex *x, const char *name, key_fn key, const void *arr);

/* Index name at pos. 0 or -ENOMEM. */
int nindex_add(struct nindex *x, const char *name, size_t pos) __attribute__((warn_unused_result));

/* Forget name; its position, or -1 when it was not there. */
ssize_t nindex_del(struct nindex *x, const char *name, key_fn key, const void *arr);

/* name moved from one position of the array to another. */
void nindex_move(struct nindex *x, const char *name, size_t from, size_t to);

/* Room for one more element of size at *v (n of *cap used), doubling. 0 or -ENOMEM. */
int nameset_grow(void **v, size_t *cap, size_t n, size_t size) __attribute__((warn_unused_result));

int names_add(struct names *s, const char *name) __attribute__((warn_unused_result));
void names_del(struct names *s, const char *name);
void names_clear(struct names *s);

void heap_clear(struct heap *h);
int heap_push(struct heap *h, const char *name) __attribute__((warn_unused_result));

/* The first name, malloc'ed, now the caller's; NULL when empty. */
char *heap_pop(struct heap *h);

#endif
