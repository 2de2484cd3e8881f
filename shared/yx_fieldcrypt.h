/*
 * yx_fieldcrypt: protection of personal fields at rest (mobile numbers, resident
 * ID numbers), plus the validators and display masks for those two fields.
 *
 * A protected field is stored twice: encrypted with AES-256-GCM under a
 * versioned key (so keys can rotate while old rows stay readable), and as a
 * keyed blind index (HMAC-SHA256) so a row can be found by exact value without
 * decrypting anything. The domain string keeps the index of a phone number and
 * of an ID number apart even when both are keyed alike.
 *
 * The stored text is "v1.<key_id>.<base64url(nonce | ciphertext | tag)>"; the
 * "v1.<key_id>." prefix and the caller's context string (for example
 * "identity.users.phone:<user id>") are authenticated, so a value copied into
 * another row or relabelled with another key id fails to decrypt.
 */
#ifndef YX_FIELDCRYPT_H
#define YX_FIELDCRYPT_H

#include <stdbool.h>
#include <stddef.h>

#define YX_FIELD_KEY_LEN       32
#define YX_FIELD_NONCE_LEN     12
#define YX_FIELD_TAG_LEN       16
#define YX_FIELD_MAX_PLAINTEXT 4096
#define YX_FIELD_MAX_KEY_ID    65535u
#define YX_BLIND_INDEX_HEX_LEN 64

/*
 * Encrypt n bytes of pt under key (32 bytes) labelled key_id, binding the
 * NUL-terminated context string aad (NULL is the same as ""). The nonce is 12
 * fresh random bytes from RAND_bytes, so encrypting the same value twice gives
 * two different texts. On success *out is a malloc'd NUL-terminated string the
 * caller frees with free(); returns 0. Returns -1 (and sets *out to NULL) when
 * n exceeds YX_FIELD_MAX_PLAINTEXT, key_id exceeds YX_FIELD_MAX_KEY_ID, the
 * random generator fails or memory runs out.
 */
int yx_field_encrypt(const unsigned char key[32], unsigned key_id, const char *aad,
                     const unsigned char *pt, size_t n, char **out);

/*
 * Decrypt the NUL-terminated text in produced by yx_field_encrypt. keys is
 * indexed by key id: keys[key_id] is that key's 32 bytes, or NULL for an id
 * that is retired or unknown. aad must be the context string given at
 * encryption. On success *pt is a malloc'd buffer of *n + 1 bytes (the
 * plaintext followed by a NUL so text values can be used directly); the caller
 * owns it and should OPENSSL_cleanse it before free(). Returns -1 and leaves
 * *pt NULL and *n 0 for any malformed, tampered or mislabelled input: wrong
 * version, unknown key id or non-canonical spelling of it, bad base64url,
 * short blob, changed nonce, ciphertext or tag, different aad, wrong key.
 */
int yx_field_decrypt(const unsigned char *const keys[], size_t nkeys, const char *aad,
                     const char *in, unsigned char **pt, size_t *n);

/*
 * Blind index of value: lowercase hex of HMAC-SHA256(key, domain || 0x00 ||
 * value), written NUL-terminated into out_hex (65 bytes). domain names what
 * the value is ("phone", "idcard") so equal strings in different domains
 * never share an index. Normalise the value first (yx_phone_normalize) so
 * that equal numbers index equally. Returns 0, or -1 on NULL arguments, an
 * empty domain or a MAC failure (out_hex is then an empty string).
 */
int yx_blind_index(const unsigned char key[32], const char *domain, const char *value,
                   char out_hex[65]);

/*
 * Normalise a mainland China mobile number: an optional "+86" or "86" prefix
 * followed by exactly 11 ASCII digits starting with 1 and then 3-9. No spaces
 * or separators are accepted. On success out holds the 11 digits,
 * NUL-terminated, and true is returned; otherwise out is an empty string.
 */
bool yx_phone_normalize(const char *in, char out[12]);

/*
 * Mask a normalised 11-digit number for display: first 3 and last 4 digits
 * kept, the middle 4 replaced by '*' ("13812340000" -> "138****0000"). Returns
 * 0, or -1 (out empty) when phone11 is not exactly 11 ASCII digits.
 */
int yx_phone_mask(const char *phone11, char out[12]);

/*
 * True when in is an 18-character PRC resident identity number (GB 11643):
 * 17 digits, the first not 0, a plausible birth date (YYYYMMDD, year 1800 to
 * 2099, real calendar day) at positions 7-14, and the ISO 7064 MOD 11-2 check
 * character last ('0'-'9' or uppercase 'X').
 */
bool yx_idcard_valid(const char *in);

/*
 * Mask an identity number for display: the first 3 and last 4 characters
 * kept, every character between them replaced by '*', length unchanged
 * ("11010519491231002X" -> "110***********002X"). Accepts printable ASCII of 8
 * to 18 characters (old 15-digit numbers included); returns 0, or -1 with out
 * empty otherwise.
 */
int yx_idcard_mask(const char *in, char out[19]);

#endif
