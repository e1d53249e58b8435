/* The config model's life outside the parser: upstream's defaults, reading
 * and loading a file, equality and freeing. */
#include "config/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/file.h"

static const char *const rfc1918[] = { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16" };

/* upstream's --nomasq-all-reserved-ranges list, in upstream's order */
static const char *const reserved[] = {
	"10.0.0.0/8",	   "172.16.0.0/12",  "192.168.0.0/16", "100.64.0.0/10",
	"192.0.0.0/24",	   "192.0.2.0/24",   "192.88.99.0/24", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
};

static int cidrs_from_strings(const char *const *list, size_t n, struct masq_config *cfg)
{
	cfg->cidrs = calloc(n, sizeof(*cfg->cidrs));
	if (!cfg->cidrs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (cidr_parse(list[i], &cfg->cidrs[i], NULL) < 0)
			return -EINVAL;
	}
	cfg->ncidrs = n;
	return 0;
}

struct masq_config *cfg_alloc(void)
{
	struct masq_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->resync_ns = MASQ_DEFAULT_RESYNC_NS;
	cfg->cidr_limit = MASQ_DEFAULT_CIDR_LIMIT;
	return cfg;
}

int cfg_set_defaults(const struct masq_opts *opts, struct masq_config *cfg)
{
	if (opts->all_reserved)
		return cidrs_from_strings(reserved, sizeof(reserved) / sizeof(reserved[0]), cfg);
	return cidrs_from_strings(rfc1918, sizeof(rfc1918) / sizeof(rfc1918[0]), cfg);
}

int cfg_new_defaults(const struct masq_opts *opts, struct masq_config **ret)
{
	struct masq_config *cfg = cfg_alloc();
	int r;

	if (!cfg)
		return -ENOMEM;
	r = cfg_set_defaults(opts, cfg);
	if (r < 0) {
		cfg_free(cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}

int cfg_read_file(const char *path, char **ret_buf, size_t *ret_len, struct diags *d)
{
	int r = file_read_bounded(path, MASQ_FILE_MAX, ret_buf, ret_len);

	switch (r) {
	case 0:
	case -ENOENT:
		break;
	case -EISDIR:
		diag_add(d, DIAG_ERROR, path, 0, 0, "is a directory; --config must name a file");
		return -EINVAL;
	case -EINVAL:
		diag_add(d, DIAG_ERROR, path, 0, 0, "is not a regular file");
		break;
	case -EFBIG:
		diag_add(d, DIAG_ERROR, path, 0, 0,
			 "file is %s%zu bytes, larger than the %u-byte limit",
			 *ret_len ? "" : "over ", *ret_len ? *ret_len : (size_t)MASQ_FILE_MAX,
			 MASQ_FILE_MAX);
		break;
	default:
		diag_add(d, DIAG_ERROR, path, 0, 0, "cannot read: %s", strerror(-r));
		break;
	}
	return r;
}

int cfg_load_file(const char *path, const struct masq_opts *opts, struct masq_config **ret,
		  struct diags *d)
{
	size_t len = 0;
	char *buf = NULL;
	int r = cfg_read_file(path, &buf, &len, d);

	if (r == -ENOENT)
		return cfg_new_defaults(opts, ret); /* upstream: no file means defaults */
	if (r < 0)
		return r;
	r = cfg_parse_buf(path, buf, len, opts, ret, d);
	free(buf);
	return r;
}

bool cfg_equal(const struct masq_config *a, const struct masq_config *b)
{
	return a->ncidrs == b->ncidrs && a->masq_link_local == b->masq_link_local &&
	       a->masq_link_local6 == b->masq_link_local6 &&
	       (a->ncidrs == 0 || memcmp(a->cidrs, b->cidrs, a->ncidrs * sizeof(*a->cidrs)) == 0);
}

void cfg_free(struct masq_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->cidrs);
	free(cfg);
}
