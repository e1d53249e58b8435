/* libFuzzer target: Go duration strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/duration.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t ns;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)!duration_parse(s, &ns);
	free(s);
	return 0;
}
