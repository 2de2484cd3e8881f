/*
 * gw_ratelimit.c - per-address and per-user GCRA limits by route class (see
 * gw_ratelimit.h). Limits are read once in the parent; each worker keeps
 * its own in-process table for when Redis cannot answer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gw_ratelimit.h"
#include "yx_config.h"
#include "yx_gcra.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_redis.h"
#include "yx_service.h"

#define PERIOD_MS 60000

struct limit {
	int64_t per_min; /* 0: off */
	int64_t burst;
};

/*
 * Indexed by class and scope; ops and none are never limited. An address
 * may be a carrier NAT shared by thousands of phones, so its limits are
 * flood guards; the user's are the tighter ones. Credential routes are the
 * strictest (identity adds its own per-number and backoff limits).
 */
static struct limit limits[GW_CLASS_N][GW_RL_SCOPES] = {
    [GW_CLASS_AUTH] = {{600, 300}, {60, 20}},
    [GW_CLASS_READ] = {{6000, 1000}, {600, 200}},
    [GW_CLASS_WRITE] = {{3000, 500}, {120, 60}},
};

/* Per worker. */
static struct yx_gcra_local local;
static bool redis_failing; /* the last Redis count failed: log changes only */

static const char *upper_class[GW_CLASS_N] = {"AUTH", "READ", "WRITE", NULL, NULL};
static const char *upper_scope[GW_RL_SCOPES] = {"IP", "USER"};

int
gw_ratelimit_configure(void)
{
	char name[64];
	long long v;
	int64_t interval, tolerance;
	size_t c, s;

	for (c = 0; c < GW_CLASS_N; c++) {
		if (upper_class[c] == NULL)
			continue;
		for (s = 0; s < GW_RL_SCOPES; s++) {
			snprintf(name, sizeof(name), "YX_RL_%s_%s_PER_MIN", upper_class[c],
			         upper_scope[s]);
			if (yx_config_int(name, limits[c][s].per_min, 0, 1000000000, &v) == -1)
				return -1;
			limits[c][s].per_min = v;
			snprintf(name, sizeof(name), "YX_RL_%s_%s_BURST", upper_class[c],
			         upper_scope[s]);
			if (yx_config_int(name, limits[c][s].burst, 1, 1000000, &v) == -1)
				return -1;
			limits[c][s].burst = v;
			/* Refused parameters would read as "Redis down" on every request. */
			if (limits[c][s].per_min > 0 &&
			    yx_gcra_params(PERIOD_MS, limits[c][s].per_min, limits[c][s].burst,
			                   &interval, &tolerance) == -1) {
				fprintf(stderr, "YX_RL_%s_%s_*: burst too large for the rate\n",
				        upper_class[c], upper_scope[s]);
				return -1;
			}
		}
	}
	return 0;
}

void
gw_ratelimit_worker_init(void)
{
	yx_gcra_local_init(&local);
}

static int
reply_limited(struct http_request *req, enum gw_class c, enum gw_rl_scope s, int64_t retry_ms)
{
	char v[24];

	gw_metrics_rate_limited(c, s);
	snprintf(v, sizeof(v), "%" PRId64, gw_retry_after_seconds(retry_ms));
	http_response_header(req, "retry-after", v);
	return yx_reply_problem(req, "rate_limited", NULL);
}

/*
 * The in-process count while Redis is away: every worker counts alone, so
 * each gets its share of the limit (at least one request and a burst of one).
 */
static enum yx_rl_result
local_check(const char *key, const struct limit *l, int64_t *retry_ms)
{
	/* Kore counts its key manager and ACME slots in worker_count. */
	int64_t workers = worker_count > KORE_WORKER_BASE ? worker_count - KORE_WORKER_BASE : 1;
	int64_t per = l->per_min / workers, burst = l->burst / workers;

	return yx_gcra_local_check(&local, key, (int64_t)kore_time_ms(), PERIOD_MS,
	                           per > 0 ? per : 1, burst > 0 ? burst : 1, retry_ms);
}

int
gw_ratelimit_or_reply(struct http_request *req, enum gw_class c, const char *ip, const char *user,
                      const char **limited)
{
	struct yx_gcra_count counts[GW_RL_SCOPES];
	const struct limit *lim[GW_RL_SCOPES];
	enum gw_rl_scope scope[GW_RL_SCOPES];
	char keys[GW_RL_SCOPES][256];
	const char *subject;
	int64_t retry_ms = 0;
	size_t i, n = 0;
	int refused = -1;

	*limited = NULL;
	if ((unsigned)c >= GW_CLASS_N || upper_class[c] == NULL)
		return 0;
	for (i = 0; i < GW_RL_SCOPES; i++) {
		subject = i == GW_RL_IP ? ip : user;
		if (subject == NULL || limits[c][i].per_min == 0)
			continue;
		scope[n] = (enum gw_rl_scope)i;
		lim[n] = &limits[c][i];
		if (yx_app.redis == NULL ||
		    yx_redis_key(yx_app.redis, keys[n], sizeof(keys[n]), "{rl:%s:%s}:%s",
		                 gw_rl_scope_name(scope[n]), subject, gw_class_name(c)) == -1)
			snprintf(keys[n], sizeof(keys[n]), "gw:{rl:%s:%.180s}:%s",
			         gw_rl_scope_name(scope[n]), subject, gw_class_name(c));
		counts[n] = (struct yx_gcra_count){.key = keys[n],
		                                   .period_ms = PERIOD_MS,
		                                   .limit = lim[n]->per_min,
		                                   .burst = lim[n]->burst,
		                                   .result = YX_RL_ERROR};
		n++;
	}
	if (n == 0)
		return 0;
	if (yx_app.redis != NULL)
		yx_redis_gcra_many(yx_app.redis, counts, n);
	for (i = 0; i < n && counts[i].result != YX_RL_ERROR; i++)
		;
	if (i == n && redis_failing) {
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "ratelimit_redis",
		       "Redis counts limits again");
		redis_failing = false;
	}

	for (i = 0; i < n; i++) {
		if (counts[i].result != YX_RL_ERROR)
			continue;
		if (!redis_failing)
			yx_log(
			    YX_LOG_WARN, yx_req(req)->request_id, "ratelimit_fallback",
			    "Redis cannot count limits (%s): auth routes refused, others counted "
			    "in process",
			    yx_app.redis != NULL ? yx_redis_last_error(yx_app.redis) : "no Redis");
		redis_failing = true;
		if (c == GW_CLASS_AUTH) {
			http_response_header(req, "retry-after", "1");
			yx_reply_problem(req, "service_unavailable",
			                 "暂时无法处理登录请求，请稍后重试");
			return -1;
		}
		gw_metrics_rl_fallback(c);
		counts[i].result = local_check(keys[i], lim[i], &counts[i].retry_after_ms);
	}

	/* Refused by any limit; the wait is the longest of those that refused. */
	for (i = 0; i < n; i++) {
		if (counts[i].result != YX_RL_LIMITED)
			continue;
		if (refused == -1)
			refused = (int)i;
		if (counts[i].retry_after_ms > retry_ms)
			retry_ms = counts[i].retry_after_ms;
	}
	if (refused == -1)
		return 0;
	*limited = gw_rl_scope_name(scope[refused]);
	reply_limited(req, c, scope[refused], retry_ms);
	return -1;
}
