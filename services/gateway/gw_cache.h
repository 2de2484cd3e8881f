/*
 * gw_cache.h - the two per-worker caches of the authentication path, as
 * fixed-size tables with no I/O and no clock of their own (time is passed
 * in), unit-tested alone (tests/unit/test_gw_cache.c).
 *
 * Token cache: an Ed25519 verify costs about 74 us (PLATFORM.md), so a
 * token whose signature and claims were verified is remembered under the
 * SHA-256 of its exact bytes together with the claims the gateway forwards
 * and its expiry. A hit skips the signature and claim checks; the caller
 * still checks the expiry (gw_token_cache_get does) and the revocation.
 * Only verified tokens are stored, so a forged or altered token always
 * misses and is verified in full.
 *
 * Revocation cache: the answer of the revocation lookup of a session id
 * (revoked or not), kept for a short time so that a busy session costs one
 * Redis lookup per period and worker, not one per request. The period bounds
 * how long a revocation takes to reach every worker.
 */
#ifndef GW_CACHE_H
#define GW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_CACHE_WAYS 4

/* What the gateway forwards of a verified access token. */
struct gw_token_claims {
	char sub[64];
	char sid[64];
	char org[64];
	char roles[1024];
	int64_t exp; /* Unix seconds */
};

struct gw_token_cache;

/*
 * A table of about entries tokens (rounded up to a power of two, at least
 * GW_CACHE_WAYS), in sets of GW_CACHE_WAYS. NULL when out of memory or
 * entries is 0 (no cache). Free with gw_token_cache_free (NULL is fine).
 */
struct gw_token_cache *gw_token_cache_new(size_t entries);
void gw_token_cache_free(struct gw_token_cache *c);

/*
 * The claims stored under key (a SHA-256) if present and still valid at now
 * (now < exp + leeway), else NULL; an expired entry is dropped. The pointer
 * is into the table and valid until the next put. c may be NULL (miss).
 */
const struct gw_token_claims *gw_token_cache_get(struct gw_token_cache *c, const uint8_t key[32],
                                                 int64_t now, int64_t leeway);

/*
 * Store claims (copied) under key. In a full set the entry that expires
 * first is replaced. c may be NULL (nothing happens).
 */
void gw_token_cache_put(struct gw_token_cache *c, const uint8_t key[32],
                        const struct gw_token_claims *claims);

enum gw_revocation {
	GW_REVOCATION_UNKNOWN = -1, /* not cached, or cached too long ago */
	GW_REVOCATION_LIVE = 0,     /* not revoked when last looked up */
	GW_REVOCATION_REVOKED = 1
};

struct gw_sid_cache;

/*
 * A table of about entries session ids whose answers stay valid for ttl_ms.
 * NULL when out of memory, entries is 0 or ttl_ms <= 0 (no cache: every
 * lookup is UNKNOWN). Free with gw_sid_cache_free (NULL is fine).
 */
struct gw_sid_cache *gw_sid_cache_new(size_t entries, int64_t ttl_ms);
void gw_sid_cache_free(struct gw_sid_cache *c);

/* The answer cached for sid if it was stored less than ttl_ms before now_ms. */
enum gw_revocation gw_sid_cache_get(struct gw_sid_cache *c, const char *sid, int64_t now_ms);

/* Remember the answer for sid (at most 63 bytes; longer ones are not cached). */
void gw_sid_cache_put(struct gw_sid_cache *c, const char *sid, bool revoked, int64_t now_ms);

#endif
