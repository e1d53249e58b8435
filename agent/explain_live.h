/* masqctl explain --live: one destination explained by the running masqd,
 * from its sources with their origins, checked against the kernel's set. */
#ifndef MASQ_EXPLAIN_LIVE_H
#define MASQ_EXPLAIN_LIVE_H

struct intake;
struct nft_sock;

/* The answer to the status socket's request "explain ADDR": a malloc'ed
 * JSON document ({"error": ...} for a bad address), or NULL on ENOMEM. */
char *explain_live(struct intake *in, struct nft_sock *nft, const char *addr);

#endif
