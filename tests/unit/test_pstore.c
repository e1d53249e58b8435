/* The per-name, last-good policy store (config/pstore.c): a bad edit keeps
 * the last good version, deletes, relists building a new generation, names
 * claimed across files, and work that grows with the number of names. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/pstore.h"

/* A policy named name with one CIDR, 10.0.0.0/8 + n << 8 (a /24). */
static struct masq_policy pol(const char *name, unsigned n, struct cidr *c)
{
	struct masq_policy p = { .cidrs = c, .ncidrs = 1 };
	char text[32];

	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(text, sizeof(text), "10.%u.%u.0/24", (n >> 8) & 255, n & 255);
	assert_int_equal(cidr_parse(text, c, NULL), 0);
	return p;
}

static void put(struct pstore *s, const char *name, unsigned n)
{
	struct cidr c;
	struct masq_policy p = pol(name, n, &c);

	assert_int_equal(pstore_put(s, &p), 0);
}

/* "name/n,..." in the store's order. */
static const char *show(const struct pstore *s)
{
	const struct masq_policy_list *l = pstore_policies(s);
	static char out[512];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		assert_int_equal(l->v[i].ncidrs, 1);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s/%u", i ? "," : "",
				      l->v[i].name, l->v[i].cidrs[0].addr[2]);
		assert_ptr_equal(pstore_get(s, l->v[i].name), &l->v[i]);
	}
	return out;
}

static void test_bad_edit_keeps_last_good(void **state)
{
	struct pstore *s = pstore_new();

	put(s, "a", 1);
	assert_int_equal(pstore_reject(s, "a"), 1); /* a stands in */
	assert_string_equal(show(s), "a/1");
	assert_int_equal(pstore_nrejected(s), 1);
	assert_int_equal(pstore_reject(s, "a"), 1); /* rejected again: counted once */
	assert_int_equal(pstore_nrejected(s), 1);
	assert_int_equal(pstore_reject(s, "new"), 0); /* nothing stands in */
	assert_int_equal(pstore_nrejected(s), 2);
	assert_null(pstore_get(s, "new"));
	put(s, "a", 2); /* a good version clears it */
	assert_string_equal(show(s), "a/2");
	assert_int_equal(pstore_nrejected(s), 1);
	pstore_free(s);
}

/* An edit moves the policy last and a delete moves the last into the hole,
 * as the reflector's list did before the store. */
static void test_edit_and_delete(void **state)
{
	struct pstore *s = pstore_new();

	put(s, "a", 1);
	put(s, "b", 2);
	put(s, "c", 3);
	put(s, "a", 4);
	assert_string_equal(show(s), "c/3,b/2,a/4");
	assert_int_equal(pstore_reject(s, "b"), 1);
	pstore_delete(s, "c");
	assert_string_equal(show(s), "a/4,b/2");
	pstore_delete(s, "b"); /* deleted: no longer rejected */
	assert_int_equal(pstore_nrejected(s), 0);
	pstore_delete(s, "absent");
	assert_string_equal(show(s), "a/4");
	pstore_delete(s, "a");
	assert_string_equal(show(s), "");
	pstore_free(s);
	pstore_free(NULL);
}

static void test_relist_generations(void **state)
{
	struct pstore *s = pstore_new();

	put(s, "a", 1);
	put(s, "b", 2);
	put(s, "c", 3);
	assert_int_equal(pstore_reject(s, "c"), 1);
	pstore_relist_begin(s);
	assert_null(pstore_get(s, "a")); /* the new generation starts empty */
	assert_int_equal(pstore_nrejected(s), 0);
	put(s, "a", 5);
	assert_int_equal(pstore_reject(s, "b"), 1); /* the previous generation's b */
	assert_int_equal(pstore_reject(s, "d"), 0);
	pstore_relist_end(s);
	assert_string_equal(show(s), "a/5,b/2"); /* c was not listed: gone */
	assert_int_equal(pstore_nrejected(s), 2);
	/* the stand-in is the last good version from now on */
	pstore_relist_begin(s);
	assert_int_equal(pstore_reject(s, "b"), 1);
	pstore_relist_end(s);
	assert_string_equal(show(s), "b/2");
	pstore_relist_begin(s);
	pstore_relist_end(s);
	assert_string_equal(show(s), "");
	assert_int_equal(pstore_nrejected(s), 0);
	pstore_free(s);
}

/* Two files in their order: the first to name a policy has it. */
static void test_duplicates_across_files(void **state)
{
	struct pstore_claims *c = pstore_claims_new();
	struct pstore *a = pstore_new(), *b = pstore_new();
	const char *other = NULL;
	const struct masq_policy_list *l;

	put(a, "x", 1);
	put(a, "y", 2);
	put(b, "y", 3);
	put(b, "z", 4);
	l = pstore_policies(a);
	for (size_t i = 0; i < l->n; i++)
		assert_int_equal(pstore_claim(c, l->v[i].name, "a.yaml", &other), 0);
	l = pstore_policies(b);
	assert_int_equal(pstore_claim(c, l->v[0].name, "b.yaml", &other), -EEXIST);
	assert_string_equal(other, "a.yaml");
	assert_int_equal(pstore_claim(c, l->v[1].name, "b.yaml", &other), 0);
	assert_int_equal(pstore_claim(c, "z", "c.yaml", &other), -EEXIST);
	assert_string_equal(other, "b.yaml");
	pstore_claims_free(c);
	pstore_claims_free(NULL);
	pstore_free(a);
	pstore_free(b);
}

/* 100,000 distinct names through every operation: a few probes each (a
 * walk of the list per name, as before, would be billions). Time is
 * measured apart, not asserted. */
static void test_scaling(void **state)
{
	enum { N = 100000 };
	struct pstore_claims *c = pstore_claims_new();
	struct pstore *s = pstore_new();
	static char names[N][16];
	const char *other;
	uint64_t ops = 0;

	for (unsigned i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "p%06u", i);
		put(s, names[i], i);
	}
	ops += N;
	pstore_relist_begin(s);
	for (unsigned i = 0; i < N; i++) {
		if (i % 2)
			put(s, names[i], i + 1);
		else
			assert_int_equal(pstore_reject(s, names[i]), 1);
	}
	pstore_relist_end(s);
	ops += N;
	assert_int_equal(pstore_policies(s)->n, N);
	assert_int_equal(pstore_nrejected(s), N / 2);
	for (unsigned i = 0; i < N; i++) {
		assert_non_null(pstore_get(s, names[i]));
		assert_int_equal(pstore_claim(c, names[i], "a", &other), 0);
	}
	ops += N;
	for (unsigned i = 0; i < N; i += 2)
		pstore_delete(s, names[i]);
	ops += N / 2;
	assert_int_equal(pstore_policies(s)->n, N / 2);
	assert_int_equal(pstore_nrejected(s), 0);
	if (pstore_probes(s) > 10 * ops)
		fail_msg("%llu probes for %llu operations", (unsigned long long)pstore_probes(s),
			 (unsigned long long)ops);
	pstore_claims_free(c);
	pstore_free(s);
}

/* A policy named name with k CIDRs (the same /24 k times: the store does
 * not look inside). */
static int put_k(struct pstore *s, const char *name, unsigned k)
{
	static struct cidr cs[16];
	struct masq_policy p = { .cidrs = cs, .ncidrs = k };

	assert_true(k <= 16);
	for (unsigned i = 0; i < k; i++)
		assert_int_equal(cidr_parse("10.0.0.0/24", &cs[i], NULL), 0);
	snprintf(p.name, sizeof(p.name), "%s", name);
	return pstore_put(s, &p);
}

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

/* Whatever order the policies come in, the store holds the longest run of
 * names, in name order, that fits the budget, and refuses the rest. */
static void test_budget_name_order(void **state)
{
	enum { N = 300 };
	unsigned seed = 7, size[N], order[N];
	char names[N][16];

	for (unsigned i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "n%04u", i);
		size[i] = 1 + rnd(&seed) % 16;
	}
	for (int round = 0; round < 50; round++) {
		size_t maxp = round % 3 ? 0 : 1 + rnd(&seed) % N;
		size_t maxc = round % 3 == 1 ? 0 : 1 + rnd(&seed) % (8 * N);
		size_t want = 0, cidrs = 0, over = 0;
		struct pstore *s = pstore_new();
		/* brute force: the prefix that fits */
		while (want < N && (!maxp || want + 1 <= maxp) &&
		       (!maxc || cidrs + size[want] <= maxc))
			cidrs += size[want++];
		for (unsigned i = 0; i < N; i++)
			order[i] = i;
		for (unsigned i = N - 1; i > 0; i--) {
			unsigned j = rnd(&seed) % (i + 1), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		pstore_set_budget(s, maxp, maxc);
		for (unsigned i = 0; i < N; i++) {
			int e = put_k(s, names[order[i]], size[order[i]]);
			assert_true(e == 0 || e == -EDQUOT);
		}
		for (unsigned i = 0; i < N; i++) {
			if ((pstore_get(s, names[i]) != NULL) != (i < want))
				fail_msg("round %d (budget %zu policies, %zu CIDRs): %s is %s",
					 round, maxp, maxc, names[i],
					 i < want ? "missing" : "stored");
			over += i >= want;
		}
		assert_int_equal(pstore_policies(s)->n, want);
		assert_int_equal(pstore_ncidrs(s), cidrs);
		assert_int_equal(pstore_nover(s), over);
		if (over)
			assert_string_equal(pstore_over_first(s), names[want]);
		else
			assert_null(pstore_over_first(s));
		pstore_free(s);
	}
}

/* A deleted policy's room is not given to a refused one (only a relist
 * does that, in name order); an edit that grows evicts the names after it. */
static void test_budget_events(void **state)
{
	struct pstore *s = pstore_new();

	pstore_set_budget(s, 0, 10);
	assert_int_equal(put_k(s, "a", 4), 0);
	assert_int_equal(put_k(s, "b", 4), 0);
	assert_int_equal(put_k(s, "c", 4), -EDQUOT);
	assert_int_equal(put_k(s, "d", 1), -EDQUOT); /* it would fit, but comes after c */
	assert_int_equal(pstore_nover(s), 2);
	pstore_delete(s, "b");
	assert_int_equal(put_k(s, "c", 4), -EDQUOT); /* the cutoff stays until a relist */
	assert_int_equal(pstore_nover(s), 2);
	pstore_delete(s, "d");
	assert_int_equal(pstore_nover(s), 1);
	assert_int_equal(put_k(s, "b", 4), 0);
	assert_int_equal(put_k(s, "a", 9), 0); /* grows: b goes */
	assert_null(pstore_get(s, "b"));
	assert_int_equal(pstore_evicted(s), 1);
	assert_string_equal(pstore_over_first(s), "b");
	assert_int_equal(put_k(s, "a", 11), -EDQUOT); /* alone over it */
	assert_null(pstore_get(s, "a"));
	assert_int_equal(pstore_policies(s)->n, 0);
	/* a relist starts over in name order */
	pstore_relist_begin(s);
	assert_int_equal(put_k(s, "c", 4), 0);
	assert_int_equal(put_k(s, "b", 4), 0);
	assert_int_equal(put_k(s, "a", 4), 0); /* c goes */
	pstore_relist_end(s);
	assert_null(pstore_get(s, "c"));
	assert_int_equal(pstore_nover(s), 1);
	assert_int_equal(pstore_ncidrs(s), 8);
	pstore_free(s);
}

/* A relist that fails part way leaves the store as it was, and until it
 * ends the settled policies are the previous generation's. */
static void test_relist_abort(void **state)
{
	struct pstore *s = pstore_new();

	pstore_set_budget(s, 2, 0);
	assert_int_equal(put_k(s, "a", 1), 0);
	assert_int_equal(put_k(s, "b", 1), 0);
	assert_int_equal(put_k(s, "c", 1), -EDQUOT);
	assert_int_equal(pstore_reject(s, "b"), 1);
	pstore_relist_begin(s);
	assert_int_equal(put_k(s, "x", 1), 0);
	assert_int_equal(pstore_policies(s)->n, 1);
	assert_int_equal(pstore_settled(s)->n, 2);
	pstore_relist_abort(s);
	assert_int_equal(pstore_policies(s)->n, 2);
	assert_non_null(pstore_get(s, "a"));
	assert_null(pstore_get(s, "x"));
	assert_int_equal(pstore_nrejected(s), 1);
	assert_int_equal(pstore_nover(s), 1);
	pstore_relist_abort(s); /* none in progress: nothing happens */
	assert_int_equal(pstore_policies(s)->n, 2);
	pstore_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_edit_keeps_last_good),
		cmocka_unit_test(test_edit_and_delete),
		cmocka_unit_test(test_relist_generations),
		cmocka_unit_test(test_duplicates_across_files),
		cmocka_unit_test(test_scaling),
		cmocka_unit_test(test_budget_name_order),
		cmocka_unit_test(test_budget_events),
		cmocka_unit_test(test_relist_abort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
