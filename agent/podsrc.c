/* Following the pod-source scope: flags and the Node in, one log line per
 * change out, and the stats metrics and status read. */
#include "agent/podsrc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/log.h"
#include "netlink/podset.h"

struct podsrc_follow {
	const struct agent_settings *set;
	struct masqd_stats *st;
	bool listed; /* the API answered for the Node */
	struct node_pods node; /* what it gave */
	struct podsrc now; /* in force */
	bool v6_ignored; /* an IPv6 pod CIDR without --enable-ipv6: said once */
	bool have_kept; /* the kernel's pod sets, kept until the Node is known */
	struct podsrc kept;
};

static const char *const fam[2] = { "IPv4", "IPv6" };

/* --pod-cidr's, plus the Node's of the families masqd decides. */
static void compute(struct podsrc_follow *f, struct podsrc *ret)
{
	char c[CIDR_STRLEN];

	*ret = f->set->opts.pods;
	if (f->have_kept) {
		for (int fi = 0; fi < (f->set->opts.enable_ipv6 ? 2 : 1); fi++) {
			for (size_t i = 0; i < f->kept.n[fi]; i++) {
				if (podsrc_add(ret, &f->kept.v[fi][i]) < 0) {
					log_warnx("pod-source scope: the kernel's pod CIDRs "
						  "and --pod-cidr's do not fit in %d",
						  PODSRC_MAX);
					break;
				}
			}
		}
		return;
	}
	for (size_t i = 0; i < f->node.n; i++) {
		const struct cidr *v = &f->node.v[i];

		cidr_format(v, c);
		if (v->family == AF_INET6 && !f->set->opts.enable_ipv6) {
			if (!f->v6_ignored)
				log_info(
					"pod-source scope: node %s's IPv6 pod CIDR %s is not used: "
					"IPv6 is left alone without --enable-ipv6",
					f->set->node_name, c);
			f->v6_ignored = true;
			continue;
		}
		if (podsrc_add(ret, v) < 0)
			log_warnx("pod-source scope: node %s's %s does not fit: already %d pod "
				  "CIDRs of its family",
				  f->set->node_name, c, PODSRC_MAX);
	}
}

static void note(struct podsrc_follow *f)
{
	struct masqd_podsrc_stats *p = &f->st->pods;

	p->node_listed = f->listed;
	p->node_present = f->node.present;
	p->now = f->now;
}

/* Where the scope comes from, for the log. */
static const char *origin(const struct podsrc_follow *f)
{
	if (!f->set->pods_from_node)
		return "--pod-cidr";
	return f->set->opts.pods.n[0] + f->set->opts.pods.n[1] ? "--pod-cidr and the Node"
							       : "the Node's spec.podCIDRs";
}

/* One line per family that masqd decides. */
static void log_scope(const struct podsrc_follow *f)
{
	char text[PODSRC_TEXT_LEN];

	for (int fi = 0; fi < (f->set->opts.enable_ipv6 ? 2 : 1); fi++) {
		podsrc_format(&f->now, fi, text);
		if (podsrc_scoped(&f->now, fi))
			log_info("pod-source scope: %s traffic is decided only from %s (%s); other "
				 "sources keep theirs",
				 fam[fi], text, origin(f));
		else
			log_info("pod-source scope: no %s pod CIDR known: %s traffic from every "
				 "source is decided, as upstream",
				 fam[fi], fam[fi]);
	}
}

/* What the Node says, in words, when it leaves the scope open. */
static void log_node(const struct podsrc_follow *f)
{
	const char *n = f->set->node_name;

	if (!f->listed)
		log_info("pod-source scope: waiting for node %s's spec.podCIDRs from the API", n);
	else if (!f->node.present && f->node.n)
		log_warnx("pod-source scope: node %s is gone from the API: its last pod CIDRs "
			  "stay in use (its pods keep their addresses until they are gone too)",
			  n);
	else if (!f->node.present)
		log_warnx("pod-source scope: node %s does not exist (yet): check --node-name "
			  "(NODE_NAME)",
			  n);
	else if (!f->node.n)
		log_info("pod-source scope: node %s has no spec.podCIDRs yet (IPAM assigns them): "
			 "watching until it does",
			 n);
}

struct podsrc_follow *podsrc_follow_new(const struct agent_settings *s, struct masqd_stats *st)
{
	struct podsrc_follow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->set = s;
	f->st = st;
	st->pods.configured = s->pods_from_node || s->opts.pods.n[0] || s->opts.pods.n[1];
	st->pods.node = s->pods_from_node ? s->node_name : NULL;
	compute(f, &f->now);
	note(f);
	if (!st->pods.configured)
		return f; /* upstream's: nothing to say */
	if (s->pods_from_node)
		log_node(f);
	log_scope(f);
	return f;
}

void podsrc_follow_free(struct podsrc_follow *f)
{
	free(f);
}

bool podsrc_follow_kube(struct podsrc_follow *f, const struct kube_client *k)
{
	struct node_pods n;

	if (!k || !kube_client_node(k, &n))
		return false;
	return podsrc_follow_node(f, &n);
}

bool podsrc_follow_node(struct podsrc_follow *f, const struct node_pods *given)
{
	struct node_pods n = *given;
	struct podsrc now;
	bool node_moved;

	if (!f->set->pods_from_node)
		return false;
	/* The Node deleted (or missing from a relist) says nothing of the
	 * addresses its pods still hold: without this, host-network and
	 * forwarded traffic would be masqueraded until the pods are gone. */
	if (!n.present && f->node.n) {
		memcpy(n.v, f->node.v, sizeof(n.v));
		n.n = f->node.n;
	}
	if (n.present)
		f->have_kept = false; /* the Node says: the kernel's sets are past */
	node_moved = !f->listed || !node_pods_equal(&n, &f->node);
	f->listed = true;
	f->node = n;
	if (!node_moved)
		return false;
	compute(f, &now);
	log_node(f);
	if (podsrc_equal(&now, &f->now)) {
		note(f);
		return false;
	}
	f->now = now;
	note(f);
	log_scope(f);
	return true;
}

bool podsrc_follow_kernel(struct podsrc_follow *f, struct nft_sock *nft)
{
	struct addr_range r[NFT_PODSET_MAX];
	struct podsrc kept = { 0 }, now;
	int n = 0;

	if (!f->set->pods_from_node || f->listed)
		return false;
	for (int fi = 0; n >= 0 && fi < (f->set->opts.enable_ipv6 ? 2 : 1); fi++) {
		n = nft_podset_read(nft, fi ? AF_INET6 : AF_INET, r);
		for (int i = 0; n > 0 && i < n; i++) {
			if (podsrc_add_range(&kept, fi ? AF_INET6 : AF_INET, &r[i]) < 0)
				n = -E2BIG;
		}
	}
	if (n < 0) {
		log_warnx("pod-source scope: cannot read the pod sets masqd left in the kernel: "
			  "%s",
			  strerror(-n));
		return false;
	}
	if (!kept.n[0] && !kept.n[1])
		return false;
	f->kept = kept;
	f->have_kept = true;
	compute(f, &now);
	log_info("pod-source scope: nothing usable from the API for node %s yet: the pod "
		 "CIDRs in the kernel stay in use until there is",
		 f->set->node_name);
	if (podsrc_equal(&now, &f->now))
		return false;
	f->now = now;
	note(f);
	log_scope(f);
	return true;
}

const struct podsrc *podsrc_follow_now(const struct podsrc_follow *f)
{
	return &f->now;
}
