/* Common includes for the cmocka unit tests, and the helpers several of
 * them share: files written into temporary directories. */
#ifndef MASQ_UNIT_H
#define MASQ_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Write text to base/name (created or replaced). */
static inline void unit_put(const char *base, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", base, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Remove base/name, which must exist. */
static inline void unit_drop(const char *base, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", base, name);
	assert_int_equal(unlink(path), 0);
}

/* A new directory /tmp/masqd-TAG-XXXXXX, its name in buf (64 bytes). */
static inline void unit_tmpdir(char buf[64], const char *tag)
{
	snprintf(buf, 64, "/tmp/masqd-%s-XXXXXX", tag);
	assert_non_null(mkdtemp(buf));
}

/* Remove the directories a and b and all below them. */
static inline void unit_rmdirs(const char *a, const char *b)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", a, b);
	assert_int_equal(system(cmd), 0);
}

#endif
