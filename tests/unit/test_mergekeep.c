/* The merge keeps state between loads (each file's last good parse, the
 * origin strings' chunks, the fold's hash table and the lists' sizes): a
 * property test that edits random files step by step and compares every
 * load of one long-lived masq_sources with a full merge by a new one.
 *
 * Two directories: "live" gets every edit, bad files included; "good"
 * mirrors it with each file's last good text (a bad file's last good
 * version stands in for it, so that is what a full merge must see). */
#include "tests/unit/unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/sources.h"

#define NFILES 4
#define NPOL 2
#define STEPS 600

static char live[64], good[64], lpol[64], gpol[64];
static bool present[NFILES], bad[NFILES], ever_good[NFILES];
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* The CIDRs the files and policies pick from: a small universe, where
 * they repeat each other's (the fold joins origins), a middle one, where
 * often one CIDR is named twice, then a large one, where mostly none is
 * (the fold is skipped). */
static unsigned universe = 12;

static int put_cidr(char *buf, size_t size, const char *indent)
{
	unsigned k = rnd(universe);

	if (k % 4 == 3)
		return snprintf(buf, size, "%sfd00:%x::/32\n", indent, k);
	return snprintf(buf, size, "%s10.%u.%u.0/24\n", indent, k >> 8, k & 255);
}

static void random_file(char *buf, size_t size)
{
	size_t o = (size_t)snprintf(buf, size, "nonMasqueradeCIDRs:\n");
	unsigned n = rnd(7), m = rnd(3);

	for (unsigned i = 0; i < n; i++)
		o += (size_t)put_cidr(buf + o, size - o, "  - ");
	if (m) {
		o += (size_t)snprintf(buf + o, size - o, "masqueradeCIDRs:\n");
		for (unsigned i = 0; i < m; i++)
			o += (size_t)snprintf(buf + o, size - o, "  - 100.64.%u.0/24\n", rnd(4));
	}
}

/* A file of valid EgressNATPolicies p0..p3 (the same name in both files
 * is a conflict both merges report; a refused policy would keep its last
 * good version in one merge only). */
static void random_policies(char *buf, size_t size)
{
	size_t o = 0;
	unsigned n = rnd(3);

	buf[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		unsigned k = rnd(universe);
		o += (size_t)snprintf(buf + o, size - o,
				      "%sapiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\n"
				      "metadata: {name: p%u}\nspec: {action: NoSNAT, destinations: "
				      "[{cidr: 10.%u.%u.0/24}, {cidr: 192.168.%u.0/24}]}\n",
				      i ? "---\n" : "", rnd(4), k >> 8, k & 255,
				      rnd(universe) & 255);
	}
}

static void edit_file(void)
{
	char name[32], text[1024];
	unsigned f = rnd(NFILES), what = rnd(10);

	snprintf(name, sizeof(name), "ip-masq-%u", f);
	if (what == 0 && present[f]) { /* removed */
		unit_drop(live, name);
		if (ever_good[f])
			unit_drop(good, name);
		present[f] = bad[f] = ever_good[f] = false;
		return;
	}
	if (what == 1) { /* bad: the last good version stands in */
		unit_put(live, name, "nonMasqueradeCIDRs:\n  - 10.1.0.1/16\n");
		present[f] = bad[f] = true;
		return;
	}
	random_file(text, sizeof(text));
	unit_put(live, name, text);
	unit_put(good, name, text);
	present[f] = ever_good[f] = true;
	bad[f] = false;
}

static void edit_policies(void)
{
	char name[32], text[2048];

	snprintf(name, sizeof(name), "p%u.yaml", rnd(NPOL));
	random_policies(text, sizeof(text));
	unit_put(lpol, name, text);
	unit_put(gpol, name, text);
}

/* o with the temporary directories it names as "DIR" */
static void base_origins(const char *o, char *buf, size_t size)
{
	size_t k = 0;

	for (const char *p = o; *p && k + 4 < size;) {
		if (strncmp(p, "/tmp/masqd-", 11) == 0) {
			p += 11;
			p += strcspn(p, "/:, "); /* the rest of the directory's name */
			memcpy(buf + k, "DIR", 3);
			k += 3;
			continue;
		}
		buf[k++] = *p++;
	}
	buf[k] = '\0';
}

static void same_list(const struct cidr *a, const struct cidr_pos *apos, char **ao, size_t na,
		      const struct cidr *b, const struct cidr_pos *bpos, char **bo, size_t nb)
{
	assert_int_equal(na, nb);
	/* both merges share the fold and its shortcut; this does not: a
	 * merged list names each CIDR once */
	for (size_t i = 0; i < na; i++)
		for (size_t j = i + 1; j < na; j++)
			assert_false(cidr_equal(&a[i], &a[j]));
	for (size_t i = 0; i < na; i++) {
		char x[512], y[512];

		assert_true(cidr_equal(&a[i], &b[i]));
		assert_int_equal(apos ? apos[i].line : 0, bpos ? bpos[i].line : 0);
		assert_int_equal(apos ? apos[i].col : 0, bpos ? bpos[i].col : 0);
		base_origins(ao[i], x, sizeof(x));
		base_origins(bo[i], y, sizeof(y));
		assert_string_equal(x, y);
	}
}

static bool any_bad(void)
{
	for (int f = 0; f < NFILES; f++)
		if (bad[f])
			return true;
	return false;
}

/* The diagnostics as text, directories cut. */
static void diags_text(const struct diags *d, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d->n && o < size; i++) {
		char line[DIAG_MSG_LEN + DIAG_FILE_LEN + 64], cut[sizeof(line)];
		diag_format(&d->items[i], line, sizeof(line));
		base_origins(line, cut, sizeof(cut));
		o += (size_t)snprintf(buf + o, size - o, "%s\n", cut);
	}
}

/* loads where some CIDR was named twice, one only, or none */
static unsigned joined, joined1, unjoined;

static void compare_step(struct masq_sources *kept, struct sources_settings *lset,
			 struct sources_settings *gset)
{
	unsigned twice = 0;

	struct masq_sources *fresh = sources_new();
	struct source_state st[SOURCE_COUNT];
	struct masq_merged a, b;
	struct diags da, db;
	int ra, rb;

	assert_non_null(fresh);
	diags_init(&da);
	diags_init(&db);
	ra = sources_load(kept, lset, &a, st, &da);
	rb = sources_load(fresh, gset, &b, st, &db);
	sources_free(fresh);
	if (!any_bad()) {
		char ta[8192], tb[8192];
		assert_int_equal(ra, rb);
		diags_text(&da, ta, sizeof(ta));
		diags_text(&db, tb, sizeof(tb));
		assert_string_equal(ta, tb);
	} else {
		assert_true(ra == 1 || ra < 0);
	}
	assert_int_equal(ra < 0, rb < 0);
	if (ra < 0)
		return; /* the same refusal (a masqueradeCIDRs conflict): nothing built */
	assert_int_equal(a.is_dir, b.is_dir);
	same_list(a.cfg->cidrs, a.cfg->pos, a.origins, a.cfg->ncidrs, b.cfg->cidrs, b.cfg->pos,
		  b.origins, b.cfg->ncidrs);
	same_list(a.cfg->masq_cidrs, a.cfg->masq_pos, a.masq_origins, a.cfg->nmasq,
		  b.cfg->masq_cidrs, b.cfg->masq_pos, b.masq_origins, b.cfg->nmasq);
	assert_int_equal(a.norigins, a.cfg->ncidrs);
	for (size_t i = 0; i < a.cfg->ncidrs; i++)
		twice += strstr(a.origins[i], ", ") != NULL;
	joined += twice > 0;
	joined1 += twice == 1;
	unjoined += !twice && a.cfg->ncidrs > 1;
	assert_int_equal(a.nmasq_origins, a.cfg->nmasq);
	merged_clear(&a);
	merged_clear(&b);
}

static void test_kept_merge_is_the_full_merge(void **state)
{
	struct sources_settings lset = { .config = live,
					 .policy_dir = lpol,
					 .max_cidrs_per_file = 64,
					 .dir_resync_ns = 30000000000LL,
					 .opts = { .random_fully = true, .enable_ipv6 = true } };
	struct sources_settings gset = lset;
	struct masq_sources *kept = sources_new();
	unsigned nonempty = 0;

	gset.config = good;
	gset.policy_dir = gpol;
	assert_non_null(kept);
	for (int step = 0; step < STEPS; step++) {
		universe = step < STEPS / 3 ? 12 : step < 2 * STEPS / 3 ? 150 : 4000;
		if (rnd(4) == 0)
			edit_policies();
		else
			edit_file();
		/* masqctl explain's "FILE:LINE" origins, now and then */
		lset.origin_lines = gset.origin_lines = rnd(5) == 0;
		compare_step(kept, &lset, &gset);
		nonempty += present[0] || present[1];
	}
	assert_true(nonempty > STEPS / 4); /* the walk did merge files */
	/* both ways through the fold were compared, many times */
	assert_true(joined > STEPS / 8);
	assert_true(joined1 > STEPS / 20);
	assert_true(unjoined > STEPS / 8);
	sources_free(kept);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept_merge_is_the_full_merge),
	};
	int r;

	unit_tmpdir(live, "live");
	unit_tmpdir(good, "good");
	unit_tmpdir(lpol, "lpol");
	unit_tmpdir(gpol, "gpol");
	r = cmocka_run_group_tests(tests, NULL, NULL);
	unit_rmdirs(live, good);
	unit_rmdirs(lpol, gpol);
	return r;
}
