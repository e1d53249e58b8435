/* Command-line flags as Go's flag package reads them. */
#include "config/flags.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False. */
static int flags_parse_bool(const char *s, bool *ret)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(s, t[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static const struct flag_def *find_flag(const struct flag_def *defs, const char *name, size_t len)
{
	for (; defs->name; defs++) {
		if (strlen(defs->name) == len && strncmp(defs->name, name, len) == 0)
			return defs;
	}
	return NULL;
}

static void note_ignored(struct flag_ctx *ctx, const char *name)
{
	size_t used = strlen(ctx->ignored);

	snprintf(ctx->ignored + used, sizeof(ctx->ignored) - used, "%s--%s", used ? ", " : "",
		 name);
}

static int set_value(const struct flag_def *f, const char *val, struct flag_ctx *ctx)
{
	char *end;
	long v;

	switch (f->type) {
	case FLAG_BOOL:
		if (flags_parse_bool(val, f->ptr) == 0)
			return 0;
		break;
	case FLAG_STRING:
		*(const char **)f->ptr = val;
		return 0;
	case FLAG_STRINGS: {
		struct flag_strings *l = f->ptr;
		if (l->n == FLAG_STRINGS_MAX) {
			snprintf(ctx->err, sizeof(ctx->err), "flag --%s given more than %d times",
				 f->name, FLAG_STRINGS_MAX);
			return -EINVAL;
		}
		l->v[l->n++] = val;
		return 0;
	}
	case FLAG_INT:
		errno = 0;
		v = strtol(val, &end, 0);
		if (*val && !*end && !errno && v >= INT_MIN && v <= INT_MAX) {
			*(int *)f->ptr = (int)v;
			return 0;
		}
		break;
	case FLAG_IGNORED_BOOL: {
		bool b;
		if (flags_parse_bool(val, &b) < 0)
			break;
	}
		/* fall through */
	case FLAG_IGNORED_VALUE:
		note_ignored(ctx, f->name);
		return 0;
	}
	snprintf(ctx->err, sizeof(ctx->err), "invalid value \"%s\" for flag --%s", val, f->name);
	return -EINVAL;
}

/* One flag argument at argv[*i]; may consume the next one as its value. */
static int parse_one(const struct flag_def *defs, int argc, char **argv, int *i,
		     struct flag_ctx *ctx)
{
	const char *arg = argv[*i], *name = arg + 1, *eq;
	const struct flag_def *f;
	size_t len;

	if (*name == '-')
		name++;
	if (*name == '\0' || *name == '-' || *name == '=') {
		snprintf(ctx->err, sizeof(ctx->err), "bad flag syntax: %s", arg);
		return -EINVAL;
	}
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	f = find_flag(defs, name, len);
	if (!f) {
		snprintf(ctx->err, sizeof(ctx->err), "flag provided but not defined: -%.*s",
			 (int)len, name);
		return -EINVAL;
	}
	if (eq)
		return set_value(f, eq + 1, ctx);
	if (f->type == FLAG_BOOL || f->type == FLAG_IGNORED_BOOL)
		return set_value(f, "true", ctx);
	if (*i + 1 >= argc) {
		snprintf(ctx->err, sizeof(ctx->err), "flag needs an argument: -%s", f->name);
		return -EINVAL;
	}
	return set_value(f, argv[++*i], ctx);
}

int flags_parse(const struct flag_def *defs, int argc, char **argv, int first, struct flag_ctx *ctx)
{
	bool only_args = false;
	int r;

	memset(ctx, 0, sizeof(*ctx));
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];

		if (!only_args && strcmp(a, "--") == 0) {
			only_args = true;
			continue;
		}
		if (only_args || a[0] != '-' || a[1] == '\0') {
			if (ctx->nargs == sizeof(ctx->args) / sizeof(ctx->args[0])) {
				snprintf(ctx->err, sizeof(ctx->err), "too many arguments");
				return -EINVAL;
			}
			ctx->args[ctx->nargs++] = argv[i];
			continue;
		}
		r = parse_one(defs, argc, argv, &i, ctx);
		if (r < 0)
			return r;
	}
	return 0;
}

void flags_print_help(const struct flag_def *defs, FILE *f)
{
	for (; defs->name; defs++) {
		char left[64];

		if (!defs->help)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", defs->name, defs->metavar ? " " : "",
			 defs->metavar ? defs->metavar : "");
		if (strlen(left) < 30)
			fprintf(f, "  %-30s %s\n", left, defs->help);
		else
			fprintf(f, "  %s\n  %-30s %s\n", left, "", defs->help);
	}
}
