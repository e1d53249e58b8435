/* A config from what a document said: each CIDR checked (aligned, of an
 * enabled family), duplicates dropped with a warning, cidrLimit or the
 * per-file limit over both lists, upstream's defaults, and no prefix in both
 * lists. Every problem is located at FILE:LINE:COL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/written.h"

/* Turn one written CIDR into *ret, or report why not; 1 when it is one. */
static int check_cidr(const struct written *w, const struct item *it, struct cidr *ret)
{
	char aligned[CIDR_STRLEN], canon[CIDR_STRLEN];
	struct cidr c;
	int r = cidr_parse(it->text, &c, aligned);

	if (r == -EDOM) {
		diag_add(w->d, DIAG_ERROR, w->name, it->line, it->col,
			 "CIDR \"%s\" has host bits set; the aligned form is %s", it->text,
			 aligned);
		return 0;
	}
	if (r < 0) {
		diag_add(w->d, DIAG_ERROR, w->name, it->line, it->col, "invalid CIDR \"%s\"",
			 it->text);
		return 0;
	}
	if (c.family == AF_INET6 && !w->opts->enable_ipv6) {
		cidr_format(&c, canon); /* only for the message: formatting every CIDR costs */
		diag_add(w->d, DIAG_ERROR, w->name, it->line, it->col,
			 "IPv6 CIDR %s needs the --enable-ipv6 flag", canon);
		return 0;
	}
	*ret = c;
	return 1;
}

/* Drop repeated CIDRs of one list, keeping the first of each in input order
 * (item_of follows), with a warning at each repeat; found with a hash
 * table, in O(n). */
static int dedup(const struct written *w, const struct items *l, struct cidr *c, size_t *n,
		 size_t *item_of)
{
	size_t *first = malloc((*n ? *n : 1) * sizeof(*first)), out = 0;

	if (!first || cidr_first_equal(c, *n, first) < 0) {
		free(first);
		return -ENOMEM;
	}
	for (size_t i = 0; i < *n; i++) {
		if (first[i] != i) {
			const struct item *it = &l->v[item_of[i]];
			char canon[CIDR_STRLEN];

			cidr_format(&c[i], canon);
			diag_add(w->d, DIAG_WARNING, w->name, it->line, it->col,
				 "duplicate CIDR %s ignored", canon);
			continue;
		}
		item_of[out] = item_of[i];
		c[out++] = c[i];
	}
	*n = out;
	free(first);
	return 0;
}

/* One list checked and deduplicated into *ret (the config owns it even on
 * failure); (*ret_item)[i] is the written entry of (*ret)[i]. */
static int build_list(const struct written *w, const struct items *l, struct cidr **ret,
		      size_t *ret_n, size_t **ret_item)
{
	size_t *item_of = calloc(l->n ? l->n : 1, sizeof(*item_of)), n = 0;
	struct cidr *c = calloc(l->n ? l->n : 1, sizeof(*c));
	int r;

	*ret = c;
	*ret_item = item_of;
	if (!c || !item_of)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		item_of[n] = i;
		n += (size_t)check_cidr(w, &l->v[i], &c[n]);
	}
	r = dedup(w, l, c, &n, item_of);
	*ret_n = n;
	return r;
}

/* Where the limit error goes: the masqueradeCIDRs key when it adds to the
 * count, else the key named. */
static void limit_error(const struct written *w, enum key_id at, const char *msg)
{
	if (w->list[LIST_MASQ].n && w->seen_line[KEY_MASQ] && !w->seen_line[at])
		at = KEY_MASQ;
	diag_add(w->d, DIAG_ERROR, w->name, w->seen_line[at], w->key_col[at], "%s", msg);
}

/* Upstream fills in its defaults before it reads the file and then checks
 * the count against cidrLimit, so "cidrLimit: 2" without nonMasqueradeCIDRs
 * is refused: the 3 (or 11) defaults exceed it. masqueradeCIDRs count too. */
static int defaults_within_limit(const struct written *w, struct masq_config *cfg)
{
	int r = cfg_set_defaults(w->opts, cfg);
	size_t masq = w->list[LIST_MASQ].n;
	char msg[DIAG_MSG_LEN], with[64] = "";

	if (r < 0 || cfg->ncidrs + masq <= cfg->cidr_limit)
		return r;
	if (masq)
		snprintf(with, sizeof(with), " and the %zu masqueradeCIDRs together", masq);
	snprintf(msg, sizeof(msg),
		 "cidrLimit %u is below the %zu default nonMasqueradeCIDRs (%s)%s; list "
		 "nonMasqueradeCIDRs or raise cidrLimit",
		 cfg->cidr_limit, cfg->ncidrs,
		 w->opts->all_reserved ? "--nomasq-all-reserved-ranges" : "RFC 1918", with);
	limit_error(w, KEY_LIMIT, msg);
	return 0;
}

/* cidrLimit, or the per-file limit, counts the entries of both lists. */
static void check_limit(const struct written *w, const struct masq_config *cfg)
{
	size_t keep = w->list[LIST_KEEP].n, masq = w->list[LIST_MASQ].n;
	const char *what = w->member ? "per-file limit (--max-cidrs-per-file)" : "cidrLimit";
	char msg[DIAG_MSG_LEN];

	if (keep + masq <= cfg->cidr_limit)
		return;
	if (masq)
		snprintf(msg, sizeof(msg),
			 "nonMasqueradeCIDRs and masqueradeCIDRs have %zu entries together, over "
			 "the %s of %u",
			 keep + masq, what, cfg->cidr_limit);
	else
		snprintf(msg, sizeof(msg), "nonMasqueradeCIDRs has %zu entries, over the %s of %u",
			 keep, what, cfg->cidr_limit);
	limit_error(w, masq ? KEY_MASQ : KEY_CIDRS, msg);
}

/* Where each CIDR of a list was written, for errors found after a merge
 * and for masqctl explain. */
static int note_positions(const struct items *l, const size_t *item_of, size_t n,
			  struct cidr_pos **ret)
{
	*ret = calloc(n ? n : 1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (size_t j = 0; j < n; j++) {
		const struct item *it = &l->v[item_of[j]];
		(*ret)[j] = (struct cidr_pos){ .line = it->line, .col = it->col };
	}
	return 0;
}

/* A prefix in both lists leaves the longest match nothing to decide: it is
 * refused where masqueradeCIDRs has it, naming the other. In a directory
 * the link-local flags are merged first, so sources.c checks those. */
static int check_conflicts(const struct written *w, const struct masq_config *cfg,
			   const size_t *keep_item, bool defaults)
{
	size_t *with = malloc((cfg->nmasq ? cfg->nmasq : 1) * sizeof(*with));
	int r = with ? cfg_conflicts(cfg, w->opts, !w->member, with) : -ENOMEM;

	for (size_t j = 0; r > 0 && j < cfg->nmasq; j++) {
		const struct cidr_pos *at = &cfg->masq_pos[j];
		char canon[CIDR_STRLEN];

		if (with[j] == SIZE_MAX)
			continue;
		cidr_format(&cfg->masq_cidrs[j], canon);
		if (with[j] == CFG_LINK_LOCAL)
			diag_add(w->d, DIAG_ERROR, w->name, at->line, at->col,
				 "%s in masqueradeCIDRs is the link-local range; set %s: true to "
				 "masquerade it",
				 canon,
				 cfg->masq_cidrs[j].family == AF_INET6 ? "masqLinkLocalIPv6"
								       : "masqLinkLocal");
		else if (defaults)
			diag_add(w->d, DIAG_ERROR, w->name, at->line, at->col,
				 "%s is in masqueradeCIDRs and in the default nonMasqueradeCIDRs; "
				 "list nonMasqueradeCIDRs without it",
				 canon);
		else
			diag_add(w->d, DIAG_ERROR, w->name, at->line, at->col,
				 "%s is in both masqueradeCIDRs and nonMasqueradeCIDRs (line %u); "
				 "the longest prefix decides, so keep it in one list",
				 canon, w->list[LIST_KEEP].v[keep_item[with[j]]].line);
	}
	free(with);
	return r < 0 ? r : 0;
}

int written_build(const struct written *w, struct masq_config *cfg)
{
	bool defaults = !w->seen_line[KEY_CIDRS] && !w->member;
	size_t *keep_item = NULL, *masq_item = NULL;
	int r;

	cfg->cidr_limit = (unsigned)w->limit;
	cfg->resync_ns = w->resync_ns;
	cfg->masq_link_local = w->ll;
	cfg->masq_link_local6 = w->ll6;
	r = build_list(w, &w->list[LIST_MASQ], &cfg->masq_cidrs, &cfg->nmasq, &masq_item);
	if (r == 0 && defaults) {
		r = defaults_within_limit(w, cfg);
	} else if (r == 0) {
		check_limit(w, cfg);
		r = build_list(w, &w->list[LIST_KEEP], &cfg->cidrs, &cfg->ncidrs, &keep_item);
	}
	if (r == 0)
		r = note_positions(&w->list[LIST_MASQ], masq_item, cfg->nmasq, &cfg->masq_pos);
	if (r == 0 && keep_item)
		r = note_positions(&w->list[LIST_KEEP], keep_item, cfg->ncidrs, &cfg->pos);
	if (r == 0)
		r = check_conflicts(w, cfg, keep_item, defaults);
	free(keep_item);
	free(masq_item);
	return r;
}
