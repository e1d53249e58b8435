/* The ConfigMap-over-file rule (config/precedence.h), without an agent: the
 * API's version wins while the API answers, stays through an outage until
 * the mounted file really changes, and wins again when the API is back. */
#include "tests/unit/unit.h"

#include <stdbool.h>

#include "config/precedence.h"

static uint64_t digest_now;
static int digest_calls;

static uint64_t digest(void *ctx)
{
	digest_calls++;
	return digest_now;
}

static void api_wins_while_it_answers(void **state)
{
	struct cm_precedence p = { 0 };
	enum cm_event ev;

	digest_calls = 0;
	assert_false(cm_precedence_use_api(&p, false, digest, NULL, &ev)); /* not listed yet */
	assert_true(cm_precedence_use_api(&p, true, digest, NULL, &ev));
	assert_int_equal(ev, CM_NOTHING);
	assert_int_equal(cm_precedence_health(&p, true, digest, NULL), CM_NOTHING);
	assert_int_equal(digest_calls, 0); /* the files are not read without an outage */
}

static void outage_keeps_api_until_file_changes(void **state)
{
	struct cm_precedence p = { 0 };
	enum cm_event ev;

	digest_now = 111;
	assert_int_equal(cm_precedence_health(&p, false, digest, NULL), CM_OUTAGE_BEGAN);
	assert_int_equal(cm_precedence_health(&p, false, digest, NULL), CM_NOTHING);
	/* the file as it was: the API's last version stays */
	assert_true(cm_precedence_use_api(&p, true, digest, NULL, &ev));
	assert_int_equal(ev, CM_NOTHING);
	/* the file changed (kubelet caught up, or an admin fixed it): it wins */
	digest_now = 222;
	assert_false(cm_precedence_use_api(&p, true, digest, NULL, &ev));
	assert_int_equal(ev, CM_FILE_WINS);
	assert_false(cm_precedence_use_api(&p, true, digest, NULL, &ev));
	assert_int_equal(ev, CM_NOTHING); /* said once */
	/* the API answers again: it wins again */
	assert_int_equal(cm_precedence_health(&p, true, digest, NULL), CM_OUTAGE_ENDED);
	assert_true(cm_precedence_use_api(&p, true, digest, NULL, &ev));
	/* a new outage starts from the file as it is then */
	digest_now = 333;
	assert_int_equal(cm_precedence_health(&p, false, digest, NULL), CM_OUTAGE_BEGAN);
	assert_true(cm_precedence_use_api(&p, true, digest, NULL, &ev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(api_wins_while_it_answers),
		cmocka_unit_test(outage_keeps_api_until_file_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
