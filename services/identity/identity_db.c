/*
 * identity_db.c - the SQL of the identity service and the mapping of its
 * rows into plain structs.
 */
#include <stdio.h>
#include <string.h>

#include "identity_db.h"

#define USER_COLUMNS                                                                               \
	"id::text, display_name, coalesce(avatar_url, ''), phone_enc, phone_masked, status, "      \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const struct yx_db_stmt user_get = {
    "user_get",
    "SELECT " USER_COLUMNS " FROM users WHERE id = $1::bigint AND status = 'active'",
    1,
};

static const struct yx_db_stmt *const statements[] = {
    &user_get,
};

int
identity_db_register(void)
{
	return yx_db_register(statements, sizeof(statements) / sizeof(statements[0]));
}

enum yx_db_rc
identity_db_user_get(struct http_request *req, const char *user_id, PGresult **res)
{
	const char *params[1] = {user_id};

	return yx_db_exec(req, &user_get, params, res);
}

static void
copy_col(PGresult *res, int col, char *dst, size_t cap)
{
	snprintf(dst, cap, "%s", PQgetvalue(res, 0, col));
}

int
identity_db_user_row(PGresult *res, struct identity_user *u)
{
	if (res == NULL || PQntuples(res) < 1 || PQnfields(res) < 7)
		return -1;
	copy_col(res, 0, u->id, sizeof(u->id));
	copy_col(res, 1, u->display_name, sizeof(u->display_name));
	copy_col(res, 2, u->avatar_url, sizeof(u->avatar_url));
	copy_col(res, 3, u->phone_enc, sizeof(u->phone_enc));
	copy_col(res, 4, u->phone_masked, sizeof(u->phone_masked));
	copy_col(res, 5, u->status, sizeof(u->status));
	copy_col(res, 6, u->created_at, sizeof(u->created_at));
	return 0;
}
