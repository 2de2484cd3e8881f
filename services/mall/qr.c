/*
 * qr.c - rotating signed QR tokens of volunteer activities, see qr.h.
 * Nothing here allocates; results land in caller buffers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "qr.h"
#include "yx_encode.h"

#define QR_VERSION  1
#define QR_BODY_LEN 18 /* version + purpose + activity + issued */
#define QR_MAC_LEN  16
#define QR_RAW_LEN  (QR_BODY_LEN + QR_MAC_LEN)
#define QR_DOMAIN   "yx-mall-qr-v1"
/* 9999-12-31T23:59:59Z: the last time RFC 3339 can write. */
#define QR_TIME_LAST 253402300799LL

_Static_assert(MALL_QR_TOKEN_LEN == (QR_RAW_LEN * 4 + 2) / 3, "MALL_QR_TOKEN_LEN");
_Static_assert(MALL_QR_TOKEN_LEN < MALL_QR_TOKEN_MAX, "MALL_QR_TOKEN_MAX");

int
mall_qr_purpose_parse(const char *s, enum mall_qr_purpose *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "check_in") == 0) {
		*out = MALL_QR_CHECK_IN;
		return 0;
	}
	if (strcmp(s, "check_out") == 0) {
		*out = MALL_QR_CHECK_OUT;
		return 0;
	}
	return -1;
}

const char *
mall_qr_purpose_name(enum mall_qr_purpose p)
{
	switch (p) {
	case MALL_QR_CHECK_IN:
		return "check_in";
	case MALL_QR_CHECK_OUT:
		return "check_out";
	}
	return "";
}

int
mall_qr_derive_key(const unsigned char base[32], unsigned char out[32])
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (HMAC(EVP_sha256(), base, 32, (const unsigned char *)MALL_QR_KEY_LABEL,
	         strlen(MALL_QR_KEY_LABEL), full, &len) == NULL ||
	    len != 32) {
		memset(out, 0, 32);
		return -1;
	}
	memcpy(out, full, 32);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

static void
put64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(u & 0xff);
		u >>= 8;
	}
}

static int64_t
get64(const unsigned char *p)
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64_t)u;
}

/* The MAC of a token body, domain-separated from other uses of the key. */
static int
qr_mac(const unsigned char key[32], const unsigned char body[QR_BODY_LEN],
       unsigned char mac[QR_MAC_LEN])
{
	unsigned char msg[sizeof(QR_DOMAIN) - 1 + QR_BODY_LEN];
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	memcpy(msg, QR_DOMAIN, sizeof(QR_DOMAIN) - 1);
	memcpy(msg + sizeof(QR_DOMAIN) - 1, body, QR_BODY_LEN);
	if (HMAC(EVP_sha256(), key, 32, msg, sizeof(msg), full, &len) == NULL || len < 32)
		return -1;
	memcpy(mac, full, QR_MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

int
mall_qr_mint(const unsigned char key[32], int64_t activity, enum mall_qr_purpose p, int64_t now,
             char *out, size_t cap, int64_t *expires_at)
{
	unsigned char raw[QR_RAW_LEN];

	if (key == NULL || out == NULL || cap < MALL_QR_TOKEN_LEN + 1 || activity <= 0 || now < 0 ||
	    now > QR_TIME_LAST - MALL_QR_TTL || (p != MALL_QR_CHECK_IN && p != MALL_QR_CHECK_OUT))
		return -1;
	raw[0] = QR_VERSION;
	raw[1] = (unsigned char)p;
	put64(raw + 2, activity);
	put64(raw + 10, now);
	if (qr_mac(key, raw, raw + QR_BODY_LEN) == -1)
		return -1;
	if (yx_b64url_encode(raw, sizeof(raw), out, cap) == -1)
		return -1;
	if (expires_at != NULL)
		*expires_at = now + MALL_QR_TTL;
	return 0;
}

enum mall_qr_rc
mall_qr_verify(const unsigned char key[32], const char *token, size_t len, int64_t activity,
               enum mall_qr_purpose p, int64_t now)
{
	unsigned char raw[QR_RAW_LEN], mac[QR_MAC_LEN];
	size_t n = 0;
	int64_t issued;

	if (key == NULL || token == NULL || len != MALL_QR_TOKEN_LEN)
		return MALL_QR_MALFORMED;
	if (yx_b64url_decode(token, len, raw, sizeof(raw), &n) == -1 || n != sizeof(raw))
		return MALL_QR_MALFORMED;
	if (qr_mac(key, raw, mac) == -1 || CRYPTO_memcmp(mac, raw + QR_BODY_LEN, QR_MAC_LEN) != 0)
		return MALL_QR_MALFORMED;
	if (raw[0] != QR_VERSION)
		return MALL_QR_MALFORMED;
	if (raw[1] != (unsigned char)p || get64(raw + 2) != activity)
		return MALL_QR_MISMATCH;
	issued = get64(raw + 10);
	if (issued < 0 || issued > QR_TIME_LAST)
		return MALL_QR_MALFORMED;
	if (now >= issued + MALL_QR_TTL)
		return MALL_QR_EXPIRED;
	if (now < issued - MALL_QR_SKEW)
		return MALL_QR_EARLY;
	return MALL_QR_OK;
}

int
mall_qr_time_text(int64_t t, char out[MALL_QR_TIME_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || t > QR_TIME_LAST || gmtime_r(&tt, &tm) == NULL)
		return -1;
	if (strftime(out, MALL_QR_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) != MALL_QR_TIME_MAX - 1)
		return -1;
	return 0;
}
