/*
 * yx_http.c - per-request context, replies and body parsing on top of
 * Kore's http_request. Every reply, success or error, leaves through the
 * functions here, so each carries the request id, and every error is built
 * from the one error table (yx_problem).
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

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
