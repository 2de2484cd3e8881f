/*
 * gw_auth.c - the gateway's authentication path (see gw_auth.h): bearer
 * token -> verified claims (through the per-worker token cache) -> session
 * revocation (through the per-worker revocation cache and Redis) -> the
 * identity the proxy signs and forwards, or the 401/503 reply.
 *
 * Owns the public keyset (loaded in the parent, read-only afterwards) and
 * each worker's two caches.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "gw_auth.h"
#include "gw_cache.h"
#include "gw_metrics.h"
#include "gw_policy.h"
#include "yx_config.h"
#include "yx_http.h"
#include "yx_jwt.h"
#include "yx_log.h"
#include "yx_redis.h"
#include "yx_service.h"

/* DESIGN.md: access tokens live at most 15 minutes. */
#define GW_TOKEN_MAX_LIFETIME 900

#define REVOKED_KEY_PREFIX "pub:session:revoked:"

static struct yx_jwt_keyset keyset;
static char issuer[128];
static char audience[128];
static int64_t leeway;
static size_t token_cache_entries;
static int64_t revocation_ttl_ms;
static EVP_MD *sha256;

/* Per worker. */
static struct gw_token_cache *tokens;
static struct gw_sid_cache *sids;
static bool revocation_failing; /* last Redis lookup failed: log changes only */

static int copy_setting(const char *name, const char *def, char *dst, size_t cap);
static const struct gw_token_claims *token_verify(struct gw_auth *a, enum gw_auth_reason *why);
static enum gw_revocation revocation(const char *sid, const char *rid);
static int identity_set(struct yx_req *r, const struct gw_token_claims *c, struct yx_identity *id);
static int reply_unauthorized(struct http_request *req, enum gw_auth_reason why);
static int reply_unavailable(struct http_request *req);

static int
copy_setting(const char *name, const char *def, char *dst, size_t cap)
{
	const char *v = yx_config_str(name, def);

	if (strlen(v) >= cap) {
		fprintf(stderr, "%s: longer than %zu bytes\n", name, cap - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int
gw_auth_configure(void)
{
	const char *spec;
	long long v;
	size_t i;

	spec = yx_config_str("YX_JWT_PUBLIC_KEYS", NULL);
	if (spec == NULL) {
		yx_log(YX_LOG_WARN, NULL, "config",
		       "YX_JWT_PUBLIC_KEYS is not set: every access token is refused");
	} else if (yx_jwt_keyset_from_spec(&keyset, spec) == -1) {
		fprintf(stderr, "YX_JWT_PUBLIC_KEYS: expected kid=path of Ed25519 public keys\n");
		return -1;
	}
	for (i = 0; i < keyset.n; i++) {
		if (keyset.keys[i].has_private) {
			fprintf(stderr,
			        "YX_JWT_PUBLIC_KEYS: key %s is a private key; the gateway "
			        "only verifies and must not hold it\n",
			        keyset.keys[i].kid);
			return -1;
		}
	}
	if (copy_setting("YX_JWT_ISSUER", "yuexiang-identity", issuer, sizeof(issuer)) == -1 ||
	    copy_setting("YX_JWT_AUDIENCE", "yuexiang-app", audience, sizeof(audience)) == -1)
		return -1;
	if (yx_config_int("YX_JWT_LEEWAY_SECONDS", 0, 0, 300, &v) == -1)
		return -1;
	leeway = v;
	if (yx_config_int("YX_JWT_CACHE_ENTRIES", 4096, 0, 1 << 20, &v) == -1)
		return -1;
	token_cache_entries = (size_t)v;
	if (yx_config_int("YX_REVOCATION_CACHE_MS", 500, 0, 10000, &v) == -1)
		return -1;
	revocation_ttl_ms = v;
	/* Fetched once here: the workers' sandbox has no business loading providers. */
	if ((sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		fprintf(stderr, "gateway: SHA-256 is not available\n");
		return -1;
	}
	return 0;
}

int
gw_auth_worker_init(void)
{
	tokens = gw_token_cache_new(token_cache_entries);
	sids = gw_sid_cache_new(4096, revocation_ttl_ms);
	if ((token_cache_entries > 0 && tokens == NULL) || (revocation_ttl_ms > 0 && sids == NULL))
		return -1;
	return 0;
}

static enum gw_auth_reason
reason_of(enum yx_jwt_result r)
{
	switch (r) {
	case YX_JWT_BAD_ALG:
		return GW_AUTH_BAD_ALG;
	case YX_JWT_BAD_TYP:
		return GW_AUTH_BAD_TYP;
	case YX_JWT_UNKNOWN_KID:
		return GW_AUTH_UNKNOWN_KID;
	case YX_JWT_BAD_SIGNATURE:
		return GW_AUTH_BAD_SIGNATURE;
	case YX_JWT_EXPIRED:
		return GW_AUTH_EXPIRED;
	case YX_JWT_NOT_YET_VALID:
		return GW_AUTH_NOT_YET_VALID;
	case YX_JWT_BAD_ISSUER:
		return GW_AUTH_BAD_ISSUER;
	case YX_JWT_BAD_AUDIENCE:
		return GW_AUTH_BAD_AUDIENCE;
	case YX_JWT_BAD_CLAIMS:
		return GW_AUTH_BAD_CLAIMS;
	default:
		return GW_AUTH_MALFORMED;
	}
}

void
gw_auth_peek(struct http_request *req, struct gw_auth *a)
{
	const char *hdr;
	unsigned int klen = 0;

	memset(a, 0, sizeof(*a));
	if (!http_request_header(req, "authorization", &hdr))
		hdr = NULL;
	if ((a->bearer = gw_bearer_token(hdr, YX_JWT_MAX_TOKEN, &a->tok, &a->len)) != 1)
		return;
	a->have_key =
	    EVP_Digest(a->tok, a->len, a->key, &klen, sha256, NULL) == 1 && klen == sizeof(a->key);
	if (a->have_key)
		a->claims = gw_token_cache_get(tokens, a->key, yx_now(), leeway);
	gw_metrics_token_cache(a->claims != NULL);
}

/*
 * Verify a token gw_auth_peek did not find in the cache, and remember it
 * when it verifies. The claims, or NULL with *why set.
 */
static const struct gw_token_claims *
token_verify(struct gw_auth *a, enum gw_auth_reason *why)
{
	static struct gw_token_claims fresh;
	struct yx_jwt_expect expect;
	struct yx_jwt_claims c;
	enum yx_jwt_result r;

	expect.iss = issuer;
	expect.aud = audience;
	expect.typ = "access";
	expect.now = yx_now();
	expect.leeway = leeway;
	expect.max_lifetime = GW_TOKEN_MAX_LIFETIME;
	if ((r = yx_jwt_verify(&keyset, a->tok, a->len, &expect, &c)) != YX_JWT_OK) {
		*why = reason_of(r);
		return NULL;
	}
	memset(&fresh, 0, sizeof(fresh));
	memcpy(fresh.sub, c.sub, sizeof(fresh.sub));
	memcpy(fresh.sid, c.sid, sizeof(fresh.sid));
	memcpy(fresh.org, c.org, sizeof(fresh.org));
	memcpy(fresh.roles, c.roles, sizeof(fresh.roles));
	fresh.exp = c.exp;
	if (a->have_key)
		gw_token_cache_put(tokens, a->key, &fresh);
	return &fresh;
}

/*
 * Whether session sid is revoked: identity sets pub:session:revoked:<sid>
 * on logout and on revocation, for at least an access token's lifetime.
 * UNKNOWN when Redis cannot answer.
 */
static enum gw_revocation
revocation(const char *sid, const char *rid)
{
	enum gw_revocation v;
	char key[sizeof(REVOKED_KEY_PREFIX) + 64];
	redisReply *rep;
	int64_t now_ms = (int64_t)kore_time_ms();

	if ((v = gw_sid_cache_get(sids, sid, now_ms)) != GW_REVOCATION_UNKNOWN)
		return v;
	if (yx_app.redis == NULL)
		return GW_REVOCATION_UNKNOWN;
	snprintf(key, sizeof(key), REVOKED_KEY_PREFIX "%s", sid);
	rep = yx_redis_command(yx_app.redis, "EXISTS %s", key);
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
		if (!revocation_failing)
			yx_log(YX_LOG_WARN, rid, "revocation_unavailable",
			       "cannot check sessions in Redis: %s",
			       rep == NULL ? yx_redis_last_error(yx_app.redis)
			                   : "unexpected reply");
		revocation_failing = true;
		if (rep != NULL)
			freeReplyObject(rep);
		return GW_REVOCATION_UNKNOWN;
	}
	if (revocation_failing)
		yx_log(YX_LOG_INFO, rid, "revocation_available", "session checks answer again");
	revocation_failing = false;
	v = rep->integer > 0 ? GW_REVOCATION_REVOKED : GW_REVOCATION_LIVE;
	freeReplyObject(rep);
	gw_sid_cache_put(sids, sid, v == GW_REVOCATION_REVOKED, now_ms);
	return v;
}

/* The forwarded identity of verified claims, also kept for the access log. */
static int
identity_set(struct yx_req *r, const struct gw_token_claims *c, struct yx_identity *id)
{
	memcpy(id->user, c->sub, sizeof(id->user));
	memcpy(id->roles, c->roles, sizeof(id->roles));
	memcpy(id->org, c->org, sizeof(id->org));
	memcpy(id->session, c->sid, sizeof(id->session));
	/* yx_http.c writes the user of an identity_ok request into the access log. */
	r->id = *id;
	r->identity_ok = true;
	return 1;
}

/* 401 with the RFC 6750 challenge: no error code when no token was sent. */
static int
reply_unauthorized(struct http_request *req, enum gw_auth_reason why)
{
	const char *detail = NULL, *desc = "The access token is invalid";
	char challenge[160];

	gw_metrics_auth_failure(why);
	if (why == GW_AUTH_MISSING) {
		http_response_header(req, "www-authenticate", "Bearer realm=\"yuexiang\"");
		return yx_reply_problem(req, "unauthorized", NULL);
	}
	if (why == GW_AUTH_EXPIRED) {
		detail = "登录凭证已过期，请刷新后重试";
		desc = "The access token expired";
	} else if (why == GW_AUTH_REVOKED) {
		detail = "该登录已退出，请重新登录";
		desc = "The session was signed out";
	}
	snprintf(challenge, sizeof(challenge),
	         "Bearer realm=\"yuexiang\", error=\"invalid_token\", error_description=\"%s\"",
	         desc);
	http_response_header(req, "www-authenticate", challenge);
	return yx_reply_problem(req, "invalid_token", detail);
}

/* Revocation cannot be checked: refuse for now, the client may retry. */
static int
reply_unavailable(struct http_request *req)
{
	gw_metrics_auth_failure(GW_AUTH_REVOCATION_UNAVAILABLE);
	http_response_header(req, "retry-after", "1");
	return yx_reply_problem(req, "service_unavailable", "暂时无法验证登录状态，请稍后重试");
}

int
gw_auth_identify_or_reply(struct http_request *req, struct gw_auth *a, bool is_public,
                          struct yx_identity *id, const char **why_out)
{
	struct yx_req *r = yx_req(req);
	const struct gw_token_claims *c = NULL;
	enum gw_auth_reason why = GW_AUTH_MISSING;
	enum gw_revocation rev;

	memset(id, 0, sizeof(*id));
	*why_out = NULL;
	if (a->bearer == 1)
		c = a->claims != NULL ? a->claims : token_verify(a, &why);
	else if (a->bearer == -1)
		why = GW_AUTH_MALFORMED;
	if (c != NULL) {
		rev = revocation(c->sid, r->request_id);
		if (rev == GW_REVOCATION_LIVE)
			return identity_set(r, c, id);
		why =
		    rev == GW_REVOCATION_REVOKED ? GW_AUTH_REVOKED : GW_AUTH_REVOCATION_UNAVAILABLE;
	}
	/* A public route does not need the caller: anything less is anonymous. */
	if (is_public) {
		if (why != GW_AUTH_MISSING)
			*why_out = gw_auth_reason_name(why);
		return 0;
	}
	*why_out = gw_auth_reason_name(why);
	if (why == GW_AUTH_REVOCATION_UNAVAILABLE)
		reply_unavailable(req);
	else
		reply_unauthorized(req, why);
	return -1;
}
