/*
 * libFuzzer driver for shared/yx_encode.c.
 *
 * Decoding is canonical: whatever base64url or hex text decodes must encode
 * back to the same text (hex modulo case). Encoding any bytes must decode
 * back to them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yx_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	unsigned char *bin, *back;
	char *enc;
	size_t n, m, cap;

	if (size > 1 << 16)
		return 0;
	cap = yx_b64url_encoded_len(size) + 1;
	if (cap < 2 * size + 1)
		cap = 2 * size + 1;
	bin = malloc(size + 1);
	back = malloc(size + 1);
	enc = malloc(cap);
	if (bin == NULL || back == NULL || enc == NULL)
		abort();

	if (yx_b64url_decode(text, size, bin, size, &n) == 0) {
		if (yx_b64url_encode(bin, n, enc, cap) != 0 || strlen(enc) != size ||
		    memcmp(enc, text, size) != 0)
			abort();
	}
	if (yx_b64url_encode(data, size, enc, cap) != 0 ||
	    strlen(enc) != yx_b64url_encoded_len(size) ||
	    yx_b64url_decode(enc, strlen(enc), back, size, &m) != 0 || m != size ||
	    memcmp(back, data, size) != 0)
		abort();

	if (yx_hex_decode(text, size, bin, size, &n) == 0) {
		if (yx_hex_encode(bin, n, enc, cap) != 0 || strlen(enc) != size ||
		    strncasecmp(enc, text, size) != 0)
			abort();
	}
	if (yx_hex_encode(data, size, enc, cap) != 0 ||
	    yx_hex_decode(enc, 2 * size, back, size, &m) != 0 || m != size ||
	    memcmp(back, data, size) != 0)
		abort();

	free(enc);
	free(back);
	free(bin);
	return 0;
}
