/*
 * Unit tests for shared/yx_gcra: the GCRA arithmetic (bursts, steady rate,
 * retry-after values) and the in-process table (independent keys, eviction),
 * all on a fake clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "yx_gcra.h"

static void
test_params(void **state)
{
	int64_t t, tol;

	(void)state;
	assert_int_equal(yx_gcra_params(1000, 10, 5, &t, &tol), 0);
	assert_int_equal(t, 100000);
	assert_int_equal(tol, 500000);
	/* rounding down: 3 per second is one every 333333 us */
	assert_int_equal(yx_gcra_params(1000, 3, 1, &t, &tol), 0);
	assert_int_equal(t, 333333);
	/* more than one per microsecond is clamped to one */
	assert_int_equal(yx_gcra_params(1, 5000, 2, &t, &tol), 0);
	assert_int_equal(t, 1);
	assert_int_equal(tol, 2);
	assert_int_equal(yx_gcra_params(YX_GCRA_MAX_PERIOD_MS, 1, 1, &t, &tol), 0);

	assert_int_equal(yx_gcra_params(0, 10, 1, &t, &tol), -1);
	assert_int_equal(yx_gcra_params(-1000, 10, 1, &t, &tol), -1);
	assert_int_equal(yx_gcra_params(YX_GCRA_MAX_PERIOD_MS + 1, 10, 1, &t, &tol), -1);
	assert_int_equal(yx_gcra_params(1000, 0, 1, &t, &tol), -1);
	assert_int_equal(yx_gcra_params(1000, 10, 0, &t, &tol), -1);
	assert_int_equal(yx_gcra_params(1000, 10, -3, &t, &tol), -1);
	/* tolerance beyond 2^50 us */
	assert_int_equal(yx_gcra_params(YX_GCRA_MAX_PERIOD_MS, 1, INT64_MAX, &t, &tol), -1);
	assert_int_equal(yx_gcra_params(YX_GCRA_MAX_PERIOD_MS, 1, 500000, &t, &tol), -1);
}

static void
test_burst_then_limited(void **state)
{
	int64_t t, tol, tat = 0, retry, remaining, now = 5000000;
	int i;

	(void)state;
	/* 10 per second, burst 5 */
	assert_int_equal(yx_gcra_params(1000, 10, 5, &t, &tol), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(yx_gcra_step(&tat, now, t, tol, &retry, &remaining),
		                 YX_RL_ALLOWED);
		assert_int_equal(retry, 0);
		assert_int_equal(remaining, 4 - i);
	}
	assert_int_equal(yx_gcra_step(&tat, now, t, tol, &retry, &remaining), YX_RL_LIMITED);
	assert_int_equal(retry, 100000);
	assert_int_equal(remaining, 0);
	/* a refused request does not move the TAT */
	assert_int_equal(tat, now + 5 * t);
	assert_int_equal(yx_gcra_step(&tat, now + 99999, t, tol, &retry, NULL), YX_RL_LIMITED);
	assert_int_equal(retry, 1);
	/* exactly at retry-after it passes, and only one does */
	assert_int_equal(yx_gcra_step(&tat, now + 100000, t, tol, NULL, &remaining), YX_RL_ALLOWED);
	assert_int_equal(remaining, 0);
	assert_int_equal(yx_gcra_step(&tat, now + 100000, t, tol, &retry, NULL), YX_RL_LIMITED);
	assert_int_equal(retry, 100000);
}

static void
test_burst_of_one_is_a_strict_rate(void **state)
{
	int64_t t, tol, tat = 0, retry, remaining;
	int64_t now = 1000;
	int i;

	(void)state;
	assert_int_equal(yx_gcra_params(1000, 4, 1, &t, &tol), 0); /* every 250 ms */
	for (i = 0; i < 20; i++) {
		assert_int_equal(yx_gcra_step(&tat, now, t, tol, &retry, &remaining),
		                 YX_RL_ALLOWED);
		assert_int_equal(remaining, 0);
		assert_int_equal(yx_gcra_step(&tat, now + 249999, t, tol, &retry, NULL),
		                 YX_RL_LIMITED);
		assert_int_equal(retry, 1);
		now += 250000;
	}
}

static void
test_steady_rate_over_time(void **state)
{
	int64_t t, tol, tat = 0, now, allowed = 0;

	(void)state;
	/* 100 per second, burst 10, hammered every millisecond for 10 s */
	assert_int_equal(yx_gcra_params(1000, 100, 10, &t, &tol), 0);
	for (now = 0; now < 10000000; now += 1000) {
		if (yx_gcra_step(&tat, now, t, tol, NULL, NULL) == YX_RL_ALLOWED)
			allowed++;
	}
	/* the burst, then one every 10 ms */
	assert_int_equal(allowed, 10 + 999);
}

static void
test_idle_key_regains_its_burst(void **state)
{
	int64_t t, tol, tat = 0, remaining, now = 0;
	int i;

	(void)state;
	assert_int_equal(yx_gcra_params(60000, 6, 3, &t, &tol), 0); /* one per 10 s */
	for (i = 0; i < 3; i++)
		assert_int_equal(yx_gcra_step(&tat, now, t, tol, NULL, NULL), YX_RL_ALLOWED);
	assert_int_equal(yx_gcra_step(&tat, now, t, tol, NULL, NULL), YX_RL_LIMITED);
	/* after 10 s one token is back, after 30 s all three */
	now += 10000000;
	assert_int_equal(yx_gcra_step(&tat, now, t, tol, NULL, &remaining), YX_RL_ALLOWED);
	assert_int_equal(remaining, 0);
	now += 3 * 10000000;
	assert_int_equal(yx_gcra_step(&tat, now, t, tol, NULL, &remaining), YX_RL_ALLOWED);
	assert_int_equal(remaining, 2);
	/* long idle never banks more than the burst */
	now += 3600LL * 1000000;
	assert_int_equal(yx_gcra_step(&tat, now, t, tol, NULL, &remaining), YX_RL_ALLOWED);
	assert_int_equal(remaining, 2);
}

static struct yx_gcra_local *
table_new(void)
{
	struct yx_gcra_local *tbl = malloc(sizeof(*tbl));

	assert_non_null(tbl);
	yx_gcra_local_init(tbl);
	return tbl;
}

static void
test_local_keys_are_independent(void **state)
{
	struct yx_gcra_local *tbl = table_new();
	int64_t retry;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(
		    yx_gcra_local_check(tbl, "gw:ip:10.0.0.1", 1000, 1000, 3, 3, &retry),
		    YX_RL_ALLOWED);
		assert_int_equal(retry, 0);
	}
	assert_int_equal(yx_gcra_local_check(tbl, "gw:ip:10.0.0.1", 1000, 1000, 3, 3, &retry),
	                 YX_RL_LIMITED);
	/* 333333 us rounds up to 334 ms */
	assert_int_equal(retry, 334);
	assert_int_equal(yx_gcra_local_check(tbl, "gw:ip:10.0.0.2", 1000, 1000, 3, 3, &retry),
	                 YX_RL_ALLOWED);
	assert_int_equal(yx_gcra_local_check(tbl, "gw:ip:10.0.0.1", 1333, 1000, 3, 3, &retry),
	                 YX_RL_LIMITED);
	assert_int_equal(retry, 1);
	assert_int_equal(yx_gcra_local_check(tbl, "gw:ip:10.0.0.1", 1334, 1000, 3, 3, &retry),
	                 YX_RL_ALLOWED);
	assert_int_equal(tbl->evictions, 0);
	free(tbl);
}

static void
test_local_rejects_bad_input(void **state)
{
	struct yx_gcra_local *tbl = table_new();
	int64_t retry = 77;

	(void)state;
	assert_int_equal(yx_gcra_local_check(NULL, "k", 0, 1000, 1, 1, &retry), YX_RL_ERROR);
	assert_int_equal(yx_gcra_local_check(tbl, NULL, 0, 1000, 1, 1, &retry), YX_RL_ERROR);
	assert_int_equal(yx_gcra_local_check(tbl, "k", -1, 1000, 1, 1, &retry), YX_RL_ERROR);
	assert_int_equal(yx_gcra_local_check(tbl, "k", INT64_MAX, 1000, 1, 1, &retry), YX_RL_ERROR);
	assert_int_equal(yx_gcra_local_check(tbl, "k", 0, 0, 1, 1, &retry), YX_RL_ERROR);
	assert_int_equal(yx_gcra_local_check(tbl, "k", 0, 1000, 0, 1, &retry), YX_RL_ERROR);
	assert_int_equal(yx_gcra_local_check(tbl, "k", 0, 1000, 1, 0, &retry), YX_RL_ERROR);
	/* a NULL retry pointer is fine */
	assert_int_equal(yx_gcra_local_check(tbl, "k", 0, 1000, 1, 1, NULL), YX_RL_ALLOWED);
	assert_int_equal(yx_gcra_local_check(tbl, "k", 0, 1000, 1, 1, NULL), YX_RL_LIMITED);
	free(tbl);
}

static void
test_local_evicts_oldest_and_never_refuses(void **state)
{
	struct yx_gcra_local *tbl = table_new();
	const int n = 8 * YX_GCRA_LOCAL_SLOTS;
	char key[32];
	int64_t retry;
	int i;

	(void)state;
	/* a long-lived limit: one per hour, used up; it has the latest TAT throughout */
	assert_int_equal(yx_gcra_local_check(tbl, "sticky", 0, 3600000, 1, 1, &retry),
	                 YX_RL_ALLOWED);
	/* far more keys than the table holds, each used up for a minute */
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(yx_gcra_local_check(tbl, key, i, 60000, 1, 1, &retry),
		                 YX_RL_ALLOWED);
	}
	assert_true(tbl->evictions > 0);
	/* the newest key is still tracked */
	snprintf(key, sizeof(key), "k%d", n - 1);
	assert_int_equal(yx_gcra_local_check(tbl, key, n - 1, 60000, 1, 1, &retry), YX_RL_LIMITED);
	assert_int_equal(retry, 60000);
	/* the oldest was evicted: it starts afresh although its minute is not over */
	assert_int_equal(yx_gcra_local_check(tbl, "k0", n - 1, 60000, 1, 1, &retry), YX_RL_ALLOWED);
	/* the key with the latest TAT was never the victim */
	assert_int_equal(yx_gcra_local_check(tbl, "sticky", n, 3600000, 1, 1, &retry),
	                 YX_RL_LIMITED);
	assert_int_equal(retry, 3600000 - n);
	free(tbl);
}

static void
test_local_expired_entries_are_not_counted_as_evictions(void **state)
{
	struct yx_gcra_local *tbl = table_new();
	char key[32];
	int i;

	(void)state;
	/* each key is idle again (TAT passed) before the next arrives */
	for (i = 0; i < 4 * YX_GCRA_LOCAL_SLOTS; i++) {
		snprintf(key, sizeof(key), "idle%d", i);
		assert_int_equal(
		    yx_gcra_local_check(tbl, key, (int64_t)i * 10, 1000, 1000, 1, NULL),
		    YX_RL_ALLOWED);
	}
	assert_int_equal(tbl->evictions, 0);
	free(tbl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_params),
	    cmocka_unit_test(test_burst_then_limited),
	    cmocka_unit_test(test_burst_of_one_is_a_strict_rate),
	    cmocka_unit_test(test_steady_rate_over_time),
	    cmocka_unit_test(test_idle_key_regains_its_burst),
	    cmocka_unit_test(test_local_keys_are_independent),
	    cmocka_unit_test(test_local_rejects_bad_input),
	    cmocka_unit_test(test_local_evicts_oldest_and_never_refuses),
	    cmocka_unit_test(test_local_expired_entries_are_not_counted_as_evictions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
