/* Every config source read, each keeping its last good version, and merged. */
#include "config/sources.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/merge.h"
#include "config/policy.h"
#include "config/pstore.h"
#include "config/slots.h"

const char *const source_names[SOURCE_COUNT] = { "file", "egress-nat-policy-dir", "configmap-api",
						 "egress-nat-policy-api" };

struct masq_sources {
	struct slots files, policies;
	struct merge_scratch scratch; /* the merge's tables, kept between loads */
	uint64_t parses; /* files parsed, not skipped as unchanged */
};

struct masq_sources *sources_new(void)
{
	return calloc(1, sizeof(struct masq_sources));
}

uint64_t sources_parses(const struct masq_sources *s)
{
	return s->parses;
}

void sources_free(struct masq_sources *s)
{
	if (!s)
		return;
	slots_free(&s->files);
	slots_free(&s->policies);
	merge_scratch_free(&s->scratch);
	free(s);
}

static bool ip_masq_file(const char *name)
{
	return strncmp(name, "ip-masq", 7) == 0;
}

static bool any_file(const char *name)
{
	return true;
}

static void note_state(struct source_state *st, const struct diags *d, size_t errors_before)
{
	st->used = true;
	if (d->errors == errors_before)
		return;
	st->ok = false;
	for (size_t i = 0; i < d->n && !st->error[0]; i++) {
		if (d->items[i].level == DIAG_ERROR)
			diag_format(&d->items[i], st->error, sizeof(st->error));
	}
}

static int add_defaults(const struct sources_settings *set, struct merge *mg);

/* Who gave a file's CIDR: the file, or "FILE:LINE" when asked for lines. */
static const char *file_origin(const struct masq_merged *m, const char *path,
			       const struct cidr_pos *pos, char *buf, size_t size)
{
	if (!m->origin_lines || !pos || !pos->line)
		return path;
	snprintf(buf, size, "%s:%u", path, pos->line);
	return buf;
}

/* One ip-masq file: parse it, or fall back to its last good version. A bad
 * single config file with none falls back to the defaults, as upstream
 * starts from them; a bad file of a directory then contributes nothing. */
static int load_member(struct masq_sources *s, const struct sources_settings *set, const char *path,
		       const char *text, size_t textlen, bool member, struct merge *mg,
		       bool *ret_failed, struct diags *d)
{
	struct slot *sl = slot_get(&s->files, path);
	struct masq_config *cfg = NULL;
	size_t len = textlen;
	char *buf = NULL, where[PATH_MAX + 16];
	int r = 0;

	if (!sl)
		return -ENOMEM;
	sl->seen = true;
	if (text && textlen > MASQ_FILE_MAX) {
		diag_add(d, DIAG_ERROR, path, 0, 0, "%zu bytes: larger than %u", textlen,
			 MASQ_FILE_MAX);
		r = -EFBIG;
	} else if (text) {
		buf = strndup(text, textlen);
		r = buf ? 0 : -ENOMEM;
	} else {
		r = cfg_read_file(path, &buf, &len, d);
	}
	if (r == 0 && sl->have && parsed_same(&sl->last, buf, len, d)) {
		free(buf); /* unchanged: its last good parse stands */
	} else if (r == 0) {
		size_t n0 = d->n, dropped0 = d->dropped;
		s->parses++;
		r = member ? cfg_parse_member(path, buf, len, &set->opts, set->max_cidrs_per_file,
					      &cfg, d)
			   : cfg_parse_buf(path, buf, len, &set->opts, &cfg, d);
		if (r == 0)
			parsed_keep(&sl->last, buf, len, d, n0, dropped0);
		else {
			parsed_clear(&sl->last);
			free(buf);
		}
	}
	if (r == 0) {
		if (cfg) {
			cfg_free(sl->cfg);
			sl->cfg = cfg;
		}
		sl->have = true;
	} else {
		*ret_failed = true;
		if (!sl->have)
			mg->m->incomplete = true;
	}
	if (!sl->have)
		return r == -ENOMEM ? r : member ? 0 : add_defaults(set, mg);
	mg->m->cfg->masq_link_local |= sl->cfg->masq_link_local;
	mg->m->cfg->masq_link_local6 |= sl->cfg->masq_link_local6;
	if (!member) {
		mg->m->cfg->resync_ns = sl->cfg->resync_ns;
		mg->m->cfg->cidr_limit = sl->cfg->cidr_limit;
	}
	if (!mg->m->origin_lines) /* one origin for all: added at once */
		r = merge_add_all(mg, sl->cfg->cidrs, sl->cfg->pos, sl->cfg->ncidrs, path);
	for (size_t i = 0; mg->m->origin_lines && r != -ENOMEM && i < sl->cfg->ncidrs; i++) {
		const struct cidr_pos *pos = sl->cfg->pos ? &sl->cfg->pos[i] : NULL; /* defaults */
		r = merge_add(mg, &sl->cfg->cidrs[i], pos,
			      file_origin(mg->m, path, pos, where, sizeof(where)));
	}
	for (size_t i = 0; r != -ENOMEM && i < sl->cfg->nmasq; i++)
		r = merge_add_masq(
			mg, &sl->cfg->masq_cidrs[i], &sl->cfg->masq_pos[i],
			file_origin(mg->m, path, &sl->cfg->masq_pos[i], where, sizeof(where)));
	return r == -ENOMEM ? r : 0;
}

/* The ip-masq sources; returns how many files there were. */
static int load_files(struct masq_sources *s, const struct sources_settings *set, struct merge *mg,
		      bool *failed, struct diags *d)
{
	struct stat st;
	char **names, path[PATH_MAX];
	size_t n;
	int r;

	if (set->api_config_name) {
		if (!set->api_config)
			return 0; /* the API says there is none: as a missing file */
		r = load_member(s, set, set->api_config_name, set->api_config, set->api_config_len,
				false, mg, failed, d);
		return r < 0 ? r : 1;
	}
	if (stat(set->config, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (access(set->config, F_OK) < 0 && errno == ENOENT)
			return 0; /* no file: upstream's defaults, unless policies say otherwise */
		r = load_member(s, set, set->config, NULL, 0, false, mg, failed, d);
		return r < 0 ? r : 1;
	}
	mg->m->is_dir = true;
	mg->m->cfg->resync_ns = set->dir_resync_ns;
	mg->m->cfg->cidr_limit = set->max_cidrs_per_file;
	r = slots_list_dir(set->config, ip_masq_file, &names, &n, d);
	for (size_t i = 0; r == 0 && i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", set->config, names[i]);
		r = load_member(s, set, path, NULL, 0, true, mg, failed, d);
	}
	slots_free_names(names, n);
	return r < 0 ? r : (int)n;
}

static int dup_add(struct slot *sl, const struct masq_policy *p)
{
	struct pdup *v = sl->dups;

	if (sl->ndups == sl->dupcap) {
		if (!(v = realloc(v, (sl->dupcap ? 2 * sl->dupcap : 8) * sizeof(*v))))
			return -ENOMEM;
		sl->dups = v;
		sl->dupcap = sl->dupcap ? 2 * sl->dupcap : 8;
	}
	v[sl->ndups] = (struct pdup){ .line = p->line, .at = pstore_policies(sl->policies)->n };
	snprintf(v[sl->ndups++].name, sizeof(v->name), "%s", p->name);
	return 0;
}

/* Read a policy file again: a relist of its store. Its valid policies in
 * order, a name's first definition standing (a later one is kept aside, to
 * be refused), then the last good versions of the rejected ones. A file
 * that cannot be read keeps them all. */
static int refresh_policy_slot(struct slot *sl, const struct sources_settings *set, bool *failed,
			       bool *incomplete, uint64_t *parses, struct diags *d)
{
	struct masq_policy_list fresh = { 0 };
	size_t len = 0;
	char *buf = NULL;
	int r = cfg_read_file(sl->path, &buf, &len, d);
	size_t n0 = d->n, dropped0 = d->dropped;

	sl->seen = true;
	if (r == 0 && sl->have && parsed_same(&sl->last, buf, len, d)) {
		free(buf); /* unchanged: the store stands as it is */
		*failed |= sl->last.rejected;
		return 0;
	}
	if (r == 0) {
		(*parses)++;
		r = policy_parse_buf(sl->path, buf, len, &set->opts, &fresh, d);
	}
	if (r == 0) {
		parsed_keep(&sl->last, buf, len, d, n0, dropped0);
		sl->last.rejected = fresh.nrejected > 0;
	} else {
		parsed_clear(&sl->last);
		free(buf);
	}
	if (r == 0 && !sl->policies && !(sl->policies = pstore_new()))
		r = -ENOMEM;
	if (r < 0) {
		policy_list_clear(&fresh);
		*failed = true;
		*incomplete |= !sl->have;
		return r == -ENOMEM ? r : 0;
	}
	*failed |= fresh.nrejected > 0;
	sl->ndups = 0;
	pstore_relist_begin(sl->policies);
	for (size_t i = 0; r == 0 && i < fresh.n; i++)
		r = pstore_get(sl->policies, fresh.v[i].name)
			    ? dup_add(sl, &fresh.v[i])
			    : pstore_put(sl->policies, &fresh.v[i]);
	for (size_t i = 0; r >= 0 && i < fresh.nrejected; i++)
		r = pstore_reject(sl->policies, fresh.rejected[i]);
	pstore_relist_end(sl->policies);
	policy_list_clear(&fresh);
	sl->have = true;
	return r < 0 ? r : 0;
}

/* A policy (or a second definition: p NULL) claims its name for where, or
 * is refused; returns 1 when it contributed. */
static int merge_one(const char *name, unsigned line, const struct masq_policy *p,
		     const char *where, struct pstore_claims *c, struct merge *mg, bool *failed,
		     struct diags *d)
{
	char origin[POLICY_NAME_MAX + 32];
	const char *other;
	int r = pstore_claim(c, name, where, &other);

	if (r == -EEXIST) {
		diag_add(d, DIAG_ERROR, where, line, 1,
			 "policy %s: also defined in %s; this one is ignored", name, other);
		*failed = true;
		return 0;
	}
	if (r < 0 || !p)
		return r;
	snprintf(origin, sizeof(origin), "EgressNATPolicy/%s", name);
	for (size_t j = 0; r == 0 && j < p->ncidrs; j++)
		r = merge_add(mg, &p->cidrs[j], NULL, origin);
	return r < 0 ? r : 1;
}

/* A file's (or the API's) policies and second definitions in the file's
 * order; returns how many contributed. */
static int merge_policies(const struct masq_policy_list *pl, const struct pdup *dups, size_t ndups,
			  const char *where, struct pstore_claims *c, struct merge *mg,
			  bool *failed, struct diags *d)
{
	size_t k = 0;
	int count = 0, r = 0;

	for (size_t i = 0; r >= 0 && i <= pl->n; i++) {
		for (; r >= 0 && k < ndups && dups[k].at == i; k++)
			r = merge_one(dups[k].name, dups[k].line, NULL, where, c, mg, failed, d);
		if (r >= 0 && i < pl->n)
			r = merge_one(pl->v[i].name, pl->v[i].line, &pl->v[i], where, c, mg, failed,
				      d);
		count += r > 0 ? r : 0;
	}
	return r < 0 ? r : count;
}

static int load_policies(struct masq_sources *s, const struct sources_settings *set,
			 struct merge *mg, bool *failed, struct diags *d)
{
	struct pstore_claims *c = pstore_claims_new();
	char **names = NULL, path[PATH_MAX];
	size_t n = 0;
	int r = c ? 0 : -ENOMEM, total = 0;

	/* the API's first: a file cannot shadow what the cluster says */
	if (r == 0 && set->api_policies)
		total = r =
			merge_policies(set->api_policies, NULL, 0, "apiserver", c, mg, failed, d);
	if (r >= 0 && set->policy_dir && set->policy_dir[0])
		r = slots_list_dir(set->policy_dir, any_file, &names, &n, d);

	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct slot *sl;
		snprintf(path, sizeof(path), "%s/%s", set->policy_dir, names[i]);
		sl = slot_get(&s->policies, path);
		r = sl ? refresh_policy_slot(sl, set, failed, &mg->m->incomplete, &s->parses, d)
		       : -ENOMEM;
		if (r == 0 && sl->have)
			r = merge_policies(pstore_policies(sl->policies), sl->dups, sl->ndups,
					   sl->path, c, mg, failed, d);
		total += r > 0 ? r : 0;
	}
	pstore_claims_free(c);
	slots_free_names(names, n);
	return r < 0 ? r : total;
}

/* Upstream's defaults, named as such. */
static int add_defaults(const struct sources_settings *set, struct merge *mg)
{
	struct masq_config *def;
	int r = cfg_new_defaults(&set->opts, &def);

	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < def->ncidrs; i++)
		r = merge_add(mg, &def->cidrs[i], NULL, "defaults");
	cfg_free(def);
	return r;
}

static void state_init(struct source_state *st)
{
	st->used = false;
	st->ok = true;
	st->error[0] = '\0';
}

int sources_load(struct masq_sources *s, const struct sources_settings *set,
		 struct masq_merged *ret, struct source_state st[SOURCE_COUNT], struct diags *d)
{
	struct merge mg = { .m = ret, .scratch = &s->scratch };
	bool failed = false;
	size_t e0 = d->errors;
	int nfiles, npol = 0, r;

	memset(ret, 0, sizeof(*ret));
	ret->origin_lines = set->origin_lines;
	for (int k = 0; k < SOURCE_COUNT; k++)
		state_init(&st[k]);
	ret->cfg = calloc(1, sizeof(*ret->cfg));
	if (!ret->cfg)
		return -ENOMEM;
	ret->cfg->resync_ns = MASQ_DEFAULT_RESYNC_NS;
	ret->cfg->cidr_limit = MASQ_DEFAULT_CIDR_LIMIT;
	nfiles = r = load_files(s, set, &mg, &failed, d);
	note_state(&st[set->api_config_name ? SOURCE_API_CONFIG : SOURCE_FILE], d, e0);
	if (r >= 0 && ((set->policy_dir && set->policy_dir[0]) || set->api_policies)) {
		size_t e1 = d->errors;
		npol = r = load_policies(s, set, &mg, &failed, d);
		if (set->policy_dir && set->policy_dir[0])
			note_state(&st[SOURCE_POLICY], d, e1);
	}
	/* As on GKE, where the defaults are the editable "default" policy: any
	 * policy or config file stands in for them. */
	if (r >= 0 && nfiles == 0 && npol == 0)
		r = add_defaults(set, &mg);
	if (r >= 0)
		r = merge_finish(&mg);
	if (r >= 0) {
		size_t e2 = d->errors;
		r = merge_conflicts(&set->opts, ret, d);
		note_state(&st[set->api_config_name ? SOURCE_API_CONFIG : SOURCE_FILE], d, e2);
	}
	ret->cfg->file_present = nfiles > 0;
	slots_sweep(&s->files);
	slots_sweep(&s->policies);
	if (r < 0) {
		merged_clear(ret);
		return r;
	}
	return failed ? 1 : 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t digest_file(uint64_t h, const char *path)
{
	struct diags d;
	char *buf = NULL;
	size_t len = 0;

	diags_init(&d);
	h = fnv(h, path, strlen(path) + 1);
	if (cfg_read_file(path, &buf, &len, &d) < 0)
		return fnv(h, "-", 1); /* missing or unreadable: one state */
	h = fnv(h, buf, len);
	free(buf);
	return h;
}

uint64_t sources_config_digest(const struct sources_settings *set)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	struct stat st;
	struct diags d;
	char **names, path[PATH_MAX];
	size_t n;

	if (stat(set->config, &st) < 0 || !S_ISDIR(st.st_mode))
		return digest_file(h, set->config);
	diags_init(&d);
	if (slots_list_dir(set->config, ip_masq_file, &names, &n, &d) < 0)
		return fnv(h, "?", 1);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", set->config, names[i]);
		h = digest_file(h, path);
	}
	slots_free_names(names, n);
	return h;
}
