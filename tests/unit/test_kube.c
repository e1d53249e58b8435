/* The Kubernetes API's wire shapes (config/kwatch.c) and API access
 * (config/kubeconfig.c): the stream splitter at every cut, events, lists,
 * policies and ConfigMaps from API objects, kubeconfig and in-cluster. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/kubeconfig.h"
#include "config/kwatch.h"
#include "config/sources.h"

struct lines {
	char got[8][256];
	int n;
};

static int collect(void *arg, const char *line, size_t len)
{
	struct lines *l = arg;

	if (l->n == 8 || len >= sizeof(l->got[0]))
		return -ENOSPC;
	memcpy(l->got[l->n], line, len);
	l->got[l->n++][len] = '\0';
	return 0;
}

/* The same stream cut at every pair of points gives the same lines. */
static void test_split_every_cut(void **state)
{
	const char *s = "{\"a\":1}\n\r\n{\"b\":2}\r\n\n{\"c\":3}\n{\"partial\"";
	size_t n = strlen(s);

	for (size_t i = 0; i <= n; i++) {
		for (size_t j = i; j <= n; j++) {
			struct kw_splitter sp = { .max = 64 };
			struct lines l = { 0 };

			assert_int_equal(kw_split_feed(&sp, s, i, collect, &l), 0);
			assert_int_equal(kw_split_feed(&sp, s + i, j - i, collect, &l), 0);
			assert_int_equal(kw_split_feed(&sp, s + j, n - j, collect, &l), 0);
			assert_int_equal(l.n, 3);
			assert_string_equal(l.got[0], "{\"a\":1}");
			assert_string_equal(l.got[1], "{\"b\":2}");
			assert_string_equal(l.got[2], "{\"c\":3}");
			assert_int_equal(sp.len, strlen("{\"partial\""));
			kw_split_free(&sp);
		}
	}
}

static void test_split_bound(void **state)
{
	struct kw_splitter sp = { .max = 8 };
	struct lines l = { 0 };

	/* whole in one chunk, or built up across chunks: both refused */
	assert_int_equal(kw_split_feed(&sp, "123456789\n", 10, collect, &l), -E2BIG);
	kw_split_reset(&sp);
	assert_int_equal(kw_split_feed(&sp, "12345", 5, collect, &l), 0);
	assert_int_equal(kw_split_feed(&sp, "6789", 4, collect, &l), -E2BIG);
	kw_split_reset(&sp);
	assert_int_equal(kw_split_feed(&sp, "12345678\n", 9, collect, &l), 0);
	assert_int_equal(l.n, 1);
	kw_split_free(&sp);
}

static void test_split_callback_error_stops(void **state)
{
	struct kw_splitter sp = { .max = 1024 };
	struct lines l = { .n = 8 }; /* full: collect refuses */

	assert_int_equal(kw_split_feed(&sp, "x\ny\n", 4, collect, &l), -ENOSPC);
	kw_split_free(&sp);
}

static void parse_ok(const char *line, struct kw_event *ev)
{
	char err[200];

	assert_int_equal(kw_event_parse(line, strlen(line), ev, err, sizeof(err)), 0);
}

static void parse_bad(const char *line, const char *want)
{
	struct kw_event ev;
	char err[200] = "";

	assert_int_equal(kw_event_parse(line, strlen(line), &ev, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_null(ev.root);
}

static void test_events(void **state)
{
	struct kw_event ev;

	parse_ok("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
		 "\"resourceVersion\":\"12\"}}}",
		 &ev);
	assert_int_equal(ev.type, KW_ADDED);
	assert_string_equal(ev.name, "a");
	assert_string_equal(ev.rv, "12");
	kw_event_clear(&ev);
	parse_ok("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"99\"}}}",
		 &ev);
	assert_int_equal(ev.type, KW_BOOKMARK);
	assert_string_equal(ev.rv, "99");
	assert_false(ev.initial_end);
	kw_event_clear(&ev);
	/* the end of a streaming list's initial events */
	parse_ok("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"100\","
		 "\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}",
		 &ev);
	assert_true(ev.initial_end);
	kw_event_clear(&ev);
	parse_ok("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"100\","
		 "\"annotations\":{\"k8s.io/initial-events-end\":\"false\"}}}}",
		 &ev);
	assert_false(ev.initial_end);
	kw_event_clear(&ev);
	parse_ok("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
		 "\"message\":\"too old resource version\"}}",
		 &ev);
	assert_int_equal(ev.type, KW_ERROR);
	assert_int_equal(ev.code, 410);
	assert_string_equal(ev.message, "too old resource version");
	kw_event_clear(&ev);
	parse_ok("{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}", &ev);
	assert_int_equal(ev.type, KW_DELETED);
	assert_null(ev.rv);
	kw_event_clear(&ev);
}

static void test_bad_events(void **state)
{
	char big[KW_RV_LEN + 100];

	parse_bad("not json", "not JSON");
	parse_bad("[1,2]", "not a JSON object");
	parse_bad("{\"type\":\"ADDED\"}", "without an object");
	parse_bad("{\"type\":\"UPSERTED\",\"object\":{}}", "event type must be");
	parse_bad("{\"type\":7,\"object\":{}}", "event type must be");
	parse_bad("{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}", "without metadata.name");
	parse_bad("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}", "BOOKMARK without");
	parse_bad("{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}", "duplicate");
	memset(big, '9', sizeof(big));
	snprintf(big, sizeof(big),
		 "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
		 "{\"resourceVersion\":\"%0*d\"}}}",
		 KW_RV_LEN, 1);
	parse_bad(big, "resourceVersion longer");
	/* a NUL would make "a\0b" read as "a", another policy's name */
	parse_bad("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\\u0000b\"}}}",
		  "without metadata.name");
	parse_bad("{\"type\":\"ADDED\\u0000x\",\"object\":{}}", "event type must be");
}

/* One ConfigMap whose data holds a NUL is refused alone, at its position,
 * by the config reader; the event itself still parses, so the watch does
 * not relist it forever. */
static void test_configmap_with_nul(void **state)
{
	static const char line[] = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":"
				   "\"ip-masq-agent\"},\"data\":{\"config\":"
				   "\"nonMasqueradeCIDRs: [\\\"10.0.0.0/8\\u0000junk\\\"]\"}}}";
	const struct masq_opts opts = { .random_fully = true };
	struct masq_config *cfg = NULL;
	struct kw_event ev;
	const char *text;
	struct diags d;
	size_t len;

	parse_ok(line, &ev);
	assert_int_equal(kw_configmap_config(ev.object, "config", &text, &len), 0);
	assert_int_equal(len, 39);
	diags_init(&d);
	assert_int_equal(cfg_parse_buf("configmap", text, len, &opts, &cfg, &d), -EINVAL);
	assert_null(cfg);
	assert_non_null(strstr(d.items[0].msg, "NUL byte"));
	assert_int_equal(d.items[0].line, 1);
	assert_int_equal(d.items[0].col, 33);
	kw_event_clear(&ev);
}

static void test_lists(void **state)
{
	const char *ok =
		"{\"kind\":\"EgressNATPolicyList\",\"metadata\":{\"resourceVersion\":\"7\"},"
		"\"items\":[{\"metadata\":{\"name\":\"a\"}}]}";
	const char *null_items = "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":"
				 "\"8\"},\"items\":null}";
	const char *st = "{\"kind\":\"Status\",\"code\":500,\"message\":\"etcd is down\"}";
	json_t *root, *items;
	const char *rv;
	char err[200];

	assert_int_equal(kw_list_parse(ok, strlen(ok), &root, &items, &rv, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(rv, "7");
	json_decref(root);
	/* encoding/json writes an empty slice as null */
	assert_int_equal(
		kw_list_parse(null_items, strlen(null_items), &root, &items, &rv, err, sizeof(err)),
		0);
	assert_int_equal(json_array_size(items), 0);
	json_decref(root);
	assert_int_equal(kw_list_parse(st, strlen(st), &root, &items, &rv, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "etcd is down"));
	assert_int_equal(kw_list_parse("", 0, &root, &items, &rv, err, sizeof(err)), -EINVAL);
	assert_int_equal(kw_list_parse("{\"items\":[]}", 12, &root, &items, &rv, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "resourceVersion"));
}

/* --- the list read as it streams */

struct collected {
	json_t *items; /* an array of what the lister handed over */
};

static int collect_item(void *arg, json_t *item)
{
	struct collected *c = arg;

	return json_array_append_new(c->items, item) < 0 ? -ENOMEM : 0;
}

/* Feed body in chunks of step bytes; returns feed's or end's error. */
static int stream(const char *body, size_t step, struct collected *c, struct kw_list_meta *m,
		  char *err, size_t errlen)
{
	struct kw_lister l = { 0 };
	size_t len = strlen(body);
	int e = 0;

	c->items = json_array();
	for (size_t off = 0; off < len && e == 0; off += step)
		e = kw_lister_feed(&l, body + off, len - off < step ? len - off : step,
				   collect_item, c);
	if (e < 0)
		snprintf(err, errlen, "%s", l.err);
	else
		e = kw_lister_end(&l, m, err, errlen);
	kw_lister_free(&l);
	return e;
}

static void test_list_stream_matches_whole(void **state)
{
	/* braces, brackets, quotes and escapes inside strings; metadata after
	 * the items; a nested "items" key that is not the list's */
	const char *body =
		"{\"kind\":\"EgressNATPolicyList\",\"apiVersion\":\"networking.gke.io/v1\","
		"\"items\":[ {\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":\"}]{[\\\"\\\\\"}},\n"
		"{\"metadata\":{\"name\":\"b\",\"annotations\":{\"items\":\"[1,2]\"}},"
		"\"spec\":{\"items\":[{\"cidr\":\"10.0.0.0/8\"}]}} ],"
		"\"metadata\":{\"resourceVersion\":\"42\",\"continue\":\"tok==\","
		"\"remainingItemCount\":3}}";
	json_t *root, *items;
	const char *rv;
	char err[200];

	assert_int_equal(kw_list_parse(body, strlen(body), &root, &items, &rv, err, sizeof(err)),
			 0);
	for (size_t step = 1; step <= strlen(body); step++) {
		struct collected c;
		struct kw_list_meta m;
		assert_int_equal(stream(body, step, &c, &m, err, sizeof(err)), 0);
		assert_true(json_equal(c.items, items));
		assert_string_equal(m.rv, "42");
		assert_string_equal(m.cont, "tok==");
		assert_int_equal(m.nitems, 2);
		json_decref(c.items);
	}
	json_decref(root);
}

static void test_list_stream_errors(void **state)
{
	static const struct {
		const char *body, *err;
	} cases[] = {
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[1]}",
		  "items[0] is not an object" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{},]}",
		  "items[1] is not an object" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{} {}]}",
		  "bad JSON after items[0]" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{\"a\":1,\"a\":2}]}",
		  "items[0] is not JSON" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{}],\"items\":[]}",
		  "items given twice" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"it\\u0065ms\":[{}]}", "escapes" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{}",
		  "ended inside its items" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{}]", "not JSON" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":7}", "items is not a list" },
		{ "{\"items\":[{}]}", "resourceVersion" },
		{ "{\"kind\":\"Status\",\"message\":\"etcd is down\"}", "etcd is down" },
		{ "{\"metadata\":{\"resourceVersion\":\"1\",\"continue\":5},\"items\":[]}",
		  "metadata.continue" },
		{ "[{}]", "not a JSON object" },
		{ "", "not JSON" },
	};
	char err[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct collected c;
		struct kw_list_meta m;
		assert_int_equal(stream(cases[i].body, 3, &c, &m, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].err))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].err);
		json_decref(c.items);
	}
}

/* Nesting: an item is read alone, two levels up from where it sits in the
 * body, so the lister's bound is jansson's minus two, and both readers
 * agree on every depth. */
static void test_list_stream_depth(void **state)
{
	const char *head = "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[";
	size_t max = 2100;
	char *body = malloc(strlen(head) + 6 * max + 8), err[200];

	assert_non_null(body);
	for (size_t depth = 2040; depth <= 2050; depth++) {
		struct collected c;
		struct kw_list_meta m;
		json_t *root, *items;
		const char *rv;
		int whole, streamed;
		/* {"a":{"a":...{}...}}, depth objects deep */
		size_t o = (size_t)sprintf(body, "%s", head);
		for (size_t i = 1; i < depth; i++)
			o += (size_t)sprintf(body + o, "{\"a\":");
		o += (size_t)sprintf(body + o, "{}");
		for (size_t i = 1; i < depth; i++)
			body[o++] = '}';
		o += (size_t)sprintf(body + o, "]}");
		whole = kw_list_parse(body, o, &root, &items, &rv, err, sizeof(err));
		if (whole == 0)
			json_decref(root);
		streamed = stream(body, 4096, &c, &m, err, sizeof(err));
		json_decref(c.items);
		if (whole != streamed)
			fail_msg("item depth %zu: whole %d, streamed %d", depth, whole, streamed);
	}
	free(body);
}

/* Memory is bounded by one item: a list far over the old 64 MiB whole-body
 * bound streams through, and an item over 4 MiB is refused. */
static void test_list_stream_bounds(void **state)
{
	struct kw_lister l = { 0 };
	struct collected c = { json_array() };
	struct kw_list_meta m;
	const char *head = "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[";
	char item[1024], err[200];
	size_t n = 0, big = 80u << 20;

	snprintf(item, sizeof(item), "{\"metadata\":{\"name\":\"%0*d\"}},", 900, 0);
	assert_int_equal(kw_lister_feed(&l, head, strlen(head), collect_item, &c), 0);
	while (n < big) {
		assert_int_equal(kw_lister_feed(&l, item, strlen(item), collect_item, &c), 0);
		n += strlen(item);
		if (json_array_size(c.items) > 1000)
			json_array_clear(c.items); /* the caller keeps nothing either */
	}
	assert_int_equal(kw_lister_feed(&l, "{}]}", 4, collect_item, &c), 0);
	assert_int_equal(kw_lister_end(&l, &m, err, sizeof(err)), 0);
	assert_true(l.icap <= 4096 && l.mcap <= 4096); /* never more than one item */
	assert_int_equal(m.nitems, n / strlen(item) + 1);
	kw_lister_reset(&l);
	assert_int_equal(kw_lister_feed(&l, head, strlen(head), collect_item, &c), 0);
	assert_int_equal(kw_lister_feed(&l, "{\"x\":\"", 6, collect_item, &c), 0);
	for (size_t i = 0; i <= KW_MAX_EVENT / sizeof(item); i++) {
		memset(item, 'a', sizeof(item));
		if (kw_lister_feed(&l, item, sizeof(item), collect_item, &c) < 0)
			break;
	}
	assert_non_null(strstr(l.err, "over 4 MiB"));
	kw_lister_free(&l);
	json_decref(c.items);
}

static int policy_of(const char *json, struct masq_policy_list *l, struct diags *d)
{
	json_t *obj = json_loads(json, 0, NULL);
	int r;

	assert_non_null(obj);
	r = kw_policy_from_object(obj, &(struct masq_opts){ 0 }, l, d);
	json_decref(obj);
	return r;
}

static void test_policy_objects(void **state)
{
	struct masq_policy_list l = { 0 };
	struct diags d;

	diags_init(&d);
	/* a list item: apiVersion and kind come from the list */
	assert_int_equal(policy_of("{\"metadata\":{\"name\":\"vpc\"},\"spec\":{\"action\":"
				   "\"NoSNAT\",\"destinations\":[{\"cidr\":\"10.0.0.0/8\"}]}}",
				   &l, &d),
			 1);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "vpc");
	assert_int_equal(l.v[0].ncidrs, 1);
	assert_int_equal(
		policy_of("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"action\":\"SNAT\"}}", &l, &d),
		0);
	assert_int_equal(l.n, 1);
	assert_non_null(strstr(d.items[0].file, "apiserver EgressNATPolicy/x"));
	assert_non_null(strstr(d.items[0].msg, "SNAT"));
	/* an object that claims to be a List cannot smuggle in many */
	assert_int_equal(
		policy_of("{\"kind\":\"List\",\"metadata\":{\"name\":\"l\"},\"items\":[]}", &l, &d),
		0);
	assert_int_equal(l.n, 1);
	policy_list_clear(&l);
}

/* The whole space is a warning; --api-min-prefix-v4/-v6 refuse what is
 * broader than they allow, naming the flag. */
static void test_policy_broad_destinations(void **state)
{
	struct masq_opts opts = { .enable_ipv6 = true };
	struct masq_policy_list l = { 0 };
	const char *all4 = "{\"metadata\":{\"name\":\"w\"},\"spec\":{\"action\":\"NoSNAT\","
			   "\"destinations\":[{\"cidr\":\"0.0.0.0/0\"}]}}";
	const char *wide6 = "{\"metadata\":{\"name\":\"w6\"},\"spec\":{\"action\":\"NoSNAT\","
			    "\"destinations\":[{\"cidr\":\"fd00::/8\"}]}}";
	struct diags d;
	json_t *obj;

	diags_init(&d);
	obj = json_loads(all4, 0, NULL);
	assert_int_equal(kw_policy_from_object(obj, &opts, &l, &d), 1);
	json_decref(obj);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.items[0].level, DIAG_WARNING);
	assert_non_null(strstr(d.items[0].msg, "only masqueradeCIDRs are masqueraded"));
	diags_init(&d);
	opts.policy_min_plen[0] = 8;
	opts.policy_min_plen[1] = 16;
	obj = json_loads(all4, 0, NULL);
	assert_int_equal(kw_policy_from_object(obj, &opts, &l, &d), 0);
	json_decref(obj);
	assert_non_null(strstr(d.items[0].msg, "0.0.0.0/0 is broader than /8"));
	assert_non_null(strstr(d.items[0].msg, "--api-min-prefix-v4"));
	obj = json_loads(wide6, 0, NULL);
	assert_int_equal(kw_policy_from_object(obj, &opts, &l, &d), 0);
	json_decref(obj);
	assert_non_null(strstr(d.items[1].msg, "--api-min-prefix-v6"));
	opts.policy_min_plen[1] = 8; /* exactly /8 is allowed */
	obj = json_loads(wide6, 0, NULL);
	assert_int_equal(kw_policy_from_object(obj, &opts, &l, &d), 1);
	json_decref(obj);
	policy_list_clear(&l);
}

static void test_configmap_objects(void **state)
{
	json_t *cm = json_loads("{\"data\":{\"config\":\"nonMasqueradeCIDRs: []\\n\"}}", 0, NULL);
	json_t *none = json_loads("{\"data\":{\"other\":\"x\"}}", 0, NULL);
	json_t *bad = json_loads("{\"data\":{\"config\":5}}", 0, NULL);
	const char *text;
	size_t len;

	assert_int_equal(kw_configmap_config(cm, "config", &text, &len), 0);
	assert_string_equal(text, "nonMasqueradeCIDRs: []\n");
	assert_int_equal(len, 23);
	assert_int_equal(kw_configmap_config(none, "config", &text, &len), 0);
	assert_null(text);
	assert_int_equal(kw_configmap_config(bad, "config", &text, &len), -EINVAL);
	json_decref(cm);
	json_decref(none);
	json_decref(bad);
}

static const char kubeconfig[] = "apiVersion: v1\n"
				 "kind: Config\n"
				 "current-context: b\n"
				 "contexts:\n"
				 "- {name: a, context: {cluster: one, user: u1}}\n"
				 "- {name: b, context: {cluster: two, user: u2, namespace: ns2}}\n"
				 "clusters:\n"
				 "- name: one\n"
				 "  cluster: {server: 'https://one:6443'}\n"
				 "- name: two\n"
				 "  cluster:\n"
				 "    server: https://10.0.0.1:443/\n"
				 "    certificate-authority-data: aGVsbG8=\n"
				 "users:\n"
				 "- {name: u1, user: {token: one}}\n"
				 "- name: u2\n"
				 "  user:\n"
				 "    tokenFile: secrets/token\n"
				 "    client-certificate: /abs/c.crt\n"
				 "    client-key: k.key\n";

static void test_kubeconfig(void **state)
{
	struct kube_access a;
	struct diags d;

	diags_init(&d);
	assert_int_equal(
		kube_access_parse("/etc/kube/config", kubeconfig, strlen(kubeconfig), &a, &d), 0);
	assert_string_equal(a.server, "https://10.0.0.1:443");
	assert_int_equal(a.ca.len, 5);
	assert_memory_equal(a.ca.data, "hello", 5);
	assert_null(a.token);
	assert_string_equal(a.token_file, "/etc/kube/secrets/token"); /* relative to the file */
	assert_string_equal(a.cert.file, "/abs/c.crt");
	assert_string_equal(a.key.file, "/etc/kube/k.key");
	assert_string_equal(a.namespace, "ns2");
	assert_string_equal(a.kubeconfig, "/etc/kube/config"); /* named in 401 log lines */
	kube_access_clear(&a);
}

static void kubeconfig_bad(const char *text, const char *want)
{
	struct kube_access a;
	struct diags d;

	diags_init(&d);
	assert_int_equal(kube_access_parse("kc", text, strlen(text), &a, &d), -EINVAL);
	assert_true(d.errors > 0);
	if (!strstr(d.items[0].msg, want))
		fail_msg("error \"%s\" lacks \"%s\"", d.items[0].msg, want);
	assert_null(a.server);
}

static void test_kubeconfig_errors(void **state)
{
	const char *head = "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: "
			   "u}}]\nclusters: [{name: k, cluster: {server: 'https://x'}}]\n";
	char buf[512];

	kubeconfig_bad("current-context: nope\n", "names no entry of contexts");
	kubeconfig_bad("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n",
		       "names no entry of clusters");
	kubeconfig_bad("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		       "clusters: [{name: k, cluster: {server: 'ftp://x'}}]\n",
		       "http(s)://");
	snprintf(buf, sizeof(buf), "%susers: [{name: u, user: {exec: {command: gke-auth}}}]\n",
		 head);
	kubeconfig_bad(buf, "exec and auth-provider plugins are not supported");
	snprintf(buf, sizeof(buf), "%susers: [{name: u, user: {client-certificate: c}}]\n", head);
	kubeconfig_bad(buf, "needs its key");
	snprintf(buf, sizeof(buf), "%susers: [{name: u, user: {client-key-data: '!!'}}]\n", head);
	kubeconfig_bad(buf, "not valid base64");
	kubeconfig_bad("[1, 2]\n", "expected one kubeconfig document");
	/* a CRLF in an inline token would start a header of its own */
	snprintf(buf, sizeof(buf), "%susers: [{name: u, user: {token: \"a\\r\\nX-Evil: 1\"}}]\n",
		 head);
	kubeconfig_bad(buf, "user.token holds a space or control character");
	/* tab-indented JSON, as kubectl config view -o json may be edited */
	{
		const char *json =
			"{\n\t\"current-context\": \"c\",\n"
			"\t\"contexts\": [{\"name\": \"c\", \"context\": {\"cluster\": "
			"\"k\", \"user\": \"u\"}}],\n"
			"\t\"clusters\": [{\"name\": \"k\", \"cluster\": {\"server\": "
			"\"https://x\"}}],\n"
			"\t\"users\": [{\"name\": \"u\", \"user\": {\"token\": \"t\"}}]\n}\n";
		struct kube_access a;
		struct diags d;

		diags_init(&d);
		assert_int_equal(kube_access_parse("kc", json, strlen(json), &a, &d), 0);
		assert_string_equal(a.token, "t");
		kube_access_clear(&a);
	}
}

static void test_in_cluster(void **state)
{
	struct kube_access a;
	struct diags d;

	diags_init(&d);
	assert_int_equal(kube_access_in_cluster("10.96.0.1", "443", "/sa", &a, &d), 0);
	assert_string_equal(a.server, "https://10.96.0.1:443");
	assert_string_equal(a.token_file, "/sa/token");
	assert_string_equal(a.ca.file, "/sa/ca.crt");
	kube_access_clear(&a);
	/* client-go's net.JoinHostPort: IPv6 literals in brackets */
	assert_int_equal(kube_access_in_cluster("fd00:10:96::1", "443", "/sa", &a, &d), 0);
	assert_string_equal(a.server, "https://[fd00:10:96::1]:443");
	kube_access_clear(&a);
	assert_int_equal(kube_access_in_cluster(NULL, "443", "/sa", &a, &d), -EINVAL);
	assert_int_equal(kube_access_in_cluster("10.96.0.1", "", "/sa", &a, &d), -EINVAL);
	assert_non_null(strstr(d.items[0].msg, "not in a pod"));
}

static void test_token_read(void **state)
{
	char path[] = "/tmp/masqd-token-XXXXXX", *t = NULL;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	char *big = malloc(KUBE_TOKEN_MAX + 2);

	assert_non_null(f);
	fputs("  eyJhbGciOi.abc.def\n", f);
	fflush(f);
	assert_int_equal(kube_token_read(path, &t), 0);
	assert_string_equal(t, "eyJhbGciOi.abc.def");
	free(t);
	assert_int_equal(ftruncate(fd, 0), 0);
	rewind(f);
	fputs(" \n", f);
	fflush(f);
	assert_int_equal(kube_token_read(path, &t), -EINVAL); /* empty */
	rewind(f);
	fputs("a b\n", f); /* a space would split the header */
	fflush(f);
	assert_int_equal(kube_token_read(path, &t), -EINVAL);
	rewind(f);
	fwrite("abc\0def\n", 1, 8, f); /* a NUL would cut it short */
	fflush(f);
	assert_int_equal(kube_token_read(path, &t), -EINVAL);
	memset(big, 'a', KUBE_TOKEN_MAX + 1);
	big[KUBE_TOKEN_MAX + 1] = '\0';
	rewind(f);
	fputs(big, f);
	fflush(f);
	assert_int_equal(kube_token_read(path, &t), -EINVAL); /* bounded */
	free(big);
	fclose(f);
	unlink(path);
	assert_int_equal(kube_token_read(path, &t), -ENOENT);
}

/* Which token goes out. client-go (NewBearerAuthWithRefreshRoundTripper, and
 * AuthInfo.TokenFile's doc): with both token and tokenFile, the file's last
 * successful read wins; the inline token is sent while it has none. */
static void test_token_pick(void **state)
{
	const char *both = "current-context: c\n"
			   "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
			   "clusters: [{name: k, cluster: {server: 'https://x'}}]\n"
			   "users: [{name: u, user: {token: inline-tok, tokenFile: t}}]\n";
	const char *inline_only = "current-context: c\n"
				  "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
				  "clusters: [{name: k, cluster: {server: 'https://x'}}]\n"
				  "users: [{name: u, user: {token: inline-tok}}]\n";
	struct kube_access a;
	struct diags d;

	diags_init(&d);
	assert_int_equal(kube_access_parse("/etc/kube/config", both, strlen(both), &a, &d), 0);
	assert_string_equal(a.token, "inline-tok");
	assert_string_equal(a.token_file, "/etc/kube/t");
	assert_string_equal(a.kubeconfig, "/etc/kube/config");
	assert_string_equal(kube_token_pick(&a, NULL), "inline-tok"); /* file not read yet */
	assert_string_equal(kube_token_pick(&a, "from-file"), "from-file");
	kube_access_clear(&a);
	assert_int_equal(kube_access_parse("kc", inline_only, strlen(inline_only), &a, &d), 0);
	assert_null(a.token_file);
	assert_string_equal(kube_token_pick(&a, NULL), "inline-tok");
	kube_access_clear(&a);
	/* in a pod: the service account's file, nothing before its first read */
	assert_int_equal(kube_access_in_cluster("10.96.0.1", "443", "/sa", &a, &d), 0);
	assert_null(a.kubeconfig);
	assert_null(kube_token_pick(&a, NULL));
	assert_string_equal(kube_token_pick(&a, "sa-tok"), "sa-tok");
	kube_access_clear(&a);
}

static void hint_has(const struct kube_access *a, const char *file_token, const char *want)
{
	char buf[300];

	kube_unauthorized_hint(a, file_token, buf, sizeof(buf));
	if (!strstr(buf, want))
		fail_msg("hint \"%s\" lacks \"%s\"", buf, want);
}

/* A 401's log line names what was sent, or says that nothing was. */
static void test_unauthorized_hint(void **state)
{
	char kc[] = "/etc/kube/config", tf[] = "/etc/kube/token", tok[] = "inline-tok";
	char cert[] = "/etc/kube/c.crt";
	struct kube_access a = { 0 };
	char small[16];

	hint_has(&a, NULL, "no token configured: no kubeconfig and no service-account token");
	a.kubeconfig = kc;
	hint_has(&a, NULL,
		 "no token configured: the kubeconfig /etc/kube/config has no token or tokenFile");
	a.cert.file = cert;
	hint_has(&a, NULL, "and its client certificate was refused");
	a.cert.file = NULL;
	a.token = tok;
	hint_has(&a, NULL, "the kubeconfig's inline token was refused");
	a.token_file = tf;
	hint_has(&a, NULL, "its tokenFile /etc/kube/token, which wins, cannot be read");
	hint_has(&a, "file-tok", "the token read from /etc/kube/token was refused");
	a.token = NULL;
	hint_has(&a, NULL, "no token was sent: the token file /etc/kube/token cannot be read");
	/* bounded, and always terminated */
	kube_unauthorized_hint(&a, "file-tok", small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_base64(void **state)
{
	unsigned char *out;
	size_t n;

	assert_int_equal(kube_base64_decode("aGVs\nbG8gd29ybGQ=", &out, &n), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(out, "hello world", 11);
	free(out);
	assert_int_equal(kube_base64_decode("", &out, &n), 0);
	assert_int_equal(n, 0);
	free(out);
	assert_int_equal(kube_base64_decode("aGVs*G8=", &out, &n), -EINVAL);
	assert_int_equal(kube_base64_decode("aGU=bG8=", &out, &n), -EINVAL);
}

/* The API's state as sources_load merges it. */
static void test_sources_api(void **state)
{
	struct masq_sources *s = sources_new();
	struct masq_policy_list pols = { 0 };
	struct masq_policy p = { .name = "vpc" };
	struct source_state st[SOURCE_COUNT];
	struct cidr c;
	struct masq_merged m;
	struct diags d;
	char canon[CIDR_STRLEN];
	const char *cm = "nonMasqueradeCIDRs: [192.0.2.0/24]\n";
	struct sources_settings set = { .config = "/nonexistent/ip-masq-agent",
					.max_cidrs_per_file = 64,
					.opts = { .random_fully = true },
					.api_policies = &pols };

	assert_int_equal(cidr_parse("10.10.0.0/16", &c, NULL), 0);
	p.cidrs = &c;
	p.ncidrs = 1;
	assert_int_equal(policy_list_add(&pols, &p), 0);
	diags_init(&d);
	/* a policy and no file: no defaults, as GKE */
	assert_int_equal(sources_load(s, &set, &m, st, &d), 0);
	assert_int_equal(m.cfg->ncidrs, 1);
	assert_string_equal(m.origins[0], "EgressNATPolicy/vpc");
	merged_clear(&m);
	/* the API's ConfigMap stands in for the file; a bad one keeps its last good */
	set.api_config_name = "configmap kube-system/ip-masq-agent";
	set.api_config = cm;
	set.api_config_len = strlen(cm);
	assert_int_equal(sources_load(s, &set, &m, st, &d), 0);
	assert_int_equal(m.cfg->ncidrs, 2);
	cidr_format(&m.cfg->cidrs[0], canon);
	assert_string_equal(canon, "192.0.2.0/24");
	assert_string_equal(m.origins[0], "configmap kube-system/ip-masq-agent");
	assert_true(st[SOURCE_API_CONFIG].used);
	merged_clear(&m);
	set.api_config = "nonMasqueradeCIDRs: [192.0.2.1/24]\n";
	set.api_config_len = strlen(set.api_config);
	assert_int_equal(sources_load(s, &set, &m, st, &d), 1);
	assert_false(st[SOURCE_API_CONFIG].ok);
	assert_non_null(
		strstr(st[SOURCE_API_CONFIG].error, "configmap kube-system/ip-masq-agent:1:"));
	cidr_format(&m.cfg->cidrs[0], canon);
	assert_string_equal(canon, "192.0.2.0/24");
	merged_clear(&m);
	/* the API says there is no ConfigMap: as a missing file */
	set.api_config = NULL;
	assert_int_equal(sources_load(s, &set, &m, st, &d), 0);
	assert_int_equal(m.cfg->ncidrs, 1);
	merged_clear(&m);
	policy_list_clear(&pols);
	sources_free(s);
}

/* A bearer token never travels over plain http, except to loopback. */
static void test_no_token_over_http(void **state)
{
	static const struct {
		const char *server;
		bool token, ok;
	} cases[] = {
		{ "https://10.96.0.1:443", true, true },
		{ "http://10.96.0.1:8080", false, true },
		{ "http://10.96.0.1:8080", true, false },
		{ "http://apiserver.example", true, false },
		{ "http://127.0.0.1:8080", true, true },
		{ "http://localhost:8080/", true, true },
		{ "http://[::1]:6443", true, true },
		{ "http://[::1x]:6443", true, false },
		{ "http://127.evil.com", true, false },
	};
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_access a = { 0 };

		assert_int_equal(kube_access_set_server(&a, cases[i].server), 0);
		if (cases[i].token)
			a.token_file = strdup("/t");
		why[0] = '\0';
		if (kube_access_check(&a, why, sizeof(why)) != (cases[i].ok ? 0 : -EINVAL))
			fail_msg("%s: %s", cases[i].server, why);
		if (!cases[i].ok)
			assert_non_null(
				strstr(why, "refusing to send a bearer token over plain http"));
		kube_access_clear(&a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_every_cut),
		cmocka_unit_test(test_split_bound),
		cmocka_unit_test(test_split_callback_error_stops),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_bad_events),
		cmocka_unit_test(test_no_token_over_http),
		cmocka_unit_test(test_configmap_with_nul),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_list_stream_matches_whole),
		cmocka_unit_test(test_list_stream_errors),
		cmocka_unit_test(test_list_stream_bounds),
		cmocka_unit_test(test_list_stream_depth),
		cmocka_unit_test(test_policy_broad_destinations),
		cmocka_unit_test(test_policy_objects),
		cmocka_unit_test(test_configmap_objects),
		cmocka_unit_test(test_kubeconfig),
		cmocka_unit_test(test_kubeconfig_errors),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_token_read),
		cmocka_unit_test(test_token_pick),
		cmocka_unit_test(test_unauthorized_hint),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_sources_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
