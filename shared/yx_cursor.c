/*
 * yx_cursor: cursor encoding and verification, see yx_cursor.h.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "yx_cursor.h"
#include "yx_encode.h"

#define CURSOR_VERSION  1
#define CURSOR_BODY_LEN 17 /* version + key + id */
#define CURSOR_MAC_LEN  8
#define CURSOR_RAW_LEN  (CURSOR_BODY_LEN + CURSOR_MAC_LEN)

_Static_assert(YX_CURSOR_LEN == (CURSOR_RAW_LEN * 4 + 2) / 3, "YX_CURSOR_LEN");
_Static_assert(YX_CURSOR_LEN < YX_CURSOR_MAX, "YX_CURSOR_MAX");

static void
cursor_put64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(u & 0xff);
		u >>= 8;
	}
}

static int64_t
cursor_get64(const unsigned char *p)
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	/* Two's complement on every platform we build for. */
	return (int64_t)u;
}

static int
cursor_mac(const unsigned char key[32], const unsigned char *body,
           unsigned char mac[CURSOR_MAC_LEN])
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (HMAC(EVP_sha256(), key, 32, body, CURSOR_BODY_LEN, full, &len) == NULL || len < 32)
		return -1;
	memcpy(mac, full, CURSOR_MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

int
yx_cursor_encode(const unsigned char key[32], const struct yx_cursor *c, char *out, size_t outcap)
{
	unsigned char raw[CURSOR_RAW_LEN];

	if (key == NULL || c == NULL || out == NULL || outcap < YX_CURSOR_LEN + 1)
		return -1;
	raw[0] = CURSOR_VERSION;
	cursor_put64(raw + 1, c->key);
	cursor_put64(raw + 9, c->id);
	if (cursor_mac(key, raw, raw + CURSOR_BODY_LEN) == -1)
		return -1;
	return yx_b64url_encode(raw, sizeof(raw), out, outcap);
}

int
yx_cursor_decode(const unsigned char key[32], const char *s, size_t len, struct yx_cursor *c)
{
	unsigned char raw[CURSOR_RAW_LEN], mac[CURSOR_MAC_LEN];
	size_t n;

	if (key == NULL || s == NULL || c == NULL || len != YX_CURSOR_LEN)
		return -1;
	if (yx_b64url_decode(s, len, raw, sizeof(raw), &n) == -1 || n != sizeof(raw))
		return -1;
	if (cursor_mac(key, raw, mac) == -1)
		return -1;
	/* Check the MAC before looking at anything else it covers. */
	if (CRYPTO_memcmp(mac, raw + CURSOR_BODY_LEN, CURSOR_MAC_LEN) != 0)
		return -1;
	if (raw[0] != CURSOR_VERSION)
		return -1;
	c->key = cursor_get64(raw + 1);
	c->id = cursor_get64(raw + 9);
	return 0;
}
