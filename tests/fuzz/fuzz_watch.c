/* libFuzzer target: any bytes as a watch stream and as a list response.
 * The first byte picks where the stream is cut into chunks, as curl's
 * callbacks cut it; every line is parsed as an event, and every event's
 * object as an EgressNATPolicy and as a ConfigMap. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/kwatch.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int on_line(void *arg, const char *line, size_t len)
{
	struct masq_opts opts = { .enable_ipv6 = len & 1 };
	struct masq_policy_list list = { 0 };
	struct kw_event ev;
	struct diags d;
	const char *text;
	size_t tlen;
	char err[200];

	if (memchr(line, '\n', len))
		abort(); /* the splitter never hands over a newline */
	if (kw_event_parse(line, len, &ev, err, sizeof(err)) < 0)
		return 0;
	if (ev.type != KW_ERROR && ev.type != KW_BOOKMARK && !ev.name)
		abort(); /* objects are named */
	diags_init(&d);
	if (kw_policy_from_object(ev.object, &opts, &list, &d) == 1 && list.n != 1)
		abort(); /* one object is at most one policy */
	(void)kw_configmap_config(ev.object, "config", &text, &tlen);
	policy_list_clear(&list);
	kw_event_clear(&ev);
	return 0;
}

static int collect_item(void *arg, json_t *item)
{
	return json_array_append_new(arg, item) < 0 ? -ENOMEM : 0;
}

/* The list as it streams, cut every step bytes: what it accepts, the whole
 * parse accepts too, with the same items; and what the whole parse accepts,
 * it accepts too, but for what it refuses on purpose. */
static void list_stream(const unsigned char *data, size_t size, size_t step, json_t *whole,
			const char *whole_rv)
{
	struct kw_lister l = { 0 };
	json_t *items = json_array();
	struct kw_list_meta m;
	char err[200] = "";
	int e = 0;

	for (size_t off = 0; off < size && e == 0; off += step)
		e = kw_lister_feed(&l, (const char *)data + off,
				   size - off < step ? size - off : step, collect_item, items);
	if (e < 0)
		snprintf(err, sizeof(err), "%s", l.err);
	else
		e = kw_lister_end(&l, &m, err, sizeof(err));
	if (e == 0 && (!whole || !json_equal(items, whole) || strcmp(m.rv, whole_rv) != 0))
		abort();
	if (e < 0 && whole && !strstr(err, "escapes") && !strstr(err, "not an object") &&
	    !strstr(err, "metadata.continue"))
		abort();
	kw_lister_free(&l);
	json_decref(items);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct kw_splitter sp = { .max = 2048 };
	size_t step = size ? (size_t)data[0] % 17 + 1 : 1;
	json_t *root, *items;
	const char *rv;
	char err[200];

	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		int r = kw_split_feed(&sp, (const char *)data + off, n, on_line, NULL);
		if (r == -E2BIG)
			kw_split_reset(&sp);
		else if (r < 0)
			abort();
	}
	kw_split_free(&sp);
	if (kw_list_parse((const char *)data, size, &root, &items, &rv, err, sizeof(err)) == 0) {
		if (!json_is_array(items) || !rv || !rv[0])
			abort();
		list_stream(data, size, step, items, rv);
		json_decref(root);
	} else {
		list_stream(data, size, step, NULL, NULL);
	}
	return 0;
}
