/* The last good version of each config file, and the directory listing
 * that finds them: see config/slots.h. */
#include "config/slots.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/pstore.h"

void parsed_clear(struct parsed *p)
{
	free(p->bytes);
	free(p->said);
	memset(p, 0, sizeof(*p));
}

/* Keep buf (taken) and what the parse added to d since n0, unless d
 * dropped some of it (then the next load parses again). */
void parsed_keep(struct parsed *p, char *buf, size_t len, const struct diags *d, size_t n0,
		 size_t dropped0)
{
	size_t n = d->n - n0;

	parsed_clear(p);
	if (d->dropped != dropped0 || (n && !(p->said = malloc(n * sizeof(*p->said))))) {
		free(buf);
		return;
	}
	if (n)
		memcpy(p->said, d->items + n0, n * sizeof(*p->said));
	p->nsaid = n;
	p->bytes = buf;
	p->len = len;
}

/* buf is what the last good parse read: report what it said again. */
bool parsed_same(const struct parsed *p, const char *buf, size_t len, struct diags *d)
{
	if (!p->bytes || p->len != len || memcmp(p->bytes, buf, len) != 0)
		return false;
	for (size_t i = 0; i < p->nsaid; i++) {
		const struct diag *g = &p->said[i];
		diag_add(d, g->level, g->file, g->line, g->col, "%s", g->msg);
	}
	return true;
}

void slot_clear(struct slot *sl)
{
	parsed_clear(&sl->last);
	free(sl->path);
	cfg_free(sl->cfg);
	pstore_free(sl->policies);
	free(sl->dups);
	memset(sl, 0, sizeof(*sl));
}

void slots_free(struct slots *s)
{
	for (size_t i = 0; i < s->n; i++)
		slot_clear(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* The slot of path, found by binary search (slots are kept in path order),
 * or a new one. Pointers to slots last until the next slot_get. */
struct slot *slot_get(struct slots *s, const char *path)
{
	size_t lo = 0, hi = s->n;
	struct slot *v;
	char *copy;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid].path, path);
		if (c == 0)
			return &s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!(copy = strdup(path)) || !(v = realloc(s->v, (s->n + 1) * sizeof(*v)))) {
		free(copy);
		return NULL;
	}
	s->v = v;
	memmove(&v[lo + 1], &v[lo], (s->n - lo) * sizeof(*v));
	memset(&v[lo], 0, sizeof(*v));
	v[lo].path = copy;
	s->n++;
	return &v[lo];
}

/* Forget the files that were not seen in this load. */
void slots_sweep(struct slots *s)
{
	size_t out = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].seen)
			s->v[out++] = s->v[i];
		else
			slot_clear(&s->v[i]);
	}
	s->n = out;
	for (size_t i = 0; i < s->n; i++)
		s->v[i].seen = false;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir whose names pass want(), sorted; hidden ones never. */
int slots_list_dir(const char *dir, bool (*want)(const char *), char ***ret, size_t *ret_n,
		   struct diags *d)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(dp))) {
		char **nn;
		if (e->d_name[0] == '.' || !want(e->d_name))
			continue; /* ..data, ..2026_..., dot files */
		if (n == SOURCES_MAX_FILES) {
			diag_add(d, DIAG_ERROR, dir, 0, 0,
				 "more than %d files: the rest are ignored", SOURCES_MAX_FILES);
			break;
		}
		nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = strdup(e->d_name))) {
			free(nn ? nn : names);
			closedir(dp);
			return -ENOMEM;
		}
		names = nn;
		n++;
	}
	closedir(dp);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*ret = names;
	*ret_n = n;
	return 0;
}

void slots_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
