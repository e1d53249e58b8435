/* Inside the Kubernetes client: what its transport (kube_http.c) and its
 * reflector (kube.c) share. The contract stays agent/kube.h. */
#ifndef MASQ_KUBE_INT_H
#define MASQ_KUBE_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/kube.h"
#include "config/kwatch.h"
#include "config/pstore.h"

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
	char *body; /* a failed request's Status */
	size_t len, cap;
	struct kw_lister lister; /* a list's page, read as it streams */
	char cont[KW_CONTINUE_LEN]; /* the next page's token; "" for the first */
	bool relisting; /* a list's pages are being applied */
	size_t listed, over_logged; /* items of this list so far; refusals logged */
	unsigned pages, expired_pages; /* this list's; its continue tokens that expired */
	char *cm_pending; /* the ConfigMap's text in the list being read */
	size_t cm_pending_len;
	bool relist_due; /* room freed while policies are over the budget */
	int64_t started_ns; /* when the request in flight started */
	bool got_bytes; /* its body has begun */
	struct kw_splitter split;
	char rv[KW_RV_LEN]; /* the last resourceVersion seen */
	/* what the next list asks for, as client-go's reflector: "0" (any, from
	 * the watch cache) at first, the last one seen after a dropped watch
	 * (not older than it, from the cache), "" (a consistent read from etcd)
	 * only after a 410 */
	char list_rv[KW_RV_LEN];
	bool paginated; /* a list asked from the cache came in pages: no cache */
	/* the streaming watch list (sendInitialEvents=true): tried first, and
	 * left for list+watch, for good, when the server does not do it */
	bool wl_off;
	bool initial; /* the watch request asks for initial events, not yet all come */
	bool wl_unsupported; /* this one showed the server does not do it */
	int failures; /* in a row, for the backoff */
	bool auth_retried; /* at most one immediate retry per streak of 401s */
	struct loop_timer *retry, *stall, *relist;
	/* the state the API gave */
	struct pstore *pols; /* policies by name, each its last good version */
	char *cm_text;
	size_t cm_len;
	struct node_pods node, node_pending; /* the Node's; the list being read */
	bool node_bad; /* the last version of the Node was refused */
};

struct oneshot;

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

/* --- the transport (kube_http.c) */

/* dlopen libcurl once. Returns 0 or -errno with the reason in err. */
int kube_http_load(char *err, size_t errlen) __attribute__((warn_unused_result));

/* The multi handle and its timer, driven by k's loop. */
int kube_http_init(struct kube_client *k) __attribute__((warn_unused_result));

/* Drop the one-shot GET and the multi handle (the reflectors' requests
 * must be stopped first). */
void kube_http_free(struct kube_client *k);

/* Build r's list or watch request and start it. */
int kube_http_start(struct reflector *r, enum phase ph) __attribute__((warn_unused_result));

/* End r's request, if any, and free its handle and headers. */
void kube_http_stop(struct reflector *r);

/* The HTTP status of e's response so far; 0 before its headers. */
long kube_http_code(CURL *e);

const char *kube_http_strerror(CURLcode res);

/* s escaped for a URL, malloc'ed; NULL when out of memory. */
char *kube_http_escape(const char *s);

/* Read the token file again when due (or forced). Returns 1 when it now
 * holds a different token, 0 when not or not read, -errno when it cannot
 * be read (the last good read stays in use). */
int kube_http_token_refresh(struct kube_client *k, bool force);

/* --- the reflector (kube.c), called by the transport and by kube_recv.c */

/* Tell the client's user that r's state or health changed. */
void kube_ref_notify(struct reflector *r);

/* Health and the error shown in metrics and status; notify on a change. */
void kube_ref_health(struct reflector *r, bool healthy, const char *error);

/* End r's transfer at the next write: why, and the message to log. */
void kube_ref_abort(struct reflector *r, enum kube_restart why, const char *msg);

/* libcurl's write callback for r's request (kube_recv.c). */
size_t kube_ref_write(char *data, size_t size, size_t n, void *arg);

/* r's request ended with res. */
void kube_ref_finish(struct reflector *r, CURLcode res);

/* --- the state each resource's API gave (kube_state.c), fed by the
 * reflector */

/* A list's first bytes: its items go to a new generation. */
void kube_state_list_begin(struct reflector *r);

/* One item of the list (a kw_item_fn; takes obj). Returns 0 or -ENOMEM. */
int kube_state_list_item(void *arg, json_t *obj);

/* The list failed on some page: the previous generation stays. */
void kube_state_list_abort(struct reflector *r);

/* The list's last page came whole, at resourceVersion rv. */
void kube_state_list_commit(struct reflector *r, const char *rv);

/* One watch event (not a BOOKMARK or an ERROR). Returns 0 or -ENOMEM. */
int kube_state_event(struct reflector *r, const struct kw_event *ev);

#endif
