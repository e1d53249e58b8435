/* A multiset of CIDR hashes in an open-addressed table with linear
 * probing; deletion shifts the run back, so there are no tombstones. */
#include "config/cidrbag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t home(const struct cidr_bag *b, uint64_t h)
{
	return (size_t)(h ^ (h >> 32)) & (b->cap - 1);
}

/* The slot of h, or the empty one where it would go. */
static size_t find(const struct cidr_bag *b, uint64_t h)
{
	size_t i = home(b, h);

	while (b->v[i].count && b->v[i].hash != h)
		i = (i + 1) & (b->cap - 1);
	return i;
}

/* Twice the room, every entry placed again. */
static int grow(struct cidr_bag *b)
{
	struct cidr_bag nb = { .cap = b->cap ? 2 * b->cap : 64 };

	if (nb.cap > UINT32_MAX)
		return -E2BIG;
	if (!(nb.v = calloc(nb.cap, sizeof(*nb.v))))
		return -ENOMEM;
	for (size_t i = 0; i < b->cap; i++) {
		if (b->v[i].count)
			nb.v[find(&nb, b->v[i].hash)] = b->v[i];
	}
	nb.used = b->used;
	nb.ndup = b->ndup;
	free(b->v);
	*b = nb;
	return 0;
}

int cidr_bag_add(struct cidr_bag *b, const struct cidr *c)
{
	uint64_t h = cidr_hash(c);
	size_t i;
	int r;

	if (2 * (b->used + 1) > b->cap && (r = grow(b)) < 0)
		return r;
	i = find(b, h);
	if (!b->v[i].count) {
		b->v[i].hash = h;
		b->used++;
	}
	if (++b->v[i].count == 2)
		b->ndup++;
	return 0;
}

void cidr_bag_del(struct cidr_bag *b, const struct cidr *c)
{
	size_t mask = b->cap - 1, i = b->cap ? find(b, cidr_hash(c)) : 0;

	if (!b->cap || !b->v[i].count)
		return;
	if (--b->v[i].count == 1)
		b->ndup--;
	if (b->v[i].count)
		return;
	b->used--;
	/* shift back what probed past i: an entry at j whose home is not
	 * cyclically in (i, j] moves to i */
	for (size_t j = (i + 1) & mask; b->v[j].count; j = (j + 1) & mask) {
		size_t h = home(b, b->v[j].hash);
		if (i <= j ? (h > i && h <= j) : (h > i || h <= j))
			continue;
		b->v[i] = b->v[j];
		b->v[j].count = 0;
		i = j;
	}
}

void cidr_bag_reset(struct cidr_bag *b)
{
	if (b->v)
		memset(b->v, 0, b->cap * sizeof(*b->v));
	b->used = b->ndup = 0;
}

void cidr_bag_free(struct cidr_bag *b)
{
	free(b->v);
	memset(b, 0, sizeof(*b));
}
