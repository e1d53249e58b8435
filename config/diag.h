/* Problems found while reading config, each with its FILE:LINE:COL.
 * config/ never logs: it fills a struct diags and the caller prints it once. */
#ifndef MASQ_DIAG_H
#define MASQ_DIAG_H

#include <stddef.h>

#define DIAG_MAX 32 /* problems kept per load; the rest are only counted */
#define DIAG_FILE_LEN 512
#define DIAG_MSG_LEN 256

enum diag_level { DIAG_ERROR, DIAG_WARNING };

struct diag {
	enum diag_level level;
	char file[DIAG_FILE_LEN];
	unsigned line, col; /* 1-based; 0 when the problem has no position */
	char msg[DIAG_MSG_LEN];
};

struct diags {
	struct diag items[DIAG_MAX];
	size_t n, dropped;
	size_t errors, warnings;
};

/* Empty the list. */
void diags_init(struct diags *d);

/* Record a problem; line 0 means the whole file. */
void diag_add(struct diags *d, enum diag_level level, const char *file, unsigned line, unsigned col,
	      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Order the problems of one file, those from index from on, by line and
 * column (stable), as a reader meets them. Only those: the problems of the
 * files read before it stay where they are (config/slots.c keeps a file's
 * own problems by their indices, to report them again). */
void diags_sort(struct diags *d, size_t from);

/* "FILE:LINE:COL: message", "FILE: message", warnings with "warning: ". */
void diag_format(const struct diag *g, char *buf, size_t len);

#define diag_for_each(g, d) for (const struct diag *g = (d)->items; g < (d)->items + (d)->n; g++)

#endif
