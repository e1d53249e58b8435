/* The Prometheus exposition writer. */
#include "tests/unit/unit.h"

#include <math.h>
#include <string.h>

#include "agent/expo.h"

static void test_family_and_samples(void **state)
{
	struct expo *e = expo_new();
	const char *labels[] = { "family", "ipv4", NULL };

	expo_family(e, "masqd_x_total", "counter", "Things counted.");
	expo_sample(e, "masqd_x_total", labels, 42);
	expo_sample(e, "masqd_x_total", (const char *[]){ "family", "ipv6", NULL }, 0);
	expo_family(e, "masqd_g", "gauge", "A gauge.");
	expo_sample(e, "masqd_g", NULL, 1.5);
	assert_string_equal(expo_text(e, NULL), "# HELP masqd_x_total Things counted.\n"
						"# TYPE masqd_x_total counter\n"
						"masqd_x_total{family=\"ipv4\"} 42\n"
						"masqd_x_total{family=\"ipv6\"} 0\n"
						"# HELP masqd_g A gauge.\n"
						"# TYPE masqd_g gauge\n"
						"masqd_g 1.5\n");
	expo_free(e);
}

static void test_one_type_per_family(void **state)
{
	struct expo *e = expo_new();

	expo_family(e, "masqd_a", "gauge", "A.");
	expo_family(e, "masqd_a", "gauge", "A.");
	expo_sample(e, "masqd_a", NULL, 1);
	assert_string_equal(expo_text(e, NULL),
			    "# HELP masqd_a A.\n# TYPE masqd_a gauge\nmasqd_a 1\n");
	expo_free(e);
}

static void test_escaping(void **state)
{
	struct expo *e = expo_new();
	const char *labels[] = { "path", "C:\\dir \"x\"\nnext", NULL };

	expo_family(e, "masqd_e", "gauge", "Help with \\ and\nnewline \"quoted\".");
	expo_sample(e, "masqd_e", labels, 1);
	assert_string_equal(expo_text(e, NULL),
			    "# HELP masqd_e Help with \\\\ and\\nnewline \"quoted\".\n"
			    "# TYPE masqd_e gauge\n"
			    "masqd_e{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1\n");
	expo_free(e);
}

static void test_values(void **state)
{
	struct expo *e = expo_new();

	expo_sample(e, "a", NULL, NAN);
	expo_sample(e, "b", NULL, INFINITY);
	expo_sample(e, "c", NULL, -INFINITY);
	expo_sample(e, "d", NULL, 1e21);
	expo_sample(e, "f", NULL, 0.001);
	expo_sample(e, "g", NULL, 1732861234.5);
	assert_string_equal(expo_text(e, NULL), "a NaN\nb +Inf\nc -Inf\nd 1e+21\nf 0.001\n"
						"g 1732861234.5\n");
	expo_free(e);
}

static void test_histogram_cumulative(void **state)
{
	struct expo *e = expo_new();
	const double bounds[] = { 0.001, 0.002, 0.004 };
	const uint64_t counts[] = { 2, 0, 3, 1 }; /* the last: above 0.004 */
	const char *labels[] = { "k", "v", NULL };

	expo_family(e, "masqd_h_seconds", "histogram", "H.");
	expo_histogram(e, "masqd_h_seconds", labels, bounds, counts, 3, 0.25);
	assert_string_equal(expo_text(e, NULL), "# HELP masqd_h_seconds H.\n"
						"# TYPE masqd_h_seconds histogram\n"
						"masqd_h_seconds_bucket{k=\"v\",le=\"0.001\"} 2\n"
						"masqd_h_seconds_bucket{k=\"v\",le=\"0.002\"} 2\n"
						"masqd_h_seconds_bucket{k=\"v\",le=\"0.004\"} 5\n"
						"masqd_h_seconds_bucket{k=\"v\",le=\"+Inf\"} 6\n"
						"masqd_h_seconds_sum{k=\"v\"} 0.25\n"
						"masqd_h_seconds_count{k=\"v\"} 6\n");
	expo_free(e);
}

static void test_histogram_without_labels(void **state)
{
	struct expo *e = expo_new();
	const double bounds[] = { 1, 16.384 };
	const uint64_t counts[] = { 0, 0, 0 };

	expo_histogram(e, "h", NULL, bounds, counts, 2, 0);
	assert_string_equal(expo_text(e, NULL), "h_bucket{le=\"1\"} 0\nh_bucket{le=\"16.384\"} 0\n"
						"h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
	expo_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_samples),
		cmocka_unit_test(test_one_type_per_family),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_histogram_without_labels),
	};
	return cmocka_run_group_tests_name("expo", tests, NULL, NULL);
}
