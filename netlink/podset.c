/* The pod sets read back, element by element, into intervals. */
#include "netlink/podset.h"

#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config/ruleset.h"
#include "netlink/sock.h"

/* A start element and the end element after it (last + 1), both keys. */
struct podset_elem {
	uint8_t key[16];
	bool end;
};

struct podset_read {
	struct podset_elem e[2 * NFT_PODSET_MAX + 1];
	size_t n, len;
	int err;
};

static int elem_take(struct nftnl_set_elem *el, void *data)
{
	struct podset_read *d = data;
	uint32_t klen = 0;
	const void *k = nftnl_set_elem_get(el, NFTNL_SET_ELEM_KEY, &klen);
	uint32_t flags = nftnl_set_elem_is_set(el, NFTNL_SET_ELEM_FLAGS)
				 ? nftnl_set_elem_get_u32(el, NFTNL_SET_ELEM_FLAGS)
				 : 0;

	if (!k || klen != d->len) {
		d->err = -EBADMSG;
		return -1;
	}
	if (d->n == sizeof(d->e) / sizeof(d->e[0])) {
		d->err = -E2BIG;
		return -1;
	}
	memcpy(d->e[d->n].key, k, klen);
	d->e[d->n++].end = flags & NFT_SET_ELEM_INTERVAL_END;
	return 0;
}

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
	struct podset_read *d = data;
	struct nftnl_set *s = nftnl_set_alloc();
	int r;

	if (!s)
		return MNL_CB_ERROR;
	r = nftnl_set_elems_nlmsg_parse(nlh, s);
	if (r == 0)
		r = nftnl_set_elem_foreach(s, elem_take, d);
	nftnl_set_free(s);
	if (r < 0 && !d->err)
		d->err = -EBADMSG;
	return r < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int cmp_elem(const void *a, const void *b, void *len)
{
	const struct podset_elem *x = a, *y = b;
	int c = memcmp(x->key, y->key, *(size_t *)len);

	/* an end (last + 1) before the start at the same key: adjacent */
	return c ? c : (int)y->end - (int)x->end;
}

/* Pair each start with the end that follows it; a start at the last
 * place has no end (it runs to all-ones). */
static int pair(struct podset_read *d, struct addr_range *ret)
{
	size_t n = 0, i = 0;

	qsort_r(d->e, d->n, sizeof(d->e[0]), cmp_elem, &d->len);
	while (i < d->n && d->e[i].end && !memcmp(d->e[i].key, (uint8_t[16]){ 0 }, d->len))
		i++; /* nft's leading all-zero end element */
	for (; i < d->n; i++) {
		if (d->e[i].end || n == NFT_PODSET_MAX)
			return d->e[i].end ? -EBADMSG : -E2BIG;
		memcpy(ret[n].lo, d->e[i].key, d->len);
		memset(ret[n].hi, 0xff, d->len);
		if (i + 1 < d->n && d->e[i + 1].end) {
			memcpy(ret[n].hi, d->e[++i].key, d->len);
			/* the end element is last + 1 */
			for (size_t b = d->len; b-- > 0;) {
				if (ret[n].hi[b]--)
					break;
			}
		}
		n++;
	}
	return (int)n;
}

int nft_podset_read(struct nft_sock *sock, int family, struct addr_range ret[NFT_PODSET_MAX])
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	struct podset_read *d = calloc(1, sizeof(*d));
	struct nlmsghdr *nlh;
	int r;

	if (!d)
		return -ENOMEM;
	d->len = cidr_addr_len(family);
	nlh = nft_sock_req_start(sock, buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, MASQ_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, masq_ruleset_pod_set_name(family));
	r = nft_sock_request(sock, nlh, elems_cb, d);
	if (d->err)
		r = d->err;
	if (r == -ENOENT)
		r = 0; /* no table, or no pod set in it */
	else if (r == 0)
		r = pair(d, ret);
	free(d);
	return r;
}
