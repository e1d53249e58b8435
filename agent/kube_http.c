/* The Kubernetes client's transport: libcurl (loaded with dlopen), requests
 * with TLS and the token, the one-shot GET, and the multi-socket glue. */
#include "agent/kube_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent/dl.h"
#include "agent/log.h"
#include "agent/loop.h"

#define CURL_SONAME "libcurl.so.4"
#define RETRY_AFTER_MAX_S 600
#define TOKEN_REREAD_NS (60 * 1000000000LL)
#define LIST_TIMEOUT_S 60
#define CONNECT_TIMEOUT_MS 10000
#define ONESHOT_BODY_MAX (1 << 20)

/* libcurl is loaded when the watch starts, not at exec: its 30 libraries
 * cost every start of masqd --once, which never needs them (agent/dl.h). */
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

/* a table entry: the symbol's name and the pointer it fills */
#define CU_SYM(f) "curl_" #f, (void **)&cu.f

int kube_http_load(char *err, size_t errlen)
{
	static const struct dl_sym syms[] = {
		{ CU_SYM(global_init) },	 { CU_SYM(easy_init) },
		{ CU_SYM(easy_setopt) },	 { CU_SYM(easy_getinfo) },
		{ CU_SYM(easy_cleanup) },	 { CU_SYM(easy_strerror) },
		{ CU_SYM(easy_escape) },	 { CU_SYM(free) },
		{ CU_SYM(multi_init) },		 { CU_SYM(multi_setopt) },
		{ CU_SYM(multi_add_handle) },	 { CU_SYM(multi_remove_handle) },
		{ CU_SYM(multi_socket_action) }, { CU_SYM(multi_info_read) },
		{ CU_SYM(multi_assign) },	 { CU_SYM(multi_cleanup) },
		{ CU_SYM(slist_append) },	 { CU_SYM(slist_free_all) },
	};
	void *lib;
	int e;

	if (cu.lib)
		return 0;
	e = dl_load(CURL_SONAME, syms, sizeof(syms) / sizeof(syms[0]), &lib, err, errlen);
	if (e < 0)
		return e;
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		dlclose(lib);
		return -EIO;
	}
	cu.lib = lib;
	return 0;
}

long kube_http_code(CURL *e)
{
	long code = 0;

	cu.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

const char *kube_http_strerror(CURLcode res)
{
	return cu.easy_strerror(res);
}

char *kube_http_escape(const char *s)
{
	char *e = cu.easy_escape(NULL, s, 0), *copy = e ? strdup(e) : NULL;

	cu.free(e);
	return copy;
}

/* --- the token: the file is read at least every minute, as client-go's
 * cached file token source does, and again before every request that follows
 * a 401, as its tokenSourceTransport does (ResetTokenOlderThan on a 401): a
 * token revoked and replaced is picked up at the next retry, not a minute
 * later. The last good read stays in use when the file cannot be read, as in
 * client-go. */
int kube_http_token_refresh(struct kube_client *k, bool force)
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

	/* A configured CA is the only one trusted: libcurl would otherwise add
	 * its built-in bundle and CA path (the system store), and a server with
	 * a certificate from any public CA would receive the bearer token. */
	if (a->ca.data || a->ca.file) {
		cu.easy_setopt(e, CURLOPT_CAPATH, NULL);
		cu.easy_setopt(e, CURLOPT_CAINFO, a->ca.file); /* NULL beside a blob */
	}
	if (a->ca.data) {
		b = (struct curl_blob){ a->ca.data, a->ca.len, CURL_BLOB_NOCOPY };
		cu.easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
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

	(void)kube_http_token_refresh(k, k->token_stale);
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

/* A list's URL. Pages come as client-go's pager asks for them: with limit
 * from etcd, and with a continue token (never with a resourceVersion) after
 * the first. From the watch cache, client-go asks resourceVersion=0 with
 * limit (the cache may ignore it), and a later resourceVersion without
 * limit, unless the server paginated an earlier one (no watch cache). */
static int list_url(const struct reflector *r, const char *sep, const char *cont, const char *rv,
		    char **ret)
{
	const struct kube_client *k = r->k;
	unsigned limit = k->set.list_limit ? k->set.list_limit : KUBE_DEFAULT_LIST_LIMIT;

	if (cont)
		return asprintf(ret, "%s%s%slimit=%u&continue=%s", k->set.acc.server, r->path, sep,
				limit, cont);
	if (!rv[0])
		return asprintf(ret, "%s%s%slimit=%u", k->set.acc.server, r->path, sep, limit);
	if (strcmp(rv, "0") == 0)
		return asprintf(ret, "%s%s%sresourceVersion=0&limit=%u", k->set.acc.server, r->path,
				sep, limit);
	if (r->paginated)
		return asprintf(
			ret, "%s%s%sresourceVersion=%s&resourceVersionMatch=NotOlderThan&limit=%u",
			k->set.acc.server, r->path, sep, rv, limit);
	return asprintf(ret, "%s%s%sresourceVersion=%s&resourceVersionMatch=NotOlderThan",
			k->set.acc.server, r->path, sep, rv);
}

static int build_request(struct reflector *r, enum phase ph)
{
	struct kube_client *k = r->k;
	char *url = NULL, *rv = NULL, *cont = NULL; /* rv: escaped, the watch's or the list's */
	const char *sep = strchr(r->path, '?') ? "&" : "?";
	long timeout = watch_timeout_s(k);
	CURL *e = cu.easy_init();
	int n;

	if (!e ||
	    !(rv = cu.easy_escape(e, ph == PH_WATCH && !r->initial ? r->rv : r->list_rv, 0)) ||
	    (ph == PH_LIST && r->cont[0] && !(cont = cu.easy_escape(e, r->cont, 0)))) {
		if (e)
			cu.easy_cleanup(e);
		cu.free(rv);
		return -ENOMEM;
	}
	if (ph == PH_LIST)
		n = list_url(r, sep, cont, rv, &url);
	else if (r->initial) /* the state first, as events, then the changes */
		n = asprintf(
			&url,
			"%s%s%swatch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
			"&allowWatchBookmarks=true%s%s&timeoutSeconds=%ld",
			k->set.acc.server, r->path, sep, rv[0] ? "&resourceVersion=" : "", rv,
			timeout);
	else
		n = asprintf(
			&url,
			"%s%s%swatch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%ld",
			k->set.acc.server, r->path, sep, rv, timeout);
	cu.free(rv);
	cu.free(cont);
	if (n < 0) {
		cu.easy_cleanup(e);
		return -ENOMEM;
	}
	r->easy = e;
	n = setup_easy(k, e, url, &r->hdrs, r->errbuf);
	free(url); /* libcurl keeps its own copy */
	if (n < 0)
		return -ENOMEM;
	cu.easy_setopt(e, CURLOPT_PRIVATE, r);
	cu.easy_setopt(e, CURLOPT_WRITEFUNCTION, kube_ref_write);
	cu.easy_setopt(e, CURLOPT_WRITEDATA, r);
	cu.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	cu.easy_setopt(e, CURLOPT_HEADERDATA, r);
	/* a watch ends at timeoutSeconds on the server; this is the backstop */
	cu.easy_setopt(e, CURLOPT_TIMEOUT, ph == PH_LIST ? (long)LIST_TIMEOUT_S : timeout + 60);
	return 0;
}

int kube_http_start(struct reflector *r, enum phase ph)
{
	if (build_request(r, ph) < 0)
		return -ENOMEM;
	return cu.multi_add_handle(r->k->multi, r->easy) == CURLM_OK ? 0 : -EIO;
}

void kube_http_stop(struct reflector *r)
{
	if (r->easy) {
		cu.multi_remove_handle(r->k->multi, r->easy);
		cu.easy_cleanup(r->easy);
	}
	cu.slist_free_all(r->hdrs);
	r->easy = NULL;
	r->hdrs = NULL;
	r->errbuf[0] = '\0';
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
	return kw_buf_append(&o->body, &o->len, &o->cap, data, size * n, ONESHOT_BODY_MAX) < 0
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
	long code = kube_http_code(o->easy);

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
			kube_ref_finish(r, m->data.result);
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

int kube_http_init(struct kube_client *k)
{
	k->multi = cu.multi_init();
	k->curl_timer = loop_timer_new(k->loop, on_curl_timer, k);
	if (!k->multi || !k->curl_timer)
		return -ENOMEM;
	cu.multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	cu.multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
	cu.multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	cu.multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
	return 0;
}

void kube_http_free(struct kube_client *k)
{
	oneshot_free(k);
	if (k->multi)
		cu.multi_cleanup(k->multi);
	if (k->curl_timer)
		loop_timer_arm(k->curl_timer, 0, 0);
}
