/* One stream of YAML events for a config document, whether it is YAML read
 * by libyaml or JSON read by jansson. Every parser of user input (the config
 * file, v2 directory files, EgressNATPolicy files, kubeconfigs, ConfigMap
 * data from the API) walks these events, so both syntaxes get the same type
 * rules and FILE:LINE:COL errors. */
#ifndef MASQ_DOC_H
#define MASQ_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "config/diag.h"

struct doc_reader;

/* Open buf (len bytes, named name in messages). A document whose first
 * non-blank byte is '{' or '[' and that is valid JSON is read with jansson
 * (duplicate keys rejected); anything else, a YAML flow mapping such as
 * {a: [b]} included, with libyaml. Returns 0, -EINVAL (reported in d) or
 * -ENOMEM. */
int doc_reader_new(const char *name, const char *buf, size_t len, struct diags *d,
		   struct doc_reader **ret) __attribute__((warn_unused_result));

/* The next event, which the caller deletes with yaml_event_delete(). A
 * syntax error, or a scalar with a NUL byte in it (which would cut a C
 * string short), is reported in d at its position and gives -EINVAL. */
int doc_reader_next(struct doc_reader *r, yaml_event_t *ret) __attribute__((warn_unused_result));

/* True when the document is being read as JSON. */
bool doc_reader_is_json(const struct doc_reader *r);

/* Free a reader; NULL is fine. */
void doc_reader_free(struct doc_reader *r);

#endif
