/*
 * points.h - handlers of a user's points and the leaderboards (routes in
 * mall.conf).
 */
#ifndef MALL_POINTS_H
#define MALL_POINTS_H

#include <kore/kore.h>
#include <kore/http.h>

/* GET /api/v1/points/me. */
int mall_points_me(struct http_request *req);

/* GET /api/v1/points/me/ledger?limit=&cursor=. */
int mall_points_ledger(struct http_request *req);

/* GET /api/v1/points/leaderboard?community_id=&period=month|year&limit=. */
int mall_points_leaderboard(struct http_request *req);

#endif
