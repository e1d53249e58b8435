/* The API's wire shapes: the watch stream's lines, events, lists, objects. */
#include "config/kwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		if (!ev->rv) {
			snprintf(err, errlen, "BOOKMARK without metadata.resourceVersion");
			return -EINVAL;
		}
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
