/*
 * gw_cache.c - the verified-token cache and the revocation-answer cache of
 * the authentication path (see gw_cache.h). Set-associative tables
 * allocated once per worker; nothing is allocated per request.
 */
#include <stdlib.h>
#include <string.h>

#include "gw_cache.h"

struct token_entry {
	uint8_t key[32];
	bool used;
	struct gw_token_claims claims;
};

struct gw_token_cache {
	size_t nsets; /* a power of two */
	struct token_entry *entries;
};

struct sid_entry {
	char sid[64];
	int64_t at_ms;
	bool used;
	bool revoked;
};

struct gw_sid_cache {
	size_t nsets;
	int64_t ttl_ms;
	struct sid_entry *entries;
};

/* Sets for about entries slots: a power of two, at least one. */
static size_t
sets_for(size_t entries)
{
	size_t n = 1;

	while (n * GW_CACHE_WAYS < entries && n < ((size_t)1 << 24))
		n <<= 1;
	return n;
}

struct gw_token_cache *
gw_token_cache_new(size_t entries)
{
	struct gw_token_cache *c;

	if (entries == 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->nsets = sets_for(entries);
	if ((c->entries = calloc(c->nsets * GW_CACHE_WAYS, sizeof(*c->entries))) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
gw_token_cache_free(struct gw_token_cache *c)
{
	if (c == NULL)
		return;
	free(c->entries);
	free(c);
}

/* The first slot of key's set: the key is a digest, so any 8 bytes are uniform. */
static struct token_entry *
token_set(struct gw_token_cache *c, const uint8_t key[32])
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return &c->entries[(h & (c->nsets - 1)) * GW_CACHE_WAYS];
}

const struct gw_token_claims *
gw_token_cache_get(struct gw_token_cache *c, const uint8_t key[32], int64_t now, int64_t leeway)
{
	struct token_entry *set;
	size_t i;

	if (c == NULL)
		return NULL;
	set = token_set(c, key);
	for (i = 0; i < GW_CACHE_WAYS; i++) {
		if (!set[i].used || memcmp(set[i].key, key, 32) != 0)
			continue;
		if (now >= set[i].claims.exp + leeway) {
			set[i].used = false;
			return NULL;
		}
		return &set[i].claims;
	}
	return NULL;
}

void
gw_token_cache_put(struct gw_token_cache *c, const uint8_t key[32],
                   const struct gw_token_claims *claims)
{
	struct token_entry *set, *victim;
	size_t i;

	if (c == NULL)
		return;
	set = token_set(c, key);
	victim = &set[0];
	for (i = 0; i < GW_CACHE_WAYS; i++) {
		if (!set[i].used || !memcmp(set[i].key, key, 32)) {
			victim = &set[i];
			break;
		}
		if (set[i].claims.exp < victim->claims.exp)
			victim = &set[i];
	}
	memcpy(victim->key, key, 32);
	victim->claims = *claims;
	victim->used = true;
}

struct gw_sid_cache *
gw_sid_cache_new(size_t entries, int64_t ttl_ms)
{
	struct gw_sid_cache *c;

	if (entries == 0 || ttl_ms <= 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->nsets = sets_for(entries);
	c->ttl_ms = ttl_ms;
	if ((c->entries = calloc(c->nsets * GW_CACHE_WAYS, sizeof(*c->entries))) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
gw_sid_cache_free(struct gw_sid_cache *c)
{
	if (c == NULL)
		return;
	free(c->entries);
	free(c);
}

/* FNV-1a: session ids come from verified tokens, so nobody picks collisions. */
static struct sid_entry *
sid_set(struct gw_sid_cache *c, const char *sid)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *sid != '\0'; sid++) {
		h ^= (unsigned char)*sid;
		h *= 1099511628211ULL;
	}
	return &c->entries[(h & (c->nsets - 1)) * GW_CACHE_WAYS];
}

enum gw_revocation
gw_sid_cache_get(struct gw_sid_cache *c, const char *sid, int64_t now_ms)
{
	struct sid_entry *set;
	size_t i;

	if (c == NULL || strlen(sid) >= sizeof(set->sid))
		return GW_REVOCATION_UNKNOWN;
	set = sid_set(c, sid);
	for (i = 0; i < GW_CACHE_WAYS; i++) {
		if (!set[i].used || strcmp(set[i].sid, sid) != 0)
			continue;
		/* A clock that went backwards also invalidates the answer. */
		if (now_ms - set[i].at_ms >= c->ttl_ms || now_ms < set[i].at_ms) {
			set[i].used = false;
			return GW_REVOCATION_UNKNOWN;
		}
		return set[i].revoked ? GW_REVOCATION_REVOKED : GW_REVOCATION_LIVE;
	}
	return GW_REVOCATION_UNKNOWN;
}

void
gw_sid_cache_put(struct gw_sid_cache *c, const char *sid, bool revoked, int64_t now_ms)
{
	struct sid_entry *set, *victim;
	size_t i, n;

	if (c == NULL || (n = strlen(sid)) >= sizeof(set->sid))
		return;
	set = sid_set(c, sid);
	victim = &set[0];
	for (i = 0; i < GW_CACHE_WAYS; i++) {
		if (!set[i].used || !strcmp(set[i].sid, sid)) {
			victim = &set[i];
			break;
		}
		if (set[i].at_ms < victim->at_ms)
			victim = &set[i];
	}
	memcpy(victim->sid, sid, n + 1);
	victim->at_ms = now_ms;
	victim->revoked = revoked;
	victim->used = true;
}
