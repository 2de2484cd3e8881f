/*
 * yx_encode: byte <-> text encodings used across the services.
 *
 * base64url (RFC 4648 section 5) without padding, decoded strictly: every
 * byte string has exactly one accepted spelling, so an encoded token can be
 * compared or used as a key without normalising it first. Lowercase hex for
 * digests and secrets held in configuration.
 */
#ifndef YX_ENCODE_H
#define YX_ENCODE_H

#include <stddef.h>

/*
 * Length of the base64url text (no padding, no NUL) for n input bytes.
 */
size_t yx_b64url_encoded_len(size_t n);

/*
 * Encode n bytes of in as unpadded base64url into out, NUL-terminated.
 * outcap must be at least yx_b64url_encoded_len(n) + 1; otherwise -1 and
 * out is left untouched. The caller owns both buffers.
 */
int yx_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outcap);

/*
 * Decode n characters of unpadded base64url. Rejects (-1) '=' padding,
 * whitespace, characters outside the URL-safe alphabet, an impossible length
 * (n % 4 == 1) and non-zero unused bits in the last character, so only the
 * canonical spelling of a byte string is accepted. -1 as well when outcap is
 * smaller than the decoded length. On success *outlen (if not NULL) holds the
 * number of bytes written; on failure out may hold partial output.
 */
int yx_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen);

/*
 * Encode n bytes as lowercase hex into out, NUL-terminated. outcap must be at
 * least 2 * n + 1; otherwise -1 and out is left untouched.
 */
int yx_hex_encode(const unsigned char *in, size_t n, char *out, size_t outcap);

/*
 * Decode n hex digits (either case) into out. Rejects (-1) an odd length, any
 * non-hex character (including whitespace and a "0x" prefix) and an outcap
 * smaller than n / 2. On success *outlen (if not NULL) holds n / 2.
 */
int yx_hex_decode(const char *in, size_t n, unsigned char *out, size_t outcap, size_t *outlen);

#endif
