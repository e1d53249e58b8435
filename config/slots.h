/* The last good version of each config file read by config/sources.c
 * (its "slot"): the bytes of its last good parse, so an unchanged file is
 * not parsed again, and what that parse produced. Internal to config/. */
#ifndef MASQ_SLOTS_H
#define MASQ_SLOTS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "config/diag.h"
#include "config/policy.h"
#include "config/sources.h"

/* A second definition of a name in one policy file: the first one stands,
 * and this one is refused again at every load, where it came in the file. */
struct pdup {
	char name[POLICY_NAME_MAX + 1];
	unsigned line;
	size_t at; /* how many of the file's policies came before it */
};

/* The bytes of a file's last good parse and the problems that parse
 * reported: a load where the file has not changed skips the parse (30 ms
 * per load at 100,000 CIDRs, for every API event) and reports them again. */
struct parsed {
	char *bytes;
	size_t len;
	struct diag *said;
	size_t nsaid;
	bool rejected; /* a policy file: some of its policies were refused */
};

/* The last good version of one file. */
struct slot {
	char *path;
	struct parsed last;
	struct masq_config *cfg; /* ip-masq files */
	struct pstore *policies; /* policy files: each policy's last good version */
	struct pdup *dups; /* policy files: second definitions */
	size_t ndups, dupcap;
	bool have;
	bool seen; /* present in this load */
};

struct slots {
	struct slot *v;
	size_t n;
};

void parsed_clear(struct parsed *p);

/* Keep buf (taken) and what the parse added to d since n0, unless d
 * dropped some of it (then the next load parses again). */
void parsed_keep(struct parsed *p, char *buf, size_t len, const struct diags *d, size_t n0,
		 size_t dropped0);

/* buf is what the last good parse read: report what it said again (true),
 * or it is not (false). */
bool parsed_same(const struct parsed *p, const char *buf, size_t len, struct diags *d);

void slot_clear(struct slot *sl);
void slots_free(struct slots *s);

/* The slot of path, found by binary search (slots are kept in path order),
 * or a new one; NULL when out of memory. Pointers to slots last until the
 * next slot_get. */
struct slot *slot_get(struct slots *s, const char *path);

/* Forget the files that were not seen in this load. */
void slots_sweep(struct slots *s);

/* The entries of dir whose names pass want(), sorted; hidden ones never;
 * at most SOURCES_MAX_FILES (an error in d past it). 0, or -errno (a
 * missing dir is empty). */
int slots_list_dir(const char *dir, bool (*want)(const char *), char ***ret, size_t *ret_n,
		   struct diags *d);
void slots_free_names(char **names, size_t n);

#endif
