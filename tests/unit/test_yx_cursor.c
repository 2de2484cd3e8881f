/*
 * Unit tests for shared/yx_cursor.c: round trips, and refusal of every kind
 * of damaged, forged or foreign cursor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "yx_cursor.h"
#include "yx_encode.h"

/* key_b differs from key_a in one bit of its last byte. */
static const unsigned char key_a[32] = {
    0x0b, 0x30, 0x55, 0x7a, 0x9f, 0xc4, 0xe9, 0x0e, 0x33, 0x58, 0x7d, 0xa2, 0xc7, 0xec, 0x11, 0x36,
    0x5b, 0x80, 0xa5, 0xca, 0xef, 0x14, 0x39, 0x5e, 0x83, 0xa8, 0xcd, 0xf2, 0x17, 0x3c, 0x61, 0x86};
static const unsigned char key_b[32] = {
    0x0b, 0x30, 0x55, 0x7a, 0x9f, 0xc4, 0xe9, 0x0e, 0x33, 0x58, 0x7d, 0xa2, 0xc7, 0xec, 0x11, 0x36,
    0x5b, 0x80, 0xa5, 0xca, 0xef, 0x14, 0x39, 0x5e, 0x83, 0xa8, 0xcd, 0xf2, 0x17, 0x3c, 0x61, 0x87};

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
encode(const unsigned char *key, int64_t k, int64_t id, char out[YX_CURSOR_MAX])
{
	struct yx_cursor c = {k, id};

	assert_int_equal(yx_cursor_encode(key, &c, out, YX_CURSOR_MAX), 0);
	assert_int_equal(strlen(out), YX_CURSOR_LEN);
}

static void
assert_refused(const unsigned char *key, const char *s, size_t len)
{
	struct yx_cursor c = {111, 222};

	if (yx_cursor_decode(key, s, len, &c) != -1)
		fail_msg("accepted cursor %.*s", (int)len, s);
	assert_true(c.key == 111 && c.id == 222);
}

static void
test_roundtrip(void **state)
{
	static const int64_t vals[][2] = {
	    {0, 0},
	    {1, 1},
	    {-1, -1},
	    {INT64_MIN, INT64_MAX},
	    {INT64_MAX, INT64_MIN},
	    {1795442400123456, 42},
	    {0x0102030405060708, 0x7f8e9dacbbcadbea},
	};
	char s[YX_CURSOR_MAX];
	struct yx_cursor c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		encode(key_a, vals[i][0], vals[i][1], s);
		assert_int_equal(strspn(s, alphabet), YX_CURSOR_LEN);
		assert_int_equal(yx_cursor_decode(key_a, s, strlen(s), &c), 0);
		assert_true(c.key == vals[i][0]);
		assert_true(c.id == vals[i][1]);
	}
}

static void
test_deterministic(void **state)
{
	char a[YX_CURSOR_MAX], b[YX_CURSOR_MAX], c[YX_CURSOR_MAX];

	(void)state;
	encode(key_a, 5, 6, a);
	encode(key_a, 5, 6, b);
	assert_string_equal(a, b);
	encode(key_b, 5, 6, c);
	assert_string_not_equal(a, c);
	encode(key_a, 5, 7, c);
	assert_string_not_equal(a, c);
}

static void
test_wrong_key(void **state)
{
	char s[YX_CURSOR_MAX];

	(void)state;
	encode(key_a, 1000, 7, s);
	assert_refused(key_b, s, strlen(s));
}

/* Any single-character change is caught, by the MAC or by strict base64url. */
static void
test_tamper_each_char(void **state)
{
	char s[YX_CURSOR_MAX], t[YX_CURSOR_MAX];
	size_t i, j;

	(void)state;
	encode(key_a, 1795442400123456, 987654321, s);
	for (i = 0; i < YX_CURSOR_LEN; i++) {
		for (j = 0; j < 64; j++) {
			if (alphabet[j] == s[i])
				continue;
			memcpy(t, s, sizeof(t));
			t[i] = alphabet[j];
			assert_refused(key_a, t, YX_CURSOR_LEN);
		}
	}
}

/* Any single-bit change of the decoded bytes is caught by the MAC. */
static void
test_tamper_each_bit(void **state)
{
	char s[YX_CURSOR_MAX], t[YX_CURSOR_MAX];
	unsigned char raw[25], flipped[25];
	size_t n, i;
	int bit;

	(void)state;
	encode(key_a, -5, 77, s);
	assert_int_equal(yx_b64url_decode(s, YX_CURSOR_LEN, raw, sizeof(raw), &n), 0);
	assert_int_equal(n, 25);
	assert_int_equal(raw[0], 1);
	for (i = 0; i < sizeof(raw); i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(flipped, raw, sizeof(raw));
			flipped[i] ^= (unsigned char)(1u << bit);
			assert_int_equal(yx_b64url_encode(flipped, 25, t, sizeof(t)), 0);
			assert_refused(key_a, t, YX_CURSOR_LEN);
		}
	}
}

/* A correctly MACed cursor of another version is still refused. */
static void
test_wrong_version(void **state)
{
	unsigned char raw[25], mac[32];
	unsigned int maclen;
	char s[YX_CURSOR_MAX];
	int v;

	(void)state;
	for (v = 0; v < 256; v++) {
		if (v == 1)
			continue;
		memset(raw, 0, sizeof(raw));
		raw[0] = (unsigned char)v;
		raw[8] = 9;
		assert_non_null(HMAC(EVP_sha256(), key_a, 32, raw, 17, mac, &maclen));
		memcpy(raw + 17, mac, 8);
		assert_int_equal(yx_b64url_encode(raw, 25, s, sizeof(s)), 0);
		assert_refused(key_a, s, strlen(s));
	}
	/* The same construction with version 1 is accepted: the test is fair. */
	raw[0] = 1;
	struct yx_cursor c;
	assert_non_null(HMAC(EVP_sha256(), key_a, 32, raw, 17, mac, &maclen));
	memcpy(raw + 17, mac, 8);
	assert_int_equal(yx_b64url_encode(raw, 25, s, sizeof(s)), 0);
	assert_int_equal(yx_cursor_decode(key_a, s, strlen(s), &c), 0);
	assert_true(c.key == 9);
	assert_true(c.id == 0);
}

static void
test_malformed(void **state)
{
	char s[YX_CURSOR_MAX], t[YX_CURSOR_MAX + 8];
	size_t i;

	(void)state;
	encode(key_a, 123, 456, s);
	/* Truncated. */
	for (i = 0; i < YX_CURSOR_LEN; i++)
		assert_refused(key_a, s, i);
	/* Extended, padded, or with whitespace. */
	snprintf(t, sizeof(t), "%sA", s);
	assert_refused(key_a, t, strlen(t));
	snprintf(t, sizeof(t), "%s=", s);
	assert_refused(key_a, t, strlen(t));
	snprintf(t, sizeof(t), "%s==", s);
	assert_refused(key_a, t, strlen(t));
	snprintf(t, sizeof(t), "%s\n", s);
	assert_refused(key_a, t, strlen(t));
	snprintf(t, sizeof(t), " %s", s);
	assert_refused(key_a, t, strlen(t));
	/* A standard-alphabet spelling of the same bytes. */
	memcpy(t, s, sizeof(s));
	for (i = 0; i < YX_CURSOR_LEN; i++) {
		if (t[i] == '-')
			t[i] = '+';
		else if (t[i] == '_')
			t[i] = '/';
	}
	if (memcmp(t, s, YX_CURSOR_LEN) != 0)
		assert_refused(key_a, t, YX_CURSOR_LEN);
	/* Embedded NUL, empty, garbage of the right length. */
	memcpy(t, s, sizeof(s));
	t[10] = '\0';
	assert_refused(key_a, t, YX_CURSOR_LEN);
	assert_refused(key_a, "", 0);
	assert_refused(key_a, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", YX_CURSOR_LEN);
	assert_refused(key_a, NULL, YX_CURSOR_LEN);
}

static void
test_encode_capacity(void **state)
{
	struct yx_cursor c = {1, 2};
	char out[YX_CURSOR_MAX];

	(void)state;
	assert_true(YX_CURSOR_MAX >= YX_CURSOR_LEN + 1);
	assert_int_equal(yx_cursor_encode(key_a, &c, out, YX_CURSOR_LEN), -1);
	assert_int_equal(yx_cursor_encode(key_a, &c, out, YX_CURSOR_LEN + 1), 0);
	assert_int_equal(strlen(out), YX_CURSOR_LEN);
	assert_int_equal(yx_cursor_encode(key_a, NULL, out, sizeof(out)), -1);
	assert_int_equal(yx_cursor_encode(NULL, &c, out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),       cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_wrong_key),       cmocka_unit_test(test_tamper_each_char),
	    cmocka_unit_test(test_tamper_each_bit), cmocka_unit_test(test_wrong_version),
	    cmocka_unit_test(test_malformed),       cmocka_unit_test(test_encode_capacity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
