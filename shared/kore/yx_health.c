/*
 * yx_health.c - the handlers every service routes the same way: liveness
 * (/healthz), readiness (/readyz: PostgreSQL and Redis answer) and the
 * catch-all that turns an unknown path into a problem+json 404.
 */
#include <string.h>

#include "yx_db.h"
#include "yx_health.h"
#include "yx_http.h"
#include "yx_redis.h"
#include "yx_service.h"

const struct yx_db_stmt yx_health_ping = {"yx_ping", "SELECT 1", 0};

int
yx_healthz(struct http_request *req)
{
	struct yx_jw w;

	yx_req(req);
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "status", "ok");
	yx_jw_kv_str(&w, "service", yx_service_def.name);
	yx_jw_obj_close(&w);
	return yx_reply_jw(req, 200, &w);
}

int
yx_readyz(struct http_request *req)
{
	static const char *const no_params[1] = {NULL};
	const char *pg = "not_used", *redis = "not_used";
	PGresult *res;
	struct yx_jw w;
	bool ready = true;

	yx_req(req);
	if (yx_service_def.use_db) {
		switch (yx_db_exec(req, &yx_health_ping, no_params, &res)) {
		case YX_DB_PENDING:
			return KORE_RESULT_RETRY;
		case YX_DB_OK:
			pg = "up";
			break;
		case YX_DB_FAILED:
			pg = "down";
			ready = false;
			break;
		}
	}
	if (yx_app.redis != NULL) {
		redis = yx_redis_ping(yx_app.redis) ? "up" : "down";
		if (strcmp(redis, "up") != 0)
			ready = false;
	}
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "status", ready ? "ready" : "not_ready");
	yx_jw_kv_str(&w, "service", yx_service_def.name);
	yx_jw_key(&w, "checks");
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "postgres", pg);
	yx_jw_kv_str(&w, "redis", redis);
	yx_jw_obj_close(&w);
	yx_jw_obj_close(&w);
	return yx_reply_jw(req, ready ? 200 : 503, &w);
}

int
yx_not_found(struct http_request *req)
{
	return yx_reply_problem(req, "route_not_found", NULL);
}
