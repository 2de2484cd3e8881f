/*
 * residence.c - handlers of residence requests, see residence.h. Scope and
 * state rules live in the SQL functions (sql/0003_people.sql).
 */
#include "identity_db_people.h"
#include "people_http.h"
#include "residence.h"
#include "yx_db.h"
#include "yx_http.h"

#define UNIT_MAX_CHARS 20
#define ROOM_MAX_CHARS 20

/* POST: {"building_id","unit","room"} -> 201 the pending request. */
static int
residence_create(struct http_request *req)
{
	static const char *const keys[] = {"building_id", "unit", "room", NULL};
	struct identity_field_errors fe = {.n = 0};
	const char *building, *unit, *room;
	const struct yx_json *body;
	PGresult *res;

	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if ((body = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	identity_check_keys(body, keys, &fe);
	identity_id_field(body, "building_id", true, &building, &fe);
	identity_text_field(body, "unit", true, UNIT_MAX_CHARS, false, &unit, &fe);
	identity_text_field(body, "room", true, ROOM_MAX_CHARS, false, &room, &fe);
	if (fe.n > 0)
		return identity_reply_invalid(req, &fe);

	switch (
	    identity_db_residence_create(req, yx_req(req)->id.user, building, unit, room, &res)) {
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
identity_me_residence(struct http_request *req)
{
	if (req->method == HTTP_METHOD_GET)
		return identity_people_list_mine(req, IDENTITY_LIST_RESIDENCE_MINE);
	if (req->method == HTTP_METHOD_POST)
		return residence_create(req);
	return yx_reply_problem(req, "method_not_allowed", NULL);
}

int
identity_admin_residence_requests(struct http_request *req)
{
	return identity_people_list_staff(req, IDENTITY_LIST_RESIDENCE_STAFF);
}

int
identity_admin_residence_decide(struct http_request *req)
{
	return identity_people_decide(req, IDENTITY_DECIDE_RESIDENCE,
	                              "/api/v1/admin/residence-requests/");
}
