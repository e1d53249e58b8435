/* Go's time.ParseDuration, and v2's bare-seconds form. */
#include "config/duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
	{ "ns", 1ULL },		  { "us", 1000ULL },
	{ "\xc2\xb5s", 1000ULL }, /* U+00B5 micro sign */
	{ "\xce\xbcs", 1000ULL }, /* U+03BC Greek small letter mu */
	{ "ms", 1000000ULL },	  { "s", 1000000000ULL },
	{ "m", 60000000000ULL },  { "h", 3600000000000ULL },
};

#define LIMIT (1ULL << 63)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Leading integer; -ERANGE once it exceeds 2^63 as Go's leadingInt does. */
static int leading_int(const char **s, uint64_t *ret)
{
	uint64_t v = 0;

	for (; is_digit(**s); (*s)++) {
		if (v > (LIMIT - 1) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(**s - '0');
		if (v > LIMIT)
			return -ERANGE;
	}
	*ret = v;
	return 0;
}

/* Fraction digits as value/scale; digits past what fits are dropped, as Go does. */
static void leading_fraction(const char **s, uint64_t *ret_f, double *ret_scale)
{
	uint64_t f = 0;
	double scale = 1;
	bool overflow = false;

	for (; is_digit(**s); (*s)++) {
		if (overflow)
			continue;
		if (f > (LIMIT - 1) / 10) {
			overflow = true;
			continue;
		}
		uint64_t y = f * 10 + (uint64_t)(**s - '0');
		if (y > LIMIT) {
			overflow = true;
			continue;
		}
		f = y;
		scale *= 10;
	}
	*ret_f = f;
	*ret_scale = scale;
}

static int parse_unit(const char **s, uint64_t *ret)
{
	size_t n = 0;

	while ((*s)[n] && (*s)[n] != '.' && !is_digit((*s)[n]))
		n++;
	if (n == 0)
		return -EINVAL; /* "missing unit in duration" */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].name) == n && memcmp(units[i].name, *s, n) == 0) {
			*s += n;
			*ret = units[i].ns;
			return 0;
		}
	}
	return -EINVAL; /* "unknown unit in duration" */
}

/* One "<number><unit>" component, added to *d. */
static int parse_component(const char **s, uint64_t *d)
{
	uint64_t v = 0, f = 0, unit;
	double scale = 1;
	const char *start = *s;
	bool pre, post = false;
	int r;

	if (!(**s == '.' || is_digit(**s)))
		return -EINVAL;
	r = leading_int(s, &v);
	if (r < 0)
		return -EINVAL; /* Go: "invalid duration" on a too-long integer */
	pre = *s != start;
	if (**s == '.') {
		const char *fs = ++(*s);
		leading_fraction(s, &f, &scale);
		post = *s != fs;
	}
	if (!pre && !post)
		return -EINVAL;
	r = parse_unit(s, &unit);
	if (r < 0)
		return r;
	if (v > LIMIT / unit)
		return -ERANGE;
	v *= unit;
	if (f > 0) {
		v += (uint64_t)((double)f * ((double)unit / scale));
		if (v > LIMIT)
			return -ERANGE;
	}
	*d += v;
	return *d > LIMIT ? -ERANGE : 0;
}

int duration_parse(const char *s, int64_t *ret_ns)
{
	uint64_t d = 0;
	bool neg = false;
	int r;

	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (strcmp(s, "0") == 0) {
		*ret_ns = 0;
		return 0;
	}
	if (*s == '\0')
		return -EINVAL;
	while (*s) {
		r = parse_component(&s, &d);
		if (r < 0)
			return r;
	}
	if (neg) {
		*ret_ns = d == LIMIT ? INT64_MIN : -(int64_t)d;
		return 0;
	}
	if (d > LIMIT - 1)
		return -ERANGE;
	*ret_ns = (int64_t)d;
	return 0;
}

int duration_parse_seconds(const char *s, int64_t *ret_ns)
{
	char buf[64];
	bool digits = *s != '\0';
	int64_t ns;
	int r;

	for (const char *p = s; *p; p++)
		digits &= is_digit(*p);
	if (digits && strlen(s) < 12) {
		snprintf(buf, sizeof(buf), "%ss", s);
		s = buf;
	}
	r = duration_parse(s, &ns);
	if (r < 0)
		return r;
	if (ns < 1000000000LL)
		return -ERANGE;
	*ret_ns = ns;
	return 0;
}
