/*
 * yx_fieldcrypt: AES-256-GCM field encryption, HMAC-SHA256 blind index, and the
 * mobile-number and resident-ID validators and masks, see yx_fieldcrypt.h.
 *
 * The GCM additional data is the stored prefix "v1.<key_id>." followed by the
 * caller's context string. The prefix ends at the second '.', so the split
 * between prefix and context is unambiguous, and the version and key id are
 * authenticated along with the context.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "yx_encode.h"
#include "yx_fieldcrypt.h"

#define FIELD_VERSION "v1."
/* "v1." + up to 10 digits + "." + NUL */
#define FIELD_PREFIX_MAX 16
#define FIELD_BLOB_MAX   (YX_FIELD_NONCE_LEN + YX_FIELD_MAX_PLAINTEXT + YX_FIELD_TAG_LEN)

static int field_prefix(unsigned key_id, char *buf, size_t cap);
static int field_parse_key_id(const char *s, size_t len, unsigned *key_id);
static int field_gcm(int enc, const unsigned char *key, const char *prefix, const char *aad,
                     const unsigned char *nonce, const unsigned char *in, size_t n,
                     unsigned char *out, unsigned char *tag);
static bool field_is_digits(const char *s, size_t n);
static bool field_date_valid(const char *yyyymmdd);

/* Write "v1.<key_id>." into buf. */
static int
field_prefix(unsigned key_id, char *buf, size_t cap)
{
	int r;

	r = snprintf(buf, cap, FIELD_VERSION "%u.", key_id);
	if (r < 0 || (size_t)r >= cap)
		return -1;
	return 0;
}

/*
 * Parse the canonical decimal spelling of a key id: digits only, no sign, no
 * leading zero unless the id is 0, at most YX_FIELD_MAX_KEY_ID.
 */
static int
field_parse_key_id(const char *s, size_t len, unsigned *key_id)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	if (len > 1 && s[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > YX_FIELD_MAX_KEY_ID)
		return -1;
	*key_id = (unsigned)v;
	return 0;
}

/*
 * One AES-256-GCM pass. enc = 1 encrypts in into out and writes the tag into
 * tag; enc = 0 decrypts and checks tag, returning -1 when it does not match
 * (out then holds unauthenticated bytes the caller must wipe).
 */
static int
field_gcm(int enc, const unsigned char *key, const char *prefix, const char *aad,
          const unsigned char *nonce, const unsigned char *in, size_t n, unsigned char *out,
          unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx;
	int outl, ok = 0;
	size_t aadlen = strlen(aad);

	if (n > INT_MAX || aadlen > INT_MAX)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, enc, NULL) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, NULL, &outl, (const unsigned char *)prefix,
	                     (int)strlen(prefix)) != 1)
		goto out;
	if (aadlen > 0 &&
	    EVP_CipherUpdate(ctx, NULL, &outl, (const unsigned char *)aad, (int)aadlen) != 1)
		goto out;
	if (n > 0 && (EVP_CipherUpdate(ctx, out, &outl, in, (int)n) != 1 || (size_t)outl != n))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, YX_FIELD_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + n, &outl) != 1 || outl != 0)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, YX_FIELD_TAG_LEN, tag) != 1)
		goto out;
	ok = 1;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

int
yx_field_encrypt(const unsigned char key[32], unsigned key_id, const char *aad,
                 const unsigned char *pt, size_t n, char **out)
{
	char prefix[FIELD_PREFIX_MAX], *text = NULL;
	unsigned char *blob = NULL;
	size_t bloblen, plen, textcap;
	int rc = -1;

	if (out == NULL)
		return -1;
	*out = NULL;
	if (key == NULL || (pt == NULL && n > 0) || n > YX_FIELD_MAX_PLAINTEXT ||
	    key_id > YX_FIELD_MAX_KEY_ID)
		return -1;
	if (aad == NULL)
		aad = "";
	if (field_prefix(key_id, prefix, sizeof(prefix)) == -1)
		return -1;

	bloblen = YX_FIELD_NONCE_LEN + n + YX_FIELD_TAG_LEN;
	if ((blob = malloc(bloblen)) == NULL)
		return -1;
	if (RAND_bytes(blob, YX_FIELD_NONCE_LEN) != 1)
		goto out;
	if (field_gcm(1, key, prefix, aad, blob, pt, n, blob + YX_FIELD_NONCE_LEN,
	              blob + YX_FIELD_NONCE_LEN + n) == -1)
		goto out;

	plen = strlen(prefix);
	textcap = plen + yx_b64url_encoded_len(bloblen) + 1;
	if ((text = malloc(textcap)) == NULL)
		goto out;
	memcpy(text, prefix, plen);
	if (yx_b64url_encode(blob, bloblen, text + plen, textcap - plen) == -1)
		goto out;
	*out = text;
	text = NULL;
	rc = 0;
out:
	free(text);
	OPENSSL_cleanse(blob, bloblen);
	free(blob);
	return rc;
}

int
yx_field_decrypt(const unsigned char *const keys[], size_t nkeys, const char *aad, const char *in,
                 unsigned char **pt, size_t *n)
{
	char prefix[FIELD_PREFIX_MAX];
	const char *idp, *dot, *b64;
	unsigned char *blob = NULL, *plain = NULL;
	size_t b64len, bloblen = 0, ptlen = 0;
	unsigned key_id;
	int rc = -1;

	if (pt == NULL || n == NULL)
		return -1;
	*pt = NULL;
	*n = 0;
	if (keys == NULL || in == NULL)
		return -1;
	if (aad == NULL)
		aad = "";

	if (strncmp(in, FIELD_VERSION, strlen(FIELD_VERSION)) != 0)
		return -1;
	idp = in + strlen(FIELD_VERSION);
	if ((dot = strchr(idp, '.')) == NULL)
		return -1;
	if (field_parse_key_id(idp, (size_t)(dot - idp), &key_id) == -1)
		return -1;
	if (key_id >= nkeys || keys[key_id] == NULL)
		return -1;
	if (field_prefix(key_id, prefix, sizeof(prefix)) == -1)
		return -1;

	b64 = dot + 1;
	b64len = strlen(b64);
	if (b64len > yx_b64url_encoded_len(FIELD_BLOB_MAX) ||
	    b64len < yx_b64url_encoded_len(YX_FIELD_NONCE_LEN + YX_FIELD_TAG_LEN))
		return -1;
	if ((blob = malloc(FIELD_BLOB_MAX)) == NULL)
		return -1;
	if (yx_b64url_decode(b64, b64len, blob, FIELD_BLOB_MAX, &bloblen) == -1)
		goto out;
	if (bloblen < YX_FIELD_NONCE_LEN + YX_FIELD_TAG_LEN)
		goto out;
	ptlen = bloblen - YX_FIELD_NONCE_LEN - YX_FIELD_TAG_LEN;
	if ((plain = malloc(ptlen + 1)) == NULL)
		goto out;
	if (field_gcm(0, keys[key_id], prefix, aad, blob, blob + YX_FIELD_NONCE_LEN, ptlen, plain,
	              blob + YX_FIELD_NONCE_LEN + ptlen) == -1)
		goto out;
	plain[ptlen] = '\0';
	*pt = plain;
	*n = ptlen;
	plain = NULL;
	rc = 0;
out:
	if (plain != NULL) {
		OPENSSL_cleanse(plain, ptlen + 1);
		free(plain);
	}
	OPENSSL_cleanse(blob, FIELD_BLOB_MAX);
	free(blob);
	return rc;
}

int
yx_blind_index(const unsigned char key[32], const char *domain, const char *value, char out_hex[65])
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	char digest[] = "SHA256";
	unsigned char md[32];
	static const unsigned char sep = 0x00;
	size_t mdlen = 0;
	int rc = -1;

	if (out_hex == NULL)
		return -1;
	out_hex[0] = '\0';
	if (key == NULL || domain == NULL || value == NULL || domain[0] == '\0')
		return -1;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		goto out;
	if ((ctx = EVP_MAC_CTX_new(mac)) == NULL)
		goto out;
	if (EVP_MAC_init(ctx, key, YX_FIELD_KEY_LEN, params) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)domain, strlen(domain)) != 1 ||
	    EVP_MAC_update(ctx, &sep, 1) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)value, strlen(value)) != 1 ||
	    EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) != 1 || mdlen != sizeof(md))
		goto out;
	if (yx_hex_encode(md, sizeof(md), out_hex, YX_BLIND_INDEX_HEX_LEN + 1) == -1) {
		out_hex[0] = '\0';
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(md, sizeof(md));
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

static bool
field_is_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

bool
yx_phone_normalize(const char *in, char out[12])
{
	size_t len;

	if (out == NULL)
		return false;
	out[0] = '\0';
	if (in == NULL)
		return false;
	len = strnlen(in, 15);
	if (len == 14 && strncmp(in, "+86", 3) == 0) {
		in += 3;
		len -= 3;
	} else if (len == 13 && strncmp(in, "86", 2) == 0) {
		in += 2;
		len -= 2;
	}
	if (len != 11 || !field_is_digits(in, 11))
		return false;
	if (in[0] != '1' || in[1] < '3')
		return false;
	memcpy(out, in, 11);
	out[11] = '\0';
	return true;
}

int
yx_phone_mask(const char *phone11, char out[12])
{
	if (out == NULL)
		return -1;
	out[0] = '\0';
	if (phone11 == NULL || strnlen(phone11, 12) != 11 || !field_is_digits(phone11, 11))
		return -1;
	memcpy(out, phone11, 3);
	memset(out + 3, '*', 4);
	memcpy(out + 7, phone11 + 7, 4);
	out[11] = '\0';
	return 0;
}

/* A real calendar date, years 1800 to 2099. */
static bool
field_date_valid(const char *d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, day, max;

	y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
	m = (d[4] - '0') * 10 + (d[5] - '0');
	day = (d[6] - '0') * 10 + (d[7] - '0');
	if (y < 1800 || y > 2099 || m < 1 || m > 12 || day < 1)
		return false;
	max = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return day <= max;
}

bool
yx_idcard_valid(const char *in)
{
	static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char check[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
	int i, sum = 0;

	if (in == NULL || strnlen(in, 19) != 18)
		return false;
	if (!field_is_digits(in, 17) || in[0] == '0')
		return false;
	if (!field_date_valid(in + 6))
		return false;
	for (i = 0; i < 17; i++)
		sum += (in[i] - '0') * weights[i];
	return in[17] == check[sum % 11];
}

int
yx_idcard_mask(const char *in, char out[19])
{
	size_t len, i;

	if (out == NULL)
		return -1;
	out[0] = '\0';
	if (in == NULL)
		return -1;
	len = strnlen(in, 19);
	if (len < 8 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if ((unsigned char)in[i] < 0x21 || (unsigned char)in[i] > 0x7e)
			return -1;
	}
	memcpy(out, in, 3);
	memset(out + 3, '*', len - 7);
	memcpy(out + len - 4, in + len - 4, 4);
	out[len] = '\0';
	return 0;
}
