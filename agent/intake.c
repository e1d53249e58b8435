/* Loading the config sources, reporting their problems once, and the API's
 * inputs: policies, and the ConfigMap standing in for the mounted file. */
#include "agent/intake.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/log.h"
#include "config/precedence.h"

struct intake {
	const struct agent_settings *set;
	struct masqd_stats *st;
	struct masq_sources *src;
	struct sources_settings srcset;
	struct masq_config *good; /* last good config; NULL until one loaded */
	uint64_t gen; /* moves when a loaded config differs from the last good one */
	int64_t resync_ns;
	bool is_dir;
	char last_err[DIAG_FILE_LEN + DIAG_MSG_LEN + 32]; /* logged once until it changes */
	struct kube_client *kube;
	char cm_label[300]; /* "configmap NS/NAME" */
	struct cm_precedence cm;
};

struct intake *intake_new(const struct agent_settings *s, struct masqd_stats *st)
{
	struct intake *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->set = s;
	in->st = st;
	in->resync_ns = MASQ_DEFAULT_RESYNC_NS;
	in->srcset = (struct sources_settings){ .config = s->config,
						.policy_dir = s->policy_dir,
						.max_cidrs_per_file = s->max_cidrs_per_file,
						.dir_resync_ns = s->dir_resync_ns,
						.opts = s->opts };
	st->src[SOURCE_FILE].path = s->config;
	st->src[SOURCE_POLICY].path = s->policy_dir;
	if (s->watch_configmap[0])
		snprintf(in->cm_label, sizeof(in->cm_label), "configmap %s", s->watch_configmap);
	in->src = sources_new();
	if (!in->src) {
		free(in);
		return NULL;
	}
	return in;
}

void intake_free(struct intake *in)
{
	if (!in)
		return;
	sources_free(in->src);
	cfg_free(in->good);
	free(in);
}

const struct masq_config *intake_good(const struct intake *in)
{
	return in->good;
}

uint64_t intake_gen(const struct intake *in)
{
	return in->gen;
}

void intake_adopt(struct intake *in, struct masq_config *cfg)
{
	cfg_free(in->good);
	in->good = cfg;
}

int64_t intake_resync_ns(const struct intake *in)
{
	return in->resync_ns;
}

bool intake_is_dir(const struct intake *in)
{
	return in->is_dir;
}

void intake_use_kube(struct intake *in, struct kube_client *k)
{
	in->kube = k;
	in->st->src[SOURCE_API_CONFIG].path = in->cm_label;
	in->st->src[SOURCE_API_POLICY].path = "apiserver";
}

/* Log a load's problems; errors only once until they change. */
static void report_diags(struct intake *in, const struct diags *d, bool failed)
{
	char line[sizeof(in->last_err)], key[sizeof(in->last_err)] = "";

	diag_for_each(g, d) {
		if (g->level == DIAG_ERROR) {
			diag_format(g, line, sizeof(line));
			snprintf(key, sizeof(key), "%s", line);
			break;
		}
	}
	if (failed && strcmp(key, in->last_err) == 0)
		return; /* the same bad file again: already said */
	if (!failed && in->last_err[0] && strcmp(in->last_err, "warned") != 0)
		log_info("config: every source is valid again");
	if (!failed && strcmp(in->last_err, "warned") == 0)
		return;
	log_diag_lines("config", d);
	snprintf(in->last_err, sizeof(in->last_err), "%s", failed ? key : d->n ? "warned" : "");
}

/* The API sources' part of the stats: the watch's own health, and for the
 * policies, what its events loaded (each is validated as it arrives). */
static void count_api(struct intake *in, struct source_state *st)
{
	const struct kube_stats *ks = in->kube ? kube_client_stats(in->kube) : NULL;
	struct masqd_source_stats *p = &in->st->src[SOURCE_API_POLICY];

	if (!ks)
		return;
	if (in->set->watch_policies) {
		p->used = true;
		p->ok = ks->ok[KUBE_POLICIES];
		p->reloads_ok = ks->loads_ok[KUBE_POLICIES];
		p->reloads_failed = ks->loads_failed[KUBE_POLICIES];
		snprintf(p->error, sizeof(p->error), "%s", p->ok ? "" : ks->error[KUBE_POLICIES]);
	}
	if (st[SOURCE_API_CONFIG].used && st[SOURCE_API_CONFIG].ok && !ks->ok[KUBE_CONFIGMAP]) {
		st[SOURCE_API_CONFIG].ok = false; /* valid, but the API stopped answering */
		snprintf(st[SOURCE_API_CONFIG].error, sizeof(st[SOURCE_API_CONFIG].error), "%s",
			 ks->error[KUBE_CONFIGMAP]);
	}
}

static void count_loads(struct intake *in, const struct source_state *st)
{
	for (int k = 0; k < SOURCE_COUNT; k++) {
		if (k == SOURCE_API_POLICY)
			continue; /* count_api's */
		struct masqd_source_stats *s = &in->st->src[k];

		s->used = st[k].used;
		s->ok = st[k].ok;
		if (!s->used)
			continue;
		snprintf(s->error, sizeof(s->error), "%s", st[k].ok ? "" : st[k].error);
		if (st[k].ok)
			s->reloads_ok++;
		else
			s->reloads_failed++;
	}
}

static uint64_t file_digest(void *ctx)
{
	struct intake *in = ctx;

	return sources_config_digest(&in->srcset);
}

/* What the API gives, for sources_load: its policies, and its ConfigMap
 * while the precedence rule (config/precedence.h) lets it stand in. */
static void api_inputs(struct intake *in)
{
	const char *text = NULL;
	size_t len = 0;
	enum cm_event ev;
	bool have;

	in->srcset.api_policies = in->kube ? kube_client_policies(in->kube) : NULL;
	in->srcset.api_config_name = NULL;
	in->srcset.api_config = NULL;
	have = in->kube && kube_client_configmap(in->kube, &text, &len);
	if (!cm_precedence_use_api(&in->cm, have, file_digest, in, &ev)) {
		if (ev == CM_FILE_WINS)
			log_warnx("%s: the API is not answering and %s changed: using the file",
				  in->cm_label, in->set->config);
		return;
	}
	in->srcset.api_config_name = in->cm_label;
	in->srcset.api_config = text;
	in->srcset.api_config_len = len;
}

void intake_kube_changed(struct intake *in, enum kube_res res)
{
	if (res != KUBE_CONFIGMAP || !in->kube)
		return;
	switch (cm_precedence_health(&in->cm, kube_client_stats(in->kube)->healthy[res],
				     file_digest, in)) {
	case CM_OUTAGE_BEGAN:
		log_warnx("%s: keeping the API's version until the API answers or %s changes",
			  in->cm_label, in->set->config);
		break;
	case CM_OUTAGE_ENDED:
		log_info("%s: the API answers again", in->cm_label);
		break;
	default:
		break;
	}
}

int intake_load(struct intake *in, struct masq_config **ret_partial)
{
	struct source_state st[SOURCE_COUNT];
	struct masq_merged m;
	struct diags d;
	int r;

	diags_init(&d);
	api_inputs(in);
	r = sources_load(in->src, &in->srcset, &m, st, &d);
	report_diags(in, &d, r != 0);
	count_api(in, st);
	count_loads(in, st);
	in->st->config_ok = r == 0;
	if (r < 0)
		return r;
	if (!m.cfg->file_present && r == 0)
		log_debug("%s does not exist: the built-in defaults apply unless a policy exists",
			  in->set->config);
	in->is_dir = m.is_dir;
	if (m.incomplete && !in->good && ret_partial) {
		*ret_partial = m.cfg; /* the caller decides whether to program it */
		m.cfg = NULL;
		merged_clear(&m);
		return -EAGAIN;
	}
	if (!in->good || !cfg_equal(m.cfg, in->good))
		in->gen++;
	cfg_free(in->good);
	in->good = m.cfg;
	in->resync_ns = m.cfg->resync_ns;
	m.cfg = NULL;
	merged_clear(&m);
	return r;
}

int intake_explain(struct intake *in, const struct cidr *dest, const struct podsrc *pods,
		   struct masq_merged *ret_m, struct explain *ret_e, bool *ret_current)
{
	struct masq_sources *fresh = sources_new();
	struct sources_settings set = in->srcset;
	struct source_state st[SOURCE_COUNT];
	struct diags d;
	const char *text;
	size_t len;
	int r;

	if (!fresh)
		return -ENOMEM;
	/* the API's state as it is now: what the last load pointed at may
	 * have been replaced since */
	set.api_policies = in->kube ? kube_client_policies(in->kube) : NULL;
	if (set.api_config_name && in->kube && kube_client_configmap(in->kube, &text, &len)) {
		set.api_config = text;
		set.api_config_len = len;
	}
	set.origin_lines = true;
	diags_init(&d);
	r = sources_load(fresh, &set, ret_m, st, &d);
	sources_free(fresh);
	if (r < 0)
		return r;
	*ret_current = in->good && cfg_equal(ret_m->cfg, in->good);
	set.opts.pods = *pods; /* in force: --pod-cidr's and the Node's */
	r = explain_dest(ret_m, &set.opts, dest, NULL, ret_e);
	if (r < 0)
		merged_clear(ret_m);
	return r;
}

int intake_kube_access(const struct agent_settings *s, struct kube_access *acc)
{
	char path[PATH_MAX], *buf = NULL, why[DIAG_MSG_LEN - 16];
	struct diags d;
	size_t len;
	int r = 0;

	diags_init(&d);
	memset(acc, 0, sizeof(*acc));
	if (s->kubeconfig[0]) {
		r = cfg_read_file(s->kubeconfig, &buf, &len, &d);
		if (r == 0)
			r = kube_access_parse(s->kubeconfig, buf, len, acc, &d);
		free(buf);
	} else if (!s->apiserver_url[0]) {
		r = kube_access_in_cluster(getenv("KUBERNETES_SERVICE_HOST"),
					   getenv("KUBERNETES_SERVICE_PORT"), s->sa_dir, acc, &d);
	} else {
		snprintf(path, sizeof(path), "%s/token", s->sa_dir);
		if (access(path, R_OK) == 0 && !(acc->token_file = strdup(path)))
			r = -ENOMEM;
		snprintf(path, sizeof(path), "%s/ca.crt", s->sa_dir);
		if (access(path, R_OK) == 0 && !(acc->ca.file = strdup(path)))
			r = -ENOMEM;
	}
	if (r == 0 && s->apiserver_url[0] && kube_access_set_server(acc, s->apiserver_url) < 0) {
		diag_add(&d, DIAG_ERROR, "--apiserver-url", 0, 0,
			 "\"%s\" is not an http:// or https:// URL", s->apiserver_url);
		r = -EINVAL;
	}
	if (r == 0 && kube_access_check(acc, why, sizeof(why)) < 0) {
		diag_add(&d, DIAG_ERROR, s->kubeconfig[0] ? s->kubeconfig : "--apiserver-url", 0, 0,
			 "%s", why);
		r = -EINVAL;
	}
	log_diag_lines("kubernetes", &d);
	if (r < 0)
		kube_access_clear(acc);
	return r;
}
