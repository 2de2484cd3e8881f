/*
 * volunteer.c - handlers of volunteer sign-up, see volunteer.h. Whether a
 * sign-up needs approval, and scope rules, live in the SQL functions
 * (sql/0003_people.sql).
 */
#include <string.h>

#include "identity_db_people.h"
#include "people_http.h"
#include "volunteer.h"
#include "yx_db.h"
#include "yx_http.h"

#define SKILLS_MAX      10
#define SKILL_MAX_CHARS 20
/* A text[] literal of SKILLS_MAX quoted skills of 4-byte characters, all escaped. */
#define SKILLS_LITERAL_MAX (SKILLS_MAX * (SKILL_MAX_CHARS * 4 * 2 + 3) + 3)

/*
 * Checks "skills" (1..10 distinct texts of 1..20 characters) and writes them
 * as a PostgreSQL array literal into out (SKILLS_LITERAL_MAX bytes). False
 * when it added a field error.
 */
static bool
skills_literal(const struct yx_json *body, char *out, struct identity_field_errors *fe)
{
	const struct yx_json *arr = yx_json_get(body, "skills"), *s, *t;
	size_t o = 0, i;

	if (arr == NULL) {
		identity_field_error(fe, "skills", "required");
		return false;
	}
	if (!yx_json_is_array(arr)) {
		identity_field_error(fe, "skills", "type");
		return false;
	}
	if (arr->count < 1 || arr->count > SKILLS_MAX) {
		identity_field_error(fe, "skills", "count");
		return false;
	}
	out[o++] = '{';
	for (s = arr->child; s != NULL; s = s->next) {
		if (!yx_json_is_string(s)) {
			identity_field_error(fe, "skills", "type");
			return false;
		}
		if (!identity_text_ok(s->str, s->len, SKILL_MAX_CHARS)) {
			identity_field_error(fe, "skills", "invalid");
			return false;
		}
		for (t = arr->child; t != s; t = t->next) {
			if (strcmp(t->str, s->str) == 0) {
				identity_field_error(fe, "skills", "duplicate");
				return false;
			}
		}
		if (s != arr->child)
			out[o++] = ',';
		out[o++] = '"';
		for (i = 0; i < s->len; i++) {
			if (s->str[i] == '"' || s->str[i] == '\\')
				out[o++] = '\\';
			out[o++] = s->str[i];
		}
		out[o++] = '"';
	}
	out[o++] = '}';
	out[o] = '\0';
	return true;
}

/*
 * POST: {"skills":[...], "community_id"?} -> 201 a new application (approved
 * at once or pending), 200 when only the skills of an existing one changed.
 */
static int
volunteer_apply(struct http_request *req)
{
	static const char *const keys[] = {"skills", "community_id", NULL};
	struct identity_field_errors fe = {.n = 0};
	char skills[SKILLS_LITERAL_MAX];
	const struct yx_json *body;
	const char *community;
	PGresult *res;

	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if ((body = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	identity_check_keys(body, keys, &fe);
	(void)skills_literal(body, skills, &fe);
	identity_id_field(body, "community_id", false, &community, &fe);
	if (fe.n > 0)
		return identity_reply_invalid(req, &fe);

	switch (identity_db_volunteer_apply(req, yx_req(req)->id.user, skills, community, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return identity_reply_change(req, 0, res);
}

int
identity_me_volunteer(struct http_request *req)
{
	if (req->method == HTTP_METHOD_GET)
		return identity_people_list_mine(req, IDENTITY_LIST_VOLUNTEER_MINE);
	if (req->method == HTTP_METHOD_POST)
		return volunteer_apply(req);
	return yx_reply_problem(req, "method_not_allowed", NULL);
}

int
identity_admin_volunteer_applications(struct http_request *req)
{
	return identity_people_list_staff(req, IDENTITY_LIST_VOLUNTEER_STAFF);
}

int
identity_admin_volunteer_decide(struct http_request *req)
{
	return identity_people_decide(req, IDENTITY_DECIDE_VOLUNTEER,
	                              "/api/v1/admin/volunteer-applications/");
}
