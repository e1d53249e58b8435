/* A small YAML (and so JSON) document tree with positions, for inputs whose
 * shape is nested objects (EgressNATPolicy, List). Bounded: nesting depth,
 * node count, no aliases. */
#ifndef MASQ_YAMLTREE_H
#define MASQ_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/diag.h"

#define YT_MAX_NODES 200000 /* per document */

enum yt_type { YT_SCALAR, YT_MAP, YT_SEQ };

struct yt_node {
	enum yt_type type;
	unsigned line, col; /* 1-based */
	char *text; /* scalars */
	bool plain; /* an unquoted, untagged scalar */
	struct yt_node **kids; /* maps: key, value, key, value...; sequences: items */
	size_t nkids;
};

/* Parse every document of buf. Returns the number of documents (>= 0) with
 * *ret (a malloc'ed array of roots, NULL entries for empty documents), or
 * -EINVAL with the problem in d under name. */
int yt_parse(const char *name, const char *buf, size_t len, struct yt_node ***ret, struct diags *d)
	__attribute__((warn_unused_result));

/* Free what yt_parse returned. */
void yt_free_docs(struct yt_node **docs, int n);

/* The value of key in a map, or NULL. */
const struct yt_node *yt_get(const struct yt_node *map, const char *key);

/* A scalar's text when n is a scalar, else NULL. */
const char *yt_str(const struct yt_node *n);

#endif
