/*
 * Unit tests for services/mall/qr.c, the rotating signed QR tokens of
 * volunteer activities: minting and verifying, every kind of tampering,
 * the edges of the 60-second window, purposes, key derivation and the
 * expiry text.
 *
 * The code has no Kore or database dependency, so the file is compiled
 * into this test directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../services/mall/qr.c"

#define NOW      1767225600 /* 2026-01-01T00:00:00Z */
#define ACTIVITY 42

static const unsigned char key[32] = {
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};

static void
mint(int64_t activity, enum mall_qr_purpose p, int64_t now, char out[MALL_QR_TOKEN_MAX])
{
	int64_t exp = 0;

	assert_int_equal(mall_qr_mint(key, activity, p, now, out, MALL_QR_TOKEN_MAX, &exp), 0);
	assert_int_equal(exp, now + MALL_QR_TTL);
	assert_int_equal(strlen(out), MALL_QR_TOKEN_LEN);
}

static enum mall_qr_rc
verify(const char *t, int64_t activity, enum mall_qr_purpose p, int64_t now)
{
	return mall_qr_verify(key, t, strlen(t), activity, p, now);
}

static void
test_a_minted_token_verifies(void **state)
{
	char t[MALL_QR_TOKEN_MAX];
	size_t i;

	(void)state;
	mint(ACTIVITY, MALL_QR_CHECK_IN, NOW, t);
	assert_int_equal(verify(t, ACTIVITY, MALL_QR_CHECK_IN, NOW), MALL_QR_OK);
	/* base64url without padding: only the URL-safe alphabet. */
	for (i = 0; t[i] != '\0'; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                       "0123456789-_",
		                       t[i]));
	/* The same inputs make the same token; another second, another token. */
	{
		char again[MALL_QR_TOKEN_MAX], next[MALL_QR_TOKEN_MAX];

		mint(ACTIVITY, MALL_QR_CHECK_IN, NOW, again);
		mint(ACTIVITY, MALL_QR_CHECK_IN, NOW + 1, next);
		assert_string_equal(t, again);
		assert_string_not_equal(t, next);
	}
}

static void
test_the_window_edges(void **state)
{
	char t[MALL_QR_TOKEN_MAX];

	(void)state;
	mint(ACTIVITY, MALL_QR_CHECK_OUT, NOW, t);
	assert_int_equal(verify(t, ACTIVITY, MALL_QR_CHECK_OUT, NOW + MALL_QR_TTL - 1), MALL_QR_OK);
	assert_int_equal(verify(t, ACTIVITY, MALL_QR_CHECK_OUT, NOW + MALL_QR_TTL),
	                 MALL_QR_EXPIRED);
	assert_int_equal(verify(t, ACTIVITY, MALL_QR_CHECK_OUT, NOW + 3600), MALL_QR_EXPIRED);
	/* Another instance's clock may run a little behind the minter's. */
	assert_int_equal(verify(t, ACTIVITY, MALL_QR_CHECK_OUT, NOW - MALL_QR_SKEW), MALL_QR_OK);
	assert_int_equal(verify(t, ACTIVITY, MALL_QR_CHECK_OUT, NOW - MALL_QR_SKEW - 1),
	                 MALL_QR_EARLY);
}

static void
test_a_token_binds_its_activity_and_purpose(void **state)
{
	char t[MALL_QR_TOKEN_MAX];

	(void)state;
	mint(ACTIVITY, MALL_QR_CHECK_IN, NOW, t);
	assert_int_equal(verify(t, ACTIVITY + 1, MALL_QR_CHECK_IN, NOW), MALL_QR_MISMATCH);
	assert_int_equal(verify(t, ACTIVITY, MALL_QR_CHECK_OUT, NOW), MALL_QR_MISMATCH);
	mint(INT64_MAX, MALL_QR_CHECK_IN, NOW, t);
	assert_int_equal(verify(t, INT64_MAX, MALL_QR_CHECK_IN, NOW), MALL_QR_OK);
}

static void
test_tampering_is_refused(void **state)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                               "0123456789-_";
	char t[MALL_QR_TOKEN_MAX], bad[MALL_QR_TOKEN_MAX];
	unsigned char raw[QR_RAW_LEN];
	size_t i, n;

	(void)state;
	mint(ACTIVITY, MALL_QR_CHECK_IN, NOW, t);
	/* Every character changed to every other: never accepted. */
	for (i = 0; i < MALL_QR_TOKEN_LEN; i++) {
		for (n = 0; alphabet[n] != '\0'; n++) {
			if (alphabet[n] == t[i])
				continue;
			memcpy(bad, t, sizeof(bad));
			bad[i] = alphabet[n];
			assert_int_not_equal(verify(bad, ACTIVITY, MALL_QR_CHECK_IN, NOW),
			                     MALL_QR_OK);
		}
	}
	/* A body rewritten to another activity, purpose or time without the key. */
	assert_int_equal(yx_b64url_decode(t, strlen(t), raw, sizeof(raw), &n), 0);
	raw[9] ^= 1; /* activity 42 -> 43 */
	assert_int_equal(yx_b64url_encode(raw, sizeof(raw), bad, sizeof(bad)), 0);
	assert_int_equal(verify(bad, ACTIVITY + 1, MALL_QR_CHECK_IN, NOW), MALL_QR_MALFORMED);
	raw[9] ^= 1;
	raw[1] = MALL_QR_CHECK_OUT;
	assert_int_equal(yx_b64url_encode(raw, sizeof(raw), bad, sizeof(bad)), 0);
	assert_int_equal(verify(bad, ACTIVITY, MALL_QR_CHECK_OUT, NOW), MALL_QR_MALFORMED);
	raw[1] = MALL_QR_CHECK_IN;
	raw[17] ^= 0x40; /* issued 64 seconds later */
	assert_int_equal(yx_b64url_encode(raw, sizeof(raw), bad, sizeof(bad)), 0);
	assert_int_equal(verify(bad, ACTIVITY, MALL_QR_CHECK_IN, NOW + 64), MALL_QR_MALFORMED);
	/* Another key. */
	{
		unsigned char other[32];

		memcpy(other, key, sizeof(other));
		other[31] ^= 1;
		assert_int_equal(
		    mall_qr_verify(other, t, strlen(t), ACTIVITY, MALL_QR_CHECK_IN, NOW),
		    MALL_QR_MALFORMED);
	}
}

static void
test_malformed_tokens(void **state)
{
	char t[MALL_QR_TOKEN_MAX], longer[MALL_QR_TOKEN_MAX + 8];

	(void)state;
	mint(ACTIVITY, MALL_QR_CHECK_IN, NOW, t);
	assert_int_equal(verify("", ACTIVITY, MALL_QR_CHECK_IN, NOW), MALL_QR_MALFORMED);
	assert_int_equal(mall_qr_verify(key, NULL, 0, ACTIVITY, MALL_QR_CHECK_IN, NOW),
	                 MALL_QR_MALFORMED);
	assert_int_equal(mall_qr_verify(NULL, t, strlen(t), ACTIVITY, MALL_QR_CHECK_IN, NOW),
	                 MALL_QR_MALFORMED);
	/* One character short, one too many, padding, a space, a non-URL-safe character. */
	assert_int_equal(mall_qr_verify(key, t, strlen(t) - 1, ACTIVITY, MALL_QR_CHECK_IN, NOW),
	                 MALL_QR_MALFORMED);
	snprintf(longer, sizeof(longer), "%sA", t);
	assert_int_equal(verify(longer, ACTIVITY, MALL_QR_CHECK_IN, NOW), MALL_QR_MALFORMED);
	snprintf(longer, sizeof(longer), "%.45s=", t);
	assert_int_equal(verify(longer, ACTIVITY, MALL_QR_CHECK_IN, NOW), MALL_QR_MALFORMED);
	snprintf(longer, sizeof(longer), "%.45s ", t);
	assert_int_equal(verify(longer, ACTIVITY, MALL_QR_CHECK_IN, NOW), MALL_QR_MALFORMED);
	snprintf(longer, sizeof(longer), "+%s", t + 1);
	assert_int_equal(verify(longer, ACTIVITY, MALL_QR_CHECK_IN, NOW), MALL_QR_MALFORMED);
}

static void
test_mint_refuses_bad_arguments(void **state)
{
	char t[MALL_QR_TOKEN_MAX];

	(void)state;
	assert_int_equal(mall_qr_mint(key, 0, MALL_QR_CHECK_IN, NOW, t, sizeof(t), NULL), -1);
	assert_int_equal(mall_qr_mint(key, -1, MALL_QR_CHECK_IN, NOW, t, sizeof(t), NULL), -1);
	assert_int_equal(
	    mall_qr_mint(key, ACTIVITY, (enum mall_qr_purpose)3, NOW, t, sizeof(t), NULL), -1);
	assert_int_equal(mall_qr_mint(key, ACTIVITY, MALL_QR_CHECK_IN, -1, t, sizeof(t), NULL), -1);
	assert_int_equal(
	    mall_qr_mint(key, ACTIVITY, MALL_QR_CHECK_IN, NOW, t, MALL_QR_TOKEN_LEN, NULL), -1);
	assert_int_equal(mall_qr_mint(NULL, ACTIVITY, MALL_QR_CHECK_IN, NOW, t, sizeof(t), NULL),
	                 -1);
	assert_int_equal(
	    mall_qr_mint(key, ACTIVITY, MALL_QR_CHECK_IN, NOW, t, MALL_QR_TOKEN_LEN + 1, NULL), 0);
}

static void
test_purposes(void **state)
{
	enum mall_qr_purpose p = MALL_QR_CHECK_OUT;

	(void)state;
	assert_int_equal(mall_qr_purpose_parse("check_in", &p), 0);
	assert_int_equal(p, MALL_QR_CHECK_IN);
	assert_int_equal(mall_qr_purpose_parse("check_out", &p), 0);
	assert_int_equal(p, MALL_QR_CHECK_OUT);
	assert_int_equal(mall_qr_purpose_parse("check-in", &p), -1);
	assert_int_equal(mall_qr_purpose_parse("CHECK_IN", &p), -1);
	assert_int_equal(mall_qr_purpose_parse("", &p), -1);
	assert_int_equal(mall_qr_purpose_parse(NULL, &p), -1);
	assert_string_equal(mall_qr_purpose_name(MALL_QR_CHECK_IN), "check_in");
	assert_string_equal(mall_qr_purpose_name(MALL_QR_CHECK_OUT), "check_out");
	assert_string_equal(mall_qr_purpose_name((enum mall_qr_purpose)0), "");
}

static void
test_derived_keys(void **state)
{
	/* HMAC-SHA256(key, "yx-mall activity qr key v1"), computed with Python's hmac. */
	static const char expect[] =
	    "\x35\x65\x7c\xb5\x99\xa3\xc7\x27\xaa\xe3\x63\xbc\xa8\x15\x89\xfd"
	    "\x57\xf6\x5e\xc8\x3f\xcd\x95\x2e\x31\xc7\xcd\x04\x8d\xf3\x2f\x52";
	unsigned char a[32], b[32], base[32];

	(void)state;
	assert_int_equal(mall_qr_derive_key(key, a), 0);
	assert_int_equal(mall_qr_derive_key(key, b), 0);
	assert_memory_equal(a, b, 32);
	assert_memory_not_equal(a, key, 32);
	assert_memory_equal(a, expect, 32);
	memcpy(base, key, sizeof(base));
	base[0] ^= 1;
	assert_int_equal(mall_qr_derive_key(base, b), 0);
	assert_memory_not_equal(a, b, 32);
}

static void
test_expiry_text(void **state)
{
	char out[MALL_QR_TIME_MAX];

	(void)state;
	assert_int_equal(mall_qr_time_text(NOW + MALL_QR_TTL, out), 0);
	assert_string_equal(out, "2026-01-01T00:01:00Z");
	assert_int_equal(mall_qr_time_text(0, out), 0);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	assert_int_equal(mall_qr_time_text(253402300799LL, out), 0);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
	assert_int_equal(mall_qr_time_text(253402300800LL, out), -1);
	assert_int_equal(mall_qr_time_text(-1, out), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_minted_token_verifies),
	    cmocka_unit_test(test_the_window_edges),
	    cmocka_unit_test(test_a_token_binds_its_activity_and_purpose),
	    cmocka_unit_test(test_tampering_is_refused),
	    cmocka_unit_test(test_malformed_tokens),
	    cmocka_unit_test(test_mint_refuses_bad_arguments),
	    cmocka_unit_test(test_purposes),
	    cmocka_unit_test(test_derived_keys),
	    cmocka_unit_test(test_expiry_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
