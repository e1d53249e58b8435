/* The Kubernetes client's reflector: list, then watch from the list's
 * resourceVersion; backoff, health and the state each resource's API gave. */
#include "agent/kube.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/kube_int.h"
#include "agent/log.h"
#include "agent/loop.h"

#define BACKOFF_BASE_NS 800000000LL /* client-go's reflector: 800 ms ... */
#define BACKOFF_MAX_NS (30 * 1000000000LL) /* ... to 30 s */
#define ERROR_BODY_MAX 65536 /* the Status of a failed request */
#define RELIST_MIN_NS (5 * 1000000000LL) /* after room freed under the budget: 5 ... */
#define RELIST_JITTER_NS (5 * 1000000000LL) /* ... to 10 s */
#define EXPIRED_PAGES_MAX 3 /* continue tokens expired in a row before a backoff */
#define OVER_LOG_MAX 10 /* refusals logged one by one per list; then a count */

const char *const kube_res_names[KUBE_NRES] = { "egressnatpolicies", "configmaps" };
const char *const kube_restart_names[KUBE_R_COUNT] = {
	"expired",   "closed",	  "stall",     "error",	       "unauthorized",
	"forbidden", "not-found", "throttled", "server-error", "bad-response",
};

static void start(struct reflector *r, enum phase ph);

static void notify(struct reflector *r)
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

/* Health and the error shown in metrics and status; notify on a change. */
static void set_health(struct reflector *r, bool healthy, const char *error)
{
	struct kube_stats *st = &r->k->st;
	bool was = st->healthy[r->res],
	     ok = healthy && (!r->pols || (!pstore_nrejected(r->pols) && !pstore_nover(r->pols)));

	st->healthy[r->res] = healthy;
	st->ok[r->res] = ok;
	if (error)
		snprintf(st->error[r->res], sizeof(st->error[r->res]), "%s", error);
	else if (ok)
		st->error[r->res][0] = '\0';
	if (was != healthy && st->synced[r->res])
		notify(r);
}

static int on_event_line(void *arg, const char *line, size_t len);
static int on_list_item(void *arg, json_t *obj);
static void list_begin(struct reflector *r);

static int append_body(struct reflector *r, const char *data, size_t n, size_t max)
{
	return kw_buf_append(&r->body, &r->len, &r->cap, data, n, max);
}

static void abort_with(struct reflector *r, enum kube_restart why, const char *msg)
{
	r->abort = true;
	r->abort_reason = why;
	snprintf(r->abort_msg, sizeof(r->abort_msg), "%s", msg);
}

size_t kube_ref_write(char *data, size_t size, size_t n, void *arg)
{
	struct reflector *r = arg;
	size_t len = size * n;
	int e;

	if (!r->code)
		r->code = kube_http_code(r->easy);
	if (r->code != 200) {
		(void)append_body(r, data, len, ERROR_BODY_MAX); /* the start is enough */
		return len;
	}
	if (r->phase == PH_LIST) {
		if (!r->relisting)
			list_begin(r);
		e = kw_lister_feed(&r->lister, data, len, on_list_item, r);
		if (e < 0 && !r->abort) {
			char msg[260];
			snprintf(msg, sizeof(msg), "bad list response: %s", r->lister.err);
			abort_with(r, KUBE_R_BAD_RESPONSE, msg);
		}
		return e < 0 ? 0 : len;
	}
	loop_timer_arm(r->stall, r->k->set.stall_ns, 0);
	e = kw_split_feed(&r->split, data, len, on_event_line, r);
	if (e < 0 && !r->abort)
		abort_with(r, KUBE_R_BAD_RESPONSE,
			   e == -E2BIG ? "watch event over 4 MiB" : "out of memory");
	return e < 0 ? 0 : len; /* 0 ends the transfer */
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
		backoff(r, KUBE_R_ERROR, 0);
		return;
	}
	r->phase = ph;
	if (ph == PH_WATCH)
		loop_timer_arm(r->stall, r->k->set.stall_ns, 0);
	if (ph == PH_LIST)
		log_debug("kubernetes: list %s (latest)%s", kube_res_names[r->res],
			  r->cont[0] ? ", next page" : "");
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
	d += (int64_t)((double)d * 0.5 * ((double)random() / RAND_MAX));
	if (why == KUBE_R_NOT_FOUND && d < r->k->set.not_found_ns)
		d = r->k->set.not_found_ns; /* the CRD may be installed later */
	if (d < retry_after * 1000000000LL)
		d = retry_after * 1000000000LL;
	r->failures++;
	log_debug("kubernetes: %s: next try in %.1fs", kube_res_names[r->res], (double)d / 1e9);
	loop_timer_arm(r->retry, d, 0);
}

static void on_retry(struct loop *l, struct loop_timer *t, void *data)
{
	struct reflector *r = data;

	start(r, r->k->st.synced[r->res] && r->rv[0] ? PH_WATCH : PH_LIST);
}

static void on_stall(struct loop *l, struct loop_timer *t, void *data)
{
	struct reflector *r = data;

	if (r->phase != PH_WATCH)
		return;
	log_warnx("kubernetes: the %s watch sent nothing for %.0fs: restarting it",
		  kube_res_names[r->res], (double)r->k->set.stall_ns / 1e9);
	r->k->st.restarts[r->res][KUBE_R_STALL]++;
	start(r, PH_WATCH);
}

/* --- the state: policies by name, or the ConfigMap's text */

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

/* A list's first bytes: its items go to a new generation, which only the
 * last page's end makes the one in use. */
static void list_begin(struct reflector *r)
{
	r->relisting = true;
	r->listed = 0;
	r->pages = 0;
	r->over_logged = 0;
	r->relist_due = false;
	loop_timer_arm(r->relist, 0, 0);
	if (r->pols)
		pstore_relist_begin(r->pols);
	free(r->cm_pending);
	r->cm_pending = NULL;
	r->cm_pending_len = 0;
}

/* The list failed on some page: what was applied before it stays. */
static void list_abort(struct reflector *r)
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
static void list_commit(struct reflector *r, const char *rv)
{
	if (r->pols) {
		pstore_relist_end(r->pols);
		budget_note(r, NULL, 0);
		if (r->over_logged > OVER_LOG_MAX)
			log_warnx("config: %zu EgressNATPolicies over the budget in all",
				  pstore_nover(r->pols));
	} else {
		free(r->cm_text);
		r->cm_text = r->cm_pending;
		r->cm_len = r->cm_pending_len;
		r->cm_pending = NULL;
	}
	r->relisting = false;
	r->cont[0] = '\0';
	r->expired_pages = 0;
	snprintf(r->rv, sizeof(r->rv), "%s", rv);
	r->k->st.synced[r->res] = true;
	log_info("kubernetes: listed %zu %s at resourceVersion %s in %u page%s", r->listed,
		 kube_res_names[r->res], rv, r->pages, r->pages == 1 ? "" : "s");
	/* a big list's buffers go back to the system, not only to malloc */
	kw_lister_free(&r->lister);
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
	malloc_trim(0);
}

static int on_list_item(void *arg, json_t *obj)
{
	struct reflector *r = arg;
	int e;

	r->listed++;
	e = r->pols ? pol_take(r, obj) : cm_take(r, obj, &r->cm_pending, &r->cm_pending_len);
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

static void on_relist(struct loop *l, struct loop_timer *t, void *data)
{
	struct reflector *r = data;

	r->relist_due = false;
	if (r->phase == PH_WATCH) {
		r->cont[0] = '\0';
		start(r, PH_LIST);
	}
}

static int apply_event(struct reflector *r, const struct kw_event *ev)
{
	int e;

	if (r->res == KUBE_CONFIGMAP) {
		if (ev->type == KW_DELETED) {
			free(r->cm_text);
			r->cm_text = NULL;
			return 0;
		}
		return cm_take(r, ev->object, &r->cm_text, &r->cm_len);
	}
	if (ev->type == KW_DELETED) {
		pstore_delete(r->pols, ev->name);
		budget_note(r, NULL, 0);
		relist_for_room(r);
		return 0;
	}
	e = pol_take(r, ev->object);
	if (ev->type == KW_MODIFIED)
		relist_for_room(r); /* it may have shrunk */
	return e;
}

static int on_event_line(void *arg, const char *line, size_t len)
{
	struct reflector *r = arg;
	struct kw_event ev;
	char err[200], msg[300];

	if (kw_event_parse(line, len, &ev, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "bad watch event: %s", err);
		abort_with(r, KUBE_R_BAD_RESPONSE, msg);
		return -EINVAL;
	}
	if (ev.type == KW_ERROR) {
		snprintf(msg, sizeof(msg), "ERROR event %d: %s", ev.code, ev.message);
		abort_with(r, ev.code == 410 ? KUBE_R_EXPIRED : KUBE_R_SERVER_ERROR, msg);
		kw_event_clear(&ev);
		return -EPIPE;
	}
	if (ev.type != KW_BOOKMARK) {
		if (apply_event(r, &ev) < 0)
			log_error("kubernetes: out of memory applying an event");
		log_debug("kubernetes: %s %s %s", kube_res_names[r->res],
			  ev.type == KW_DELETED ? "deleted" : "changed", ev.name);
		set_health(r, true, NULL);
		notify(r);
	}
	if (ev.rv)
		snprintf(r->rv, sizeof(r->rv), "%s", ev.rv);
	kw_event_clear(&ev);
	return 0;
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
		list_begin(r); /* no byte came */
	if (kw_lister_end(&r->lister, m, err, sizeof(err)) < 0) {
		snprintf(r->abort_msg, sizeof(r->abort_msg), "bad list response: %s", err);
		return false;
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
		set_health(r, false, line);
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
		list_commit(r, m.rv);
		set_health(r, true, NULL);
		notify(r);
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
		list_abort(r);
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
	/* a watch's history, or a list's continue token, expired: client-go
	 * lists again at once (a first page cannot expire: that one backs off) */
	if (why == KUBE_R_EXPIRED && paging && ++r->expired_pages > EXPIRED_PAGES_MAX)
		paging = false; /* again and again: back off like any failure */
	if (why == KUBE_R_EXPIRED && (ph == PH_WATCH || paging)) {
		r->rv[0] = '\0';
		start(r, PH_LIST);
		return;
	}
	if (why == KUBE_R_BAD_RESPONSE)
		r->rv[0] = '\0'; /* an event may be lost: relist */
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
	    (k->set.cm_name && ref_init(k, KUBE_CONFIGMAP) < 0)) {
		snprintf(err, errlen, "out of memory");
		kube_client_free(k);
		return NULL;
	}
	srandom((unsigned)loop_now_ns());
	if (k->set.policies)
		start(&k->ref[KUBE_POLICIES], PH_LIST);
	if (k->set.cm_name)
		start(&k->ref[KUBE_CONFIGMAP], PH_LIST);
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
		list_abort(r);
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
