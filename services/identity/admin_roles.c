/*
 * admin_roles.c - handlers of user lookup and role grants by staff, see
 * admin_roles.h. The handlers check the input; whether the caller may do it
 * is decided in SQL against current roles, never against the token's.
 */
#include <string.h>

#include "yx_query.h"
#include "admin_roles.h"
#include "identity_db_people.h"
#include "people_http.h"
#include "users.h"
#include "yx_db.h"
#include "yx_http.h"

#define USERS_PREFIX "/api/v1/admin/users/"

/* Roles a request may name; which of them a caller may grant is SQL's call. */
static bool
role_known(const char *role)
{
	static const char *const roles[] = {
	    "resident",
	    "verified_resident",
	    "volunteer",
	    "party_member",
	    "building_head",
	    "grid_worker",
	    "community_staff",
	    "community_secretary",
	    "street_admin",
	    "district_admin",
	    NULL,
	};
	size_t i;

	for (i = 0; roles[i] != NULL; i++) {
		if (strcmp(roles[i], role) == 0)
			return true;
	}
	return false;
}

int
identity_admin_user(struct http_request *req)
{
	struct identity_user u;
	char id[IDENTITY_ID_MAX + 1];
	const char *rest;
	PGresult *res;
	struct yx_jw w;

	if (req->method != HTTP_METHOD_GET)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!identity_path_id(req->path, USERS_PREFIX, id, &rest) || *rest != '\0')
		return yx_reply_problem(req, "user_not_found", NULL);

	switch (identity_db_admin_user_get(req, yx_req(req)->id.user, id, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (identity_db_user_row(res, &u) == -1)
		return yx_reply_problem(req, "user_not_found", NULL);
	yx_jw_init(&w);
	/* Never the owner here, so the phone is masked even for oneself. */
	identity_user_json(&w, &u, identity_db_admin_user_roles(res), false);
	return yx_reply_jw(req, 200, &w);
}

static int
role_grant(struct http_request *req, const char *user)
{
	static const char *const keys[] = {"role", "org_id", NULL};
	struct identity_field_errors fe = {.n = 0};
	const struct yx_json *body;
	const char *role, *org;
	PGresult *res;

	if ((body = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	identity_check_keys(body, keys, &fe);
	identity_text_field(body, "role", true, 32, false, &role, &fe);
	if (role != NULL && !role_known(role))
		identity_field_error(&fe, "role", "invalid");
	identity_id_field(body, "org_id", true, &org, &fe);
	if (fe.n > 0)
		return identity_reply_invalid(req, &fe);

	switch (identity_db_role_grant(req, yx_req(req)->id.user, user, role, org, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return identity_reply_change(req, 0, res);
}

static int
role_revoke(struct http_request *req, const char *user)
{
	struct identity_field_errors fe = {.n = 0};
	char role[32], org[IDENTITY_ID_MAX + 2];
	PGresult *res;
	int rc;

	rc = yx_query_get(req, "role", role, sizeof(role));
	if (rc == 0)
		identity_field_error(&fe, "role", "required");
	else if (rc == -1 || !role_known(role))
		identity_field_error(&fe, "role", "invalid");
	rc = yx_query_get(req, "org_id", org, sizeof(org));
	if (rc == 0)
		identity_field_error(&fe, "org_id", "required");
	else if (rc == -1 || !identity_id_valid(org))
		identity_field_error(&fe, "org_id", "invalid_id");
	if (fe.n > 0)
		return identity_reply_invalid(req, &fe);

	switch (identity_db_role_revoke(req, yx_req(req)->id.user, user, role, org, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return identity_reply_change(req, 200, res);
}

int
identity_admin_user_roles(struct http_request *req)
{
	char id[IDENTITY_ID_MAX + 1];
	const char *rest;

	if (req->method != HTTP_METHOD_POST && req->method != HTTP_METHOD_DELETE)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!identity_path_id(req->path, USERS_PREFIX, id, &rest) || strcmp(rest, "/roles") != 0)
		return yx_reply_problem(req, "user_not_found", NULL);
	if (req->method == HTTP_METHOD_POST)
		return role_grant(req, id);
	return role_revoke(req, id);
}
