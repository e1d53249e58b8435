/* The document reader: JSON read by jansson must give the events, values
 * and positions that libyaml gives for the same text, and the cases libyaml
 * cannot read (tab indentation) must work too. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/doc.h"

static struct diags d;

/* Every event of buf as one line each: type, line:col, and a scalar's text
 * and whether it is plain; document and stream events without positions. */
static char *events_of(const char *buf, bool via_reader, bool *ret_json)
{
	static char out[8192];
	size_t o = 0;
	struct doc_reader *r = NULL;
	yaml_parser_t p;
	yaml_event_t ev;
	bool done = false;

	diags_init(&d);
	if (via_reader) {
		assert_int_equal(doc_reader_new("t", buf, strlen(buf), &d, &r), 0);
		*ret_json = doc_reader_is_json(r);
	} else {
		assert_true(yaml_parser_initialize(&p));
		yaml_parser_set_input_string(&p, (const unsigned char *)buf, strlen(buf));
	}
	out[0] = '\0';
	while (!done) {
		if (via_reader)
			assert_int_equal(doc_reader_next(r, &ev), 0);
		else
			assert_true(yaml_parser_parse(&p, &ev));
		done = ev.type == YAML_STREAM_END_EVENT;
		if (ev.type == YAML_SCALAR_EVENT)
			o += (size_t)snprintf(
				out + o, sizeof(out) - o, "S %zu:%zu %s %s\n", ev.start_mark.line,
				ev.start_mark.column, ev.data.scalar.value,
				ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "plain"
										: "quoted");
		else if (ev.type >= YAML_SEQUENCE_START_EVENT)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%d %zu:%zu\n", ev.type,
					      ev.start_mark.line, ev.start_mark.column);
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%d\n", ev.type);
		yaml_event_delete(&ev);
	}
	if (via_reader)
		doc_reader_free(r);
	else
		yaml_parser_delete(&p);
	return out;
}

/* JSON that libyaml can read too: the reader reads it with jansson and must
 * give exactly libyaml's events, positions included. */
static void json_events_match_libyaml(void **state)
{
	static const char *const docs[] = {
		"{\"a\": 1, \"b\": [true, false, null, \"x\"], \"c\": {\"d\": -2.5e3}}",
		"{\n  \"nonMasqueradeCIDRs\": [\"172.16.0.0/12\", \"10.0.0.0/8\"],\n"
		"  \"masqLinkLocal\": true,\n  \"resyncInterval\": \"5s\"\n}\n",
		"[{\"metadata\": {\"name\": \"p\"}}, [], {}, \"\\u00e9t\\u00e9\", 7]",
		"\r\n{\"k\": \"v\\\"\\\\\",\r\n \"l\": [ 1 , 2 ]\r\n}",
		"{\"caf\\u00e9\": \"\\u00e9\", \"z\": \"after a multibyte key\"}",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		bool json = false;
		char want[8192];

		snprintf(want, sizeof(want), "%s", events_of(docs[i], false, &json));
		assert_string_equal(events_of(docs[i], true, &json), want);
		assert_true(json);
	}
}

/* upstream's and v2's tests indent JSON with tabs; libyaml refuses that */
static void json_with_tabs(void **state)
{
	const char *doc = "\n\t\t{\n\t\t  \"nonMasqueradeCIDRs\": [\"10.0.0.0/8\"],\n"
			  "\t\t  \"masqLinkLocal\": true\n\t\t}\n\t\t";
	bool json = false;

	assert_string_equal(events_of(doc, true, &json), "1\n3\n"
							 "9 1:2\n"
							 "S 2:4 nonMasqueradeCIDRs quoted\n"
							 "7 2:26\n"
							 "S 2:27 10.0.0.0/8 quoted\n"
							 "8 2:39\n"
							 "S 3:4 masqLinkLocal quoted\n"
							 "S 3:21 true plain\n"
							 "10 4:2\n"
							 "4\n2\n");
	assert_true(json);
}

/* Looks like JSON, is YAML: libyaml reads it, and its errors stay YAML's,
 * with jansson's view added. */
static void yaml_flow_mapping_stays_yaml(void **state)
{
	struct doc_reader *r;
	bool json = true;
	yaml_event_t ev;
	int e = 0;

	events_of("{nonMasqueradeCIDRs: [10.0.0.0/8]}", true, &json);
	assert_false(json);
	diags_init(&d);
	assert_int_equal(doc_reader_new("t", "{a: [b}", 7, &d, &r), 0);
	while (e == 0) {
		e = doc_reader_next(r, &ev);
		if (e == 0)
			yaml_event_delete(&ev);
	}
	assert_int_equal(e, -EINVAL);
	assert_non_null(strstr(d.items[0].msg, "YAML syntax error"));
	assert_non_null(strstr(d.items[0].msg, "not JSON either"));
	doc_reader_free(r);
}

static void json_duplicate_key_located(void **state)
{
	struct doc_reader *r = NULL;
	char buf[512];

	diags_init(&d);
	assert_int_equal(doc_reader_new("t", "{\n\t\"a\": 1,\n\t\"a\": 2\n}", 20, &d, &r), -EINVAL);
	assert_null(r);
	diag_format(&d.items[0], buf, sizeof(buf));
	assert_string_equal(buf, "t:3:4: JSON: duplicate object key near '\"a\"'");
}

/* A NUL would cut a C string short: "10.0.0.0/8\0junk" must not read as
 * 10.0.0.0/8. Refused in both syntaxes, keys and values, at the scalar. */
static void nul_refused_where_it_is(void **state)
{
	static const struct {
		const char *doc;
		size_t len;
		const char *where;
	} cases[] = {
		{ "a: \"10.0.0.0/8\\0junk\"\n", 22, "t:1:4:" },
		{ "\"cidrLimit\\0xyz\": 3\n", 20, "t:1:1:" },
		{ "{\"a\": [\"x\", \"10.0.0.0/8\\u0000junk\"]}", 36, "t:1:13:" },
		{ "{\"cidrLimit\\u0000xyz\": 3}", 25, "t:1:2:" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct doc_reader *r;
		yaml_event_t ev;
		char buf[512];
		int e = 0;

		diags_init(&d);
		assert_int_equal(doc_reader_new("t", cases[i].doc, cases[i].len, &d, &r), 0);
		while (e == 0) {
			e = doc_reader_next(r, &ev);
			if (e == 0) {
				assert_int_not_equal(ev.type, YAML_STREAM_END_EVENT);
				yaml_event_delete(&ev);
			}
		}
		assert_int_equal(e, -EINVAL);
		diag_format(&d.items[0], buf, sizeof(buf));
		assert_non_null(strstr(buf, cases[i].where));
		assert_non_null(strstr(buf, "NUL byte"));
		doc_reader_free(r);
	}
}

static void bom_before_json(void **state)
{
	bool json = false;

	assert_string_equal(events_of("\xef\xbb\xbf{\"a\": 1}", true, &json),
			    "1\n3\n9 0:0\nS 0:1 a quoted\nS 0:6 1 plain\n10 0:7\n4\n2\n");
	assert_true(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_events_match_libyaml),
		cmocka_unit_test(json_with_tabs),
		cmocka_unit_test(yaml_flow_mapping_stays_yaml),
		cmocka_unit_test(json_duplicate_key_located),
		cmocka_unit_test(nul_refused_where_it_is),
		cmocka_unit_test(bom_before_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
