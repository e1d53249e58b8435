/* EgressNATPolicies of one source (a policy file, or the API), one version
 * per name: the last good one. Pure (no I/O, no logging) and hashed by name. */
#ifndef MASQ_PSTORE_H
#define MASQ_PSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "config/policy.h"

/* "A rejected policy keeps its last good version", written once. */
struct pstore;

struct pstore *pstore_new(void);

/* NULL is fine. */
void pstore_free(struct pstore *s);

/* Bound what the store holds: at most max_policies policies and max_cidrs
 * CIDRs in all (0: no bound). Past it, names are taken in strcmp order: the
 * store keeps the longest run of names, in that order, that fits, and
 * refuses or evicts the rest, whatever order they came in. After deletes,
 * only a relist takes refused names back in (the caller relists). */
void pstore_set_budget(struct pstore *s, size_t max_policies, size_t max_cidrs);

/* A valid version of p->name (copied): the one stored goes, and the new one
 * comes last in pstore_policies, as an edit did before the store existed.
 * The name is no longer rejected. Returns 0, -EDQUOT when it is over the
 * budget (then it is not stored, and counts in pstore_nover), or -ENOMEM.
 * Names after it by order may be evicted to make room (pstore_evicted). */
int pstore_put(struct pstore *s, const struct masq_policy *p) __attribute__((warn_unused_result));

/* The latest version of name was rejected: it stays rejected until a put or
 * a delete, and its last good version stays in use (during a relist, the
 * previous generation's, which then joins the new one). Returns 1 when a
 * last good version stands in, 0 when there is none, or -ENOMEM. */
int pstore_reject(struct pstore *s, const char *name) __attribute__((warn_unused_result));

/* The source no longer has name. */
void pstore_delete(struct pstore *s, const char *name);

/* A relist (the API's list, or a file read again) builds a new generation:
 * after begin the store is empty, and puts and rejects fill it; end drops
 * the previous generation, so whatever the relist did not name is gone. */
void pstore_relist_begin(struct pstore *s);
void pstore_relist_end(struct pstore *s);

/* The relist failed part way: the previous generation is back, as if the
 * relist had not begun. */
void pstore_relist_abort(struct pstore *s);

/* The version of name in use (in the generation being built, during a
 * relist); NULL when there is none. */
const struct masq_policy *pstore_get(const struct pstore *s, const char *name);

/* Every policy in use, each name once. Valid until the next change. */
const struct masq_policy_list *pstore_policies(const struct pstore *s);

/* The policies of the last finished generation: during a relist, the one
 * it replaces. */
const struct masq_policy_list *pstore_settled(const struct pstore *s);

/* How many names are rejected now (in the generation being built). */
size_t pstore_nrejected(const struct pstore *s);

/* How many names are over the budget now, and the first of them by order
 * (NULL when none): every name after it is over too. */
size_t pstore_nover(const struct pstore *s);
const char *pstore_over_first(const struct pstore *s);

/* CIDRs of the policies in use. */
size_t pstore_ncidrs(const struct pstore *s);

/* Policies evicted to make room for one before them by order, since
 * pstore_new. */
uint64_t pstore_evicted(const struct pstore *s);

/* Hash slots examined since pstore_new, so tests can check that the work
 * grows with the number of policies, not with its square. */
uint64_t pstore_probes(const struct pstore *s);

/* Names claimed across the sources of one load, in their order: the first
 * source to name a policy has it, and a later one is refused. */
struct pstore_claims;

struct pstore_claims *pstore_claims_new(void);
void pstore_claims_free(struct pstore_claims *c);

/* Claim name for origin (both borrowed: they must outlive c). Returns 0,
 * -EEXIST with *ret_other set to the origin that has it, or -ENOMEM. */
int pstore_claim(struct pstore_claims *c, const char *name, const char *origin,
		 const char **ret_other) __attribute__((warn_unused_result));

#endif
