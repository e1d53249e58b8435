/* The FILE:LINE:COL problem list config/ fills and agent/ prints. */
#include "config/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void diags_init(struct diags *d)
{
	memset(d, 0, sizeof(*d));
}

void diag_add(struct diags *d, enum diag_level level, const char *file, unsigned line, unsigned col,
	      const char *fmt, ...)
{
	struct diag *g;
	va_list ap;

	if (level == DIAG_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->n == DIAG_MAX) {
		d->dropped++;
		return;
	}
	g = &d->items[d->n++];
	g->level = level;
	snprintf(g->file, sizeof(g->file), "%s", file ? file : "<input>");
	g->line = line;
	g->col = col;
	va_start(ap, fmt);
	vsnprintf(g->msg, sizeof(g->msg), fmt, ap);
	va_end(ap);
}

void diags_sort(struct diags *d, size_t from)
{
	/* insertion sort: at most DIAG_MAX items, and it keeps equal ones in order */
	for (size_t i = from + 1; i < d->n; i++) {
		struct diag tmp = d->items[i];
		size_t j = i;

		while (j > from &&
		       (d->items[j - 1].line > tmp.line ||
			(d->items[j - 1].line == tmp.line && d->items[j - 1].col > tmp.col))) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = tmp;
	}
}

void diag_format(const struct diag *g, char *buf, size_t len)
{
	const char *lvl = g->level == DIAG_WARNING ? "warning: " : "";

	if (g->line)
		snprintf(buf, len, "%s:%u:%u: %s%s", g->file, g->line, g->col, lvl, g->msg);
	else
		snprintf(buf, len, "%s: %s%s", g->file, lvl, g->msg);
}
