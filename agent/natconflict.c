/* The other NAT chains at masqd's hook: the check, its one log line per
 * change, and how status and explain --live show them. */
#include "agent/natconflict.h"

#include <linux/netfilter.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "agent/log.h"
#include "config/ruleset.h"
#include "netlink/natchains.h"
#include "netlink/nft.h"

static const char *family_name(uint8_t f)
{
	return f == NFPROTO_IPV4 ? "ip" : f == NFPROTO_IPV6 ? "ip6" : "inet";
}

static const char *const override_names[] = { "no", "may", "does" };

enum natconflict_override natconflict_override(const struct nft_natchain *c, int af,
					       bool masqueraded)
{
	if ((c->family == NFPROTO_IPV4 && af != AF_INET) ||
	    (c->family == NFPROTO_IPV6 && af != AF_INET6))
		return NATC_NO;
	/* equal priorities run in registration order: count it as after */
	if (c->priority >= MASQ_CHAIN_PRIORITY && masqueraded)
		return NATC_NO;
	return c->conditional ? NATC_MAY : NATC_DOES;
}

static bool same_chains(const struct nft_natchains *a, const struct nft_natchains *b)
{
	if (a->n != b->n || a->truncated != b->truncated)
		return false;
	for (unsigned i = 0; i < a->n; i++) {
		const struct nft_natchain *x = &a->c[i], *y = &b->c[i];
		if (x->family != y->family || x->priority != y->priority || x->snat != y->snat ||
		    x->conditional != y->conditional || x->owned != y->owned ||
		    strcmp(x->table, y->table) != 0 || strcmp(x->chain, y->chain) != 0 ||
		    strcmp(x->via, y->via) != 0)
			return false;
	}
	return true;
}

/* "ip nat POSTROUTING (priority 100, masquerade via KUBE-POSTROUTING, conditional)" */
static void chain_text(const struct nft_natchain *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s %s (priority %d, %s%s%s, %s%s)", family_name(c->family), c->table,
		 c->chain, c->priority, c->snat ? "snat" : "masquerade", c->via[0] ? " via " : "",
		 c->via, c->conditional ? "conditional" : "every packet",
		 c->owned ? ", table owned by a process" : "");
}

static void log_change(const struct nft_natchains *now)
{
	char line[1024] = "", one[3 * NFT_NATCHAINS_NAME_LEN + 96];
	size_t off = 0;

	if (!now->n) {
		log_info("no other NAT chain at the nat postrouting hook now");
		return;
	}
	for (unsigned i = 0; i < now->n && off < sizeof(line); i++) {
		chain_text(&now->c[i], one, sizeof(one));
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s", i ? "; " : "", one);
	}
	log_warnx("%u other NAT chain%s at the nat postrouting hook can override masqd's "
		  "decisions%s: %s (see masqctl status)",
		  now->n, now->n == 1 ? "" : "s", now->truncated ? " (and more, not examined)" : "",
		  line);
}

/* The generation after g: the kernel skips 0 when it wraps. */
static uint32_t gen_next(uint32_t g)
{
	return g + 1 ? g + 1 : 1;
}

/* masqd's own commit moves the generation too. When it was masqd's only
 * commit since the last good check, and it made the generation right after
 * the one that check read, nobody else committed before it: the check's
 * result still holds at the generation it made. Two commits, or one whose
 * generation the kernel did not say, leave the check to read again. */
static void own_commit(struct nft_sock *nft, struct masqd_natconflict_stats *nc)
{
	uint64_t commits = nft_sock_commits(nft);
	uint32_t made;

	if (commits == nc->commits + 1 && nc->gen_ok && nc->checked && !nc->err &&
	    nft_sock_last_commit_gen(nft, &made) && made == gen_next(nc->gen))
		nc->gen = made;
	nc->commits = commits;
}

void natconflict_check(struct nft_sock *nft, struct masqd_stats *st)
{
	struct masqd_natconflict_stats *nc = &st->natc;
	struct nft_natchains now;
	struct timespec t0, t1;
	uint32_t gen;
	bool gen_ok;
	int r;

	own_commit(nft, nc);
	gen_ok = nft_sock_genid(nft, &gen) == 0;
	/* nothing committed on the host since the last good check, but for
	 * masqd's own commit: nothing to read again (a node with kube-proxy's
	 * chains pays ms for a dump), unless a listed chain's table went with
	 * its owner, which moves no generation: asked table by table */
	if (gen_ok && nc->gen_ok && nc->checked && !nc->err && gen == nc->gen &&
	    nft_natchains_owned_here(nft, &nc->found) == 1)
		return;
	nc->gen_ok = false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = nft_natchains_find(nft, &now);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* tools/bench/hook.py reads this line */
	log_debug("nat postrouting hook checked in %.3f ms: %u other NAT chains",
		  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		  r < 0 ? 0 : now.n);

	if (r < 0) {
		if (nc->err != r)
			log_warnx("cannot list the other NAT chains at the postrouting hook: %s",
				  strerror(-r));
		nc->err = r;
		return; /* the last result stays */
	}
	nc->err = 0;
	nc->gen = gen; /* read before the dump: a commit during it is read next time */
	nc->gen_ok = gen_ok;
	if (nc->checked && same_chains(&nc->found, &now))
		return;
	if (nc->checked || now.n)
		log_change(&now);
	nc->checked = true;
	nc->changes++;
	nc->found = now;
}

json_t *natconflict_json(const struct masqd_natconflict_stats *nc, const struct cidr *dest,
			 bool masqueraded)
{
	json_t *list = json_array();

	for (unsigned i = 0; list && i < nc->found.n; i++) {
		const struct nft_natchain *c = &nc->found.c[i];
		json_t *o = json_pack(
			"{s:s s:s s:s s:i s:s s:s s:s s:s s:b}", "family", family_name(c->family),
			"table", c->table, "chain", c->chain, "priority", (int)c->priority, "runs",
			c->priority < MASQ_CHAIN_PRIORITY ? "before" : "after", "nat",
			c->snat ? "snat" : "masquerade", "via", c->via, "natFor",
			c->conditional ? "some packets" : "every packet", "tableOwned", c->owned);

		if (o && dest)
			json_object_set_new(o, "overrides",
					    json_string(override_names[natconflict_override(
						    c, dest->family, masqueraded)]));
		json_array_append_new(list, o);
	}
	return list;
}

void natconflict_write(const struct masqd_natconflict_stats *nc, const struct cidr *dest,
		       bool masqueraded, FILE *f)
{
	char one[3 * NFT_NATCHAINS_NAME_LEN + 96];

	if (!nc->found.n) {
		fprintf(f, "  no other NAT chain at the nat postrouting hook%s\n",
			nc->checked ? "" : " (not checked yet)");
		return;
	}
	fprintf(f,
		"  other NAT chains at the nat postrouting hook (masqd's: inet %s, priority %d):\n",
		MASQ_TABLE, MASQ_CHAIN_PRIORITY);
	for (unsigned i = 0; i < nc->found.n; i++) {
		const struct nft_natchain *c = &nc->found.c[i];
		enum natconflict_override o = natconflict_override(c, dest->family, masqueraded);

		chain_text(c, one, sizeof(one));
		fprintf(f, "    %s: runs %s masqd, %s\n", one,
			c->priority < MASQ_CHAIN_PRIORITY ? "before" : "after",
			o == NATC_NO	? "cannot override this decision"
			: o == NATC_MAY ? "MAY override this decision"
					: "OVERRIDES this decision");
	}
}
