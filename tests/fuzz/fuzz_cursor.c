/*
 * libFuzzer driver for shared/yx_cursor.c.
 *
 * Any input is offered as a cursor: it must be refused unless it is exactly
 * what yx_cursor_encode() produces for the values it decodes to. The first 16
 * bytes are also taken as a position, which must survive a round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yx_cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[32] = {
    0x6b, 0x65, 0x79, 0x20, 0x66, 0x6f, 0x72, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x69, 0x6e, 0x67, 0x20,
    0x63, 0x75, 0x72, 0x73, 0x6f, 0x72, 0x73, 0x20, 0x6f, 0x6e, 0x6c, 0x79, 0x2e, 0x2e, 0x2e, 0x21,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yx_cursor c, d;
	char out[YX_CURSOR_MAX];

	if (yx_cursor_decode(fuzz_key, (const char *)data, size, &c) == 0) {
		if (yx_cursor_encode(fuzz_key, &c, out, sizeof(out)) != 0 || size != strlen(out) ||
		    memcmp(out, data, size) != 0)
			abort();
	}
	if (size >= 16) {
		memcpy(&c.key, data, 8);
		memcpy(&c.id, data + 8, 8);
		if (yx_cursor_encode(fuzz_key, &c, out, sizeof(out)) != 0)
			abort();
		if (yx_cursor_decode(fuzz_key, out, strlen(out), &d) != 0 || d.key != c.key ||
		    d.id != c.id)
			abort();
	}
	return 0;
}
