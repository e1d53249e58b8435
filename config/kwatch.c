/* The API's wire shapes: the watch stream's lines, events, lists, objects. */
#include "config/kwatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static int call_line(const char *line, size_t len, kw_line_fn fn, void *arg)
{
	if (len && line[len - 1] == '\r')
		len--;
	return len ? fn(arg, line, len) : 0;
}

int kw_buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n, size_t max)
{
	if (*len + n > max)
		return -E2BIG;
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;
		char *b;
		while (c < *len + n + 1)
			c *= 2;
		b = realloc(*buf, c);
		if (!b)
			return -ENOMEM;
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int split_append(struct kw_splitter *s, const char *data, size_t n)
{
	return kw_buf_append(&s->buf, &s->len, &s->cap, data, n, s->max);
}

int kw_split_feed(struct kw_splitter *s, const char *data, size_t n, kw_line_fn fn, void *arg)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;
		int r;

		if (!nl)
			return split_append(s, data, n);
		if (s->len) {
			/* the end of a line that started in an earlier chunk */
			if ((r = split_append(s, data, take)) < 0)
				return r;
			r = call_line(s->buf, s->len, fn, arg);
			s->len = 0;
		} else {
			/* a whole line inside this chunk: no copy */
			r = take > s->max ? -E2BIG : call_line(data, take, fn, arg);
		}
		if (r < 0)
			return r;
		data += take + 1;
		n -= take + 1;
	}
	return 0;
}

void kw_split_reset(struct kw_splitter *s)
{
	s->len = 0;
}

void kw_split_free(struct kw_splitter *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

void kw_event_clear(struct kw_event *ev)
{
	json_decref(ev->root);
	memset(ev, 0, sizeof(*ev));
}

const char *kw_str(const json_t *v)
{
	const char *s = json_string_value(v);

	/* JSON may carry \u0000: such a string would read shorter in C */
	return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static const char *meta_str(json_t *obj, const char *key)
{
	return kw_str(json_object_get(json_object_get(obj, "metadata"), key));
}

static int event_type(const char *t, enum kw_type *ret)
{
	static const char *const names[] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(t, names[i]) == 0) {
			*ret = (enum kw_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

static json_t *load(const char *buf, size_t len, size_t max, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;

	if (len > max) {
		snprintf(err, errlen, "%zu bytes: over the bound of %zu", len, max);
		return NULL;
	}
	/* NUL is allowed in strings so that one object carrying it (a ConfigMap's
	 * data) is refused alone, at its position, by the config reader, rather
	 * than failing the whole list again at every relist; names and other
	 * fields read here go through kw_str, which refuses it */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!root)
		snprintf(err, errlen, "not JSON: %s at byte %d", je.text, je.position);
	else if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* The event's object: a Status for ERROR, else a named object. */
static int event_object(struct kw_event *ev, char *err, size_t errlen)
{
	json_t *code;

	if (ev->type == KW_ERROR) {
		code = json_object_get(ev->object, "code");
		ev->code = json_is_integer(code) ? (int)json_integer_value(code) : 0;
		ev->message = kw_str(json_object_get(ev->object, "message"));
		ev->message = ev->message ? ev->message : "";
		return 0;
	}
	ev->name = meta_str(ev->object, "name");
	ev->rv = meta_str(ev->object, "resourceVersion");
	if (ev->rv && strlen(ev->rv) >= KW_RV_LEN) {
		snprintf(err, errlen, "resourceVersion longer than %d bytes", KW_RV_LEN - 1);
		return -EINVAL;
	}
	if (ev->type == KW_BOOKMARK) {
		const char *end = kw_str(json_object_get(
			json_object_get(json_object_get(ev->object, "metadata"), "annotations"),
			"k8s.io/initial-events-end"));
		if (!ev->rv) {
			snprintf(err, errlen, "BOOKMARK without metadata.resourceVersion");
			return -EINVAL;
		}
		/* the end of a streaming watch list's initial events */
		ev->initial_end = end && strcmp(end, "true") == 0;
		return 0;
	}
	if (!ev->name || !ev->name[0]) {
		snprintf(err, errlen, "object without metadata.name");
		return -EINVAL;
	}
	return 0;
}

int kw_event_parse(const char *line, size_t len, struct kw_event *ret, char *err, size_t errlen)
{
	json_t *type;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->root = load(line, len, KW_MAX_EVENT, err, errlen);
	if (!ret->root)
		return -EINVAL;
	type = json_object_get(ret->root, "type");
	ret->object = json_object_get(ret->root, "object");
	if (!kw_str(type) || event_type(kw_str(type), &ret->type) < 0) {
		snprintf(err, errlen,
			 "event type must be ADDED, MODIFIED, DELETED, BOOKMARK or ERROR");
		r = -EINVAL;
	} else if (!json_is_object(ret->object)) {
		snprintf(err, errlen, "event without an object");
		r = -EINVAL;
	} else {
		r = event_object(ret, err, errlen);
	}
	if (r < 0)
		kw_event_clear(ret);
	return r;
}

int kw_list_parse(const char *body, size_t len, json_t **ret_root, json_t **ret_items,
		  const char **ret_rv, char *err, size_t errlen)
{
	json_t *root = load(body, len, KW_MAX_LIST, err, errlen), *items;
	const char *kind, *rv;

	if (!root)
		return -EINVAL;
	kind = kw_str(json_object_get(root, "kind"));
	items = json_object_get(root, "items");
	rv = meta_str(root, "resourceVersion");
	if (kind && strcmp(kind, "Status") == 0)
		snprintf(err, errlen, "a Status instead of a list: %s",
			 kw_str(json_object_get(root, "message")) ?: "(no message)");
	else if (!json_is_array(items) && !json_is_null(items) && items)
		snprintf(err, errlen, "items is not a list");
	else if (!rv || !rv[0] || strlen(rv) >= KW_RV_LEN)
		snprintf(err, errlen, "list without a usable metadata.resourceVersion");
	else
		err = NULL;
	if (err) {
		json_decref(root);
		return -EINVAL;
	}
	/* encoding/json writes an empty list as "items": null */
	if (!json_is_array(items)) {
		items = json_array();
		if (!items || json_object_set_new(root, "items", items) < 0) {
			json_decref(root);
			return -ENOMEM;
		}
	}
	*ret_root = root;
	*ret_items = items;
	*ret_rv = rv;
	return 0;
}

int kw_policy_from_object(json_t *obj, const struct masq_opts *opts, struct masq_policy_list *ret,
			  struct diags *d)
{
	const char *name = meta_str(obj, "name"), *kind;
	char label[POLICY_NAME_MAX + 64], *text;
	size_t before = ret->n;
	int r;

	snprintf(label, sizeof(label), "apiserver EgressNATPolicy/%.*s", POLICY_NAME_MAX,
		 name ? name : "(unnamed)");
	/* items of a list may come without their type: the list's is theirs */
	if (!json_object_get(obj, "apiVersion"))
		json_object_set_new(obj, "apiVersion", json_string("networking.gke.io/v1"));
	if (!json_object_get(obj, "kind"))
		json_object_set_new(obj, "kind", json_string("EgressNATPolicy"));
	kind = kw_str(json_object_get(obj, "kind"));
	if (!kind || strcmp(kind, "EgressNATPolicy") != 0) {
		diag_add(d, DIAG_ERROR, label, 0, 0, "kind must be EgressNATPolicy");
		return 0;
	}
	text = json_dumps(obj, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	/* JSON is YAML: the one validator that reads policy files reads these */
	r = policy_parse_buf(label, text, strlen(text), opts, ret, d);
	free(text);
	if (r == -ENOMEM)
		return r;
	return ret->n > before ? 1 : 0;
}

int kw_configmap_config(json_t *obj, const char *key, const char **ret_text, size_t *ret_len)
{
	json_t *data = json_object_get(obj, "data"), *v;

	*ret_text = NULL;
	*ret_len = 0;
	if (!data || json_is_null(data))
		return 0;
	if (!json_is_object(data))
		return -EINVAL;
	v = json_object_get(data, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	*ret_text = json_string_value(v);
	*ret_len = json_string_length(v);
	return 0;
}

/* --- a list as it streams */

enum { L_TOP, L_ITEMS_WAIT, L_ITEMS_OPEN, L_ITEMS_NEXT, L_ITEMS_AFTER, L_ITEM };

#define LIST_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define MAX_DEPTH 2048 /* jansson's own limit on nesting */

void kw_lister_reset(struct kw_lister *l)
{
	char *item = l->item, *meta = l->meta;
	size_t icap = l->icap, mcap = l->mcap;

	memset(l, 0, sizeof(*l));
	l->item = item;
	l->icap = icap;
	l->meta = meta;
	l->mcap = mcap;
}

void kw_lister_free(struct kw_lister *l)
{
	free(l->item);
	free(l->meta);
	memset(l, 0, sizeof(*l));
}

__attribute__((format(printf, 3, 4))) static int lister_fail(struct kw_lister *l, int e,
							     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->err, sizeof(l->err), fmt, ap);
	va_end(ap);
	return e;
}

static int meta_add(struct kw_lister *l, const char *p, size_t n)
{
	int e = kw_buf_append(&l->meta, &l->mlen, &l->mcap, p, n, KW_MAX_LIST_META);

	if (e == -E2BIG)
		return lister_fail(l, e, "the list's top level without its items is over %u bytes",
				   KW_MAX_LIST_META);
	return e < 0 ? lister_fail(l, e, "out of memory") : 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One top-level byte: copied, and read far enough to find "items". */
static int top_byte(struct kw_lister *l, char c)
{
	int e = meta_add(l, &c, 1);

	if (e < 0)
		return e;
	if (l->in_str) {
		if (l->capture) {
			if (l->esc || c == '\\')
				l->key_esc = true;
			else if (c != '"' && l->klen < sizeof(l->key))
				l->key[l->klen++] = c;
		}
		if (l->esc) {
			l->esc = false;
		} else if (c == '\\') {
			l->esc = true;
		} else if (c == '"') {
			l->in_str = false;
			if (l->capture) {
				l->capture = l->expect_key = false;
				/* "it\u0065ms" would be items to jansson and not to us */
				if (l->key_esc)
					return lister_fail(l, -EINVAL,
							   "a top-level key written with escapes "
							   "(after item %zu)",
							   l->nitems);
				l->key_items = l->klen == 5 && memcmp(l->key, "items", 5) == 0;
			}
		}
		return 0;
	}
	switch (c) {
	case '"':
		l->in_str = true;
		l->capture = l->depth == 1 && l->expect_key;
		l->klen = 0;
		l->key_esc = false;
		break;
	case '{':
	case '[':
		if (++l->depth > MAX_DEPTH)
			return lister_fail(l, -EINVAL, "nested deeper than %d", MAX_DEPTH);
		l->expect_key = c == '{' && l->depth == 1;
		break;
	case '}':
	case ']':
		if (l->depth)
			l->depth--;
		break;
	case ',':
		l->expect_key = l->depth == 1;
		break;
	case ':':
		if (l->depth == 1 && l->key_items)
			l->st = L_ITEMS_WAIT;
		l->key_items = false;
		break;
	}
	return 0;
}

/* The item in l->item is complete. */
static int item_done(struct kw_lister *l, kw_item_fn fn, void *arg)
{
	json_error_t je;
	json_t *obj = json_loadb(l->item, l->ilen, LIST_FLAGS, &je);

	if (!obj) {
		snprintf(l->err, sizeof(l->err), "items[%zu] is not JSON: %s at byte %d", l->nitems,
			 je.text, je.position);
		return -EINVAL;
	}
	l->nitems++;
	l->st = L_ITEMS_AFTER;
	return fn(arg, obj);
}

/* Bytes of an item, up to its end or the chunk's: returns how many were
 * taken, or an error. */
static ssize_t item_bytes(struct kw_lister *l, const char *p, size_t n, kw_item_fn fn, void *arg)
{
	size_t i;
	int e;

	for (i = 0; i < n && l->idepth; i++) {
		char c = p[i];
		if (l->in_str) {
			if (l->esc)
				l->esc = false;
			else if (c == '\\')
				l->esc = true;
			else if (c == '"')
				l->in_str = false;
		} else if (c == '"') {
			l->in_str = true;
		} else if (c == '{' || c == '[') {
			/* an item sits two levels down in the whole body */
			if (++l->idepth > MAX_DEPTH - 2)
				return lister_fail(l, -EINVAL, "items[%zu] is nested too deep",
						   l->nitems);
		} else if (c == '}' || c == ']') {
			l->idepth--;
		}
	}
	e = kw_buf_append(&l->item, &l->ilen, &l->icap, p, i, KW_MAX_EVENT);
	if (e == -E2BIG)
		return lister_fail(l, e, "items[%zu] is over 4 MiB", l->nitems);
	if (e < 0)
		return lister_fail(l, e, "out of memory");
	if (!l->idepth && (e = item_done(l, fn, arg)) < 0)
		return e;
	return (ssize_t)i;
}

int kw_lister_feed(struct kw_lister *l, const char *data, size_t n, kw_item_fn fn, void *arg)
{
	size_t i = 0;
	ssize_t took;
	int e = 0;

	while (i < n && e >= 0) {
		char c = data[i];
		switch (l->st) {
		case L_TOP:
			e = top_byte(l, c);
			i++;
			break;
		case L_ITEMS_WAIT: /* after "items": */
			if (c == '[') {
				if (l->seen_items)
					return lister_fail(l, -EINVAL, "items given twice");
				l->seen_items = true;
				l->st = L_ITEMS_OPEN;
				e = meta_add(l, "[", 1);
				i++;
			} else if (is_ws(c)) {
				e = meta_add(l, &c, 1);
				i++;
			} else {
				l->st = L_TOP; /* null, or a wrong type: end says */
			}
			break;
		case L_ITEMS_OPEN:
		case L_ITEMS_NEXT:
		case L_ITEMS_AFTER:
			i++;
			if (is_ws(c))
				break;
			if (c == '{' && l->st != L_ITEMS_AFTER) {
				l->st = L_ITEM;
				l->ilen = 0;
				l->idepth = 1;
				l->in_str = l->esc = false;
				e = kw_buf_append(&l->item, &l->ilen, &l->icap, "{", 1,
						  KW_MAX_EVENT);
			} else if (c == ']' && l->st != L_ITEMS_NEXT) {
				l->st = L_TOP;
				e = meta_add(l, "]", 1);
			} else if (c == ',' && l->st == L_ITEMS_AFTER) {
				l->st = L_ITEMS_NEXT;
			} else if (l->st == L_ITEMS_AFTER) {
				return lister_fail(l, -EINVAL, "bad JSON after items[%zu]",
						   l->nitems - 1);
			} else {
				return lister_fail(l, -EINVAL, "items[%zu] is not an object",
						   l->nitems);
			}
			break;
		case L_ITEM:
			took = item_bytes(l, data + i, n - i, fn, arg);
			if (took < 0)
				return (int)took;
			i += (size_t)took;
			break;
		}
	}
	if (e == -ENOMEM && !l->err[0])
		snprintf(l->err, sizeof(l->err), "out of memory");
	return e;
}

int kw_lister_end(struct kw_lister *l, struct kw_list_meta *ret, char *err, size_t errlen)
{
	json_t *root, *items;
	const char *rv, *cont;
	int e;

	memset(ret, 0, sizeof(*ret));
	if (l->st == L_ITEM || (l->st != L_TOP && l->st != L_ITEMS_WAIT)) {
		snprintf(err, errlen, "the list ended inside its items, after %zu", l->nitems);
		return -EINVAL;
	}
	/* the top level, its items now [], is checked as a whole list is */
	e = kw_list_parse(l->meta ? l->meta : "", l->mlen, &root, &items, &rv, err, errlen);
	if (e < 0)
		return -EINVAL;
	if (json_array_size(items)) {
		json_decref(root);
		snprintf(err, errlen, "items given outside the list's items");
		return -EINVAL;
	}
	cont = json_object_get(json_object_get(root, "metadata"), "continue")
		       ? kw_str(json_object_get(json_object_get(root, "metadata"), "continue"))
		       : "";
	if (!cont || strlen(cont) >= KW_CONTINUE_LEN) {
		json_decref(root);
		snprintf(err, errlen, "metadata.continue is not a string of under %u bytes",
			 KW_CONTINUE_LEN);
		return -EINVAL;
	}
	snprintf(ret->rv, sizeof(ret->rv), "%s", rv);
	snprintf(ret->cont, sizeof(ret->cont), "%s", cont);
	ret->nitems = l->nitems;
	json_decref(root);
	return 0;
}
