/*
 * Unit tests for services/gateway/gw_policy: the public-route allowlist and
 * route classes, bearer token parsing, rate-limit subjects of client
 * addresses, Retry-After rounding and the CORS origin list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gw_policy.h"

static void
test_public_routes_and_classes(void **state)
{
	bool pub;

	(void)state;
	assert_int_equal(gw_policy_classify("POST", "/api/v1/auth/sms-code", &pub), GW_CLASS_AUTH);
	assert_true(pub);
	assert_int_equal(gw_policy_classify("POST", "/api/v1/auth/login", &pub), GW_CLASS_AUTH);
	assert_true(pub);
	assert_int_equal(gw_policy_classify("POST", "/api/v1/auth/refresh", &pub), GW_CLASS_AUTH);
	assert_true(pub);
	/* Any method on a credential route counts against the auth limit. */
	assert_int_equal(gw_policy_classify("GET", "/api/v1/auth/login", &pub), GW_CLASS_AUTH);
	assert_true(pub);
	assert_int_equal(gw_policy_classify("GET", "/api/v1/auth/jwks", &pub), GW_CLASS_READ);
	assert_true(pub);
	assert_int_equal(gw_policy_classify("POST", "/api/v1/auth/jwks", &pub), GW_CLASS_WRITE);
	assert_true(pub);

	/* Logout and everything else need a token. */
	assert_int_equal(gw_policy_classify("POST", "/api/v1/auth/logout", &pub), GW_CLASS_WRITE);
	assert_false(pub);
	assert_int_equal(gw_policy_classify("GET", "/api/v1/me", &pub), GW_CLASS_READ);
	assert_false(pub);
	assert_int_equal(gw_policy_classify("HEAD", "/api/v1/me", &pub), GW_CLASS_READ);
	assert_int_equal(gw_policy_classify("OPTIONS", "/api/v1/me", &pub), GW_CLASS_READ);
	assert_int_equal(gw_policy_classify("PUT", "/api/v1/me", &pub), GW_CLASS_WRITE);
	assert_int_equal(gw_policy_classify("PATCH", "/api/v1/me", &pub), GW_CLASS_WRITE);
	assert_int_equal(gw_policy_classify("DELETE", "/api/v1/me/sessions/1", &pub),
	                 GW_CLASS_WRITE);
	/* Exact paths only. */
	gw_policy_classify("POST", "/api/v1/auth/login/", &pub);
	assert_false(pub);
	gw_policy_classify("POST", "/api/v1/auth/loginx", &pub);
	assert_false(pub);
	gw_policy_classify("GET", "/api/v1/auth/jwks/x", &pub);
	assert_false(pub);
	gw_policy_classify("GET", "/api/v1/auth", &pub);
	assert_false(pub);
	gw_policy_classify("GET", "/API/v1/auth/jwks", &pub);
	assert_false(pub);

	assert_string_equal(gw_class_name(GW_CLASS_AUTH), "auth");
	assert_string_equal(gw_class_name(GW_CLASS_WRITE), "write");
	assert_string_equal(gw_class_name(GW_CLASS_N), "none");
}

static void
bearer_ok(const char *value, const char *want)
{
	const char *tok;
	size_t len;

	assert_int_equal(gw_bearer_token(value, 4096, &tok, &len), 1);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(tok, want, len);
}

static void
test_bearer_token(void **state)
{
	const char *tok;
	size_t len;

	(void)state;
	bearer_ok("Bearer abc.def.ghi", "abc.def.ghi");
	bearer_ok("bearer abc", "abc");
	bearer_ok("BEARER   abc  ", "abc");
	bearer_ok(" Bearer\tA-b_c.d~e+f/g==", "A-b_c.d~e+f/g==");

	/* No bearer credentials at all. */
	assert_int_equal(gw_bearer_token(NULL, 4096, &tok, &len), 0);
	assert_null(tok);
	assert_int_equal(gw_bearer_token("", 4096, &tok, &len), 0);
	assert_int_equal(gw_bearer_token("Basic dXNlcjpwYXNz", 4096, &tok, &len), 0);
	assert_int_equal(gw_bearer_token("Bearerish abc", 4096, &tok, &len), 0);

	/* Bearer, but no usable token. */
	assert_int_equal(gw_bearer_token("Bearer", 4096, &tok, &len), -1);
	assert_int_equal(gw_bearer_token("Bearer ", 4096, &tok, &len), -1);
	assert_int_equal(gw_bearer_token("Bearer a b", 4096, &tok, &len), -1);
	assert_int_equal(gw_bearer_token("Bearer a,b", 4096, &tok, &len), -1);
	assert_int_equal(gw_bearer_token("Bearer =abc", 4096, &tok, &len), -1);
	assert_int_equal(gw_bearer_token("Bearer ab=c", 4096, &tok, &len), -1);
	assert_int_equal(gw_bearer_token("Bearer a\"b", 4096, &tok, &len), -1);
	assert_null(tok);
	assert_int_equal(len, 0);

	/* The length limit. */
	assert_int_equal(gw_bearer_token("Bearer abcde", 5, &tok, &len), 1);
	assert_int_equal(gw_bearer_token("Bearer abcdef", 5, &tok, &len), -1);
}

static void
test_ip_subject(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(gw_ip_subject("203.0.113.7", out, sizeof(out)), 0);
	assert_string_equal(out, "203.0.113.7");
	assert_int_equal(gw_ip_subject("2001:db8:1:2:3:4:5:6", out, sizeof(out)), 0);
	assert_string_equal(out, "2001:db8:1:2::/64");
	/* Every address of one /64 is one subject. */
	assert_int_equal(gw_ip_subject("2001:db8:1:2::ffff", out, sizeof(out)), 0);
	assert_string_equal(out, "2001:db8:1:2::/64");
	assert_int_equal(gw_ip_subject("::1", out, sizeof(out)), 0);
	assert_string_equal(out, "0:0:0:0::/64");
	assert_int_equal(gw_ip_subject("::ffff:198.51.100.9", out, sizeof(out)), 0);
	assert_string_equal(out, "198.51.100.9");
	assert_int_equal(gw_ip_subject("unix", out, sizeof(out)), 0);
	assert_string_equal(out, "unix");
	assert_int_equal(gw_ip_subject("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(gw_ip_subject("203.0.113.7", out, 5), -1);
	assert_string_equal(out, "");
}

static void
test_retry_after(void **state)
{
	(void)state;
	assert_int_equal(gw_retry_after_seconds(-5), 1);
	assert_int_equal(gw_retry_after_seconds(0), 1);
	assert_int_equal(gw_retry_after_seconds(1), 1);
	assert_int_equal(gw_retry_after_seconds(1000), 1);
	assert_int_equal(gw_retry_after_seconds(1001), 2);
	assert_int_equal(gw_retry_after_seconds(9999), 10);
	assert_int_equal(gw_retry_after_seconds(60000), 60);
}

static void
test_origins(void **state)
{
	static struct gw_origins o;

	(void)state;
	assert_int_equal(gw_origins_parse(&o, NULL), 0);
	assert_int_equal(o.n, 0);
	assert_false(gw_origins_allowed(&o, "https://a.example"));
	assert_int_equal(gw_origins_parse(&o, ""), 0);
	assert_int_equal(o.n, 0);

	assert_int_equal(
	    gw_origins_parse(&o, " https://h5.yuexiang.example , http://127.0.0.1:5173,,"), 0);
	assert_int_equal(o.n, 2);
	assert_true(gw_origins_allowed(&o, "https://h5.yuexiang.example"));
	assert_true(gw_origins_allowed(&o, "http://127.0.0.1:5173"));
	assert_false(gw_origins_allowed(&o, "http://h5.yuexiang.example"));
	assert_false(gw_origins_allowed(&o, "https://h5.yuexiang.example.evil"));
	assert_false(gw_origins_allowed(&o, "https://H5.yuexiang.example"));
	assert_false(gw_origins_allowed(&o, "http://127.0.0.1:517"));
	assert_false(gw_origins_allowed(&o, NULL));
	assert_false(gw_origins_allowed(&o, "null"));

	/* Malformed entries empty the list. */
	assert_int_equal(gw_origins_parse(&o, "https://a.example/"), -1);
	assert_int_equal(o.n, 0);
	assert_int_equal(gw_origins_parse(&o, "https://a.example,*"), -1);
	assert_int_equal(gw_origins_parse(&o, "ftp://a.example"), -1);
	assert_int_equal(gw_origins_parse(&o, "https://"), -1);
	assert_int_equal(gw_origins_parse(&o, "https://A.example"), -1);
	assert_int_equal(gw_origins_parse(&o, "https://a.example:"), -1);
	assert_int_equal(gw_origins_parse(&o, "https://a.example:80x"), -1);
	assert_int_equal(gw_origins_parse(&o, "https://:80"), -1);
	assert_int_equal(gw_origins_parse(&o, "https://a.example/path"), -1);
}

static void
test_too_many_origins(void **state)
{
	static struct gw_origins o;
	char spec[GW_ORIGINS_MAX * 40];
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < GW_ORIGINS_MAX; i++)
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%shttps://o%zu.example",
		                      i ? "," : "", i);
	assert_int_equal(gw_origins_parse(&o, spec), 0);
	assert_int_equal(o.n, GW_ORIGINS_MAX);
	snprintf(spec + n, sizeof(spec) - n, ",https://one-more.example");
	assert_int_equal(gw_origins_parse(&o, spec), -1);
	assert_int_equal(o.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_public_routes_and_classes),
	    cmocka_unit_test(test_bearer_token),
	    cmocka_unit_test(test_ip_subject),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_origins),
	    cmocka_unit_test(test_too_many_origins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
