/* Loading a shared library when a feature starts, not at exec: libcurl and
 * libmicrohttpd bring GnuTLS and some thirty libraries that masqd --once
 * and --cleanup never need (measured: about 3.5 ms of every exec). */
#ifndef MASQ_DL_H
#define MASQ_DL_H

#include <stddef.h>

/* One function to look up: its name, and the pointer to fill in. */
struct dl_sym {
	const char *name;
	void **ptr;
};

/* Open soname and fill in every pointer of syms. On failure, no pointer
 * is left set, the library is closed again, and err says which symbol or
 * library was missing. Returns 0 (with *ret_lib) or -ENOENT. */
int dl_load(const char *soname, const struct dl_sym *syms, size_t n, void **ret_lib, char *err,
	    size_t errlen) __attribute__((warn_unused_result));

#endif
