#include "tests/unit/unit.h"

#include <errno.h>

#include "config/duration.h"

/* Cases from Go's time.ParseDuration tests. */
static const struct {
	const char *in;
	int64_t ns;
} ok_cases[] = {
	{ "0", 0 },
	{ "5s", 5000000000LL },
	{ "30s", 30000000000LL },
	{ "1478s", 1478000000000LL },
	{ "-5s", -5000000000LL },
	{ "+5s", 5000000000LL },
	{ "-0", 0 },
	{ "+0", 0 },
	{ "5.0s", 5000000000LL },
	{ "5.6s", 5600000000LL },
	{ "5.s", 5000000000LL },
	{ ".5s", 500000000LL },
	{ "1.004s", 1004000000LL },
	{ "100.00100s", 100001000000LL },
	{ "10ns", 10 },
	{ "11us", 11000 },
	{ "12\xc2\xb5s", 12000 },
	{ "12\xce\xbcs", 12000 },
	{ "13ms", 13000000 },
	{ "15m", 900000000000LL },
	{ "16h", 57600000000000LL },
	{ "1m30s", 90000000000LL },
	{ "3h30m", 12600000000000LL },
	{ "10.5s4m", 250500000000LL },
	{ "-2m3.4s", -123400000000LL },
	{ "1h2m3s4ms5us6ns", 3723004005006LL },
	{ "39h9m14.425s", 140954425000000LL },
	{ "52763797000ns", 52763797000LL },
	{ "0.3333333333333333333h", 1200000000000LL },
	{ "9007199254740993ns", 9007199254740993LL },
	{ "9223372036854775807ns", INT64_MAX },
	{ "9223372036854775.807us", INT64_MAX },
	{ "9223372036s854ms775us807ns", INT64_MAX },
	{ "-9223372036854775808ns", INT64_MIN },
	{ "0.100000000000000000000h", 360000000000LL },
};

static const char *const bad_cases[] = {
	"", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\x85\x85", "60 s", "1.5.s",
};

static const char *const overflow_cases[] = {
	"9223372036854775808ns",
	"9223372036854775.808us",
	"9223372036854ms775us808ns",
	"3000000h",
};

static void test_valid(void **state)
{
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		int64_t ns = 12345;
		if (duration_parse(ok_cases[i].in, &ns) != 0)
			fail_msg("rejected \"%s\"", ok_cases[i].in);
		if (ns != ok_cases[i].ns)
			fail_msg("\"%s\": got %lld want %lld", ok_cases[i].in, (long long)ns,
				 (long long)ok_cases[i].ns);
	}
}

static void test_invalid(void **state)
{
	int64_t ns;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		if (duration_parse(bad_cases[i], &ns) != -EINVAL)
			fail_msg("accepted \"%s\"", bad_cases[i]);
	}
}

static void test_overflow(void **state)
{
	int64_t ns;

	for (size_t i = 0; i < sizeof(overflow_cases) / sizeof(overflow_cases[0]); i++) {
		if (duration_parse(overflow_cases[i], &ns) != -ERANGE)
			fail_msg("no overflow for \"%s\"", overflow_cases[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
