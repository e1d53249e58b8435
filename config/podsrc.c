/* Pod-source scoping: the pod CIDRs, checked, and the source question. */
#include "config/podsrc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int fam_index(int family)
{
	return family == AF_INET ? 0 : family == AF_INET6 ? 1 : -1;
}

int podsrc_add(struct podsrc *p, const struct cidr *c)
{
	int fi = fam_index(c->family);

	if (fi < 0)
		return -EINVAL;
	for (size_t i = 0; i < p->n[fi]; i++) {
		if (cidr_equal(&p->v[fi][i], c))
			return 0;
	}
	if (p->n[fi] == PODSRC_MAX)
		return -E2BIG;
	p->v[fi][p->n[fi]++] = *c;
	return 1;
}

/* One CIDR of the flag's value (len bytes of s). */
static int parse_one(const char *s, size_t len, bool enable_ipv6, struct podsrc *p, char *why,
		     size_t why_len)
{
	char text[CIDR_STRLEN], aligned[CIDR_STRLEN];
	struct cidr c;
	int r;

	if (len == 0 || len >= sizeof(text)) {
		snprintf(why, why_len, "--pod-cidr: \"%.*s\" is not a CIDR",
			 (int)(len < 64 ? len : 64), s);
		return -EINVAL;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	r = cidr_parse(text, &c, aligned);
	if (r == -EDOM) {
		snprintf(why, why_len, "--pod-cidr: %s has host bits set (did you mean %s?)", text,
			 aligned);
		return -EINVAL;
	}
	if (r < 0) {
		snprintf(why, why_len, "--pod-cidr: \"%s\" is not a CIDR", text);
		return -EINVAL;
	}
	if (c.family == AF_INET6 && !enable_ipv6) {
		snprintf(why, why_len,
			 "--pod-cidr: %s is IPv6: add --enable-ipv6 (without it masqd leaves IPv6 "
			 "alone)",
			 text);
		return -EINVAL;
	}
	if (podsrc_add(p, &c) == -E2BIG) {
		snprintf(why, why_len, "--pod-cidr: more than %d %s CIDRs", PODSRC_MAX,
			 c.family == AF_INET ? "IPv4" : "IPv6");
		return -EINVAL;
	}
	return 0;
}

int podsrc_parse_flag(const struct flag_strings *vals, bool enable_ipv6, struct podsrc *ret,
		      char *why, size_t why_len)
{
	struct podsrc p = { 0 };

	for (size_t i = 0; i < vals->n; i++) {
		const char *s = vals->v[i], *comma;

		do {
			size_t len = (comma = strchr(s, ',')) ? (size_t)(comma - s) : strlen(s);

			if (parse_one(s, len, enable_ipv6, &p, why, why_len) < 0)
				return -EINVAL;
			s = comma + 1;
		} while (comma);
	}
	*ret = p;
	return 0;
}

/* No bit of addr is set past the first plen. */
static bool aligned(const uint8_t *addr, unsigned plen, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned bits = plen > i * 8 ? plen - (unsigned)i * 8 : 0;

		if (bits < 8 && (addr[i] & (0xff >> bits)))
			return false;
	}
	return true;
}

/* The widest prefix starting at cur that ends at or before hi. */
static struct cidr widest_at(int family, const uint8_t *cur, const uint8_t *hi)
{
	size_t len = cidr_addr_len(family);
	struct cidr best = { .family = family, .plen = (uint8_t)(len * 8) };
	struct addr_range rg;

	memcpy(best.addr, cur, len);
	for (int plen = (int)len * 8 - 1; plen >= 0; plen--) {
		struct cidr c = best;

		c.plen = (uint8_t)plen;
		cidr_to_range(&c, &rg);
		if (!aligned(cur, (unsigned)plen, len) || memcmp(rg.hi, hi, len) > 0)
			break;
		best.plen = (uint8_t)plen;
	}
	return best;
}

int podsrc_add_range(struct podsrc *p, int family, const struct addr_range *r)
{
	size_t len = cidr_addr_len(family);
	uint8_t cur[16];
	int e;

	if (!len || memcmp(r->lo, r->hi, len) > 0)
		return -EINVAL;
	memcpy(cur, r->lo, len);
	for (;;) {
		struct cidr c = widest_at(family, cur, r->hi);
		struct addr_range rg;

		if ((e = podsrc_add(p, &c)) < 0)
			return e;
		cidr_to_range(&c, &rg);
		if (memcmp(rg.hi, r->hi, len) == 0)
			return 0;
		memcpy(cur, rg.hi, len);
		if (addr_increment(cur, len))
			return 0;
	}
}

bool podsrc_scoped(const struct podsrc *p, int fi)
{
	return p->n[fi] > 0;
}

bool podsrc_contains(const struct podsrc *p, const struct cidr *src)
{
	int fi = fam_index(src->family);

	for (size_t i = 0; fi >= 0 && i < p->n[fi]; i++) {
		if (cidr_contains(&p->v[fi][i], src))
			return true;
	}
	return false;
}

bool podsrc_equal(const struct podsrc *a, const struct podsrc *b)
{
	for (int fi = 0; fi < 2; fi++) {
		if (a->n[fi] != b->n[fi])
			return false;
		for (size_t i = 0; i < a->n[fi]; i++) {
			if (!cidr_equal(&a->v[fi][i], &b->v[fi][i]))
				return false;
		}
	}
	return true;
}

void podsrc_format(const struct podsrc *p, int fi, char buf[PODSRC_TEXT_LEN])
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->n[fi] && o < PODSRC_TEXT_LEN; i++) {
		char c[CIDR_STRLEN];

		cidr_format(&p->v[fi][i], c);
		o += (size_t)snprintf(buf + o, PODSRC_TEXT_LEN - o, "%s%s", i ? ", " : "", c);
	}
}
