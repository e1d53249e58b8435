/* The status document (JSON) masqctl status reads. */
#ifndef MASQ_STATUSDOC_H
#define MASQ_STATUSDOC_H

struct stats_view;

/* The document, malloc'ed; NULL on ENOMEM. */
char *statusdoc_json(const struct stats_view *v);

#endif
