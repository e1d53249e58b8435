/* A bounded document tree with positions, for nested inputs. */
#include "config/yamltree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/config.h"
#include "config/doc.h"

struct builder {
	struct doc_reader *rd;
	const char *name;
	struct diags *d;
	size_t nodes;
	unsigned depth;
};

static void node_free(struct yt_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

void yt_free_docs(struct yt_node **docs, int n)
{
	for (int i = 0; i < n; i++)
		node_free(docs[i]);
	free(docs);
}

static int fail(struct builder *b, const yaml_mark_t *m, const char *msg)
{
	diag_add(b->d, DIAG_ERROR, b->name, (unsigned)m->line + 1, (unsigned)m->column + 1, "%s",
		 msg);
	return -EINVAL;
}

static int next(struct builder *b, yaml_event_t *ev)
{
	return doc_reader_next(b->rd, ev) < 0 ? -EINVAL : 0; /* reported by the reader */
}

static int add_kid(struct yt_node *n, struct yt_node *k)
{
	if ((n->nkids & (n->nkids + 1)) == 0 || n->nkids == 0) {
		size_t cap = n->nkids ? (n->nkids + 1) * 2 : 4;
		struct yt_node **kids = realloc(n->kids, cap * sizeof(*kids));
		if (!kids)
			return -ENOMEM;
		n->kids = kids;
	}
	n->kids[n->nkids++] = k;
	return 0;
}

static int build(struct builder *b, yaml_event_t *ev, struct yt_node **ret);

/* The children of a map or sequence, up to its end event. */
static int build_children(struct builder *b, struct yt_node *n, yaml_event_type_t end)
{
	yaml_event_t ev;
	int r;

	if (++b->depth > MASQ_DEPTH_MAX)
		return fail(b, &(yaml_mark_t){ n->line - 1, n->line - 1, n->col - 1 },
			    "nesting deeper than 32 levels");
	for (;;) {
		struct yt_node *k = NULL;

		if ((r = next(b, &ev)) < 0)
			return r;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			b->depth--;
			return 0;
		}
		r = build(b, &ev, &k);
		if (r == 0)
			r = add_kid(n, k);
		if (r < 0) {
			node_free(k);
			return r;
		}
	}
}

/* One node from its first event (which it deletes). */
static int build(struct builder *b, yaml_event_t *ev, struct yt_node **ret)
{
	struct yt_node *n = calloc(1, sizeof(*n));
	yaml_event_t copy = *ev;
	int r = 0;

	if (!n) {
		yaml_event_delete(ev);
		return -ENOMEM;
	}
	*ret = n;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->col = (unsigned)ev->start_mark.column + 1;
	if (++b->nodes > YT_MAX_NODES)
		r = fail(b, &ev->start_mark, "too many YAML nodes");
	else if (ev->type == YAML_SCALAR_EVENT) {
		n->type = YT_SCALAR;
		/* the reader refuses a NUL inside a scalar, so text is the whole value */
		n->text = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
		r = n->text ? 0 : -ENOMEM;
	} else if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT) {
		n->type = ev->type == YAML_MAPPING_START_EVENT ? YT_MAP : YT_SEQ;
		yaml_event_delete(ev);
		return build_children(
			b, n, n->type == YT_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT);
	} else {
		r = fail(b, &ev->start_mark,
			 ev->type == YAML_ALIAS_EVENT ? "YAML aliases are not supported"
						      : "unexpected YAML event");
	}
	yaml_event_delete(&copy);
	return r;
}

/* A document: its root node, or NULL when it is empty. */
static int build_document(struct builder *b, struct yt_node **ret)
{
	yaml_event_t ev;
	int r = next(b, &ev);

	*ret = NULL;
	if (r < 0)
		return r;
	r = build(b, &ev, ret);
	if (r == 0 && (r = next(b, &ev)) == 0) /* DOCUMENT_END */
		yaml_event_delete(&ev);
	if (r < 0) { /* a later node failed: the part built so far goes too */
		node_free(*ret);
		*ret = NULL;
		return r;
	}
	if (r == 0 && (*ret)->type == YT_SCALAR && (*ret)->plain &&
	    (!(*ret)->text[0] || strcmp((*ret)->text, "~") == 0 ||
	     strcmp((*ret)->text, "null") == 0)) {
		node_free(*ret);
		*ret = NULL;
	}
	return r;
}

int yt_parse(const char *name, const char *buf, size_t len, struct yt_node ***ret, struct diags *d)
{
	struct builder b = { .name = name, .d = d };
	struct yt_node **docs = NULL, *root;
	yaml_event_t ev;
	int n = 0, r;

	r = doc_reader_new(name, buf, len, d, &b.rd);
	if (r < 0)
		return r;
	r = next(&b, &ev); /* STREAM_START */
	while (r == 0) {
		yaml_event_delete(&ev);
		if ((r = next(&b, &ev)) < 0 || ev.type == YAML_STREAM_END_EVENT)
			break;
		r = build_document(&b, &root);
		if (r == 0) {
			struct yt_node **nd = realloc(docs, (size_t)(n + 1) * sizeof(*nd));
			if (!nd) {
				node_free(root);
				r = -ENOMEM;
				break;
			}
			docs = nd;
			docs[n++] = root;
		}
	}
	if (r == 0)
		yaml_event_delete(&ev);
	doc_reader_free(b.rd);
	if (r < 0) {
		yt_free_docs(docs, n);
		return r;
	}
	*ret = docs;
	return n;
}

const struct yt_node *yt_get(const struct yt_node *map, const char *key)
{
	if (!map || map->type != YT_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->nkids; i += 2) {
		if (map->kids[i]->type == YT_SCALAR && strcmp(map->kids[i]->text, key) == 0)
			return map->kids[i + 1];
	}
	return NULL;
}

const char *yt_str(const struct yt_node *n)
{
	return n && n->type == YT_SCALAR ? n->text : NULL;
}
