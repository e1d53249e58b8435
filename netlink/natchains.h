/* The other NAT chains at masqd's hook: every base chain of type nat at the
 * postrouting hook, in any family, that masquerades or snats (in itself or
 * in a chain it jumps to). masqd's `return` does not stop them: the first
 * NAT a connection gets is the one it keeps, so one that runs before masqd
 * decides for it, and one that runs after can masquerade what masqd kept. */
#ifndef MASQ_NFT_NATCHAINS_H
#define MASQ_NFT_NATCHAINS_H

#include <stdbool.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

struct nft_sock;

#define NFT_NATCHAINS_MAX 16 /* chains reported; more set truncated */
#define NFT_NATCHAINS_RULES_MAX 4096 /* rules examined in one check, jumps included */
#define NFT_NATCHAINS_DEPTH 2 /* jumps followed from a base chain */
#define NFT_NATCHAINS_NAME_LEN 256 /* the kernel's NFT_TABLE_MAXNAMELEN and chain's */

/* One foreign base chain that NATs. */
struct nft_natchain {
	uint8_t family; /* NFPROTO_IPV4, NFPROTO_IPV6 or NFPROTO_INET */
	int32_t priority;
	char table[NFT_NATCHAINS_NAME_LEN], chain[NFT_NATCHAINS_NAME_LEN];
	char via[NFT_NATCHAINS_NAME_LEN]; /* the jumped-to chain that NATs; "": itself */
	bool snat; /* snat (or iptables' SNAT); false: masquerade */
	/* the NAT rule has a match before it, or an earlier rule may end the
	 * chain: it "may" override; false: it does, for every packet */
	bool conditional;
	/* its table has an owner and no persist flag: it goes when the owning
	 * process's socket closes, and the kernel does not move the ruleset's
	 * generation for that */
	bool owned;
};

struct nft_natchains {
	unsigned n;
	bool truncated; /* more chains, or more rules, than the bounds: some not examined */
	struct nft_natchain c[NFT_NATCHAINS_MAX];
};

/* Dump every family's chains and the rules of the nat postrouting ones,
 * except masqd's own table; when some NAT, the tables too, for owned (a
 * chain whose table is gone by then is dropped). Returns 0 with *ret
 * filled, or -errno (a reply libnftnl cannot parse is -EBADMSG). */
int nft_natchains_find(struct nft_sock *sock, struct nft_natchains *ret)
	__attribute__((warn_unused_result));

/* Are the owned tables of found's chains all still there? One GETTABLE per
 * owned chain: 1 if so (or none is owned), 0 if one is gone, or -errno. A
 * check that found owned chains asks this instead of reading every chain
 * again while the generation stands still. */
int nft_natchains_owned_here(struct nft_sock *sock, const struct nft_natchains *found)
	__attribute__((warn_unused_result));

/* One NEWTABLE message of a table dump, for nft_natchains_find and tests:
 * sets seen[i] for each of found's chains in that table, and their owned.
 * Returns 0, or -EBADMSG (-ENOMEM). */
int nft_natchains_table_msg(const struct nlmsghdr *nlh, struct nft_natchains *found,
			    bool seen[NFT_NATCHAINS_MAX]);

/* After a table dump: keep only the chains whose table it saw, in order. A
 * table that is gone (its owner exited between the chain dump and the table
 * dump) takes its chains with it. */
void nft_natchains_keep_seen(struct nft_natchains *found, const bool seen[NFT_NATCHAINS_MAX]);

/* What a rule's expressions do, for nft_natchains_find and tests: pure, it
 * never touches a socket. */
struct nft_natscan {
	bool found, snat, conditional; /* the first NAT met, as nft_natchain */
	bool ended; /* an earlier rule has a verdict: later rules may not run */
	unsigned njumps;
	char jumps[4][NFT_NATCHAINS_NAME_LEN]; /* chains jumped to, before any NAT */
	bool jump_conditional[4];
};

/* Is this NEWCHAIN message a nat postrouting base chain of another table
 * than masqd's? 1 with *ret's family, table, chain and priority; 0 if not;
 * -EBADMSG when libnftnl cannot parse it. */
int nft_natchain_parse(const struct nlmsghdr *nlh, struct nft_natchain *ret);

/* Scan one NEWRULE message into s, rule after rule of one chain. Returns 0,
 * or -EBADMSG. */
int nft_natrule_scan(const struct nlmsghdr *nlh, struct nft_natscan *s);

#endif
