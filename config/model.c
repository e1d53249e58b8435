/* The config model's life outside the parser: upstream's defaults, reading
 * and loading a file, equality and freeing. */
#include "config/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/file.h"
#include "config/lpm.h"

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

size_t cfg_link_local(const struct masq_config *cfg, const struct masq_opts *opts,
		      struct cidr ret[2])
{
	size_t n = 0;

	if (!cfg->masq_link_local)
		ret[n++] = (struct cidr){ .family = AF_INET, .addr = { 169, 254 }, .plen = 16 };
	if (opts->enable_ipv6 && !cfg->masq_link_local6)
		ret[n++] = (struct cidr){ .family = AF_INET6, .addr = { 0xfe, 0x80 }, .plen = 10 };
	return n;
}

int cfg_conflicts(const struct masq_config *cfg, const struct masq_opts *opts, bool link_local,
		  size_t *ret)
{
	struct cidr *keep;
	size_t n = cfg->ncidrs;
	int r;

	if (cfg->nmasq == 0)
		return 0; /* nothing to compare: a large plain config costs nothing more */
	keep = malloc((cfg->ncidrs + 2) * sizeof(*keep));
	if (!keep)
		return -ENOMEM;
	if (n)
		memcpy(keep, cfg->cidrs, n * sizeof(*keep));
	if (link_local)
		n += cfg_link_local(cfg, opts, keep + n);
	r = lpm_common(keep, n, cfg->masq_cidrs, cfg->nmasq, ret);
	for (size_t j = 0; r > 0 && j < cfg->nmasq; j++) {
		if (ret[j] != SIZE_MAX && ret[j] >= cfg->ncidrs)
			ret[j] = CFG_LINK_LOCAL;
	}
	free(keep);
	return r;
}

static bool cidrs_equal(const struct cidr *a, size_t na, const struct cidr *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

bool cfg_equal(const struct masq_config *a, const struct masq_config *b)
{
	return a->masq_link_local == b->masq_link_local &&
	       a->masq_link_local6 == b->masq_link_local6 &&
	       cidrs_equal(a->cidrs, a->ncidrs, b->cidrs, b->ncidrs) &&
	       cidrs_equal(a->masq_cidrs, a->nmasq, b->masq_cidrs, b->nmasq);
}

void cfg_free(struct masq_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->cidrs);
	free(cfg->pos);
	free(cfg->masq_cidrs);
	free(cfg->masq_pos);
	free(cfg);
}
