/*
 * activities_db.c - the SQL of volunteer activities and the mapping of its
 * rows into plain structs (see activities_db.h). Every change is one SQL
 * function of 0003_activities.sql, called as one statement, that returns
 * its refusals as an error code rather than failing (0001_ledger.sql says
 * why).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activities_db.h"
#include "yx_http.h"
#include "yx_log.h"

static const struct yx_db_stmt st_create = {
    "act_create",
    "SELECT r_error, r_replayed, r_reply::text"
    " FROM activity_create($1, $2, $3::bigint, $4::bigint, $5::jsonb)",
    5,
};

static const struct yx_db_stmt st_get = {
    "act_get",
    "SELECT activity_json(a)::text, a.community::text, a.state FROM activities a"
    " WHERE a.id = $1::bigint",
    1,
};

static const struct yx_db_stmt st_update = {
    "act_update",
    "SELECT r_error, false, r_reply::text"
    " FROM activity_update($1::bigint, $2::bigint[], $3::bigint, $4::jsonb)",
    4,
};

static const struct yx_db_stmt st_cancel = {
    "act_cancel",
    "SELECT r_error, false, r_reply::text"
    " FROM activity_cancel($1::bigint, $2::bigint[], $3::bigint, $4)",
    4,
};

static const struct yx_db_stmt st_signup = {
    "act_signup",
    "SELECT r_error, false, r_reply::text"
    " FROM activity_signup($1::bigint, $2::bigint[], $3::bigint[], $4::bigint)",
    4,
};

static const struct yx_db_stmt st_withdraw = {
    "act_withdraw",
    "SELECT r_error, false, r_reply::text FROM activity_withdraw($1::bigint, $2::bigint)",
    2,
};

static const struct yx_db_stmt st_check = {
    "act_check",
    "SELECT r_error, false, r_reply::text"
    " FROM activity_check($1::bigint, $2::bigint, $3, $4::interval, $5::interval)",
    5,
};

static const struct yx_db_stmt st_confirm = {
    "act_confirm",
    "SELECT r_error, r_replayed, r_reply::text, r_community::text, r_points, r_month, r_year"
    " FROM activity_confirm($1, $2, $3::bigint, $4::bigint[], $5::bigint, $6::bigint,"
    " $7::numeric)",
    7,
};

/*
 * By start time, then id; a page continues after the activity whose id the
 * cursor holds, wherever that activity starts now.
 */
static const struct yx_db_stmt st_page = {
    "act_page",
    "SELECT a.id, activity_json(a)::text FROM activities a"
    " WHERE a.community = $1::bigint AND a.ends_at > coalesce($2::timestamptz, now())"
    " AND ($3::bigint IS NULL OR (a.starts_at, a.id) >"
    "  (SELECT b.starts_at, b.id FROM activities b WHERE b.id = $3::bigint))"
    " ORDER BY a.starts_at, a.id LIMIT $4::int",
    4,
};

static const struct yx_db_stmt st_signups_page = {
    "act_signups_page",
    "SELECT r_error, r_id, r_json::text"
    " FROM activity_signups_page($1::bigint[], $2::bigint, $3::bigint, $4::int)",
    4,
};

static const struct yx_db_stmt st_mine_page = {
    "act_mine_page",
    "SELECT s.id, (activity_signup_json(s)"
    " || jsonb_build_object('activity', activity_json(a)))::text"
    " FROM activity_signups s JOIN activities a ON a.id = s.activity_id"
    " WHERE s.user_id = $1::bigint AND ($2::bigint IS NULL OR s.id < $2::bigint)"
    " ORDER BY s.id DESC LIMIT $3::int",
    3,
};

static const struct yx_db_stmt *const statements[] = {
    &st_create, &st_get,     &st_update, &st_cancel,       &st_signup,    &st_withdraw,
    &st_check,  &st_confirm, &st_page,   &st_signups_page, &st_mine_page,
};

int
activities_db_register(void)
{
	return yx_db_register(statements, sizeof(statements) / sizeof(statements[0]));
}

/* A result of the wrong shape is a bug between this file and the SQL. */
static enum yx_db_rc
malformed(struct http_request *req, const char *what)
{
	yx_log(YX_LOG_ERROR, yx_req(req)->request_id, "db", "malformed result of %s", what);
	return YX_DB_FAILED;
}

/*
 * Every change answers (error, replayed, reply): a refusal names its error
 * code and nothing else; otherwise reply is the response body.
 */
static enum yx_db_rc
change(struct http_request *req, const struct yx_db_stmt *st, const char *const *p,
       struct activity_reply *out)
{
	enum yx_db_rc rc;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if ((rc = yx_db_exec(req, st, p, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQntuples(res) != 1 || PQnfields(res) != 3)
		return malformed(req, st->name);
	if (!PQgetisnull(res, 0, 0)) {
		out->error = PQgetvalue(res, 0, 0);
		return YX_DB_OK;
	}
	if (PQgetisnull(res, 0, 2))
		return malformed(req, st->name);
	out->replayed = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	out->json = PQgetvalue(res, 0, 2);
	return YX_DB_OK;
}

enum yx_db_rc
activities_db_create(struct http_request *req, const char *const p[5], struct activity_reply *out)
{
	return change(req, &st_create, p, out);
}

enum yx_db_rc
activities_db_get(struct http_request *req, const char *activity, struct activity_view *out)
{
	const char *p[1] = {activity};
	enum yx_db_rc rc;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if ((rc = yx_db_exec(req, &st_get, p, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQnfields(res) != 3)
		return malformed(req, st_get.name);
	if (PQntuples(res) == 1) {
		out->json = PQgetvalue(res, 0, 0);
		out->community = PQgetvalue(res, 0, 1);
		out->state = PQgetvalue(res, 0, 2);
	}
	return YX_DB_OK;
}

enum yx_db_rc
activities_db_update(struct http_request *req, const char *const p[4], struct activity_reply *out)
{
	return change(req, &st_update, p, out);
}

enum yx_db_rc
activities_db_cancel(struct http_request *req, const char *const p[4], struct activity_reply *out)
{
	return change(req, &st_cancel, p, out);
}

enum yx_db_rc
activities_db_signup(struct http_request *req, const char *const p[4], struct activity_reply *out)
{
	return change(req, &st_signup, p, out);
}

enum yx_db_rc
activities_db_withdraw(struct http_request *req, const char *const p[2], struct activity_reply *out)
{
	return change(req, &st_withdraw, p, out);
}

enum yx_db_rc
activities_db_check(struct http_request *req, const char *const p[5], struct activity_reply *out)
{
	return change(req, &st_check, p, out);
}

static void
copy_text(PGresult *res, int row, int col, char *dst, size_t cap)
{
	if (PQgetisnull(res, row, col))
		dst[0] = '\0';
	else
		snprintf(dst, cap, "%s", PQgetvalue(res, row, col));
}

enum yx_db_rc
activities_db_confirm(struct http_request *req, const char *const p[7],
                      struct activity_confirmed *out)
{
	enum yx_db_rc rc;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if ((rc = yx_db_exec(req, &st_confirm, p, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQntuples(res) != 1 || PQnfields(res) != 7)
		return malformed(req, st_confirm.name);
	if (!PQgetisnull(res, 0, 0)) {
		out->error = PQgetvalue(res, 0, 0);
		return YX_DB_OK;
	}
	if (PQgetisnull(res, 0, 2))
		return malformed(req, st_confirm.name);
	out->replayed = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	out->json = PQgetvalue(res, 0, 2);
	if (out->replayed)
		return YX_DB_OK;
	copy_text(res, 0, 3, out->community, sizeof(out->community));
	out->points = PQgetisnull(res, 0, 4) ? 0 : strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	copy_text(res, 0, 5, out->month, sizeof(out->month));
	copy_text(res, 0, 6, out->year, sizeof(out->year));
	return YX_DB_OK;
}

/*
 * Rows of (id, json), up to limit + 1 of them, into a page. With error
 * (not NULL), rows are (error, id, json) and a first row naming an error is
 * a refusal, put in *error.
 */
static enum yx_db_rc
page(struct http_request *req, const struct yx_db_stmt *st, const char *const *p, size_t limit,
     struct mall_page *out, const char **error)
{
	enum yx_db_rc rc;
	PGresult *res;
	size_t i, rows;
	int c = error != NULL ? 1 : 0;

	memset(out, 0, sizeof(*out));
	if (error != NULL)
		*error = NULL;
	if ((rc = yx_db_exec(req, st, p, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQnfields(res) != 2 + c || limit > MALL_PAGE_MAX)
		return malformed(req, st->name);
	rows = (size_t)PQntuples(res);
	if (error != NULL && rows > 0 && !PQgetisnull(res, 0, 0)) {
		*error = PQgetvalue(res, 0, 0);
		return YX_DB_OK;
	}
	out->more = rows > limit;
	out->n = out->more ? limit : rows;
	for (i = 0; i < out->n; i++)
		out->items[i] = PQgetvalue(res, (int)i, c + 1);
	if (out->n > 0)
		out->last_id = strtoll(PQgetvalue(res, (int)out->n - 1, c), NULL, 10);
	return YX_DB_OK;
}

enum yx_db_rc
activities_db_page(struct http_request *req, const char *community, const char *from,
                   const char *after, const char *limit_plus_one, size_t limit,
                   struct mall_page *out)
{
	const char *p[4] = {community, from, after, limit_plus_one};

	return page(req, &st_page, p, limit, out, NULL);
}

enum yx_db_rc
activities_db_signups_page(struct http_request *req, const char *scopes, const char *activity,
                           const char *after, const char *limit_plus_one, size_t limit,
                           struct mall_page *out, const char **error)
{
	const char *p[4] = {scopes, activity, after, limit_plus_one};

	return page(req, &st_signups_page, p, limit, out, error);
}

enum yx_db_rc
activities_db_mine_page(struct http_request *req, const char *user, const char *after,
                        const char *limit_plus_one, size_t limit, struct mall_page *out)
{
	const char *p[3] = {user, after, limit_plus_one};

	return page(req, &st_mine_page, p, limit, out, NULL);
}
