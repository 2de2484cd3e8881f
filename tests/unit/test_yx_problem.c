/*
 * Unit tests for shared/yx_problem.c: the error table, registration, and
 * problem bodies read back with yx_json field by field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "yx_json.h"
#include "yx_problem.h"

struct expect {
	const char *code;
	int status;
};

static const struct expect builtin[] = {
    {"bad_request", 400},
    {"invalid_json", 400},
    {"idempotency_key_required", 400},
    {"invalid_cursor", 400},
    {"unauthorized", 401},
    {"invalid_token", 401},
    {"forbidden", 403},
    {"not_found", 404},
    {"route_not_found", 404},
    {"method_not_allowed", 405},
    {"request_timeout", 408},
    {"conflict", 409},
    {"body_too_large", 413},
    {"uri_too_long", 414},
    {"unsupported_media_type", 415},
    {"validation_failed", 422},
    {"idempotency_key_mismatch", 422},
    {"rate_limited", 429},
    {"header_too_large", 431},
    {"internal_error", 500},
    {"bad_gateway", 502},
    {"upstream_unavailable", 502},
    {"service_unavailable", 503},
    {"upstream_timeout", 504},
};

/* A parsed problem body; the caller frees doc. */
struct problem {
	struct yx_json_doc *doc;
	const struct yx_json *root;
	int status;
};

static struct problem
problem(const char *code, const char *detail, const char *rid, const struct yx_field_error *f,
        size_t nf)
{
	struct problem p = {NULL, NULL, 0};
	enum yx_json_err err;
	size_t len = 0;
	char *body;

	body = yx_problem_json(code, detail, rid, f, nf, &p.status, &len);
	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	if (yx_json_parse(body, len, NULL, &p.doc, &err, NULL) != 0)
		fail_msg("problem body is not JSON (%s): %s", yx_json_strerror(err), body);
	free(body);
	p.root = yx_json_root(p.doc);
	assert_true(yx_json_is_object(p.root));
	return p;
}

static void
assert_member_str(const struct yx_json *obj, const char *key, const char *want)
{
	const char *s;

	if (!yx_json_string(yx_json_get(obj, key), &s, NULL))
		fail_msg("member %s missing or not a string", key);
	assert_string_equal(s, want);
}

static bool
has_non_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return true;
	}
	return false;
}

static void
test_builtin_table(void **state)
{
	const struct yx_error_def *d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		d = yx_error_lookup(builtin[i].code);
		assert_non_null(d);
		assert_string_equal(d->code, builtin[i].code);
		assert_int_equal(d->status, builtin[i].status);
		assert_non_null(d->title);
		/* Titles are for people, in Chinese. */
		if (!has_non_ascii(d->title))
			fail_msg("%s: title is not zh-CN: %s", d->code, d->title);
	}
	assert_string_equal(yx_error_lookup("validation_failed")->title, "请求参数校验失败");
	assert_string_equal(yx_error_lookup("rate_limited")->title, "请求过于频繁，请稍后再试");
	assert_string_equal(yx_error_lookup("unauthorized")->title, "未登录或登录已过期");
	assert_string_equal(yx_error_lookup("not_found")->title, "资源不存在");
	assert_string_equal(yx_error_lookup("internal_error")->title, "服务器内部错误");
}

static void
test_lookup_unknown(void **state)
{
	const struct yx_error_def *ie = yx_error_lookup("internal_error");

	(void)state;
	assert_ptr_equal(yx_error_lookup("no_such_code"), ie);
	assert_ptr_equal(yx_error_lookup(NULL), ie);
	assert_ptr_equal(yx_error_lookup(""), ie);
	assert_ptr_equal(yx_error_lookup("NOT_FOUND"), ie);
	assert_ptr_equal(yx_error_lookup("not_found "), ie);
}

static void
test_body_full(void **state)
{
	const struct yx_field_error fields[] = {
	    {"title", "required"},
	    {"items/0/qty", "out_of_range"},
	};
	const struct yx_json *errs, *e;
	struct problem p;
	int64_t status;

	(void)state;
	p = problem("validation_failed", "标题不能为空", "req-123", fields, 2);
	assert_int_equal(p.status, 422);
	assert_member_str(p.root, "type", "urn:yuexiang:problem:validation_failed");
	assert_member_str(p.root, "title", "请求参数校验失败");
	assert_true(yx_json_int64(yx_json_get(p.root, "status"), &status));
	assert_int_equal(status, 422);
	assert_member_str(p.root, "detail", "标题不能为空");
	assert_member_str(p.root, "code", "validation_failed");
	assert_member_str(p.root, "request_id", "req-123");
	errs = yx_json_get(p.root, "errors");
	assert_true(yx_json_is_array(errs));
	assert_int_equal(errs->count, 2);
	e = errs->child;
	assert_int_equal(e->count, 2);
	assert_member_str(e, "field", "title");
	assert_member_str(e, "reason", "required");
	e = e->next;
	assert_member_str(e, "field", "items/0/qty");
	assert_member_str(e, "reason", "out_of_range");
	assert_int_equal(p.root->count, 7);
	/* RFC 9457 members first, in a stable order. */
	assert_string_equal(p.root->child->key, "type");
	assert_string_equal(p.root->child->next->key, "title");
	assert_string_equal(p.root->child->next->next->key, "status");
	yx_json_free(p.doc);
}

static void
test_body_minimal(void **state)
{
	const struct yx_field_error fields[] = {{"x", "y"}};
	struct problem p;

	(void)state;
	p = problem("not_found", NULL, NULL, fields, 0);
	assert_int_equal(p.status, 404);
	assert_int_equal(p.root->count, 4);
	assert_member_str(p.root, "type", "urn:yuexiang:problem:not_found");
	assert_member_str(p.root, "code", "not_found");
	assert_null(yx_json_get(p.root, "detail"));
	assert_null(yx_json_get(p.root, "request_id"));
	assert_null(yx_json_get(p.root, "errors"));
	yx_json_free(p.doc);

	p = problem("forbidden", NULL, NULL, NULL, 3);
	assert_int_equal(p.status, 403);
	assert_null(yx_json_get(p.root, "errors"));
	yx_json_free(p.doc);

	/* status_out and len_out are optional. */
	char *body = yx_problem_json("conflict", NULL, NULL, NULL, 0, NULL, NULL);
	assert_non_null(body);
	free(body);
}

static void
test_body_unknown_code(void **state)
{
	struct problem p;

	(void)state;
	p = problem("made_up_code", "boom", "r1", NULL, 0);
	assert_int_equal(p.status, 500);
	assert_member_str(p.root, "code", "internal_error");
	assert_member_str(p.root, "type", "urn:yuexiang:problem:internal_error");
	assert_member_str(p.root, "title", "服务器内部错误");
	assert_member_str(p.root, "detail", "boom");
	yx_json_free(p.doc);

	p = problem(NULL, NULL, NULL, NULL, 0);
	assert_int_equal(p.status, 500);
	yx_json_free(p.doc);
}

static void
test_body_escaping_and_repair(void **state)
{
	const struct yx_field_error fields[] = {{"a\"b", "bad\xff"}, {NULL, NULL}};
	const struct yx_json *e;
	struct problem p;

	(void)state;
	p = problem("bad_request", "line1\nline2 \"quoted\" \\ \x01", "id\xc0\x80", fields, 2);
	assert_member_str(p.root, "detail", "line1\nline2 \"quoted\" \\ \x01");
	assert_member_str(p.root, "request_id", "id\xef\xbf\xbd\xef\xbf\xbd");
	e = yx_json_get(p.root, "errors")->child;
	assert_member_str(e, "field", "a\"b");
	assert_member_str(e, "reason", "bad\xef\xbf\xbd");
	assert_true(yx_json_is_null(yx_json_get(e->next, "field")));
	assert_true(yx_json_is_null(yx_json_get(e->next, "reason")));
	yx_json_free(p.doc);
}

static void
test_register(void **state)
{
	static const struct yx_error_def mall[] = {
	    {"insufficient_points", 409, "积分不足"},
	    {"out_of_stock", 409, "商品库存不足"},
	};
	static const struct yx_error_def more[] = {
	    {"wish_already_claimed", 409, "该心愿已被认领"},
	};
	struct problem p;

	(void)state;
	assert_int_equal(yx_errors_register(mall, 2), 0);
	assert_int_equal(yx_errors_register(more, 1), 0);
	assert_ptr_equal(yx_error_lookup("insufficient_points"), &mall[0]);
	assert_ptr_equal(yx_error_lookup("out_of_stock"), &mall[1]);
	assert_ptr_equal(yx_error_lookup("wish_already_claimed"), &more[0]);
	assert_int_equal(yx_errors_register(NULL, 0), 0);

	p = problem("out_of_stock", NULL, "r", NULL, 0);
	assert_int_equal(p.status, 409);
	assert_member_str(p.root, "type", "urn:yuexiang:problem:out_of_stock");
	assert_member_str(p.root, "title", "商品库存不足");
	yx_json_free(p.doc);

	/* The same array again, or any code already known, is refused. */
	assert_int_equal(yx_errors_register(mall, 2), -1);
	assert_int_equal(yx_errors_register(more, 1), -1);
}

static void
test_register_rejects(void **state)
{
	static const struct yx_error_def dup_builtin[] = {{"not_found", 404, "找不到"}};
	static const struct yx_error_def dup_batch[] = {
	    {"batch_a", 400, "甲"},
	    {"batch_a", 409, "乙"},
	};
	static const struct yx_error_def bad[][1] = {
	    {{NULL, 400, "标题"}},
	    {{"", 400, "标题"}},
	    {{"Upper", 400, "标题"}},
	    {{"has-dash", 400, "标题"}},
	    {{"has space", 400, "标题"}},
	    {{"x", 399, "标题"}},
	    {{"x", 600, "标题"}},
	    {{"x", 200, "标题"}},
	    {{"x", 400, NULL}},
	    {{"x", 400, ""}},
	    {{"x", 400, "bad\xff"}},
	    {{"a_code_much_longer_than_sixty_four_characters_is_not_a_sensible_slug", 400, "长"}},
	};
	static const struct yx_error_def half_bad[] = {
	    {"half_good", 400, "好"},
	    {"Half_Bad", 400, "坏"},
	};
	size_t i;

	(void)state;
	assert_int_equal(yx_errors_register(dup_builtin, 1), -1);
	assert_string_equal(yx_error_lookup("not_found")->title, "资源不存在");
	assert_int_equal(yx_errors_register(dup_batch, 2), -1);
	assert_string_equal(yx_error_lookup("batch_a")->code, "internal_error");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (yx_errors_register(bad[i], 1) != -1)
			fail_msg("accepted bad entry %zu", i);
	}
	/* All or nothing. */
	assert_int_equal(yx_errors_register(half_bad, 2), -1);
	assert_string_equal(yx_error_lookup("half_good")->code, "internal_error");
	assert_int_equal(yx_errors_register(NULL, 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_builtin_table),
	    cmocka_unit_test(test_lookup_unknown),
	    cmocka_unit_test(test_body_full),
	    cmocka_unit_test(test_body_minimal),
	    cmocka_unit_test(test_body_unknown_code),
	    cmocka_unit_test(test_body_escaping_and_repair),
	    cmocka_unit_test(test_register),
	    cmocka_unit_test(test_register_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
