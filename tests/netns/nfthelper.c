/* Helper for the namespace suites, run inside a test namespace.
 *   nfthelper genid    print the nftables generation id
 *   nfthelper reject   send a transaction the kernel must reject (the same
 *                      interval elements twice, with NLM_F_EXCL) and print how
 *                      masqd maps the error back to its object:
 *                      "err=<errno name> what=<object> count=<n>" */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/ruleset.h"
#include "netlink/batch.h"
#include "netlink/nft.h"

static int reject(struct nft_ctx *ctx)
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
	r = nft_ctx_send_batch(ctx, b, &e);
	printf("err=%s what=%s count=%u\n", r == -EEXIST ? "EEXIST" : strerror(-r), e.what,
	       e.count);
	nft_batch_free(b);
	masq_ruleset_free(rs);
	cfg_free(cfg);
	return r < 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct nft_ctx *ctx = nft_ctx_new();
	uint32_t gen;
	int r = 2;

	if (!ctx || argc != 2)
		return 2;
	if (strcmp(argv[1], "genid") == 0 && nft_ctx_genid(ctx, &gen) == 0) {
		printf("%u\n", gen);
		r = 0;
	} else if (strcmp(argv[1], "reject") == 0) {
		r = reject(ctx);
	}
	nft_ctx_free(ctx);
	return r;
}
