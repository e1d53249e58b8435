/* A GETSETELEM request for one key: on an interval set the kernel answers
 * with the element of the interval holding it, or ENOENT. */
#include "netlink/lookup.h"

#include <arpa/inet.h> /* before the kernel headers, which redefine in.h */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <sys/socket.h>

#include "config/ruleset.h"
#include "netlink/sock.h"

static int found_cb(const struct nlmsghdr *nlh, void *data)
{
	*(bool *)data = true; /* a NEWSETELEM: the element holding the key */
	return MNL_CB_OK;
}

int nft_set_lookup(struct nft_sock *sock, const struct cidr *addr, bool *ret_found)
{
	char buf[NFT_REQ_LEN] __attribute__((aligned(8)));
	size_t len = cidr_addr_len(addr->family);
	struct nlattr *list, *elem, *key;
	struct nlmsghdr *nlh;
	int r;

	*ret_found = false;
	if (!len)
		return -EAFNOSUPPORT;
	nlh = nft_sock_req_start(sock, buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_ACK);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, MASQ_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET,
			  addr->family == AF_INET6 ? MASQ_SET6 : MASQ_SET4);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, addr->addr);
	mnl_attr_nest_end(nlh, key);
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	r = nft_sock_request(sock, nlh, found_cb, ret_found);
	if (r == -ENOENT && *ret_found == false) {
		/* no element holds it; an absent table or set is ENOENT as well,
		 * which the caller tells apart by the table it programmed */
		return 0;
	}
	return r;
}
