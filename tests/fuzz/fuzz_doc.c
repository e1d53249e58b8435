/* libFuzzer target: any bytes through the document reader. For a document
 * read as JSON, every event's position must point at its own first byte
 * in the input: the scanner that finds positions must never lose step
 * with jansson's tree. */
#include <stdlib.h>
#include <string.h>

#include "config/doc.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void check_position(const unsigned char *data, size_t size, const yaml_event_t *ev)
{
	size_t i = ev->start_mark.index;
	char want;

	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
		want = '{';
		break;
	case YAML_MAPPING_END_EVENT:
		want = '}';
		break;
	case YAML_SEQUENCE_START_EVENT:
		want = '[';
		break;
	case YAML_SEQUENCE_END_EVENT:
		want = ']';
		break;
	case YAML_SCALAR_EVENT:
		want = ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE
			       ? '"'
			       : (char)ev->data.scalar.value[0];
		break;
	default:
		return;
	}
	if (i >= size || data[i] != (unsigned char)want)
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct doc_reader *r;
	struct diags d;
	yaml_event_t ev;
	bool done = false;

	diags_init(&d);
	if (doc_reader_new("fuzz", (const char *)data, size, &d, &r) < 0)
		return 0;
	while (!done && doc_reader_next(r, &ev) == 0) {
		if (doc_reader_is_json(r))
			check_position(data, size, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	doc_reader_free(r);
	return 0;
}
