/* masqctl explain --live: one destination explained by the running masqd,
 * from its sources with their origins, checked against the kernel's set. */
#ifndef MASQ_EXPLAIN_LIVE_H
#define MASQ_EXPLAIN_LIVE_H

struct intake;
struct masq_snat;
struct masqd_stats;
struct nft_sock;
struct podsrc;

/* The answer to the status socket's request "explain ADDR": a malloc'ed
 * JSON document ({"error": ...} for a bad address), or NULL on ENOMEM.
 * snat: the SNAT addresses in force per family ([0] IPv4, [1] IPv6), NULL
 * when none is asked for; pods: the pod-source scope in force; st: the
 * other NAT chains at the hook, last found (each says whether it overrides
 * the decision for addr). */
char *explain_live(struct intake *in, struct nft_sock *nft, const struct masq_snat *snat,
		   const struct podsrc *pods, const struct masqd_stats *st, const char *addr);

#endif
