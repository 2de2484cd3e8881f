/*
 * Unit tests for services/gateway/gw_metrics: counts from several processes
 * add up in the shared mapping, the histogram is cumulative, and the
 * rendering is valid Prometheus text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_metrics.h"

static const char *const upstreams[] = {"identity", "mall"};

static char *
render(void)
{
	size_t len;
	char *text = gw_metrics_render(upstreams, 2, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The value of the line starting with prefix (name and labels), or -1. */
static long long
sample(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);

	while ((p = strstr(p, prefix)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p += n;
	}
	return -1;
}

static void
test_before_init_nothing_counts(void **state)
{
	char *text;

	(void)state;
	gw_metrics_request(GW_CLASS_READ, 200, 10);
	text = render();
	assert_int_equal(sample(text, "yx_gateway_requests_total{class=\"read\",code=\"200\"}"),
	                 -1);
	assert_int_equal(sample(text, "yx_gateway_request_duration_seconds_count{class=\"read\"}"),
	                 0);
	free(text);
}

static void
test_counts_from_child_processes_add_up(void **state)
{
	pid_t pids[3];
	int i, j, status;
	char *text;

	(void)state;
	assert_int_equal(gw_metrics_init(), 0);
	assert_int_equal(gw_metrics_init(), 0);
	for (i = 0; i < 3; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			for (j = 0; j < 1000; j++)
				gw_metrics_request(GW_CLASS_READ, 200, 800);
			gw_metrics_upstream_error(1, GW_UPERR_TIMEOUT);
			_exit(0);
		}
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	text = render();
	assert_int_equal(sample(text, "yx_gateway_requests_total{class=\"read\",code=\"200\"}"),
	                 3000);
	assert_int_equal(
	    sample(text, "yx_gateway_upstream_errors_total{upstream=\"mall\",kind=\"timeout\"}"),
	    3);
	assert_int_equal(
	    sample(text,
	           "yx_gateway_upstream_errors_total{upstream=\"identity\",kind=\"timeout\"}"),
	    0);
	free(text);
}

static void
test_histogram_and_codes(void **state)
{
	char *text;

	(void)state;
	assert_int_equal(gw_metrics_init(), 0);
	gw_metrics_request(GW_CLASS_WRITE, 201, 1000);     /* exactly 1 ms: le 0.001 */
	gw_metrics_request(GW_CLASS_WRITE, 201, 1001);     /* le 0.0025 */
	gw_metrics_request(GW_CLASS_WRITE, 503, 20000000); /* above 10 s: +Inf only */
	gw_metrics_request(GW_CLASS_WRITE, 0, 5);          /* client left: 499 */
	gw_metrics_request(GW_CLASS_WRITE, 700, 5);        /* nonsense: 500 */
	gw_metrics_request(GW_CLASS_N, 200, 5);            /* ignored */
	text = render();
	assert_int_equal(sample(text, "yx_gateway_requests_total{class=\"write\",code=\"201\"}"),
	                 2);
	assert_int_equal(sample(text, "yx_gateway_requests_total{class=\"write\",code=\"503\"}"),
	                 1);
	assert_int_equal(sample(text, "yx_gateway_requests_total{class=\"write\",code=\"499\"}"),
	                 1);
	assert_int_equal(sample(text, "yx_gateway_requests_total{class=\"write\",code=\"500\"}"),
	                 1);
	assert_int_equal(sample(text, "yx_gateway_request_duration_seconds_bucket{class=\"write\","
	                              "le=\"0.001\"}"),
	                 3);
	assert_int_equal(sample(text, "yx_gateway_request_duration_seconds_bucket{class=\"write\","
	                              "le=\"0.0025\"}"),
	                 4);
	assert_int_equal(sample(text, "yx_gateway_request_duration_seconds_bucket{class=\"write\","
	                              "le=\"10\"}"),
	                 4);
	assert_int_equal(sample(text, "yx_gateway_request_duration_seconds_bucket{class=\"write\","
	                              "le=\"+Inf\"}"),
	                 5);
	assert_int_equal(sample(text, "yx_gateway_request_duration_seconds_count{class=\"write\"}"),
	                 5);
	assert_non_null(
	    strstr(text, "yx_gateway_request_duration_seconds_sum{class=\"write\"} 20.002011\n"));
	free(text);
}

static void
test_other_counters_and_format(void **state)
{
	char *text, *line, *save = NULL;

	(void)state;
	assert_int_equal(gw_metrics_init(), 0);
	gw_metrics_rate_limited(GW_CLASS_AUTH, GW_RL_IP);
	gw_metrics_rate_limited(GW_CLASS_AUTH, GW_RL_IP);
	gw_metrics_rate_limited(GW_CLASS_READ, GW_RL_USER);
	gw_metrics_rl_fallback(GW_CLASS_WRITE);
	gw_metrics_auth_failure(GW_AUTH_EXPIRED);
	gw_metrics_auth_failure(GW_AUTH_N);
	gw_metrics_token_cache(true);
	gw_metrics_token_cache(true);
	gw_metrics_token_cache(false);
	text = render();
	assert_int_equal(sample(text, "yx_gateway_rate_limited_total{class=\"auth\",scope=\"ip\"}"),
	                 2);
	assert_int_equal(
	    sample(text, "yx_gateway_rate_limited_total{class=\"read\",scope=\"user\"}"), 1);
	assert_int_equal(sample(text, "yx_gateway_ratelimit_fallback_total{class=\"write\"}"), 1);
	assert_int_equal(sample(text, "yx_gateway_auth_failures_total{reason=\"expired\"}"), 1);
	assert_int_equal(sample(text, "yx_gateway_auth_failures_total{reason=\"missing\"}"), 0);
	assert_int_equal(sample(text, "yx_gateway_token_cache_total{result=\"hit\"}"), 2);
	assert_int_equal(sample(text, "yx_gateway_token_cache_total{result=\"miss\"}"), 1);
	/* ops and none are never limited: no such series. */
	assert_null(strstr(text, "yx_gateway_rate_limited_total{class=\"ops\""));

	/* Every line is a comment or "name{labels} value", and the text ends in \n. */
	assert_int_equal(text[strlen(text) - 1], '\n');
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP yx_gateway_", 18) ||
		    !strncmp(line, "# TYPE yx_gateway_", 18))
			continue;
		assert_true(!strncmp(line, "yx_gateway_", 11));
		assert_non_null(strchr(line, '{'));
		assert_non_null(strstr(line, "} "));
	}
	free(text);
	assert_string_equal(gw_auth_reason_name(GW_AUTH_REVOCATION_UNAVAILABLE),
	                    "revocation_unavailable");
	assert_string_equal(gw_rl_scope_name(GW_RL_USER), "user");
}

int
main(void)
{
	/* In this order: the first test runs before the mapping exists. */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_before_init_nothing_counts),
	    cmocka_unit_test(test_counts_from_child_processes_add_up),
	    cmocka_unit_test(test_histogram_and_codes),
	    cmocka_unit_test(test_other_counters_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
