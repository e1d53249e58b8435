/* The Kubernetes API's wire shapes that masqd reads, as pure functions (no
 * I/O, no logging), so they can be fuzzed: a watch stream is newline-
 * delimited JSON events split at arbitrary points by the transport; a list
 * is one JSON object with items and metadata.resourceVersion. */
#ifndef MASQ_KWATCH_H
#define MASQ_KWATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "config/diag.h"
#include "config/policy.h"

#define KW_MAX_EVENT (4u << 20) /* one watch event; etcd's object limit is 1.5 MiB */
#define KW_MAX_LIST (64u << 20) /* one list response */
#define KW_RV_LEN 128 /* resourceVersion, kept as an opaque string */

/* Append n bytes to a growing buffer and keep a NUL after them (bodies are
 * handed to parsers as strings). Returns 0, -E2BIG past max bytes, or
 * -ENOMEM; the buffer is unchanged on error. */
int kw_buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n, size_t max)
	__attribute__((warn_unused_result));

/* Splits a byte stream into lines. A line longer than max is an error; a
 * line that fits is handed over whole, wherever the chunks were cut. */
struct kw_splitter {
	char *buf;
	size_t len, cap, max;
};

typedef int (*kw_line_fn)(void *arg, const char *line, size_t len);

/* Feed bytes; fn gets every complete non-empty line (without "\n" or
 * "\r\n"). Returns 0, fn's negative return, -E2BIG for a line over max,
 * or -ENOMEM. After an error the splitter must be reset. */
int kw_split_feed(struct kw_splitter *s, const char *data, size_t n, kw_line_fn fn, void *arg)
	__attribute__((warn_unused_result));

/* Forget buffered bytes (a new stream); keeps max. */
void kw_split_reset(struct kw_splitter *s);

/* Free the buffer. */
void kw_split_free(struct kw_splitter *s);

/* A JSON string's text, or NULL when v is not a string or holds a NUL. */
const char *kw_str(const json_t *v);

enum kw_type { KW_ADDED, KW_MODIFIED, KW_DELETED, KW_BOOKMARK, KW_ERROR };

struct kw_event {
	enum kw_type type;
	json_t *root; /* owns everything below */
	json_t *object; /* the object, or the Status of an ERROR */
	const char *name; /* metadata.name; NULL for ERROR */
	const char *rv; /* metadata.resourceVersion; may be NULL */
	bool initial_end; /* BOOKMARK: annotated k8s.io/initial-events-end: "true" */
	int code; /* ERROR: the Status's code (410: relist) */
	const char *message; /* ERROR: the Status's message, or "" */
};

/* Parse one event line. Returns 0 or -EINVAL with the reason in err. */
int kw_event_parse(const char *line, size_t len, struct kw_event *ret, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Parse a list response: ret_items is an array owned by *ret_root, and
 * ret_rv the list's resourceVersion. A Status object (kind: Status) is an
 * error too. Returns 0 or -EINVAL with the reason in err. */
int kw_list_parse(const char *body, size_t len, json_t **ret_root, json_t **ret_items,
		  const char **ret_rv, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void kw_event_clear(struct kw_event *ev);

/* A list response read as it streams (client-go's pager reads pages of a
 * few hundred items; a list served from the watch cache may ignore limit
 * and come whole). Each element of "items" is parsed alone as soon as it is
 * complete and handed to the caller, and only the rest of the top level
 * (kind, metadata, a Status's fields) is kept: memory is bounded by one
 * item, whatever the list's size. Validity of the whole is only known at
 * kw_lister_end: a caller applies items tentatively and undoes them when
 * the end fails. */
#define KW_MAX_LIST_META (1u << 20) /* the top level without its items */
#define KW_CONTINUE_LEN 8192 /* metadata.continue, an opaque token */

struct kw_lister {
	int st; /* where the scanner is (kwatch.c) */
	unsigned depth, idepth; /* nesting of the top level, and inside the item */
	bool in_str, esc; /* inside a string, after its backslash */
	bool expect_key, capture; /* a top-level key comes next, is being read */
	bool key_items, key_esc, seen_items;
	char key[8];
	size_t klen;
	char *item; /* the element being read */
	size_t ilen, icap;
	char *meta; /* every top-level byte but the items' */
	size_t mlen, mcap;
	size_t nitems;
	char err[200]; /* why feed failed */
};

/* Called with each item (an object, owned by the caller from then on).
 * A negative return stops the feed and is returned by it. */
typedef int (*kw_item_fn)(void *arg, json_t *item);

/* Feed the next bytes of the body. Returns 0, fn's negative return,
 * -EINVAL (bad JSON inside the items, an item that is not an object, an
 * escaped top-level key), -E2BIG (an item over KW_MAX_EVENT, the rest over
 * KW_MAX_LIST_META) or -ENOMEM, with the reason in l->err. After an error
 * the lister must be reset. */
int kw_lister_feed(struct kw_lister *l, const char *data, size_t n, kw_item_fn fn, void *arg)
	__attribute__((warn_unused_result));

struct kw_list_meta {
	char rv[KW_RV_LEN]; /* metadata.resourceVersion */
	char cont[KW_CONTINUE_LEN]; /* metadata.continue; "" on the last page */
	size_t nitems;
};

/* The body ended: check the top level (as kw_list_parse does) and return
 * what it says. Returns 0 or -EINVAL with the reason in err. */
int kw_lister_end(struct kw_lister *l, struct kw_list_meta *ret, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Forget everything read (a new body); buffers are kept for reuse. */
void kw_lister_reset(struct kw_lister *l);

/* Give the buffers back. */
void kw_lister_free(struct kw_lister *l);

/* One EgressNATPolicy object from the API, validated as a file's would be.
 * A valid one is appended to ret; an invalid one is reported in d (under
 * "apiserver EgressNATPolicy/NAME"). Returns 1 (valid), 0 (invalid) or
 * -ENOMEM. */
int kw_policy_from_object(json_t *obj, const struct masq_opts *opts, struct masq_policy_list *ret,
			  struct diags *d) __attribute__((warn_unused_result));

/* A ConfigMap's data.config: the text (borrowed from obj) or NULL when the
 * key is absent. Returns 0, or -EINVAL when data or the key is not text. */
int kw_configmap_config(json_t *obj, const char *key, const char **ret_text, size_t *ret_len)
	__attribute__((warn_unused_result));

#endif
