/*
 * yx_jwt: the access tokens identity issues and the gateway verifies. EdDSA
 * (Ed25519) JWS compact serialisation on OpenSSL, checked the way RFC 8725
 * asks: the algorithm is pinned (the header can only confirm it, never choose
 * it), keys come from configuration by key id and never from the token, and
 * the type, issuer, audience and time claims are all checked.
 *
 * An access token is header {"alg":"EdDSA","typ":"at+jwt","kid":"<kid>"} and
 * claims iss, sub, aud, sid, typ ("access"), roles (an array of "role@org"
 * strings such as "resident@12"), org (the primary org, optional), iat, nbf
 * (optional), exp and jti.
 *
 * A keyset holds the Ed25519 keys of one process, loaded from PEM: identity
 * has private keys (it signs), the gateway only public ones. Several keys live
 * side by side during a rotation; the JWKS document publishes their public
 * halves.
 */
#ifndef YX_JWT_H
#define YX_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define YX_JWT_MAX_KEYS   8
#define YX_JWT_KID_MAX    64 /* bytes including the NUL */
#define YX_JWT_MAX_TOKEN  4096
#define YX_JWT_MAX_PEM    16384
#define YX_JWT_MAX_LEEWAY 86400
#define YX_JWT_MAX_TIME   INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/*
 * Claims of an access token, all strings NUL-terminated. roles is the token's
 * roles array joined with ',' ("resident@12,community_staff@12"), empty when
 * the array is; org is empty when the token has none; nbf is 0 when absent
 * (and is then not written by yx_jwt_sign()).
 */
struct yx_jwt_claims {
	char sub[64];
	char sid[64];
	char org[64];
	char roles[1024];
	char jti[64];
	char iss[128];
	char aud[128];
	char typ[32];
	int64_t iat, nbf, exp;
};

struct yx_jwt_key {
	char kid[YX_JWT_KID_MAX];
	EVP_PKEY *pkey;
	bool has_private;
};

/*
 * Up to YX_JWT_MAX_KEYS keys with distinct key ids. Zero-initialise (or call
 * yx_jwt_keyset_init()) before adding keys; release with yx_jwt_keyset_free().
 * The keyset owns its EVP_PKEYs. It is read-only once loaded, so several
 * threads may sign and verify with it at the same time.
 */
struct yx_jwt_keyset {
	struct yx_jwt_key keys[YX_JWT_MAX_KEYS];
	size_t n;
};

enum yx_jwt_result {
	YX_JWT_OK,
	YX_JWT_MALFORMED,
	YX_JWT_BAD_ALG,
	YX_JWT_BAD_TYP,
	YX_JWT_UNKNOWN_KID,
	YX_JWT_BAD_SIGNATURE,
	YX_JWT_EXPIRED,
	YX_JWT_NOT_YET_VALID,
	YX_JWT_BAD_ISSUER,
	YX_JWT_BAD_AUDIENCE,
	YX_JWT_BAD_CLAIMS,
};

/*
 * What a verifier requires. iss, aud and typ are compared exactly and must
 * all be set (a NULL one fails every token with YX_JWT_BAD_CLAIMS). now is the
 * current Unix time; leeway (0 to YX_JWT_MAX_LEEWAY seconds) absorbs clock
 * skew; max_lifetime > 0 refuses tokens whose exp - iat exceeds it, 0 skips
 * that check.
 */
struct yx_jwt_expect {
	const char *iss;
	const char *aud;
	const char *typ;
	int64_t now;
	int64_t leeway;
	int64_t max_lifetime;
};

/* Make ks an empty keyset (the same as zero-initialising it). */
void yx_jwt_keyset_init(struct yx_jwt_keyset *ks);

/*
 * Add the key in the PEM text pem (len bytes, need not be NUL-terminated, at
 * most YX_JWT_MAX_PEM) under kid: an unencrypted PKCS#8 private key ("BEGIN
 * PRIVATE KEY", usable to sign and verify) or a SubjectPublicKeyInfo public key
 * ("BEGIN PUBLIC KEY", verify only). Only Ed25519 keys are accepted. kid is 1
 * to 63 characters of [A-Za-z0-9._-]. Returns 0, or -1 (keyset unchanged) for
 * any other key type, an encrypted or unreadable key, a bad or duplicate kid,
 * or a full keyset. The caller keeps ownership of pem.
 */
int yx_jwt_keyset_add_pem(struct yx_jwt_keyset *ks, const char *kid, const char *pem, size_t len);

/*
 * Same as yx_jwt_keyset_add_pem() with the PEM read from the file at path
 * (at most YX_JWT_MAX_PEM bytes). The read buffer is wiped before it is freed.
 */
int yx_jwt_keyset_add_pem_file(struct yx_jwt_keyset *ks, const char *kid, const char *path);

/*
 * Load keys from a configuration string "kid1=path1,kid2=path2" (spaces and
 * tabs around each kid and path are ignored; paths cannot contain ','). All
 * or nothing: on -1 (an empty spec, a malformed entry, or any key that
 * yx_jwt_keyset_add_pem_file() refuses) the keys this call added are removed
 * again.
 */
int yx_jwt_keyset_from_spec(struct yx_jwt_keyset *ks, const char *spec);

/* Free every key (private key material is wiped by OpenSSL) and empty ks. */
void yx_jwt_keyset_free(struct yx_jwt_keyset *ks);

/*
 * Issue a token for claims signed with the private key kid. The claims must
 * be ones yx_jwt_verify() would accept: sub and sid set, ids printable ASCII
 * without ',' or '@', roles a ','-joined list of role@org, iss, aud, typ and
 * jti set, 0 <= iat < exp <= YX_JWT_MAX_TIME, nbf 0 or in range. On success
 * *token_out is a malloc'd NUL-terminated token the caller frees; returns 0.
 * Returns -1 (*token_out NULL) for invalid claims, an unknown kid or a kid
 * without a private key, a token that would exceed YX_JWT_MAX_TOKEN, or an
 * OpenSSL or memory failure.
 */
int yx_jwt_sign(const struct yx_jwt_keyset *ks, const char *kid, const struct yx_jwt_claims *claims,
                char **token_out);

/*
 * Verify the token (len bytes, need not be NUL-terminated) and read its
 * claims into *out. In order: at most YX_JWT_MAX_TOKEN bytes of base64url in
 * exactly three parts; a header that is a strict JSON object with alg exactly
 * "EdDSA" (else YX_JWT_BAD_ALG, before any key is looked at), typ exactly
 * "at+jwt" (else YX_JWT_BAD_TYP), nothing but alg, typ and kid (so crit, jku,
 * jwk, x5u, x5c ... are refused as YX_JWT_MALFORMED), and a kid present in ks
 * (else YX_JWT_UNKNOWN_KID); a 64-byte signature valid over the received
 * header.payload bytes (else YX_JWT_BAD_SIGNATURE). Only then are the claims
 * parsed: a JSON object (else YX_JWT_MALFORMED) with sub, sid, roles, iat and
 * exp of the right shapes (else YX_JWT_BAD_CLAIMS), iss equal to expect->iss
 * (YX_JWT_BAD_ISSUER), aud equal to or an array containing expect->aud
 * (YX_JWT_BAD_AUDIENCE), typ equal to expect->typ (YX_JWT_BAD_TYP), and
 * times: now < exp + leeway (YX_JWT_EXPIRED), nbf and iat <= now + leeway
 * (YX_JWT_NOT_YET_VALID), iat < exp and exp - iat <= max_lifetime when that is
 * set (YX_JWT_BAD_CLAIMS). out may be NULL; otherwise it is filled on
 * YX_JWT_OK and zeroed on every other result.
 */
enum yx_jwt_result yx_jwt_verify(const struct yx_jwt_keyset *ks, const char *token, size_t len,
                                 const struct yx_jwt_expect *expect, struct yx_jwt_claims *out);

/* A stable lowercase slug for r ("ok", "expired", ...), for logs; static. */
const char *yx_jwt_result_str(enum yx_jwt_result r);

/*
 * The public keys of ks as a JWKS document (RFC 7517, RFC 8037):
 * {"keys":[{"kty":"OKP","crv":"Ed25519","x":"...","kid":"...","alg":"EdDSA",
 * "use":"sig"},...]} in keyset order. Returns a malloc'd NUL-terminated string
 * the caller frees, or NULL on failure.
 */
char *yx_jwt_jwks_json(const struct yx_jwt_keyset *ks);

#endif
