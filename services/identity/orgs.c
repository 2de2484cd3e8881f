/*
 * orgs.c - handlers of the org tree, see orgs.h. Reading is open to every
 * signed-in user; creating and editing are checked in SQL against the
 * caller's current roles and the node's path (sql/0003_people.sql).
 */
#include <string.h>

#include "identity_db_people.h"
#include "orgs.h"
#include "people_http.h"
#include "yx_db.h"
#include "yx_http.h"

#define ORG_NAME_MAX_CHARS 100
#define ORGS_PREFIX        "/api/v1/orgs/"

static int
org_create(struct http_request *req)
{
	static const char *const keys[] = {"parent_id", "name", NULL};
	struct identity_field_errors fe = {.n = 0};
	const struct yx_json *body;
	const char *parent, *name;
	PGresult *res;

	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if ((body = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	identity_check_keys(body, keys, &fe);
	identity_id_field(body, "parent_id", true, &parent, &fe);
	identity_text_field(body, "name", true, ORG_NAME_MAX_CHARS, false, &name, &fe);
	if (fe.n > 0)
		return identity_reply_invalid(req, &fe);

	switch (identity_db_org_create(req, yx_req(req)->id.user, parent, name, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return identity_reply_change(req, 201, res);
}

int
identity_orgs(struct http_request *req)
{
	if (req->method != HTTP_METHOD_POST)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	return org_create(req);
}

static int
org_get(struct http_request *req, const char *id)
{
	PGresult *res;

	switch (identity_db_org_get(req, id, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return identity_reply_change(req, 200, res);
}

/* PATCH {"name"?, "volunteer_needs_approval"?}: at least one of them. */
static int
org_update(struct http_request *req, const char *id)
{
	static const char *const keys[] = {"name", "volunteer_needs_approval", NULL};
	struct identity_field_errors fe = {.n = 0};
	const struct yx_json *body, *v;
	const char *name, *vna = NULL;
	PGresult *res;
	bool b;

	if ((body = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	identity_check_keys(body, keys, &fe);
	identity_text_field(body, "name", false, ORG_NAME_MAX_CHARS, false, &name, &fe);
	if ((v = yx_json_get(body, "volunteer_needs_approval")) != NULL) {
		if (yx_json_bool(v, &b))
			vna = b ? "true" : "false";
		else
			identity_field_error(&fe, "volunteer_needs_approval", "type");
	}
	if (fe.n == 0 && name == NULL && vna == NULL)
		identity_field_error(&fe, "body", "empty");
	if (fe.n > 0)
		return identity_reply_invalid(req, &fe);

	switch (identity_db_org_update(req, yx_req(req)->id.user, id, name, vna, &res)) {
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
identity_org(struct http_request *req)
{
	char id[IDENTITY_ID_MAX + 1];
	const char *rest;

	if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_PATCH)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!identity_path_id(req->path, ORGS_PREFIX, id, &rest) || *rest != '\0')
		return yx_reply_problem(req, "org_not_found", NULL);
	if (req->method == HTTP_METHOD_GET)
		return org_get(req, id);
	return org_update(req, id);
}

int
identity_org_children(struct http_request *req)
{
	char id[IDENTITY_ID_MAX + 1];
	const char *rest;

	if (req->method != HTTP_METHOD_GET)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!identity_path_id(req->path, ORGS_PREFIX, id, &rest) || strcmp(rest, "/children") != 0)
		return yx_reply_problem(req, "org_not_found", NULL);
	return identity_people_list(req, IDENTITY_LIST_ORG_CHILDREN, id, NULL);
}
