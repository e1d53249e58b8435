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
