/* --snat-to-address and --snat-interface: checks, the primary address, the
 * nat statement. */
#include "config/snat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const char *const fam_names[2] = { "IPv4", "IPv6" };

/* Why a packet could never carry v4 as its source, or NULL. */
static const char *bad_v4(const uint8_t *a)
{
	if (a[0] == 0)
		return "is not a host address (0.0.0.0/8)";
	if (a[0] == 127)
		return "is a loopback address";
	if (a[0] >= 224 && a[0] < 240)
		return "is a multicast address";
	if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
		return "is the broadcast address";
	return NULL;
}

static const char *bad_v6(const uint8_t *a)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t zero[15] = { 0 };

	if (memcmp(a, zero, 15) == 0)
		return a[15] == 1 ? "is the loopback address" : "is the unspecified address";
	if (a[0] == 0xff)
		return "is a multicast address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "is link-local: it has no meaning beyond its link";
	if (memcmp(a, mapped, sizeof(mapped)) == 0)
		return "is IPv4-mapped: give the IPv4 address";
	return NULL;
}

/* One --snat-to-address value into ret->to[]. */
static int parse_addr(const char *s, bool enable_ipv6, struct snat_spec *ret, char *why,
		      size_t why_len)
{
	uint8_t a[16] = { 0 };
	const char *bad;
	int fi;

	if (inet_pton(AF_INET, s, a) == 1)
		fi = 0;
	else if (inet_pton(AF_INET6, s, a) == 1)
		fi = 1;
	else {
		snprintf(why, why_len,
			 "--snat-to-address: \"%.64s\" is not an IPv4 or IPv6 address%s", s,
			 strchr(s, '/') ? " (a single address, without a prefix length)" : "");
		return -EINVAL;
	}
	bad = fi ? bad_v6(a) : bad_v4(a);
	if (bad) {
		snprintf(why, why_len, "--snat-to-address: %s %s", s, bad);
		return -EINVAL;
	}
	if (fi && !enable_ipv6) {
		snprintf(why, why_len,
			 "--snat-to-address: %s is IPv6: it needs --enable-ipv6 (without it "
			 "masqd leaves IPv6 alone)",
			 s);
		return -EINVAL;
	}
	if (ret->to[fi].on) {
		char first[INET6_ADDRSTRLEN];

		inet_ntop(fi ? AF_INET6 : AF_INET, ret->to[fi].addr, first, sizeof(first));
		snprintf(why, why_len,
			 "--snat-to-address: two %s addresses (%s and %s): give at most one per "
			 "family",
			 fam_names[fi], first, s);
		return -EINVAL;
	}
	ret->to[fi].on = true;
	memcpy(ret->to[fi].addr, a, sizeof(a));
	return 0;
}

/* As the kernel's dev_valid_name: 1..IFNAMSIZ-1 bytes, not "." or "..",
 * no '/', ':' or white space. */
static int parse_iface(const char *s, struct snat_spec *ret, char *why, size_t why_len)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ) {
		snprintf(why, why_len, "--snat-interface: \"%.64s%s\" is not 1 to %d bytes long", s,
			 n > 64 ? "..." : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strpbrk(s, "/: \t\n\r\v\f")) {
		snprintf(why, why_len,
			 "--snat-interface: \"%s\" is not an interface name (no '/', ':' or "
			 "spaces; not . or ..)",
			 s);
		return -EINVAL;
	}
	memcpy(ret->iface, s, n + 1);
	return 0;
}

int snat_spec_parse(const struct flag_strings *addrs, const char *iface, bool enable_ipv6,
		    struct snat_spec *ret, char *why, size_t why_len)
{
	struct snat_spec s = { .ipv6 = enable_ipv6 };

	/* one way or the other: an address given and an interface followed
	 * could disagree, and neither would be the obvious winner */
	if (addrs->n && iface && *iface) {
		snprintf(why, why_len, "--snat-to-address and --snat-interface exclude each other");
		return -EINVAL;
	}
	for (size_t i = 0; i < addrs->n; i++) {
		if (parse_addr(addrs->v[i], enable_ipv6, &s, why, why_len) < 0)
			return -EINVAL;
	}
	if (iface && *iface && parse_iface(iface, &s, why, why_len) < 0)
		return -EINVAL;
	*ret = s;
	return 0;
}

bool snat_spec_used(const struct snat_spec *s)
{
	return s->to[0].on || s->to[1].on || s->iface[0];
}

bool snat_spec_family(const struct snat_spec *s, int fi)
{
	return s->to[fi].on || (s->iface[0] && (fi == 0 || s->ipv6));
}

bool snat_cand_usable(const struct snat_cand *c)
{
	return !(c->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED));
}

/* a before b: older, then lower */
static bool older(const struct snat_cand *a, const struct snat_cand *b)
{
	if (a->cstamp != b->cstamp)
		return a->cstamp < b->cstamp;
	return memcmp(a->addr, b->addr, sizeof(a->addr)) < 0;
}

/* Not a primary: an IPv4 secondary; an address past its preferred lifetime
 * (the kernel picks none for new connections); an IPv6 privacy address
 * (RFC 8981), which comes and goes by design. */
#define NOT_PRIMARY (IFA_F_SECONDARY | IFA_F_DEPRECATED | IFA_F_TEMPORARY)

int snat_pick_primary(const struct snat_cand *c, size_t n, int ifindex, int family)
{
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		if (c[i].ifindex != ifindex || c[i].family != family ||
		    c[i].scope != RT_SCOPE_UNIVERSE || !snat_cand_usable(&c[i]) ||
		    (c[i].flags & NOT_PRIMARY))
			continue;
		if (best < 0 || older(&c[i], &c[best]))
			best = (int)i;
	}
	return best;
}

bool snat_find(const struct snat_cand *c, size_t n, int family, const uint8_t *want)
{
	size_t len = family == AF_INET6 ? 16 : 4;

	for (size_t i = 0; i < n; i++) {
		if (c[i].family == family && memcmp(c[i].addr, want, len) == 0 &&
		    snat_cand_usable(&c[i]))
			return true;
	}
	return false;
}

void snat_action_format(const struct masq_snat *s, int family, uint16_t first, uint16_t last,
			char buf[SNAT_ACTION_LEN])
{
	bool v6 = family == AF_INET6;
	char addr[INET6_ADDRSTRLEN] = "", ports[16] = "";

	if (first)
		snprintf(ports, sizeof(ports), last != first ? ":%u-%u" : ":%u", first, last);
	if (!s || !s->on) {
		snprintf(buf, SNAT_ACTION_LEN, "masquerade%s%s", first ? " to " : "", ports);
		return;
	}
	inet_ntop(v6 ? AF_INET6 : AF_INET, s->addr, addr, sizeof(addr));
	/* nft brackets an IPv6 address only when a port follows */
	snprintf(buf, SNAT_ACTION_LEN, "snat ip%s to %s%s%s%s", v6 ? "6" : "",
		 v6 && first ? "[" : "", addr, v6 && first ? "]" : "", ports);
}
