/* What masqd reads: every config source loaded and merged (each keeping its
 * last good version), the problems reported once, the API's inputs and the
 * ConfigMap's precedence over the mounted file. Keeps the last good config
 * and its generation. */
#ifndef MASQ_INTAKE_H
#define MASQ_INTAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/kube.h"
#include "agent/stats.h"
#include "config/explain.h"
#include "config/kubeconfig.h"

struct intake;

/* For the settings s (borrowed), counting into st (borrowed). NULL on ENOMEM. */
struct intake *intake_new(const struct agent_settings *s, struct masqd_stats *st);

/* Free it; NULL is fine. */
void intake_free(struct intake *in);

/* Load every source. Returns 0 when all were good, 1 when some were not
 * (their last good versions stand in), -EAGAIN when a failed source had
 * nothing to stand in for it on the very first load (*ret_partial, when
 * given, then holds the merge without it), or -errno. */
int intake_load(struct intake *in, struct masq_config **ret_partial)
	__attribute__((warn_unused_result));

/* The last good config (NULL before one loaded), and its generation, which
 * moves when a load differs from the one before. */
const struct masq_config *intake_good(const struct intake *in);
uint64_t intake_gen(const struct intake *in);

/* Take cfg as the last good config (the first sync's stand-in). */
void intake_adopt(struct intake *in, struct masq_config *cfg);

/* The resync interval the config asks for. */
int64_t intake_resync_ns(const struct intake *in);

/* True when --config is a directory (its entries need watching too). */
bool intake_is_dir(const struct intake *in);

/* Read the API's inputs from k (borrowed; NULL: none) from now on. */
void intake_use_kube(struct intake *in, struct kube_client *k);

/* The API watch says res changed: follow the ConfigMap's health. */
void intake_kube_changed(struct intake *in, enum kube_res res);

/* Explain dest from the sources as they are now, read afresh with origins
 * as FILE:LINE (the parses masqd keeps have none), under the pod-source
 * scope pods (the one in force); *ret_current says whether they give the
 * config last applied. ret_e borrows ret_m: clear both. Returns 0 or -errno. */
int intake_explain(struct intake *in, const struct cidr *dest, const struct podsrc *pods,
		   struct masq_merged *ret_m, struct explain *ret_e, bool *ret_current)
	__attribute__((warn_unused_result));

/* API access: --kubeconfig, else --apiserver-url (with the service
 * account's token and CA when there is one), else in-cluster. Problems are
 * logged. Returns 0 or -errno. */
int intake_kube_access(const struct agent_settings *s, struct kube_access *ret)
	__attribute__((warn_unused_result));

#endif
