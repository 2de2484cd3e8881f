/*
 * gw_proxy.c - the forwarding handler of the public API: path prefix ->
 * upstream routing (DESIGN.md, "API conventions"), the upstream request
 * built from the client's, and the client response built from the
 * upstream's, or a problem+json when the upstream cannot answer.
 *
 * On the way: CORS (preflights answered here, allowed origins from
 * YX_CORS_ORIGINS), the per-address rate limit of the route class, the
 * caller's access token (gw_auth), the per-user limit, then the call.
 *
 * A forwarded request sleeps in Kore while its gw_call runs; the call's
 * completion wakes it and the handler runs again to reply. The call hangs
 * off the request context (yx_req svc), so a client that goes away frees
 * it, which cancels the call and closes its upstream connection. Every
 * request the gateway serves carries that state (gw_track), which writes the
 * class, upstream and outcome into the access log line and counts the
 * request in the metrics when it ends.
 *
 *   YX_CORS_ORIGINS   comma-separated origins allowed to call the API from
 *                     a browser (exact match; empty: none)
 *   YX_CORS_MAX_AGE   seconds a browser may cache a preflight answer (600)
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gw_auth.h"
#include "gw_http1.h"
#include "gw_metrics.h"
#include "gw_policy.h"
#include "gw_proxy.h"
#include "gw_ratelimit.h"
#include "gw_upstream.h"
#include "yx_config.h"
#include "yx_http.h"
#include "yx_idhdr.h"
#include "yx_log.h"
#include "yx_service.h"

struct gw_route {
	const char *prefix;   /* matches itself and everything below it */
	const char *upstream; /* upstream name; YX_UPSTREAM_<NAME> holds its address */
	struct gw_upstream *up;
};

/* The public API, by path prefix (DESIGN.md). */
static struct gw_route routes[] = {
    {"/api/v1/auth", "identity", NULL},   {"/api/v1/me", "identity", NULL},
    {"/api/v1/orgs", "identity", NULL},   {"/api/v1/admin", "identity", NULL},
    {"/api/v1/points", "mall", NULL},     {"/api/v1/activities", "mall", NULL},
    {"/api/v1/mall", "mall", NULL},       {"/api/v1/hall", "hall", NULL},
    {"/api/v1/wishes", "wishwall", NULL},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Handler state of one request the gateway serves, owned by its yx_req. */
struct gw_fwd {
	struct http_request *req;
	struct yx_req *r;
	enum gw_class cls;
	const struct gw_route *route; /* forwarded requests only */
	struct gw_call *call;         /* once started */
	const char *auth;             /* why a token was refused or ignored */
	const char *limited;          /* the scope of the limit that refused it */
	bool done;
};

#define CORS_ALLOW_METHODS "GET, HEAD, POST, PUT, PATCH, DELETE"
#define CORS_ALLOW_HEADERS "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
#define CORS_EXPOSE        "X-Request-Id, Retry-After"

static struct gw_origins cors_origins;
static char cors_max_age[16] = "600";

static const struct gw_route *route_find(const char *path);
static bool visible_ascii(const char *s);
static bool path_acceptable(const char *path);
static bool cors_apply(struct http_request *req, bool *preflight);
static int preflight_reply(struct http_request *req, bool allowed);
static int admit_or_reply(struct http_request *req, struct gw_fwd *f, bool is_public,
                          struct yx_identity *id);
static bool request_header_dropped(const char *name, const char *connection);
static bool response_header_dropped(const char *name, const char *connection);
static uint8_t *request_build(struct http_request *req, struct yx_req *r, struct gw_upstream *up,
                              const struct yx_identity *id, size_t *len);
static int forward_start(struct http_request *req, struct yx_req *r);
static int forward_reply(struct http_request *req, struct yx_req *r, struct gw_fwd *f);
static int forward_failed(struct http_request *req, struct yx_req *r, struct gw_fwd *f);
static void forward_done(struct gw_call *call, void *arg);
static void forward_free(void *arg);
static void forward_log(struct yx_jw *w, void *arg);
static size_t upstream_index(const struct gw_upstream *up);

int
gw_proxy_configure(void)
{
	long long v;
	char var[64];
	struct gw_upstream *up;
	size_t i, j;

	for (i = 0; i < NROUTES; i++) {
		if ((up = gw_upstream_find(routes[i].upstream)) == NULL) {
			snprintf(var, sizeof(var), "YX_UPSTREAM_%s", routes[i].upstream);
			for (j = 0; var[j] != '\0'; j++) {
				if (var[j] >= 'a' && var[j] <= 'z')
					var[j] = (char)(var[j] - 'a' + 'A');
			}
			up = gw_upstream_define(routes[i].upstream, yx_config_str(var, NULL));
			if (up == NULL) {
				fprintf(stderr, "%s: expected host:port\n", var);
				return -1;
			}
		}
		routes[i].up = up;
	}
	if (gw_origins_parse(&cors_origins, yx_config_str("YX_CORS_ORIGINS", NULL)) == -1) {
		fprintf(stderr,
		        "YX_CORS_ORIGINS: expected a comma-separated list of at most %d "
		        "origins such as https://app.example.cn\n",
		        GW_ORIGINS_MAX);
		return -1;
	}
	if (yx_config_int("YX_CORS_MAX_AGE", 600, 0, 86400, &v) == -1)
		return -1;
	snprintf(cors_max_age, sizeof(cors_max_age), "%lld", v);
	return 0;
}

/* The route whose prefix is the path or a whole-segment prefix of it. */
static const struct gw_route *
route_find(const char *path)
{
	size_t i, n;

	for (i = 0; i < NROUTES; i++) {
		n = strlen(routes[i].prefix);
		if (!strncmp(path, routes[i].prefix, n) && (path[n] == '\0' || path[n] == '/'))
			return &routes[i];
	}
	return NULL;
}

/* Only printable US-ASCII goes into the request line (RFC 9112 request-target). */
static bool
visible_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

/*
 * Routing and (later) access rules go by path prefix, so a path must mean
 * what it says to every hop: no "." or ".." segments, no encoded dot, slash
 * or backslash, no backslash.
 */
static bool
path_acceptable(const char *path)
{
	const char *seg, *end;
	size_t n;

	if (!visible_ascii(path) || strchr(path, '\\') != NULL || strcasestr(path, "%2e") != NULL ||
	    strcasestr(path, "%2f") != NULL || strcasestr(path, "%5c") != NULL)
		return false;
	for (seg = path; *seg == '/'; seg = end) {
		seg++;
		end = strchr(seg, '/');
		n = end != NULL ? (size_t)(end - seg) : strlen(seg);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (end == NULL)
			break;
	}
	return true;
}

/*
 * Client headers that do not travel upstream: hop-by-hop ones (RFC 9110
 * 7.6.1, including those the Connection header names), the framing and
 * addressing the gateway sets itself, the request id it replaces, the
 * client's credentials (the gateway consumed them; services trust only the
 * signed identity), and every X-Yx-* header, which only the gateway may
 * produce.
 */
static bool
request_header_dropped(const char *name, const char *connection)
{
	static const char *const dropped[] = {
	    "connection",        "keep-alive",   "te",        "trailer",
	    "transfer-encoding", "upgrade",      "host",      "expect",
	    "content-length",    "x-request-id", "x-real-ip", "forwarded",
	    "authorization",
	};
	size_t i;

	if (!strncasecmp(name, "x-yx-", 5) || !strncasecmp(name, "proxy-", 6) ||
	    !strncasecmp(name, "x-forwarded-", 12))
		return true;
	for (i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
		if (!strcasecmp(name, dropped[i]))
			return true;
	}
	return connection != NULL && gw_http1_token_in_list(connection, name);
}

/*
 * Upstream headers that do not go back to the client: hop-by-hop ones, and
 * those Kore or the gateway write themselves (framing, server, request id,
 * CORS).
 */
static bool
response_header_dropped(const char *name, const char *connection)
{
	static const char *const dropped[] = {
	    "connection", "keep-alive",     "te",           "trailer", "transfer-encoding",
	    "upgrade",    "content-length", "x-request-id", "server",
	};
	size_t i;

	if (!strncasecmp(name, "proxy-", 6) || !strncasecmp(name, "access-control-", 15))
		return true;
	for (i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
		if (!strcasecmp(name, dropped[i]))
			return true;
	}
	return connection != NULL && gw_http1_token_in_list(connection, name);
}

/*
 * The HTTP/1.1 request for up: request line, the client's remaining
 * headers, X-Forwarded-For, X-Request-Id, the signed identity headers and
 * the body with its Content-Length. A kore_malloc'd buffer, or NULL when
 * the request target is too long or the identity cannot be signed.
 */
static uint8_t *
request_build(struct http_request *req, struct yx_req *r, struct gw_upstream *up,
              const struct yx_identity *id, size_t *len)
{
	struct kore_buf b;
	struct http_header *hdr;
	const char *method, *connection;
	char sig[YX_IDHDR_SIG_MAX], ip[64], target[HTTP_URI_LEN + 2];
	size_t body_len;
	int n;

	method = http_method_text(req->method);
	/*
	 * The target is sent and signed as the service's glue rebuilds it
	 * (yx_http.c verify_identity): the path, plus "?" and the query string
	 * when there is one; an empty query is dropped.
	 */
	if (req->query_string != NULL && req->query_string[0] != '\0')
		n = snprintf(target, sizeof(target), "%s?%s", req->path, req->query_string);
	else
		n = snprintf(target, sizeof(target), "%s", req->path);
	if (n < 0 || (size_t)n >= sizeof(target))
		return NULL;
	if (yx_idhdr_sign(yx_app.internal_key, method, target, r->request_id, id, yx_now(), sig,
	                  sizeof(sig)) == -1)
		return NULL;
	if (!http_request_header(req, "connection", &connection))
		connection = NULL;

	kore_buf_init(&b, 1024);
	kore_buf_appendf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target,
	                 gw_upstream_authority(up));
	TAILQ_FOREACH(hdr, &req->req_headers, list)
	{
		if (!request_header_dropped(hdr->header, connection))
			kore_buf_appendf(&b, "%s: %s\r\n", hdr->header, hdr->value);
	}
	kore_buf_appendf(&b, "X-Forwarded-For: %s\r\nX-Request-Id: %s\r\n",
	                 yx_client_ip(req, ip, sizeof(ip)), r->request_id);
	/* Kore refuses empty header values: an absent field reads as empty. */
	if (id->user[0] != '\0')
		kore_buf_appendf(&b, "X-Yx-User: %s\r\n", id->user);
	if (id->roles[0] != '\0')
		kore_buf_appendf(&b, "X-Yx-Roles: %s\r\n", id->roles);
	if (id->org[0] != '\0')
		kore_buf_appendf(&b, "X-Yx-Org: %s\r\n", id->org);
	if (id->session[0] != '\0')
		kore_buf_appendf(&b, "X-Yx-Session: %s\r\n", id->session);
	kore_buf_appendf(&b, "X-Yx-Sig: %s\r\n", sig);

	body_len = 0;
	if (req->method == HTTP_METHOD_POST || req->method == HTTP_METHOD_PUT ||
	    req->method == HTTP_METHOD_PATCH) {
		if (req->http_body != NULL)
			body_len = req->http_body_length;
		kore_buf_appendf(&b, "Content-Length: %zu\r\n\r\n", body_len);
		if (body_len > 0)
			kore_buf_append(&b, req->http_body->data, body_len);
	} else {
		kore_buf_append(&b, "\r\n", 2);
	}
	return kore_buf_release(&b, len);
}

struct gw_fwd *
gw_track(struct http_request *req, enum gw_class cls)
{
	struct yx_req *r = yx_req(req);
	struct gw_fwd *f = r->svc;

	if (f == NULL) {
		f = kore_calloc(1, sizeof(*f));
		f->req = req;
		f->r = r;
		f->cls = cls;
		r->svc = f;
		r->svc_free = forward_free;
		r->svc_log = forward_log;
	}
	return f;
}

int
gw_not_found(struct http_request *req)
{
	gw_track(req, GW_CLASS_NONE);
	return yx_reply_problem(req, "route_not_found", NULL);
}

int
gw_forward(struct http_request *req)
{
	struct yx_req *r = yx_req(req);
	struct gw_fwd *f = r->svc;

	if (f == NULL)
		return forward_start(req, r);
	if (!f->done) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	return forward_reply(req, r, f);
}

/*
 * CORS headers of a request from an allowed origin (they then go out with
 * whatever answers it, the gateway's problems included). Returns whether the
 * origin is allowed; *preflight says whether this is a CORS preflight.
 */
static bool
cors_apply(struct http_request *req, bool *preflight)
{
	const char *origin, *acrm;
	bool allowed;

	*preflight = false;
	/* With CORS on, every answer depends on Origin, sent or not (caches). */
	if (cors_origins.n > 0)
		http_response_header(req, "vary", "Origin");
	if (!http_request_header(req, "origin", &origin))
		return false;
	*preflight = req->method == HTTP_METHOD_OPTIONS &&
	             http_request_header(req, "access-control-request-method", &acrm);
	if (!(allowed = gw_origins_allowed(&cors_origins, origin)))
		return false;
	http_response_header(req, "access-control-allow-origin", origin);
	if (!*preflight)
		http_response_header(req, "access-control-expose-headers", CORS_EXPOSE);
	return true;
}

/* The gateway answers preflights itself: no token, no upstream. */
static int
preflight_reply(struct http_request *req, bool allowed)
{
	if (!allowed)
		return yx_reply_problem(req, "forbidden", "此来源不允许跨域访问");
	http_response_header(req, "access-control-allow-methods", CORS_ALLOW_METHODS);
	http_response_header(req, "access-control-allow-headers", CORS_ALLOW_HEADERS);
	http_response_header(req, "access-control-max-age", cors_max_age);
	return yx_reply_empty(req, 204);
}

/*
 * The limits and the caller. The address's limit of the route class is
 * counted before any signature is checked, so a flood of bad tokens is cut
 * short; when the token is one this worker has verified before, the user's
 * limit is counted in the same Redis round trip, otherwise after the token
 * has verified. 0 to go on, -1 after replying.
 */
static int
admit_or_reply(struct http_request *req, struct gw_fwd *f, bool is_public, struct yx_identity *id)
{
	struct gw_auth a;
	char ip[64], subject[64], user[sizeof(a.claims->sub)];
	int who;

	(void)gw_ip_subject(yx_client_ip(req, ip, sizeof(ip)), subject, sizeof(subject));
	gw_auth_peek(req, &a);
	user[0] = '\0';
	if (a.claims != NULL)
		memcpy(user, a.claims->sub, sizeof(user));
	if (gw_ratelimit_or_reply(req, f->cls, subject, user[0] != '\0' ? user : NULL,
	                          &f->limited) == -1)
		return -1;
	if ((who = gw_auth_identify_or_reply(req, &a, is_public, id, &f->auth)) == -1)
		return -1;
	if (who == 1 && user[0] == '\0' &&
	    gw_ratelimit_or_reply(req, f->cls, NULL, id->user, &f->limited) == -1)
		return -1;
	return 0;
}

/* Route, limit, authenticate, build and start the upstream call. */
static int
forward_start(struct http_request *req, struct yx_req *r)
{
	const struct gw_route *route;
	struct yx_identity id;
	struct gw_fwd *f;
	uint8_t *buf;
	size_t len;
	bool is_public, allowed, preflight;
	int flags;

	f = gw_track(req, GW_CLASS_NONE);
	if ((route = route_find(req->path)) == NULL)
		return yx_reply_problem(req, "route_not_found", NULL);
	f->route = route;
	f->cls = gw_policy_classify(http_method_text(req->method), req->path, &is_public);
	allowed = cors_apply(req, &preflight);
	if (!path_acceptable(req->path) ||
	    (req->query_string != NULL && !visible_ascii(req->query_string)))
		return yx_reply_problem(req, "bad_request", "请求路径不规范");
	if (preflight)
		return preflight_reply(req, allowed);
	if (!gw_upstream_deployed(route->up))
		return yx_reply_problem(req, "service_unavailable", NULL);
	if (req->http_body_fd != -1)
		return yx_reply_problem(req, "body_too_large", NULL);
	if (admit_or_reply(req, f, is_public, &id) == -1)
		return KORE_RESULT_OK;
	if ((buf = request_build(req, r, route->up, &id, &len)) == NULL) {
		yx_log(YX_LOG_ERROR, r->request_id, "proxy", "cannot build the upstream request");
		return yx_reply_problem(req, "internal_error", NULL);
	}

	flags = 0;
	switch (req->method) {
	case HTTP_METHOD_HEAD:
		flags = GW_CALL_HEAD | GW_CALL_IDEMPOTENT;
		break;
	case HTTP_METHOD_GET:
	case HTTP_METHOD_PUT:
	case HTTP_METHOD_DELETE:
	case HTTP_METHOD_OPTIONS:
		flags = GW_CALL_IDEMPOTENT;
		break;
	default:
		break;
	}

	f->call = gw_call_new(route->up, buf, len, flags, forward_done, f);
	if (gw_call_start(f->call) == -1)
		return forward_failed(req, r, f);
	http_request_sleep(req);
	return KORE_RESULT_RETRY;
}

/* The call ended: let Kore run the handler again to reply. */
static void
forward_done(struct gw_call *call, void *arg)
{
	struct gw_fwd *f = arg;

	f->done = true;
	http_request_wakeup(f->req);
}

/* Relay the upstream response, or the problem that replaced it. */
static int
forward_reply(struct http_request *req, struct yx_req *r, struct gw_fwd *f)
{
	const char *name, *value, *connection, *cl;
	const uint8_t *body;
	size_t i, n, len;
	int status;

	if (gw_call_result(f->call) != GW_CALL_OK)
		return forward_failed(req, r, f);

	status = gw_call_status(f->call);
	connection = gw_call_header_get(f->call, "connection");
	n = gw_call_header_count(f->call);
	for (i = 0; i < n; i++) {
		gw_call_header(f->call, i, &name, &value);
		if (!response_header_dropped(name, connection))
			http_response_header(req, name, value);
	}
	/* No body follows these: pass the upstream's length through untouched. */
	if (req->method == HTTP_METHOD_HEAD || status == 304) {
		if ((cl = gw_call_header_get(f->call, "content-length")) != NULL)
			http_response_header(req, "content-length", cl);
		req->flags |= HTTP_REQUEST_NO_CONTENT_LENGTH;
	}
	http_response_header(req, "x-request-id", r->request_id);
	body = gw_call_body(f->call, &len);
	http_response(req, status, body, len);
	return KORE_RESULT_OK;
}

/* Map a failed call to its problem reply, and log why. */
static int
forward_failed(struct http_request *req, struct yx_req *r, struct gw_fwd *f)
{
	enum gw_uperr kind;
	const char *code;

	switch (gw_call_result(f->call)) {
	case GW_CALL_CONNECT_TIMEOUT:
		code = "upstream_timeout";
		kind = GW_UPERR_CONNECT_TIMEOUT;
		break;
	case GW_CALL_TIMEOUT:
		code = "upstream_timeout";
		kind = GW_UPERR_TIMEOUT;
		break;
	case GW_CALL_BAD_RESPONSE:
		code = "bad_gateway";
		kind = GW_UPERR_BAD_RESPONSE;
		break;
	case GW_CALL_BUSY:
		code = "service_unavailable";
		kind = GW_UPERR_BUSY;
		break;
	default:
		code = "upstream_unavailable";
		kind = GW_UPERR_UNAVAILABLE;
		break;
	}
	gw_metrics_upstream_error(upstream_index(f->route->up), kind);
	yx_log(YX_LOG_WARN, r->request_id, "upstream_failed", "%s %s -> %s after %llu ms: %s",
	       http_method_text(req->method), req->path, f->route->upstream,
	       (unsigned long long)gw_call_elapsed_ms(f->call), gw_call_error(f->call));
	return yx_reply_problem(req, code, NULL);
}

/* The upstream's index in the table, as the metrics name it. */
static size_t
upstream_index(const struct gw_upstream *up)
{
	size_t i, n = gw_upstream_count();

	for (i = 0; i < n; i++) {
		if (gw_upstream_at(i) == up)
			return i;
	}
	return GW_METRICS_UPSTREAMS;
}

/* svc_log: what the gateway adds to the request's access log line. */
static void
forward_log(struct yx_jw *w, void *arg)
{
	struct gw_fwd *f = arg;

	yx_jw_kv_str(w, "class", gw_class_name(f->cls));
	if (f->route != NULL)
		yx_jw_kv_str(w, "upstream", f->route->upstream);
	if (f->call != NULL && gw_call_result(f->call) != GW_CALL_PENDING)
		yx_jw_kv_int(w, "upstream_ms", (int64_t)gw_call_elapsed_ms(f->call));
	if (f->auth != NULL)
		yx_jw_kv_str(w, "auth", f->auth);
	if (f->limited != NULL)
		yx_jw_kv_str(w, "rate_limited", f->limited);
}

/* svc_free: the request is going away, with or without a reply. */
static void
forward_free(void *arg)
{
	struct gw_fwd *f = arg;

	gw_metrics_request(f->cls, f->req->status, yx_now_us() - f->r->start_us);
	if (f->call != NULL)
		gw_call_free(f->call);
	kore_free(f);
}
