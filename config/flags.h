/* Command-line flags parsed the way Go's flag package does (-flag, --flag=v,
 * --flag v, bools as --flag or --flag=false), so upstream's manifests work
 * unchanged. Unlike Go, flags may follow positional arguments (GNU style). */
#ifndef MASQ_FLAGS_H
#define MASQ_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum flag_type {
	FLAG_BOOL, /* bool *ptr */
	FLAG_STRING, /* const char **ptr */
	FLAG_INT, /* int *ptr */
	FLAG_STRINGS, /* struct flag_strings *ptr: each use adds a value */
	FLAG_IGNORED_BOOL, /* accepted for compatibility, named in ctx->ignored */
	FLAG_IGNORED_VALUE, /* the same, with a value */
};

#define FLAG_STRINGS_MAX 4 /* values a FLAG_STRINGS flag may take */

struct flag_strings {
	const char *v[FLAG_STRINGS_MAX];
	size_t n;
};

struct flag_def {
	const char *name;
	enum flag_type type;
	void *ptr;
	const char *metavar; /* value placeholder in --help */
	const char *help; /* NULL hides the flag from --help */
};

/* klog's flags, accepted with a warning so upstream's manifests run as they are.
 * --v is not here: it sets the verbosity. */
#define FLAG_KLOG_B(n)                               \
	{                                            \
		.name = n, .type = FLAG_IGNORED_BOOL \
	}
#define FLAG_KLOG_V(n)                                \
	{                                             \
		.name = n, .type = FLAG_IGNORED_VALUE \
	}
#define FLAGS_KLOG                                                                               \
	FLAG_KLOG_B("logtostderr"), FLAG_KLOG_B("alsologtostderr"), FLAG_KLOG_B("skip_headers"), \
		FLAG_KLOG_B("skip_log_headers"), FLAG_KLOG_B("add_dir_header"),                  \
		FLAG_KLOG_B("one_output"), FLAG_KLOG_V("log_dir"), FLAG_KLOG_V("log_file"),      \
		FLAG_KLOG_V("log_file_max_size"), FLAG_KLOG_V("stderrthreshold"),                \
		FLAG_KLOG_V("vmodule"), FLAG_KLOG_V("log_backtrace_at"),                         \
		FLAG_KLOG_V("log_flush_frequency")
#define FLAGS_END            \
	{                    \
		.name = NULL \
	}

struct flag_ctx {
	char err[256]; /* why parsing failed */
	char ignored[256]; /* klog flags seen, comma-separated */
	char *args[16]; /* positional arguments, in order */
	size_t nargs;
};

/* Parse argv[first..argc) against defs (terminated by a NULL name).
 * Returns 0, or -EINVAL with ctx->err set. */
int flags_parse(const struct flag_def *defs, int argc, char **argv, int first, struct flag_ctx *ctx)
	__attribute__((warn_unused_result));

/* Print the --help lines of defs to f. */
void flags_print_help(const struct flag_def *defs, FILE *f);

#endif
