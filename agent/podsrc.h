/* Pod-source scoping in the agent: --pod-cidr, and with --pod-cidr-from-node
 * the Node's spec.podCIDRs as the API watch gives them. The scope in force
 * is their union, logged once per change and kept in the stats. Until the
 * Node has pod CIDRs (IPAM assigns them after the node registers), a family
 * without any is decided for every source: upstream's behaviour, the safe
 * choice for a drop-in replacement. */
#ifndef MASQ_AGENT_PODSRC_H
#define MASQ_AGENT_PODSRC_H

#include <stdbool.h>

#include "agent/agent.h"
#include "agent/kube.h"
#include "agent/stats.h"
#include "config/podsrc.h"

struct nft_sock;
struct podsrc_follow;

/* For the settings s and the stats st (both borrowed); logs the scope at
 * start. NULL on ENOMEM. */
struct podsrc_follow *podsrc_follow_new(const struct agent_settings *s, struct masqd_stats *st);

/* Free it; NULL is fine. */
void podsrc_follow_free(struct podsrc_follow *f);

/* Take what the API says of the Node now (k NULL: nothing yet). Returns
 * true when the scope in force changed (logged); a Node that changed in
 * anything else (its status, every few minutes) changes nothing. */
bool podsrc_follow_kube(struct podsrc_follow *f, const struct kube_client *k);

/* The same with what the API says of the Node (kube_client_node): a Node
 * that no longer exists keeps the pod CIDRs it had, since its pods keep
 * their addresses; a Node that exists is taken as it says. */
bool podsrc_follow_node(struct podsrc_follow *f, const struct node_pods *n);

/* At the first sync, before the API has said what the Node holds (no
 * answer in time, or only a version that was refused): keep the pod sets
 * the kernel holds, those a previous masqd programmed, until it does. An API outage never removes rules. Returns
 * true when the scope in force changed (logged). */
bool podsrc_follow_kernel(struct podsrc_follow *f, struct nft_sock *nft);

/* The scope in force. */
const struct podsrc *podsrc_follow_now(const struct podsrc_follow *f);

#endif
