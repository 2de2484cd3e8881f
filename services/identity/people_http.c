/*
 * people_http.c - the request helpers of identity's people handlers, see
 * people_http.h. Everything here works on the request's own memory: values
 * parsed from the query string are copied into caller buffers, JSON texts
 * from results stay in the request's PGresult.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "people_http.h"
#include "yx_query.h"
#include "yx_config.h"
#include "yx_cursor.h"
#include "yx_db.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_redis.h"
#include "yx_service.h"

#define NOTE_MAX_CHARS 200

static long long card_ttl = 86400;

int
identity_card_configure(void)
{
	return yx_config_int("YX_IDENTITY_CARD_TTL", 86400, 60, 31536000, &card_ttl);
}

bool
identity_id_valid(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= IDENTITY_ID_MAX)
			return false;
	}
	return n > 0;
}

bool
identity_path_id(const char *path, const char *prefix, char *id, const char **rest)
{
	size_t plen = strlen(prefix), n = 0;
	const char *p;

	if (strncmp(path, prefix, plen) != 0)
		return false;
	p = path + plen;
	while (p[n] >= '0' && p[n] <= '9') {
		if (n >= IDENTITY_ID_MAX)
			return false;
		id[n] = p[n];
		n++;
	}
	if (n == 0 || (p[n] != '\0' && p[n] != '/'))
		return false;
	id[n] = '\0';
	*rest = p + n;
	return true;
}

bool
identity_page_args_or_reply(struct http_request *req, struct identity_page_args *a,
                            const char *status_default)
{
	static const char *const with_status[] = {"limit", "cursor", "status", NULL};
	static const char *const without_status[] = {"limit", "cursor", NULL};
	struct identity_field_errors fe = {.n = 0};
	char buf[YX_CURSOR_MAX];
	struct yx_cursor c;
	int rc;
	size_t i;

	memset(a, 0, sizeof(*a));
	a->limit = IDENTITY_PAGE_DEFAULT;
	if (!yx_query_only(req, status_default ? with_status : without_status, NULL))
		identity_field_error(&fe, "query", "unknown");

	rc = yx_query_get(req, "limit", buf, sizeof(buf));
	if (rc == -1) {
		identity_field_error(&fe, "limit", "invalid");
	} else if (rc == 1) {
		size_t v = 0;

		for (i = 0; i < 4 && buf[i] != '\0'; i++) {
			if (buf[i] < '0' || buf[i] > '9')
				break;
			v = v * 10 + (size_t)(buf[i] - '0');
		}
		if (i == 0 || buf[i] != '\0' || v < 1 || v > IDENTITY_PAGE_MAX)
			identity_field_error(&fe, "limit", "out_of_range");
		else
			a->limit = v;
	}
	snprintf(a->limit_plus_one, sizeof(a->limit_plus_one), "%zu", a->limit + 1);

	if (status_default != NULL) {
		rc = yx_query_get(req, "status", a->status, sizeof(a->status));
		if (rc == 0)
			snprintf(a->status, sizeof(a->status), "%s", status_default);
		else if (rc == -1 ||
		         (strcmp(a->status, "pending") != 0 && strcmp(a->status, "approved") != 0 &&
		          strcmp(a->status, "rejected") != 0))
			identity_field_error(&fe, "status", "invalid");
	}
	if (fe.n > 0) {
		identity_reply_invalid(req, &fe);
		return false;
	}

	rc = yx_query_get(req, "cursor", buf, sizeof(buf));
	if (rc == 1) {
		if (yx_cursor_decode(yx_app.cursor_key, buf, strlen(buf), &c) == -1 || c.id <= 0 ||
		    c.key != c.id) {
			yx_reply_problem(req, "invalid_cursor", NULL);
			return false;
		}
		snprintf(a->cursor, sizeof(a->cursor), "%lld", (long long)c.id);
	} else if (rc == -1) {
		yx_reply_problem(req, "invalid_cursor", NULL);
		return false;
	}
	return true;
}

int
identity_reply_page(struct http_request *req, PGresult *res, size_t limit)
{
	struct identity_page *p;
	struct yx_cursor c;
	char cur[YX_CURSOR_MAX];
	struct yx_jw w;
	size_t i;

	if ((p = malloc(sizeof(*p))) == NULL)
		fatal("out of memory");
	if (identity_db_people_page(res, limit, p) == -1) {
		free(p);
		yx_log(YX_LOG_ERROR, yx_req(req)->request_id, "db", "malformed list result");
		return yx_reply_problem(req, "internal_error", NULL);
	}
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
			free(p);
			yx_jw_free(&w);
			return yx_reply_problem(req, "internal_error", NULL);
		}
		yx_jw_str(&w, cur);
	} else {
		yx_jw_null(&w);
	}
	yx_jw_obj_close(&w);
	free(p);
	return yx_reply_jw(req, 200, &w);
}

void
identity_card_publish(struct http_request *req, const char *card, bool only_if_missing)
{
	struct yx_json_doc *doc = NULL;
	const struct yx_json *id;
	const char *rid = yx_req(req)->request_id;
	char key[64], ttl[24];
	redisReply *reply;
	size_t len;

	if (card == NULL || yx_app.redis == NULL)
		return;
	len = strlen(card);
	if (yx_json_parse(card, len, NULL, &doc, NULL, NULL) == -1) {
		yx_log(YX_LOG_ERROR, rid, "card", "profile card is not JSON");
		return;
	}
	id = yx_json_get(yx_json_root(doc), "id");
	if (!yx_json_is_string(id) || !identity_id_valid(id->str)) {
		yx_json_free(doc);
		yx_log(YX_LOG_ERROR, rid, "card", "profile card without an id");
		return;
	}
	/* pub:* is shared with the other services: no service prefix. */
	snprintf(key, sizeof(key), "pub:user:%s", id->str);
	yx_json_free(doc);
	snprintf(ttl, sizeof(ttl), "%lld", card_ttl);
	if (only_if_missing)
		reply = yx_redis_command(yx_app.redis, "SET %s %b EX %s NX", key, card, len, ttl);
	else
		reply = yx_redis_command(yx_app.redis, "SET %s %b EX %s", key, card, len, ttl);
	if (reply == NULL) {
		yx_log(YX_LOG_WARN, rid, "card", "cannot write %s: %s", key,
		       yx_redis_last_error(yx_app.redis));
		return;
	}
	freeReplyObject(reply);
}

void
identity_field_error(struct identity_field_errors *fe, const char *field, const char *reason)
{
	if (fe->n < sizeof(fe->e) / sizeof(fe->e[0])) {
		fe->e[fe->n].field = field;
		fe->e[fe->n].reason = reason;
		fe->n++;
	}
}

void
identity_check_keys(const struct yx_json *obj, const char *const *allowed,
                    struct identity_field_errors *fe)
{
	const struct yx_json *m;
	size_t i;

	for (m = obj->child; m != NULL; m = m->next) {
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(allowed[i], m->key) == 0)
				break;
		}
		if (allowed[i] == NULL)
			identity_field_error(fe, m->key, "unknown");
	}
}

/* "ok", or why s is not acceptable text of at most max characters. */
static const char *
text_problem(const char *s, size_t len, size_t max)
{
	size_t i = 0, chars = 0, l;
	bool blank = true;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return "invalid";
		if (c != ' ')
			blank = false;
		if ((l = yx_json_utf8_len(s + i, len - i)) == 0)
			return "invalid";
		i += l;
		chars++;
	}
	if (chars == 0 || blank)
		return "blank";
	if (chars > max)
		return "too_long";
	return "ok";
}

bool
identity_text_ok(const char *s, size_t len, size_t max_chars)
{
	return strcmp(text_problem(s, len, max_chars), "ok") == 0;
}

void
identity_text_field(const struct yx_json *obj, const char *key, bool required, size_t max_chars,
                    bool null_ok, const char **out, struct identity_field_errors *fe)
{
	const struct yx_json *v = yx_json_get(obj, key);
	const char *why;

	*out = NULL;
	if (v == NULL || (null_ok && yx_json_is_null(v))) {
		if (required)
			identity_field_error(fe, key, "required");
		return;
	}
	if (!yx_json_is_string(v)) {
		identity_field_error(fe, key, "type");
		return;
	}
	why = text_problem(v->str, v->len, max_chars);
	if (strcmp(why, "ok") != 0) {
		identity_field_error(fe, key, why);
		return;
	}
	*out = v->str;
}

void
identity_id_field(const struct yx_json *obj, const char *key, bool required, const char **out,
                  struct identity_field_errors *fe)
{
	const struct yx_json *v = yx_json_get(obj, key);

	*out = NULL;
	if (v == NULL) {
		if (required)
			identity_field_error(fe, key, "required");
		return;
	}
	if (!yx_json_is_string(v) || !identity_id_valid(v->str)) {
		identity_field_error(fe, key, "invalid_id");
		return;
	}
	*out = v->str;
}

int
identity_reply_invalid(struct http_request *req, const struct identity_field_errors *fe)
{
	return yx_reply_problem_fields(req, "validation_failed", NULL, fe->e, fe->n);
}

int
identity_reply_change(struct http_request *req, int status, PGresult *res)
{
	struct identity_change c;

	if (identity_db_people_change(res, &c) == -1) {
		yx_log(YX_LOG_ERROR, yx_req(req)->request_id, "db", "statement returned no row");
		return yx_reply_problem(req, "internal_error", NULL);
	}
	identity_card_publish(req, c.card, false);
	if (status == 0)
		status = c.created ? 201 : 200;
	return yx_reply_json(req, status, c.body, strlen(c.body));
}

int
identity_people_list(struct http_request *req, enum identity_people_list which, const char *owner,
                     const char *status_default)
{
	struct identity_page_args a;
	PGresult *res;

	if (!identity_page_args_or_reply(req, &a, status_default))
		return KORE_RESULT_OK;
	switch (identity_db_people_list(req, which, owner, status_default ? a.status : NULL,
	                                a.cursor[0] ? a.cursor : NULL, a.limit_plus_one, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return identity_reply_page(req, res, a.limit);
}

int
identity_people_list_mine(struct http_request *req, enum identity_people_list which)
{
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	return identity_people_list(req, which, yx_req(req)->id.user, NULL);
}

int
identity_people_list_staff(struct http_request *req, enum identity_people_list which)
{
	if (req->method != HTTP_METHOD_GET)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	return identity_people_list(req, which, yx_req(req)->id.user, "pending");
}

int
identity_people_decide(struct http_request *req, enum identity_people_decide which,
                       const char *prefix)
{
	static const char *const keys[] = {"note", NULL};
	struct identity_field_errors fe = {.n = 0};
	struct yx_req *r = yx_req(req);
	const struct yx_json *body;
	const char *rest, *decision, *note = NULL;
	char id[IDENTITY_ID_MAX + 1];
	PGresult *res;

	if (req->method != HTTP_METHOD_POST)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!identity_path_id(req->path, prefix, id, &rest))
		return yx_reply_problem(req, "request_not_found", NULL);
	if (strcmp(rest, "/approve") == 0)
		decision = "approve";
	else if (strcmp(rest, "/reject") == 0)
		decision = "reject";
	else
		return yx_reply_problem(req, "route_not_found", NULL);

	/* The body is optional: a note for the applicant. */
	if (req->http_body_length > 0) {
		if ((body = yx_body_object_or_reply(req)) == NULL)
			return KORE_RESULT_OK;
		identity_check_keys(body, keys, &fe);
		identity_text_field(body, "note", false, NOTE_MAX_CHARS, true, &note, &fe);
		if (fe.n > 0)
			return identity_reply_invalid(req, &fe);
	}

	switch (identity_db_people_decide(req, which, id, r->id.user, decision, note, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return identity_reply_change(req, 200, res);
}
