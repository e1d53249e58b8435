/* Sets of names: see config/nameset.h. */
#include "config/nameset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
ssize_t nindex_get(const struct nindex *x, const char *name, key_fn key, const void *arr)
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
int nindex_add(struct nindex *x, const char *name, size_t pos)
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
ssize_t nindex_del(struct nindex *x, const char *name, key_fn key, const void *arr)
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
void nindex_move(struct nindex *x, const char *name, size_t from, size_t to)
{
	size_t mask = x->cap - 1, i = name_hash(name) & mask;

	while (x->v[i].pos1 != from + 1) {
		(*x->probes)++;
		i = (i + 1) & mask;
	}
	x->v[i].pos1 = (uint32_t)to + 1;
}

int nameset_grow(void **v, size_t *cap, size_t n, size_t size)
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

/* --- a set of names */

static const char *names_key(const void *arr, size_t pos)
{
	return ((const struct names *)arr)->v[pos];
}

int names_add(struct names *s, const char *name)
{
	if (nindex_get(&s->idx, name, names_key, s) >= 0)
		return 0;
	if (nameset_grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v)) < 0 ||
	    !(s->v[s->n] = strdup(name)))
		return -ENOMEM;
	if (nindex_add(&s->idx, name, s->n) < 0) {
		free(s->v[s->n]);
		return -ENOMEM;
	}
	s->n++;
	return 0;
}

void names_del(struct names *s, const char *name)
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

void names_clear(struct names *s)
{
	uint64_t *probes = s->idx.probes;

	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->idx.v);
	memset(s, 0, sizeof(*s));
	s->idx.probes = probes;
}

/* --- a max-heap of names */

void heap_clear(struct heap *h)
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

int heap_push(struct heap *h, const char *name)
{
	if (nameset_grow((void **)&h->v, &h->cap, h->n, sizeof(*h->v)) < 0 ||
	    !(h->v[h->n] = strdup(name)))
		return -ENOMEM;
	heap_up(h, h->n++);
	return 0;
}

char *heap_pop(struct heap *h)
{
	char *top;

	if (!h->n)
		return NULL;
	top = h->v[0];
	h->v[0] = h->v[--h->n];
	heap_down(h, 0);
	return top;
}
