/* What one ip-masq-agent document said, as written: the parser's result
 * (config/config.c) and the input of the checks that build a config from it
 * (config/build.c). Internal to config/. */
#ifndef MASQ_WRITTEN_H
#define MASQ_WRITTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* A scalar as written, with where it was written. */
struct item {
	char *text;
	unsigned line, col;
};

enum key_id { KEY_CIDRS, KEY_LIMIT, KEY_LL, KEY_LL6, KEY_RESYNC, KEY_MASQ, KEY_COUNT };

/* The two CIDR lists, as written. */
enum list_id { LIST_KEEP, LIST_MASQ };
struct items {
	struct item *v;
	size_t n;
};

struct written {
	const char *name;
	struct diags *d;
	const struct masq_opts *opts;
	unsigned seen_line[KEY_COUNT]; /* 0: key absent */
	unsigned key_col[KEY_COUNT];
	struct items list[2]; /* nonMasqueradeCIDRs, masqueradeCIDRs */
	bool ll, ll6;
	long long limit;
	int64_t resync_ns;
	bool member; /* a file of a config directory (v2's rules) */
};

/* Check what w says and build cfg from it (cfg from cfg_alloc); problems go
 * to w->d. Returns 0, or -ENOMEM. */
int written_build(const struct written *w, struct masq_config *cfg)
	__attribute__((warn_unused_result));

#endif
