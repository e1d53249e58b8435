/* libFuzzer target: the policy store (config/pstore.c) driven by the input
 * bytes, two per operation (what, then which of 256 names): put a valid
 * version, reject, delete, begin or end a relist, claim. A plain model of
 * the rule runs beside it, and after every operation the store must hold
 * exactly the model's versions, each name once, found by its index. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/pstore.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define NAMES 256

struct model {
	int cur[NAMES], prev[NAMES]; /* the version in use; -1: none */
	bool rejected[NAMES];
	bool relisting;
	int claimed[NAMES]; /* the origin that has the name; -1: none */
	size_t ncur, nrej; /* how many cur[] are set and rejected[] true, kept as they change
			     * (a count by loop per operation was most of the run time) */
};

static void set_cur(struct model *m, unsigned k, int v)
{
	m->ncur += (v >= 0) - (m->cur[k] >= 0);
	m->cur[k] = v;
}

static void set_rejected(struct model *m, unsigned k, bool r)
{
	m->nrej += (size_t)r - (size_t)m->rejected[k];
	m->rejected[k] = r;
}

static const char *const origins[] = { "a.yaml", "b.yaml" };

/* Everything: each policy is the model's, once, and found by its name. */
static void check_all(struct pstore *s, const struct model *m, char names[NAMES][8])
{
	const struct masq_policy_list *l = pstore_policies(s);
	bool seen[NAMES] = { false };

	for (size_t i = 0; i < l->n; i++) {
		unsigned k = (unsigned)strtoul(l->v[i].name + 1, NULL, 10);
		if (k >= NAMES || seen[k] || m->cur[k] < 0 || l->v[i].ncidrs != 1 ||
		    l->v[i].cidrs[0].addr[1] != m->cur[k] ||
		    pstore_get(s, l->v[i].name) != &l->v[i])
			abort();
		seen[k] = true;
	}
	for (int k = 0; k < NAMES; k++) {
		if (!seen[k] && pstore_get(s, names[k]))
			abort();
	}
}

/* After one operation on name k: the counts, and k's version. */
static void check(struct pstore *s, const struct model *m, const char *name, unsigned k)
{
	const struct masq_policy *p = pstore_get(s, name);

	if (m->ncur != pstore_policies(s)->n || m->nrej != pstore_nrejected(s))
		abort();
	if (m->cur[k] < 0 ? p != NULL : !p || p->cidrs[0].addr[1] != m->cur[k])
		abort();
}

static void put(struct pstore *s, struct model *m, const char *name, unsigned k, unsigned v)
{
	struct masq_policy p = { .ncidrs = 1 };
	struct cidr c = { .family = AF_INET, .plen = 16, .addr = { 10, (unsigned char)v } };

	snprintf(p.name, sizeof(p.name), "%s", name);
	p.cidrs = &c;
	if (pstore_put(s, &p) < 0)
		abort(); /* no allocation fails under libFuzzer's limits at this size */
	set_cur(m, k, (int)v);
	set_rejected(m, k, false);
}

static void reject(struct pstore *s, struct model *m, const char *name, unsigned k)
{
	int want = m->cur[k] >= 0 || (m->relisting && m->prev[k] >= 0);

	if (m->cur[k] < 0 && m->relisting)
		set_cur(m, k, m->prev[k]);
	set_rejected(m, k, true);
	if (pstore_reject(s, name) != want)
		abort();
}

static void delete (struct pstore *s, struct model *m, const char *name, unsigned k)
{
	pstore_delete(s, name);
	set_cur(m, k, -1);
	set_rejected(m, k, false);
}

static void relist(struct pstore *s, struct model *m)
{
	if (m->relisting) {
		pstore_relist_end(s);
		memset(m->prev, 0xff, sizeof(m->prev));
	} else {
		pstore_relist_begin(s);
		memcpy(m->prev, m->cur, sizeof(m->prev));
		memset(m->cur, 0xff, sizeof(m->cur));
		memset(m->rejected, 0, sizeof(m->rejected));
		m->ncur = m->nrej = 0;
	}
	m->relisting = !m->relisting;
}

static void claim(struct pstore_claims *c, struct model *m, const char *name, unsigned k,
		  int origin)
{
	const char *other = NULL;
	int r = pstore_claim(c, name, origins[origin], &other);

	if (m->claimed[k] < 0 ? r != 0 : r != -EEXIST || other != origins[m->claimed[k]])
		abort();
	if (m->claimed[k] < 0)
		m->claimed[k] = origin;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char names[NAMES][8];
	struct pstore *s = pstore_new();
	struct pstore_claims *c = pstore_claims_new();
	struct model m;

	if (!s || !c)
		abort();
	for (int k = 0; k < NAMES; k++)
		snprintf(names[k], sizeof(names[k]), "p%d", k);
	memset(&m, 0xff, sizeof(m));
	memset(m.rejected, 0, sizeof(m.rejected));
	m.relisting = false;
	m.ncur = m.nrej = 0;
	for (size_t i = 0; i + 1 < size; i += 2) {
		unsigned op = data[i] & 7, v = data[i] >> 3, k = data[i + 1];
		if (op <= 2)
			put(s, &m, names[k], k, v);
		else if (op == 3)
			reject(s, &m, names[k], k);
		else if (op == 4)
			delete (s, &m, names[k], k);
		else if (op == 5)
			relist(s, &m);
		else if (op == 6)
			claim(c, &m, names[k], k, (int)(v & 1));
		check(s, &m, names[k], k);
		if (op == 5 && !m.relisting) /* a relist just ended: every name once */
			check_all(s, &m, names);
	}
	if (m.relisting)
		relist(s, &m);
	check_all(s, &m, names);
	pstore_claims_free(c);
	pstore_free(s);
	return 0;
}
