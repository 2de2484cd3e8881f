/*
 * yx_problem: the built-in error table, service registrations, and problem
 * bodies, see yx_problem.h.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "yx_json.h"
#include "yx_problem.h"

/*
 * Shared errors. Codes are part of the API contract: never rename one, add a
 * new code instead. 422 is for input that parsed but failed validation.
 */
static const struct yx_error_def problem_builtin[] = {
    {"bad_request", 400, "请求无效"},
    {"invalid_json", 400, "请求体不是有效的 JSON"},
    {"idempotency_key_required", 400, "此操作需要提供 Idempotency-Key 请求头"},
    {"invalid_cursor", 400, "分页游标无效或已过期"},
    {"unauthorized", 401, "未登录或登录已过期"},
    {"invalid_token", 401, "登录凭证无效，请重新登录"},
    {"forbidden", 403, "无权执行此操作"},
    {"not_found", 404, "资源不存在"},
    {"route_not_found", 404, "请求的接口不存在"},
    {"method_not_allowed", 405, "不支持该请求方法"},
    {"request_timeout", 408, "请求超时"},
    {"conflict", 409, "操作冲突，请刷新后重试"},
    {"body_too_large", 413, "请求体过大"},
    {"uri_too_long", 414, "请求地址过长"},
    {"unsupported_media_type", 415, "不支持的内容类型"},
    {"validation_failed", 422, "请求参数校验失败"},
    {"idempotency_key_mismatch", 422, "相同的 Idempotency-Key 已用于不同的请求内容"},
    {"rate_limited", 429, "请求过于频繁，请稍后再试"},
    {"header_too_large", 431, "请求头过大"},
    {"internal_error", 500, "服务器内部错误"},
    {"bad_gateway", 502, "网关错误"},
    {"upstream_unavailable", 502, "上游服务不可用"},
    {"service_unavailable", 503, "服务暂不可用"},
    {"upstream_timeout", 504, "上游服务响应超时"},
};

#define PROBLEM_NBUILTIN (sizeof(problem_builtin) / sizeof(problem_builtin[0]))

/* Registered service errors: pointers into the callers' static arrays. */
static const struct yx_error_def **problem_extra;
static size_t problem_nextra;

static const struct yx_error_def *
problem_find(const char *code)
{
	size_t i;

	for (i = 0; i < PROBLEM_NBUILTIN; i++) {
		if (strcmp(problem_builtin[i].code, code) == 0)
			return &problem_builtin[i];
	}
	for (i = 0; i < problem_nextra; i++) {
		if (strcmp(problem_extra[i]->code, code) == 0)
			return problem_extra[i];
	}
	return NULL;
}

static bool
problem_slug_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	}
	return i <= 64;
}

static bool
problem_title_ok(const char *s)
{
	size_t i = 0, n, l;

	if (s == NULL || s[0] == '\0')
		return false;
	n = strlen(s);
	while (i < n) {
		if ((l = yx_json_utf8_len(s + i, n - i)) == 0)
			return false;
		i += l;
	}
	return true;
}

int
yx_errors_register(const struct yx_error_def *defs, size_t n)
{
	const struct yx_error_def **grown;
	size_t i, j;

	if (n == 0)
		return 0;
	if (defs == NULL || n > SIZE_MAX / sizeof(*grown) - problem_nextra)
		return -1;
	for (i = 0; i < n; i++) {
		const struct yx_error_def *d = &defs[i];

		if (!problem_slug_ok(d->code) || d->status < 400 || d->status > 599 ||
		    !problem_title_ok(d->title))
			return -1;
		if (problem_find(d->code) != NULL)
			return -1;
		for (j = 0; j < i; j++) {
			if (strcmp(defs[j].code, d->code) == 0)
				return -1;
		}
	}
	grown = realloc(problem_extra, (problem_nextra + n) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	problem_extra = grown;
	for (i = 0; i < n; i++)
		problem_extra[problem_nextra + i] = &defs[i];
	problem_nextra += n;
	return 0;
}

const struct yx_error_def *
yx_error_lookup(const char *code)
{
	const struct yx_error_def *d = NULL;

	if (code != NULL)
		d = problem_find(code);
	if (d == NULL)
		d = problem_find("internal_error");
	return d;
}

/* A string member whose value may be untrusted text. */
static void
problem_kv_text(struct yx_jw *jw, const char *key, const char *s)
{
	yx_jw_key(jw, key);
	yx_jw_strn_lossy(jw, s, s == NULL ? 0 : strlen(s));
}

char *
yx_problem_json(const char *code, const char *detail, const char *request_id,
                const struct yx_field_error *fields, size_t nfields, int *status_out,
                size_t *len_out)
{
	const struct yx_error_def *d = yx_error_lookup(code);
	struct yx_jw jw;
	char type[sizeof(YX_PROBLEM_TYPE_PREFIX) + 64];
	size_t i, plen = strlen(YX_PROBLEM_TYPE_PREFIX), clen = strlen(d->code);

	if (status_out != NULL)
		*status_out = d->status;
	/* Codes are slugs of at most 64 characters (checked at registration). */
	memcpy(type, YX_PROBLEM_TYPE_PREFIX, plen);
	memcpy(type + plen, d->code, clen);

	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_key(&jw, "type");
	yx_jw_strn(&jw, type, plen + clen);
	problem_kv_text(&jw, "title", d->title);
	yx_jw_kv_int(&jw, "status", d->status);
	if (detail != NULL)
		problem_kv_text(&jw, "detail", detail);
	yx_jw_kv_str(&jw, "code", d->code);
	if (request_id != NULL)
		problem_kv_text(&jw, "request_id", request_id);
	if (fields != NULL && nfields > 0) {
		yx_jw_key(&jw, "errors");
		yx_jw_arr_open(&jw);
		for (i = 0; i < nfields; i++) {
			yx_jw_obj_open(&jw);
			problem_kv_text(&jw, "field", fields[i].field);
			problem_kv_text(&jw, "reason", fields[i].reason);
			yx_jw_obj_close(&jw);
		}
		yx_jw_arr_close(&jw);
	}
	yx_jw_obj_close(&jw);
	return yx_jw_finish(&jw, len_out);
}
