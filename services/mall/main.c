/*
 * main.c - wiring of yx-mall (points ledger, volunteer activities, points
 * supermarket): its YX_MALL_* settings, its error codes,
 * the worker's housekeeping timer and the service definition the shared
 * glue runs.
 */
#include <stdio.h>

#include "activities.h"
#include "commands.h"
#include "expiry.h"
#include "mall.h"
#include "mall_cache.h"
#include "mall_db.h"
#include "yx_config.h"
#include "yx_service.h"

struct mall_config mall_config;

/* Reads the settings (README.md, "Configuration") and registers the SQL. */
static int
mall_configure(void)
{
	struct mall_config *c = &mall_config;

	if (yx_config_int("YX_MALL_PICKUP_DAYS", 14, 1, 365, &c->pickup_days) == -1 ||
	    yx_config_int("YX_MALL_AWARD_DAILY_CAP", 10000, 1, 1000000000, &c->award_daily_cap) ==
	        -1 ||
	    yx_config_int("YX_MALL_ITEMS_CACHE_TTL", 60, 1, 86400, &c->items_cache_ttl) == -1 ||
	    yx_config_int("YX_MALL_GATE_TTL", 5, 1, 3600, &c->gate_ttl) == -1 ||
	    yx_config_int("YX_MALL_EXPIRE_INTERVAL_MS", 5000, 100, 3600000,
	                  &c->expire_interval_ms) == -1 ||
	    yx_config_int("YX_MALL_EXPIRE_BATCH", 100, 1, 10000, &c->expire_batch) == -1 ||
	    yx_config_int("YX_MALL_IDEMPOTENCY_TTL_HOURS", 72, 1, 8760,
	                  &c->idempotency_ttl_hours) == -1)
		return -1;
	snprintf(c->pickup_ttl, sizeof(c->pickup_ttl), "%lld days", c->pickup_days);
	if (mall_db_register() == -1 || mall_cache_configure() == -1)
		return -1;
	/* Volunteer activities: their own error codes, settings and SQL. */
	if (mall_activities_configure() == -1)
		return -1;
	return 0;
}

static int
mall_worker_init(void)
{
	return mall_expiry_worker_start();
}

/*
 * Errors of the mall. Codes are part of the API contract (api-spec/mall.yaml):
 * never rename one, add a new code instead. SQL functions raise them by name.
 */
static const struct yx_error_def mall_errors[] = {
    {"not_in_scope", 403, "无权管理该社区的积分或商品"},
    {"self_award_forbidden", 403, "不能给自己发放积分"},
    {"item_not_found", 404, "商品不存在或已下架"},
    {"order_not_found", 404, "订单不存在"},
    {"insufficient_points", 409, "积分不足"},
    {"out_of_stock", 409, "商品库存不足"},
    {"limit_exceeded", 409, "已超过本月兑换限额"},
    {"item_not_on_sale", 409, "商品不在兑换时间内"},
    {"order_not_cancellable", 409, "订单已领取或已关闭，无法取消"},
    {"order_not_pending", 409, "订单已领取、取消或过期"},
    {"daily_cap_exceeded", 409, "本社区今日积分发放已达上限"},
    {"invalid_pickup_code", 422, "取货码不正确"},
    {"invalid_sale_window", 422, "兑换结束时间须晚于开始时间"},
};

const struct yx_service_def yx_service_def = {
    .name = "mall",
    .default_port = 8082,
    .use_db = true,
    .use_redis = true,
    .verify_identity = true,
    .configure = mall_configure,
    .worker_init = mall_worker_init,
    .command = mall_command,
    .commands_help = MALL_COMMANDS_HELP,
    .errors = mall_errors,
    .nerrors = sizeof(mall_errors) / sizeof(mall_errors[0]),
};
