/* One logfmt line per event on stderr, and a diags list printed once. */
#include "agent/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config/diag.h"

static int verbosity;

void log_init(int v)
{
	verbosity = v;
}

int log_debug_enabled(void)
{
	return verbosity >= 2;
}

/* logfmt: the message is quoted, so quotes and backslashes are escaped; so
 * is every control character, so that text from a config or an API object
 * (a CR, a terminal escape) cannot forge a line or rewrite the screen. */
static void escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < len; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p == '\n' || *p == '\r' || *p == '\t') {
			out[o++] = '\\';
			out[o++] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

static void vlog(enum log_level lvl, const char *err, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char msg[2048], out[4 * 2048 + 8], ts[32];
	struct timespec now;
	struct tm tm;

	if (lvl == LOG_LVL_DEBUG && !log_debug_enabled())
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	escape(msg, out, sizeof(out));
	fprintf(stderr, "time=%s.%03ldZ level=%s msg=\"%s%s%s\"\n", ts, now.tv_nsec / 1000000,
		names[lvl], out, err ? ": " : "", err ? err : "");
}

#define LOGGER(name, lvl, with_errno)                                    \
	void name(const char *fmt, ...)                                  \
	{                                                                \
		const char *err = (with_errno) ? strerror(errno) : NULL; \
		va_list ap;                                              \
		va_start(ap, fmt);                                       \
		vlog(lvl, err, fmt, ap);                                 \
		va_end(ap);                                              \
	}

LOGGER(log_error, LOG_LVL_ERROR, 0)
LOGGER(log_warn, LOG_LVL_WARN, 1)
LOGGER(log_warnx, LOG_LVL_WARN, 0)
LOGGER(log_info, LOG_LVL_INFO, 0)
LOGGER(log_debug, LOG_LVL_DEBUG, 0)

void log_diag_lines(const char *prefix, const struct diags *d)
{
	char line[DIAG_FILE_LEN + DIAG_MSG_LEN + 32];

	diag_for_each(g, d) {
		diag_format(g, line, sizeof(line));
		if (g->level == DIAG_ERROR)
			log_error("%s: %s", prefix, line);
		else
			log_warnx("%s: %s", prefix, line);
	}
	if (d->dropped)
		log_warnx("%s: %zu more problems not shown", prefix, d->dropped);
}
