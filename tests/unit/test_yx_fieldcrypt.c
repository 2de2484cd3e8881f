/*
 * Unit tests for shared/yx_fieldcrypt: AES-256-GCM field encryption (round
 * trip, tamper detection, key and context binding), blind index, mobile
 * number and resident ID validation and masking.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "yx_encode.h"
#include "yx_fieldcrypt.h"

static const unsigned char key0[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const unsigned char key1[32] = {
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
};

#define PHONE "13812340000"
#define AAD   "identity.users.phone:42"

/* Decrypt with keys {key0, key1}; returns the result and frees the output. */
static int
try_decrypt(const char *aad, const char *text)
{
	const unsigned char *keys[2] = {key0, key1};
	unsigned char *pt = NULL;
	size_t n = 0;
	int rc;

	rc = yx_field_decrypt(keys, 2, aad, text, &pt, &n);
	if (rc == -1) {
		assert_null(pt);
		assert_int_equal(n, 0);
	}
	free(pt);
	return rc;
}

static char *
encrypt_phone(unsigned key_id)
{
	char *out = NULL;

	assert_int_equal(yx_field_encrypt(key_id == 0 ? key0 : key1, key_id, AAD,
	                                  (const unsigned char *)PHONE, strlen(PHONE), &out),
	                 0);
	assert_non_null(out);
	return out;
}

static void
test_round_trip(void **state)
{
	const unsigned char *keys[2] = {key0, key1};
	unsigned char *pt = NULL;
	size_t n = 0;
	char *out = encrypt_phone(1);

	(void)state;
	assert_int_equal(strncmp(out, "v1.1.", 5), 0);
	/* nonce 12 + 11 + tag 16 = 39 bytes -> 52 base64url characters */
	assert_int_equal(strlen(out), 5 + 52);
	assert_int_equal(yx_field_decrypt(keys, 2, AAD, out, &pt, &n), 0);
	assert_int_equal(n, strlen(PHONE));
	assert_memory_equal(pt, PHONE, n);
	assert_int_equal(pt[n], '\0');
	OPENSSL_cleanse(pt, n);
	free(pt);
	free(out);
}

static void
test_round_trip_empty_and_null_aad(void **state)
{
	const unsigned char *keys[1] = {key0};
	unsigned char *pt = NULL;
	size_t n = 99;
	char *out = NULL;

	(void)state;
	assert_int_equal(yx_field_encrypt(key0, 0, NULL, NULL, 0, &out), 0);
	assert_int_equal(yx_field_decrypt(keys, 1, "", out, &pt, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pt[0], '\0');
	free(pt);
	free(out);
}

static void
test_round_trip_max_size(void **state)
{
	const unsigned char *keys[1] = {key0};
	unsigned char *big, *pt = NULL;
	size_t n = 0;
	char *out = NULL;

	(void)state;
	big = malloc(YX_FIELD_MAX_PLAINTEXT + 1);
	assert_non_null(big);
	memset(big, 'a', YX_FIELD_MAX_PLAINTEXT + 1);
	assert_int_equal(yx_field_encrypt(key0, 0, AAD, big, YX_FIELD_MAX_PLAINTEXT, &out), 0);
	assert_int_equal(yx_field_decrypt(keys, 1, AAD, out, &pt, &n), 0);
	assert_int_equal(n, YX_FIELD_MAX_PLAINTEXT);
	assert_memory_equal(pt, big, n);
	free(pt);
	free(out);
	out = (char *)1;
	assert_int_equal(yx_field_encrypt(key0, 0, AAD, big, YX_FIELD_MAX_PLAINTEXT + 1, &out), -1);
	assert_null(out);
	free(big);
}

/* Every byte of nonce | ciphertext | tag, flipped one bit at a time, fails. */
static void
test_tamper_each_blob_byte(void **state)
{
	unsigned char blob[128];
	char text[256], *out = encrypt_phone(0);
	size_t bloblen = 0, i;
	int bit;

	(void)state;
	assert_int_equal(yx_b64url_decode(out + 5, strlen(out + 5), blob, sizeof(blob), &bloblen),
	                 0);
	assert_int_equal(bloblen, YX_FIELD_NONCE_LEN + strlen(PHONE) + YX_FIELD_TAG_LEN);
	for (i = 0; i < bloblen; i++) {
		for (bit = 0; bit < 8; bit++) {
			blob[i] ^= (unsigned char)(1u << bit);
			memcpy(text, "v1.0.", 5);
			assert_int_equal(
			    yx_b64url_encode(blob, bloblen, text + 5, sizeof(text) - 5), 0);
			assert_int_equal(try_decrypt(AAD, text), -1);
			blob[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* and the untouched blob still decrypts */
	memcpy(text, "v1.0.", 5);
	assert_int_equal(yx_b64url_encode(blob, bloblen, text + 5, sizeof(text) - 5), 0);
	assert_int_equal(try_decrypt(AAD, text), 0);
	free(out);
}

/* Every character of the stored text, replaced by any other, fails. */
static void
test_tamper_each_text_char(void **state)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.v= ";
	char *out = encrypt_phone(0);
	size_t i, j, len = strlen(out);
	char saved;

	(void)state;
	for (i = 0; i < len; i++) {
		saved = out[i];
		for (j = 0; alphabet[j] != '\0'; j++) {
			if (alphabet[j] == saved)
				continue;
			out[i] = alphabet[j];
			assert_int_equal(try_decrypt(AAD, out), -1);
		}
		out[i] = saved;
	}
	assert_int_equal(try_decrypt(AAD, out), 0);
	free(out);
}

static void
test_wrong_aad(void **state)
{
	char *out = encrypt_phone(0);

	(void)state;
	assert_int_equal(try_decrypt("identity.users.phone:43", out), -1);
	assert_int_equal(try_decrypt("", out), -1);
	assert_int_equal(try_decrypt(NULL, out), -1);
	assert_int_equal(try_decrypt(AAD "x", out), -1);
	assert_int_equal(try_decrypt(AAD, out), 0);
	free(out);
}

/* Relabelling a value with another key id (whose key exists) fails. */
static void
test_wrong_key_id(void **state)
{
	char *out = encrypt_phone(0), *moved;

	(void)state;
	moved = strdup(out);
	assert_non_null(moved);
	moved[3] = '1';
	assert_int_equal(try_decrypt(AAD, moved), -1);
	free(moved);
	free(out);
}

/* The right key id pointing at a different key fails. */
static void
test_wrong_key(void **state)
{
	const unsigned char *swapped[2] = {key1, key0};
	unsigned char *pt = NULL;
	size_t n = 0;
	char *out = encrypt_phone(0);

	(void)state;
	assert_int_equal(yx_field_decrypt(swapped, 2, AAD, out, &pt, &n), -1);
	assert_null(pt);
	free(out);
}

static void
test_unknown_or_retired_key_id(void **state)
{
	const unsigned char *keys[3] = {key0, NULL, key1};
	unsigned char *pt = NULL;
	size_t n = 0;
	char *out = NULL;

	(void)state;
	/* key id 1 is retired (NULL) */
	assert_int_equal(
	    yx_field_encrypt(key1, 1, AAD, (const unsigned char *)PHONE, strlen(PHONE), &out), 0);
	assert_int_equal(yx_field_decrypt(keys, 3, AAD, out, &pt, &n), -1);
	/* key id past the end of the table */
	assert_int_equal(yx_field_decrypt(keys, 1, AAD, out, &pt, &n), -1);
	free(out);
	/* key id 2 works */
	assert_int_equal(
	    yx_field_encrypt(key1, 2, AAD, (const unsigned char *)PHONE, strlen(PHONE), &out), 0);
	assert_int_equal(yx_field_decrypt(keys, 3, AAD, out, &pt, &n), 0);
	free(pt);
	free(out);
	/* key ids beyond the maximum are refused at encryption */
	assert_int_equal(yx_field_encrypt(key1, YX_FIELD_MAX_KEY_ID + 1, AAD,
	                                  (const unsigned char *)PHONE, strlen(PHONE), &out),
	                 -1);
}

static void
test_truncated(void **state)
{
	char *out = encrypt_phone(0);
	size_t len = strlen(out), cut;
	char saved;

	(void)state;
	for (cut = 0; cut < len; cut++) {
		saved = out[cut];
		out[cut] = '\0';
		assert_int_equal(try_decrypt(AAD, out), -1);
		out[cut] = saved;
	}
	assert_int_equal(try_decrypt(AAD, out), 0);
	free(out);
}

static void
test_bad_version_and_format(void **state)
{
	char *out = encrypt_phone(0);
	char buf[256];

	(void)state;
	snprintf(buf, sizeof(buf), "v2.%s", out + 3);
	assert_int_equal(try_decrypt(AAD, buf), -1);
	snprintf(buf, sizeof(buf), "V1.%s", out + 3);
	assert_int_equal(try_decrypt(AAD, buf), -1);
	snprintf(buf, sizeof(buf), "v1.00.%s", out + 5); /* non-canonical key id */
	assert_int_equal(try_decrypt(AAD, buf), -1);
	snprintf(buf, sizeof(buf), "v1.+0.%s", out + 5);
	assert_int_equal(try_decrypt(AAD, buf), -1);
	snprintf(buf, sizeof(buf), "v1..%s", out + 5);
	assert_int_equal(try_decrypt(AAD, buf), -1);
	snprintf(buf, sizeof(buf), "%s=", out); /* padding */
	assert_int_equal(try_decrypt(AAD, buf), -1);
	snprintf(buf, sizeof(buf), "%s.", out);
	assert_int_equal(try_decrypt(AAD, buf), -1);
	assert_int_equal(try_decrypt(AAD, ""), -1);
	assert_int_equal(try_decrypt(AAD, "v1.0."), -1);
	assert_int_equal(try_decrypt(AAD, "v1.0.AAAA"), -1);
	assert_int_equal(try_decrypt(AAD, NULL), -1);
	free(out);
}

static void
test_nonce_uniqueness(void **state)
{
	char *a = encrypt_phone(0), *b = encrypt_phone(0);
	unsigned char ba[64], bb[64];
	size_t la = 0, lb = 0;

	(void)state;
	assert_string_not_equal(a, b);
	assert_int_equal(yx_b64url_decode(a + 5, strlen(a + 5), ba, sizeof(ba), &la), 0);
	assert_int_equal(yx_b64url_decode(b + 5, strlen(b + 5), bb, sizeof(bb), &lb), 0);
	assert_memory_not_equal(ba, bb, YX_FIELD_NONCE_LEN);
	assert_int_equal(try_decrypt(AAD, a), 0);
	assert_int_equal(try_decrypt(AAD, b), 0);
	free(a);
	free(b);
}

static void
test_blind_index(void **state)
{
	char a[65], b[65], c[65], d[65];

	(void)state;
	assert_int_equal(yx_blind_index(key0, "phone", PHONE, a), 0);
	assert_int_equal(yx_blind_index(key0, "phone", PHONE, b), 0);
	assert_int_equal(strlen(a), 64);
	assert_string_equal(a, b); /* deterministic */
	assert_int_equal(yx_blind_index(key0, "idcard", PHONE, c), 0);
	assert_string_not_equal(a, c); /* domain separated */
	assert_int_equal(yx_blind_index(key1, "phone", PHONE, d), 0);
	assert_string_not_equal(a, d); /* keyed */
	assert_int_equal(yx_blind_index(key0, "phone", "13812340001", d), 0);
	assert_string_not_equal(a, d);
	/* the separator keeps ("ab", "c") and ("a", "bc") apart */
	assert_int_equal(yx_blind_index(key0, "ab", "c", c), 0);
	assert_int_equal(yx_blind_index(key0, "a", "bc", d), 0);
	assert_string_not_equal(c, d);
	assert_int_equal(yx_blind_index(key0, "", PHONE, d), -1);
	assert_string_equal(d, "");
	assert_int_equal(yx_blind_index(key0, NULL, PHONE, d), -1);
	assert_int_equal(yx_blind_index(key0, "phone", NULL, d), -1);
}

/*
 * A pinned answer, computed independently:
 * { printf 'phone\0'; printf 13812340000; } | openssl mac -digest SHA256 \
 *     -macopt hexkey:000102...1e1f HMAC
 */
static void
test_blind_index_known_answer(void **state)
{
	char out[65];

	(void)state;
	assert_int_equal(yx_blind_index(key0, "phone", PHONE, out), 0);
	assert_string_equal(out,
	                    "e630c148671e8718c2f00d5d9062a10b797967317da53b062a7bdf9c38919c12");
}

static void
test_phone_normalize(void **state)
{
	char out[12];

	(void)state;
	assert_true(yx_phone_normalize("13812340000", out));
	assert_string_equal(out, "13812340000");
	assert_true(yx_phone_normalize("+8619912340000", out));
	assert_string_equal(out, "19912340000");
	assert_true(yx_phone_normalize("8615012340000", out));
	assert_string_equal(out, "15012340000");

	assert_false(yx_phone_normalize("12812340000", out)); /* 1 then 2 */
	assert_string_equal(out, "");
	assert_false(yx_phone_normalize("10012340000", out));
	assert_false(yx_phone_normalize("23812340000", out));
	assert_false(yx_phone_normalize("1381234000", out));   /* 10 digits */
	assert_false(yx_phone_normalize("138123400001", out)); /* 12 digits */
	assert_false(yx_phone_normalize("138 1234 0000", out));
	assert_false(yx_phone_normalize("138-1234-0000", out));
	assert_false(yx_phone_normalize("+86 13812340000", out));
	assert_false(yx_phone_normalize("+8513812340000", out));
	assert_false(yx_phone_normalize("008613812340000", out));
	assert_false(yx_phone_normalize("+86138123400001", out));
	assert_false(yx_phone_normalize("1381234000a", out));
	assert_false(yx_phone_normalize("", out));
	assert_false(yx_phone_normalize(NULL, out));
}

static void
test_phone_mask(void **state)
{
	char out[12];

	(void)state;
	assert_int_equal(yx_phone_mask("13812340000", out), 0);
	assert_string_equal(out, "138****0000");
	assert_int_equal(yx_phone_mask("1381234000", out), -1);
	assert_string_equal(out, "");
	assert_int_equal(yx_phone_mask("138123400000", out), -1);
	assert_int_equal(yx_phone_mask("1381234000x", out), -1);
	assert_int_equal(yx_phone_mask(NULL, out), -1);
}

/* The GB 11643 check character for the first 17 digits of s. */
static char
idcard_check(const char *s)
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	int i, sum = 0;

	for (i = 0; i < 17; i++)
		sum += (s[i] - '0') * w[i];
	return "10X98765432"[sum % 11];
}

static void
test_idcard_valid(void **state)
{
	char buf[19];

	(void)state;
	/* samples from GB 11643-1999 and others with known check characters */
	assert_true(yx_idcard_valid("11010519491231002X"));
	assert_true(yx_idcard_valid("440524188001010014"));
	assert_true(yx_idcard_valid("110101199003071233"));
	assert_true(yx_idcard_valid("320106200002291230")); /* 29 Feb 2000 */
	assert_true(yx_idcard_valid("510104201212310011"));

	assert_false(yx_idcard_valid("110101199003071234")); /* wrong check digit */
	assert_false(yx_idcard_valid("11010519491231002x")); /* lowercase x */
	assert_false(yx_idcard_valid("110105194912310029"));
	assert_false(yx_idcard_valid("11010519491231002"));   /* 17 */
	assert_false(yx_idcard_valid("11010519491231002X1")); /* 19 */
	assert_false(yx_idcard_valid("1101051949123100AX"));
	assert_false(yx_idcard_valid(""));
	assert_false(yx_idcard_valid(NULL));

	/* checksum right, something else wrong */
	memcpy(buf, "32010619000229123", 17); /* 1900 is not a leap year */
	buf[17] = idcard_check(buf);
	buf[18] = '\0';
	assert_false(yx_idcard_valid(buf));
	memcpy(buf, "11010119901301123", 17); /* month 13 */
	buf[17] = idcard_check(buf);
	assert_false(yx_idcard_valid(buf));
	memcpy(buf, "11010119900431123", 17); /* 31 April */
	buf[17] = idcard_check(buf);
	assert_false(yx_idcard_valid(buf));
	memcpy(buf, "01010119900307123", 17); /* leading zero */
	buf[17] = idcard_check(buf);
	assert_false(yx_idcard_valid(buf));
	memcpy(buf, "11010119900307123", 17); /* and the control: valid */
	buf[17] = idcard_check(buf);
	assert_true(yx_idcard_valid(buf));
}

static void
test_idcard_mask(void **state)
{
	char out[19];

	(void)state;
	assert_int_equal(yx_idcard_mask("11010519491231002X", out), 0);
	assert_string_equal(out, "110***********002X");
	assert_int_equal(strlen(out), 18);
	assert_int_equal(yx_idcard_mask("110105491231002", out), 0); /* 15-digit legacy */
	assert_string_equal(out, "110********1002");
	assert_int_equal(yx_idcard_mask("1234567", out), -1);
	assert_string_equal(out, "");
	assert_int_equal(yx_idcard_mask("11010519491231002X0", out), -1);
	assert_int_equal(yx_idcard_mask("110105 9491231002X", out), -1);
	assert_int_equal(yx_idcard_mask(NULL, out), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_round_trip_empty_and_null_aad),
	    cmocka_unit_test(test_round_trip_max_size),
	    cmocka_unit_test(test_tamper_each_blob_byte),
	    cmocka_unit_test(test_tamper_each_text_char),
	    cmocka_unit_test(test_wrong_aad),
	    cmocka_unit_test(test_wrong_key_id),
	    cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_unknown_or_retired_key_id),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_bad_version_and_format),
	    cmocka_unit_test(test_nonce_uniqueness),
	    cmocka_unit_test(test_blind_index),
	    cmocka_unit_test(test_blind_index_known_answer),
	    cmocka_unit_test(test_phone_normalize),
	    cmocka_unit_test(test_phone_mask),
	    cmocka_unit_test(test_idcard_valid),
	    cmocka_unit_test(test_idcard_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
