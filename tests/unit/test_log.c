/* The log line: logfmt with every control character escaped, so text from a
 * config or an API object cannot forge a line or drive the terminal. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/log.h"

/* What log_error(fmt, s) writes to stderr. */
static char *logged(const char *s)
{
	static char buf[8192];
	int fds[2], saved = dup(2);
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	dup2(fds[1], 2);
	log_error("cidr %s", s);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	return buf;
}

static void control_characters_escaped(void **state)
{
	char *line = logged("10.0.0.0/8\r\ntime=forged level=info\x1b[2J\x7f\t\"q\"\\");

	/* one line only, ending in the one newline */
	assert_non_null(strchr(line, '\n'));
	assert_string_equal(strchr(line, '\n'), "\n");
	assert_null(strchr(line, '\r'));
	assert_null(strchr(line, '\x1b'));
	assert_null(strchr(line, '\x7f'));
	assert_null(strchr(line, '\t'));
	assert_non_null(strstr(line, "msg=\"cidr 10.0.0.0/8\\r\\ntime=forged level=info"
				     "\\x1b[2J\\x7f\\t\\\"q\\\"\\\\\"\n"));
}

static void plain_text_unchanged(void **state)
{
	assert_non_null(strstr(logged("fd00::/8 é"), "level=error msg=\"cidr fd00::/8 é\"\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(control_characters_escaped),
		cmocka_unit_test(plain_text_unchanged),
	};

	log_init(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
