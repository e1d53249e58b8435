/* libFuzzer target: any bytes as an ip-masq-agent config. A config that
 * parses must also build and render a ruleset. */
#include <stdio.h>
#include <stdlib.h>

#include "config/config.h"
#include "config/ruleset.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct masq_opts opts = { .enable_ipv6 = size & 1, .all_reserved = size & 2 };
	struct masq_config *cfg;
	struct masq_ruleset *rs;
	struct diags d;

	diags_init(&d);
	if (cfg_parse_buf("fuzz", (const char *)data, size, &opts, &cfg, &d) < 0)
		return 0;
	if (masq_ruleset_build(cfg, &opts, &rs) == 0) {
		FILE *f = fopen("/dev/null", "w");
		if (f) {
			if (masq_ruleset_render(rs, f) < 0)
				abort();
			fclose(f);
		}
		masq_ruleset_free(rs);
	}
	cfg_free(cfg);
	return 0;
}
