/*
 * awards.c - POST /api/v1/points/awards: staff of a community hand points
 * to a user with a reason ("audited manual awards"), within the
 * community's daily cap (YX_MALL_AWARD_DAILY_CAP). The award, its journal
 * movement and the cap are one SQL function (mall.award); the leaderboards
 * in Redis follow once it committed.
 */
#include <stdio.h>
#include <string.h>

#include "awards.h"
#include "mall.h"
#include "mall_cache.h"
#include "mall_db.h"
#include "mall_http.h"
#include "yx_http.h"
#include "yx_log.h"

#define AWARD_REASON_MAX 200
#define AWARD_POINTS_MAX 1000000

int
mall_awards(struct http_request *req)
{
	static const char *const keys[] = {"user_id", "community_id", "points", "reason", NULL};
	struct mall_fields f = {.n = 0};
	const struct yx_json *body;
	const char *user, *community, *reason, *p[8];
	char points_text[24], cap[24];
	struct mall_outcome o;
	struct mall_idem idem;
	bool given, is_null;
	int64_t points = 0;

	if (!mall_method_or_reply(req, HTTP_METHOD_POST, -1))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req) ||
	    !mall_idem_or_reply(req, &idem))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, false)) == NULL)
		return KORE_RESULT_OK;
	mall_body_id(body, "community_id", true, &community, &f);
	if (community != NULL && !mall_staff_or_reply(req, community))
		return KORE_RESULT_OK;
	mall_check_keys(body, keys, &f);
	mall_body_id(body, "user_id", true, &user, &f);
	mall_body_int(body, "points", true, false, 1, AWARD_POINTS_MAX, &given, &is_null, &points,
	              &f);
	mall_body_text(body, "reason", true, false, 1, AWARD_REASON_MAX, true, &given, &reason, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);

	snprintf(points_text, sizeof(points_text), "%lld", (long long)points);
	snprintf(cap, sizeof(cap), "%lld", mall_config.award_daily_cap);
	p[0] = idem.key;
	p[1] = idem.hash;
	p[2] = yx_req(req)->id.user;
	p[3] = community;
	p[4] = user;
	p[5] = points_text;
	p[6] = reason;
	p[7] = cap;
	switch (mall_db_award(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (o.error == NULL && !o.replayed) {
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "points_awarded",
		       "%lld points to %s in community %s by %s", (long long)points, user,
		       community, yx_req(req)->id.user);
		mall_lb_credit(yx_req(req)->request_id, community, user, points, o.month, o.year);
	}
	return mall_reply_outcome(req, 201, &o);
}
