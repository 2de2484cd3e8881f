/*
 * yx_idhdr: signing and checking the gateway's identity headers, and role
 * lookups in a "role@org" list, see yx_idhdr.h.
 *
 * The MAC input is a domain tag followed by each value as a 4-byte big-endian
 * length and its bytes, in a fixed order (method, path, request id, user,
 * roles, org, session, timestamp). No value can spill into its neighbour, so
 * moving a character from one header to another changes the MAC.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "yx_encode.h"
#include "yx_idhdr.h"

#define IDHDR_DOMAIN      "yx-idhdr-v1"
#define IDHDR_MAC_LEN     32
#define IDHDR_VALUE_MAX   8192
#define IDHDR_TIME_DIGITS 19

static bool idhdr_value_ok(const char *s, size_t cap, size_t *len);
static int idhdr_mac_add(EVP_MAC_CTX *ctx, const char *s, size_t len);
static int idhdr_mac(const unsigned char *key, const char *method, const char *path,
                     const char *request_id, const struct yx_identity *id, int64_t t,
                     unsigned char out[IDHDR_MAC_LEN]);

/*
 * A value fit to sign: NUL-terminated within cap bytes and free of control
 * characters (it is sent as an HTTP header value). Its length goes to *len.
 */
static bool
idhdr_value_ok(const char *s, size_t cap, size_t *len)
{
	size_t i, n;

	if (s == NULL)
		return false;
	n = strnlen(s, cap);
	if (n == cap)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	}
	*len = n;
	return true;
}

/* Feed one length-prefixed value to the MAC. */
static int
idhdr_mac_add(EVP_MAC_CTX *ctx, const char *s, size_t len)
{
	unsigned char be[4];

	if (len > UINT32_MAX)
		return -1;
	be[0] = (unsigned char)(len >> 24);
	be[1] = (unsigned char)(len >> 16);
	be[2] = (unsigned char)(len >> 8);
	be[3] = (unsigned char)len;
	if (EVP_MAC_update(ctx, be, sizeof(be)) != 1)
		return -1;
	if (len > 0 && EVP_MAC_update(ctx, (const unsigned char *)s, len) != 1)
		return -1;
	return 0;
}

/*
 * HMAC-SHA256 over the canonical encoding of one request. Refuses (-1) any
 * value idhdr_value_ok() refuses, so signer and verifier agree on what is
 * signable.
 */
static int
idhdr_mac(const unsigned char *key, const char *method, const char *path, const char *request_id,
          const struct yx_identity *id, int64_t t, unsigned char out[IDHDR_MAC_LEN])
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	char digest[] = "SHA256", tbuf[24];
	const char *vals[8];
	size_t lens[8], caps[8], outlen = 0, i;
	int rc = -1, tlen;

	if (key == NULL || id == NULL || t < 0)
		return -1;
	vals[0] = method;
	vals[1] = path;
	vals[2] = request_id;
	vals[3] = id->user;
	vals[4] = id->roles;
	vals[5] = id->org;
	vals[6] = id->session;
	caps[0] = caps[1] = caps[2] = IDHDR_VALUE_MAX;
	caps[3] = sizeof(id->user);
	caps[4] = sizeof(id->roles);
	caps[5] = sizeof(id->org);
	caps[6] = sizeof(id->session);
	for (i = 0; i < 7; i++) {
		if (!idhdr_value_ok(vals[i], caps[i], &lens[i]))
			return -1;
	}
	if (lens[0] == 0 || lens[1] == 0)
		return -1;
	tlen = snprintf(tbuf, sizeof(tbuf), "%lld", (long long)t);
	if (tlen < 0 || (size_t)tlen >= sizeof(tbuf))
		return -1;
	vals[7] = tbuf;
	lens[7] = (size_t)tlen;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		goto out;
	if ((ctx = EVP_MAC_CTX_new(mac)) == NULL)
		goto out;
	if (EVP_MAC_init(ctx, key, YX_IDHDR_KEY_LEN, params) != 1)
		goto out;
	if (idhdr_mac_add(ctx, IDHDR_DOMAIN, strlen(IDHDR_DOMAIN)) == -1)
		goto out;
	for (i = 0; i < 8; i++) {
		if (idhdr_mac_add(ctx, vals[i], lens[i]) == -1)
			goto out;
	}
	if (EVP_MAC_final(ctx, out, &outlen, IDHDR_MAC_LEN) != 1 || outlen != IDHDR_MAC_LEN)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

int
yx_idhdr_sign(const unsigned char key[32], const char *method, const char *path,
              const char *request_id, const struct yx_identity *id, int64_t now, char *sig_out,
              size_t outcap)
{
	unsigned char mac[IDHDR_MAC_LEN];
	char hex[2 * IDHDR_MAC_LEN + 1];
	int r, rc = -1;

	if (sig_out == NULL || outcap == 0)
		return -1;
	sig_out[0] = '\0';
	if (idhdr_mac(key, method, path, request_id, id, now, mac) == -1)
		goto out;
	if (yx_hex_encode(mac, sizeof(mac), hex, sizeof(hex)) == -1)
		goto out;
	r = snprintf(sig_out, outcap, "t=%lld,v1=%s", (long long)now, hex);
	if (r < 0 || (size_t)r >= outcap) {
		sig_out[0] = '\0';
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

int
yx_idhdr_verify(const unsigned char key[32], const char *method, const char *path,
                const char *request_id, const struct yx_identity *id, const char *sig, int64_t now,
                int64_t max_skew)
{
	unsigned char want[IDHDR_MAC_LEN], got[IDHDR_MAC_LEN];
	const char *p, *hex;
	int64_t t = 0;
	size_t ndig = 0, i, outlen = 0;
	int rc = -1;

	if (sig == NULL || max_skew < 0)
		return -1;

	/* "t=" then 1-19 digits without a leading zero (the canonical spelling) */
	if (strncmp(sig, "t=", 2) != 0)
		return -1;
	p = sig + 2;
	while (p[ndig] >= '0' && p[ndig] <= '9') {
		int d = p[ndig] - '0';

		if (ndig >= IDHDR_TIME_DIGITS || t > (INT64_MAX - d) / 10)
			return -1;
		t = t * 10 + d;
		ndig++;
	}
	if (ndig == 0 || (ndig > 1 && p[0] == '0'))
		return -1;
	p += ndig;

	/* ",v1=" then exactly 64 lowercase hex digits and the end */
	if (strncmp(p, ",v1=", 4) != 0)
		return -1;
	hex = p + 4;
	for (i = 0; i < 2 * IDHDR_MAC_LEN; i++) {
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return -1;
	}
	if (hex[2 * IDHDR_MAC_LEN] != '\0')
		return -1;
	if (yx_hex_decode(hex, 2 * IDHDR_MAC_LEN, got, sizeof(got), &outlen) == -1 ||
	    outlen != sizeof(got))
		return -1;

	if (idhdr_mac(key, method, path, request_id, id, t, want) == -1)
		goto out;
	if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
		goto out;
	/* both are >= 0 here, so the differences cannot overflow */
	if (now < 0 || (now > t ? now - t : t - now) > max_skew)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}

bool
yx_roles_has(const char *roles_csv, const char *role, const char *org)
{
	const char *p, *end, *at;
	size_t rlen, olen = 0;

	if (roles_csv == NULL || role == NULL || role[0] == '\0')
		return false;
	rlen = strlen(role);
	if (org != NULL)
		olen = strlen(org);

	for (p = roles_csv; *p != '\0'; p = (*end == ',') ? end + 1 : end) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		at = memchr(p, '@', (size_t)(end - p));
		if (at == NULL)
			continue;
		if ((size_t)(at - p) != rlen || memcmp(p, role, rlen) != 0)
			continue;
		if (org == NULL)
			return true;
		if ((size_t)(end - at - 1) == olen && memcmp(at + 1, org, olen) == 0)
			return true;
	}
	return false;
}
