/*
 * Unit tests for shared/yx_jwt: keyset loading, signing, the RFC 8725
 * rejection matrix of the verifier (one test per attack or malformation), claim
 * checks and the JWKS document. Keys are generated fresh for each run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "yx_encode.h"
#include "yx_json.h"
#include "yx_jwt.h"

#define NOW          INT64_C(1700000000)
#define ISS          "yx-identity"
#define AUD          "yx-gateway"
#define TYP          "access"
#define MAX_LIFETIME 900

#define HDR_OK "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}"

/*
 * Key A is "k1" in both keysets: with its private half in the signer, public
 * half only in the verifier. Key B is also called "k1", in other_signer.
 */
static EVP_PKEY *key_a, *key_b;
static char *pem_a_pub;
static size_t pem_a_pub_len;
static struct yx_jwt_keyset signer, verifier, other_signer;

/* --- helpers ------------------------------------------------------------------ */

static char *
pem_of(EVP_PKEY *pkey, bool private_half, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *copy;
	long n;

	assert_non_null(bio);
	if (private_half)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	copy = malloc((size_t)n + 1);
	assert_non_null(copy);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	BIO_free(bio);
	if (len != NULL)
		*len = (size_t)n;
	return copy;
}

static void
add_pem(struct yx_jwt_keyset *ks, const char *kid, EVP_PKEY *pkey, bool private_half)
{
	size_t len;
	char *pem = pem_of(pkey, private_half, &len);

	assert_int_equal(yx_jwt_keyset_add_pem(ks, kid, pem, len), 0);
	free(pem);
}

static int
group_setup(void **state)
{
	(void)state;
	key_a = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	key_b = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (key_a == NULL || key_b == NULL)
		return -1;
	yx_jwt_keyset_init(&signer);
	yx_jwt_keyset_init(&verifier);
	yx_jwt_keyset_init(&other_signer);
	add_pem(&signer, "k1", key_a, true);
	add_pem(&verifier, "k1", key_a, false);
	add_pem(&other_signer, "k1", key_b, true);
	pem_a_pub = pem_of(key_a, false, &pem_a_pub_len);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	yx_jwt_keyset_free(&signer);
	yx_jwt_keyset_free(&verifier);
	yx_jwt_keyset_free(&other_signer);
	EVP_PKEY_free(key_a);
	EVP_PKEY_free(key_b);
	free(pem_a_pub);
	return 0;
}

static void
base_claims(struct yx_jwt_claims *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->sub, sizeof(c->sub), "%s", "1001");
	snprintf(c->sid, sizeof(c->sid), "%s", "s-9a8b7c");
	snprintf(c->org, sizeof(c->org), "%s", "12");
	snprintf(c->roles, sizeof(c->roles), "%s", "resident@12,community_staff@12");
	snprintf(c->jti, sizeof(c->jti), "%s", "j-0001");
	snprintf(c->iss, sizeof(c->iss), "%s", ISS);
	snprintf(c->aud, sizeof(c->aud), "%s", AUD);
	snprintf(c->typ, sizeof(c->typ), "%s", TYP);
	c->iat = NOW - 10;
	c->nbf = NOW - 10;
	c->exp = NOW - 10 + MAX_LIFETIME;
}

static struct yx_jwt_expect
base_expect(void)
{
	struct yx_jwt_expect e = {ISS, AUD, TYP, NOW, 0, MAX_LIFETIME};

	return e;
}

static char *
sign_claims(const struct yx_jwt_keyset *ks, const struct yx_jwt_claims *c)
{
	char *tok = NULL;

	assert_int_equal(yx_jwt_sign(ks, "k1", c, &tok), 0);
	assert_non_null(tok);
	return tok;
}

/* Verify a NUL-terminated token against the verifier keyset. */
static enum yx_jwt_result
verify_str(const char *tok, const struct yx_jwt_expect *e, struct yx_jwt_claims *out)
{
	return yx_jwt_verify(&verifier, tok, strlen(tok), e, out);
}

static enum yx_jwt_result
verify_default(const char *tok)
{
	struct yx_jwt_expect e = base_expect();
	struct yx_jwt_claims out;
	enum yx_jwt_result r;
	static const struct yx_jwt_claims zero;

	memset(&out, 0xa5, sizeof(out));
	r = verify_str(tok, &e, &out);
	if (r != YX_JWT_OK)
		assert_memory_equal(&out, &zero, sizeof(out));
	return r;
}

static char *
b64(const void *data, size_t n)
{
	size_t cap = yx_b64url_encoded_len(n) + 1;
	char *s = malloc(cap);

	assert_non_null(s);
	assert_int_equal(yx_b64url_encode(data, n, s, cap), 0);
	return s;
}

/* "<b64 header>.<b64 payload>" */
static char *
signing_input(const char *header, const char *payload)
{
	char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload)), *out;
	size_t n = strlen(h) + strlen(p) + 2;

	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%s.%s", h, p);
	free(h);
	free(p);
	return out;
}

/* Append ".<b64 sig>" to input (consumed); returns the token. */
static char *
attach_sig(char *input, const unsigned char *sig, size_t siglen)
{
	char *s = b64(sig, siglen), *out;
	size_t n = strlen(input) + strlen(s) + 2;

	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%s.%s", input, s);
	free(s);
	free(input);
	return out;
}

/* A token with any header and payload, really signed with pkey (Ed25519). */
static char *
craft(EVP_PKEY *pkey, const char *header, const char *payload)
{
	char *input = signing_input(header, payload);
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, pkey, NULL), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, strlen(input)),
	                 1);
	EVP_MD_CTX_free(md);
	return attach_sig(input, sig, siglen);
}

/* The payload of base_claims() as JSON, with extra members spliced in. */
static char *
payload_json(const char *extra)
{
	char *p = malloc(4096);

	assert_non_null(p);
	snprintf(p, 4096,
	         "{\"iss\":\"" ISS "\",\"sub\":\"1001\",\"aud\":\"" AUD "\",\"sid\":\"s-9a8b7c\","
	         "\"typ\":\"" TYP "\",\"roles\":[\"resident@12\"],\"org\":\"12\","
	         "\"iat\":%lld,\"exp\":%lld,\"jti\":\"j-1\"%s}",
	         (long long)(NOW - 10), (long long)(NOW - 10 + MAX_LIFETIME), extra);
	return p;
}

/* Payload with every member given by the caller (no defaults). */
static enum yx_jwt_result
verify_crafted(const char *header, const char *payload)
{
	char *tok = craft(key_a, header, payload);
	enum yx_jwt_result r = verify_default(tok);

	free(tok);
	return r;
}

/* --- the valid path ------------------------------------------------------------ */

static void
test_valid_token_and_claims(void **state)
{
	struct yx_jwt_claims c, out;
	struct yx_jwt_expect e = base_expect();
	char *tok;

	(void)state;
	base_claims(&c);
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_str(tok, &e, &out), YX_JWT_OK);
	assert_string_equal(out.sub, "1001");
	assert_string_equal(out.sid, "s-9a8b7c");
	assert_string_equal(out.org, "12");
	assert_string_equal(out.roles, "resident@12,community_staff@12");
	assert_string_equal(out.jti, "j-0001");
	assert_string_equal(out.iss, ISS);
	assert_string_equal(out.aud, AUD);
	assert_string_equal(out.typ, TYP);
	assert_int_equal(out.iat, c.iat);
	assert_int_equal(out.nbf, c.nbf);
	assert_int_equal(out.exp, c.exp);
	/* the signer's own keyset verifies too, and out may be NULL */
	assert_int_equal(yx_jwt_verify(&signer, tok, strlen(tok), &e, NULL), YX_JWT_OK);
	/* the length argument is honoured: trailing bytes past len are not read */
	{
		size_t n = strlen(tok);
		char *padded = malloc(n + 8);

		assert_non_null(padded);
		memcpy(padded, tok, n);
		memcpy(padded + n, ".garbage", 8);
		assert_int_equal(yx_jwt_verify(&verifier, padded, n, &e, NULL), YX_JWT_OK);
		free(padded);
	}
	free(tok);
}

static void
test_valid_minimal_token(void **state)
{
	struct yx_jwt_claims c, out;
	struct yx_jwt_expect e = base_expect();
	char *tok;

	(void)state;
	base_claims(&c);
	c.org[0] = '\0';
	c.roles[0] = '\0';
	c.nbf = 0;
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_str(tok, &e, &out), YX_JWT_OK);
	assert_string_equal(out.org, "");
	assert_string_equal(out.roles, "");
	assert_int_equal(out.nbf, 0);
	free(tok);
}

static void
test_valid_audience_array(void **state)
{
	char *p;

	(void)state;
	p = payload_json(",\"x\":1");
	/* replace "aud":"yx-gateway" by an array holding it */
	{
		char buf[4096];
		const char *at = strstr(p, "\"aud\":\"" AUD "\"");

		assert_non_null(at);
		snprintf(buf, sizeof(buf), "%.*s\"aud\":[\"yx-mall\",\"" AUD "\"]%s", (int)(at - p),
		         p, at + strlen("\"aud\":\"" AUD "\""));
		assert_int_equal(verify_crafted(HDR_OK, buf), YX_JWT_OK);
		snprintf(buf, sizeof(buf), "%.*s\"aud\":[\"yx-mall\",\"yx-hall\"]%s", (int)(at - p),
		         p, at + strlen("\"aud\":\"" AUD "\""));
		assert_int_equal(verify_crafted(HDR_OK, buf), YX_JWT_BAD_AUDIENCE);
		snprintf(buf, sizeof(buf), "%.*s\"aud\":[\"" AUD "\",7]%s", (int)(at - p), p,
		         at + strlen("\"aud\":\"" AUD "\""));
		assert_int_equal(verify_crafted(HDR_OK, buf), YX_JWT_BAD_CLAIMS);
	}
	free(p);
}

/* --- the rejection matrix ------------------------------------------------------ */

static void
test_reject_alg_none(void **state)
{
	char *p = payload_json(""), *input, *tok;

	(void)state;
	input = signing_input("{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", p);
	tok = malloc(strlen(input) + 2);
	assert_non_null(tok);
	sprintf(tok, "%s.", input);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_ALG);
	free(tok);
	free(input);
	free(p);
}

/* The classic key-confusion attack: HMAC keyed with the public key's PEM. */
static void
test_reject_hs256_with_public_key_as_secret(void **state)
{
	char *p = payload_json(""), *input, *tok;
	unsigned char mac[32];
	size_t maclen = 0;

	(void)state;
	input = signing_input("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", p);
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem_a_pub, pem_a_pub_len,
	                          (unsigned char *)input, strlen(input), mac, sizeof(mac),
	                          &maclen));
	assert_int_equal(maclen, 32);
	tok = attach_sig(input, mac, maclen);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_ALG);
	free(tok);
	free(p);
}

static void
test_reject_rs256_header(void **state)
{
	char *p = payload_json(""), *input, *tok;
	unsigned char sig[256];

	(void)state;
	memset(sig, 0x42, sizeof(sig));
	input = signing_input("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", p);
	tok = attach_sig(input, sig, sizeof(sig));
	assert_int_equal(verify_default(tok), YX_JWT_BAD_ALG);
	free(tok);
	free(p);
}

/* Other spellings of alg, each with a genuine Ed25519 signature. */
static void
test_reject_other_algs(void **state)
{
	static const char *hdrs[] = {
	    "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	    "{\"alg\":\"eddsa\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	    "{\"alg\":\"Ed25519\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	    "{\"alg\":\"EdDSA \",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	    "{\"alg\":[\"EdDSA\"],\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	    "{\"alg\":null,\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	    "{\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	};
	char *p = payload_json("");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		assert_int_equal(verify_crafted(hdrs[i], p), YX_JWT_BAD_ALG);
	free(p);
}

static void
test_reject_wrong_iss(void **state)
{
	struct yx_jwt_claims c;
	char *tok;

	(void)state;
	base_claims(&c);
	snprintf(c.iss, sizeof(c.iss), "%s", "yx-identity-evil");
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_ISSUER);
	free(tok);
}

static void
test_reject_wrong_aud(void **state)
{
	struct yx_jwt_claims c;
	char *tok;

	(void)state;
	base_claims(&c);
	snprintf(c.aud, sizeof(c.aud), "%s", "yx-mall");
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_AUDIENCE);
	free(tok);
}

static void
test_reject_wrong_typ_claim(void **state)
{
	struct yx_jwt_claims c;
	char *tok;

	(void)state;
	base_claims(&c);
	snprintf(c.typ, sizeof(c.typ), "%s", "refresh");
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_TYP);
	free(tok);
}

static void
test_reject_wrong_typ_header(void **state)
{
	char *p = payload_json("");

	(void)state;
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"k1\"}", p),
	                 YX_JWT_BAD_TYP);
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"AT+JWT\",\"kid\":\"k1\"}", p),
	                 YX_JWT_BAD_TYP);
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"kid\":\"k1\"}", p), YX_JWT_BAD_TYP);
	free(p);
}

static void
test_reject_expired_by_one_second(void **state)
{
	struct yx_jwt_claims c;
	char *tok;

	(void)state;
	base_claims(&c);
	c.exp = NOW - 1;
	c.iat = c.nbf = c.exp - MAX_LIFETIME;
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_EXPIRED);
	free(tok);

	/* exp == now is expired as well; one second later is still valid */
	c.exp = NOW;
	c.iat = c.nbf = c.exp - MAX_LIFETIME;
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_EXPIRED);
	free(tok);
	c.exp = NOW + 1;
	c.iat = c.nbf = c.exp - MAX_LIFETIME;
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_OK);
	free(tok);
}

static void
test_leeway_covers_small_skew(void **state)
{
	struct yx_jwt_claims c;
	struct yx_jwt_expect e = base_expect();
	char *tok;

	(void)state;
	base_claims(&c);
	c.exp = NOW - 1;
	c.iat = c.nbf = c.exp - MAX_LIFETIME;
	tok = sign_claims(&signer, &c);
	e.leeway = 2;
	assert_int_equal(verify_str(tok, &e, NULL), YX_JWT_OK);
	e.leeway = 1;
	assert_int_equal(verify_str(tok, &e, NULL), YX_JWT_EXPIRED);
	free(tok);
}

static void
test_reject_nbf_in_future(void **state)
{
	struct yx_jwt_claims c;
	struct yx_jwt_expect e = base_expect();
	char *tok;

	(void)state;
	base_claims(&c);
	c.nbf = NOW + 1;
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_NOT_YET_VALID);
	e.leeway = 1;
	assert_int_equal(verify_str(tok, &e, NULL), YX_JWT_OK);
	free(tok);
}

static void
test_reject_iat_in_future(void **state)
{
	struct yx_jwt_claims c;
	char *tok;

	(void)state;
	base_claims(&c);
	c.nbf = 0;
	c.iat = NOW + 60;
	c.exp = c.iat + 60;
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_NOT_YET_VALID);
	free(tok);
}

static void
test_reject_unknown_kid(void **state)
{
	char *p = payload_json("");

	(void)state;
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k2\"}", p),
	                 YX_JWT_UNKNOWN_KID);
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"K1\"}", p),
	                 YX_JWT_UNKNOWN_KID);
	free(p);
}

static void
test_reject_kid_missing(void **state)
{
	char *p = payload_json("");

	(void)state;
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", p),
	                 YX_JWT_MALFORMED);
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"\"}", p),
	                 YX_JWT_MALFORMED);
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":1}", p),
	                 YX_JWT_MALFORMED);
	assert_int_equal(
	    verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"../k1\"}", p),
	    YX_JWT_MALFORMED);
	free(p);
}

/* Payload re-encoded with an extra role, original signature kept. */
static void
test_reject_tampered_payload(void **state)
{
	struct yx_jwt_claims c;
	char *tok, *dot1, *dot2, *forged, *p64;
	char json[2048], fixed[2048];
	size_t jlen = 0, n;
	const char *at;

	(void)state;
	base_claims(&c);
	tok = sign_claims(&signer, &c);
	dot1 = strchr(tok, '.');
	dot2 = strchr(dot1 + 1, '.');
	assert_int_equal(yx_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1),
	                                  (unsigned char *)json, sizeof(json) - 1, &jlen),
	                 0);
	json[jlen] = '\0';
	at = strstr(json, "\"resident@12\"");
	assert_non_null(at);
	snprintf(fixed, sizeof(fixed), "%.*s\"district_admin@1\"%s", (int)(at - json), json,
	         at + strlen("\"resident@12\""));
	p64 = b64(fixed, strlen(fixed));
	n = (size_t)(dot1 - tok) + strlen(p64) + strlen(dot2) + 2;
	forged = malloc(n);
	assert_non_null(forged);
	snprintf(forged, n, "%.*s.%s%s", (int)(dot1 - tok), tok, p64, dot2);
	assert_int_equal(verify_default(forged), YX_JWT_BAD_SIGNATURE);
	assert_int_equal(verify_default(tok), YX_JWT_OK);
	free(forged);
	free(p64);
	free(tok);
}

/* Every single-bit change of the 64 signature bytes is caught. */
static void
test_reject_tampered_signature(void **state)
{
	struct yx_jwt_claims c;
	unsigned char sig[64];
	char *tok, *dot2;
	size_t siglen = 0, i;
	int bit;

	(void)state;
	base_claims(&c);
	tok = sign_claims(&signer, &c);
	dot2 = strrchr(tok, '.');
	assert_int_equal(yx_b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig), &siglen),
	                 0);
	assert_int_equal(siglen, 64);
	for (i = 0; i < sizeof(sig); i++) {
		for (bit = 0; bit < 8; bit++) {
			sig[i] ^= (unsigned char)(1u << bit);
			assert_int_equal(yx_b64url_encode(sig, sizeof(sig), dot2 + 1, 87), 0);
			assert_int_equal(verify_default(tok), YX_JWT_BAD_SIGNATURE);
			sig[i] ^= (unsigned char)(1u << bit);
		}
	}
	assert_int_equal(yx_b64url_encode(sig, sizeof(sig), dot2 + 1, 87), 0);
	assert_int_equal(verify_default(tok), YX_JWT_OK);
	free(tok);
}

static void
test_reject_signature_of_other_key_same_kid(void **state)
{
	struct yx_jwt_claims c;
	char *tok;

	(void)state;
	base_claims(&c);
	tok = sign_claims(&other_signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_SIGNATURE);
	free(tok);
}

static void
test_reject_truncated(void **state)
{
	struct yx_jwt_claims c;
	char *tok;
	size_t len, cut;

	(void)state;
	base_claims(&c);
	tok = sign_claims(&signer, &c);
	len = strlen(tok);
	/* one character short: a 63-byte signature */
	assert_int_equal(yx_jwt_verify(&verifier, tok, len - 1, NULL, NULL), YX_JWT_BAD_CLAIMS);
	{
		struct yx_jwt_expect e = base_expect();

		assert_int_equal(yx_jwt_verify(&verifier, tok, len - 1, &e, NULL),
		                 YX_JWT_BAD_SIGNATURE);
		for (cut = 0; cut < len; cut++)
			assert_int_not_equal(yx_jwt_verify(&verifier, tok, cut, &e, NULL),
			                     YX_JWT_OK);
	}
	free(tok);
}

static void
test_reject_two_parts(void **state)
{
	struct yx_jwt_claims c;
	char *tok;

	(void)state;
	base_claims(&c);
	tok = sign_claims(&signer, &c);
	*strrchr(tok, '.') = '\0';
	assert_int_equal(verify_default(tok), YX_JWT_MALFORMED);
	/* header.signature with the payload dropped */
	assert_int_equal(verify_default("eyJhbGciOiJFZERTQSJ9"), YX_JWT_MALFORMED);
	free(tok);
}

static void
test_reject_four_parts(void **state)
{
	struct yx_jwt_claims c;
	char *tok, buf[YX_JWT_MAX_TOKEN + 16];

	(void)state;
	base_claims(&c);
	tok = sign_claims(&signer, &c);
	snprintf(buf, sizeof(buf), "%s.", tok);
	assert_int_equal(verify_default(buf), YX_JWT_MALFORMED);
	snprintf(buf, sizeof(buf), "%s.AAAA", tok);
	assert_int_equal(verify_default(buf), YX_JWT_MALFORMED);
	snprintf(buf, sizeof(buf), "AAAA.%s", tok);
	assert_int_equal(verify_default(buf), YX_JWT_MALFORMED);
	free(tok);
}

/*
 * Grow a claim until the signed token just fits in YX_JWT_MAX_TOKEN (it must
 * verify), then one step more (it must be refused unparsed).
 */
static void
test_reject_overlong_token(void **state)
{
	char pad[3 * 1000 + 64], extra[3 * 1000 + 128], *p, *tok = NULL;
	size_t total = 0, padlen;
	enum yx_jwt_result r;

	(void)state;
	for (padlen = 2000; padlen < 3000; padlen++) {
		size_t third = padlen / 3, rest = padlen - 2 * third;

		memset(pad, 'x', padlen);
		snprintf(extra, sizeof(extra), ",\"p1\":\"%.*s\",\"p2\":\"%.*s\",\"p3\":\"%.*s\"",
		         (int)third, pad, (int)third, pad, (int)rest, pad);
		p = payload_json(extra);
		tok = craft(key_a, HDR_OK, p);
		free(p);
		total = strlen(tok);
		r = verify_default(tok);
		free(tok);
		if (total <= YX_JWT_MAX_TOKEN) {
			assert_int_equal(r, YX_JWT_OK);
		} else {
			assert_int_equal(r, YX_JWT_MALFORMED);
			break;
		}
	}
	assert_true(total > YX_JWT_MAX_TOKEN && total <= YX_JWT_MAX_TOKEN + 4);

	/* and arbitrary bytes beyond the bound are not even looked at */
	{
		char *huge = malloc(1 << 20);
		struct yx_jwt_expect e = base_expect();

		assert_non_null(huge);
		memset(huge, 'A', 1 << 20);
		huge[100] = huge[200] = '.';
		assert_int_equal(yx_jwt_verify(&verifier, huge, 1 << 20, &e, NULL),
		                 YX_JWT_MALFORMED);
		free(huge);
	}
}

static void
test_reject_crit_header(void **state)
{
	char *p = payload_json("");

	(void)state;
	assert_int_equal(verify_crafted("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\","
	                                "\"crit\":[\"exp\"]}",
	                                p),
	                 YX_JWT_MALFORMED);
	free(p);
}

/* Header parameters that would let the token pick its own key. */
static void
test_reject_key_bearing_headers(void **state)
{
	static const char *hdrs[] = {
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\",\"jku\":\"https://e.example/\"}",
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\",\"x5u\":\"https://e.example/\"}",
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\",\"jwk\":{\"kty\":\"OKP\"}}",
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\",\"x5c\":[\"MIIB\"]}",
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\",\"b64\":false}",
	};
	char *p = payload_json("");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		assert_int_equal(verify_crafted(hdrs[i], p), YX_JWT_MALFORMED);
	free(p);
}

static void
test_reject_lifetime_over_max(void **state)
{
	struct yx_jwt_claims c;
	struct yx_jwt_expect e = base_expect();
	char *tok;

	(void)state;
	base_claims(&c);
	c.exp = c.iat + MAX_LIFETIME + 1;
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_CLAIMS);
	e.max_lifetime = 0; /* check disabled */
	assert_int_equal(verify_str(tok, &e, NULL), YX_JWT_OK);
	free(tok);
	c.exp = c.iat + MAX_LIFETIME;
	tok = sign_claims(&signer, &c);
	assert_int_equal(verify_default(tok), YX_JWT_OK);
	free(tok);
}

/* Malformed header encodings and JSON. */
static void
test_reject_malformed_header(void **state)
{
	static const char *hdrs[] = {
	    "[\"EdDSA\"]",
	    "\"EdDSA\"",
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\"",
	    "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\",\"kid\":\"k1\"}",
	    "{'alg':'EdDSA'}",
	    "",
	};
	char *p = payload_json(""), *input, *tok;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		assert_int_equal(verify_crafted(hdrs[i], p), YX_JWT_MALFORMED);

	/* characters outside base64url anywhere, and non-canonical base64url */
	tok = craft(key_a, HDR_OK, p);
	{
		char buf[YX_JWT_MAX_TOKEN + 8];
		size_t n = strlen(tok);

		snprintf(buf, sizeof(buf), "%s", tok);
		buf[3] = '+';
		assert_int_equal(verify_default(buf), YX_JWT_MALFORMED);
		snprintf(buf, sizeof(buf), " %s", tok);
		assert_int_equal(verify_default(buf), YX_JWT_MALFORMED);
		snprintf(buf, sizeof(buf), "%s=", tok);
		assert_int_equal(verify_default(buf), YX_JWT_MALFORMED);
		memcpy(buf, tok, n);
		buf[10] = '\0';
		assert_int_equal(yx_jwt_verify(&verifier, buf, n, NULL, NULL), YX_JWT_BAD_CLAIMS);
		{
			struct yx_jwt_expect e = base_expect();

			assert_int_equal(yx_jwt_verify(&verifier, buf, n, &e, NULL),
			                 YX_JWT_MALFORMED);
		}
	}
	free(tok);

	/* a header of 43 bytes has non-zero unused bits when its last char is bumped */
	input = signing_input(HDR_OK, p);
	{
		char *dot = strchr(input, '.');

		assert_true(((dot - input) % 4) != 0);
		dot[-1] = (char)(dot[-1] + 1);
		tok = malloc(strlen(input) + 3);
		assert_non_null(tok);
		sprintf(tok, "%s.A", input);
		assert_int_equal(verify_default(tok), YX_JWT_MALFORMED);
		free(tok);
	}
	free(input);
	free(p);
}

static void
test_reject_bad_signature_length(void **state)
{
	char *p = payload_json(""), *input, *tok;
	unsigned char sig[65];

	(void)state;
	memset(sig, 0, sizeof(sig));
	input = signing_input(HDR_OK, p);
	tok = attach_sig(input, sig, 65);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_SIGNATURE);
	free(tok);
	input = signing_input(HDR_OK, p);
	tok = attach_sig(input, sig, 63);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_SIGNATURE);
	free(tok);
	input = signing_input(HDR_OK, p);
	tok = attach_sig(input, sig, 0);
	assert_int_equal(verify_default(tok), YX_JWT_BAD_SIGNATURE);
	free(tok);
	free(p);
}

/* Signed, but the claims are not what an access token may carry. */
static void
test_reject_bad_claims(void **state)
{
	static const char *bad[] = {
	    "[1,2]",
	    "{\"iss\":\"" ISS "\"}",
	    /* sub / sid missing or ill-formed */
	    "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sid\":\"s\",\"typ\":\"" TYP "\","
	    "\"roles\":[],\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"typ\":\"" TYP "\","
	    "\"roles\":[],\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1@12\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1,2\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1 2\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":1,\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"\\u00e9\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"org\":\"1,2\",\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"org\":12,\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    /* roles */
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"iat\":1699999990,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":\"resident@12\",\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[\"resident\"],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[\"Resident@12\"],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[\"resident@\"],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[\"@12\"],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[\"resident@12,admin@1\"],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[\"resident@1@2\"],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[[\"resident@12\"]],\"iat\":1699999990,"
	    "\"exp\":1700000100}",
	    /* times */
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"exp\":1.7000001e9}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"exp\":\"1700000100\"}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":-1,\"exp\":1700000100}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,"
	    "\"exp\":9223372036854775807}",
	    "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	    "\"typ\":\"" TYP "\",\"roles\":[],\"iat\":1699999990,\"nbf\":null,"
	    "\"exp\":1700000100}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum yx_jwt_result r = verify_crafted(HDR_OK, bad[i]);

		if (i == 0)
			assert_int_equal(r, YX_JWT_MALFORMED);
		else if (i == 1)
			assert_true(r == YX_JWT_BAD_CLAIMS);
		else if (r != YX_JWT_BAD_CLAIMS)
			fail_msg("payload %zu: %s", i, yx_jwt_result_str(r));
	}
	/* the same shape with everything right is accepted */
	assert_int_equal(verify_crafted(HDR_OK, "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD
	                                        "\",\"sid\":\"s\",\"typ\":\"" TYP
	                                        "\",\"roles\":[],\"iat\":1699999990,"
	                                        "\"exp\":1700000100}"),
	                 YX_JWT_OK);
}

static void
test_reject_roles_too_long(void **state)
{
	char roles[2048], extra[2200];
	size_t off = 0;
	int i;

	(void)state;
	/* 100 x "resident@1234567" is 16 * 100 + 99 = 1699 characters joined */
	for (i = 0; i < 100; i++)
		off += (size_t)snprintf(roles + off, sizeof(roles) - off, "%s\"resident@1234567\"",
		                        i ? "," : "");
	snprintf(extra, sizeof(extra),
	         "{\"iss\":\"" ISS "\",\"sub\":\"1\",\"aud\":\"" AUD "\",\"sid\":\"s\","
	         "\"typ\":\"" TYP "\",\"roles\":[%s],\"iat\":1699999990,\"exp\":1700000100}",
	         roles);
	assert_int_equal(verify_crafted(HDR_OK, extra), YX_JWT_BAD_CLAIMS);
}

/* A verifier configured without iss, aud or typ accepts nothing. */
static void
test_expect_must_be_complete(void **state)
{
	struct yx_jwt_claims c;
	struct yx_jwt_expect e;
	char *tok;

	(void)state;
	base_claims(&c);
	tok = sign_claims(&signer, &c);
	e = base_expect();
	e.iss = NULL;
	assert_int_equal(verify_str(tok, &e, NULL), YX_JWT_BAD_CLAIMS);
	e = base_expect();
	e.aud = NULL;
	assert_int_equal(verify_str(tok, &e, NULL), YX_JWT_BAD_CLAIMS);
	e = base_expect();
	e.typ = NULL;
	assert_int_equal(verify_str(tok, &e, NULL), YX_JWT_BAD_CLAIMS);
	e = base_expect();
	e.leeway = -1;
	assert_int_equal(verify_str(tok, &e, NULL), YX_JWT_BAD_CLAIMS);
	assert_int_equal(verify_str(tok, NULL, NULL), YX_JWT_BAD_CLAIMS);
	e = base_expect();
	assert_int_equal(yx_jwt_verify(NULL, tok, strlen(tok), &e, NULL), YX_JWT_MALFORMED);
	assert_int_equal(yx_jwt_verify(&verifier, NULL, 0, &e, NULL), YX_JWT_MALFORMED);
	assert_int_equal(yx_jwt_verify(&verifier, tok, 0, &e, NULL), YX_JWT_MALFORMED);
	free(tok);
}

/* --- signing ----------------------------------------------------------------- */

static void
test_sign_refuses_bad_input(void **state)
{
	struct yx_jwt_claims c;
	char *tok = (char *)1;

	(void)state;
	base_claims(&c);
	/* a public-only key cannot sign, an unknown kid neither */
	assert_int_equal(yx_jwt_sign(&verifier, "k1", &c, &tok), -1);
	assert_null(tok);
	assert_int_equal(yx_jwt_sign(&signer, "k2", &c, &tok), -1);
	assert_int_equal(yx_jwt_sign(&signer, NULL, &c, &tok), -1);
	assert_int_equal(yx_jwt_sign(&signer, "k1", NULL, &tok), -1);

#define REFUSED(mutation)                                                                          \
	do {                                                                                       \
		base_claims(&c);                                                                   \
		mutation;                                                                          \
		assert_int_equal(yx_jwt_sign(&signer, "k1", &c, &tok), -1);                        \
		assert_null(tok);                                                                  \
	} while (0)
	REFUSED(c.sub[0] = '\0');
	REFUSED(c.sid[0] = '\0');
	REFUSED(strcpy(c.sub, "1@2"));
	REFUSED(strcpy(c.sid, "a,b"));
	REFUSED(strcpy(c.org, "1 2"));
	REFUSED(c.jti[0] = '\0');
	REFUSED(c.iss[0] = '\0');
	REFUSED(c.aud[0] = '\0');
	REFUSED(c.typ[0] = '\0');
	REFUSED(strcpy(c.roles, "resident"));
	REFUSED(strcpy(c.roles, "resident@12,"));
	REFUSED(strcpy(c.roles, ",resident@12"));
	REFUSED(strcpy(c.roles, "Resident@12"));
	REFUSED(memset(c.sub, 'a', sizeof(c.sub)));
	REFUSED(c.exp = c.iat);
	REFUSED(c.iat = -1);
	REFUSED(c.exp = YX_JWT_MAX_TIME + 1);
	REFUSED(c.nbf = -5);
#undef REFUSED
}

/*
 * Every field at its largest still makes a token within YX_JWT_MAX_TOKEN that
 * verifies and reads back whole: the bounds of signer and verifier agree.
 */
static void
test_sign_largest_claims_fit(void **state)
{
	struct yx_jwt_claims c, out;
	struct yx_jwt_expect e = base_expect();
	char *tok = NULL;
	size_t off = 0;

	(void)state;
	base_claims(&c);
	memset(c.sub, 's', sizeof(c.sub) - 1);
	memset(c.sid, 'i', sizeof(c.sid) - 1);
	memset(c.org, 'o', sizeof(c.org) - 1);
	memset(c.jti, 'j', sizeof(c.jti) - 1);
	memset(c.iss, 'I', sizeof(c.iss) - 1);
	memset(c.aud, 'A', sizeof(c.aud) - 1);
	memset(c.typ, 'T', sizeof(c.typ) - 1);
	while (off + 21 < sizeof(c.roles))
		off += (size_t)snprintf(c.roles + off, sizeof(c.roles) - off,
		                        "%sa_very_long_role@12", off ? "," : "");
	assert_true(off > 1000);
	assert_int_equal(yx_jwt_sign(&signer, "k1", &c, &tok), 0);
	assert_true(strlen(tok) <= YX_JWT_MAX_TOKEN);
	e.iss = c.iss;
	e.aud = c.aud;
	e.typ = c.typ;
	assert_int_equal(verify_str(tok, &e, &out), YX_JWT_OK);
	assert_memory_equal(&out, &c, sizeof(c));
	free(tok);

	/* one role more than fits is refused */
	c.roles[off] = ',';
	memset(c.roles + off + 1, 'r', sizeof(c.roles) - off - 1);
	assert_int_equal(yx_jwt_sign(&signer, "k1", &c, &tok), -1);
}

/* --- keysets --------------------------------------------------------------------- */

static void
expect_key_refused(EVP_PKEY *pkey, bool private_half)
{
	struct yx_jwt_keyset ks;
	size_t len;
	char *pem = pem_of(pkey, private_half, &len);

	yx_jwt_keyset_init(&ks);
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "k1", pem, len), -1);
	assert_int_equal(ks.n, 0);
	free(pem);
}

static void
test_keyset_refuses_other_key_types(void **state)
{
	static const char *types[] = {"X25519", "ED448", "X448"};
	EVP_PKEY *pkey;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, types[i]);
		assert_non_null(pkey);
		expect_key_refused(pkey, true);
		expect_key_refused(pkey, false);
		EVP_PKEY_free(pkey);
	}
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(pkey);
	expect_key_refused(pkey, true);
	expect_key_refused(pkey, false);
	EVP_PKEY_free(pkey);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(pkey);
	expect_key_refused(pkey, true);
	expect_key_refused(pkey, false);
	EVP_PKEY_free(pkey);
}

static void
test_keyset_rules(void **state)
{
	struct yx_jwt_keyset ks;
	size_t len, i;
	char *pem = pem_of(key_a, true, &len), kid[80];
	BIO *bio;
	char *data;
	long n;

	(void)state;
	yx_jwt_keyset_init(&ks);
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "", pem, len), -1);
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "a b", pem, len), -1);
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "k/1", pem, len), -1);
	memset(kid, 'k', sizeof(kid));
	kid[64] = '\0';
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, kid, pem, len), -1);
	kid[63] = '\0';
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, kid, pem, len), 0);
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, kid, pem, len), -1); /* duplicate */
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "x", pem, 0), -1);
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "x", pem, len / 2), -1);
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "x", "not a pem", 9), -1);
	for (i = 1; i < YX_JWT_MAX_KEYS; i++) {
		snprintf(kid, sizeof(kid), "key-%zu", i);
		assert_int_equal(yx_jwt_keyset_add_pem(&ks, kid, pem, len), 0);
	}
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "one-too-many", pem, len), -1);
	assert_int_equal(ks.n, YX_JWT_MAX_KEYS);
	assert_true(ks.keys[0].has_private);
	yx_jwt_keyset_free(&ks);
	assert_int_equal(ks.n, 0);
	yx_jwt_keyset_free(&ks); /* twice is harmless */

	/* an encrypted private key is refused without prompting */
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, key_a, EVP_aes_256_cbc(),
	                                          (unsigned char *)"secret", 6, NULL, NULL),
	                 1);
	n = BIO_get_mem_data(bio, &data);
	assert_int_equal(yx_jwt_keyset_add_pem(&ks, "k1", data, (size_t)n), -1);
	BIO_free(bio);
	free(pem);
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
test_keyset_from_files_and_spec(void **state)
{
	char dir[] = "/tmp/yx_jwt_test.XXXXXX", priv[128], pub[128], other[128], spec[512];
	struct yx_jwt_keyset ks;
	struct yx_jwt_claims c;
	size_t len;
	char *pem, *tok;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(priv, sizeof(priv), "%s/a.key", dir);
	snprintf(pub, sizeof(pub), "%s/a.pub", dir);
	snprintf(other, sizeof(other), "%s/b.pub", dir);
	pem = pem_of(key_a, true, &len);
	write_file(priv, pem, len);
	free(pem);
	pem = pem_of(key_a, false, &len);
	write_file(pub, pem, len);
	free(pem);
	pem = pem_of(key_b, false, &len);
	write_file(other, pem, len);
	free(pem);

	yx_jwt_keyset_init(&ks);
	assert_int_equal(yx_jwt_keyset_add_pem_file(&ks, "k1", priv), 0);
	assert_true(ks.keys[0].has_private);
	assert_int_equal(yx_jwt_keyset_add_pem_file(&ks, "k2", pub), 0);
	assert_false(ks.keys[1].has_private);
	assert_int_equal(yx_jwt_keyset_add_pem_file(&ks, "k3", "/nonexistent/x.pem"), -1);
	base_claims(&c);
	tok = sign_claims(&ks, &c);
	assert_int_equal(verify_default(tok), YX_JWT_OK);
	free(tok);
	yx_jwt_keyset_free(&ks);

	snprintf(spec, sizeof(spec), " k1 = %s ,k2=%s", pub, other);
	assert_int_equal(yx_jwt_keyset_from_spec(&ks, spec), 0);
	assert_int_equal(ks.n, 2);
	assert_string_equal(ks.keys[0].kid, "k1");
	assert_string_equal(ks.keys[1].kid, "k2");
	yx_jwt_keyset_free(&ks);

	/* all or nothing */
	assert_int_equal(yx_jwt_keyset_add_pem_file(&ks, "k0", priv), 0);
	snprintf(spec, sizeof(spec), "k1=%s,k2=/nonexistent/b.pub", pub);
	assert_int_equal(yx_jwt_keyset_from_spec(&ks, spec), -1);
	assert_int_equal(ks.n, 1);
	snprintf(spec, sizeof(spec), "k1=%s,k1=%s", pub, other);
	assert_int_equal(yx_jwt_keyset_from_spec(&ks, spec), -1);
	assert_int_equal(ks.n, 1);
	assert_int_equal(yx_jwt_keyset_from_spec(&ks, ""), -1);
	snprintf(spec, sizeof(spec), "k1=%s,", pub);
	assert_int_equal(yx_jwt_keyset_from_spec(&ks, spec), -1);
	snprintf(spec, sizeof(spec), "%s", pub);
	assert_int_equal(yx_jwt_keyset_from_spec(&ks, spec), -1);
	assert_int_equal(yx_jwt_keyset_from_spec(&ks, "k1="), -1);
	assert_int_equal(yx_jwt_keyset_from_spec(&ks, "=x"), -1);
	assert_int_equal(ks.n, 1);
	yx_jwt_keyset_free(&ks);

	unlink(priv);
	unlink(pub);
	unlink(other);
	rmdir(dir);
}

/* --- JWKS and result strings -------------------------------------------------------- */

static void
check_jwk(const struct yx_json *k, const char *kid, EVP_PKEY *pkey)
{
	const char *s;
	size_t len = 0, rawlen = 32, xlen = 0;
	unsigned char raw[32], x[33];

	assert_true(yx_json_is_object(k));
	assert_int_equal(k->count, 6);
	assert_true(yx_json_string(yx_json_get(k, "kty"), &s, NULL));
	assert_string_equal(s, "OKP");
	assert_true(yx_json_string(yx_json_get(k, "crv"), &s, NULL));
	assert_string_equal(s, "Ed25519");
	assert_true(yx_json_string(yx_json_get(k, "alg"), &s, NULL));
	assert_string_equal(s, "EdDSA");
	assert_true(yx_json_string(yx_json_get(k, "use"), &s, NULL));
	assert_string_equal(s, "sig");
	assert_true(yx_json_string(yx_json_get(k, "kid"), &s, NULL));
	assert_string_equal(s, kid);
	assert_true(yx_json_string(yx_json_get(k, "x"), &s, &len));
	assert_int_equal(len, 43);
	assert_int_equal(yx_b64url_decode(s, len, x, sizeof(x), &xlen), 0);
	assert_int_equal(xlen, 32);
	assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen), 1);
	assert_memory_equal(x, raw, 32);
	assert_null(yx_json_get(k, "d")); /* never the private half */
}

static void
test_jwks_parsed_back(void **state)
{
	struct yx_jwt_keyset ks;
	struct yx_json_doc *doc = NULL;
	const struct yx_json *root, *keys;
	char *json;

	(void)state;
	yx_jwt_keyset_init(&ks);
	add_pem(&ks, "2024-01", key_a, true);
	add_pem(&ks, "2024-02", key_b, false);
	json = yx_jwt_jwks_json(&ks);
	assert_non_null(json);
	assert_int_equal(yx_json_parse(json, strlen(json), NULL, &doc, NULL, NULL), 0);
	root = yx_json_root(doc);
	assert_true(yx_json_is_object(root));
	assert_int_equal(root->count, 1);
	keys = yx_json_get(root, "keys");
	assert_true(yx_json_is_array(keys));
	assert_int_equal(keys->count, 2);
	check_jwk(keys->child, "2024-01", key_a);
	check_jwk(keys->child->next, "2024-02", key_b);
	yx_json_free(doc);
	free(json);
	yx_jwt_keyset_free(&ks);

	/* an empty keyset publishes an empty list */
	json = yx_jwt_jwks_json(&ks);
	assert_non_null(json);
	assert_string_equal(json, "{\"keys\":[]}");
	free(json);
	assert_null(yx_jwt_jwks_json(NULL));
}

static void
test_result_strings(void **state)
{
	int i, j;

	(void)state;
	assert_string_equal(yx_jwt_result_str(YX_JWT_OK), "ok");
	assert_string_equal(yx_jwt_result_str(YX_JWT_EXPIRED), "expired");
	for (i = YX_JWT_OK; i <= YX_JWT_BAD_CLAIMS; i++) {
		assert_string_not_equal(yx_jwt_result_str((enum yx_jwt_result)i), "unknown");
		for (j = i + 1; j <= YX_JWT_BAD_CLAIMS; j++)
			assert_string_not_equal(yx_jwt_result_str((enum yx_jwt_result)i),
			                        yx_jwt_result_str((enum yx_jwt_result)j));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_token_and_claims),
	    cmocka_unit_test(test_valid_minimal_token),
	    cmocka_unit_test(test_valid_audience_array),
	    cmocka_unit_test(test_reject_alg_none),
	    cmocka_unit_test(test_reject_hs256_with_public_key_as_secret),
	    cmocka_unit_test(test_reject_rs256_header),
	    cmocka_unit_test(test_reject_other_algs),
	    cmocka_unit_test(test_reject_wrong_iss),
	    cmocka_unit_test(test_reject_wrong_aud),
	    cmocka_unit_test(test_reject_wrong_typ_claim),
	    cmocka_unit_test(test_reject_wrong_typ_header),
	    cmocka_unit_test(test_reject_expired_by_one_second),
	    cmocka_unit_test(test_leeway_covers_small_skew),
	    cmocka_unit_test(test_reject_nbf_in_future),
	    cmocka_unit_test(test_reject_iat_in_future),
	    cmocka_unit_test(test_reject_unknown_kid),
	    cmocka_unit_test(test_reject_kid_missing),
	    cmocka_unit_test(test_reject_tampered_payload),
	    cmocka_unit_test(test_reject_tampered_signature),
	    cmocka_unit_test(test_reject_signature_of_other_key_same_kid),
	    cmocka_unit_test(test_reject_truncated),
	    cmocka_unit_test(test_reject_two_parts),
	    cmocka_unit_test(test_reject_four_parts),
	    cmocka_unit_test(test_reject_overlong_token),
	    cmocka_unit_test(test_reject_crit_header),
	    cmocka_unit_test(test_reject_key_bearing_headers),
	    cmocka_unit_test(test_reject_lifetime_over_max),
	    cmocka_unit_test(test_reject_malformed_header),
	    cmocka_unit_test(test_reject_bad_signature_length),
	    cmocka_unit_test(test_reject_bad_claims),
	    cmocka_unit_test(test_reject_roles_too_long),
	    cmocka_unit_test(test_expect_must_be_complete),
	    cmocka_unit_test(test_sign_refuses_bad_input),
	    cmocka_unit_test(test_sign_largest_claims_fit),
	    cmocka_unit_test(test_keyset_refuses_other_key_types),
	    cmocka_unit_test(test_keyset_rules),
	    cmocka_unit_test(test_keyset_from_files_and_spec),
	    cmocka_unit_test(test_jwks_parsed_back),
	    cmocka_unit_test(test_result_strings),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
