/*
 * yx_cursor: opaque, tamper-evident pagination cursors.
 *
 * A list response carries "next_cursor": the position after its last item
 * (sort key and tie-break id). The client hands it back unchanged; a MAC
 * keeps it from being forged or edited, so the position can be trusted
 * without another lookup. A cursor only says where to resume, it grants
 * nothing: the query behind it still applies the caller's authorization.
 */
#ifndef YX_CURSOR_H
#define YX_CURSOR_H

#include <stddef.h>
#include <stdint.h>

/* key: the sort key (e.g. microseconds since the epoch); id: the tie-break. */
struct yx_cursor {
	int64_t key;
	int64_t id;
};

/* Buffer size that holds any encoded cursor and its NUL. */
#define YX_CURSOR_MAX 64

/* Length of an encoded cursor (no NUL); all cursors have this length. */
#define YX_CURSOR_LEN 34

/*
 * Encode c under the 32-byte secret key as base64url of
 * version (1 byte) | key (8, big-endian) | id (8, big-endian) |
 * the first 8 bytes of HMAC-SHA256(secret, those 17 bytes),
 * NUL-terminated into out. -1 if outcap < YX_CURSOR_LEN + 1 or HMAC fails.
 */
int yx_cursor_encode(const unsigned char key[32], const struct yx_cursor *c, char *out,
                     size_t outcap);

/*
 * Decode len characters of s into *c. -1, with *c untouched, for anything but
 * a cursor made by yx_cursor_encode() under the same secret: wrong length,
 * non-canonical base64url, unknown version, or a MAC that does not verify
 * (compared in constant time).
 */
int yx_cursor_decode(const unsigned char key[32], const char *s, size_t len, struct yx_cursor *c);

#endif
