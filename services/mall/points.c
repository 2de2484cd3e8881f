/*
 * points.c - a user's points: GET /api/v1/points/me (balance, earned,
 * spent), GET /api/v1/points/me/ledger (the user's journal rows, newest
 * first) and GET /api/v1/points/leaderboard?community_id=&period= (who
 * earned most in a community this month or year).
 *
 * Leaderboards are read from Redis sorted sets; when Redis does not answer,
 * or holds no board (lost, or nobody earned yet), they are computed from the
 * journal, which is what `yx-mall rebuild-leaderboard` writes back.
 */
#include <stdio.h>
#include <string.h>

#include "yx_query.h"
#include "mall_cache.h"
#include "mall_db.h"
#include "mall_http.h"
#include "points.h"
#include "yx_http.h"
#include "yx_service.h"

int
mall_points_me(struct http_request *req)
{
	struct mall_points pts;
	struct yx_jw w;

	if (!mall_method_or_reply(req, HTTP_METHOD_GET, -1))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	switch (mall_db_points(req, yx_req(req)->id.user, &pts)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "user_id", yx_req(req)->id.user);
	yx_jw_key(&w, "balance");
	yx_jw_raw(&w, pts.balance, strlen(pts.balance));
	yx_jw_key(&w, "earned");
	yx_jw_raw(&w, pts.earned, strlen(pts.earned));
	yx_jw_key(&w, "spent");
	yx_jw_raw(&w, pts.spent, strlen(pts.spent));
	yx_jw_obj_close(&w);
	return yx_reply_jw(req, 200, &w);
}

int
mall_points_ledger(struct http_request *req)
{
	struct mall_page_args a;
	struct mall_page page;

	if (!mall_method_or_reply(req, HTTP_METHOD_GET, -1))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req) ||
	    !mall_page_args_or_reply(req, NULL, &a))
		return KORE_RESULT_OK;
	switch (mall_db_ledger_page(req, yx_req(req)->id.user, a.after[0] ? a.after : NULL,
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

/* Handler state: the arguments, and whether Redis was asked already. */
struct lb_state {
	bool asked;
	struct mall_page_args a;
	char community[MALL_ID_MAX + 1];
	char period[8];
	char label[16];
};

static int
lb_reply(struct http_request *req, const struct lb_state *st, const struct mall_lb *lb,
         const char *source)
{
	struct yx_jw w;
	size_t i;

	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "community_id", st->community);
	yx_jw_kv_str(&w, "period", st->period);
	yx_jw_kv_str(&w, "label", st->label);
	yx_jw_kv_str(&w, "source", source);
	yx_jw_key(&w, "items");
	yx_jw_arr_open(&w);
	for (i = 0; i < lb->n; i++) {
		yx_jw_obj_open(&w);
		yx_jw_kv_int(&w, "rank", (int64_t)i + 1);
		yx_jw_kv_str(&w, "user_id", lb->e[i].user);
		yx_jw_kv_int(&w, "points", lb->e[i].points);
		yx_jw_obj_close(&w);
	}
	yx_jw_arr_close(&w);
	yx_jw_obj_close(&w);
	return yx_reply_jw(req, 200, &w);
}

int
mall_points_leaderboard(struct http_request *req)
{
	static const char *const params[] = {"community_id", "period", NULL};
	struct lb_state *st;
	struct mall_fields f = {.n = 0};
	struct mall_lb lb;
	int rc;

	if (!mall_method_or_reply(req, HTTP_METHOD_GET, -1))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	st = mall_state(req, sizeof(*st), NULL);
	if (!st->asked) {
		if (!mall_page_args_or_reply(req, params, &st->a))
			return KORE_RESULT_OK;
		if (st->a.after[0] != '\0')
			return yx_reply_problem(req, "invalid_cursor", "排行榜不分页");
		rc = yx_query_get(req, "community_id", st->community, sizeof(st->community));
		if (rc == 0)
			mall_field_error(&f, "community_id", "required");
		else if (rc == -1 || !mall_id_valid(st->community))
			mall_field_error(&f, "community_id", "invalid");
		rc = yx_query_get(req, "period", st->period, sizeof(st->period));
		if (rc == 0)
			snprintf(st->period, sizeof(st->period), "month");
		else if (rc == -1 || mall_period_label(st->period, yx_now(), st->label,
		                                       sizeof(st->label)) == -1)
			mall_field_error(&f, "period", "invalid");
		if (f.n > 0)
			return mall_reply_invalid(req, &f);
		(void)mall_period_label(st->period, yx_now(), st->label, sizeof(st->label));
		st->asked = true;
		if (mall_lb_read(yx_req(req)->request_id, st->community, st->period, st->label,
		                 st->a.limit, &lb) == 0 &&
		    lb.n > 0)
			return lb_reply(req, st, &lb, "cache");
	}
	switch (mall_db_leaderboard(req, st->community, st->period, st->a.limit_text, &lb)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return lb_reply(req, st, &lb, "journal");
}
