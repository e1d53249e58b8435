/* The Kubernetes client's reflector: list, then watch from the list's
 * resourceVersion; what a finished request means, backoff, health. What a
 * request's body says is read in kube_recv.c, and the state each resource's
 * API gave is kept in kube_state.c. */
#include "agent/kube.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/kube_int.h"
#include "agent/log.h"
#include "agent/loop.h"

#define BACKOFF_BASE_NS 800000000LL /* client-go's reflector: 800 ms ... */
#define BACKOFF_MAX_NS (30 * 1000000000LL) /* ... to 30 s */
#define SHORT_WATCH_NS 1000000000LL /* a watch ending sooner, empty, backs off */
#define EXPIRED_PAGES_MAX 3 /* continue tokens expired in a row before a backoff */

const char *const kube_res_names[KUBE_NRES] = { "egressnatpolicies", "configmaps", "nodes" };
const char *const kube_restart_names[KUBE_R_COUNT] = {
	"expired",   "closed",	  "stall",     "error",	       "unauthorized",
	"forbidden", "not-found", "throttled", "server-error", "bad-response",
};

static void start(struct reflector *r, enum phase ph);

void kube_ref_notify(struct reflector *r)
{
	r->k->changed(r->k->data, r->res);
}

static void count_request(struct reflector *r, long code)
{
	struct kube_stats *st = &r->k->st;
	size_t *n = &st->ncodes[r->res];

	for (size_t i = 0; i < *n; i++) {
		if (st->req[r->res][i].code == code) {
			st->req[r->res][i].n++;
			return;
		}
	}
	if (*n < KUBE_MAX_CODES)
		st->req[r->res][(*n)++] = (struct kube_code_count){ (int)code, 1 };
}

void kube_ref_health(struct reflector *r, bool healthy, const char *error)
{
	struct kube_stats *st = &r->k->st;
	bool was = st->healthy[r->res],
	     ok = healthy && !r->node_bad &&
		  (!r->pols || (!pstore_nrejected(r->pols) && !pstore_nover(r->pols)));

	st->healthy[r->res] = healthy;
	st->ok[r->res] = ok;
	if (error)
		snprintf(st->error[r->res], sizeof(st->error[r->res]), "%s", error);
	else if (ok)
		st->error[r->res][0] = '\0';
	if (was != healthy && st->synced[r->res])
		kube_ref_notify(r);
}

static void req_free(struct reflector *r)
{
	kube_http_stop(r);
	r->len = 0;
	r->code = 0;
	r->retry_after = 0;
	r->abort = false;
	kw_split_reset(&r->split);
	kw_lister_reset(&r->lister);
	loop_timer_arm(r->stall, 0, 0);
	r->phase = PH_IDLE;
}

static void backoff(struct reflector *r, enum kube_restart why, long retry_after);

static void start(struct reflector *r, enum phase ph)
{
	req_free(r);
	if (kube_http_start(r, ph) < 0) {
		log_error("kubernetes: cannot start a request for %s", kube_res_names[r->res]);
		req_free(r);
		kube_state_list_abort(r); /* a list's next page: the next try starts it over */
		backoff(r, KUBE_R_ERROR, 0);
		return;
	}
	r->phase = ph;
	r->started_ns = loop_now_ns();
	r->got_bytes = false;
	if (ph == PH_WATCH)
		loop_timer_arm(r->stall, r->k->set.stall_ns, 0);
	if (ph == PH_LIST)
		log_debug("kubernetes: list %s%s%s%s", kube_res_names[r->res],
			  r->cont[0] ? ": next page" : "",
			  !r->cont[0] && r->list_rv[0] ? " from the watch cache, resourceVersion "
						       : "",
			  !r->cont[0] && r->list_rv[0] ? r->list_rv : "");
	else if (r->initial)
		log_debug("kubernetes: watch %s with its initial events (streaming list)",
			  kube_res_names[r->res]);
	else
		log_debug("kubernetes: watch %s from resourceVersion %s", kube_res_names[r->res],
			  r->rv);
}

/* Retry later: exponential with jitter, never sooner than Retry-After. */
static void backoff(struct reflector *r, enum kube_restart why, long retry_after)
{
	int64_t d = BACKOFF_BASE_NS << (r->failures < 6 ? r->failures : 6);

	if (d > BACKOFF_MAX_NS)
		d = BACKOFF_MAX_NS;
	/* client-go's reflector: NewExponentialBackoffManager(800ms, 30s, 2m, 2.0,
	 * 1.0): doubling from 0.8 s, capped at 30 s, plus up to 100% jitter */
	d += (int64_t)((double)d * ((double)random() / RAND_MAX));
	if (why == KUBE_R_NOT_FOUND && d < r->k->set.not_found_ns)
		d = r->k->set.not_found_ns; /* the CRD may be installed later */
	if (d < retry_after * 1000000000LL)
		d = retry_after * 1000000000LL;
	r->failures++;
	log_debug("kubernetes: %s: next try in %.1fs", kube_res_names[r->res], (double)d / 1e9);
	loop_timer_arm(r->retry, d, 0);
}

/* The next list may come from the watch cache, not older than what was
 * seen (a dropped watch, a relist for room): no read of etcd. */
static void relist_from_cache(struct reflector *r)
{
	if (r->rv[0])
		snprintf(r->list_rv, sizeof(r->list_rv), "%s", r->rv);
}

/* Get the whole state: by the streaming watch list (sendInitialEvents)
 * while the server may do it, else by a list, then a watch. */
static void start_sync(struct reflector *r)
{
	r->cont[0] = '\0';
	r->initial = !r->wl_off;
	start(r, r->initial ? PH_WATCH : PH_LIST);
}

/* The server showed it does not stream lists: list+watch from now on. */
static void wl_give_up(struct reflector *r, const char *why)
{
	r->wl_off = true;
	r->initial = false;
	r->k->st.watch_list[r->res] = false;
	log_info("kubernetes: no streaming list of %s (%s): list, then watch",
		 kube_res_names[r->res], why);
}

static void on_retry(struct loop *l, struct loop_timer *t, void *data)
{
	struct reflector *r = data;

	if (r->relist_due && r->k->st.synced[r->res]) {
		relist_from_cache(r); /* room freed meanwhile: list, not watch */
		start_sync(r);
	} else if (r->initial || !r->k->st.synced[r->res] || !r->rv[0]) {
		start_sync(r);
	} else {
		start(r, PH_WATCH);
	}
}

static void on_stall(struct loop *l, struct loop_timer *t, void *data)
{
	struct reflector *r = data;

	if (r->phase != PH_WATCH)
		return;
	log_warnx("kubernetes: the %s watch sent nothing for %.0fs: restarting it",
		  kube_res_names[r->res], (double)r->k->set.stall_ns / 1e9);
	r->k->st.restarts[r->res][KUBE_R_STALL]++;
	if (r->initial)
		kube_state_list_abort(r); /* its initial events come again, whole */
	start(r, PH_WATCH);
}

static void on_relist(struct loop *l, struct loop_timer *t, void *data)
{
	struct reflector *r = data;

	/* not watching: a request or a retry is under way, and the list
	 * follows it (on_retry, or the commit of the list in flight) */
	if (r->phase == PH_WATCH) {
		relist_from_cache(r);
		start_sync(r);
	}
}

/* --- a finished request */

static enum kube_restart classify(long code)
{
	switch (code) {
	case 401:
		return KUBE_R_UNAUTHORIZED;
	case 403:
		return KUBE_R_FORBIDDEN;
	case 404:
		return KUBE_R_NOT_FOUND;
	case 410:
		return KUBE_R_EXPIRED;
	case 429:
		return KUBE_R_THROTTLED;
	default:
		return code >= 500 ? KUBE_R_SERVER_ERROR : KUBE_R_BAD_RESPONSE;
	}
}

/* The message of a Status body, else the status line. */
static void status_message(struct reflector *r, char *buf, size_t len)
{
	json_t *st = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *m = kw_str(json_object_get(st, "message"));

	snprintf(buf, len, "HTTP %ld%s%s", r->code, m ? ": " : "", m ? m : "");
	json_decref(st);
}

/* A page of a list came whole: its end is checked, and *m says whether
 * another page follows. */
static bool page_done(struct reflector *r, struct kw_list_meta *m)
{
	char err[200];

	if (!r->relisting)
		kube_state_list_begin(r); /* no byte came */
	if (kw_lister_end(&r->lister, m, err, sizeof(err)) < 0) {
		snprintf(r->abort_msg, sizeof(r->abort_msg), "bad list response: %s", err);
		return false;
	}
	if (m->cont[0] && r->list_rv[0] && !r->paginated) {
		r->paginated = true; /* asked from the cache, paged: no watch cache */
		log_debug("kubernetes: the server pages %s lists from its cache: no watch cache",
			  kube_res_names[r->res]);
	}
	r->pages++;
	r->k->st.list_pages[r->res]++;
	return true;
}

/* What went wrong, logged once per failure streak and kept for status. */
static void report(struct reflector *r, enum kube_restart why, const char *msg)
{
	char line[420];

	snprintf(line, sizeof(line), "%s %s: %s", r->phase == PH_LIST ? "list" : "watch",
		 kube_res_names[r->res], msg);
	if (why == KUBE_R_FORBIDDEN)
		log_error("kubernetes: %s; check the RBAC of masqd's service account "
			  "(get, list, watch on %s)",
			  line, kube_res_names[r->res]);
	else if (why == KUBE_R_NOT_FOUND && r->res == KUBE_POLICIES)
		log_error("kubernetes: %s; is the EgressNATPolicy CRD installed? "
			  "retrying every %.0fs",
			  line, (double)r->k->set.not_found_ns / 1e9);
	else if (r->failures == 0 || why == KUBE_R_EXPIRED)
		log_warnx("kubernetes: %s", line);
	else
		log_debug("kubernetes: %s", line);
	r->k->st.restarts[r->res][why]++;
	if (why != KUBE_R_EXPIRED)
		kube_ref_health(r, false, line);
}

/* A 401's log line says which token was refused, or that none was sent. */
static void unauthorized_hint(struct kube_client *k, char *msg, size_t len)
{
	size_t n = strlen(msg);

	if (n + 2 < len) {
		snprintf(msg + n, len - n, "; ");
		kube_unauthorized_hint(&k->set.acc, k->token, msg + n + 2, len - n - 2);
	}
}

void kube_ref_finish(struct reflector *r, CURLcode res)
{
	enum phase ph = r->phase;
	enum kube_restart why;
	struct kw_list_meta m;
	bool paging = false;
	long retry_after;
	char msg[340];

	r->code = kube_http_code(r->easy);
	count_request(r, res == CURLE_OK || r->abort ? r->code : 0);
	if (r->abort) {
		why = r->abort_reason;
		snprintf(msg, sizeof(msg), "%s", r->abort_msg);
	} else if (res != CURLE_OK) {
		why = KUBE_R_ERROR;
		snprintf(msg, sizeof(msg), "%s",
			 r->errbuf[0] ? r->errbuf : kube_http_strerror(res));
	} else if (r->code == 200 && ph == PH_WATCH && r->initial) {
		why = KUBE_R_BAD_RESPONSE;
		r->wl_unsupported = true;
		snprintf(msg, sizeof(msg), "the watch ended before its initial events did");
	} else if (r->code == 200 && ph == PH_WATCH && !r->got_bytes &&
		   loop_now_ns() - r->started_ns < SHORT_WATCH_NS) {
		/* as client-go's "very short watch": not a timeout, a fault */
		why = KUBE_R_CLOSED;
		snprintf(msg, sizeof(msg), "the watch ended at once, with nothing in it");
	} else if (r->code == 200 && ph == PH_WATCH) {
		/* timeoutSeconds ran out: watch on from where we are */
		r->auth_retried = false;
		r->k->st.restarts[r->res][KUBE_R_CLOSED]++;
		r->failures = 0;
		start(r, PH_WATCH);
		return;
	} else if (r->code == 200 && ph == PH_LIST && page_done(r, &m)) {
		r->failures = 0;
		r->auth_retried = false;
		if (m.cont[0]) {
			snprintf(r->cont, sizeof(r->cont), "%s", m.cont);
			start(r, PH_LIST);
			return;
		}
		kube_state_list_commit(r, m.rv);
		kube_ref_health(r, true, NULL);
		kube_ref_notify(r);
		start(r, PH_WATCH);
		return;
	} else {
		why = r->code == 200 ? KUBE_R_BAD_RESPONSE : classify(r->code);
		if (r->code == 200)
			snprintf(msg, sizeof(msg), "%s", r->abort_msg);
		else
			status_message(r, msg, sizeof(msg));
	}
	if (ph == PH_LIST) {
		paging = r->cont[0] != '\0';
		kube_state_list_abort(r);
	} else if (r->initial) {
		kube_state_list_abort(r);
		/* 400 or 422: the server refuses sendInitialEvents (a gate off) */
		if (r->wl_unsupported || r->code == 400 || r->code == 422) {
			r->wl_unsupported = false;
			wl_give_up(r, msg);
			start(r, PH_LIST);
			return;
		}
	}
	if (why == KUBE_R_UNAUTHORIZED)
		unauthorized_hint(r->k, msg, sizeof(msg));
	report(r, why, msg);
	if (why != KUBE_R_UNAUTHORIZED) {
		r->auth_retried = false;
	} else if (!r->auth_retried && kube_http_token_refresh(r->k, true) > 0) {
		r->auth_retried = true; /* kubelet rotated it: retry at once */
		start(r, ph);
		return;
	} else {
		r->k->token_stale = true; /* the usual backoff, reading it again first */
	}
	if (why == KUBE_R_EXPIRED) {
		/* a watch's history, a continue token, or the resourceVersion a list
		 * asked the cache for, is gone: a consistent list from etcd. A
		 * list's own token or resourceVersion: at once, as client-go's
		 * pager (three tokens in a row back off: the server is not making
		 * sense). A watch's: after client-go's backoff (0.8-1.6 s the first
		 * time), so that a compaction's 410 to every node of a cluster at
		 * once does not bring every list in the same 100 ms. */
		bool again = paging || (ph == PH_LIST && r->list_rv[0]);
		r->list_rv[0] = '\0';
		r->rv[0] = '\0';
		if (paging && ++r->expired_pages > EXPIRED_PAGES_MAX)
			again = false;
		if (again) {
			start_sync(r);
			return;
		}
	}
	if (why == KUBE_R_BAD_RESPONSE) {
		if (ph == PH_WATCH)
			relist_from_cache(r);
		r->rv[0] = '\0'; /* an event may be lost: relist */
	}
	retry_after = r->retry_after;
	req_free(r);
	backoff(r, why, retry_after);
}

/* --- setup */

static int ref_init(struct kube_client *k, enum kube_res res)
{
	struct reflector *r = &k->ref[res];
	char *ns, *name;

	r->k = k;
	r->res = res;
	snprintf(r->list_rv, sizeof(r->list_rv), "0"); /* the first list: the watch cache's */
	r->split.max = KW_MAX_EVENT;
	r->retry = loop_timer_new(k->loop, on_retry, r);
	r->stall = loop_timer_new(k->loop, on_stall, r);
	r->relist = loop_timer_new(k->loop, on_relist, r);
	if (!r->retry || !r->stall || !r->relist)
		return -ENOMEM;
	if (res == KUBE_POLICIES) {
		snprintf(r->path, sizeof(r->path), "/apis/networking.gke.io/v1/egressnatpolicies");
		r->pols = pstore_new();
		if (r->pols)
			pstore_set_budget(r->pols, k->set.max_policies, k->set.max_cidrs);
		return r->pols ? 0 : -ENOMEM;
	}
	if (res == KUBE_NODE) {
		/* one object, by name, as the ConfigMap: list+watch need "list" */
		name = kube_http_escape(k->set.node_name);
		if (name)
			snprintf(r->path, sizeof(r->path),
				 "/api/v1/nodes?fieldSelector=metadata.name%%3D%s", name);
		free(name);
		return name ? 0 : -ENOMEM;
	}
	ns = kube_http_escape(k->set.cm_namespace);
	name = kube_http_escape(k->set.cm_name);
	if (ns && name)
		snprintf(r->path, sizeof(r->path),
			 "/api/v1/namespaces/%s/configmaps?fieldSelector=metadata.name%%3D%s", ns,
			 name);
	free(ns);
	free(name);
	return ns && name ? 0 : -ENOMEM;
}

struct kube_client *kube_client_new(struct loop *l, struct kube_settings *s, kube_changed_fn fn,
				    void *data, char *err, size_t errlen)
{
	struct kube_client *k = calloc(1, sizeof(*k));

	if (!k || kube_http_load(err, errlen) < 0) {
		if (!k)
			snprintf(err, errlen, "out of memory");
		kube_access_clear(&s->acc);
		free(k);
		return NULL;
	}
	k->loop = l;
	k->set = *s;
	memset(&s->acc, 0, sizeof(s->acc));
	k->changed = fn;
	k->data = data;
	if (kube_http_init(k) < 0 || ref_init(k, KUBE_POLICIES) < 0 ||
	    (k->set.cm_name && ref_init(k, KUBE_CONFIGMAP) < 0) ||
	    (k->set.node_name && ref_init(k, KUBE_NODE) < 0)) {
		snprintf(err, errlen, "out of memory");
		kube_client_free(k);
		return NULL;
	}
	srandom((unsigned)loop_now_ns());
	if (k->set.policies)
		start_sync(&k->ref[KUBE_POLICIES]);
	if (k->set.cm_name)
		start_sync(&k->ref[KUBE_CONFIGMAP]);
	if (k->set.node_name)
		start_sync(&k->ref[KUBE_NODE]);
	return k;
}

void kube_client_free(struct kube_client *k)
{
	if (!k)
		return;
	for (int i = 0; i < KUBE_NRES; i++) {
		struct reflector *r = &k->ref[i];
		if (!r->k)
			continue;
		if (r->retry && r->stall && r->relist) {
			req_free(r);
			loop_timer_arm(r->retry, 0, 0);
			loop_timer_arm(r->relist, 0, 0);
		}
		kube_state_list_abort(r);
		kw_split_free(&r->split);
		kw_lister_free(&r->lister);
		free(r->body);
		pstore_free(r->pols);
		free(r->cm_text);
	}
	kube_http_free(k);
	kube_access_clear(&k->set.acc);
	free(k->token);
	free(k);
}

const struct kube_stats *kube_client_stats(const struct kube_client *k)
{
	return &k->st;
}

const struct masq_policy_list *kube_client_policies(const struct kube_client *k)
{
	if (!k->set.policies || !k->st.synced[KUBE_POLICIES])
		return NULL;
	/* while a list's pages come, the last whole state stays the one used */
	return pstore_settled(k->ref[KUBE_POLICIES].pols);
}

bool kube_client_configmap(const struct kube_client *k, const char **ret_text, size_t *ret_len)
{
	const struct reflector *r = &k->ref[KUBE_CONFIGMAP];

	if (!k->set.cm_name || !k->st.synced[KUBE_CONFIGMAP])
		return false;
	*ret_text = r->cm_text;
	*ret_len = r->cm_len;
	return true;
}

bool kube_client_node(const struct kube_client *k, struct node_pods *ret)
{
	const struct reflector *r = &k->ref[KUBE_NODE];

	/* only refused versions so far: nothing known of it yet */
	if (!k->set.node_name || !k->st.synced[KUBE_NODE] || (r->node_bad && !r->node.present))
		return false;
	*ret = k->ref[KUBE_NODE].node;
	return true;
}
