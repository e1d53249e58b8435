/* Merging the sources' CIDR lists: each CIDR with who gave it, duplicates
 * folded with every origin named, and the check that no prefix ends up in
 * both lists. */
#include "config/merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A chunk of origin strings: a load names 100,000 CIDRs with a few
 * sources, so one copy per source, not a malloc per CIDR (issue 13). */
struct merge_strs {
	struct merge_strs *next;
	size_t used, cap;
	char buf[];
};

#define STRS_CHUNK 4096

/* Room for n bytes in m's strings; NULL when out of memory. */
static char *strs_alloc(struct masq_merged *m, size_t n)
{
	struct merge_strs *c = m->strs;

	if (!c || c->cap - c->used < n) {
		size_t cap = n > STRS_CHUNK ? n : STRS_CHUNK;
		if (!(c = malloc(sizeof(*c) + cap)))
			return NULL;
		*c = (struct merge_strs){ .next = m->strs, .cap = cap };
		m->strs = c;
	}
	c->used += n;
	return c->buf + c->used - n;
}

/* origin as m keeps it: the one named last when it is the same. */
static char *intern(struct merge *mg, const char *origin)
{
	size_t n = strlen(origin) + 1;
	char *o;

	if (mg->last && strcmp(mg->last, origin) == 0)
		return mg->last;
	if (!(o = strs_alloc(mg->m, n)))
		return NULL;
	memcpy(o, origin, n);
	return mg->last = o;
}

void merged_clear(struct masq_merged *m)
{
	for (struct merge_strs *c = m->strs, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(m->origins);
	free(m->masq_origins);
	cfg_free(m->cfg);
	memset(m, 0, sizeof(*m));
}

/* Room for k more CIDRs, their origins and (when pos) their positions;
 * a first list starts as large as the last load's (hint). */
static int grow(struct cidr **v, char ***origins, struct cidr_pos **pos, size_t n, size_t k,
		size_t *cap, size_t hint)
{
	size_t c = *cap ? *cap * 2 : hint > 64 ? hint : 64;
	struct cidr *v2;
	char **o2;
	struct cidr_pos *p2;

	if (n + k <= *cap)
		return 0;
	if (c < n + k)
		c = n + k;
	if (!(v2 = realloc(*v, c * sizeof(*v2))))
		return -ENOMEM;
	*v = v2;
	if (!(o2 = realloc(*origins, c * sizeof(*o2))))
		return -ENOMEM;
	*origins = o2;
	if (pos && !(p2 = realloc(*pos, c * sizeof(*p2))))
		return -ENOMEM;
	if (pos)
		*pos = p2;
	*cap = c;
	return 0;
}

static size_t hint(const struct merge *mg)
{
	return mg->scratch ? mg->scratch->last_n : 0;
}

int merge_add(struct merge *mg, const struct cidr *c, const struct cidr_pos *pos,
	      const char *origin)
{
	return merge_add_all(mg, c, pos, 1, origin);
}

int merge_add_all(struct merge *mg, const struct cidr *c, const struct cidr_pos *pos, size_t n,
		  const char *origin)
{
	struct masq_config *cfg = mg->m->cfg;
	char *o;

	if (n == 0)
		return 0;
	if (grow(&cfg->cidrs, &mg->m->origins, &cfg->pos, cfg->ncidrs, n, &mg->cap, hint(mg)) < 0 ||
	    !(o = intern(mg, origin)))
		return -ENOMEM;
	if (pos)
		memcpy(&cfg->pos[cfg->ncidrs], pos, n * sizeof(*pos));
	else
		memset(&cfg->pos[cfg->ncidrs], 0, n * sizeof(*cfg->pos));
	memcpy(&cfg->cidrs[cfg->ncidrs], c, n * sizeof(*c));
	for (size_t i = 0; i < n; i++)
		mg->m->origins[cfg->ncidrs + i] = o;
	cfg->ncidrs += n;
	mg->m->norigins = cfg->ncidrs;
	return 0;
}

int merge_add_masq(struct merge *mg, const struct cidr *c, const struct cidr_pos *pos,
		   const char *origin)
{
	struct masq_config *cfg = mg->m->cfg;

	if (grow(&cfg->masq_cidrs, &mg->m->masq_origins, &cfg->masq_pos, cfg->nmasq, 1, &mg->mcap,
		 0) < 0)
		return -ENOMEM;
	mg->m->masq_origins[cfg->nmasq] = intern(mg, origin);
	if (!mg->m->masq_origins[cfg->nmasq])
		return -ENOMEM;
	mg->m->nmasq_origins = cfg->nmasq + 1;
	cfg->masq_pos[cfg->nmasq] = *pos;
	cfg->masq_cidrs[cfg->nmasq++] = *c;
	return 0;
}

/* Is name one of the ", "-separated names of list? */
static bool named_in(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p; p = strstr(p, ", ") ? strstr(p, ", ") + 2 : NULL) {
		if (strncmp(p, name, n) == 0 && (p[n] == '\0' || strncmp(p + n, ", ", 2) == 0))
			return true;
	}
	return false;
}

/* Append origin b to a's list unless it is named there already. */
static void join_origin(struct masq_merged *m, char **a, const char *b)
{
	size_t na = strlen(*a), nb = strlen(b);
	char *o;

	if (named_in(*a, b))
		return;
	if (!(o = strs_alloc(m, na + 2 + nb + 1)))
		return; /* the CIDR stays; only a name is missing */
	memcpy(o, *a, na);
	memcpy(o + na, ", ", 2);
	memcpy(o + na + 2, b, nb + 1);
	*a = o;
}

void merge_scratch_free(struct merge_scratch *s)
{
	cidr_eq_free(&s->eq);
	cidr_bag_free(&s->bag);
	free(s->first);
	free(s->prev);
	memset(s, 0, sizeof(*s));
}

/* s->first with room for n. */
static int scratch_first(struct merge_scratch *s, size_t n)
{
	size_t *f;

	if (n <= s->cap && s->first)
		return 0;
	if (!(f = realloc(s->first, (n ? n : 1) * sizeof(*f))))
		return -ENOMEM;
	s->first = f;
	s->cap = n ? n : 1;
	return 0;
}

/* Keep the first of each CIDR of one list, in input order, naming every
 * origin; pos (when there are positions) follows the first. */
static int fold(struct masq_merged *m, struct merge_scratch *s, struct cidr *v, char **origins,
		struct cidr_pos *pos, size_t *n)
{
	size_t *first, out = 0;

	if (scratch_first(s, *n) < 0 || cidr_eq_first(&s->eq, v, *n, s->first) < 0)
		return -ENOMEM;
	first = s->first;
	/* name the origins first, then compact: the first of each moves */
	for (size_t i = 0; i < *n; i++) {
		if (first[i] != i)
			join_origin(m, &origins[first[i]], origins[i]);
	}
	for (size_t i = 0; i < *n; i++) {
		if (first[i] != i)
			continue;
		if (pos)
			pos[out] = pos[i];
		v[out] = v[i];
		origins[out++] = origins[i];
	}
	*n = out;
	return 0;
}

/* Bring s->bag from the last merge's input (s->prev) to v: the lists'
 * common head and tail stand, the CIDRs between them left and joined. */
static int bag_update(struct merge_scratch *s, const struct cidr *v, size_t n)
{
	size_t h = 0, t = 0;
	struct cidr *p;
	int r = 0;

	if (!s->bag_ok) {
		cidr_bag_reset(&s->bag);
		s->nprev = 0;
	}
	while (h < n && h < s->nprev && cidr_equal(&v[h], &s->prev[h]))
		h++;
	while (t < n - h && t < s->nprev - h &&
	       cidr_equal(&v[n - 1 - t], &s->prev[s->nprev - 1 - t]))
		t++;
	for (size_t i = h; i < s->nprev - t; i++)
		cidr_bag_del(&s->bag, &s->prev[i]);
	for (size_t i = h; r == 0 && i < n - t; i++)
		r = cidr_bag_add(&s->bag, &v[i]);
	if (r == 0 && n > s->prevcap) {
		if ((p = realloc(s->prev, n * sizeof(*p)))) {
			s->prev = p;
			s->prevcap = n;
		} else {
			r = -ENOMEM;
		}
	}
	s->bag_ok = r == 0;
	if (r == 0 && n)
		memcpy(s->prev, v, n * sizeof(*v));
	s->nprev = r == 0 ? n : 0;
	return r;
}

int merge_finish(struct merge *mg)
{
	struct masq_config *cfg = mg->m->cfg;
	struct merge_scratch own = { 0 }, *s = mg->scratch ? mg->scratch : &own;
	int r = 0;

	s->last_n = cfg->ncidrs;
	/* No CIDR named twice (kept between loads: O(changed)): the fold would
	 * change nothing, and its hash lookups are most of a 100,000-CIDR
	 * merge. Not at a first merge: a one-shot load (masqd --once, masqctl,
	 * explain) would build the multiset for nothing. */
	if (!mg->scratch || s->merges++ == 0 || bag_update(s, cfg->cidrs, cfg->ncidrs) < 0 ||
	    s->bag.ndup)
		r = fold(mg->m, s, cfg->cidrs, mg->m->origins, cfg->pos, &cfg->ncidrs);
	mg->m->norigins = cfg->ncidrs;
	if (r == 0)
		r = fold(mg->m, s, cfg->masq_cidrs, mg->m->masq_origins, cfg->masq_pos,
			 &cfg->nmasq);
	mg->m->nmasq_origins = cfg->nmasq;
	merge_scratch_free(&own);
	return r;
}

/* The file of the first origin of a list ("a, b" gives "a"; "a:LINE" gives
 * "a" when the origins carry lines). */
static void first_origin(const struct masq_merged *m, const char *list, unsigned line, char *buf,
			 size_t size)
{
	const char *comma = strstr(list, ", ");
	size_t n = comma ? (size_t)(comma - list) : strlen(list);
	char suffix[16];
	size_t k =
		m->origin_lines && line ? (size_t)snprintf(suffix, sizeof(suffix), ":%u", line) : 0;

	if (k && n > k && strncmp(list + n - k, suffix, k) == 0)
		n -= k;
	snprintf(buf, size, "%.*s", (int)n, list);
}

/* Each file was checked alone; the union can still hold a masqueradeCIDRs
 * prefix that another source (a file of the directory, an EgressNATPolicy,
 * the link-local range once the flags are merged) makes non-masquerade.
 * That is refused where masqueradeCIDRs has it, and the whole load with it:
 * the kernel keeps the last good rules. */
int merge_conflicts(const struct masq_opts *opts, const struct masq_merged *m, struct diags *d)
{
	const struct masq_config *cfg = m->cfg;
	size_t *with = malloc((cfg->nmasq ? cfg->nmasq : 1) * sizeof(*with));
	int r = with ? cfg_conflicts(cfg, opts, true, with) : -ENOMEM;

	for (size_t j = 0; r > 0 && j < cfg->nmasq; j++) {
		char canon[CIDR_STRLEN], file[DIAG_FILE_LEN];

		if (with[j] == SIZE_MAX)
			continue;
		cidr_format(&cfg->masq_cidrs[j], canon);
		first_origin(m, m->masq_origins[j], cfg->masq_pos[j].line, file, sizeof(file));
		if (with[j] == CFG_LINK_LOCAL)
			diag_add(d, DIAG_ERROR, file, cfg->masq_pos[j].line, cfg->masq_pos[j].col,
				 "%s in masqueradeCIDRs is the link-local range; set %s: true to "
				 "masquerade it",
				 canon,
				 cfg->masq_cidrs[j].family == AF_INET6 ? "masqLinkLocalIPv6"
								       : "masqLinkLocal");
		else
			diag_add(
				d, DIAG_ERROR, file, cfg->masq_pos[j].line, cfg->masq_pos[j].col,
				"%s is in masqueradeCIDRs here and a non-masquerade prefix from %s; "
				"the longest prefix decides, so keep it in one list",
				canon, m->origins[with[j]]);
	}
	free(with);
	return r < 0 ? r : r > 0 ? -EINVAL : 0;
}
