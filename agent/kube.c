/* The Kubernetes client's reflector: list, then watch from the list's
 * resourceVersion; backoff, health and the state each resource's API gave. */
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
#define ERROR_BODY_MAX 65536 /* the Status of a failed request */

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
	bool was = st->healthy[r->res], ok = healthy && (!r->pols || !pstore_nrejected(r->pols));

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
		e = append_body(r, data, len, KW_MAX_LIST);
		if (e < 0)
			abort_with(r, KUBE_R_BAD_RESPONSE,
				   e == -E2BIG ? "list response over 64 MiB" : "out of memory");
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
	log_debug("kubernetes: %s %s from resourceVersion %s", ph == PH_LIST ? "list" : "watch",
		  kube_res_names[r->res], ph == PH_LIST ? "(latest)" : r->rv);
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

/* Validate one object into the store: a rejected one keeps its last good
 * version (pstore.h). Returns -ENOMEM or 0. */
static int pol_take(struct reflector *r, json_t *obj)
{
	const char *name = kw_str(json_object_get(json_object_get(obj, "metadata"), "name"));
	struct masq_policy_list fresh = { 0 };
	struct diags d;
	int e;

	diags_init(&d);
	e = kw_policy_from_object(obj, &r->k->set.opts, &fresh, &d);
	if (e == 1) {
		e = pstore_put(r->pols, &fresh.v[0]);
		r->k->st.loads_ok[r->res]++;
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

static int cm_take(struct reflector *r, json_t *obj)
{
	const char *text;
	size_t len;

	if (kw_configmap_config(obj, "config", &text, &len) < 0) {
		snprintf(r->k->st.error[r->res], sizeof(r->k->st.error[r->res]),
			 "configmap %s/%s: data.config is not a string", r->k->set.cm_namespace,
			 r->k->set.cm_name);
		log_error("kubernetes: %s", r->k->st.error[r->res]);
		r->k->st.loads_failed[r->res]++;
		return 0; /* keep what we had */
	}
	free(r->cm_text);
	r->cm_text = text ? strndup(text, len) : NULL;
	r->cm_len = len;
	r->k->st.loads_ok[r->res]++;
	return text && !r->cm_text ? -ENOMEM : 0;
}

static void apply_list(struct reflector *r, json_t *items, const char *rv)
{
	size_t i;
	json_t *obj;
	int e = 0;

	if (r->res == KUBE_CONFIGMAP) {
		free(r->cm_text);
		r->cm_text = NULL;
		r->cm_len = 0;
		json_array_foreach(items, i, obj)
			e = e < 0 ? e : cm_take(r, obj);
	} else {
		pstore_relist_begin(r->pols);
		json_array_foreach(items, i, obj)
			e = e < 0 ? e : pol_take(r, obj);
		pstore_relist_end(r->pols);
	}
	if (e < 0)
		log_error("kubernetes: out of memory applying the %s list", kube_res_names[r->res]);
	snprintf(r->rv, sizeof(r->rv), "%s", rv);
	r->k->st.synced[r->res] = true;
	log_info("kubernetes: listed %zu %s at resourceVersion %s", json_array_size(items),
		 kube_res_names[r->res], rv);
}

static int apply_event(struct reflector *r, const struct kw_event *ev)
{
	if (r->res == KUBE_CONFIGMAP) {
		if (ev->type == KW_DELETED) {
			free(r->cm_text);
			r->cm_text = NULL;
			return 0;
		}
		return cm_take(r, ev->object);
	}
	if (ev->type == KW_DELETED) {
		pstore_delete(r->pols, ev->name);
		return 0;
	}
	return pol_take(r, ev->object);
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

static bool list_done(struct reflector *r)
{
	json_t *root, *items;
	const char *rv;
	char err[200];

	if (kw_list_parse(r->body ? r->body : "", r->len, &root, &items, &rv, err, sizeof(err)) <
	    0) {
		snprintf(r->abort_msg, sizeof(r->abort_msg), "bad list response: %s", err);
		return false;
	}
	apply_list(r, items, rv);
	json_decref(root);
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
	} else if (r->code == 200 && list_done(r)) {
		r->failures = 0;
		r->auth_retried = false;
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
	if (!r->retry || !r->stall)
		return -ENOMEM;
	if (res == KUBE_POLICIES) {
		snprintf(r->path, sizeof(r->path), "/apis/networking.gke.io/v1/egressnatpolicies");
		r->pols = pstore_new();
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
		if (r->retry && r->stall) {
			req_free(r);
			loop_timer_arm(r->retry, 0, 0);
		}
		kw_split_free(&r->split);
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
	return pstore_policies(k->ref[KUBE_POLICIES].pols);
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
