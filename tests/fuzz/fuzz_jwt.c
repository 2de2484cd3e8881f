/*
 * libFuzzer driver for shared/yx_jwt: the token verifier against a fixed
 * keyset.
 *
 * The first input byte picks the mode. Even: the rest is a token, verified
 * as received (header, encoding and signature checks). Odd: the rest is a
 * claims payload, which is signed with the fixed key under a valid header
 * and then verified, so the claim parser behind the signature check is
 * reached too; whatever verifies is re-issued with yx_jwt_sign() and must
 * verify again to the same claims.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "yx_encode.h"
#include "yx_jwt.h"

#define FUZZ_NOW INT64_C(1700000000)
#define FUZZ_HDR "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct yx_jwt_keyset fuzz_keys;
static EVP_PKEY *fuzz_pkey;

/* A fixed Ed25519 key so corpus tokens stay valid from run to run. */
static void
fuzz_init(void)
{
	static const unsigned char seed[32] = "yuexiang-fuzz-jwt-fixed-key-0001";
	BIO *bio;
	char *pem;
	long n;

	fuzz_pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	if (fuzz_pkey == NULL || (bio = BIO_new(BIO_s_mem())) == NULL)
		abort();
	if (PEM_write_bio_PrivateKey(bio, fuzz_pkey, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	n = BIO_get_mem_data(bio, &pem);
	yx_jwt_keyset_init(&fuzz_keys);
	if (yx_jwt_keyset_add_pem(&fuzz_keys, "k1", pem, (size_t)n) != 0)
		abort();
	BIO_free(bio);
}

/* header.payload.signature for an arbitrary payload, signed with the key. */
static char *
fuzz_sign_payload(const uint8_t *payload, size_t n, size_t *len)
{
	size_t hlen = strlen(FUZZ_HDR), cap, off = 0, siglen = 64;
	unsigned char sig[64];
	EVP_MD_CTX *md;
	char *tok;

	cap = yx_b64url_encoded_len(hlen) + yx_b64url_encoded_len(n) + 2 +
	      yx_b64url_encoded_len(64) + 1;
	if ((tok = malloc(cap)) == NULL)
		return NULL;
	yx_b64url_encode((const unsigned char *)FUZZ_HDR, hlen, tok, cap);
	off = strlen(tok);
	tok[off++] = '.';
	yx_b64url_encode(payload, n, tok + off, cap - off);
	off += strlen(tok + off);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, fuzz_pkey, NULL) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)tok, off) != 1)
		abort();
	EVP_MD_CTX_free(md);
	tok[off++] = '.';
	yx_b64url_encode(sig, siglen, tok + off, cap - off);
	*len = off + strlen(tok + off);
	return tok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yx_jwt_expect e = {"yx-identity", "yx-gateway", "access", FUZZ_NOW, 60, 900};
	struct yx_jwt_claims c, again;
	char *tok = NULL, *reissued = NULL;
	size_t len;

	if (fuzz_pkey == NULL)
		fuzz_init();
	if (size == 0)
		return 0;

	if ((data[0] & 1) == 0) {
		if (yx_jwt_verify(&fuzz_keys, (const char *)data + 1, size - 1, &e, &c) ==
		    YX_JWT_OK) {
			if (strnlen(c.roles, sizeof(c.roles)) == sizeof(c.roles))
				abort();
		}
		return 0;
	}

	if (size - 1 > YX_JWT_MAX_TOKEN)
		return 0;
	if ((tok = fuzz_sign_payload(data + 1, size - 1, &len)) == NULL)
		return 0;
	if (yx_jwt_verify(&fuzz_keys, tok, len, &e, &c) == YX_JWT_OK) {
		/* what verifies can be issued again and reads back the same; jti
		 * is optional to the verifier but required of the issuer */
		if (c.jti[0] == '\0')
			memcpy(c.jti, "fuzz", 5);
		if (yx_jwt_sign(&fuzz_keys, "k1", &c, &reissued) != 0)
			abort();
		if (yx_jwt_verify(&fuzz_keys, reissued, strlen(reissued), &e, &again) != YX_JWT_OK)
			abort();
		if (memcmp(&c, &again, sizeof(c)) != 0)
			abort();
		free(reissued);
	}
	free(tok);
	return 0;
}
