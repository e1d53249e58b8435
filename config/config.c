/* The ip-masq-agent config parser: upstream's keys and type rules over the
 * document reader's events, with FILE:LINE:COL; what the keys say is then
 * checked and built into a config by config/build.c. */
#include "config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/doc.h"
#include "config/duration.h"
#include "config/written.h"

struct parser {
	struct doc_reader *rd;
	yaml_event_t ev;
	bool have_ev;
	unsigned depth;
	struct written w; /* what the document says */
};

#define LINE(m) ((unsigned)(m).line + 1)
#define COL(m) ((unsigned)(m).column + 1)

static void __attribute__((format(printf, 3, 4)))
perr(struct parser *p, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[DIAG_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(p->w.d, DIAG_ERROR, p->w.name, m ? LINE(*m) : 0, m ? COL(*m) : 0, "%s", msg);
}

/* Advance to the next event. Aliases and deep nesting stop the parse:
 * aliases could stand for huge copies, and libyaml slows quadratically
 * with flow depth, so the cap is checked as events arrive. */
static int next_event(struct parser *p)
{
	if (p->have_ev)
		yaml_event_delete(&p->ev);
	p->have_ev = false;
	if (doc_reader_next(p->rd, &p->ev) < 0)
		return -EINVAL; /* reported by the reader */
	p->have_ev = true;
	switch (p->ev.type) {
	case YAML_ALIAS_EVENT:
		perr(p, &p->ev.start_mark, "YAML aliases are not supported in this config");
		return -EINVAL;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (++p->depth > MASQ_DEPTH_MAX) {
			perr(p, &p->ev.start_mark, "nesting deeper than %d levels", MASQ_DEPTH_MAX);
			return -EINVAL;
		}
		break;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		p->depth--;
		break;
	default:
		break;
	}
	return 0;
}

/* Consume the rest of the node whose first event is current. */
static int skip_node(struct parser *p)
{
	unsigned depth = p->depth;
	int r;

	if (p->ev.type != YAML_MAPPING_START_EVENT && p->ev.type != YAML_SEQUENCE_START_EVENT)
		return 0;
	while (p->depth >= depth) {
		r = next_event(p);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool scalar_is_plain(const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;

	if (tag && strcmp(tag, YAML_STR_TAG) == 0)
		return false;
	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *scalar_text(const yaml_event_t *ev)
{
	return (const char *)ev->data.scalar.value;
}

static bool word_in(const char *s, const char *const *list)
{
	for (; *list; list++) {
		if (strcmp(s, *list) == 0)
			return true;
	}
	return false;
}

static bool plain_is_null(const char *s)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	return word_in(s, nulls);
}

/* YAML 1.1 booleans as go-yaml resolves them (upstream reads YAML that way). */
static int plain_bool(const char *s)
{
	static const char *const yes[] = { "y",	   "Y",	   "yes", "Yes", "YES", "true",
					   "True", "TRUE", "on",  "On",	 "ON",	NULL };
	static const char *const no[] = { "n",	   "N",	    "no",  "No",  "NO",	 "false",
					  "False", "FALSE", "off", "Off", "OFF", NULL };
	return word_in(s, yes) ? 1 : word_in(s, no) ? 0 : -1;
}

static bool plain_is_number(const char *s)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	(void)strtod(s, &end);
	return *end == '\0' || strcmp(s, ".inf") == 0 || strcmp(s, ".nan") == 0;
}

static int parse_bool_value(struct parser *p, const char *key, bool *ret)
{
	const yaml_event_t *ev = &p->ev;
	int b;

	if (ev->type != YAML_SCALAR_EVENT) {
		perr(p, &ev->start_mark, "%s must be true or false", key);
		return skip_node(p);
	}
	b = scalar_is_plain(ev) ? plain_bool(scalar_text(ev)) : -1;
	if (b < 0 && scalar_is_plain(ev) && plain_is_null(scalar_text(ev)))
		return 0; /* null keeps the default, as encoding/json does upstream */
	if (b < 0) {
		perr(p, &ev->start_mark, "%s must be true or false (unquoted), got \"%s\"", key,
		     scalar_text(ev));
		return 0;
	}
	*ret = b;
	return 0;
}

static int parse_limit(struct parser *p)
{
	const yaml_event_t *ev = &p->ev;
	const char *s;
	char *end;
	long long v;

	if (ev->type != YAML_SCALAR_EVENT || !scalar_is_plain(ev)) {
		perr(p, &ev->start_mark, "cidrLimit must be an unquoted integer");
		return skip_node(p);
	}
	s = scalar_text(ev);
	if (plain_is_null(s))
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end || errno) {
		perr(p, &ev->start_mark, "cidrLimit must be an integer, got \"%s\"", s);
		return 0;
	}
	if (v < 0 || v > MASQ_CIDR_LIMIT_MAX) {
		perr(p, &ev->start_mark, "cidrLimit %lld is out of range 0..%d", v,
		     MASQ_CIDR_LIMIT_MAX);
		return 0;
	}
	p->w.limit = v;
	return 0;
}

static int parse_resync(struct parser *p)
{
	const yaml_event_t *ev = &p->ev;
	const char *s;
	int64_t ns;
	int r;

	if (ev->type != YAML_SCALAR_EVENT) {
		perr(p, &ev->start_mark,
		     "resyncInterval must be a duration string such as \"60s\"");
		return skip_node(p);
	}
	s = scalar_text(ev);
	/* Upstream converts YAML to JSON and wants a JSON string: 60 is a number. */
	if (scalar_is_plain(ev) && (plain_is_null(s) || plain_is_number(s) || plain_bool(s) >= 0)) {
		perr(p, &ev->start_mark,
		     "resyncInterval must be a duration string such as \"60s\", got %s", s);
		return 0;
	}
	r = duration_parse(s, &ns);
	if (r < 0) {
		perr(p, &ev->start_mark, "resyncInterval \"%s\" is not a Go duration%s", s,
		     r == -ERANGE ? " (out of range)" : " (units: ns, us, ms, s, m, h)");
		return 0;
	}
	if (ns < MASQ_MIN_RESYNC_NS) {
		perr(p, &ev->start_mark, "resyncInterval \"%s\" is under the 1s minimum", s);
		return 0;
	}
	p->w.resync_ns = ns;
	return 0;
}

static int add_item(struct items *l, const yaml_event_t *ev)
{
	struct item *n;

	if ((l->n & (l->n - 1)) == 0) { /* grow at powers of two */
		n = realloc(l->v, (l->n ? l->n * 2 : 8) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->v = n;
	}
	n = &l->v[l->n];
	n->text = strdup(scalar_text(ev));
	if (!n->text)
		return -ENOMEM;
	n->line = LINE(ev->start_mark);
	n->col = COL(ev->start_mark);
	l->n++;
	return 0;
}

static int parse_cidrs(struct parser *p, struct items *l, const char *key)
{
	int r;

	if (p->ev.type == YAML_SCALAR_EVENT && scalar_is_plain(&p->ev) &&
	    plain_is_null(scalar_text(&p->ev)))
		return 0; /* null is an empty list, as encoding/json sets a nil slice */
	if (p->ev.type != YAML_SEQUENCE_START_EVENT) {
		perr(p, &p->ev.start_mark, "%s must be a list of CIDR strings", key);
		return skip_node(p);
	}
	for (;;) {
		r = next_event(p);
		if (r < 0)
			return r;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (p->ev.type != YAML_SCALAR_EVENT) {
			perr(p, &p->ev.start_mark, "each %s entry must be a string", key);
			r = skip_node(p);
		} else {
			r = add_item(l, &p->ev);
		}
		if (r < 0)
			return r;
	}
}

static const char *const key_names[KEY_COUNT] = {
	[KEY_CIDRS] = "nonMasqueradeCIDRs", [KEY_LIMIT] = "cidrLimit",
	[KEY_LL] = "masqLinkLocal",	    [KEY_LL6] = "masqLinkLocalIPv6",
	[KEY_RESYNC] = "resyncInterval",    [KEY_MASQ] = "masqueradeCIDRs",
};

static int parse_value(struct parser *p, enum key_id k)
{
	switch (k) {
	case KEY_CIDRS:
		return parse_cidrs(p, &p->w.list[LIST_KEEP], key_names[k]);
	case KEY_MASQ:
		return parse_cidrs(p, &p->w.list[LIST_MASQ], key_names[k]);
	case KEY_LIMIT:
		return parse_limit(p);
	case KEY_LL:
		return parse_bool_value(p, key_names[k], &p->w.ll);
	case KEY_LL6:
		return parse_bool_value(p, key_names[k], &p->w.ll6);
	default:
		return parse_resync(p);
	}
}

static int lookup_key(const char *s)
{
	for (int k = 0; k < KEY_COUNT; k++) {
		if (strcmp(s, key_names[k]) == 0)
			return k;
	}
	return -1;
}

/* One "key: value" pair; the key event is current. */
static int parse_pair(struct parser *p)
{
	yaml_mark_t km = p->ev.start_mark;
	char key[64];
	int k, r;

	if (p->ev.type != YAML_SCALAR_EVENT) {
		perr(p, &km, "keys must be plain strings");
		r = skip_node(p);
		return r < 0 ? r : next_event(p) < 0 ? -EINVAL : skip_node(p);
	}
	snprintf(key, sizeof(key), "%s", scalar_text(&p->ev));
	k = lookup_key(key);
	r = next_event(p);
	if (r < 0)
		return r;
	if (k < 0) {
		diag_add(p->w.d, DIAG_WARNING, p->w.name, LINE(km), COL(km),
			 "unknown key \"%s\" ignored", key);
		return skip_node(p);
	}
	if (p->w.seen_line[k]) {
		perr(p, &km, "duplicate key \"%s\" (first on line %u)", key, p->w.seen_line[k]);
		return skip_node(p);
	}
	if (p->w.member && (k == KEY_LIMIT || k == KEY_RESYNC)) {
		diag_add(p->w.d, DIAG_WARNING, p->w.name, LINE(km), COL(km),
			 "%s is ignored in a config directory (as ip-masq-agent-v2 does)%s", key,
			 k == KEY_RESYNC ? "; use --resync-interval"
					 : "; see --max-cidrs-per-file");
		p->w.seen_line[k] = LINE(km);
		return skip_node(p);
	}
	p->w.seen_line[k] = LINE(km);
	p->w.key_col[k] = COL(km);
	return parse_value(p, (enum key_id)k);
}

static int parse_document(struct parser *p)
{
	int r;

	if (p->ev.type == YAML_SCALAR_EVENT && scalar_is_plain(&p->ev) &&
	    plain_is_null(scalar_text(&p->ev)))
		return 0; /* an empty document: every key keeps its default */
	if (p->ev.type != YAML_MAPPING_START_EVENT) {
		perr(p, &p->ev.start_mark, "the config must be a mapping of keys to values");
		return skip_node(p);
	}
	for (;;) {
		r = next_event(p);
		if (r < 0)
			return r;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		r = parse_pair(p);
		if (r < 0)
			return r;
	}
}

/* Walk the stream: nothing, or exactly one document. */
static int parse_stream(struct parser *p)
{
	int r;

	if ((r = next_event(p)) < 0 || (r = next_event(p)) < 0) /* STREAM_START, then next */
		return r;
	if (p->ev.type == YAML_STREAM_END_EVENT)
		return 0; /* empty file or only comments */
	if ((r = next_event(p)) < 0 || (r = parse_document(p)) < 0)
		return r;
	if ((r = next_event(p)) < 0 || (r = next_event(p)) < 0) /* DOCUMENT_END, then next */
		return r;
	if (p->ev.type != YAML_STREAM_END_EVENT) {
		perr(p, &p->ev.start_mark, "only one YAML document is allowed");
		return -EINVAL;
	}
	return 0;
}

static void parser_done(struct parser *p)
{
	if (p->have_ev)
		yaml_event_delete(&p->ev);
	doc_reader_free(p->rd);
	for (int l = LIST_KEEP; l <= LIST_MASQ; l++) {
		for (size_t i = 0; i < p->w.list[l].n; i++)
			free(p->w.list[l].v[i].text);
		free(p->w.list[l].v);
	}
}

static int parse(const char *name, const char *buf, size_t len, const struct masq_opts *opts,
		 long long limit, bool member, struct masq_config **ret, struct diags *d)
{
	struct parser p = { .w = { .name = name,
				   .d = d,
				   .opts = opts,
				   .limit = limit,
				   .resync_ns = MASQ_DEFAULT_RESYNC_NS,
				   .member = member } };
	struct masq_config *cfg;
	size_t errors = d->errors, n0 = d->n;
	int r;

	r = doc_reader_new(name, buf, len, d, &p.rd);
	if (r < 0) {
		diags_sort(d, n0);
		return r;
	}
	cfg = cfg_alloc();
	r = cfg ? parse_stream(&p) : -ENOMEM;
	if (r >= 0)
		r = written_build(&p.w, cfg);
	parser_done(&p);
	diags_sort(d, n0);
	if (r >= 0 && d->errors > errors)
		r = -EINVAL;
	if (r < 0) {
		cfg_free(cfg);
		return r;
	}
	cfg->file_present = true;
	*ret = cfg;
	return 0;
}

int cfg_parse_buf(const char *name, const char *buf, size_t len, const struct masq_opts *opts,
		  struct masq_config **ret, struct diags *d)
{
	return parse(name, buf, len, opts, MASQ_DEFAULT_CIDR_LIMIT, false, ret, d);
}

int cfg_parse_member(const char *name, const char *buf, size_t len, const struct masq_opts *opts,
		     unsigned max_cidrs, struct masq_config **ret, struct diags *d)
{
	return parse(name, buf, len, opts, max_cidrs, true, ret, d);
}
