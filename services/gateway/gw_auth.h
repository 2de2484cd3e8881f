/*
 * gw_auth.h - authentication of the callers of the public API: the access
 * JWT of the Authorization header is verified (EdDSA only; iss, aud, typ,
 * exp, nbf checked; keys by kid from configuration), its session is checked
 * against the revocation markers identity writes to Redis, and the caller's
 * identity is what the gateway signs and forwards (DESIGN.md,
 * "Authentication path").
 *
 *   YX_JWT_PUBLIC_KEYS        kid=path,... of the Ed25519 public keys (unset:
 *                             every token is refused, public routes still work)
 *   YX_JWT_ISSUER             expected iss (yuexiang-identity)
 *   YX_JWT_AUDIENCE           expected aud (yuexiang-app)
 *   YX_JWT_LEEWAY_SECONDS     clock skew allowed on exp/nbf/iat (0)
 *   YX_JWT_CACHE_ENTRIES      verified tokens remembered per worker (4096; 0 off)
 *   YX_REVOCATION_CACHE_MS    how long a worker trusts a revocation answer (500; 0 off)
 *
 * Redis down: a token that verifies but whose session cannot be checked is
 * refused with 503 (fail closed), unless the worker checked that session
 * within YX_REVOCATION_CACHE_MS.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "gw_cache.h"
#include "yx_idhdr.h"

/* Parent process: keys and expectations. 0, or -1 with a message on stderr. */
int gw_auth_configure(void);

/* Worker: the token and revocation caches. 0, or -1 when out of memory. */
int gw_auth_worker_init(void);

/*
 * The bearer token of one request on its way through gw_auth: what
 * gw_auth_peek found, then what gw_auth_identify_or_reply made of it.
 */
struct gw_auth {
	int bearer; /* gw_bearer_token(): 1 a token, 0 none, -1 malformed */
	const char *tok;
	size_t len;
	uint8_t key[32]; /* SHA-256 of the token: its cache key */
	bool have_key;
	const struct gw_token_claims *claims; /* verified (cached) claims, or NULL */
};

/*
 * Read req's bearer token and look it up in this worker's cache of verified
 * tokens, without verifying anything: a->claims is set on a hit (still
 * unexpired). Cheap; lets the caller count the user's rate limit together
 * with the address's before paying for a signature check.
 */
void gw_auth_peek(struct http_request *req, struct gw_auth *a);

/*
 * The caller of req, from a (filled by gw_auth_peek; a token it did not find
 * in the cache is verified now). On a protected route (is_public false) a
 * valid token of a live session is required: id is filled and 1 returned;
 * otherwise the reply is sent (401 unauthorized / invalid_token with
 * WWW-Authenticate, or 503 when revocation cannot be checked) and -1
 * returned. On a public route a valid token of a live session still fills
 * id (1); anything less (no token, a bad one, Redis down) travels anonymous:
 * id empty, 0 (so an app holding an expired token can still refresh). *why
 * is the reason slug of a refused or ignored token (gw_auth_reason_name),
 * NULL otherwise; for the access log.
 */
int gw_auth_identify_or_reply(struct http_request *req, struct gw_auth *a, bool is_public,
                              struct yx_identity *id, const char **why);

#endif
