/*
 * me.c - the signed-in user's own account: GET /api/v1/me (and its public
 * profile card in Redis when missing), PATCH /api/v1/me (display name and
 * avatar URL only; never roles or phone).
 */
#include <stdlib.h>
#include <string.h>

#include "identity_db.h"
#include "identity_db_people.h"
#include "me.h"
#include "people_http.h"
#include "users.h"
#include "yx_db.h"
#include "yx_http.h"

#define DISPLAY_NAME_MAX_CHARS 40
#define AVATAR_URL_MAX_CHARS   500

/* Replies with the account of a me_get / me_update result, card published. */
static int
me_reply(struct http_request *req, PGresult *res, bool card_only_if_missing)
{
	struct yx_req *r = yx_req(req);
	struct identity_user u;
	struct yx_jw w;

	if (identity_db_user_row(res, &u) == -1)
		return yx_reply_problem(req, "unauthorized", "账号不存在或已停用");
	identity_card_publish(req, identity_db_me_card(res), card_only_if_missing);
	yx_jw_init(&w);
	identity_user_json(&w, &u, r->id.roles, true);
	return yx_reply_jw(req, 200, &w);
}

static int
me_get(struct http_request *req)
{
	PGresult *res;

	switch (identity_db_me_get(req, yx_req(req)->id.user, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return me_reply(req, res, true);
}

/* An http(s) URL without spaces or control characters. */
static bool
avatar_url_ok(const char *s)
{
	size_t i;

	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	}
	return strlen(s) > 8;
}

/*
 * PATCH {"display_name"?, "avatar_url"?}: avatar_url null removes it. Fields
 * only the system sets (id, phone, roles, ...) are refused as read_only.
 */
static int
me_patch(struct http_request *req)
{
	static const char *const keys[] = {"display_name", "avatar_url", NULL};
	static const char *const read_only[] = {"id",         "phone",  "roles",
	                                        "created_at", "status", NULL};
	struct identity_field_errors fe = {.n = 0}, unknown = {.n = 0};
	const struct yx_json *body, *av;
	const char *name, *avatar = NULL;
	bool set_avatar = false;
	PGresult *res;
	size_t i, j;

	if ((body = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	identity_check_keys(body, keys, &unknown);
	for (i = 0; i < unknown.n; i++) {
		for (j = 0; read_only[j] != NULL; j++) {
			if (strcmp(unknown.e[i].field, read_only[j]) == 0)
				break;
		}
		identity_field_error(&fe, unknown.e[i].field,
		                     read_only[j] != NULL ? "read_only" : "unknown");
	}
	identity_text_field(body, "display_name", false, DISPLAY_NAME_MAX_CHARS, false, &name, &fe);
	if ((av = yx_json_get(body, "avatar_url")) != NULL) {
		set_avatar = true;
		if (!yx_json_is_null(av)) {
			identity_text_field(body, "avatar_url", true, AVATAR_URL_MAX_CHARS, false,
			                    &avatar, &fe);
			if (avatar != NULL && !avatar_url_ok(avatar)) {
				identity_field_error(&fe, "avatar_url", "invalid_url");
				avatar = NULL;
			}
		}
	}
	if (fe.n == 0 && name == NULL && !set_avatar)
		identity_field_error(&fe, "body", "empty");
	if (fe.n > 0)
		return identity_reply_invalid(req, &fe);

	switch (identity_db_me_update(req, yx_req(req)->id.user, name, set_avatar, avatar, &res)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return me_reply(req, res, false);
}

int
identity_me(struct http_request *req)
{
	if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_PATCH)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (req->method == HTTP_METHOD_GET)
		return me_get(req);
	return me_patch(req);
}
