/* The Kubernetes client's state: what each resource's API gave, the
 * policies by name in a store with its budget, or the ConfigMap's text;
 * lists build a new generation that only their last page makes the one in
 * use. The reflector (kube.c) feeds it items and events. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/kube_int.h"
#include "agent/log.h"
#include "agent/loop.h"

#define RELIST_MIN_NS (5 * 1000000000LL) /* after room freed under the budget: 5 ... */
#define RELIST_JITTER_NS (5 * 1000000000LL) /* ... to 10 s */
#define OVER_LOG_MAX 10 /* refusals logged one by one per list; then a count */

/* The budget's state for metrics and status; a refusal is logged by name
 * OVER_LOG_MAX times per list, then counted. */
static void budget_note(struct reflector *r, const char *refused, uint64_t evicted)
{
	struct kube_client *k = r->k;
	size_t n = pstore_nover(r->pols);

	k->st.over_budget = n;
	if (refused && r->over_logged++ < OVER_LOG_MAX)
		log_warnx("config: apiserver EgressNATPolicy/%s: over the budget of %zu policies "
			  "and %zu CIDRs (--max-api-policies, --max-api-cidrs): not applied; "
			  "policies are taken in name order",
			  refused, k->set.max_policies, k->set.max_cidrs);
	if (evicted)
		log_warnx("config: %" PRIu64 " EgressNATPolicies after %s by name left to keep "
			  "within the budget",
			  evicted, refused ? refused : "a new one");
	if (n)
		snprintf(k->st.error[r->res], sizeof(k->st.error[r->res]),
			 "%zu EgressNATPolicies over the budget of %zu policies and %zu CIDRs "
			 "(--max-api-policies, --max-api-cidrs): EgressNATPolicy/%s and every "
			 "one after it by name are not applied",
			 n, k->set.max_policies, k->set.max_cidrs, pstore_over_first(r->pols));
}

/* Validate one object into the store: a rejected one keeps its last good
 * version (pstore.h). Returns -ENOMEM or 0. */
static int pol_take(struct reflector *r, json_t *obj)
{
	const char *name = kw_str(json_object_get(json_object_get(obj, "metadata"), "name"));
	struct masq_policy_list fresh = { 0 };
	uint64_t evicted = pstore_evicted(r->pols);
	struct diags d;
	int e;

	diags_init(&d);
	e = kw_policy_from_object(obj, &r->k->set.opts, &fresh, &d);
	if (e == 1) {
		log_diag_lines("config", &d); /* warnings */
		e = pstore_put(r->pols, &fresh.v[0]);
		r->k->st.loads_ok[r->res]++;
		budget_note(r, e == -EDQUOT ? fresh.v[0].name : NULL,
			    pstore_evicted(r->pols) - evicted);
		e = e == -EDQUOT ? 0 : e;
	} else if (e == 0) {
		r->k->st.loads_failed[r->res]++;
		log_diag_lines("config", &d);
		if (d.n)
			diag_format(&d.items[0], r->k->st.error[r->res],
				    sizeof(r->k->st.error[r->res]));
		if (name && (e = pstore_reject(r->pols, name)) > 0)
			log_warnx("config: keeping the last good version of EgressNATPolicy/%s",
				  name);
	}
	policy_list_clear(&fresh);
	return e < 0 ? e : 0;
}

/* The ConfigMap's data.config into *text (NULL when absent). */
static int cm_take(struct reflector *r, json_t *obj, char **text, size_t *tlen)
{
	const char *t;
	size_t len;

	if (kw_configmap_config(obj, "config", &t, &len) < 0) {
		snprintf(r->k->st.error[r->res], sizeof(r->k->st.error[r->res]),
			 "configmap %s/%s: data.config is not a string", r->k->set.cm_namespace,
			 r->k->set.cm_name);
		log_error("kubernetes: %s", r->k->st.error[r->res]);
		r->k->st.loads_failed[r->res]++;
		return 0; /* keep what we had */
	}
	free(*text);
	*text = t ? strndup(t, len) : NULL;
	*tlen = len;
	r->k->st.loads_ok[r->res]++;
	return t && !*text ? -ENOMEM : 0;
}

/* One version of the Node: its pod CIDRs, checked (config/node.h). A bad
 * one is logged and refused; the last good value stays. */
static int node_take(struct reflector *r, json_t *obj, struct node_pods *into)
{
	const char *name = kw_str(json_object_get(json_object_get(obj, "metadata"), "name"));
	char *err = r->k->st.error[r->res], why[200];
	size_t len = sizeof(r->k->st.error[r->res]);
	struct node_pods p;

	if (!name || strcmp(name, r->k->set.node_name) != 0)
		snprintf(why, sizeof(why), "the API gave Node %.64s, not %s", name ? name : "?",
			 r->k->set.node_name);
	else if (node_pods_parse(obj, &p, why, sizeof(why)) == 0)
		why[0] = '\0';
	if (why[0]) {
		char was[sizeof(r->k->st.error[0])];

		/* a Node changes often (its status): say it once per problem */
		snprintf(was, sizeof(was), "%s", err);
		snprintf(err, len, "node %s: %s", r->k->set.node_name, why);
		if (!r->node_bad || strcmp(was, err) != 0)
			log_error("kubernetes: %s; the last good pod CIDRs stay in use", err);
		r->node_bad = true;
		r->k->st.loads_failed[r->res]++;
		*into = r->node;
		return 0;
	}
	r->node_bad = false;
	*into = p;
	r->k->st.loads_ok[r->res]++;
	return 0;
}

/* A list's first bytes: its items go to a new generation, which only the
 * last page's end makes the one in use. */
void kube_state_list_begin(struct reflector *r)
{
	r->relisting = true;
	r->listed = 0;
	r->pages = 0;
	r->over_logged = 0;
	loop_timer_arm(r->relist, 0, 0); /* this list is the one it was waiting for */
	if (r->pols)
		pstore_relist_begin(r->pols);
	free(r->cm_pending);
	r->cm_pending = NULL;
	r->cm_pending_len = 0;
	r->node_pending = (struct node_pods){ 0 }; /* none listed: no such Node */
	r->node_bad = false;
}

/* The list failed on some page: what was applied before it stays. */
void kube_state_list_abort(struct reflector *r)
{
	r->cont[0] = '\0'; /* the next list starts from its first page */
	if (!r->relisting)
		return;
	if (r->pols) {
		pstore_relist_abort(r->pols);
		r->k->st.over_budget = pstore_nover(r->pols);
	}
	free(r->cm_pending);
	r->cm_pending = NULL;
	r->relisting = false;
	log_debug("kubernetes: the %s list failed after %zu items in %u pages; "
		  "the last one stays in use",
		  kube_res_names[r->res], r->listed, r->pages);
}

/* The list's last page came whole. */
void kube_state_list_commit(struct reflector *r, const char *rv)
{
	if (r->pols) {
		pstore_relist_end(r->pols);
		budget_note(r, NULL, 0);
		if (r->over_logged > OVER_LOG_MAX)
			log_warnx("config: %zu EgressNATPolicies over the budget in all",
				  pstore_nover(r->pols));
	} else if (r->res == KUBE_NODE) {
		r->node = r->node_pending;
	} else {
		free(r->cm_text);
		r->cm_text = r->cm_pending;
		r->cm_len = r->cm_pending_len;
		r->cm_pending = NULL;
	}
	r->relist_due = false; /* done: the next room freed asks again */
	r->relisting = false;
	r->cont[0] = '\0';
	r->expired_pages = 0;
	snprintf(r->rv, sizeof(r->rv), "%s", rv);
	r->k->st.synced[r->res] = true;
	if (r->initial)
		log_info("kubernetes: listed %zu %s at resourceVersion %s by a streaming list",
			 r->listed, kube_res_names[r->res], rv);
	else
		log_info("kubernetes: listed %zu %s at resourceVersion %s in %u page%s", r->listed,
			 kube_res_names[r->res], rv, r->pages, r->pages == 1 ? "" : "s");
	/* a big list's buffers go back to the system, not only to malloc */
	kw_lister_free(&r->lister);
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
	malloc_trim(0);
}

int kube_state_list_item(void *arg, json_t *obj)
{
	struct reflector *r = arg;
	int e;

	r->listed++;
	if (r->res == KUBE_NODE)
		e = node_take(r, obj, &r->node_pending);
	else
		e = r->pols ? pol_take(r, obj)
			    : cm_take(r, obj, &r->cm_pending, &r->cm_pending_len);
	json_decref(obj);
	if (e < 0)
		snprintf(r->lister.err, sizeof(r->lister.err), "out of memory");
	return e;
}

/* A delete or an edit may have made room under the budget: only a list
 * says which policies now fit in name order, so one follows (one at a
 * time, a few seconds later, jittered). */
static void relist_for_room(struct reflector *r)
{
	int64_t d = RELIST_MIN_NS + (int64_t)((double)RELIST_JITTER_NS * random() / RAND_MAX);

	if (!r->pols || !pstore_nover(r->pols) || r->relist_due)
		return;
	r->relist_due = true;
	log_info("kubernetes: room may have freed under the budget: listing again in %.1fs",
		 (double)d / 1e9);
	loop_timer_arm(r->relist, d, 0);
}

int kube_state_event(struct reflector *r, const struct kw_event *ev)
{
	const struct masq_policy *p;
	size_t was;
	bool had;
	int e;

	if (r->res == KUBE_NODE) {
		if (ev->type != KW_DELETED)
			return node_take(r, ev->object, &r->node);
		r->node = (struct node_pods){ 0 };
		r->node_bad = false;
		return 0;
	}
	if (r->res == KUBE_CONFIGMAP) {
		if (ev->type == KW_DELETED) {
			free(r->cm_text);
			r->cm_text = NULL;
			return 0;
		}
		return cm_take(r, ev->object, &r->cm_text, &r->cm_len);
	}
	/* room frees only when a stored policy goes or shrinks: values, not
	 * pointers, since a put moves the store's entries */
	p = pstore_get(r->pols, ev->name);
	had = p != NULL;
	was = p ? p->ncidrs : 0;
	if (ev->type == KW_DELETED) {
		pstore_delete(r->pols, ev->name);
		budget_note(r, NULL, 0);
		if (had)
			relist_for_room(r);
		return 0;
	}
	e = pol_take(r, ev->object);
	p = pstore_get(r->pols, ev->name);
	if (had && (!p || p->ncidrs < was))
		relist_for_room(r);
	return e;
}
