/*
 * mall_http.c - request helpers of yx-mall's handlers, see mall_http.h.
 * Values parsed from the request are copied into caller buffers or point
 * into the request's parsed body; nothing here outlives the request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mall_http.h"
#include "mall_rules.h"
#include "yx_query.h"
#include "yx_cursor.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_service.h"

bool
mall_signed_or_reply(struct http_request *req)
{
	if (yx_req(req)->identity_ok)
		return true;
	yx_reply_problem(req, "unauthorized", NULL);
	return false;
}

bool
mall_staff_or_reply(struct http_request *req, const char *community)
{
	if (mall_is_staff(yx_req(req)->id.roles, community))
		return true;
	yx_reply_problem(req, "not_in_scope", NULL);
	return false;
}

bool
mall_method_or_reply(struct http_request *req, int m1, int m2)
{
	if ((int)req->method == m1 || (int)req->method == m2)
		return true;
	yx_reply_problem(req, "method_not_allowed", NULL);
	return false;
}

void *
mall_state(struct http_request *req, size_t size, void (*release)(void *))
{
	struct yx_req *r = yx_req(req);

	if (r->svc == NULL) {
		if ((r->svc = calloc(1, size)) == NULL)
			fatal("out of memory");
		r->svc_free = release != NULL ? release : free;
	}
	return r->svc;
}

bool
mall_idem_or_reply(struct http_request *req, struct mall_idem *idem)
{
	const char *key;
	struct mall_fields f = {.n = 0};
	char *body = NULL;
	size_t len = 0, cap;
	ssize_t got;
	int rc;

	if (!http_request_header(req, "idempotency-key", &key)) {
		yx_reply_problem(req, "idempotency_key_required", NULL);
		return false;
	}
	if (!mall_idem_key_valid(key)) {
		mall_field_error(&f, "header/Idempotency-Key", "invalid");
		mall_reply_invalid(req, &f);
		return false;
	}
	memcpy(idem->key, key, strlen(key) + 1);
	/*
	 * Reading consumes http_body_length, and the handler may run again
	 * after the body was parsed: always hash from the start, by
	 * content_length.
	 */
	if (req->content_length > 0) {
		cap = req->content_length;
		if ((body = malloc(cap)) == NULL)
			fatal("out of memory");
		(void)http_body_rewind(req);
		while (len < cap && (got = http_body_read(req, body + len, cap - len)) > 0)
			len += (size_t)got;
		(void)http_body_rewind(req);
	}
	rc = mall_request_hash(http_method_text(req->method), req->path, body, len, idem->hash);
	free(body);
	if (rc == -1) {
		yx_reply_problem(req, "internal_error", NULL);
		return false;
	}
	return true;
}

const struct yx_json *
mall_body_or_reply(struct http_request *req, bool empty_ok)
{
	static const struct yx_json empty = {.type = YX_JSON_OBJECT};

	if (empty_ok && req->content_length == 0)
		return &empty;
	return yx_body_object_or_reply(req);
}

void
mall_field_error(struct mall_fields *f, const char *field, const char *reason)
{
	if (f->n < sizeof(f->e) / sizeof(f->e[0])) {
		f->e[f->n].field = field;
		f->e[f->n].reason = reason;
		f->n++;
	}
}

void
mall_check_keys(const struct yx_json *obj, const char *const *allowed, struct mall_fields *f)
{
	const struct yx_json *m;
	size_t i;

	for (m = obj->child; m != NULL; m = m->next) {
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(m->key, allowed[i]) == 0)
				break;
		}
		if (allowed[i] == NULL)
			mall_field_error(f, m->key, "unknown");
	}
}

void
mall_body_id(const struct yx_json *obj, const char *key, bool required, const char **out,
             struct mall_fields *f)
{
	const struct yx_json *v = yx_json_get(obj, key);

	*out = NULL;
	if (v == NULL) {
		if (required)
			mall_field_error(f, key, "required");
		return;
	}
	if (!yx_json_is_string(v) || !mall_id_valid(v->str)) {
		mall_field_error(f, key, "invalid");
		return;
	}
	*out = v->str;
}

void
mall_body_int(const struct yx_json *obj, const char *key, bool required, bool null_ok, int64_t min,
              int64_t max, bool *present, bool *is_null, int64_t *out, struct mall_fields *f)
{
	const struct yx_json *v = yx_json_get(obj, key);
	int64_t n;

	*present = v != NULL;
	*is_null = false;
	if (v == NULL) {
		if (required)
			mall_field_error(f, key, "required");
		return;
	}
	if (null_ok && yx_json_is_null(v)) {
		*is_null = true;
		return;
	}
	if (!yx_json_int64(v, &n)) {
		mall_field_error(f, key, "invalid");
		return;
	}
	if (n < min || n > max) {
		mall_field_error(f, key, "out_of_range");
		return;
	}
	*out = n;
}

void
mall_body_text(const struct yx_json *obj, const char *key, bool required, bool null_ok,
               size_t min_chars, size_t max_chars, bool multiline, bool *present, const char **out,
               struct mall_fields *f)
{
	const struct yx_json *v = yx_json_get(obj, key);

	*out = NULL;
	*present = v != NULL;
	if (v == NULL) {
		if (required)
			mall_field_error(f, key, "required");
		return;
	}
	if (null_ok && yx_json_is_null(v))
		return;
	if (!yx_json_is_string(v) ||
	    !mall_text_valid(v->str, v->len, min_chars, max_chars, multiline)) {
		mall_field_error(f, key, "invalid");
		return;
	}
	*out = v->str;
}

void
mall_body_url(const struct yx_json *obj, const char *key, bool *present, const char **out,
              struct mall_fields *f)
{
	const struct yx_json *v = yx_json_get(obj, key);

	*out = NULL;
	*present = v != NULL;
	if (v == NULL || yx_json_is_null(v))
		return;
	if (!yx_json_is_string(v) || !mall_url_valid(v->str)) {
		mall_field_error(f, key, "invalid_url");
		return;
	}
	*out = v->str;
}

void
mall_body_time(const struct yx_json *obj, const char *key, bool *present, const char **out,
               struct mall_fields *f)
{
	const struct yx_json *v = yx_json_get(obj, key);

	*out = NULL;
	*present = v != NULL;
	if (v == NULL || yx_json_is_null(v))
		return;
	if (!yx_json_is_string(v) || !mall_time_valid(v->str)) {
		mall_field_error(f, key, "invalid_time");
		return;
	}
	*out = v->str;
}

void
mall_body_bool(const struct yx_json *obj, const char *key, bool *present, bool *out,
               struct mall_fields *f)
{
	const struct yx_json *v = yx_json_get(obj, key);

	*present = v != NULL;
	if (v != NULL && !yx_json_bool(v, out))
		mall_field_error(f, key, "invalid");
}

int
mall_reply_invalid(struct http_request *req, const struct mall_fields *f)
{
	return yx_reply_problem_fields(req, "validation_failed", NULL, f->e, f->n);
}

static const char *const page_params[] = {"limit", "cursor", NULL};

bool
mall_page_args_or_reply(struct http_request *req, const char *const *allowed,
                        struct mall_page_args *a)
{
	struct mall_fields f = {.n = 0};
	char buf[YX_CURSOR_MAX];
	struct yx_cursor c;
	size_t i, v = 0;
	int rc;

	memset(a, 0, sizeof(*a));
	a->limit = MALL_PAGE_DEFAULT;
	if (!yx_query_only(req, allowed, page_params))
		mall_field_error(&f, "query", "unknown");
	rc = yx_query_get(req, "limit", buf, sizeof(buf));
	if (rc == -1) {
		mall_field_error(&f, "limit", "invalid");
	} else if (rc == 1) {
		for (i = 0; i < 4 && buf[i] >= '0' && buf[i] <= '9'; i++)
			v = v * 10 + (size_t)(buf[i] - '0');
		if (i == 0 || buf[i] != '\0' || v < 1 || v > MALL_PAGE_MAX)
			mall_field_error(&f, "limit", "out_of_range");
		else
			a->limit = v;
	}
	if (f.n > 0) {
		mall_reply_invalid(req, &f);
		return false;
	}
	snprintf(a->limit_text, sizeof(a->limit_text), "%zu", a->limit);
	snprintf(a->limit_plus_one, sizeof(a->limit_plus_one), "%zu", a->limit + 1);
	rc = yx_query_get(req, "cursor", buf, sizeof(buf));
	if (rc == 1) {
		if (yx_cursor_decode(yx_app.cursor_key, buf, strlen(buf), &c) == -1 || c.id <= 0 ||
		    c.key != c.id) {
			yx_reply_problem(req, "invalid_cursor", NULL);
			return false;
		}
		snprintf(a->after, sizeof(a->after), "%lld", (long long)c.id);
	} else if (rc == -1) {
		yx_reply_problem(req, "invalid_cursor", NULL);
		return false;
	}
	return true;
}

char *
mall_page_body(const struct mall_page *p, size_t *len)
{
	char cur[YX_CURSOR_MAX];
	struct yx_cursor c;
	struct yx_jw w;
	size_t i;

	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_key(&w, "items");
	yx_jw_arr_open(&w);
	for (i = 0; i < p->n; i++)
		yx_jw_raw(&w, p->items[i], strlen(p->items[i]));
	yx_jw_arr_close(&w);
	yx_jw_key(&w, "next_cursor");
	if (p->more) {
		c.key = p->last_id;
		c.id = p->last_id;
		if (yx_cursor_encode(yx_app.cursor_key, &c, cur, sizeof(cur)) == -1) {
			yx_jw_free(&w);
			return NULL;
		}
		yx_jw_str(&w, cur);
	} else {
		yx_jw_null(&w);
	}
	yx_jw_obj_close(&w);
	return yx_jw_finish(&w, len);
}

int
mall_reply_page(struct http_request *req, const struct mall_page *p)
{
	size_t len;
	char *body;

	if ((body = mall_page_body(p, &len)) == NULL) {
		yx_log(YX_LOG_ERROR, yx_req(req)->request_id, "reply", "cannot build a page");
		return yx_reply_problem(req, "internal_error", NULL);
	}
	yx_reply_json(req, 200, body, len);
	free(body);
	return KORE_RESULT_OK;
}

int
mall_reply_outcome(struct http_request *req, int status, const struct mall_outcome *o)
{
	if (o->error != NULL)
		return yx_reply_problem(req, o->error, NULL);
	if (o->replayed)
		http_response_header(req, "idempotent-replayed", "true");
	return yx_reply_json(req, status, o->reply, strlen(o->reply));
}

char *
mall_body_json_text(const struct yx_json *body)
{
	struct yx_jw w;

	yx_jw_init(&w);
	yx_jw_value(&w, body);
	return yx_jw_finish(&w, NULL);
}

bool
mall_staff_scopes_or_reply(struct http_request *req, char *scopes, size_t cap)
{
	if (mall_staff_scopes(yx_req(req)->id.roles, scopes, cap) > 0)
		return true;
	yx_reply_problem(req, "not_in_scope", NULL);
	return false;
}
