/* Listen addresses as kube-proxy's --metrics-bind-address takes them. */
#ifndef MASQ_HOSTPORT_H
#define MASQ_HOSTPORT_H

#include <sys/socket.h>

/* Parse "IP:PORT", "[IPv6]:PORT" or ":PORT" (every IPv4 address). Port
 * 1..65535. Returns 0 or -EINVAL. */
int hostport_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len)
	__attribute__((warn_unused_result));

#endif
