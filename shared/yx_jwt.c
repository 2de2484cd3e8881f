/*
 * yx_jwt: Ed25519 keysets, access-token signing and verification, JWKS
 * output, see yx_jwt.h.
 *
 * Verification never lets the token steer it: the header may only confirm
 * the one algorithm we use, keys come from the keyset by kid, the signature
 * is checked over the bytes as received before any claim is parsed, and every
 * claim we pass on is checked for shape and length so it can travel in a
 * header or a log line without further escaping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "yx_encode.h"
#include "yx_json.h"
#include "yx_jwt.h"

#define JWT_ALG         "EdDSA"
#define JWT_HEADER_TYP  "at+jwt"
#define JWT_SIG_LEN     64
#define JWT_SIG_B64_LEN 86
#define JWT_ED25519_LEN 32
#define JWT_HEADER_MAX  512
#define JWT_PAYLOAD_MAX (YX_JWT_MAX_TOKEN / 4 * 3)
#define JWT_ROLE_MAX    128

static bool jwt_kid_ok(const char *kid, size_t len);
static bool jwt_id_ok(const char *s, size_t len, size_t cap);
static bool jwt_text_ok(const char *s, size_t len, size_t cap);
static bool jwt_role_ok(const char *s, size_t len);
static bool jwt_roles_csv_ok(const char *csv);
static bool jwt_time_ok(int64_t t);
static bool jwt_str_eq(const struct yx_json *v, const char *want);
static void jwt_copy(char *dst, const char *src, size_t len);
static const struct yx_jwt_key *jwt_key_find(const struct yx_jwt_keyset *ks, const char *kid,
                                             size_t len);
static int jwt_no_passphrase(char *buf, int size, int rwflag, void *u);
static EVP_PKEY *jwt_pem_load(const char *pem, size_t len, bool *has_private);
static void jwt_keyset_truncate(struct yx_jwt_keyset *ks, size_t n);
static bool jwt_claims_signable(const struct yx_jwt_claims *c);
static char *jwt_header_json(const char *kid, size_t *len);
static char *jwt_payload_json(const struct yx_jwt_claims *c, size_t *len);
static int jwt_b64_append(char *buf, size_t cap, size_t *off, const unsigned char *in, size_t n);
static enum yx_jwt_result jwt_check_header(const struct yx_jwt_keyset *ks, const char *b64,
                                           size_t len, const struct yx_jwt_key **key);
static bool jwt_sig_ok(const struct yx_jwt_key *key, const char *signed_part, size_t signed_len,
                       const char *b64sig, size_t b64len);
static enum yx_jwt_result jwt_read_claims(const struct yx_json *root,
                                          const struct yx_jwt_expect *expect,
                                          struct yx_jwt_claims *c);
static enum yx_jwt_result jwt_check_times(const struct yx_jwt_claims *c, bool has_nbf,
                                          const struct yx_jwt_expect *expect);

/* --- value checks ---------------------------------------------------------- */

/* A key id: 1 to 63 characters of [A-Za-z0-9._-]. */
static bool
jwt_kid_ok(const char *kid, size_t len)
{
	size_t i;

	if (len == 0 || len >= YX_JWT_KID_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = kid[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* 1 to cap - 1 bytes of printable ASCII without space. */
static bool
jwt_text_ok(const char *s, size_t len, size_t cap)
{
	size_t i;

	if (len == 0 || len >= cap)
		return false;
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	}
	return true;
}

/* An id (sub, sid, org): text without ',' or '@', the list separators. */
static bool
jwt_id_ok(const char *s, size_t len, size_t cap)
{
	if (!jwt_text_ok(s, len, cap))
		return false;
	return memchr(s, ',', len) == NULL && memchr(s, '@', len) == NULL;
}

/* "role@org" with role [a-z_]+ and org [0-9A-Za-z_-]+. */
static bool
jwt_role_ok(const char *s, size_t len)
{
	size_t i = 0, at;

	if (len == 0 || len > JWT_ROLE_MAX)
		return false;
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
		i++;
	if (i == 0 || i >= len || s[i] != '@')
		return false;
	at = i++;
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	                   (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
		i++;
	return i == len && i > at + 1;
}

/* A ','-joined list of roles (possibly empty) that fits the claims struct. */
static bool
jwt_roles_csv_ok(const char *csv)
{
	const char *p = csv, *end;
	size_t len = strnlen(csv, sizeof(((struct yx_jwt_claims *)0)->roles));

	if (len >= sizeof(((struct yx_jwt_claims *)0)->roles))
		return false;
	if (len == 0)
		return true;
	for (;;) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		if (!jwt_role_ok(p, (size_t)(end - p)))
			return false;
		if (*end == '\0')
			return true;
		p = end + 1;
	}
}

static bool
jwt_time_ok(int64_t t)
{
	return t >= 0 && t <= YX_JWT_MAX_TIME;
}

/* v is a string exactly equal to want. */
static bool
jwt_str_eq(const struct yx_json *v, const char *want)
{
	const char *s;
	size_t len;

	if (!yx_json_string(v, &s, &len))
		return false;
	return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* Copy len bytes and a NUL; the caller has checked that they fit. */
static void
jwt_copy(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* --- keysets ---------------------------------------------------------------- */

static const struct yx_jwt_key *
jwt_key_find(const struct yx_jwt_keyset *ks, const char *kid, size_t len)
{
	size_t i;

	for (i = 0; i < ks->n; i++) {
		if (strlen(ks->keys[i].kid) == len && memcmp(ks->keys[i].kid, kid, len) == 0)
			return &ks->keys[i];
	}
	return NULL;
}

/* Refuse encrypted PEM instead of letting OpenSSL prompt on a terminal. */
static int
jwt_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Parse an Ed25519 private or public key from PEM. Returns the key (the
 * caller owns it) or NULL; leaves nothing on the OpenSSL error queue.
 */
static EVP_PKEY *
jwt_pem_load(const char *pem, size_t len, bool *has_private)
{
	BIO *bio;
	EVP_PKEY *pkey = NULL;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		goto out;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, jwt_no_passphrase, NULL);
	BIO_free(bio);
	if (pkey != NULL) {
		*has_private = true;
	} else {
		ERR_clear_error();
		if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
			goto out;
		pkey = PEM_read_bio_PUBKEY(bio, NULL, jwt_no_passphrase, NULL);
		BIO_free(bio);
		*has_private = false;
	}
	if (pkey != NULL && !EVP_PKEY_is_a(pkey, "ED25519")) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	ERR_clear_error();
	return pkey;
}

void
yx_jwt_keyset_init(struct yx_jwt_keyset *ks)
{
	if (ks != NULL)
		memset(ks, 0, sizeof(*ks));
}

int
yx_jwt_keyset_add_pem(struct yx_jwt_keyset *ks, const char *kid, const char *pem, size_t len)
{
	struct yx_jwt_key *k;
	EVP_PKEY *pkey;
	bool has_private = false;
	size_t kidlen;

	if (ks == NULL || kid == NULL || pem == NULL || len == 0 || len > YX_JWT_MAX_PEM)
		return -1;
	if (ks->n >= YX_JWT_MAX_KEYS)
		return -1;
	kidlen = strnlen(kid, YX_JWT_KID_MAX);
	if (!jwt_kid_ok(kid, kidlen) || jwt_key_find(ks, kid, kidlen) != NULL)
		return -1;
	if ((pkey = jwt_pem_load(pem, len, &has_private)) == NULL)
		return -1;

	k = &ks->keys[ks->n++];
	jwt_copy(k->kid, kid, kidlen);
	k->pkey = pkey;
	k->has_private = has_private;
	return 0;
}

int
yx_jwt_keyset_add_pem_file(struct yx_jwt_keyset *ks, const char *kid, const char *path)
{
	FILE *fp;
	char *buf;
	size_t len;
	int rc = -1;

	if (ks == NULL || kid == NULL || path == NULL)
		return -1;
	if ((buf = malloc(YX_JWT_MAX_PEM + 1)) == NULL)
		return -1;
	if ((fp = fopen(path, "rb")) == NULL)
		goto out;
	len = fread(buf, 1, YX_JWT_MAX_PEM + 1, fp);
	if (!ferror(fp) && len > 0 && len <= YX_JWT_MAX_PEM)
		rc = yx_jwt_keyset_add_pem(ks, kid, buf, len);
	fclose(fp);
out:
	OPENSSL_cleanse(buf, YX_JWT_MAX_PEM + 1);
	free(buf);
	return rc;
}

/* Drop the keys from index n on. */
static void
jwt_keyset_truncate(struct yx_jwt_keyset *ks, size_t n)
{
	while (ks->n > n) {
		ks->n--;
		EVP_PKEY_free(ks->keys[ks->n].pkey);
		OPENSSL_cleanse(&ks->keys[ks->n], sizeof(ks->keys[ks->n]));
	}
}

int
yx_jwt_keyset_from_spec(struct yx_jwt_keyset *ks, const char *spec)
{
	char kid[YX_JWT_KID_MAX], path[4096];
	const char *p, *end, *eq, *a, *b;
	size_t start, klen, plen;

	if (ks == NULL || spec == NULL)
		return -1;
	start = ks->n;
	p = spec;
	do {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
			goto fail;

		for (a = p; a < eq && (*a == ' ' || *a == '\t'); a++)
			;
		for (b = eq; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
			;
		klen = (size_t)(b - a);
		if (klen == 0 || klen >= sizeof(kid))
			goto fail;
		jwt_copy(kid, a, klen);

		for (a = eq + 1; a < end && (*a == ' ' || *a == '\t'); a++)
			;
		for (b = end; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
			;
		plen = (size_t)(b - a);
		if (plen == 0 || plen >= sizeof(path))
			goto fail;
		jwt_copy(path, a, plen);

		if (yx_jwt_keyset_add_pem_file(ks, kid, path) == -1)
			goto fail;
		p = end + 1;
	} while (*end != '\0');
	return 0;
fail:
	jwt_keyset_truncate(ks, start);
	return -1;
}

void
yx_jwt_keyset_free(struct yx_jwt_keyset *ks)
{
	if (ks == NULL)
		return;
	jwt_keyset_truncate(ks, 0);
	OPENSSL_cleanse(ks, sizeof(*ks));
}

/* --- signing ------------------------------------------------------------------ */

/* The claims are ones yx_jwt_verify() would read back unchanged. */
static bool
jwt_claims_signable(const struct yx_jwt_claims *c)
{
#define FIELD_OK(f, check) check(c->f, strnlen(c->f, sizeof(c->f)), sizeof(c->f))
	if (!FIELD_OK(sub, jwt_id_ok) || !FIELD_OK(sid, jwt_id_ok))
		return false;
	if (c->org[0] != '\0' && !FIELD_OK(org, jwt_id_ok))
		return false;
	if (!FIELD_OK(jti, jwt_text_ok) || !FIELD_OK(iss, jwt_text_ok) ||
	    !FIELD_OK(aud, jwt_text_ok) || !FIELD_OK(typ, jwt_text_ok))
		return false;
#undef FIELD_OK
	if (!jwt_roles_csv_ok(c->roles))
		return false;
	if (!jwt_time_ok(c->iat) || !jwt_time_ok(c->exp) || c->exp <= c->iat)
		return false;
	if (c->nbf != 0 && !jwt_time_ok(c->nbf))
		return false;
	return true;
}

static char *
jwt_header_json(const char *kid, size_t *len)
{
	struct yx_jw jw;

	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_kv_str(&jw, "alg", JWT_ALG);
	yx_jw_kv_str(&jw, "typ", JWT_HEADER_TYP);
	yx_jw_kv_str(&jw, "kid", kid);
	yx_jw_obj_close(&jw);
	return yx_jw_finish(&jw, len);
}

static char *
jwt_payload_json(const struct yx_jwt_claims *c, size_t *len)
{
	struct yx_jw jw;
	const char *p, *end;

	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_kv_str(&jw, "iss", c->iss);
	yx_jw_kv_str(&jw, "sub", c->sub);
	yx_jw_kv_str(&jw, "aud", c->aud);
	yx_jw_kv_str(&jw, "sid", c->sid);
	yx_jw_kv_str(&jw, "typ", c->typ);
	yx_jw_key(&jw, "roles");
	yx_jw_arr_open(&jw);
	for (p = c->roles; *p != '\0'; p = (*end == ',') ? end + 1 : end) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		yx_jw_strn(&jw, p, (size_t)(end - p));
	}
	yx_jw_arr_close(&jw);
	if (c->org[0] != '\0')
		yx_jw_kv_str(&jw, "org", c->org);
	yx_jw_kv_int(&jw, "iat", c->iat);
	if (c->nbf != 0)
		yx_jw_kv_int(&jw, "nbf", c->nbf);
	yx_jw_kv_int(&jw, "exp", c->exp);
	yx_jw_kv_str(&jw, "jti", c->jti);
	yx_jw_obj_close(&jw);
	return yx_jw_finish(&jw, len);
}

/* Append base64url(in) at buf + *off, keeping the NUL. */
static int
jwt_b64_append(char *buf, size_t cap, size_t *off, const unsigned char *in, size_t n)
{
	if (*off >= cap || yx_b64url_encode(in, n, buf + *off, cap - *off) == -1)
		return -1;
	*off += yx_b64url_encoded_len(n);
	return 0;
}

int
yx_jwt_sign(const struct yx_jwt_keyset *ks, const char *kid, const struct yx_jwt_claims *claims,
            char **token_out)
{
	const struct yx_jwt_key *key;
	EVP_MD_CTX *md = NULL;
	char *header = NULL, *payload = NULL, *tok = NULL;
	unsigned char sig[JWT_SIG_LEN];
	size_t hlen = 0, plen = 0, off = 0, siglen = sizeof(sig);
	int rc = -1;

	if (token_out == NULL)
		return -1;
	*token_out = NULL;
	if (ks == NULL || kid == NULL || claims == NULL)
		return -1;
	if ((key = jwt_key_find(ks, kid, strnlen(kid, YX_JWT_KID_MAX))) == NULL ||
	    !key->has_private)
		return -1;
	if (!jwt_claims_signable(claims))
		return -1;

	if ((header = jwt_header_json(key->kid, &hlen)) == NULL)
		goto out;
	if ((payload = jwt_payload_json(claims, &plen)) == NULL)
		goto out;
	if ((tok = malloc(YX_JWT_MAX_TOKEN + 1)) == NULL)
		goto out;
	if (jwt_b64_append(tok, YX_JWT_MAX_TOKEN + 1, &off, (unsigned char *)header, hlen) == -1)
		goto out;
	tok[off++] = '.';
	if (jwt_b64_append(tok, YX_JWT_MAX_TOKEN + 1, &off, (unsigned char *)payload, plen) == -1)
		goto out;
	if (off + 1 + JWT_SIG_B64_LEN > YX_JWT_MAX_TOKEN)
		goto out;

	if ((md = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, key->pkey, NULL) != 1)
		goto out;
	if (EVP_DigestSign(md, sig, &siglen, (unsigned char *)tok, off) != 1 ||
	    siglen != sizeof(sig))
		goto out;
	tok[off++] = '.';
	if (jwt_b64_append(tok, YX_JWT_MAX_TOKEN + 1, &off, sig, sizeof(sig)) == -1)
		goto out;
	*token_out = tok;
	tok = NULL;
	rc = 0;
out:
	if (rc == -1)
		ERR_clear_error();
	EVP_MD_CTX_free(md);
	free(tok);
	free(payload);
	free(header);
	return rc;
}

/* --- verification ------------------------------------------------------------- */

/*
 * Decode and check the protected header. The algorithm is decided here, from
 * nothing but the string "EdDSA"; the key is looked up only after that.
 */
static enum yx_jwt_result
jwt_check_header(const struct yx_jwt_keyset *ks, const char *b64, size_t len,
                 const struct yx_jwt_key **key)
{
	static const struct yx_json_limits lim = {JWT_HEADER_MAX, 2, 32, 256};
	char buf[JWT_HEADER_MAX];
	struct yx_json_doc *doc = NULL;
	const struct yx_json *root, *m, *alg = NULL, *typ = NULL, *kid = NULL;
	const char *kids;
	size_t hlen = 0, kidlen;
	bool other = false;
	enum yx_jwt_result r = YX_JWT_MALFORMED;

	if (len == 0 || len > yx_b64url_encoded_len(sizeof(buf)))
		return YX_JWT_MALFORMED;
	if (yx_b64url_decode(b64, len, (unsigned char *)buf, sizeof(buf), &hlen) == -1)
		return YX_JWT_MALFORMED;
	if (yx_json_parse(buf, hlen, &lim, &doc, NULL, NULL) == -1)
		return YX_JWT_MALFORMED;
	root = yx_json_root(doc);
	if (!yx_json_is_object(root))
		goto out;
	for (m = root->child; m != NULL; m = m->next) {
		if (strcmp(m->key, "alg") == 0)
			alg = m;
		else if (strcmp(m->key, "typ") == 0)
			typ = m;
		else if (strcmp(m->key, "kid") == 0)
			kid = m;
		else
			other = true;
	}
	if (!jwt_str_eq(alg, JWT_ALG)) {
		r = YX_JWT_BAD_ALG;
		goto out;
	}
	if (!jwt_str_eq(typ, JWT_HEADER_TYP)) {
		r = YX_JWT_BAD_TYP;
		goto out;
	}
	/* crit, jku, jwk, x5u, x5c, b64, zip ...: nothing else is understood */
	if (other)
		goto out;
	if (!yx_json_string(kid, &kids, &kidlen) || !jwt_kid_ok(kids, kidlen))
		goto out;
	if ((*key = jwt_key_find(ks, kids, kidlen)) == NULL) {
		r = YX_JWT_UNKNOWN_KID;
		goto out;
	}
	r = YX_JWT_OK;
out:
	yx_json_free(doc);
	return r;
}

/* The signature part is 64 bytes that verify over signed_part under key. */
static bool
jwt_sig_ok(const struct yx_jwt_key *key, const char *signed_part, size_t signed_len,
           const char *b64sig, size_t b64len)
{
	unsigned char sig[JWT_SIG_LEN];
	EVP_MD_CTX *md;
	size_t siglen = 0;
	bool ok = false;

	if (b64len != JWT_SIG_B64_LEN)
		return false;
	if (yx_b64url_decode(b64sig, b64len, sig, sizeof(sig), &siglen) == -1 ||
	    siglen != sizeof(sig))
		return false;
	if ((md = EVP_MD_CTX_new()) == NULL)
		return false;
	if (EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, key->pkey, NULL) == 1 &&
	    EVP_DigestVerify(md, sig, sizeof(sig), (const unsigned char *)signed_part,
	                     signed_len) == 1)
		ok = true;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

/*
 * Copy the string claim name into dst (cap bytes) if it passes check;
 * absent is fine unless required.
 */
#define JWT_STR_CLAIM(root, name, dst, check, required)                                            \
	do {                                                                                       \
		const struct yx_json *v_ = yx_json_get((root), (name));                            \
		const char *s_;                                                                    \
		size_t l_;                                                                         \
		if (v_ == NULL) {                                                                  \
			if (required)                                                              \
				return YX_JWT_BAD_CLAIMS;                                          \
			break;                                                                     \
		}                                                                                  \
		if (!yx_json_string(v_, &s_, &l_) || !check(s_, l_, sizeof(dst)))                  \
			return YX_JWT_BAD_CLAIMS;                                                  \
		jwt_copy((dst), s_, l_);                                                           \
	} while (0)

/*
 * Read and check the claims of a token whose signature has been verified.
 */
static enum yx_jwt_result
jwt_read_claims(const struct yx_json *root, const struct yx_jwt_expect *expect,
                struct yx_jwt_claims *c)
{
	const struct yx_json *v, *e;
	const char *s;
	size_t len, off = 0;
	bool has_nbf = false, aud_ok = false;

	if (!yx_json_is_object(root))
		return YX_JWT_MALFORMED;

	JWT_STR_CLAIM(root, "sub", c->sub, jwt_id_ok, true);
	JWT_STR_CLAIM(root, "sid", c->sid, jwt_id_ok, true);
	JWT_STR_CLAIM(root, "org", c->org, jwt_id_ok, false);
	JWT_STR_CLAIM(root, "jti", c->jti, jwt_text_ok, false);

	v = yx_json_get(root, "roles");
	if (!yx_json_is_array(v))
		return YX_JWT_BAD_CLAIMS;
	for (e = v->child; e != NULL; e = e->next) {
		if (!yx_json_string(e, &s, &len) || !jwt_role_ok(s, len))
			return YX_JWT_BAD_CLAIMS;
		if (off + (off > 0) + len >= sizeof(c->roles))
			return YX_JWT_BAD_CLAIMS;
		if (off > 0)
			c->roles[off++] = ',';
		jwt_copy(c->roles + off, s, len);
		off += len;
	}

	if (!yx_json_int64(yx_json_get(root, "iat"), &c->iat) || !jwt_time_ok(c->iat))
		return YX_JWT_BAD_CLAIMS;
	if (!yx_json_int64(yx_json_get(root, "exp"), &c->exp) || !jwt_time_ok(c->exp))
		return YX_JWT_BAD_CLAIMS;
	if ((v = yx_json_get(root, "nbf")) != NULL) {
		if (!yx_json_int64(v, &c->nbf) || !jwt_time_ok(c->nbf))
			return YX_JWT_BAD_CLAIMS;
		has_nbf = true;
	}

	if (!jwt_str_eq(yx_json_get(root, "iss"), expect->iss))
		return YX_JWT_BAD_ISSUER;
	jwt_copy(c->iss, expect->iss, strlen(expect->iss));

	v = yx_json_get(root, "aud");
	if (yx_json_is_array(v)) {
		for (e = v->child; e != NULL; e = e->next) {
			if (!yx_json_is_string(e))
				return YX_JWT_BAD_CLAIMS;
			if (jwt_str_eq(e, expect->aud))
				aud_ok = true;
		}
	} else {
		aud_ok = jwt_str_eq(v, expect->aud);
	}
	if (!aud_ok)
		return YX_JWT_BAD_AUDIENCE;
	jwt_copy(c->aud, expect->aud, strlen(expect->aud));

	if (!jwt_str_eq(yx_json_get(root, "typ"), expect->typ))
		return YX_JWT_BAD_TYP;
	jwt_copy(c->typ, expect->typ, strlen(expect->typ));

	return jwt_check_times(c, has_nbf, expect);
}

#undef JWT_STR_CLAIM

/*
 * Times are within [0, YX_JWT_MAX_TIME] and leeway within [0,
 * YX_JWT_MAX_LEEWAY], so none of the sums below can overflow.
 */
static enum yx_jwt_result
jwt_check_times(const struct yx_jwt_claims *c, bool has_nbf, const struct yx_jwt_expect *expect)
{
	if (expect->now >= c->exp + expect->leeway)
		return YX_JWT_EXPIRED;
	if (has_nbf && c->nbf > expect->now + expect->leeway)
		return YX_JWT_NOT_YET_VALID;
	if (c->iat > expect->now + expect->leeway)
		return YX_JWT_NOT_YET_VALID;
	if (c->exp <= c->iat)
		return YX_JWT_BAD_CLAIMS;
	if (expect->max_lifetime > 0 && c->exp - c->iat > expect->max_lifetime)
		return YX_JWT_BAD_CLAIMS;
	return YX_JWT_OK;
}

enum yx_jwt_result
yx_jwt_verify(const struct yx_jwt_keyset *ks, const char *token, size_t len,
              const struct yx_jwt_expect *expect, struct yx_jwt_claims *out)
{
	static const struct yx_json_limits lim = {JWT_PAYLOAD_MAX, 4, 256, 1024};
	struct yx_jwt_claims c;
	const struct yx_jwt_key *key = NULL;
	struct yx_json_doc *doc = NULL;
	char *payload = NULL;
	const char *dot1 = NULL, *dot2 = NULL, *p, *s;
	size_t i, plen = 0;
	enum yx_jwt_result r;

	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));

	if (expect == NULL || expect->iss == NULL || expect->aud == NULL || expect->typ == NULL ||
	    strlen(expect->iss) >= sizeof(c.iss) || strlen(expect->aud) >= sizeof(c.aud) ||
	    strlen(expect->typ) >= sizeof(c.typ) || !jwt_time_ok(expect->now) ||
	    expect->leeway < 0 || expect->leeway > YX_JWT_MAX_LEEWAY || expect->max_lifetime < 0)
		return YX_JWT_BAD_CLAIMS;
	if (ks == NULL || token == NULL || len == 0 || len > YX_JWT_MAX_TOKEN)
		return YX_JWT_MALFORMED;

	/* exactly three non-empty parts of base64url characters */
	for (i = 0; i < len; i++) {
		char ch = token[i];

		if (ch == '.') {
			if (dot1 == NULL)
				dot1 = token + i;
			else if (dot2 == NULL)
				dot2 = token + i;
			else
				return YX_JWT_MALFORMED;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
			return YX_JWT_MALFORMED;
		}
	}
	if (dot1 == NULL || dot2 == NULL || dot1 == token || dot2 == dot1 + 1)
		return YX_JWT_MALFORMED;

	if ((r = jwt_check_header(ks, token, (size_t)(dot1 - token), &key)) != YX_JWT_OK)
		return r;

	s = dot2 + 1;
	if (!jwt_sig_ok(key, token, (size_t)(dot2 - token), s, len - (size_t)(s - token)))
		return YX_JWT_BAD_SIGNATURE;

	p = dot1 + 1;
	if ((payload = malloc(JWT_PAYLOAD_MAX)) == NULL)
		return YX_JWT_MALFORMED;
	if (yx_b64url_decode(p, (size_t)(dot2 - p), (unsigned char *)payload, JWT_PAYLOAD_MAX,
	                     &plen) == -1 ||
	    yx_json_parse(payload, plen, &lim, &doc, NULL, NULL) == -1) {
		r = YX_JWT_MALFORMED;
		goto out;
	}
	if ((r = jwt_read_claims(yx_json_root(doc), expect, &c)) != YX_JWT_OK)
		goto out;
	if (out != NULL)
		*out = c;
out:
	yx_json_free(doc);
	free(payload);
	return r;
}

const char *
yx_jwt_result_str(enum yx_jwt_result r)
{
	switch (r) {
	case YX_JWT_OK:
		return "ok";
	case YX_JWT_MALFORMED:
		return "malformed";
	case YX_JWT_BAD_ALG:
		return "bad_alg";
	case YX_JWT_BAD_TYP:
		return "bad_typ";
	case YX_JWT_UNKNOWN_KID:
		return "unknown_kid";
	case YX_JWT_BAD_SIGNATURE:
		return "bad_signature";
	case YX_JWT_EXPIRED:
		return "expired";
	case YX_JWT_NOT_YET_VALID:
		return "not_yet_valid";
	case YX_JWT_BAD_ISSUER:
		return "bad_issuer";
	case YX_JWT_BAD_AUDIENCE:
		return "bad_audience";
	case YX_JWT_BAD_CLAIMS:
		return "bad_claims";
	}
	return "unknown";
}

/* --- JWKS ------------------------------------------------------------------- */

char *
yx_jwt_jwks_json(const struct yx_jwt_keyset *ks)
{
	struct yx_jw jw;
	unsigned char raw[JWT_ED25519_LEN];
	char x[64];
	size_t i, rawlen;

	if (ks == NULL)
		return NULL;
	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_key(&jw, "keys");
	yx_jw_arr_open(&jw);
	for (i = 0; i < ks->n; i++) {
		rawlen = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(ks->keys[i].pkey, raw, &rawlen) != 1 ||
		    rawlen != sizeof(raw) || yx_b64url_encode(raw, rawlen, x, sizeof(x)) == -1) {
			ERR_clear_error();
			yx_jw_free(&jw);
			return NULL;
		}
		yx_jw_obj_open(&jw);
		yx_jw_kv_str(&jw, "kty", "OKP");
		yx_jw_kv_str(&jw, "crv", "Ed25519");
		yx_jw_kv_str(&jw, "x", x);
		yx_jw_kv_str(&jw, "kid", ks->keys[i].kid);
		yx_jw_kv_str(&jw, "alg", JWT_ALG);
		yx_jw_kv_str(&jw, "use", "sig");
		yx_jw_obj_close(&jw);
	}
	yx_jw_arr_close(&jw);
	yx_jw_obj_close(&jw);
	return yx_jw_finish(&jw, NULL);
}
