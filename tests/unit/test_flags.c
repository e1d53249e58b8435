/* Go flag package semantics, so upstream's manifests parse unchanged. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config/flags.h"
#include "config/hostport.h"
#include "config/kubeconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static bool b1, b2;
static const char *s1;
static int v;

static const struct flag_def defs[] = {
	{ "enable-ipv6", FLAG_BOOL, &b1, NULL, "x" },
	{ "random-fully", FLAG_BOOL, &b2, NULL, "x" },
	{ "config", FLAG_STRING, &s1, "PATH", "x" },
	{ "v", FLAG_INT, &v, "N", "x" },
	FLAGS_KLOG,
	FLAGS_END,
};

static int run(struct flag_ctx *ctx, int argc, const char **argv)
{
	b1 = false;
	b2 = true;
	s1 = NULL;
	v = 0;
	return flags_parse(defs, argc, (char **)argv, 1, ctx);
}

#define ARGV(...)                   \
	(const char *[])            \
	{                           \
		"prog", __VA_ARGS__ \
	}
#define RUN(ctx, ...) run(ctx, sizeof(ARGV(__VA_ARGS__)) / sizeof(char *), ARGV(__VA_ARGS__))

static void test_forms(void **state)
{
	struct flag_ctx c;

	assert_int_equal(RUN(&c, "-enable-ipv6", "--config=/a", "-v", "3"), 0);
	assert_true(b1);
	assert_string_equal(s1, "/a");
	assert_int_equal(v, 3);
	assert_int_equal(RUN(&c, "--config", "/b", "--v=5", "--random-fully=false"), 0);
	assert_string_equal(s1, "/b");
	assert_int_equal(v, 5);
	assert_false(b2);
	assert_int_equal(RUN(&c, "--config="), 0);
	assert_string_equal(s1, "");
}

static void test_bool_values(void **state)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };
	struct flag_ctx c;
	char arg[64];

	for (size_t i = 0; i < 6; i++) {
		snprintf(arg, sizeof(arg), "--random-fully=%s", f[i]);
		assert_int_equal(RUN(&c, arg), 0);
		assert_false(b2);
		snprintf(arg, sizeof(arg), "-enable-ipv6=%s", t[i]);
		assert_int_equal(RUN(&c, arg), 0);
		assert_true(b1);
	}
	assert_int_equal(RUN(&c, "--enable-ipv6=yes"), -EINVAL);
	assert_string_equal(c.err, "invalid value \"yes\" for flag --enable-ipv6");
	/* Go: a bool never takes the next argument; "false" is positional */
	assert_int_equal(RUN(&c, "--enable-ipv6", "false"), 0);
	assert_true(b1);
	assert_int_equal(c.nargs, 1);
	assert_string_equal(c.args[0], "false");
}

static void test_errors(void **state)
{
	struct flag_ctx c;

	assert_int_equal(RUN(&c, "--nope"), -EINVAL);
	assert_string_equal(c.err, "flag provided but not defined: -nope");
	assert_int_equal(RUN(&c, "--config"), -EINVAL);
	assert_string_equal(c.err, "flag needs an argument: -config");
	assert_int_equal(RUN(&c, "---config=x"), -EINVAL);
	assert_string_equal(c.err, "bad flag syntax: ---config=x");
	assert_int_equal(RUN(&c, "--v=abc"), -EINVAL);
	assert_int_equal(RUN(&c, "-=x"), -EINVAL);
}

static void test_klog_flags_accepted_and_named(void **state)
{
	struct flag_ctx c;

	assert_int_equal(RUN(&c, "--logtostderr", "--v=2", "--log_file=/x", "--stderrthreshold",
			     "INFO", "--alsologtostderr=false"),
			 0);
	assert_int_equal(v, 2);
	assert_string_equal(c.ignored, "--logtostderr, --log_file, --stderrthreshold, "
				       "--alsologtostderr");
	assert_int_equal(c.nargs, 0);
}

static void test_positional_and_terminator(void **state)
{
	struct flag_ctx c;

	assert_int_equal(RUN(&c, "validate", "--enable-ipv6", "/etc/x", "--", "--config"), 0);
	assert_true(b1);
	assert_int_equal(c.nargs, 3);
	assert_string_equal(c.args[0], "validate");
	assert_string_equal(c.args[1], "/etc/x");
	assert_string_equal(c.args[2], "--config");
	assert_int_equal(RUN(&c, "-"), 0);
	assert_string_equal(c.args[0], "-");
}

static void test_bind_addresses(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	char buf[64];
	static const char *const bad[] = {
		"",	    "127.0.0.1",     "127.0.0.1:",  "127.0.0.1:0", "127.0.0.1:65536",
		"1.2.3:80", "[::1:80",	     "::1:80",	    "[::1]",	   "[]:80",
		"host:80",  "127.0.0.1:+80", "[1.2.3.4]:80"
	};

	assert_int_equal(hostport_parse("127.0.0.1:9743", &ss, &len), 0);
	assert_int_equal(a4->sin_family, AF_INET);
	assert_int_equal(ntohs(a4->sin_port), 9743);
	assert_string_equal(inet_ntop(AF_INET, &a4->sin_addr, buf, sizeof(buf)), "127.0.0.1");
	assert_int_equal(hostport_parse(":9744", &ss, &len), 0);
	assert_int_equal(a4->sin_addr.s_addr, 0);
	assert_int_equal(hostport_parse("[::]:9744", &ss, &len), 0);
	assert_int_equal(a6->sin6_family, AF_INET6);
	assert_int_equal(len, sizeof(*a6));
	assert_int_equal(hostport_parse("[fd00::1]:65535", &ss, &len), 0);
	assert_string_equal(inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof(buf)), "fd00::1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hostport_parse(bad[i], &ss, &len) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

/* --watch-configmap and --cleanup-on-uninstall: NAMESPACE/NAME, parsed once. */
static void test_k8s_ref(void **state)
{
	static const char *const bad[] = { "",	      "kube-system", "/name",	 "ns/",
					   "Ns/name", "ns/na me",    "-ns/name", "ns/name.",
					   "ns/a/b",  "ns/na\nme" };
	struct k8s_ref r;
	char big[300];

	assert_int_equal(k8s_ref_parse("kube-system/ip-masq-agent", &r), 0);
	assert_string_equal(r.ns, "kube-system");
	assert_string_equal(r.name, "ip-masq-agent");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(k8s_ref_parse(bad[i], &r), -EINVAL);
	memset(big, 'a', sizeof(big));
	memcpy(big, "ns/", 3);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(k8s_ref_parse(big, &r), -EINVAL); /* a name over 253 bytes */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_k8s_ref),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_bool_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_klog_flags_accepted_and_named),
		cmocka_unit_test(test_positional_and_terminator),
		cmocka_unit_test(test_bind_addresses),
	};
	return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
