/* Helper for the namespace suites, run inside a test namespace.
 *   nfthelper genid    print the nftables generation id
 *   nfthelper reject   send a transaction the kernel must reject (the same
 *                      interval elements twice, with NLM_F_EXCL) and print how
 *                      masqd maps the error back to its object:
 *                      "err=<errno name> what=<object> count=<n>"
 *   nfthelper random-edits N EDITS SEED
 *                      program N random CIDRs (IPv4 and IPv6, overlapping
 *                      prefixes included), then apply EDITS random edits
 *                      through the incremental path, reading the table back
 *                      after each and comparing it with the desired state;
 *                      prints "ok EDITS edits, E elements changed" or the
 *                      first difference
 *   nfthelper ct-fill N udp|mixed SRC DST
 *                      create N conntrack entries through ctnetlink (UDP, or
 *                      TCP and UDP in turn), from SRC+i, port 1024+i%60000,
 *                      to DST+i%256 port 53, each with a 600 s timeout; they
 *                      go with the namespace. Prints "created N"
 *   nfthelper ct-udp SRC SPORT DST DPORT
 *                      create one IPv4 UDP entry, SRC:SPORT to DST:DPORT with
 *                      the plain reverse as its reply (as a packet that meets
 *                      no entry and no NAT makes it), 120 s. Prints "created 1" */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/ruleset.h"
#include "netlink/batch.h"
#include "netlink/conntrack.h"
#include "netlink/nft.h"
#include "netlink/sock.h"
#include "netlink/state.h"

#include <stdlib.h>
#include <sys/socket.h>

static int reject(struct nft_sock *ctx)
{
	struct masq_opts opts = { .random_fully = true };
	struct nft_batch *b = nft_batch_new(1);
	struct masq_config *cfg;
	struct masq_ruleset *rs;
	struct nft_error e;
	int r;

	if (!b || cfg_new_defaults(&opts, &cfg) < 0 || masq_ruleset_build(cfg, &opts, &rs) < 0)
		return 2;
	if (nft_batch_begin(b) || nft_batch_add_table(b, NULL, 0) || nft_batch_add_ruleset(b, rs) ||
	    nft_batch_add_ruleset(b, rs) || nft_batch_end(b))
		return 2;
	r = nft_sock_send_batch(ctx, b, &e);
	printf("err=%s what=%s count=%u\n", r == -EEXIST ? "EEXIST" : strerror(-r), e.what,
	       e.count);
	nft_batch_free(b);
	masq_ruleset_free(rs);
	cfg_free(cfg);
	return r < 0 ? 0 : 1;
}

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* A random prefix: IPv4 in 10.0.0.0/8 (/12../28) or IPv6 in fd00::/16 (/32../64). */
static struct cidr random_cidr(void)
{
	struct cidr c = { 0 };
	bool v6 = rnd(4) == 0;
	char buf[CIDR_STRLEN], aligned[CIDR_STRLEN];

	if (v6)
		snprintf(buf, sizeof(buf), "fd00:%x:%x::/%u", rnd(16), rnd(65536), 32 + rnd(33));
	else
		snprintf(buf, sizeof(buf), "10.%u.%u.%u/%u", rnd(256), rnd(256), rnd(256),
			 12 + rnd(17));
	if (cidr_parse(buf, &c, aligned) == -EDOM && cidr_parse(aligned, &c, NULL) < 0)
		abort();
	return c;
}

/* Add, remove or replace a few CIDRs, or about 1% of them. */
static void mutate(struct masq_config *cfg, size_t cap)
{
	size_t k = rnd(10) == 0 ? cfg->ncidrs / 100 + 1 : 1 + rnd(4);

	for (size_t i = 0; i < k; i++) {
		switch (rnd(3)) {
		case 0:
			if (cfg->ncidrs < cap)
				cfg->cidrs[cfg->ncidrs++] = random_cidr();
			break;
		case 1:
			if (cfg->ncidrs > 1) {
				size_t victim = rnd((uint32_t)cfg->ncidrs);
				cfg->cidrs[victim] = cfg->cidrs[--cfg->ncidrs];
			}
			break;
		default:
			if (cfg->ncidrs)
				cfg->cidrs[rnd((uint32_t)cfg->ncidrs)] = random_cidr();
		}
	}
}

/* Does the kernel hold exactly rs? Prints the first difference if not. */
static int verify(struct nft_sock *ctx, const struct masq_ruleset *rs)
{
	struct nft_state *want, *live;
	struct nft_table_info info;
	const char *diff = NULL;
	int r;

	if (nft_state_build(rs, &want) < 0 || nft_table_dump(ctx, &info, &live) < 0 || !live)
		return -EIO;
	r = nft_state_compare(want, live, &diff);
	if (r)
		printf("differs at: %s\n", diff);
	nft_state_free(want);
	nft_state_free(live);
	return r ? -EINVAL : 0;
}

static int random_edits(struct nft_sock *ctx, size_t n, unsigned edits, uint64_t seed)
{
	struct masq_opts opts = { .enable_ipv6 = true, .random_fully = true };
	struct masq_config cfg = { .cidrs = calloc(2 * n + 16, sizeof(struct cidr)) };
	struct masq_ruleset *old, *new;
	struct nft_error e;
	size_t changed, total = 0;

	rng_state = seed ? seed : 1;
	for (size_t i = 0; i < n; i++)
		cfg.cidrs[cfg.ncidrs++] = random_cidr();
	if (masq_ruleset_build(&cfg, &opts, &old) < 0 || nft_ruleset_apply(ctx, old, 0, &e) < 0)
		return 2;
	for (unsigned i = 0; i < edits; i++) {
		mutate(&cfg, 2 * n + 16);
		if (masq_ruleset_build(&cfg, &opts, &new) < 0)
			return 2;
		if (nft_sets_update(ctx, old, new, &changed, &e) < 0) {
			printf("edit %u: %s at %s: %s\n", i + 1, strerror(-e.err), e.what, e.msg);
			return 1;
		}
		total += changed;
		if (verify(ctx, new) < 0) {
			printf("edit %u: the kernel does not hold the desired state\n", i + 1);
			return 1;
		}
		masq_ruleset_free(old);
		old = new;
	}
	printf("ok %u edits, %zu elements changed\n", edits, total);
	masq_ruleset_free(old);
	free(cfg.cidrs);
	return 0;
}

/* One entry of ct-fill: i-th from src, to dst, and its reply. */
static void fill_entry(struct ct_entry *e, unsigned i, bool mixed, uint32_t src, uint32_t dst)
{
	uint32_t s = htonl(src + i), d = htonl(dst + (i & 255));

	memset(e, 0, sizeof(*e));
	e->family = AF_INET;
	e->proto = mixed && (i & 1) ? IPPROTO_TCP : IPPROTO_UDP;
	memcpy(e->orig.src, &s, 4);
	memcpy(e->orig.dst, &d, 4);
	e->orig.sport = htons((uint16_t)(1024 + i % 60000));
	e->orig.dport = htons(53);
	memcpy(e->reply.src, &d, 4);
	memcpy(e->reply.dst, &s, 4);
	e->reply.sport = e->orig.dport;
	e->reply.dport = e->orig.sport;
}

static int ct_fill(struct nft_sock *sock, unsigned n, const char *kind, const char *src,
		   const char *dst)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct in_addr s, d;
	struct ct_entry e;
	unsigned made = 0;

	if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1 ||
	    (strcmp(kind, "udp") != 0 && strcmp(kind, "mixed") != 0))
		return 2;
	for (unsigned i = 0; i < n; i++) {
		int r;

		fill_entry(&e, i, strcmp(kind, "mixed") == 0, ntohl(s.s_addr), ntohl(d.s_addr));
		r = nft_sock_request(sock, ct_new_req(buf, nft_sock_next_seq(sock), &e, 600), NULL,
				     NULL);
		if (r < 0 && r != -EEXIST) {
			printf("entry %u: %s\n", i, strerror(-r));
			return 1;
		}
		made += r == 0;
	}
	printf("created %u\n", made);
	return 0;
}

static int ct_udp(struct nft_sock *sock, char **a)
{
	char buf[CT_REQ_LEN] __attribute__((aligned(8)));
	struct ct_entry e = { .family = AF_INET, .proto = IPPROTO_UDP };
	int r;

	if (inet_pton(AF_INET, a[0], e.orig.src) != 1 || inet_pton(AF_INET, a[2], e.orig.dst) != 1)
		return 2;
	e.orig.sport = htons((uint16_t)strtoul(a[1], NULL, 10));
	e.orig.dport = htons((uint16_t)strtoul(a[3], NULL, 10));
	memcpy(e.reply.src, e.orig.dst, 4);
	memcpy(e.reply.dst, e.orig.src, 4);
	e.reply.sport = e.orig.dport;
	e.reply.dport = e.orig.sport;
	r = nft_sock_request(sock, ct_new_req(buf, nft_sock_next_seq(sock), &e, 120), NULL, NULL);
	if (r < 0) {
		printf("%s\n", strerror(-r));
		return 1;
	}
	printf("created 1\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct nft_sock *ctx = nft_sock_new();
	uint32_t gen;
	int r = 2;

	if (ctx && argc == 5 && strcmp(argv[1], "random-edits") == 0) {
		r = random_edits(ctx, strtoul(argv[2], NULL, 10),
				 (unsigned)strtoul(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
		nft_sock_free(ctx);
		return r;
	}
	if (ctx && argc == 6 && strcmp(argv[1], "ct-fill") == 0) {
		r = ct_fill(ctx, (unsigned)strtoul(argv[2], NULL, 10), argv[3], argv[4], argv[5]);
		nft_sock_free(ctx);
		return r;
	}
	if (ctx && argc == 6 && strcmp(argv[1], "ct-udp") == 0) {
		r = ct_udp(ctx, argv + 2);
		nft_sock_free(ctx);
		return r;
	}
	if (!ctx || argc != 2)
		return 2;
	if (strcmp(argv[1], "genid") == 0 && nft_sock_genid(ctx, &gen) == 0) {
		printf("%u\n", gen);
		r = 0;
	} else if (strcmp(argv[1], "reject") == 0) {
		r = reject(ctx);
	}
	nft_sock_free(ctx);
	return r;
}
