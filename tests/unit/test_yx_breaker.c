/*
 * Unit tests for shared/yx_breaker: the closed → open → half-open → closed
 * cycle, driven by a fake clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "yx_breaker.h"

static void
test_starts_closed(void **state)
{
	struct yx_breaker b;

	(void)state;
	yx_breaker_init(&b, 3, 1000);
	assert_int_equal(b.state, YX_BREAKER_CLOSED);
	assert_string_equal(yx_breaker_state_name(&b), "closed");
	assert_true(yx_breaker_allow(&b, 0));
	assert_true(yx_breaker_allow(&b, 1));
}

static void
test_opens_after_consecutive_failures(void **state)
{
	struct yx_breaker b;

	(void)state;
	yx_breaker_init(&b, 3, 1000);
	yx_breaker_failure(&b, 10);
	yx_breaker_failure(&b, 20);
	assert_int_equal(b.state, YX_BREAKER_CLOSED);
	assert_true(yx_breaker_allow(&b, 25));
	yx_breaker_failure(&b, 30);
	assert_int_equal(b.state, YX_BREAKER_OPEN);
	assert_string_equal(yx_breaker_state_name(&b), "open");
	assert_false(yx_breaker_allow(&b, 31));
	assert_false(yx_breaker_allow(&b, 1029));
}

static void
test_success_resets_the_count(void **state)
{
	struct yx_breaker b;

	(void)state;
	yx_breaker_init(&b, 3, 1000);
	yx_breaker_failure(&b, 1);
	yx_breaker_failure(&b, 2);
	yx_breaker_success(&b);
	yx_breaker_failure(&b, 3);
	yx_breaker_failure(&b, 4);
	assert_int_equal(b.state, YX_BREAKER_CLOSED);
	yx_breaker_failure(&b, 5);
	assert_int_equal(b.state, YX_BREAKER_OPEN);
}

static void
test_half_open_lets_one_trial_through(void **state)
{
	struct yx_breaker b;

	(void)state;
	yx_breaker_init(&b, 1, 1000);
	yx_breaker_failure(&b, 100);
	assert_false(yx_breaker_allow(&b, 1099));
	assert_true(yx_breaker_allow(&b, 1100));
	assert_int_equal(b.state, YX_BREAKER_HALF_OPEN);
	assert_string_equal(yx_breaker_state_name(&b), "half-open");
	/* only one trial while it is out */
	assert_false(yx_breaker_allow(&b, 1100));
	assert_false(yx_breaker_allow(&b, 1500));
}

static void
test_trial_success_closes(void **state)
{
	struct yx_breaker b;

	(void)state;
	yx_breaker_init(&b, 2, 500);
	yx_breaker_failure(&b, 0);
	yx_breaker_failure(&b, 0);
	assert_true(yx_breaker_allow(&b, 500));
	yx_breaker_success(&b);
	assert_int_equal(b.state, YX_BREAKER_CLOSED);
	assert_true(yx_breaker_allow(&b, 501));
	/* the count starts again from zero */
	yx_breaker_failure(&b, 502);
	assert_int_equal(b.state, YX_BREAKER_CLOSED);
	yx_breaker_failure(&b, 503);
	assert_int_equal(b.state, YX_BREAKER_OPEN);
}

static void
test_trial_failure_reopens_for_a_full_cooldown(void **state)
{
	struct yx_breaker b;

	(void)state;
	yx_breaker_init(&b, 1, 1000);
	yx_breaker_failure(&b, 0);
	assert_true(yx_breaker_allow(&b, 1000));
	yx_breaker_failure(&b, 1200);
	assert_int_equal(b.state, YX_BREAKER_OPEN);
	assert_false(yx_breaker_allow(&b, 2000));
	assert_false(yx_breaker_allow(&b, 2199));
	assert_true(yx_breaker_allow(&b, 2200));
}

static void
test_lost_trial_is_replaced_after_a_cooldown(void **state)
{
	struct yx_breaker b;

	(void)state;
	yx_breaker_init(&b, 1, 1000);
	yx_breaker_failure(&b, 0);
	assert_true(yx_breaker_allow(&b, 1000));
	/* the trial never reports back */
	assert_false(yx_breaker_allow(&b, 1999));
	assert_true(yx_breaker_allow(&b, 2000));
	assert_false(yx_breaker_allow(&b, 2001));
}

static void
test_late_failure_while_open_does_not_extend(void **state)
{
	struct yx_breaker b;

	(void)state;
	yx_breaker_init(&b, 1, 1000);
	yx_breaker_failure(&b, 0);
	yx_breaker_failure(&b, 900);
	assert_true(yx_breaker_allow(&b, 1000));
}

static void
test_degenerate_settings(void **state)
{
	struct yx_breaker b;

	(void)state;
	/* zero failures behaves as one */
	yx_breaker_init(&b, 0, 100);
	assert_int_equal(b.threshold, 1);
	yx_breaker_failure(&b, 0);
	assert_int_equal(b.state, YX_BREAKER_OPEN);

	/* a negative cooldown is no cooldown: the next call is the trial */
	yx_breaker_init(&b, 1, -5);
	assert_int_equal(b.cooldown_ms, 0);
	yx_breaker_failure(&b, 7);
	assert_true(yx_breaker_allow(&b, 7));
	assert_int_equal(b.state, YX_BREAKER_HALF_OPEN);
}

static void
test_many_failures_do_not_wrap(void **state)
{
	struct yx_breaker b;
	int i;

	(void)state;
	yx_breaker_init(&b, 5, 10);
	for (i = 0; i < 100000; i++) {
		yx_breaker_failure(&b, i);
		(void)yx_breaker_allow(&b, i);
	}
	assert_true(b.failures <= 5);
	assert_int_not_equal(b.state, YX_BREAKER_CLOSED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_starts_closed),
	    cmocka_unit_test(test_opens_after_consecutive_failures),
	    cmocka_unit_test(test_success_resets_the_count),
	    cmocka_unit_test(test_half_open_lets_one_trial_through),
	    cmocka_unit_test(test_trial_success_closes),
	    cmocka_unit_test(test_trial_failure_reopens_for_a_full_cooldown),
	    cmocka_unit_test(test_lost_trial_is_replaced_after_a_cooldown),
	    cmocka_unit_test(test_late_failure_while_open_does_not_extend),
	    cmocka_unit_test(test_degenerate_settings),
	    cmocka_unit_test(test_many_failures_do_not_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
