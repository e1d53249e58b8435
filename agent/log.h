/* One line per event on stderr: time, level, message (logfmt).
 * log_warn adds strerror(errno), log_warnx does not, as OpenNTPD's log.c. */
#ifndef MASQ_LOG_H
#define MASQ_LOG_H

struct diags;

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Show messages up to info, plus debug when verbosity >= 2 (klog's --v). */
void log_init(int verbosity);

/* Nonzero when debug messages are shown. */
int log_debug_enabled(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Each problem of d as one line, "PREFIX: FILE:LINE:COL: message", at its
 * own level (error or warning), then how many more were not kept. */
void log_diag_lines(const char *prefix, const struct diags *d);

#endif
