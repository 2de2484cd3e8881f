/*
 * Unit tests for services/mall/mall_rules.c, the pure rules of yx-mall:
 * canonical ids, ids in paths, Idempotency-Keys and the request hash, staff
 * scopes from the role list, RFC 3339 times, text and URL fields, and the
 * local calendar labels of the leaderboards.
 *
 * The rules have no Kore or database dependency, so the file is compiled
 * into this test directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../services/mall/mall_rules.c"

static void
test_ids_are_canonical(void **state)
{
	(void)state;
	assert_true(mall_id_valid("1"));
	assert_true(mall_id_valid("900000000001"));
	assert_true(mall_id_valid("999999999999999999"));
	assert_false(mall_id_valid("1000000000000000000")); /* 19 digits */
	assert_false(mall_id_valid(""));
	assert_false(mall_id_valid("0"));
	assert_false(mall_id_valid("07"));
	assert_false(mall_id_valid("-1"));
	assert_false(mall_id_valid("1a"));
	assert_false(mall_id_valid(" 1"));
	assert_false(mall_id_valid(NULL));
}

static void
test_path_ids(void **state)
{
	char id[MALL_ID_MAX + 1];
	const char *rest;

	(void)state;
	assert_true(mall_path_id("/api/v1/mall/orders/42", "/api/v1/mall/orders/", id, &rest));
	assert_string_equal(id, "42");
	assert_string_equal(rest, "");
	assert_true(
	    mall_path_id("/api/v1/mall/orders/42/cancel", "/api/v1/mall/orders/", id, &rest));
	assert_string_equal(id, "42");
	assert_string_equal(rest, "/cancel");
	assert_false(mall_path_id("/api/v1/mall/orders/me", "/api/v1/mall/orders/", id, &rest));
	assert_false(mall_path_id("/api/v1/mall/orders/042", "/api/v1/mall/orders/", id, &rest));
	assert_false(mall_path_id("/api/v1/mall/orders/4x", "/api/v1/mall/orders/", id, &rest));
	assert_false(mall_path_id("/api/v1/mall/orders/", "/api/v1/mall/orders/", id, &rest));
	assert_false(mall_path_id("/api/v1/mall/items/1", "/api/v1/mall/orders/", id, &rest));
	assert_false(mall_path_id("/api/v1/mall/orders/1234567890123456789", "/api/v1/mall/orders/",
	                          id, &rest));
}

static void
test_idempotency_keys(void **state)
{
	char k[MALL_IDEM_KEY_MAX + 2];

	(void)state;
	assert_true(mall_idem_key_valid("a"));
	assert_true(mall_idem_key_valid("order-2024-06-01T10:00:00Z#1"));
	assert_false(mall_idem_key_valid(""));
	assert_false(mall_idem_key_valid("has space"));
	assert_false(mall_idem_key_valid("tab\t"));
	assert_false(mall_idem_key_valid("\xe4\xb8\xad")); /* not ASCII */
	assert_false(mall_idem_key_valid(NULL));
	memset(k, 'k', MALL_IDEM_KEY_MAX);
	k[MALL_IDEM_KEY_MAX] = '\0';
	assert_true(mall_idem_key_valid(k));
	k[MALL_IDEM_KEY_MAX] = 'k';
	k[MALL_IDEM_KEY_MAX + 1] = '\0';
	assert_false(mall_idem_key_valid(k));
}

static void
test_request_hash(void **state)
{
	char a[MALL_HASH_HEX], b[MALL_HASH_HEX];
	const char body[] = "{\"item_id\":\"1\"}";

	(void)state;
	/* sha256("POST\n/api/v1/mall/orders\n") */
	assert_int_equal(mall_request_hash("POST", "/api/v1/mall/orders", NULL, 0, a), 0);
	assert_string_equal(a, "b792fea3b88a26a23a3475d6417e58da4bc06de64ef31b435c77feda075d1c2b");
	assert_int_equal(strlen(a), 64);
	assert_int_equal(mall_request_hash("POST", "/api/v1/mall/orders", body, strlen(body), b),
	                 0);
	assert_string_not_equal(a, b);
	/* Method, path and body are kept apart: moving a byte across changes the hash. */
	assert_int_equal(mall_request_hash("POST", "/a", "b", 1, a), 0);
	assert_int_equal(mall_request_hash("POST", "/ab", NULL, 0, b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(mall_request_hash("POST", "/a", "b", 1, b), 0);
	assert_string_equal(a, b);
}

static void
test_staff_of_exactly_the_community(void **state)
{
	(void)state;
	assert_true(mall_is_staff("community_staff@12", "12"));
	assert_true(mall_is_staff("resident@1,community_secretary@12", "12"));
	assert_false(mall_is_staff("community_staff@12", "1"));
	assert_false(mall_is_staff("community_staff@1", "12"));
	assert_false(mall_is_staff("street_admin@12,district_admin@12", "12"));
	assert_false(mall_is_staff("volunteer@12,party_member@12", "12"));
	assert_false(mall_is_staff("", "12"));
	assert_false(mall_is_staff("community_staff@12", "012"));
	assert_false(mall_is_staff(NULL, "12"));
}

static void
test_staff_scopes(void **state)
{
	char out[MALL_SCOPES_TEXT], small[6];

	(void)state;
	assert_int_equal(mall_staff_scopes("", out, sizeof(out)), 0);
	assert_string_equal(out, "{}");
	assert_int_equal(mall_staff_scopes("resident@1,volunteer@2", out, sizeof(out)), 0);
	assert_string_equal(out, "{}");
	assert_int_equal(mall_staff_scopes("community_staff@12,resident@3,community_secretary@40,"
	                                   "community_staff@12,street_admin@7",
	                                   out, sizeof(out)),
	                 2);
	assert_string_equal(out, "{12,40}");
	/* Malformed orgs are skipped, never passed on to SQL. */
	assert_int_equal(
	    mall_staff_scopes("community_staff@1}3,community_staff@,community_staff@0x,"
	                      "community_staff@07,community_staff,community_staff@5",
	                      out, sizeof(out)),
	    1);
	assert_string_equal(out, "{5}");
	assert_int_equal(mall_staff_scopes("community_staff@123456", small, sizeof(small)), -1);
	assert_int_equal(mall_staff_scopes(NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "{}");
}

static void
test_rfc3339_times(void **state)
{
	(void)state;
	assert_true(mall_time_valid("2025-06-01T10:00:00Z"));
	assert_true(mall_time_valid("2025-06-01t10:00:00z"));
	assert_true(mall_time_valid("2025-06-01T10:00:00.123456+08:00"));
	assert_true(mall_time_valid("2024-02-29T23:59:59-05:30"));
	assert_true(mall_time_valid("2000-02-29T00:00:00Z"));
	assert_false(mall_time_valid("2023-02-29T00:00:00Z"));
	assert_false(mall_time_valid("1900-02-29T00:00:00Z"));
	assert_false(mall_time_valid("2025-04-31T00:00:00Z"));
	assert_false(mall_time_valid("2025-13-01T00:00:00Z"));
	assert_false(mall_time_valid("2025-06-01T24:00:00Z"));
	assert_false(mall_time_valid("2025-06-01T10:60:00Z"));
	assert_false(mall_time_valid("2025-06-01T10:00:60Z"));
	assert_false(mall_time_valid("2025-06-01 10:00:00Z"));
	assert_false(mall_time_valid("2025-06-01T10:00:00"));
	assert_false(mall_time_valid("2025-06-01T10:00:00.Z"));
	assert_false(mall_time_valid("2025-06-01T10:00:00.1234567Z"));
	assert_false(mall_time_valid("2025-06-01T10:00:00+0800"));
	assert_false(mall_time_valid("2025-06-01T10:00:00+24:00"));
	assert_false(mall_time_valid("2025-06-01T10:00:00Zjunk"));
	assert_false(mall_time_valid("2025-06-01"));
	assert_false(mall_time_valid(NULL));
}

static void
test_text_fields(void **state)
{
	const char *cjk = "\xe5\xa4\xa7\xe7\xb1\xb3"; /* 大米: 2 characters, 6 bytes */

	(void)state;
	assert_true(mall_text_valid(cjk, strlen(cjk), 1, 2, false));
	assert_false(mall_text_valid(cjk, strlen(cjk), 1, 1, false));
	assert_false(mall_text_valid("", 0, 1, 10, false));
	assert_true(mall_text_valid("", 0, 0, 10, true));
	assert_false(mall_text_valid("   ", 3, 1, 10, false));
	assert_false(mall_text_valid("a\nb", 3, 1, 10, false));
	assert_true(mall_text_valid("a\nb", 3, 1, 10, true));
	assert_false(mall_text_valid("a\x01", 2, 1, 10, true));
	assert_false(mall_text_valid("a\x7f", 2, 1, 10, true));
	assert_false(mall_text_valid("\xe5\xa4", 2, 1, 10, false)); /* cut UTF-8 */
	assert_false(mall_text_valid("\xc0\xaf", 2, 1, 10, false)); /* overlong */
}

static void
test_urls(void **state)
{
	char long_url[520];

	(void)state;
	assert_true(mall_url_valid("https://img.example.cn/a.png"));
	assert_true(mall_url_valid("http://x"));
	assert_false(mall_url_valid("https://"));
	assert_false(mall_url_valid("ftp://x"));
	assert_false(mall_url_valid("javascript:alert(1)"));
	assert_false(mall_url_valid("https://a b"));
	assert_false(mall_url_valid("https://a\n"));
	memset(long_url, 'a', sizeof(long_url) - 1);
	memcpy(long_url, "https://", 8);
	long_url[sizeof(long_url) - 1] = '\0';
	assert_false(mall_url_valid(long_url));
	long_url[500] = '\0';
	assert_true(mall_url_valid(long_url));
}

static void
test_period_labels_follow_china_time(void **state)
{
	char out[16];

	(void)state;
	/* 2025-06-30T15:59:59Z is 23:59:59 in Beijing; one second later it is July. */
	assert_int_equal(mall_period_label("month", 1751299199, out, sizeof(out)), 0);
	assert_string_equal(out, "2025-06");
	assert_int_equal(mall_period_label("month", 1751299200, out, sizeof(out)), 0);
	assert_string_equal(out, "2025-07");
	/* 2024-12-31T16:00:00Z is already 2025 in Beijing. */
	assert_int_equal(mall_period_label("year", 1735660800, out, sizeof(out)), 0);
	assert_string_equal(out, "2025");
	assert_int_equal(mall_period_label("year", 1735660799, out, sizeof(out)), 0);
	assert_string_equal(out, "2024");
	assert_int_equal(mall_period_label("week", 1735660800, out, sizeof(out)), -1);
	assert_int_equal(mall_period_label("month", 1735660800, out, 4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids_are_canonical),
	    cmocka_unit_test(test_path_ids),
	    cmocka_unit_test(test_idempotency_keys),
	    cmocka_unit_test(test_request_hash),
	    cmocka_unit_test(test_staff_of_exactly_the_community),
	    cmocka_unit_test(test_staff_scopes),
	    cmocka_unit_test(test_rfc3339_times),
	    cmocka_unit_test(test_text_fields),
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_period_labels_follow_china_time),
	};

	return cmocka_run_group_tests_name("mall_rules", tests, NULL, NULL);
}
