/*
 * gw_policy.h - the gateway's access rules as pure functions: which routes
 * are public, the route class of a request (for rate limits, metrics and
 * logs), the bearer token of an Authorization header, the subject a client
 * address is limited under, and the CORS origin list. Knows nothing of
 * Kore, Redis or sockets, so it is unit-tested alone
 * (tests/unit/test_gw_policy.c).
 */
#ifndef GW_POLICY_H
#define GW_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Route classes. auth: the public credential routes (sms-code, login,
 * refresh), limited hardest and failing closed without Redis; read: GET,
 * HEAD and OPTIONS; write: POST, PUT, PATCH, DELETE; ops: the gateway's own
 * /healthz, /readyz and /metrics; none: a request that matched no route.
 */
enum gw_class {
	GW_CLASS_AUTH,
	GW_CLASS_READ,
	GW_CLASS_WRITE,
	GW_CLASS_OPS,
	GW_CLASS_NONE,
	GW_CLASS_N
};

/*
 * "auth", "read", "write", "ops", "none"; a static string. Inline, so code
 * that only names classes (gw_metrics.c) does not need this file's object.
 */
static inline const char *
gw_class_name(enum gw_class c)
{
	static const char *const names[GW_CLASS_N] = {"auth", "read", "write", "ops", "none"};

	return (unsigned)c < GW_CLASS_N ? names[c] : "none";
}

/*
 * The class of method (its name, "GET") on path (without the query string)
 * and whether the path is public, i.e. answered without an access token:
 * /api/v1/auth/sms-code, /login, /refresh (class auth, whatever the method,
 * so no method escapes their limit) and /api/v1/auth/jwks (class of its
 * method). Paths are compared exactly; everything else needs a token.
 */
enum gw_class gw_policy_classify(const char *method, const char *path, bool *is_public);

/*
 * The token of an Authorization header value ("Bearer <token>", the scheme
 * in any case, one or more spaces). Returns 1 with *tok and *len pointing into
 * value, 0 when value is NULL or another scheme (no bearer credentials), -1
 * when it says Bearer but the token is missing or not token68 characters
 * (RFC 6750 2.1) or longer than max_len.
 */
int gw_bearer_token(const char *value, size_t max_len, const char **tok, size_t *len);

/*
 * The subject a client address is rate-limited under, into out (cap bytes):
 * an IPv4 address as is; an IPv6 address as its /64 ("2001:db8:1:2::/64"),
 * since one client usually holds a whole /64; an IPv4-mapped IPv6 address as
 * the IPv4 one. Anything else (a unix socket, "") is copied as is. Returns 0,
 * or -1 when it does not fit.
 */
int gw_ip_subject(const char *ip, char *out, size_t cap);

/* Retry-After in whole seconds for a wait of ms: rounded up, at least 1. */
int64_t gw_retry_after_seconds(int64_t ms);

#define GW_ORIGINS_MAX 32
#define GW_ORIGIN_LEN  256

/* Allowed CORS origins, compared exactly. */
struct gw_origins {
	char list[GW_ORIGINS_MAX][GW_ORIGIN_LEN];
	size_t n;
};

/*
 * Fill o from a comma-separated list ("https://a.example,http://b:8080";
 * spaces around entries ignored; NULL or empty gives an empty list). Each
 * entry must be an origin as browsers send it: http or https, a host, an
 * optional port, no path, no trailing slash, lower case. Returns 0, or -1 on
 * a malformed entry or more than GW_ORIGINS_MAX (o is then empty).
 */
int gw_origins_parse(struct gw_origins *o, const char *spec);

/* True when origin is in the list (exact, case-sensitive comparison). */
bool gw_origins_allowed(const struct gw_origins *o, const char *origin);

#endif
