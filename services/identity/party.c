/*
 * party.c - handlers of party-membership requests, see party.h. Scope and
 * state rules live in the SQL functions (sql/0003_people.sql).
 */
#include "identity_db_people.h"
#include "party.h"
#include "people_http.h"
#include "yx_db.h"
#include "yx_http.h"

#define ORGANIZATION_MAX_CHARS 100
#define WORKPLACE_MAX_CHARS    100

/* POST: {"organization","workplace","home_community_id"} -> 201 the pending request. */
static int
party_create(struct http_request *req)
{
	static const char *const keys[] = {"organization", "workplace", "home_community_id", NULL};
	struct identity_field_errors fe = {.n = 0};
	const char *organization, *workplace, *community;
	const struct yx_json *body;
	PGresult *res;

	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if ((body = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	identity_check_keys(body, keys, &fe);
	identity_text_field(body, "organization", true, ORGANIZATION_MAX_CHARS, false,
	                    &organization, &fe);
	identity_text_field(body, "workplace", true, WORKPLACE_MAX_CHARS, false, &workplace, &fe);
	identity_id_field(body, "home_community_id", true, &community, &fe);
	if (fe.n > 0)
		return identity_reply_invalid(req, &fe);

	switch (identity_db_party_create(req, yx_req(req)->id.user, organization, workplace,
	                                 community, &res)) {
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
identity_me_party(struct http_request *req)
{
	if (req->method == HTTP_METHOD_GET)
		return identity_people_list_mine(req, IDENTITY_LIST_PARTY_MINE);
	if (req->method == HTTP_METHOD_POST)
		return party_create(req);
	return yx_reply_problem(req, "method_not_allowed", NULL);
}

int
identity_admin_party_requests(struct http_request *req)
{
	return identity_people_list_staff(req, IDENTITY_LIST_PARTY_STAFF);
}

int
identity_admin_party_decide(struct http_request *req)
{
	return identity_people_decide(req, IDENTITY_DECIDE_PARTY,
	                              "/api/v1/admin/party-membership-requests/");
}
