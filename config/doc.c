/* The document reader: libyaml's events, or the same events made from a
 * JSON document that jansson has read, with positions found by a scanner
 * that walks the (known valid) JSON text alongside the tree. */
#include "config/doc.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the JSON walk is: the text between values is only whitespace and
 * , : { } [ ], so positions can be found without a second parser. */
struct scan {
	const char *base, *p, *end;
	size_t line, col; /* 0-based, columns in characters as libyaml counts them */
};

struct frame {
	json_t *c; /* an object or an array */
	void *iter; /* objects: the next member */
	size_t idx; /* arrays: the next item */
	bool value_next; /* objects: the key was sent, its value comes next */
};

enum phase { PH_STREAM, PH_DOC, PH_ROOT, PH_BODY, PH_DOC_END, PH_STREAM_END, PH_DONE };

struct doc_reader {
	const char *name;
	struct diags *d;
	bool json;
	/* YAML */
	yaml_parser_t yp;
	char json_err[160]; /* why a JSON-looking document was read as YAML */
	/* JSON */
	json_t *root;
	enum phase phase;
	struct frame *stack;
	size_t depth, cap;
	struct scan sc;
};

static void scan_advance(struct scan *s, size_t n)
{
	for (; n && s->p < s->end; n--, s->p++) {
		unsigned char c = (unsigned char)*s->p;

		if (c == '\n' || (c == '\r' && (s->p + 1 == s->end || s->p[1] != '\n'))) {
			s->line++;
			s->col = 0;
		} else if (c != '\r' && (c & 0xc0) != 0x80) { /* not a UTF-8 continuation */
			s->col++;
		}
	}
}

/* Past whitespace and the separators between values. */
static void scan_skip(struct scan *s)
{
	while (s->p < s->end && strchr(" \t\r\n,:", *s->p))
		scan_advance(s, 1);
}

/* Past one string, number or literal; the scan is at its first byte. */
static void scan_token(struct scan *s)
{
	const char *q = s->p;

	if (q < s->end && *q == '"') {
		for (q++; q < s->end && *q != '"'; q++)
			if (*q == '\\')
				q++;
		q++;
	} else {
		while (q < s->end && !strchr(" \t\r\n,:]}", *q))
			q++;
	}
	scan_advance(s, (size_t)(q > s->end ? s->end - s->p : q - s->p));
}

static yaml_mark_t scan_mark(const struct scan *s)
{
	return (yaml_mark_t){ .index = (size_t)(s->p - s->base),
			      .line = s->line,
			      .column = s->col };
}

static int set_marks(yaml_event_t *ev, int ok, yaml_mark_t m)
{
	if (!ok)
		return -ENOMEM;
	ev->start_mark = ev->end_mark = m;
	return 0;
}

/* A string becomes a double-quoted scalar; numbers, true, false and null
 * plain ones with the text as written, as libyaml would give them. */
static int json_scalar(struct doc_reader *r, const char *text, size_t len, bool quoted,
		       yaml_event_t *ev)
{
	yaml_mark_t m;
	const char *start;

	scan_skip(&r->sc);
	m = scan_mark(&r->sc);
	start = r->sc.p;
	scan_token(&r->sc);
	if (!quoted) {
		text = start;
		len = (size_t)(r->sc.p - start);
	}
	return set_marks(ev,
			 yaml_scalar_event_initialize(ev, NULL, NULL, (yaml_char_t *)text, (int)len,
						      !quoted, quoted,
						      quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
							     : YAML_PLAIN_SCALAR_STYLE),
			 m);
}

static int push(struct doc_reader *r, json_t *c)
{
	if (r->depth == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct frame *f = realloc(r->stack, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		r->stack = f;
		r->cap = cap;
	}
	r->stack[r->depth++] = (struct frame){ .c = c, .iter = json_object_iter(c) };
	return 0;
}

/* The first event of value v. */
static int json_value(struct doc_reader *r, json_t *v, yaml_event_t *ev)
{
	yaml_mark_t m;
	int ok;

	if (json_is_string(v))
		return json_scalar(r, json_string_value(v), json_string_length(v), true, ev);
	if (!json_is_object(v) && !json_is_array(v))
		return json_scalar(r, NULL, 0, false, ev);
	scan_skip(&r->sc);
	m = scan_mark(&r->sc);
	scan_advance(&r->sc, 1); /* { or [ */
	if (push(r, v) < 0)
		return -ENOMEM;
	ok = json_is_object(v) ? yaml_mapping_start_event_initialize(ev, NULL, NULL, 1,
								     YAML_FLOW_MAPPING_STYLE)
			       : yaml_sequence_start_event_initialize(ev, NULL, NULL, 1,
								      YAML_FLOW_SEQUENCE_STYLE);
	return set_marks(ev, ok, m);
}

/* The end of the innermost object or array. */
static int json_end(struct doc_reader *r, yaml_event_t *ev)
{
	bool obj = json_is_object(r->stack[r->depth - 1].c);
	yaml_mark_t m;

	scan_skip(&r->sc);
	m = scan_mark(&r->sc);
	scan_advance(&r->sc, 1); /* } or ] */
	if (--r->depth == 0)
		r->phase = PH_DOC_END;
	return set_marks(ev,
			 obj ? yaml_mapping_end_event_initialize(ev)
			     : yaml_sequence_end_event_initialize(ev),
			 m);
}

static int json_body(struct doc_reader *r, yaml_event_t *ev)
{
	struct frame *f = &r->stack[r->depth - 1];
	json_t *v;

	if (json_is_array(f->c)) {
		if (f->idx == json_array_size(f->c))
			return json_end(r, ev);
		return json_value(r, json_array_get(f->c, f->idx++), ev);
	}
	if (!f->iter)
		return json_end(r, ev);
	if (!f->value_next) {
		f->value_next = true;
		return json_scalar(r, json_object_iter_key(f->iter),
				   json_object_iter_key_len(f->iter), true, ev);
	}
	v = json_object_iter_value(f->iter);
	f->value_next = false;
	f->iter = json_object_iter_next(f->c, f->iter);
	return json_value(r, v, ev); /* may push: f is stale after this */
}

static int json_next(struct doc_reader *r, yaml_event_t *ev)
{
	yaml_mark_t m = scan_mark(&r->sc);

	switch (r->phase) {
	case PH_STREAM:
		r->phase = PH_DOC;
		return set_marks(ev, yaml_stream_start_event_initialize(ev, YAML_UTF8_ENCODING), m);
	case PH_DOC:
		r->phase = PH_ROOT;
		return set_marks(ev, yaml_document_start_event_initialize(ev, NULL, NULL, NULL, 1),
				 m);
	case PH_ROOT:
		r->phase = PH_BODY;
		return json_value(r, r->root, ev);
	case PH_BODY:
		return json_body(r, ev);
	case PH_DOC_END:
		r->phase = PH_STREAM_END;
		return set_marks(ev, yaml_document_end_event_initialize(ev, 1), m);
	default:
		r->phase = PH_DONE;
		return set_marks(ev, yaml_stream_end_event_initialize(ev), m);
	}
}

static int yaml_next(struct doc_reader *r, yaml_event_t *ev)
{
	const yaml_parser_t *p = &r->yp;

	if (yaml_parser_parse(&r->yp, ev))
		return 0;
	diag_add(r->d, DIAG_ERROR, r->name, (unsigned)p->problem_mark.line + 1,
		 (unsigned)p->problem_mark.column + 1, "YAML syntax error: %s%s%s%s%s",
		 p->problem ? p->problem : "unknown", p->context ? " " : "",
		 p->context ? p->context : "", r->json_err[0] ? "; " : "", r->json_err);
	return -EINVAL;
}

int doc_reader_next(struct doc_reader *r, yaml_event_t *ret)
{
	int e = r->json ? json_next(r, ret) : yaml_next(r, ret);

	if (e < 0)
		return e;
	if (ret->type == YAML_SCALAR_EVENT &&
	    memchr(ret->data.scalar.value, '\0', ret->data.scalar.length)) {
		diag_add(r->d, DIAG_ERROR, r->name, (unsigned)ret->start_mark.line + 1,
			 (unsigned)ret->start_mark.column + 1,
			 "a key or value holds a NUL byte (\\0), which is never valid here");
		yaml_event_delete(ret);
		return -EINVAL;
	}
	return 0;
}

/* The first byte that is not a UTF-8 BOM or blank, or NULL. */
static const char *first_significant(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end && strchr(" \t\r\n", *p))
		p++;
	return p < end ? p : NULL;
}

/* Read buf as JSON. 1: it is JSON; 0: read it as YAML; -EINVAL: JSON with
 * a duplicate key, which the YAML path must not hide behind a tab error. */
static int try_json(struct doc_reader *r, const char *buf, size_t len)
{
	const char *start = first_significant(buf, len);
	json_error_t je;

	if (!start || (*start != '{' && *start != '['))
		return 0;
	r->root = json_loadb(start, len - (size_t)(start - buf),
			     JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (r->root) {
		r->sc = (struct scan){ .base = buf, .p = buf, .end = buf + len };
		if (start - buf >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
			r->sc.p += 3; /* a BOM is not a character */
		return 1;
	}
	if (json_error_code(&je) == json_error_duplicate_key) {
		diag_add(r->d, DIAG_ERROR, r->name, (unsigned)je.line, (unsigned)je.column,
			 "JSON: %s", je.text);
		return -EINVAL;
	}
	snprintf(r->json_err, sizeof(r->json_err), "not JSON either: %.100s at %d:%d", je.text,
		 je.line, je.column);
	return 0;
}

/* A raw NUL is valid in neither syntax, and libyaml places its complaint at
 * the start of the document: say where it is. */
static int refuse_raw_nul(const char *name, const char *buf, size_t len, struct diags *d)
{
	const char *nul = memchr(buf, '\0', len);
	struct scan s = { .base = buf, .p = buf, .end = nul };

	if (!nul)
		return 0;
	scan_advance(&s, (size_t)(nul - buf));
	diag_add(d, DIAG_ERROR, name, (unsigned)s.line + 1, (unsigned)s.col + 1,
		 "a NUL byte (\\0) in the document, which is never valid here");
	return -EINVAL;
}

int doc_reader_new(const char *name, const char *buf, size_t len, struct diags *d,
		   struct doc_reader **ret)
{
	struct doc_reader *r;
	int e = refuse_raw_nul(name, buf, len, d);

	if (e < 0)
		return e;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->name = name;
	r->d = d;
	e = try_json(r, buf, len);
	if (e < 0) {
		free(r);
		return e;
	}
	r->json = e == 1;
	if (!r->json) {
		if (!yaml_parser_initialize(&r->yp)) {
			free(r);
			return -ENOMEM;
		}
		yaml_parser_set_input_string(&r->yp, (const unsigned char *)buf, len);
	}
	*ret = r;
	return 0;
}

bool doc_reader_is_json(const struct doc_reader *r)
{
	return r->json;
}

void doc_reader_free(struct doc_reader *r)
{
	if (!r)
		return;
	if (r->json)
		json_decref(r->root);
	else
		yaml_parser_delete(&r->yp);
	free(r->stack);
	free(r);
}
