/*
 * sessions.c - GET /api/v1/me/sessions and DELETE /api/v1/me/sessions/{id}
 * (see sessions.h). A session here is a login's refresh-token family, named
 * by the id access tokens carry as `sid`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "identity_db_auth.h"
#include "sessions.h"
#include "yx_query.h"
#include "yx_cursor.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_service.h"

#define SESSIONS_PREFIX       "/api/v1/me/sessions/"
#define SESSIONS_PAGE_DEFAULT 20
#define SESSION_ID_LEN        36 /* gen_random_uuid()::text */

/* The list's page, kept by the request until the reply is built. */
struct list_state {
	bool has_after;
	struct yx_cursor after;
	int limit;
	struct identity_session items[IDENTITY_SESSIONS_PAGE_MAX + 1];
	size_t n;
};

/* Reads ?limit= and ?cursor= into st; false after replying. */
static bool
page_or_reply(struct http_request *req, struct list_state *st)
{
	struct yx_field_error fe = {"limit", "invalid"};
	char v[YX_CURSOR_MAX];
	char *end;
	long n;
	int rc;

	st->limit = SESSIONS_PAGE_DEFAULT;
	if ((rc = yx_query_get(req, "limit", v, sizeof(v))) == 1) {
		n = strtol(v, &end, 10);
		if (v[0] < '0' || v[0] > '9' || *end != '\0' || n < 1 ||
		    n > IDENTITY_SESSIONS_PAGE_MAX)
			rc = -1;
		else
			st->limit = (int)n;
	}
	if (rc == -1) {
		yx_reply_problem_fields(req, "validation_failed", NULL, &fe, 1);
		return false;
	}
	if ((rc = yx_query_get(req, "cursor", v, sizeof(v))) == 1 &&
	    yx_cursor_decode(yx_app.cursor_key, v, strlen(v), &st->after) == 0) {
		st->has_after = true;
	} else if (rc != 0) {
		yx_reply_problem(req, "invalid_cursor", NULL);
		return false;
	}
	return true;
}

static void
session_json(struct yx_jw *w, const struct identity_session *s, const char *current)
{
	yx_jw_obj_open(w);
	yx_jw_kv_str(w, "id", s->id);
	yx_jw_kv_str(w, "login_method", s->login_method);
	yx_jw_kv_str(w, "created_at", s->login_at);
	yx_jw_kv_str(w, "last_used_at", s->last_used_at);
	yx_jw_kv_str(w, "expires_at", s->expires_at);
	yx_jw_kv_str(w, "user_agent", s->user_agent);
	yx_jw_kv_str(w, "client_ip", s->client_ip[0] != '\0' ? s->client_ip : NULL);
	yx_jw_kv_bool(w, "current", strcmp(s->id, current) == 0);
	yx_jw_obj_close(w);
}

int
identity_sessions_list(struct http_request *req)
{
	struct yx_req *r = yx_req(req);
	struct list_state *st = r->svc;
	struct yx_cursor next;
	char cursor[YX_CURSOR_MAX];
	struct yx_jw w;
	size_t i, shown;

	if (st == NULL) {
		if (req->method != HTTP_METHOD_GET)
			return yx_reply_problem(req, "method_not_allowed", NULL);
		if (!yx_require_user_or_reply(req))
			return KORE_RESULT_OK;
		if ((st = calloc(1, sizeof(*st))) == NULL)
			fatal("out of memory");
		r->svc = st;
		r->svc_free = free;
		if (!page_or_reply(req, st))
			return KORE_RESULT_OK;
	}
	/* One row more than the page tells whether another page follows. */
	switch (identity_db_sessions_list(req, r->id.user, st->has_after, st->after.key,
	                                  st->after.id, st->limit + 1, st->items, &st->n)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}

	shown = st->n > (size_t)st->limit ? (size_t)st->limit : st->n;
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_key(&w, "items");
	yx_jw_arr_open(&w);
	for (i = 0; i < shown; i++)
		session_json(&w, &st->items[i], r->id.session);
	yx_jw_arr_close(&w);
	if (st->n > shown) {
		next.key = st->items[shown - 1].login_us;
		next.id = st->items[shown - 1].family_seq;
		if (yx_cursor_encode(yx_app.cursor_key, &next, cursor, sizeof(cursor)) == -1) {
			yx_jw_free(&w);
			return yx_reply_problem(req, "internal_error", NULL);
		}
		yx_jw_kv_str(&w, "next_cursor", cursor);
	} else {
		yx_jw_kv_str(&w, "next_cursor", NULL);
	}
	yx_jw_obj_close(&w);
	return yx_reply_jw(req, 200, &w);
}

/* The handler state of a DELETE in progress: nothing but "started". */
static int delete_started;

/* True for the text form of a UUID in lowercase, as the database makes them. */
static bool
session_id_valid(const char *s)
{
	size_t i;

	if (strlen(s) != SESSION_ID_LEN)
		return false;
	for (i = 0; i < SESSION_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

int
identity_session_delete(struct http_request *req)
{
	struct yx_req *r = yx_req(req);
	const char *id;

	if (r->svc == NULL) {
		if (req->method != HTTP_METHOD_DELETE)
			return yx_reply_problem(req, "method_not_allowed", NULL);
		if (!yx_require_user_or_reply(req))
			return KORE_RESULT_OK;
		if (strncmp(req->path, SESSIONS_PREFIX, strlen(SESSIONS_PREFIX)) != 0 ||
		    !session_id_valid(req->path + strlen(SESSIONS_PREFIX)))
			return yx_reply_problem(req, "not_found", NULL);
		/* Marks the request as started; the id is read from the path again. */
		r->svc = &delete_started;
	}
	id = req->path + strlen(SESSIONS_PREFIX);
	switch (identity_db_session_revoke(req, r->id.user, id, "deleted")) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		r->svc = NULL;
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	r->svc = NULL;
	/* The revocation is committed; a retry of the DELETE publishes it again. */
	if (identity_publish_revoked(id) == -1) {
		http_response_header(req, "retry-after", "1");
		return yx_reply_problem(req, "service_unavailable", NULL);
	}
	yx_log(YX_LOG_INFO, r->request_id, "session_deleted", "user %s session %s", r->id.user, id);
	return yx_reply_empty(req, 204);
}
