/*
 * me.c - the signed-in user's own account: GET /api/v1/me.
 */
#include <stdlib.h>
#include <string.h>

#include "identity_db.h"
#include "me.h"
#include "users.h"
#include "yx_db.h"
#include "yx_http.h"

int
identity_me(struct http_request *req)
{
	struct yx_req *r = yx_req(req);
	struct identity_user u;
	PGresult *res;
	struct yx_jw w;

	if (req->method != HTTP_METHOD_GET)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;

	switch (identity_db_user_get(req, r->id.user, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (identity_db_user_row(res, &u) == -1)
		return yx_reply_problem(req, "unauthorized", "账号不存在或已停用");

	yx_jw_init(&w);
	identity_user_json(&w, &u, r->id.roles, true);
	return yx_reply_jw(req, 200, &w);
}
