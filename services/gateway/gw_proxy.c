/*
 * gw_proxy.c - the forwarding handler of the public API: path prefix ->
 * upstream routing (DESIGN.md, "API conventions"), the upstream request
 * built from the client's, and the client response built from the
 * upstream's, or a problem+json when the upstream cannot answer.
 *
 * A forwarded request sleeps in Kore while its gw_call runs; the call's
 * completion wakes it and the handler runs again to reply. The call hangs
 * off the request context (yx_req svc), so a client that goes away frees
 * it, which cancels the call and closes its upstream connection.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gw_http1.h"
#include "gw_proxy.h"
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

/* Handler state of one forwarded request, owned by its yx_req. */
struct gw_fwd {
	struct http_request *req;
	const struct gw_route *route;
	struct gw_call *call;
	bool done;
};

static const struct gw_route *route_find(const char *path);
static bool visible_ascii(const char *s);
static bool path_acceptable(const char *path);
static int identity_or_reply(struct http_request *req, struct yx_identity *id);
static bool request_header_dropped(const char *name, const char *connection);
static bool response_header_dropped(const char *name, const char *connection);
static uint8_t *request_build(struct http_request *req, struct yx_req *r, struct gw_upstream *up,
                              const struct yx_identity *id, size_t *len);
static int forward_start(struct http_request *req, struct yx_req *r);
static int forward_reply(struct http_request *req, struct yx_req *r, struct gw_fwd *f);
static int forward_failed(struct http_request *req, struct yx_req *r, struct gw_fwd *f);
static void forward_done(struct gw_call *call, void *arg);
static void forward_free(void *arg);

int
gw_proxy_configure(void)
{
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
 * The caller's identity for the forwarded request. This is where the access
 * token will be verified; until then every request travels anonymous (empty
 * user), signed all the same. Returns 0, or -1 after replying.
 */
static int
identity_or_reply(struct http_request *req, struct yx_identity *id)
{
	memset(id, 0, sizeof(*id));
	return 0;
}

/*
 * Client headers that do not travel upstream: hop-by-hop ones (RFC 9110
 * 7.6.1, including those the Connection header names), the framing and
 * addressing the gateway sets itself, the request id it replaces, and every
 * X-Yx-* header, which only the gateway may produce.
 */
static bool
request_header_dropped(const char *name, const char *connection)
{
	static const char *const dropped[] = {
	    "connection",        "keep-alive",   "te",        "trailer",
	    "transfer-encoding", "upgrade",      "host",      "expect",
	    "content-length",    "x-request-id", "x-real-ip", "forwarded",
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
 * those Kore or the gateway write themselves (framing, server, request id).
 */
static bool
response_header_dropped(const char *name, const char *connection)
{
	static const char *const dropped[] = {
	    "connection", "keep-alive",     "te",           "trailer", "transfer-encoding",
	    "upgrade",    "content-length", "x-request-id", "server",
	};
	size_t i;

	if (!strncasecmp(name, "proxy-", 6))
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

/* Route, authenticate, build and start the upstream call. */
static int
forward_start(struct http_request *req, struct yx_req *r)
{
	const struct gw_route *route;
	struct yx_identity id;
	struct gw_fwd *f;
	uint8_t *buf;
	size_t len;
	int flags;

	if ((route = route_find(req->path)) == NULL)
		return yx_reply_problem(req, "route_not_found", NULL);
	if (!path_acceptable(req->path) ||
	    (req->query_string != NULL && !visible_ascii(req->query_string)))
		return yx_reply_problem(req, "bad_request", "请求路径不规范");
	if (!gw_upstream_deployed(route->up))
		return yx_reply_problem(req, "service_unavailable", NULL);
	if (req->http_body_fd != -1)
		return yx_reply_problem(req, "body_too_large", NULL);
	if (identity_or_reply(req, &id) == -1)
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

	f = kore_calloc(1, sizeof(*f));
	f->req = req;
	f->route = route;
	f->call = gw_call_new(route->up, buf, len, flags, forward_done, f);
	r->svc = f;
	r->svc_free = forward_free;
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
	const char *code;

	switch (gw_call_result(f->call)) {
	case GW_CALL_CONNECT_TIMEOUT:
	case GW_CALL_TIMEOUT:
		code = "upstream_timeout";
		break;
	case GW_CALL_BAD_RESPONSE:
		code = "bad_gateway";
		break;
	case GW_CALL_BUSY:
		code = "service_unavailable";
		break;
	default:
		code = "upstream_unavailable";
		break;
	}
	yx_log(YX_LOG_WARN, r->request_id, "upstream_failed", "%s %s -> %s after %llu ms: %s",
	       http_method_text(req->method), req->path, f->route->upstream,
	       (unsigned long long)gw_call_elapsed_ms(f->call), gw_call_error(f->call));
	return yx_reply_problem(req, code, NULL);
}

/* svc_free: the request is going away, with or without a reply. */
static void
forward_free(void *arg)
{
	struct gw_fwd *f = arg;

	gw_call_free(f->call);
	kore_free(f);
}
