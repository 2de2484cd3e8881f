/*
 * yx_encode: strict unpadded base64url and hex, see yx_encode.h.
 *
 * Character classes are spelled out as ranges rather than taken from
 * <ctype.h>, so nothing depends on the locale, and there is no lazily built
 * table, so the functions are safe to call from any thread.
 */
#include <stdint.h>
#include <string.h>

#include "yx_encode.h"

static const char b64url_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char hex_alphabet[16] = "0123456789abcdef";

/* 0..63 for an alphabet character, -1 for anything else. */
static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t
yx_b64url_encoded_len(size_t n)
{
	size_t full = n / 3, rem = n % 3;

	return full * 4 + (rem == 0 ? 0 : rem + 1);
}

int
yx_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outcap)
{
	size_t i, o = 0, need;
	uint32_t v;

	if (out == NULL || (in == NULL && n > 0))
		return -1;
	if (n > (SIZE_MAX - 4) / 4 * 3)
		return -1;
	need = yx_b64url_encoded_len(n);
	if (outcap < need + 1)
		return -1;

	for (i = 0; i + 3 <= n; i += 3) {
		v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
		out[o++] = b64url_alphabet[(v >> 18) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 12) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 6) & 0x3f];
		out[o++] = b64url_alphabet[v & 0x3f];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64url_alphabet[(v >> 18) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 12) & 0x3f];
	} else if (n - i == 2) {
		v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
		out[o++] = b64url_alphabet[(v >> 18) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 12) & 0x3f];
		out[o++] = b64url_alphabet[(v >> 6) & 0x3f];
	}
	out[o] = '\0';
	return 0;
}

int
yx_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen)
{
	size_t i, o = 0, rem, need;
	uint32_t v;
	int c[4];
	size_t k;

	if ((in == NULL && n > 0) || (out == NULL && outcap > 0))
		return -1;
	rem = n % 4;
	if (rem == 1)
		return -1;
	need = n / 4 * 3 + (rem == 0 ? 0 : rem - 1);
	if (outcap < need)
		return -1;

	for (i = 0; i + 4 <= n; i += 4) {
		for (k = 0; k < 4; k++) {
			c[k] = b64url_value((unsigned char)in[i + k]);
			if (c[k] < 0)
				return -1;
		}
		v = ((uint32_t)c[0] << 18) | ((uint32_t)c[1] << 12) | ((uint32_t)c[2] << 6) |
		    (uint32_t)c[3];
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	if (rem > 0) {
		for (k = 0; k < rem; k++) {
			c[k] = b64url_value((unsigned char)in[i + k]);
			if (c[k] < 0)
				return -1;
		}
		if (rem == 2) {
			/* 12 bits carry one byte: the low 4 bits must be zero. */
			if (c[1] & 0x0f)
				return -1;
			out[o++] = (unsigned char)((c[0] << 2) | (c[1] >> 4));
		} else {
			/* 18 bits carry two bytes: the low 2 bits must be zero. */
			if (c[2] & 0x03)
				return -1;
			v = ((uint32_t)c[0] << 18) | ((uint32_t)c[1] << 12) | ((uint32_t)c[2] << 6);
			out[o++] = (unsigned char)(v >> 16);
			out[o++] = (unsigned char)(v >> 8);
		}
	}
	if (outlen != NULL)
		*outlen = o;
	return 0;
}

int
yx_hex_encode(const unsigned char *in, size_t n, char *out, size_t outcap)
{
	size_t i;

	if (out == NULL || (in == NULL && n > 0))
		return -1;
	if (n > (SIZE_MAX - 1) / 2 || outcap < n * 2 + 1)
		return -1;
	for (i = 0; i < n; i++) {
		out[2 * i] = hex_alphabet[in[i] >> 4];
		out[2 * i + 1] = hex_alphabet[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
	return 0;
}

static int
hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
yx_hex_decode(const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen)
{
	size_t i;
	int hi, lo;

	if ((in == NULL && n > 0) || (out == NULL && outcap > 0))
		return -1;
	if (n % 2 != 0 || outcap < n / 2)
		return -1;
	for (i = 0; i < n; i += 2) {
		hi = hex_digit((unsigned char)in[i]);
		lo = hex_digit((unsigned char)in[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (unsigned char)((hi << 4) | lo);
	}
	if (outlen != NULL)
		*outlen = n / 2;
	return 0;
}
