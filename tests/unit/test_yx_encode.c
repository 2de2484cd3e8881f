/*
 * Unit tests for shared/yx_encode.c: base64url and hex, including the
 * strictness rules (one accepted spelling per byte string).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "yx_encode.h"

struct vector {
	const char *plain;
	const char *b64;
};

/* RFC 4648 section 10, without padding. */
static const struct vector rfc4648[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void
test_b64url_encoded_len(void **state)
{
	static const size_t want[] = {0, 2, 3, 4, 6, 7, 8, 10};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(yx_b64url_encoded_len(i), want[i]);
	assert_int_equal(yx_b64url_encoded_len(25), 34);
}

static void
test_b64url_rfc_vectors(void **state)
{
	char out[16];
	unsigned char bin[16];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const struct vector *v = &rfc4648[i];

		assert_int_equal(yx_b64url_encode((const unsigned char *)v->plain, strlen(v->plain),
		                                  out, sizeof(out)),
		                 0);
		assert_string_equal(out, v->b64);
		n = 99;
		assert_int_equal(yx_b64url_decode(v->b64, strlen(v->b64), bin, sizeof(bin), &n), 0);
		assert_int_equal(n, strlen(v->plain));
		assert_memory_equal(bin, v->plain, n);
	}
}

static void
test_b64url_url_alphabet(void **state)
{
	static const unsigned char minus[] = {0xfb, 0xef, 0xbe};
	static const unsigned char under[] = {0xff, 0xff, 0xff};
	static const unsigned char tail[] = {0xfb, 0xff};
	char out[8];

	(void)state;
	assert_int_equal(yx_b64url_encode(minus, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "----");
	assert_int_equal(yx_b64url_encode(under, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "____");
	assert_int_equal(yx_b64url_encode(tail, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "-_8");
}

static void
test_b64url_encode_capacity(void **state)
{
	const unsigned char in[] = "foob";
	char out[8];

	(void)state;
	memset(out, 'x', sizeof(out));
	/* "Zm9vYg" needs 6 + NUL */
	assert_int_equal(yx_b64url_encode(in, 4, out, 6), -1);
	assert_int_equal(out[0], 'x');
	assert_int_equal(yx_b64url_encode(in, 4, out, 7), 0);
	assert_string_equal(out, "Zm9vYg");
	assert_int_equal(yx_b64url_encode(in, 0, out, 0), -1);
	assert_int_equal(yx_b64url_encode(in, 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(yx_b64url_encode(NULL, 1, out, sizeof(out)), -1);
}

static int
decode(const char *s, unsigned char *out, size_t cap)
{
	size_t n;

	return yx_b64url_decode(s, strlen(s), out, cap, &n);
}

static void
test_b64url_decode_rejects(void **state)
{
	static const char *bad[] = {
	    "Zg==",         /* padding */
	    "Zm8=",         /* padding */
	    "Zg=",          /* padding */
	    "Zm9v+g",       /* standard alphabet */
	    "Zm9v/g",       /* standard alphabet */
	    "Zm9 v",        /* whitespace */
	    "Zm9v\n",       /* whitespace */
	    " Zm9v",        /* whitespace */
	    "Zm9v\t",       /* whitespace */
	    "Z",            /* impossible length */
	    "Zm9vY",        /* impossible length */
	    "Zh",           /* non-zero trailing bits (4 spare) */
	    "Zm9",          /* non-zero trailing bits (2 spare) */
	    "Zm9vYh",       /* non-zero trailing bits */
	    "Zm9vYmF",      /* non-zero trailing bits */
	    "Zm.v",         /* punctuation */
	    "Zm9v\xc3\xa9", /* non-ASCII */
	};
	unsigned char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode(bad[i], out, sizeof(out)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* An embedded NUL is just another invalid character. */
	assert_int_equal(yx_b64url_decode("Zm\0v", 4, out, sizeof(out), NULL), -1);
}

static void
test_b64url_decode_capacity(void **state)
{
	unsigned char out[8];
	size_t n = 0;

	(void)state;
	assert_int_equal(yx_b64url_decode("Zm9vYmFy", 8, out, 5, &n), -1);
	assert_int_equal(yx_b64url_decode("Zm9vYmFy", 8, out, 6, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(yx_b64url_decode("Zm9vYg", 6, out, 3, &n), -1);
	assert_int_equal(yx_b64url_decode("Zm9vYg", 6, out, 4, NULL), 0);
	assert_int_equal(yx_b64url_decode("", 0, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
}

/*
 * Canonical decoding, exhaustively for short inputs: a two-byte text is
 * accepted exactly when re-encoding its output gives it back, and so exactly
 * 256 of the 65536 two-byte strings decode; likewise 65536 three-character
 * strings over the alphabet.
 */
static void
test_b64url_canonical_exhaustive(void **state)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char out[4];
	char in[4], re[8];
	size_t n, accepted = 0;
	unsigned a, b, c;

	(void)state;
	for (a = 0; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			in[0] = (char)a;
			in[1] = (char)b;
			if (yx_b64url_decode(in, 2, out, sizeof(out), &n) != 0)
				continue;
			accepted++;
			assert_int_equal(n, 1);
			assert_int_equal(yx_b64url_encode(out, n, re, sizeof(re)), 0);
			assert_memory_equal(re, in, 2);
		}
	}
	assert_int_equal(accepted, 256);

	accepted = 0;
	for (a = 0; a < 64; a++) {
		for (b = 0; b < 64; b++) {
			for (c = 0; c < 64; c++) {
				in[0] = alpha[a];
				in[1] = alpha[b];
				in[2] = alpha[c];
				if (yx_b64url_decode(in, 3, out, sizeof(out), &n) != 0)
					continue;
				accepted++;
				assert_int_equal(yx_b64url_encode(out, n, re, sizeof(re)), 0);
				assert_memory_equal(re, in, 3);
			}
		}
	}
	assert_int_equal(accepted, 65536);
}

static void
test_b64url_roundtrip(void **state)
{
	unsigned char in[300], back[300];
	char text[410];
	size_t n, len, i;

	(void)state;
	srand(12345);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i; /* every byte value */
	for (len = 0; len <= sizeof(in); len++) {
		if (len > 256) {
			for (i = 0; i < len; i++)
				in[i] = (unsigned char)rand();
		}
		assert_int_equal(yx_b64url_encode(in, len, text, sizeof(text)), 0);
		assert_int_equal(strlen(text), yx_b64url_encoded_len(len));
		assert_int_equal(yx_b64url_decode(text, strlen(text), back, sizeof(back), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(back, in, len);
	}
}

static void
test_hex_encode(void **state)
{
	static const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[13];

	(void)state;
	assert_int_equal(yx_hex_encode(in, sizeof(in), out, sizeof(out)), 0);
	assert_string_equal(out, "00017f80abff");
	assert_int_equal(yx_hex_encode(in, sizeof(in), out, sizeof(out) - 1), -1);
	assert_int_equal(yx_hex_encode(in, 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(yx_hex_encode(in, 0, out, 0), -1);
}

static void
test_hex_decode(void **state)
{
	unsigned char out[8];
	size_t n = 0;

	(void)state;
	assert_int_equal(yx_hex_decode("00017f80abff", 12, out, sizeof(out), &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "\x00\x01\x7f\x80\xab\xff", 6);
	assert_int_equal(yx_hex_decode("ABff", 4, out, sizeof(out), &n), 0);
	assert_memory_equal(out, "\xab\xff", 2);
	assert_int_equal(yx_hex_decode("abc", 3, out, sizeof(out), &n), -1);
	assert_int_equal(yx_hex_decode("abg0", 4, out, sizeof(out), &n), -1);
	assert_int_equal(yx_hex_decode("0x12", 4, out, sizeof(out), &n), -1);
	assert_int_equal(yx_hex_decode("12 ", 3, out, sizeof(out), &n), -1);
	assert_int_equal(yx_hex_decode(" 1", 2, out, sizeof(out), &n), -1);
	assert_int_equal(yx_hex_decode("1\n", 2, out, sizeof(out), &n), -1);
	assert_int_equal(yx_hex_decode("1\0", 2, out, sizeof(out), &n), -1);
	assert_int_equal(yx_hex_decode("aabbcc", 6, out, 2, &n), -1);
	assert_int_equal(yx_hex_decode("aabbcc", 6, out, 3, NULL), 0);
	assert_int_equal(yx_hex_decode("", 0, out, 0, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_hex_roundtrip(void **state)
{
	unsigned char in[256], back[256];
	char text[513];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i;
	assert_int_equal(yx_hex_encode(in, sizeof(in), text, sizeof(text)), 0);
	assert_int_equal(yx_hex_decode(text, 512, back, sizeof(back), &n), 0);
	assert_int_equal(n, 256);
	assert_memory_equal(back, in, 256);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64url_encoded_len),
	    cmocka_unit_test(test_b64url_rfc_vectors),
	    cmocka_unit_test(test_b64url_url_alphabet),
	    cmocka_unit_test(test_b64url_encode_capacity),
	    cmocka_unit_test(test_b64url_decode_rejects),
	    cmocka_unit_test(test_b64url_decode_capacity),
	    cmocka_unit_test(test_b64url_canonical_exhaustive),
	    cmocka_unit_test(test_b64url_roundtrip),
	    cmocka_unit_test(test_hex_encode),
	    cmocka_unit_test(test_hex_decode),
	    cmocka_unit_test(test_hex_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
