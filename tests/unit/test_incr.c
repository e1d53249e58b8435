/* The resolution kept between reloads (config/incr.h, config/lpmidx.h):
 * random configs changed step by step, every step compared with a build
 * from scratch (masq_ruleset_build), and the delta applied to a model of the
 * kernel's set must give that same set. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/incr.h"
#include "config/lpmidx.h"
#include "config/ruleset.h"

#define POOL 96 /* prefixes a config may hold, per list */

static struct masq_opts opts = { .enable_ipv6 = true, .random_fully = true };

/* A random prefix of family: inside one of near (when any) so that they
 * nest, else under one of a few short roots; now and then very short. */
static void draw(unsigned *seed, int family, const struct cidr *near, size_t nnear,
		 struct cidr *ret)
{
	unsigned bits = (unsigned)cidr_addr_len(family) * 8, plen;
	const struct cidr *in =
		nnear && rand_r(seed) % 3 ? &near[(size_t)rand_r(seed) % nnear] : NULL;

	memset(ret, 0, sizeof(*ret));
	ret->family = family;
	for (size_t i = 0; i < bits / 8; i++)
		ret->addr[i] = (uint8_t)rand_r(seed);
	if (in && in->family == family) {
		plen = in->plen + 1 + (unsigned)rand_r(seed) % 10;
		memcpy(ret->addr, in->addr, (in->plen + 7) / 8);
		if (in->plen % 8) { /* in's bits, then random ones in the same byte */
			uint8_t keep = (uint8_t)(0xff00u >> (in->plen % 8));
			size_t b = in->plen / 8;
			ret->addr[b] = (uint8_t)((in->addr[b] & keep) | (rand_r(seed) & ~keep));
		}
	} else {
		ret->addr[0] = family == AF_INET ? (uint8_t)(10 + rand_r(seed) % 2) : 0xfd;
		ret->addr[1] = (uint8_t)(rand_r(seed) % 3);
		plen = rand_r(seed) % 25 == 0 ? (unsigned)rand_r(seed) % 9
					      : 8 + (unsigned)rand_r(seed) % (bits / 4);
	}
	ret->plen = (uint8_t)(plen > bits ? bits : plen);
	for (unsigned b = ret->plen; b < bits; b++)
		ret->addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
}

static bool has(const struct cidr *v, size_t n, const struct cidr *c)
{
	for (size_t i = 0; i < n; i++) {
		if (cidr_equal(&v[i], c))
			return true;
	}
	return false;
}

/* One random change to a list: a new prefix (about two thirds of the time)
 * or one taken out; the lists stay free of duplicates, as a config's. */
static void mutate(unsigned *seed, struct cidr *v, size_t *n, const struct cidr *other,
		   size_t nother)
{
	struct cidr c;

	if (*n && (rand_r(seed) % 3 == 0 || *n == POOL)) {
		size_t i = (size_t)rand_r(seed) % *n;
		memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
		(*n)--;
		return;
	}
	draw(seed, rand_r(seed) % 2 ? AF_INET6 : AF_INET, rand_r(seed) % 2 ? v : other,
	     rand_r(seed) % 2 ? *n : nother, &c);
	if (!has(v, *n, &c) && !has(other, nother, &c)) {
		size_t at = *n ? (size_t)rand_r(seed) % (*n + 1) : 0; /* anywhere in the list */
		memmove(&v[at + 1], &v[at], (*n - at) * sizeof(*v));
		v[at] = c;
		(*n)++;
	}
}

static int range_order(const void *x, const void *y)
{
	return memcmp(((const struct addr_range *)x)->lo, ((const struct addr_range *)y)->lo, 16);
}

/* The kernel's set as a model: del's intervals must be there whole, add's
 * must land apart from everything left. */
static void apply(struct addr_range *set, size_t *n, const struct addr_range *del, size_t ndel,
		  const struct addr_range *add, size_t nadd, size_t cap)
{
	for (size_t d = 0; d < ndel; d++) {
		size_t i = 0;

		while (i < *n && memcmp(&set[i], &del[d], sizeof(del[d])) != 0)
			i++;
		assert_true(i < *n); /* deleting what the kernel does not hold fails the batch */
		set[i] = set[--*n];
	}
	for (size_t a = 0; a < nadd; a++) {
		for (size_t i = 0; i < *n; i++) /* overlapping elements: EEXIST */
			assert_false(memcmp(add[a].lo, set[i].hi, 16) <= 0 &&
				     memcmp(set[i].lo, add[a].hi, 16) <= 0);
		assert_true(*n < cap);
		set[(*n)++] = add[a];
	}
	qsort(set, *n, sizeof(*set), range_order);
}

static void same_ranges(const struct addr_range *a, size_t na, const struct addr_range *b,
			size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_memory_equal(&a[i], &b[i], sizeof(a[i]));
}

/* One config's worth of checks: the index against a fresh build, the
 * kernel model (after the delta) against both. */
static void check(const struct masq_incr *x, const struct masq_config *cfg,
		  struct addr_range *model[2], size_t nmodel[2])
{
	struct masq_ruleset *rs;
	struct cidr ll[2];
	size_t ncidrs[2] = { 0, 0 }, nll = cfg_link_local(cfg, &opts, ll);

	for (size_t i = 0; i < cfg->ncidrs; i++)
		ncidrs[cfg->cidrs[i].family == AF_INET6]++;
	for (size_t i = 0; i < nll; i++)
		ncidrs[ll[i].family == AF_INET6]++;
	assert_int_equal(masq_incr_cidrs(x, AF_INET), ncidrs[0]);
	assert_int_equal(masq_incr_cidrs(x, AF_INET6), ncidrs[1]);
	assert_int_equal(masq_ruleset_build(cfg, &opts, &rs), 0);
	for (int f = 0; f < 2; f++) {
		int family = f ? AF_INET6 : AF_INET;
		struct addr_range *got;
		int n = masq_incr_ranges(x, family, &got);

		assert_true(n >= 0);
		same_ranges(got, (size_t)n, f ? rs->v6 : rs->v4, f ? rs->n6 : rs->n4);
		same_ranges(model[f], nmodel[f], got, (size_t)n);
		assert_int_equal(masq_incr_count(x, family), (size_t)n);
		assert_int_equal(masq_incr_keeps_all(x, family),
				 masq_ruleset_keeps_all(rs, family));
		free(got);
	}
	masq_ruleset_free(rs);
}

/* x moves to cfg; its delta goes to the kernel model; all three agree. */
static void step(struct masq_incr *x, const struct masq_config *cfg, struct addr_range *model[2],
		 size_t nmodel[2], size_t cap)
{
	struct masq_delta d;

	assert_int_equal(masq_incr_update(x, cfg, &d), 0);
	for (int f = 0; f < 2; f++)
		apply(model[f], &nmodel[f], d.del[f], d.ndel[f], d.add[f], d.nadd[f], cap);
	check(x, cfg, model, nmodel);
	masq_delta_clear(&d);
}

static void run(unsigned seed, int steps, int max_changes)
{
	struct cidr keep[POOL + 1], masq[POOL + 1];
	struct masq_config cfg = { .cidrs = keep, .masq_cidrs = masq };
	struct addr_range *model[2];
	size_t nmodel[2], cap = 4 * POOL + 8;
	struct masq_incr *x;

	for (int i = 0; i < 20; i++)
		mutate(&seed, keep, &cfg.ncidrs, masq, cfg.nmasq);
	for (int f = 0; f < 2; f++) {
		struct addr_range *r;
		int n;

		model[f] = calloc(cap, sizeof(*model[f]));
		assert_non_null(model[f]);
		assert_int_equal(masq_incr_new(&cfg, &opts, &x), 0);
		n = masq_incr_ranges(x, f ? AF_INET6 : AF_INET, &r);
		assert_true(n >= 0);
		memcpy(model[f], r, (size_t)n * sizeof(*r));
		nmodel[f] = (size_t)n;
		free(r);
		masq_incr_free(x);
	}
	assert_int_equal(masq_incr_new(&cfg, &opts, &x), 0);
	check(x, &cfg, model, nmodel);
	for (int s = 0; s < steps; s++) {
		int k = 1 + rand_r(&seed) % max_changes;

		for (int i = 0; i < k; i++) {
			if (rand_r(&seed) % 2)
				mutate(&seed, keep, &cfg.ncidrs, masq, cfg.nmasq);
			else
				mutate(&seed, masq, &cfg.nmasq, keep, cfg.ncidrs);
		}
		if (rand_r(&seed) % 10 == 0)
			cfg.masq_link_local = !cfg.masq_link_local;
		if (rand_r(&seed) % 10 == 0)
			cfg.masq_link_local6 = !cfg.masq_link_local6;
		step(x, &cfg, model, nmodel, cap);
	}
	masq_incr_free(x);
	free(model[0]);
	free(model[1]);
}

/* The property, with one change at a time and with several. */
static void test_random_deltas_match_full_build(void **state)
{
	for (unsigned seed = 1; seed <= 60; seed++)
		run(seed, 150, seed % 3 ? 1 : 8);
}

/* Lists longer than the scan's blocks: CIDRs inserted, removed and
 * replaced anywhere, the middle growing and shrinking. */
static void test_long_lists(void **state)
{
	enum { LONG = 3000 };
	struct cidr *keep = calloc(LONG + 64, sizeof(*keep)), masq[1];
	struct masq_config cfg = { .cidrs = keep, .masq_cidrs = masq, .nmasq = 1 };
	struct addr_range *model[2];
	size_t nmodel[2] = { 0, 0 }, cap = 2 * LONG + 64;
	struct masq_incr *x;
	unsigned seed = 7, next = 0;
	struct addr_range *r;
	int n;

	assert_non_null(keep);
	for (; cfg.ncidrs < LONG; next++) /* 10.a.b.0/24, b even: none touch */
		keep[cfg.ncidrs++] = (struct cidr){ .family = AF_INET,
						    .addr = { 10, (uint8_t)(next / 128),
							      (uint8_t)(next % 128 * 2) },
						    .plen = 24 };
	masq[0] = (struct cidr){ .family = AF_INET, .addr = { 10, 3, 4, 64 }, .plen = 26 };
	assert_int_equal(masq_incr_new(&cfg, &opts, &x), 0);
	for (int f = 0; f < 2; f++) {
		model[f] = calloc(cap, sizeof(*model[f]));
		assert_non_null(model[f]);
		n = masq_incr_ranges(x, f ? AF_INET6 : AF_INET, &r);
		assert_true(n >= 0);
		memcpy(model[f], r, (size_t)n * sizeof(*r));
		nmodel[f] = (size_t)n;
		free(r);
	}
	for (int s = 0; s < 40; s++) {
		size_t at = (size_t)rand_r(&seed) % cfg.ncidrs;

		switch (s % 3) {
		case 0: /* a new one in the middle */
			memmove(&keep[at + 1], &keep[at], (cfg.ncidrs - at) * sizeof(*keep));
			keep[at] = (struct cidr){ .family = AF_INET,
						  .addr = { 10, (uint8_t)(next / 128),
							    (uint8_t)(next % 128 * 2) },
						  .plen = 24 };
			next++;
			cfg.ncidrs++;
			break;
		case 1: /* one goes */
			memmove(&keep[at], &keep[at + 1], (cfg.ncidrs - at - 1) * sizeof(*keep));
			cfg.ncidrs--;
			break;
		default: /* one replaced by its neighbour's odd twin: it touches it */
			keep[at].addr[2] |= 1;
			break;
		}
		step(x, &cfg, model, nmodel, cap);
	}
	masq_incr_free(x);
	free(model[0]);
	free(model[1]);
	free(keep);
}

/* An unchanged config changes nothing, and a prefix that goes and comes
 * back within one update sends nothing. */
static void test_no_change_sends_nothing(void **state)
{
	struct cidr keep[2];
	struct masq_config cfg = { .cidrs = keep, .ncidrs = 2 };
	struct masq_delta d;
	struct masq_incr *x;

	assert_int_equal(cidr_parse("10.0.0.0/8", &keep[0], NULL), 0);
	assert_int_equal(cidr_parse("192.168.0.0/16", &keep[1], NULL), 0);
	assert_int_equal(masq_incr_new(&cfg, &opts, &x), 0);
	assert_int_equal(masq_incr_update(x, &cfg, &d), 0);
	for (int f = 0; f < 2; f++)
		assert_int_equal(d.ndel[f] + d.nadd[f], 0);
	masq_delta_clear(&d);
	/* the same two in the other order: both re-resolved, nothing to send */
	struct cidr swapped[2] = { keep[1], keep[0] };
	cfg.cidrs = swapped;
	assert_int_equal(masq_incr_update(x, &cfg, &d), 0);
	for (int f = 0; f < 2; f++)
		assert_int_equal(d.ndel[f] + d.nadd[f], 0);
	masq_delta_clear(&d);
	masq_incr_free(x);
}

/* A masqueradeCIDRs exception inside a kept range splits one interval in
 * two: one element pair out, two in; taking it away joins them again. */
static void test_exception_splits_and_joins(void **state)
{
	struct cidr keep[1], masq[1];
	struct masq_config cfg = { .cidrs = keep,
				   .ncidrs = 1,
				   .masq_cidrs = masq,
				   .masq_link_local = true,
				   .masq_link_local6 = true };
	struct masq_delta d;
	struct masq_incr *x;
	char a[CIDR_STRLEN], b[CIDR_STRLEN];

	assert_int_equal(cidr_parse("10.0.0.0/8", &keep[0], NULL), 0);
	assert_int_equal(cidr_parse("10.1.0.0/16", &masq[0], NULL), 0);
	assert_int_equal(masq_incr_new(&cfg, &opts, &x), 0);
	cfg.nmasq = 1;
	assert_int_equal(masq_incr_update(x, &cfg, &d), 0);
	assert_int_equal(d.ndel[0], 1);
	range_format(&d.del[0][0], AF_INET, a);
	assert_string_equal(a, "10.0.0.0/8");
	assert_int_equal(d.nadd[0], 2);
	range_format(&d.add[0][0], AF_INET, a);
	range_format(&d.add[0][1], AF_INET, b);
	assert_string_equal(a, "10.0.0.0/16");
	assert_string_equal(b, "10.2.0.0-10.255.255.255");
	masq_delta_clear(&d);
	cfg.nmasq = 0;
	cfg.masq_cidrs = NULL; /* as a config without the key has it */
	assert_int_equal(masq_incr_update(x, &cfg, &d), 0);
	assert_int_equal(d.ndel[0], 2);
	assert_int_equal(d.nadd[0], 1);
	masq_delta_clear(&d);
	masq_incr_free(x);
}

/* Taking away a prefix nobody counted is refused, not a wrong set. */
static void test_index_refuses_unknown_removal(void **state)
{
	struct cidr c;
	struct lpm_index *ix = lpm_index_new(AF_INET, NULL, 0, NULL, 0);

	assert_non_null(ix);
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, NULL), 0);
	assert_int_equal(lpm_index_change(ix, &c, true, -1), -ENOENT);
	lpm_index_free(ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_change_sends_nothing),
		cmocka_unit_test(test_exception_splits_and_joins),
		cmocka_unit_test(test_index_refuses_unknown_removal),
		cmocka_unit_test(test_random_deltas_match_full_build),
		cmocka_unit_test(test_long_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
