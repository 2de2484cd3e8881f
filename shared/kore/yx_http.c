/*
 * yx_http.c - per-request context, replies and body parsing on top of
 * Kore's http_request. Every reply, success or error, leaves through the
 * functions here, so each carries the request id, and every error is built
 * from the one error table (yx_problem); that includes the errors Kore
 * answers by itself (http_error_hook). Also the request limits Kore applies
 * (head, URI, body per route) from YX_* variables.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "yx_config.h"
#include "yx_db.h"
#include "yx_encode.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_service.h"

static const struct yx_json_limits body_limits = YX_JSON_LIMITS_DEFAULT;

bool
yx_request_id_valid(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];
		if (n >= YX_REQUEST_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return n >= 8;
}

void
yx_request_id_new(char out[33])
{
	unsigned char raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		fatal("RAND_bytes failed");
	(void)yx_hex_encode(raw, sizeof(raw), out, 33);
}

const char *
yx_client_ip(struct http_request *req, char *buf, size_t cap)
{
	struct connection *c = req->owner;

	buf[0] = '\0';
	if (c == NULL)
		return buf;
	if (c->family == AF_INET)
		inet_ntop(AF_INET, &c->addr.ipv4.sin_addr, buf, (socklen_t)cap);
	else if (c->family == AF_INET6)
		inet_ntop(AF_INET6, &c->addr.ipv6.sin6_addr, buf, (socklen_t)cap);
	else
		snprintf(buf, cap, "unix");
	return buf;
}

static const char *
method_name(struct http_request *req)
{
	return http_method_text(req->method);
}

/* Access log line and teardown of everything the context owns. */
static void
yx_req_free(struct http_request *req)
{
	struct yx_req *r = req->hdlr_extra;
	struct yx_jw w;
	char *fields, ip[INET6_ADDRSTRLEN];
	size_t len;

	if (r == NULL)
		return;
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "method", method_name(req));
	yx_jw_kv_str(&w, "path", req->path);
	yx_jw_kv_int(&w, "status", req->status);
	yx_jw_kv_int(&w, "duration_us", yx_now_us() - r->start_us);
	yx_jw_kv_str(&w, "client", yx_client_ip(req, ip, sizeof(ip)));
	if (r->identity_ok && r->id.user[0] != '\0')
		yx_jw_kv_str(&w, "user", r->id.user);
	if (r->svc != NULL && r->svc_log != NULL)
		r->svc_log(&w, r->svc);
	yx_jw_obj_close(&w);
	fields = yx_jw_finish(&w, &len);
	yx_log_fields(YX_LOG_INFO, r->request_id, "access", fields);
	free(fields);
	yx_jw_free(&w);

	yx_db_release(req);
	if (r->svc != NULL && r->svc_free != NULL)
		r->svc_free(r->svc);
	yx_json_free(r->body);
	free(r);
	req->hdlr_extra = NULL;
}

/*
 * For services behind the gateway: check X-Yx-Sig over the forwarded
 * identity. A request without a valid signature did not come through the
 * gateway and is refused by yx_require_user_or_reply / the handlers.
 */
static void
verify_identity(struct http_request *req, struct yx_req *r)
{
	const char *sig, *v;
	char target[4096];
	size_t i;
	int n;
	struct {
		const char *name;
		char *dst;
		size_t cap;
	} fields[] = {
	    {"X-Yx-User", r->id.user, sizeof(r->id.user)},
	    {"X-Yx-Roles", r->id.roles, sizeof(r->id.roles)},
	    {"X-Yx-Org", r->id.org, sizeof(r->id.org)},
	    {"X-Yx-Session", r->id.session, sizeof(r->id.session)},
	};

	r->identity_ok = false;
	if (!http_request_header(req, "X-Yx-Sig", &sig))
		return;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = "";
		(void)http_request_header(req, fields[i].name, &v);
		if (strlen(v) >= fields[i].cap)
			return;
		memcpy(fields[i].dst, v, strlen(v) + 1);
	}
	/* The gateway signs the request target: the path and its query string. */
	if (req->query_string != NULL && req->query_string[0] != '\0')
		n = snprintf(target, sizeof(target), "%s?%s", req->path, req->query_string);
	else
		n = snprintf(target, sizeof(target), "%s", req->path);
	if (n < 0 || (size_t)n >= sizeof(target))
		return;
	if (yx_idhdr_verify(yx_app.internal_key, method_name(req), target, r->request_id, &r->id,
	                    sig, yx_now(), yx_app.identity_max_skew) == 0)
		r->identity_ok = true;
	else
		memset(&r->id, 0, sizeof(r->id));
}

struct yx_req *
yx_req(struct http_request *req)
{
	struct yx_req *r = req->hdlr_extra;
	const char *hdr;

	if (r != NULL)
		return r;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("out of memory");
	r->start_us = yx_now_us();
	if (http_request_header(req, "X-Request-Id", &hdr) && yx_request_id_valid(hdr))
		snprintf(r->request_id, sizeof(r->request_id), "%s", hdr);
	else
		yx_request_id_new(r->request_id);
	req->hdlr_extra = r;
	req->onfree = yx_req_free;
	if (yx_service_def.verify_identity)
		verify_identity(req, r);
	return r;
}

static void
common_headers(struct http_request *req, const char *ctype)
{
	struct yx_req *r = yx_req(req);

	if (ctype != NULL)
		http_response_header(req, "content-type", ctype);
	http_response_header(req, "x-request-id", r->request_id);
	http_response_header(req, "cache-control", "no-store");
	http_response_header(req, "x-content-type-options", "nosniff");
}

int
yx_reply_json(struct http_request *req, int status, const char *json, size_t len)
{
	common_headers(req, "application/json; charset=utf-8");
	http_response(req, status, json, len);
	return KORE_RESULT_OK;
}

int
yx_reply_empty(struct http_request *req, int status)
{
	common_headers(req, NULL);
	http_response(req, status, NULL, 0);
	return KORE_RESULT_OK;
}

int
yx_reply_jw(struct http_request *req, int status, struct yx_jw *w)
{
	char *body;
	size_t len;

	body = yx_jw_finish(w, &len);
	yx_jw_free(w);
	if (body == NULL) {
		yx_log(YX_LOG_ERROR, yx_req(req)->request_id, "reply",
		       "response body could not be built");
		return yx_reply_problem(req, "internal_error", NULL);
	}
	yx_reply_json(req, status, body, len);
	free(body);
	return KORE_RESULT_OK;
}

int
yx_reply_problem_fields(struct http_request *req, const char *code, const char *detail,
                        const struct yx_field_error *fields, size_t n)
{
	struct yx_req *r = yx_req(req);
	char *body;
	size_t len;
	int status;

	body = yx_problem_json(code, detail, r->request_id, fields, n, &status, &len);
	if (body == NULL) {
		common_headers(req, "application/problem+json");
		http_response(req, 500, NULL, 0);
		return KORE_RESULT_OK;
	}
	common_headers(req, "application/problem+json");
	http_response(req, status, body, len);
	free(body);
	return KORE_RESULT_OK;
}

int
yx_reply_problem(struct http_request *req, const char *code, const char *detail)
{
	return yx_reply_problem_fields(req, code, detail, NULL, 0);
}

bool
yx_require_user_or_reply(struct http_request *req)
{
	struct yx_req *r = yx_req(req);

	if (r->identity_ok && r->id.user[0] != '\0')
		return true;
	yx_reply_problem(req, "unauthorized", NULL);
	return false;
}

/* True when the Content-Type names JSON (parameters such as charset allowed). */
static bool
is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

const struct yx_json *
yx_body_object_or_reply(struct http_request *req)
{
	struct yx_req *r = yx_req(req);
	const struct yx_json *root;
	const char *ct;
	enum yx_json_err err;
	size_t off;
	char detail[160];
	ssize_t got;
	char *buf;
	size_t len, cap;

	if (r->body != NULL)
		return yx_json_root(r->body);
	if (!http_request_header(req, "content-type", &ct) || !is_json_type(ct)) {
		yx_reply_problem(req, "unsupported_media_type", "请求体须为 application/json");
		return NULL;
	}
	if (req->http_body_length > body_limits.max_bytes) {
		yx_reply_problem(req, "body_too_large", NULL);
		return NULL;
	}
	cap = req->http_body_length + 1;
	if ((buf = malloc(cap)) == NULL)
		fatal("out of memory");
	len = 0;
	(void)http_body_rewind(req);
	while ((got = http_body_read(req, buf + len, cap - len)) > 0)
		len += (size_t)got;
	if (got < 0) {
		free(buf);
		yx_reply_problem(req, "bad_request", "请求体读取失败");
		return NULL;
	}
	if (yx_json_parse(buf, len, &body_limits, &r->body, &err, &off) == -1) {
		free(buf);
		if (err == YX_JSON_ERR_TOO_LARGE) {
			yx_reply_problem(req, "body_too_large", NULL);
			return NULL;
		}
		snprintf(detail, sizeof(detail), "%s (offset %zu)", yx_json_strerror(err), off);
		yx_reply_problem(req, "invalid_json", detail);
		return NULL;
	}
	free(buf);
	root = yx_json_root(r->body);
	if (root->type != YX_JSON_OBJECT) {
		yx_reply_problem(req, "invalid_json", "请求体须为 JSON 对象");
		return NULL;
	}
	return root;
}

/*
 * --- Errors Kore answers by itself, and body limits per route -------------
 *
 * Kore refuses some requests before any handler runs: malformed or
 * ambiguous framing, limits, timeouts, routing (patched Kore, see
 * shared/kore/patches). http_error_hook gives those the same problem+json
 * body, request id and headers as every other error.
 */

/* Statuses only Kore produces; the shared table has the others. */
static const struct yx_error_def kore_errors[] = {
    {"length_required", 411, "请求须带 Content-Length 请求头"},
    {"misdirected_request", 421, "请求的主机名与连接不符"},
    {"not_implemented", 501, "服务器不支持该请求的传输编码"},
    {"http_version_not_supported", 505, "不支持该 HTTP 版本"},
};

static const char *
kore_error_code(int status)
{
	switch (status) {
	case 400:
		return "bad_request";
	case 403:
		return "forbidden";
	case 404:
		return "route_not_found";
	case 405:
		return "method_not_allowed";
	case 408:
		return "request_timeout";
	case 411:
		return "length_required";
	case 413:
		return "body_too_large";
	case 414:
		return "uri_too_long";
	case 421:
		return "misdirected_request";
	case 431:
		return "header_too_large";
	case 501:
		return "not_implemented";
	case 503:
		return "service_unavailable";
	case 505:
		return "http_version_not_supported";
	default:
		return status >= 500 ? "internal_error" : "bad_request";
	}
}

static const char *
conn_ip(struct connection *c, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (c->family == AF_INET)
		inet_ntop(AF_INET, &c->addr.ipv4.sin_addr, buf, (socklen_t)cap);
	else if (c->family == AF_INET6)
		inet_ntop(AF_INET6, &c->addr.ipv6.sin6_addr, buf, (socklen_t)cap);
	else
		snprintf(buf, cap, "unix");
	return buf;
}

/*
 * http_error_hook: the problem body and headers of an error Kore answers
 * without a request (nothing of it is trusted, so the request id is always
 * a new one), and one log line for it.
 */
static void
kore_error_reply(struct connection *c, int status, struct kore_buf *hdrs, struct kore_buf *body)
{
	const char *code;
	char rid[33], ip[INET6_ADDRSTRLEN];
	char *json;
	size_t len;

	yx_request_id_new(rid);
	code = kore_error_code(status);
	json = yx_problem_json(code, NULL, rid, NULL, 0, NULL, &len);
	kore_buf_appendf(hdrs,
	                 "content-type: application/problem+json\r\n"
	                 "x-request-id: %s\r\n"
	                 "cache-control: no-store\r\n"
	                 "x-content-type-options: nosniff\r\n",
	                 rid);
	if (json != NULL)
		kore_buf_append(body, json, len);
	free(json);
	yx_log(status >= 500 ? YX_LOG_WARN : YX_LOG_INFO, rid, "http_error",
	       "refused a request from %s with %d %s", conn_ip(c, ip, sizeof(ip)), status, code);
}

/* Body limits by path prefix (YX_BODY_MAX_ROUTES), longest prefix first. */
#define BODY_ROUTES_MAX 32
#define BODY_PREFIX_MAX 128

struct body_route {
	char prefix[BODY_PREFIX_MAX];
	size_t len;
	size_t max;
};

static struct body_route body_routes[BODY_ROUTES_MAX];
static size_t nbody_routes;

/* http_body_max_hook: the limit of the longest matching prefix, else dflt. */
static size_t
body_max_for(struct http_request *req, size_t dflt)
{
	size_t i;

	for (i = 0; i < nbody_routes; i++) {
		if (!strncmp(req->path, body_routes[i].prefix, body_routes[i].len) &&
		    (req->path[body_routes[i].len] == '\0' || req->path[body_routes[i].len] == '/'))
			return body_routes[i].max;
	}
	return dflt;
}

/*
 * Parses "prefix=bytes" entries separated by commas or spaces into
 * body_routes, sorted longest prefix first. Returns -1 with a message.
 */
static int
parse_body_routes(const char *spec)
{
	const char *p, *eq, *end;
	char num[24], *numend;
	unsigned long long v;
	size_t plen, i, j;

	for (p = spec; *p != '\0';) {
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		end = p + strcspn(p, ", ");
		eq = memchr(p, '=', (size_t)(end - p));
		plen = eq != NULL ? (size_t)(eq - p) : 0;
		if (eq == NULL || plen < 1 || plen >= BODY_PREFIX_MAX || p[0] != '/' ||
		    (size_t)(end - eq - 1) >= sizeof(num) || nbody_routes == BODY_ROUTES_MAX) {
			fprintf(stderr, "YX_BODY_MAX_ROUTES: expected /prefix=bytes, ...\n");
			return -1;
		}
		memcpy(num, eq + 1, (size_t)(end - eq - 1));
		num[end - eq - 1] = '\0';
		errno = 0;
		v = strtoull(num, &numend, 10);
		if (num[0] < '0' || num[0] > '9' || *numend != '\0' || errno != 0 ||
		    v > YX_BODY_MAX_LIMIT) {
			fprintf(stderr, "YX_BODY_MAX_ROUTES: %.*s: bytes from 0 to %d\n",
			        (int)(end - p), p, YX_BODY_MAX_LIMIT);
			return -1;
		}
		/* "/api/v1/wishes/" and "/api/v1/wishes" are the same prefix. */
		while (plen > 1 && p[plen - 1] == '/')
			plen--;
		memcpy(body_routes[nbody_routes].prefix, p, plen);
		body_routes[nbody_routes].prefix[plen] = '\0';
		body_routes[nbody_routes].len = plen;
		body_routes[nbody_routes].max = (size_t)v;
		nbody_routes++;
		p = end;
	}
	/* Longest first, so the most specific prefix wins. */
	for (i = 1; i < nbody_routes; i++) {
		for (j = i; j > 0 && body_routes[j].len > body_routes[j - 1].len; j--) {
			struct body_route t = body_routes[j];
			body_routes[j] = body_routes[j - 1];
			body_routes[j - 1] = t;
		}
	}
	return 0;
}

int
yx_http_configure(void)
{
	long long v;

	if (yx_errors_register(kore_errors, sizeof(kore_errors) / sizeof(kore_errors[0])) == -1) {
		fprintf(stderr, "the HTTP error codes clash with the service's own\n");
		return -1;
	}
	http_error_hook = kore_error_reply;

	if (yx_config_int("YX_HTTP_MAX_HEADER_LINES", HTTP_REQ_HEADER_LINES_MAX, 8,
	                  HTTP_REQ_HEADER_LINES_CAP, &v) == -1)
		return -1;
	http_header_lines_max = (u_int16_t)v;
	/* verify_identity and the gateway rebuild the target in 4 KiB. */
	if (yx_config_int("YX_HTTP_MAX_URI", HTTP_URI_MAX, 256, 4000, &v) == -1)
		return -1;
	http_uri_max = (size_t)v;

	/* Requests in flight per worker; past it Kore answers 503 at once. */
	if (yx_config_int("YX_HTTP_REQUEST_LIMIT", worker_max_connections, 1, 65536, &v) == -1)
		return -1;
	http_request_limit = (u_int32_t)v;

	if (yx_config_int("YX_BODY_MAX", 65536, 0, YX_BODY_MAX_LIMIT, &v) == -1)
		return -1;
	http_body_max = (size_t)v;
	if (parse_body_routes(yx_config_str("YX_BODY_MAX_ROUTES", "")) == -1)
		return -1;
	if (nbody_routes > 0)
		http_body_max_hook = body_max_for;
	return 0;
}
