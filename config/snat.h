/* SNAT to a chosen node address (--snat-to-address, --snat-interface): the
 * flags' checks, which of an interface's addresses is its primary, and the
 * nat statement the final rules carry in place of masquerade. Pure:
 * netlink/addr.c reads the node's addresses, agent/snat.c follows them. */
#ifndef MASQ_SNAT_H
#define MASQ_SNAT_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/flags.h"

/* The address a family's final rules translate to; off: masquerade. */
struct masq_snat {
	bool on;
	uint8_t addr[16]; /* the first 4 bytes for IPv4, network order */
};

/* What the flags ask for. At most one of the two ways is used. */
struct snat_spec {
	struct masq_snat to[2]; /* --snat-to-address: [0] IPv4, [1] IPv6 */
	char iface[IFNAMSIZ]; /* --snat-interface; "" for none */
	bool ipv6; /* --enable-ipv6: the interface's IPv6 address is followed too */
};

/* The two flags, bound alike by masqd and masqctl (needs config/flags.h):
 * addrs is a struct flag_strings, iface a const char *. */
#define MASQ_SNAT_FLAGS(addrs, iface)                                                                 \
	{ "snat-to-address", FLAG_STRINGS, &(addrs), "ADDR",                                          \
	  "translate to this node address instead of masquerading, while it is on the node "          \
	  "(once per family)" },                                                                      \
	{                                                                                             \
		"snat-interface", FLAG_STRING, &(iface), "IFACE",                                     \
			"translate to IFACE's primary global address (IPv6 too with --enable-ipv6), " \
			"following it as it changes"                                                  \
	}

/* Check the flags' values: addresses (at most one per family, IPv6 only
 * with enable_ipv6, no prefix, nothing a packet cannot come from) or an
 * interface name (1 to IFNAMSIZ-1 bytes, as the kernel takes), never both.
 * Returns 0 and *ret, or -EINVAL and why ("--snat-...: ..."). */
int snat_spec_parse(const struct flag_strings *addrs, const char *iface, bool enable_ipv6,
		    struct snat_spec *ret, char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* True when the spec asks for SNAT at all; per family (0 IPv4, 1 IPv6). */
bool snat_spec_used(const struct snat_spec *s);
bool snat_spec_family(const struct snat_spec *s, int fi);

/* One address on the node, as rtnetlink reports it. */
struct snat_cand {
	int ifindex;
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint32_t flags; /* IFA_F_* */
	uint8_t scope; /* RT_SCOPE_* */
	uint32_t cstamp; /* creation time, hundredths of a second since boot */
};

/* Usable as a source: not tentative (DAD running) and not a DAD failure. */
bool snat_cand_usable(const struct snat_cand *c);

/* The primary global address of family on ifindex among c[0..n): usable,
 * scope global, not deprecated, not an IPv4 secondary nor an IPv6 temporary
 * (privacy) address; the oldest (then the lowest), so
 * that a new address never moves it and the next one takes over when it
 * goes. Returns its index, or -1 when there is none. */
int snat_pick_primary(const struct snat_cand *c, size_t n, int ifindex, int family);

/* True when family's address want is among c[0..n) and usable. */
bool snat_find(const struct snat_cand *c, size_t n, int family, const uint8_t *want);

#define SNAT_ACTION_LEN 80

/* The nat statement as nft lists it: "snat ip to 192.0.2.10",
 * "snat ip6 to [2001:db8::10]:1024-2047" (ports when first is not 0), or
 * "masquerade[ to :A-B]" when s is off. */
void snat_action_format(const struct masq_snat *s, int family, uint16_t first, uint16_t last,
			char buf[SNAT_ACTION_LEN]);

#endif
