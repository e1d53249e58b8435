/* dl_load: one symbol-table loader for the libraries opened with dlopen. */
#include "agent/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

int dl_load(const char *soname, const struct dl_sym *syms, size_t n, void **ret_lib, char *err,
	    size_t errlen)
{
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		snprintf(err, errlen, "cannot load %s: %s", soname, dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		if ((*syms[i].ptr = dlsym(lib, syms[i].name)))
			continue;
		snprintf(err, errlen, "%s has no %s", soname, syms[i].name);
		for (size_t j = 0; j < i; j++)
			*syms[j].ptr = NULL;
		dlclose(lib);
		return -ENOENT;
	}
	*ret_lib = lib;
	return 0;
}
