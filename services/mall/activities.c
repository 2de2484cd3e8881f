/*
 * activities.c - volunteer activities (志愿服务): staff of a community
 * publish an activity (title, place, time, capacity, points per hour or a
 * fixed award), its volunteers and party members sign up and withdraw, check
 * in and out on site by scanning the organizer's rotating QR token (qr.c),
 * and the organizer confirms their hours, which credits their points once.
 *
 *   GET, POST    /api/v1/activities                 list (signed in), create (staff)
 *   GET          /api/v1/activities/me              the caller's sign-ups
 *   GET, PATCH   /api/v1/activities/{id}            one (signed in), change (staff, before start)
 *   POST         /api/v1/activities/{id}/cancel     staff
 *   POST, GET    /api/v1/activities/{id}/signups    sign up (volunteer, party member), list (staff)
 *   DELETE       /api/v1/activities/{id}/signups/me withdraw before the start
 *   GET          /api/v1/activities/{id}/qr         staff: a token good for MALL_QR_TTL seconds
 *   POST         /api/v1/activities/{id}/check-in, /check-out    with a token
 *   POST         /api/v1/activities/{id}/attendance/{user_id}/confirm
 *                staff, Idempotency-Key: the hours and the points (activity_confirm)
 *
 * Staff are community_staff or community_secretary at exactly the
 * activity's community, as for the store (mall_rules.h). Every change is one
 * SQL function of sql/0003_activities.sql (activities_db.c), which answers a
 * refusal with its error code; the points go through the ledger's
 * ledger_credit() in the same transaction, so activity.attendance_confirmed
 * needs no event relay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yx_query.h"
#include "activities.h"
#include "activities_db.h"
#include "mall_cache.h"
#include "mall_http.h"
#include "mall_rules.h"
#include "qr.h"
#include "yx_config.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_service.h"

#define ACT_PREFIX          "/api/v1/activities/"
#define ACT_TITLE_MAX       100
#define ACT_PLACE_MAX       200
#define ACT_DESCRIPTION_MAX 2000
#define ACT_REASON_MAX      200
#define ACT_CAPACITY_MAX    10000
#define ACT_PPH_MAX         10000
#define ACT_FIXED_MAX       100000
/* Longest activity (7 days), in hours: the most hours one confirmation gives. */
#define ACT_HOURS_MAX 168

/* Settings, read once in the parent (mall_activities_configure). */
static struct {
	unsigned char qr_key[32];
	bool qr_key_derived;
	long long early_minutes;  /* YX_MALL_CHECKIN_EARLY_MINUTES */
	long long late_minutes;   /* YX_MALL_CHECKOUT_LATE_MINUTES */
	char early[32], late[32]; /* the same as PostgreSQL intervals */
} act;

/*
 * Error codes of activities, beside the mall's own (main.c), whose
 * not_in_scope and self_award_forbidden they reuse. Part of the API
 * contract (api-spec/mall.yaml): never rename one. The SQL functions of
 * 0003_activities.sql return them by name.
 */
static const struct yx_error_def activity_errors[] = {
    {"activity_not_found", 404, "活动不存在"},
    {"signup_not_found", 404, "没有该活动的报名记录"},
    {"not_signed_up", 403, "未报名该活动"},
    {"volunteer_role_required", 403, "仅本社区的志愿者或党员可以报名"},
    {"activity_full", 409, "活动报名人数已满"},
    {"already_signed_up", 409, "已报名该活动"},
    {"signup_closed", 409, "活动已开始，报名已截止"},
    {"withdrawal_closed", 409, "活动已开始或已签到，无法取消报名"},
    {"activity_cancelled", 409, "活动已取消"},
    {"activity_started", 409, "活动已开始，无法修改"},
    {"activity_not_cancellable", 409, "活动已结束或已确认服务时长，无法取消"},
    {"activity_not_started", 409, "活动尚未开始，无法确认服务时长"},
    {"capacity_below_signups", 409, "人数上限不能低于已报名人数"},
    {"check_window_closed", 409, "当前不在签到或签退时间内"},
    {"not_checked_in", 409, "尚未签到，无法签退"},
    {"already_confirmed", 409, "服务时长已确认，积分已发放"},
    {"invalid_activity_time", 422, "活动须在将来开始，时长在 30 分钟到 7 天之间"},
    {"invalid_qr_token", 422, "签到二维码无效或已过期"},
    {"hours_required", 422, "没有完整的签到签退记录，请填写服务时长"},
    {"invalid_hours", 422, "服务时长须为半小时的整数倍，且不超过活动时长"},
};

/*
 * The QR key: YX_QR_KEY (or YX_QR_KEY_FILE), 64 hex characters; when the
 * deployment sets neither, HMAC-SHA256(cursor key, MALL_QR_KEY_LABEL), so
 * every instance of one deployment agrees without another secret.
 */
static int
qr_key_load(void)
{
	if (yx_config_str("YX_QR_KEY", NULL) != NULL ||
	    yx_config_str("YX_QR_KEY_FILE", NULL) != NULL)
		return yx_config_key("YX_QR_KEY", act.qr_key, sizeof(act.qr_key));
	act.qr_key_derived = true;
	if (mall_qr_derive_key(yx_app.cursor_key, act.qr_key) == -1) {
		fprintf(stderr, "YX_QR_KEY: cannot derive the key\n");
		return -1;
	}
	return 0;
}

int
mall_activities_configure(void)
{
	if (yx_errors_register(activity_errors,
	                       sizeof(activity_errors) / sizeof(activity_errors[0])) == -1) {
		fprintf(stderr, "activities: error codes clash with registered ones\n");
		return -1;
	}
	if (yx_config_int("YX_MALL_CHECKIN_EARLY_MINUTES", 30, 0, 1440, &act.early_minutes) == -1 ||
	    yx_config_int("YX_MALL_CHECKOUT_LATE_MINUTES", 60, 0, 1440, &act.late_minutes) == -1)
		return -1;
	snprintf(act.early, sizeof(act.early), "%lld minutes", act.early_minutes);
	snprintf(act.late, sizeof(act.late), "%lld minutes", act.late_minutes);
	if (qr_key_load() == -1)
		return -1;
	yx_log(YX_LOG_INFO, NULL, "config", "activity QR key %s",
	       act.qr_key_derived ? "derived from the cursor key" : "from YX_QR_KEY");
	return activities_db_register();
}

/* --- per-request state and helpers ------------------------------------------- */

struct act_state {
	bool started; /* arguments read and checked (lists) */
	struct mall_page_args page;
	char community[MALL_ID_MAX + 1];
	char from[48];
	bool has_from;
	char *fields_json; /* the validated body passed to SQL */
	bool qr_checked;   /* the token is judged once, at the first run */
	enum mall_qr_rc qr;
};

static void
act_state_free(void *p)
{
	struct act_state *st = p;

	free(st->fields_json);
	free(st);
}

static struct act_state *
state_of(struct http_request *req)
{
	return mall_state(req, sizeof(struct act_state), act_state_free);
}

/*
 * Replies to a change: the problem of its refusal, or `status` with its
 * body, marked as a replay when it is the stored answer of an earlier
 * request with the same Idempotency-Key.
 */
static int
reply_change(struct http_request *req, int status, const struct activity_reply *o)
{
	if (o->error != NULL)
		return yx_reply_problem(req, o->error, NULL);
	if (o->replayed)
		http_response_header(req, "idempotent-replayed", "true");
	return yx_reply_json(req, status, o->json, strlen(o->json));
}

/*
 * The communities where the comma-joined "role@org" list holds `role`, as
 * a PostgreSQL bigint[] literal into out (cap >= MALL_SCOPES_TEXT). Entries
 * with a malformed org are skipped; at most MALL_SCOPES_MAX are kept.
 */
static void
role_scopes(const char *roles, const char *role, char *out, size_t cap)
{
	const char *p = roles, *end, *at;
	size_t rlen = strlen(role), len, olen, used = 1;
	char org[MALL_ID_MAX + 1];
	int n = 0;

	out[0] = '{';
	while (p != NULL && *p != '\0' && n < MALL_SCOPES_MAX) {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		at = memchr(p, '@', len);
		if (at != NULL && (size_t)(at - p) == rlen && memcmp(p, role, rlen) == 0) {
			olen = len - rlen - 1;
			if (olen <= MALL_ID_MAX) {
				memcpy(org, at + 1, olen);
				org[olen] = '\0';
				if (mall_id_valid(org) && used + olen + 3 <= cap) {
					if (n > 0)
						out[used++] = ',';
					memcpy(out + used, org, olen);
					used += olen;
					n++;
				}
			}
		}
		p = end != NULL ? end + 1 : NULL;
	}
	out[used++] = '}';
	out[used] = '\0';
}

/*
 * Validates the activity members of a create (the required ones present)
 * or a change (only those given, at least one).
 */
static void
activity_fields(const struct yx_json *body, bool create, struct mall_fields *f)
{
	static const char *const create_keys[] = {
	    "community_id", "title",    "place",           "description",  "starts_at",
	    "ends_at",      "capacity", "points_per_hour", "fixed_points", NULL};
	static const char *const change_keys[] = {"title",           "place",        "description",
	                                          "starts_at",       "ends_at",      "capacity",
	                                          "points_per_hour", "fixed_points", NULL};
	static const char *const times[] = {"starts_at", "ends_at"};
	bool given, is_null, any = false, pph, fixed;
	const char *s;
	int64_t n;
	size_t i, before;

	mall_check_keys(body, create ? create_keys : change_keys, f);
	mall_body_text(body, "title", create, false, 1, ACT_TITLE_MAX, false, &given, &s, f);
	any |= given;
	mall_body_text(body, "place", create, false, 1, ACT_PLACE_MAX, false, &given, &s, f);
	any |= given;
	mall_body_text(body, "description", false, true, 0, ACT_DESCRIPTION_MAX, true, &given, &s,
	               f);
	any |= given;
	for (i = 0; i < 2; i++) {
		before = f->n;
		mall_body_time(body, times[i], &given, &s, f);
		any |= given;
		/* mall_body_time takes null for "not given": neither end can be cleared. */
		if (f->n == before && s == NULL && (given || create))
			mall_field_error(f, times[i], given ? "invalid_time" : "required");
	}
	mall_body_int(body, "capacity", create, false, 1, ACT_CAPACITY_MAX, &given, &is_null, &n,
	              f);
	any |= given;
	mall_body_int(body, "points_per_hour", false, false, 1, ACT_PPH_MAX, &pph, &is_null, &n, f);
	mall_body_int(body, "fixed_points", false, false, 1, ACT_FIXED_MAX, &fixed, &is_null, &n,
	              f);
	any |= pph || fixed;
	if (pph && fixed)
		mall_field_error(f, "fixed_points", "conflict");
	else if (create && !pph && !fixed)
		mall_field_error(f, "points_per_hour", "required");
	if (!create && !any && f->n == 0)
		mall_field_error(f, "body", "empty");
}

/* --- /api/v1/activities ------------------------------------------------------------ */

static int
activities_list(struct http_request *req)
{
	static const char *const params[] = {"community_id", "from", NULL};
	struct act_state *st = state_of(req);
	struct mall_fields f = {.n = 0};
	struct mall_page page;
	int rc;

	if (!st->started) {
		if (!mall_page_args_or_reply(req, params, &st->page))
			return KORE_RESULT_OK;
		rc = yx_query_get(req, "community_id", st->community, sizeof(st->community));
		if (rc == 0)
			mall_field_error(&f, "community_id", "required");
		else if (rc == -1 || !mall_id_valid(st->community))
			mall_field_error(&f, "community_id", "invalid");
		rc = yx_query_get(req, "from", st->from, sizeof(st->from));
		if (rc == -1 || (rc == 1 && !mall_time_valid(st->from)))
			mall_field_error(&f, "from", "invalid_time");
		st->has_from = rc == 1;
		if (f.n > 0)
			return mall_reply_invalid(req, &f);
		st->started = true;
	}
	switch (activities_db_page(req, st->community, st->has_from ? st->from : NULL,
	                           st->page.after[0] ? st->page.after : NULL,
	                           st->page.limit_plus_one, st->page.limit, &page)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return mall_reply_page(req, &page);
}

/*
 * POST: staff of community_id publish an activity. An Idempotency-Key is
 * optional (nothing moves); when given, a replay returns the first answer.
 */
static int
activity_create(struct http_request *req)
{
	struct act_state *st = state_of(req);
	struct mall_fields f = {.n = 0};
	const struct yx_json *body;
	struct activity_reply o;
	struct mall_idem idem;
	const char *community, *key, *p[5];
	bool keyed;

	keyed = http_request_header(req, "idempotency-key", &key);
	if (keyed && !mall_idem_or_reply(req, &idem))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, false)) == NULL)
		return KORE_RESULT_OK;
	mall_body_id(body, "community_id", true, &community, &f);
	if (community != NULL && !mall_staff_or_reply(req, community))
		return KORE_RESULT_OK;
	activity_fields(body, true, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	if (st->fields_json == NULL && (st->fields_json = mall_body_json_text(body)) == NULL)
		return yx_reply_problem(req, "internal_error", NULL);

	p[0] = keyed ? idem.key : NULL;
	p[1] = keyed ? idem.hash : NULL;
	p[2] = yx_req(req)->id.user;
	p[3] = community;
	p[4] = st->fields_json;
	switch (activities_db_create(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (o.error == NULL && !o.replayed)
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "activity_created",
		       "activity in community %s by %s", community, yx_req(req)->id.user);
	return reply_change(req, 201, &o);
}

int
mall_activities(struct http_request *req)
{
	if (!mall_method_or_reply(req, HTTP_METHOD_GET, HTTP_METHOD_POST))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (req->method == HTTP_METHOD_GET)
		return activities_list(req);
	return activity_create(req);
}

int
mall_activities_me(struct http_request *req)
{
	struct mall_page_args a;
	struct mall_page page;

	if (!mall_method_or_reply(req, HTTP_METHOD_GET, -1))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req) ||
	    !mall_page_args_or_reply(req, NULL, &a))
		return KORE_RESULT_OK;
	switch (activities_db_mine_page(req, yx_req(req)->id.user, a.after[0] ? a.after : NULL,
	                                a.limit_plus_one, a.limit, &page)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return mall_reply_page(req, &page);
}

/* --- /api/v1/activities/{id} ------------------------------------------------------- */

static int
activity_get(struct http_request *req, const char *id)
{
	struct activity_view v;

	switch (activities_db_get(req, id, &v)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (v.json == NULL)
		return yx_reply_problem(req, "activity_not_found", NULL);
	return yx_reply_json(req, 200, v.json, strlen(v.json));
}

/*
 * PATCH: the members to change, before the start. Values, not increments,
 * so no Idempotency-Key is needed.
 */
static int
activity_patch(struct http_request *req, const char *id)
{
	struct act_state *st = state_of(req);
	struct mall_fields f = {.n = 0};
	char scopes[MALL_SCOPES_TEXT];
	const struct yx_json *body;
	struct activity_reply o;
	const char *p[4];

	if (!mall_staff_scopes_or_reply(req, scopes, sizeof(scopes)))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, false)) == NULL)
		return KORE_RESULT_OK;
	if (yx_json_get(body, "community_id") != NULL)
		mall_field_error(&f, "community_id", "read_only");
	activity_fields(body, false, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	if (st->fields_json == NULL && (st->fields_json = mall_body_json_text(body)) == NULL)
		return yx_reply_problem(req, "internal_error", NULL);

	p[0] = yx_req(req)->id.user;
	p[1] = scopes;
	p[2] = id;
	p[3] = st->fields_json;
	switch (activities_db_update(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (o.error == NULL)
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "activity_changed",
		       "activity %s by %s", id, yx_req(req)->id.user);
	return reply_change(req, 200, &o);
}

int
mall_activity(struct http_request *req)
{
	char id[MALL_ID_MAX + 1];
	const char *rest;

	if (!mall_method_or_reply(req, HTTP_METHOD_GET, HTTP_METHOD_PATCH))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!mall_path_id(req->path, ACT_PREFIX, id, &rest) || rest[0] != '\0')
		return yx_reply_problem(req, "activity_not_found", NULL);
	if (req->method == HTTP_METHOD_GET)
		return activity_get(req, id);
	return activity_patch(req, id);
}

/* --- /api/v1/activities/{id}/... ------------------------------------------------------ */

/* POST .../cancel {"reason"?}: staff call the activity off. */
static int
activity_cancel(struct http_request *req, const char *id)
{
	static const char *const keys[] = {"reason", NULL};
	struct mall_fields f = {.n = 0};
	char scopes[MALL_SCOPES_TEXT];
	const struct yx_json *body;
	struct activity_reply o;
	const char *reason, *p[4];
	bool given;

	if (!mall_staff_scopes_or_reply(req, scopes, sizeof(scopes)))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, true)) == NULL)
		return KORE_RESULT_OK;
	mall_check_keys(body, keys, &f);
	mall_body_text(body, "reason", false, true, 1, ACT_REASON_MAX, true, &given, &reason, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	p[0] = yx_req(req)->id.user;
	p[1] = scopes;
	p[2] = id;
	p[3] = reason;
	switch (activities_db_cancel(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (o.error == NULL)
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "activity_cancelled",
		       "activity %s by %s", id, yx_req(req)->id.user);
	return reply_change(req, 200, &o);
}

/* POST .../signups with an empty body or {}: a volunteer or party member signs up. */
static int
activity_signup(struct http_request *req, const char *id)
{
	static const char *const keys[] = {NULL};
	struct mall_fields f = {.n = 0};
	char volunteer[MALL_SCOPES_TEXT], party[MALL_SCOPES_TEXT];
	const struct yx_json *body;
	struct activity_reply o;
	const char *p[4];

	if ((body = mall_body_or_reply(req, true)) == NULL)
		return KORE_RESULT_OK;
	mall_check_keys(body, keys, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	role_scopes(yx_req(req)->id.roles, "volunteer", volunteer, sizeof(volunteer));
	role_scopes(yx_req(req)->id.roles, "party_member", party, sizeof(party));
	p[0] = yx_req(req)->id.user;
	p[1] = volunteer;
	p[2] = party;
	p[3] = id;
	switch (activities_db_signup(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return reply_change(req, 201, &o);
}

/* GET .../signups?limit=&cursor=: staff see who signed up, in sign-up order. */
static int
activity_signups(struct http_request *req, const char *id)
{
	char scopes[MALL_SCOPES_TEXT];
	struct mall_page_args a;
	struct mall_page page;
	const char *error;

	if (!mall_staff_scopes_or_reply(req, scopes, sizeof(scopes)) ||
	    !mall_page_args_or_reply(req, NULL, &a))
		return KORE_RESULT_OK;
	switch (activities_db_signups_page(req, scopes, id, a.after[0] ? a.after : NULL,
	                                   a.limit_plus_one, a.limit, &page, &error)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (error != NULL)
		return yx_reply_problem(req, error, NULL);
	return mall_reply_page(req, &page);
}

/* DELETE .../signups/me: the caller withdraws before the start. */
static int
activity_withdraw(struct http_request *req, const char *id)
{
	struct activity_reply o;
	const char *p[2];

	p[0] = yx_req(req)->id.user;
	p[1] = id;
	switch (activities_db_withdraw(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return reply_change(req, 200, &o);
}

/*
 * GET .../qr?purpose=check_in|check_out: staff of the activity's community
 * get a token for the organizer's screen, which fetches a new one before
 * expires_at.
 */
static int
activity_qr(struct http_request *req, const char *id)
{
	static const char *const params[] = {"purpose", NULL};
	struct mall_fields f = {.n = 0};
	char scopes[MALL_SCOPES_TEXT], purpose_text[16], token[MALL_QR_TOKEN_MAX];
	char expires_text[MALL_QR_TIME_MAX], unused[8];
	enum mall_qr_purpose purpose = MALL_QR_CHECK_IN;
	struct mall_page_args a;
	struct activity_view v;
	int64_t expires_at;
	struct yx_jw w;
	int rc;

	if (!mall_staff_scopes_or_reply(req, scopes, sizeof(scopes)))
		return KORE_RESULT_OK;
	/* A token is not a list: limit and cursor are as unknown as any other. */
	if (yx_query_get(req, "limit", unused, sizeof(unused)) != 0 ||
	    yx_query_get(req, "cursor", unused, sizeof(unused)) != 0) {
		mall_field_error(&f, "query", "unknown");
		return mall_reply_invalid(req, &f);
	}
	if (!mall_page_args_or_reply(req, params, &a))
		return KORE_RESULT_OK;
	rc = yx_query_get(req, "purpose", purpose_text, sizeof(purpose_text));
	if (rc == 0)
		mall_field_error(&f, "purpose", "required");
	else if (rc == -1 || mall_qr_purpose_parse(purpose_text, &purpose) == -1)
		mall_field_error(&f, "purpose", "invalid");
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	switch (activities_db_get(req, id, &v)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (v.json == NULL)
		return yx_reply_problem(req, "activity_not_found", NULL);
	if (!mall_is_staff(yx_req(req)->id.roles, v.community))
		return yx_reply_problem(req, "not_in_scope", NULL);
	if (strcmp(v.state, "cancelled") == 0)
		return yx_reply_problem(req, "activity_cancelled", NULL);
	if (mall_qr_mint(act.qr_key, strtoll(id, NULL, 10), purpose, yx_now(), token, sizeof(token),
	                 &expires_at) == -1 ||
	    mall_qr_time_text(expires_at, expires_text) == -1)
		return yx_reply_problem(req, "internal_error", NULL);
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "activity_id", id);
	yx_jw_kv_str(&w, "purpose", mall_qr_purpose_name(purpose));
	yx_jw_kv_str(&w, "token", token);
	yx_jw_kv_str(&w, "expires_at", expires_text);
	yx_jw_obj_close(&w);
	return yx_reply_jw(req, 200, &w);
}

/* What a refused token's problem says. */
static const char *
qr_detail(enum mall_qr_rc rc)
{
	switch (rc) {
	case MALL_QR_EXPIRED:
		return "二维码已过期，请扫描最新的二维码";
	case MALL_QR_MISMATCH:
		return "二维码不属于该活动，或签到签退用途不符";
	case MALL_QR_EARLY:
		return "二维码时间无效";
	case MALL_QR_MALFORMED:
	case MALL_QR_OK:
		break;
	}
	return "二维码无效";
}

/* POST .../check-in and .../check-out {"token"}: a signed-up user on site. */
static int
activity_check(struct http_request *req, const char *id, enum mall_qr_purpose purpose)
{
	static const char *const keys[] = {"token", NULL};
	struct act_state *st = state_of(req);
	struct mall_fields f = {.n = 0};
	const struct yx_json *body, *token;
	struct activity_reply o;
	const char *p[5];

	if ((body = mall_body_or_reply(req, false)) == NULL)
		return KORE_RESULT_OK;
	mall_check_keys(body, keys, &f);
	token = yx_json_get(body, "token");
	if (token == NULL)
		mall_field_error(&f, "token", "required");
	else if (!yx_json_is_string(token) || token->len == 0 || token->len > MALL_QR_TOKEN_MAX)
		mall_field_error(&f, "token", "invalid");
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	/* Judged once: a token must not expire between the runs of one request. */
	if (!st->qr_checked) {
		st->qr = mall_qr_verify(act.qr_key, token->str, token->len, strtoll(id, NULL, 10),
		                        purpose, yx_now());
		st->qr_checked = true;
	}
	if (st->qr != MALL_QR_OK)
		return yx_reply_problem(req, "invalid_qr_token", qr_detail(st->qr));
	p[0] = yx_req(req)->id.user;
	p[1] = id;
	p[2] = mall_qr_purpose_name(purpose);
	p[3] = act.early;
	p[4] = act.late;
	switch (activities_db_check(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return reply_change(req, 200, &o);
}

/*
 * POST .../attendance/{user_id}/confirm {"hours"?} with an Idempotency-Key:
 * the organizer confirms a participant's hours (a multiple of half an hour;
 * absent or null: from the check-in and check-out) and the points are
 * credited, once.
 */
static int
activity_confirm(struct http_request *req, const char *id, const char *user)
{
	static const char *const keys[] = {"hours", NULL};
	struct mall_fields f = {.n = 0};
	char scopes[MALL_SCOPES_TEXT], hours_text[16];
	const struct yx_json *body, *hours;
	struct activity_confirmed o;
	struct mall_idem idem;
	const char *p[7];
	double h = 0;

	if (!mall_idem_or_reply(req, &idem) ||
	    !mall_staff_scopes_or_reply(req, scopes, sizeof(scopes)))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, true)) == NULL)
		return KORE_RESULT_OK;
	mall_check_keys(body, keys, &f);
	hours = yx_json_get(body, "hours");
	if (hours != NULL && !yx_json_is_null(hours)) {
		if (!yx_json_double(hours, &h))
			mall_field_error(&f, "hours", "invalid");
		else if (h < 0.5 || h > ACT_HOURS_MAX)
			mall_field_error(&f, "hours", "out_of_range");
		else if (h * 2 != (double)(long long)(h * 2))
			mall_field_error(&f, "hours", "invalid");
	}
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	snprintf(hours_text, sizeof(hours_text), "%.1f", h);

	p[0] = idem.key;
	p[1] = idem.hash;
	p[2] = yx_req(req)->id.user;
	p[3] = scopes;
	p[4] = id;
	p[5] = user;
	p[6] = h > 0 ? hours_text : NULL;
	switch (activities_db_confirm(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (o.error != NULL)
		return yx_reply_problem(req, o.error, NULL);
	if (!o.replayed) {
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "activity_attendance_confirmed",
		       "%lld points to %s for activity %s by %s", (long long)o.points, user, id,
		       yx_req(req)->id.user);
		mall_lb_credit(yx_req(req)->request_id, o.community, user, o.points, o.month,
		               o.year);
	}
	if (o.replayed)
		http_response_header(req, "idempotent-replayed", "true");
	return yx_reply_json(req, 200, o.json, strlen(o.json));
}

enum act_action {
	ACT_NONE,
	ACT_CANCEL,
	ACT_SIGNUPS,
	ACT_SIGNUP_ME,
	ACT_QR,
	ACT_CHECK_IN,
	ACT_CHECK_OUT,
	ACT_CONFIRM,
};

/*
 * Which action `rest` (the path after the activity id) names; for
 * attendance/{user_id}/confirm the user id goes into user.
 */
static enum act_action
action_of(const char *rest, char user[MALL_ID_MAX + 1])
{
	static const struct {
		const char *path;
		enum act_action a;
	} fixed[] = {
	    {"/cancel", ACT_CANCEL}, {"/signups", ACT_SIGNUPS},   {"/signups/me", ACT_SIGNUP_ME},
	    {"/qr", ACT_QR},         {"/check-in", ACT_CHECK_IN}, {"/check-out", ACT_CHECK_OUT},
	};
	const char *tail;
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (strcmp(rest, fixed[i].path) == 0)
			return fixed[i].a;
	}
	if (mall_path_id(rest, "/attendance/", user, &tail) && strcmp(tail, "/confirm") == 0)
		return ACT_CONFIRM;
	return ACT_NONE;
}

int
mall_activity_action(struct http_request *req)
{
	char id[MALL_ID_MAX + 1], user[MALL_ID_MAX + 1];
	enum act_action a;
	const char *rest;
	int m = -1, m2 = -1;

	if (!mall_path_id(req->path, ACT_PREFIX, id, &rest))
		return yx_reply_problem(req, "activity_not_found", NULL);
	switch ((a = action_of(rest, user))) {
	case ACT_NONE:
		return yx_reply_problem(req, "route_not_found", NULL);
	case ACT_SIGNUPS:
		m = HTTP_METHOD_POST;
		m2 = HTTP_METHOD_GET;
		break;
	case ACT_SIGNUP_ME:
		m = HTTP_METHOD_DELETE;
		break;
	case ACT_QR:
		m = HTTP_METHOD_GET;
		break;
	case ACT_CANCEL:
	case ACT_CHECK_IN:
	case ACT_CHECK_OUT:
	case ACT_CONFIRM:
		m = HTTP_METHOD_POST;
		break;
	}
	if (!mall_method_or_reply(req, m, m2))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	switch (a) {
	case ACT_CANCEL:
		return activity_cancel(req, id);
	case ACT_SIGNUPS:
		if (req->method == HTTP_METHOD_GET)
			return activity_signups(req, id);
		return activity_signup(req, id);
	case ACT_SIGNUP_ME:
		return activity_withdraw(req, id);
	case ACT_QR:
		return activity_qr(req, id);
	case ACT_CHECK_IN:
		return activity_check(req, id, MALL_QR_CHECK_IN);
	case ACT_CHECK_OUT:
		return activity_check(req, id, MALL_QR_CHECK_OUT);
	case ACT_CONFIRM:
		return activity_confirm(req, id, user);
	case ACT_NONE:
		break;
	}
	return yx_reply_problem(req, "route_not_found", NULL);
}
