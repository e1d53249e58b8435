#include "agent/kube.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "agent/log.h"
#include "agent/loop.h"
#include "config/kwatch.h"

#define CURL_SONAME "libcurl.so.4"
#define BACKOFF_BASE_NS 800000000LL /* client-go's reflector: 800 ms ... */
#define BACKOFF_MAX_NS (30 * 1000000000LL) /* ... to 30 s */
#define RETRY_AFTER_MAX_S 600
#define TOKEN_REREAD_NS (60 * 1000000000LL)
#define LIST_TIMEOUT_S 60
#define CONNECT_TIMEOUT_MS 10000
#define ERROR_BODY_MAX 65536 /* the Status of a failed request */

const char *const kube_res_names[KUBE_NRES] = { "egressnatpolicies", "configmaps" };
const char *const kube_restart_names[KUBE_R_COUNT] = {
	"expired",   "closed",	  "stall",     "error",	       "unauthorized",
	"forbidden", "not-found", "throttled", "server-error", "bad-response",
};

/* libcurl is loaded when the watch starts, not at exec: its 30 libraries
 * cost about 12 ms at every start, which masqd --once never needs. */
static struct {
	void *lib;
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_easy_escape) *easy_escape;
	__typeof__(curl_free) *free;
	__typeof__(curl_multi_init) *multi_init;
	__typeof__(curl_multi_setopt) *multi_setopt;
	__typeof__(curl_multi_add_handle) *multi_add_handle;
	__typeof__(curl_multi_remove_handle) *multi_remove_handle;
	__typeof__(curl_multi_socket_action) *multi_socket_action;
	__typeof__(curl_multi_info_read) *multi_info_read;
	__typeof__(curl_multi_assign) *multi_assign;
	__typeof__(curl_multi_cleanup) *multi_cleanup;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
} cu;

static int curl_load(char *err, size_t errlen)
{
	void *lib;

	if (cu.lib)
		return 0;
	lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, errlen, "cannot load %s: %s", CURL_SONAME, dlerror());
		return -ENOENT;
	}
#define SYM(f)                                                               \
	if (!(*(void **)&cu.f = dlsym(lib, "curl_" #f))) {                   \
		snprintf(err, errlen, "%s has no curl_%s", CURL_SONAME, #f); \
		dlclose(lib);                                                \
		return -ENOENT;                                              \
	}
	SYM(global_init)
	SYM(easy_init)
	SYM(easy_setopt)
	SYM(easy_getinfo)
	SYM(easy_cleanup)
	SYM(easy_strerror)
	SYM(easy_escape)
	SYM(free)
	SYM(multi_init)
	SYM(multi_setopt)
	SYM(multi_add_handle)
	SYM(multi_remove_handle)
	SYM(multi_socket_action)
	SYM(multi_info_read)
	SYM(multi_assign)
	SYM(multi_cleanup)
	SYM(slist_append)
	SYM(slist_free_all)
#undef SYM
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		dlclose(lib);
		return -EIO;
	}
	cu.lib = lib;
	return 0;
}

enum phase { PH_IDLE, PH_LIST, PH_WATCH };

/* One resource followed with the reflector protocol. */
struct reflector {
	struct kube_client *k;
	enum kube_res res;
	char path[600]; /* URL path and the fixed part of the query */
	enum phase phase;
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	long code; /* of the request in flight, once its headers came */
	long retry_after; /* seconds; 0 when absent */
	bool abort; /* we ended the transfer: reason below */
	enum kube_restart abort_reason;
	char abort_msg[320];
	char *body; /* a list's body, or a failed request's Status */
	size_t len, cap;
	struct kw_splitter split;
	char rv[KW_RV_LEN];
	int failures; /* in a row, for the backoff */
	bool auth_retried; /* at most one immediate retry per streak of 401s */
	struct loop_timer *retry, *stall;
	/* the state the API gave */
	struct masq_policy_list pols;
	char **bad; /* policies whose last version was rejected */
	size_t nbad;
	char *cm_text;
	size_t cm_len;
};

struct kube_client {
	struct loop *loop;
	struct kube_settings set;
	kube_changed_fn changed;
	void *data;
	CURLM *multi;
	struct loop_timer *curl_timer;
	char *token; /* the token file's last successful read */
	int64_t token_read_ns;
	bool token_stale; /* a 401 came: read the file again before the next request */
	struct reflector ref[KUBE_NRES];
	struct oneshot *oneshot;
	struct kube_stats st;
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
	bool was = st->healthy[r->res], ok = healthy && r->nbad == 0;

	st->healthy[r->res] = healthy;
	st->ok[r->res] = ok;
	if (error)
		snprintf(st->error[r->res], sizeof(st->error[r->res]), "%s", error);
	else if (ok)
		st->error[r->res][0] = '\0';
	if (was != healthy && st->synced[r->res])
		notify(r);
}

/* --- the token: the file is read at least every minute, as client-go's
 * cached file token source does, and again before every request that follows
 * a 401, as its tokenSourceTransport does (ResetTokenOlderThan on a 401): a
 * token revoked and replaced is picked up at the next retry, not a minute
 * later. Returns 1 when the file now holds a different token, 0 when it does
 * not or was not read, -errno when it cannot be read (the last good read
 * stays in use, as in client-go). */
static int token_refresh(struct kube_client *k, bool force)
{
	char *t;
	int e, changed;

	if (!k->set.acc.token_file)
		return 0;
	if (!force && k->token && loop_now_ns() - k->token_read_ns < TOKEN_REREAD_NS)
		return 0;
	e = kube_token_read(k->set.acc.token_file, &t);
	if (e < 0) {
		const char *instead = k->token ? "; keeping the one read before" : "";

		if (!k->token && k->set.acc.token)
			instead = "; sending the kubeconfig's inline token meanwhile";
		log_warnx("kubernetes: cannot read the token %s: %s%s", k->set.acc.token_file,
			  e == -EINVAL ? "empty or too large" : strerror(-e), instead);
		return e;
	}
	changed = !k->token || strcmp(k->token, t) != 0;
	free(k->token);
	k->token = t;
	k->token_read_ns = loop_now_ns();
	return changed;
}

/* --- building requests */

static size_t on_header(char *buf, size_t size, size_t n, void *data)
{
	struct reflector *r = data;
	size_t len = size * n;

	if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
		long s = strtol(buf + 12, NULL, 10);
		r->retry_after = s < 0 ? 0 : s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
	}
	return len;
}

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

static int on_event_line(void *arg, const char *line, size_t len);

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct reflector *r = arg;
	size_t len = size * n;
	int e;

	if (!r->code)
		cu.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->code);
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

static int add_header(struct curl_slist **hdrs, const char *head, const char *value)
{
	char line[KUBE_TOKEN_MAX + 64];
	struct curl_slist *l;

	snprintf(line, sizeof(line), "%s%s", head, value);
	l = cu.slist_append(*hdrs, line);
	if (!l)
		return -ENOMEM;
	*hdrs = l;
	return 0;
}

static void set_tls(struct kube_client *k, CURL *e)
{
	const struct kube_access *a = &k->set.acc;
	struct curl_blob b;

	if (a->ca.data) {
		b = (struct curl_blob){ a->ca.data, a->ca.len, CURL_BLOB_NOCOPY };
		cu.easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	} else if (a->ca.file) {
		cu.easy_setopt(e, CURLOPT_CAINFO, a->ca.file);
	}
	if (a->cert.data) {
		b = (struct curl_blob){ a->cert.data, a->cert.len, CURL_BLOB_NOCOPY };
		cu.easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
		b = (struct curl_blob){ a->key.data, a->key.len, CURL_BLOB_NOCOPY };
		cu.easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
	} else if (a->cert.file) {
		cu.easy_setopt(e, CURLOPT_SSLCERT, a->cert.file);
		cu.easy_setopt(e, CURLOPT_SSLKEY, a->key.file);
	}
	if (a->insecure) {
		cu.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		cu.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* What every request has: the URL, JSON, the token, TLS, bounds. */
static int setup_easy(struct kube_client *k, CURL *e, const char *url, struct curl_slist **hdrs,
		      char *errbuf)
{
	const char *token;

	(void)token_refresh(k, k->token_stale);
	k->token_stale = false;
	token = kube_token_pick(&k->set.acc, k->token);
	if (add_header(hdrs, "Accept: ", "application/json") < 0 ||
	    (token && add_header(hdrs, "Authorization: Bearer ", token) < 0))
		return -ENOMEM;
	cu.easy_setopt(e, CURLOPT_URL, url);
	cu.easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
	cu.easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	cu.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	cu.easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	cu.easy_setopt(e, CURLOPT_USERAGENT, "masqd/" MASQD_VERSION);
	cu.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	set_tls(k, e);
	return 0;
}

/* client-go's reflector: timeoutSeconds random in [min, 2 * min). */
static long watch_timeout_s(const struct kube_client *k)
{
	long min = (long)(k->set.watch_timeout_ns / 1000000000LL);

	min = min < 1 ? 1 : min;
	return min + random() % min;
}

static int build_request(struct reflector *r, enum phase ph)
{
	struct kube_client *k = r->k;
	char url[2048], *rv = NULL;
	long timeout = watch_timeout_s(k);
	CURL *e = cu.easy_init();

	if (!e || (ph == PH_WATCH && !(rv = cu.easy_escape(e, r->rv, 0)))) {
		if (e)
			cu.easy_cleanup(e);
		return -ENOMEM;
	}
	if (ph == PH_LIST)
		snprintf(url, sizeof(url), "%s%s", k->set.acc.server, r->path);
	else
		snprintf(
			url, sizeof(url),
			"%s%s%swatch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%ld",
			k->set.acc.server, r->path, strchr(r->path, '?') ? "&" : "?", rv, timeout);
	cu.free(rv);
	r->easy = e;
	if (setup_easy(k, e, url, &r->hdrs, r->errbuf) < 0)
		return -ENOMEM;
	cu.easy_setopt(e, CURLOPT_PRIVATE, r);
	cu.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	cu.easy_setopt(e, CURLOPT_WRITEDATA, r);
	cu.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	cu.easy_setopt(e, CURLOPT_HEADERDATA, r);
	/* a watch ends at timeoutSeconds on the server; this is the backstop */
	cu.easy_setopt(e, CURLOPT_TIMEOUT, ph == PH_LIST ? (long)LIST_TIMEOUT_S : timeout + 60);
	return 0;
}

static void req_free(struct reflector *r)
{
	if (r->easy) {
		cu.multi_remove_handle(r->k->multi, r->easy);
		cu.easy_cleanup(r->easy);
	}
	cu.slist_free_all(r->hdrs);
	r->easy = NULL;
	r->hdrs = NULL;
	r->len = 0;
	r->code = 0;
	r->retry_after = 0;
	r->abort = false;
	r->errbuf[0] = '\0';
	kw_split_reset(&r->split);
	loop_timer_arm(r->stall, 0, 0);
	r->phase = PH_IDLE;
}

static void backoff(struct reflector *r, enum kube_restart why, long retry_after);

static void start(struct reflector *r, enum phase ph)
{
	req_free(r);
	if (build_request(r, ph) < 0 || cu.multi_add_handle(r->k->multi, r->easy) != CURLM_OK) {
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

static void bad_set(struct reflector *r, const char *name, bool bad)
{
	for (size_t i = 0; i < r->nbad; i++) {
		if (strcmp(r->bad[i], name) == 0) {
			if (!bad) {
				free(r->bad[i]);
				r->bad[i] = r->bad[--r->nbad];
			}
			return;
		}
	}
	if (bad) {
		char **v = realloc(r->bad, (r->nbad + 1) * sizeof(*v));
		if (!v)
			return;
		r->bad = v;
		if ((v[r->nbad] = strdup(name)))
			r->nbad++;
	}
}

static void bad_clear(struct reflector *r)
{
	for (size_t i = 0; i < r->nbad; i++)
		free(r->bad[i]);
	free(r->bad);
	r->bad = NULL;
	r->nbad = 0;
}

static ssize_t pol_find(const struct masq_policy_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].name, name) == 0)
			return (ssize_t)i;
	}
	return -1;
}

static void pol_remove(struct masq_policy_list *l, const char *name)
{
	ssize_t i = pol_find(l, name);

	if (i < 0)
		return;
	free(l->v[i].cidrs);
	l->v[i] = l->v[--l->n];
}

static void log_diags(const struct diags *d)
{
	char line[DIAG_FILE_LEN + DIAG_MSG_LEN + 32];

	diag_for_each(g, d) {
		diag_format(g, line, sizeof(line));
		log_error("config: %s", line);
	}
}

/* Validate one object into list. A rejected one keeps its last good
 * version: the one in old (a relist builds a new list), which is list itself
 * for an event. Returns -ENOMEM or 0. */
static int pol_take(struct reflector *r, json_t *obj, const struct masq_policy_list *old,
		    struct masq_policy_list *list)
{
	const char *name = kw_str(json_object_get(json_object_get(obj, "metadata"), "name"));
	struct masq_policy_list fresh = { 0 };
	struct diags d;
	ssize_t i;
	int e;

	diags_init(&d);
	e = kw_policy_from_object(obj, &r->k->set.opts, &fresh, &d);
	if (e == 1) {
		pol_remove(list, fresh.v[0].name);
		e = policy_list_add(list, &fresh.v[0]);
		bad_set(r, fresh.v[0].name, false);
		r->k->st.loads_ok[r->res]++;
	} else if (e == 0) {
		r->k->st.loads_failed[r->res]++;
		log_diags(&d);
		if (d.n)
			diag_format(&d.items[0], r->k->st.error[r->res],
				    sizeof(r->k->st.error[r->res]));
		if (name)
			bad_set(r, name, true);
		if (name && (i = pol_find(old, name)) >= 0) {
			log_warnx("config: keeping the last good version of EgressNATPolicy/%s",
				  name);
			if (old != list)
				e = policy_list_add(list, &old->v[i]);
		}
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
	struct masq_policy_list fresh = { 0 };
	size_t i;
	json_t *obj;
	int e = 0;

	if (r->res == KUBE_CONFIGMAP) {
		free(r->cm_text);
		r->cm_text = NULL;
		r->cm_len = 0;
		json_array_foreach(items, i, obj) e = e < 0 ? e : cm_take(r, obj);
	} else {
		struct masq_policy_list old = r->pols;
		bad_clear(r);
		json_array_foreach(items, i, obj) e = e < 0 ? e : pol_take(r, obj, &old, &fresh);
		policy_list_clear(&old);
		r->pols = fresh;
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
		pol_remove(&r->pols, ev->name);
		bad_set(r, ev->name, false);
		return 0;
	}
	return pol_take(r, ev->object, &r->pols, &r->pols);
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

static void finish(struct reflector *r, CURLcode res)
{
	enum phase ph = r->phase;
	enum kube_restart why;
	long retry_after;
	char msg[340];

	cu.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->code);
	count_request(r, res == CURLE_OK || r->abort ? r->code : 0);
	if (r->abort) {
		why = r->abort_reason;
		snprintf(msg, sizeof(msg), "%s", r->abort_msg);
	} else if (res != CURLE_OK) {
		why = KUBE_R_ERROR;
		snprintf(msg, sizeof(msg), "%s", r->errbuf[0] ? r->errbuf : cu.easy_strerror(res));
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
	} else if (!r->auth_retried && token_refresh(r->k, true) > 0) {
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

/* --- one GET, outside the watches */

struct oneshot {
	CURL *easy;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	char *body;
	size_t len, cap;
	kube_get_fn fn;
	void *data;
};

static size_t oneshot_write(char *data, size_t size, size_t n, void *arg)
{
	struct oneshot *o = arg;

	/* bounded: a DaemonSet is a few KiB */
	return kw_buf_append(&o->body, &o->len, &o->cap, data, size * n, ERROR_BODY_MAX * 16) < 0
		       ? 0
		       : size * n;
}

static void oneshot_free(struct kube_client *k)
{
	struct oneshot *o = k->oneshot;

	if (!o)
		return;
	cu.multi_remove_handle(k->multi, o->easy);
	cu.easy_cleanup(o->easy);
	cu.slist_free_all(o->hdrs);
	free(o->body);
	free(o);
	k->oneshot = NULL;
}

static void oneshot_done(struct kube_client *k, CURLcode res)
{
	struct oneshot *o = k->oneshot;
	long code = 0;

	cu.easy_getinfo(o->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code == 401)
		k->token_stale = true;
	if (res != CURLE_OK)
		snprintf(o->errbuf + strlen(o->errbuf), sizeof(o->errbuf) - strlen(o->errbuf), "%s",
			 o->errbuf[0] ? "" : cu.easy_strerror(res));
	k->oneshot = NULL; /* the callback may free the client */
	o->fn(o->data, res == CURLE_OK ? code : 0, o->body ? o->body : "", o->len,
	      res == CURLE_OK ? "" : o->errbuf);
	k->oneshot = o;
	oneshot_free(k);
}

int kube_client_get(struct kube_client *k, const char *path, long timeout_ms, kube_get_fn fn,
		    void *data)
{
	struct oneshot *o;
	char url[2048];

	if (k->oneshot)
		return -EBUSY;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->easy = cu.easy_init())) {
		free(o);
		return -ENOMEM;
	}
	o->fn = fn;
	o->data = data;
	k->oneshot = o;
	snprintf(url, sizeof(url), "%s%s", k->set.acc.server, path);
	if (setup_easy(k, o->easy, url, &o->hdrs, o->errbuf) < 0) {
		oneshot_free(k);
		return -ENOMEM;
	}
	cu.easy_setopt(o->easy, CURLOPT_WRITEFUNCTION, oneshot_write);
	cu.easy_setopt(o->easy, CURLOPT_WRITEDATA, o);
	cu.easy_setopt(o->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	cu.easy_setopt(o->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	if (cu.multi_add_handle(k->multi, o->easy) != CURLM_OK) {
		oneshot_free(k);
		return -EIO;
	}
	return 0;
}

/* --- libcurl's multi-socket glue */

static void check_done(struct kube_client *k)
{
	CURLMsg *m;
	int left;

	while ((m = cu.multi_info_read(k->multi, &left))) {
		struct reflector *r = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		if (k->oneshot && m->easy_handle == k->oneshot->easy) {
			oneshot_done(k, m->data.result);
			continue;
		}
		cu.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r && r->easy == m->easy_handle)
			finish(r, m->data.result);
	}
}

static void on_curl_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct kube_client *k = data;
	int flags = 0, running;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	cu.multi_socket_action(k->multi, fd, flags, &running);
	check_done(k);
}

static void on_curl_timer(struct loop *l, struct loop_timer *t, void *data)
{
	struct kube_client *k = data;
	int running;

	cu.multi_socket_action(k->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(k);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *data, void *socketp)
{
	struct kube_client *k = data;
	uint32_t ev = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);

	if (what == CURL_POLL_REMOVE) {
		loop_del_fd(k->loop, s);
		cu.multi_assign(k->multi, s, NULL);
		return 0;
	}
	if (socketp)
		return loop_mod_fd(k->loop, s, ev) < 0 ? -1 : 0;
	if (loop_add_fd(k->loop, s, ev, on_curl_fd, k) < 0)
		return -1;
	cu.multi_assign(k->multi, s, k);
	return 0;
}

static int on_timer_change(CURLM *m, long ms, void *data)
{
	struct kube_client *k = data;

	/* -1: none; 0: at once, which must not run from inside this callback */
	if (ms < 0)
		return loop_timer_arm(k->curl_timer, 0, 0) < 0 ? -1 : 0;
	return loop_timer_arm(k->curl_timer, ms ? ms * 1000000LL : 1, 0) < 0 ? -1 : 0;
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
		return 0;
	}
	ns = cu.easy_escape(NULL, k->set.cm_namespace, 0);
	name = cu.easy_escape(NULL, k->set.cm_name, 0);
	if (ns && name)
		snprintf(r->path, sizeof(r->path),
			 "/api/v1/namespaces/%s/configmaps?fieldSelector=metadata.name%%3D%s", ns,
			 name);
	cu.free(ns);
	cu.free(name);
	return ns && name ? 0 : -ENOMEM;
}

struct kube_client *kube_client_new(struct loop *l, struct kube_settings *s, kube_changed_fn fn,
				    void *data, char *err, size_t errlen)
{
	struct kube_client *k = calloc(1, sizeof(*k));

	if (!k || curl_load(err, errlen) < 0) {
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
	k->multi = cu.multi_init();
	k->curl_timer = loop_timer_new(l, on_curl_timer, k);
	if (!k->multi || !k->curl_timer || ref_init(k, KUBE_POLICIES) < 0 ||
	    (k->set.cm_name && ref_init(k, KUBE_CONFIGMAP) < 0)) {
		snprintf(err, errlen, "out of memory");
		kube_client_free(k);
		return NULL;
	}
	cu.multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	cu.multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
	cu.multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	cu.multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
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
		policy_list_clear(&r->pols);
		bad_clear(r);
		free(r->cm_text);
	}
	oneshot_free(k);
	if (k->multi)
		cu.multi_cleanup(k->multi);
	if (k->curl_timer)
		loop_timer_arm(k->curl_timer, 0, 0);
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
	return k->set.policies && k->st.synced[KUBE_POLICIES] ? &k->ref[KUBE_POLICIES].pols : NULL;
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
