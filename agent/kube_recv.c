/* What a request's body says, as it arrives: a list's pages go to the
 * streamed lister, a watch's lines become events, and a streaming watch
 * list's initial events (sendInitialEvents) build the state before the
 * changes. A failed request keeps the start of its Status for the log. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/kube_int.h"
#include "agent/log.h"
#include "agent/loop.h"

#define ERROR_BODY_MAX 65536 /* the Status of a failed request */

static int append_body(struct reflector *r, const char *data, size_t n, size_t max)
{
	return kw_buf_append(&r->body, &r->len, &r->cap, data, n, max);
}

void kube_ref_abort(struct reflector *r, enum kube_restart why, const char *msg)
{
	r->abort = true;
	r->abort_reason = why;
	snprintf(r->abort_msg, sizeof(r->abort_msg), "%s", msg);
}

/* The server does not do what a streaming list needs: the rest is up to
 * kube_ref_finish, which falls back to list+watch. */
static int wl_unsupported(struct reflector *r, const char *msg)
{
	r->wl_unsupported = true;
	kube_ref_abort(r, KUBE_R_BAD_RESPONSE, msg);
	return -EPROTO;
}

/* An event of a streaming list's initial state: ADDED ones, then a
 * BOOKMARK annotated k8s.io/initial-events-end, as the API documents. */
static int initial_event(struct reflector *r, const struct kw_event *ev)
{
	if (ev->type == KW_ADDED) {
		json_incref(ev->object);
		if (kube_state_list_item(r, ev->object) < 0) {
			kube_ref_abort(r, KUBE_R_ERROR, "out of memory applying an initial event");
			return -ENOMEM; /* the list is undone, as a paged one's */
		}
		return 0;
	}
	if (ev->type != KW_BOOKMARK)
		return wl_unsupported(r, "a change among the initial events");
	if (!ev->initial_end)
		return wl_unsupported(r, "a bookmark before the end of the initial events");
	kube_state_list_commit(r, ev->rv);
	r->initial = false;
	r->failures = 0;
	r->auth_retried = false;
	r->k->st.watch_list[r->res] = true;
	kube_ref_health(r, true, NULL);
	kube_ref_notify(r);
	return 0;
}

static int on_event_line(void *arg, const char *line, size_t len)
{
	struct reflector *r = arg;
	struct kw_event ev;
	char err[200], msg[300];

	if (kw_event_parse(line, len, &ev, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "bad watch event: %s", err);
		kube_ref_abort(r, KUBE_R_BAD_RESPONSE, msg);
		return -EINVAL;
	}
	if (ev.type == KW_ERROR) {
		snprintf(msg, sizeof(msg), "ERROR event %d: %s", ev.code, ev.message);
		kube_ref_abort(r, ev.code == 410 ? KUBE_R_EXPIRED : KUBE_R_SERVER_ERROR, msg);
		kw_event_clear(&ev);
		return -EPIPE;
	}
	if (r->initial) {
		/* objects' resourceVersions are not the list's: the closing
		 * bookmark sets it (kube_state_list_commit) */
		int e = initial_event(r, &ev);
		kw_event_clear(&ev);
		return e;
	}
	if (ev.type != KW_BOOKMARK) {
		if (kube_state_event(r, &ev) < 0)
			log_error("kubernetes: out of memory applying an event");
		log_debug("kubernetes: %s %s %s", kube_res_names[r->res],
			  ev.type == KW_DELETED ? "deleted" : "changed", ev.name);
		kube_ref_health(r, true, NULL);
		kube_ref_notify(r);
	}
	if (ev.rv)
		snprintf(r->rv, sizeof(r->rv), "%s", ev.rv);
	kw_event_clear(&ev);
	return 0;
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
			kube_state_list_begin(r);
		e = kw_lister_feed(&r->lister, data, len, kube_state_list_item, r);
		if (e < 0 && !r->abort) {
			char msg[260];
			snprintf(msg, sizeof(msg), "bad list response: %s", r->lister.err);
			kube_ref_abort(r, KUBE_R_BAD_RESPONSE, msg);
		}
		return e < 0 ? 0 : len;
	}
	loop_timer_arm(r->stall, r->k->set.stall_ns, 0);
	r->got_bytes = true;
	if (r->initial && !r->relisting)
		kube_state_list_begin(r); /* a streaming watch list: the state comes first */
	e = kw_split_feed(&r->split, data, len, on_event_line, r);
	if (e < 0 && !r->abort)
		kube_ref_abort(r, KUBE_R_BAD_RESPONSE,
			       e == -E2BIG ? "watch event over 4 MiB" : "out of memory");
	return e < 0 ? 0 : len; /* 0 ends the transfer */
}
