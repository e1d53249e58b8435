/* The Prometheus text format writer: families, escaped labels, histograms. */
#include "agent/expo.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAMILIES 64

struct expo {
	char *buf;
	size_t len, cap;
	bool failed;
	const char *families[MAX_FAMILIES]; /* names started, for one TYPE each */
	size_t nfamilies;
};

struct expo *expo_new(void)
{
	return calloc(1, sizeof(struct expo));
}

void expo_free(struct expo *e)
{
	if (!e)
		return;
	free(e->buf);
	free(e);
}

static void put(struct expo *e, const char *s, size_t n)
{
	if (e->failed)
		return;
	if (e->len + n + 1 > e->cap) {
		size_t cap = e->cap ? e->cap : 4096;
		char *b;
		while (e->len + n + 1 > cap)
			cap *= 2;
		b = realloc(e->buf, cap);
		if (!b) {
			e->failed = true;
			return;
		}
		e->buf = b;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	e->buf[e->len] = '\0';
}

static void puts_(struct expo *e, const char *s)
{
	put(e, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) putf(struct expo *e, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(e, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Escape \, newline and (in label values) " as the format requires. */
static void put_escaped(struct expo *e, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(e, "\\\\");
		else if (*s == '\n')
			puts_(e, "\\n");
		else if (*s == '"' && quote)
			puts_(e, "\\\"");
		else
			put(e, s, 1);
	}
}

/* The shortest of %.15g..%.17g that reads back as the same double. */
static void put_shortest(struct expo *e, double v)
{
	char tmp[40];

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	puts_(e, tmp);
}

static void put_value(struct expo *e, double v)
{
	if (isnan(v))
		puts_(e, "NaN");
	else if (isinf(v))
		puts_(e, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53: exact */
		putf(e, "%.0f", v);
	else
		put_shortest(e, v);
}

void expo_family(struct expo *e, const char *name, const char *type, const char *help)
{
	for (size_t i = 0; i < e->nfamilies; i++) {
		if (strcmp(e->families[i], name) == 0)
			return;
	}
	if (e->nfamilies < MAX_FAMILIES)
		e->families[e->nfamilies++] = name;
	putf(e, "# HELP %s ", name);
	put_escaped(e, help, false);
	putf(e, "\n# TYPE %s %s\n", name, type);
}

/* name{labels[,extra_key="extra_val"]} */
static void put_series(struct expo *e, const char *name, const char *suffix,
		       const char *const *labels, const char *extra_key, const char *extra_val)
{
	bool any = (labels && labels[0]) || extra_key;
	const char *sep = "";

	puts_(e, name);
	puts_(e, suffix);
	if (!any)
		return;
	puts_(e, "{");
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		putf(e, "%s%s=\"", sep, labels[i]);
		put_escaped(e, labels[i + 1], true);
		puts_(e, "\"");
		sep = ",";
	}
	if (extra_key)
		putf(e, "%s%s=\"%s\"", sep, extra_key, extra_val);
	puts_(e, "}");
}

void expo_sample(struct expo *e, const char *name, const char *const *labels, double value)
{
	put_series(e, name, "", labels, NULL, NULL);
	puts_(e, " ");
	put_value(e, value);
	puts_(e, "\n");
}

void expo_histogram(struct expo *e, const char *name, const char *const *labels,
		    const double *bounds, const uint64_t *counts, size_t n, double sum)
{
	uint64_t cum = 0;
	char le[32];

	for (size_t i = 0; i < n; i++) {
		cum += counts[i];
		snprintf(le, sizeof(le), "%g", bounds[i]);
		put_series(e, name, "_bucket", labels, "le", le);
		putf(e, " %llu\n", (unsigned long long)cum);
	}
	cum += counts[n];
	put_series(e, name, "_bucket", labels, "le", "+Inf");
	putf(e, " %llu\n", (unsigned long long)cum);
	put_series(e, name, "_sum", labels, NULL, NULL);
	puts_(e, " ");
	put_value(e, sum);
	puts_(e, "\n");
	put_series(e, name, "_count", labels, NULL, NULL);
	putf(e, " %llu\n", (unsigned long long)cum);
}

const char *expo_text(const struct expo *e, size_t *ret_len)
{
	if (e->failed)
		return NULL;
	if (ret_len)
		*ret_len = e->len;
	return e->buf ? e->buf : "";
}
