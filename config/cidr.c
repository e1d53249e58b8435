/* CIDR parsing and formatting, and merging CIDRs into sorted intervals. */
#include "config/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

size_t cidr_addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* Clear every bit after the first plen bits. */
static void mask_host_bits(uint8_t *a, size_t len, unsigned plen)
{
	for (size_t i = 0; i < len; i++) {
		unsigned bits = plen > i * 8 ? plen - i * 8 : 0;
		if (bits < 8)
			a[i] &= (uint8_t)(0xff00 >> bits);
	}
}

static int parse_plen(const char *s, unsigned max, unsigned *ret)
{
	unsigned v = 0;

	/* Go's net.ParseCIDR takes decimal digits only: no sign, no spaces. */
	if (!*s || strlen(s) > 3)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int cidr_parse(const char *s, struct cidr *ret, char ret_aligned[CIDR_STRLEN])
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct cidr c = { 0 };
	unsigned plen;
	size_t hlen;

	if (!slash)
		return -EINVAL;
	hlen = (size_t)(slash - s);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, c.addr) == 1)
		c.family = AF_INET;
	else if (strchr(host, ':') && !strchr(host, '%') && inet_pton(AF_INET6, host, c.addr) == 1)
		c.family = AF_INET6;
	else
		return -EINVAL;
	if (parse_plen(slash + 1, (unsigned)cidr_addr_len(c.family) * 8, &plen) < 0)
		return -EINVAL;
	c.plen = (uint8_t)plen;

	struct cidr aligned = c;
	mask_host_bits(aligned.addr, cidr_addr_len(c.family), plen);
	if (memcmp(aligned.addr, c.addr, sizeof(c.addr)) != 0) {
		if (ret_aligned)
			cidr_format(&aligned, ret_aligned);
		return -EDOM;
	}
	*ret = c;
	return 0;
}

void cidr_format(const struct cidr *c, char buf[CIDR_STRLEN])
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, CIDR_STRLEN, "%s/%u", a, c->plen);
}

int cidr_parse_host(const char *s, struct cidr *ret)
{
	struct cidr c = { 0 };

	if (inet_pton(AF_INET, s, c.addr) == 1)
		c.family = AF_INET;
	else if (strchr(s, ':') && !strchr(s, '%') && inet_pton(AF_INET6, s, c.addr) == 1)
		c.family = AF_INET6;
	else
		return -EINVAL;
	c.plen = (uint8_t)(cidr_addr_len(c.family) * 8);
	*ret = c;
	return 0;
}

bool cidr_contains(const struct cidr *c, const struct cidr *a)
{
	if (c->family != a->family)
		return false;
	for (unsigned b = 0; b < c->plen; b++) {
		unsigned m = 0x80u >> (b % 8);
		if ((c->addr[b / 8] & m) != (a->addr[b / 8] & m))
			return false;
	}
	return true;
}

bool cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->plen == b->plen &&
	       memcmp(a->addr, b->addr, cidr_addr_len(a->family)) == 0;
}

void cidr_to_range(const struct cidr *c, struct addr_range *ret)
{
	size_t len = cidr_addr_len(c->family);

	memset(ret, 0, sizeof(*ret));
	memcpy(ret->lo, c->addr, len);
	memcpy(ret->hi, c->addr, len);
	for (size_t i = 0; i < len; i++) {
		unsigned bits = c->plen > i * 8 ? c->plen - i * 8 : 0;
		if (bits < 8)
			ret->hi[i] |= (uint8_t)(0xff >> bits);
	}
}

bool addr_increment(uint8_t *a, size_t len)
{
	for (size_t i = len; i-- > 0;) {
		if (++a[i] != 0)
			return false;
	}
	return true;
}

bool addr_decrement(uint8_t *a, size_t len)
{
	for (size_t i = len; i-- > 0;) {
		if (a[i]-- != 0)
			return false;
	}
	return true;
}

unsigned addr_common_bits(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i] != b[i])
			return (unsigned)(i * 8) +
			       (unsigned)__builtin_clz((unsigned)(a[i] ^ b[i])) - 24;
	}
	return (unsigned)len * 8;
}

void range_append(struct addr_range *v, size_t *n, const uint8_t *lo, const uint8_t *hi, size_t len)
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

static int range_cmp(const void *x, const void *y, void *len)
{
	const struct addr_range *a = x, *b = y;
	int r = memcmp(a->lo, b->lo, *(size_t *)len);

	return r ? r : memcmp(a->hi, b->hi, *(size_t *)len);
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static int u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return (a > b) - (a < b);
}

/* IPv4: each range as one 64-bit key (lo, hi). A comparison sort of
 * 100,000 32-byte ranges cost 85% of building the ruleset, and so most of
 * a one-CIDR change at that size: large sets take an LSD radix sort in
 * eight byte-wide passes instead. */
void cidr_sort64(uint64_t *k, uint64_t *tmp, size_t n)
{
	size_t count[256];

	if (n < 1024) {
		qsort(k, n, sizeof(*k), u64_cmp);
		return;
	}
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t sum = 0;

		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[(k[i] >> shift) & 0xff]++;
		if (count[(k[0] >> shift) & 0xff] == n)
			continue; /* one digit everywhere: nothing to move */
		for (size_t d = 0; d < 256; d++) {
			size_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[(k[i] >> shift) & 0xff]++] = k[i];
		memcpy(k, tmp, n * sizeof(*k));
	}
}

static int merge_v4(const struct cidr *in, size_t n, size_t cnt, struct addr_range **ret)
{
	uint64_t *k = malloc(cnt * sizeof(*k)), *tmp = malloc(cnt * sizeof(*tmp));
	struct addr_range *r = calloc(cnt, sizeof(*r));
	size_t out = 0, m = 0;

	if (!k || !tmp || !r) {
		free(k);
		free(tmp);
		free(r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct addr_range x;
		if (in[i].family != AF_INET)
			continue;
		cidr_to_range(&in[i], &x);
		k[m++] = (uint64_t)be32(x.lo) << 32 | be32(x.hi);
	}
	cidr_sort64(k, tmp, cnt);
	for (size_t i = 0; i < cnt; i++) {
		uint32_t lo = (uint32_t)(k[i] >> 32), hi = (uint32_t)k[i];
		uint32_t cur = out ? be32(r[out - 1].hi) : 0;

		/* merge on overlap or adjacency; cur + 1 wrapping means it reaches the top */
		if (out && (cur == UINT32_MAX || lo <= cur + 1)) {
			if (hi > cur)
				put_be32(r[out - 1].hi, hi);
			continue;
		}
		put_be32(r[out].lo, lo);
		put_be32(r[out].hi, hi);
		out++;
	}
	free(k);
	free(tmp);
	*ret = r;
	return (int)out;
}

int cidr_merge(const struct cidr *in, size_t n, int family, struct addr_range **ret)
{
	size_t len = cidr_addr_len(family), cnt = 0, out = 0;
	struct addr_range *r;

	*ret = NULL;
	for (size_t i = 0; i < n; i++)
		cnt += in[i].family == family;
	if (cnt == 0)
		return 0;
	if (family == AF_INET)
		return merge_v4(in, n, cnt, ret);
	r = calloc(cnt, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (in[i].family == family)
			cidr_to_range(&in[i], &r[out++]);
	}
	qsort_r(r, cnt, sizeof(*r), range_cmp, &len);

	out = 0;
	for (size_t i = 1; i < cnt; i++) {
		uint8_t next[16];
		bool wrapped;

		/* Merge when r[i] starts at or before r[out].hi + 1 (overlap or
		 * adjacency); hi + 1 wrapping means r[out] already reaches the top. */
		memcpy(next, r[out].hi, len);
		wrapped = addr_increment(next, len);
		if (wrapped || memcmp(r[i].lo, next, len) <= 0) {
			if (memcmp(r[i].hi, r[out].hi, len) > 0)
				memcpy(r[out].hi, r[i].hi, len);
		} else {
			r[++out] = r[i];
		}
	}
	*ret = r;
	return (int)(out + 1);
}

/* Length of the prefix that exactly covers [lo, hi], or -1 if none does. */
static int range_prefix_len(const struct addr_range *r, size_t len)
{
	for (unsigned plen = 0; plen <= len * 8; plen++) {
		struct cidr c = { .family = len == 4 ? AF_INET : AF_INET6, .plen = (uint8_t)plen };
		struct addr_range cr;

		memcpy(c.addr, r->lo, len);
		mask_host_bits(c.addr, len, plen);
		if (memcmp(c.addr, r->lo, len) != 0)
			continue;
		cidr_to_range(&c, &cr);
		if (memcmp(cr.hi, r->hi, len) == 0)
			return (int)plen;
	}
	return -1;
}

void range_format(const struct addr_range *r, int family, char buf[CIDR_STRLEN])
{
	size_t len = cidr_addr_len(family);
	char lo[INET6_ADDRSTRLEN] = "?", hi[INET6_ADDRSTRLEN] = "?";
	int plen;

	inet_ntop(family, r->lo, lo, sizeof(lo));
	if (memcmp(r->lo, r->hi, len) == 0) {
		snprintf(buf, CIDR_STRLEN, "%s", lo);
		return;
	}
	plen = range_prefix_len(r, len);
	if (plen >= 0) {
		snprintf(buf, CIDR_STRLEN, "%s/%d", lo, plen);
		return;
	}
	inet_ntop(family, r->hi, hi, sizeof(hi));
	snprintf(buf, CIDR_STRLEN, "%s-%s", lo, hi);
}

int range_elems(const struct addr_range *r, size_t n, size_t len, struct set_elem **ret)
{
	struct set_elem *e = calloc(n ? 2 * n : 1, sizeof(*e));
	size_t k = 0;

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		memcpy(e[k].key, r[i].lo, len);
		e[k++].end = false;
		memcpy(e[k].key, r[i].hi, len);
		if (addr_increment(e[k].key, len))
			continue; /* reaches the top: no end element */
		e[k++].end = true;
	}
	*ret = e;
	return (int)k;
}

static int range_cmp_len(const struct addr_range *a, const struct addr_range *b, size_t len)
{
	int r = memcmp(a->lo, b->lo, len);

	return r ? r : memcmp(a->hi, b->hi, len);
}

int range_diff(const struct addr_range *old, size_t nold, const struct addr_range *new, size_t nnew,
	       size_t len, struct addr_range **ret_del, size_t *ret_ndel,
	       struct addr_range **ret_add, size_t *ret_nadd)
{
	struct addr_range *del = calloc(nold ? nold : 1, sizeof(*del));
	struct addr_range *add = calloc(nnew ? nnew : 1, sizeof(*add));
	size_t i = 0, j = 0, nd = 0, na = 0;

	if (!del || !add) {
		free(del);
		free(add);
		return -ENOMEM;
	}
	while (i < nold || j < nnew) {
		int c = i == nold ? 1 : j == nnew ? -1 : range_cmp_len(&old[i], &new[j], len);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			del[nd++] = old[i++];
		} else {
			add[na++] = new[j++];
		}
	}
	*ret_del = del;
	*ret_ndel = nd;
	*ret_add = add;
	*ret_nadd = na;
	return 0;
}

uint64_t cidr_hash(const struct cidr *c)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)c->family ^ ((uint64_t)c->plen << 8);
	size_t len = cidr_addr_len(c->family);

	for (size_t i = 0; i < len; i++)
		h = (h ^ c->addr[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

/* Room for n in t: a table at most half full. A new or grown table is
 * zeroed (generation 0 is never used, so every entry reads empty). */
static int eq_reserve(struct cidr_eq *t, size_t n)
{
	size_t cap = t->cap ? t->cap : 16;

	if (n > UINT32_MAX / 2)
		return -E2BIG;
	while (cap < 2 * n)
		cap *= 2;
	if (cap != t->cap) {
		free(t->tab);
		if (!(t->tab = calloc(cap, sizeof(*t->tab)))) {
			t->cap = 0;
			return -ENOMEM;
		}
		t->cap = cap;
		t->gen = 0;
	}
	if (++t->gen == 0) { /* wrapped: clear what older generations left */
		memset(t->tab, 0, t->cap * sizeof(*t->tab));
		t->gen = 1;
	}
	return 0;
}

int cidr_eq_first(struct cidr_eq *t, const struct cidr *in, size_t n, size_t *ret_first)
{
	size_t mask;
	int r = eq_reserve(t, n);

	if (r < 0)
		return r;
	mask = t->cap - 1;
	for (size_t i = 0; i < n; i++) {
		size_t h = (size_t)cidr_hash(&in[i]) & mask;

		while (t->tab[h].gen == t->gen && !cidr_equal(&in[t->tab[h].idx], &in[i]))
			h = (h + 1) & mask;
		if (t->tab[h].gen != t->gen) {
			t->tab[h].gen = t->gen;
			t->tab[h].idx = (uint32_t)i;
		}
		ret_first[i] = t->tab[h].idx;
	}
	return 0;
}

void cidr_eq_free(struct cidr_eq *t)
{
	free(t->tab);
	memset(t, 0, sizeof(*t));
}

int cidr_first_equal(const struct cidr *in, size_t n, size_t *ret_first)
{
	struct cidr_eq t = { 0 };
	int r = cidr_eq_first(&t, in, n, ret_first);

	cidr_eq_free(&t);
	return r;
}
