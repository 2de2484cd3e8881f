/*
 * main.c - wiring of yx-gateway: the upstream client's limits from YX_*
 * variables, the upstreams and routes, authentication, rate limits, the
 * shared metrics, the health probes, and the service definition the shared
 * glue runs.
 *
 *   YX_UPSTREAM_<NAME>              host:port of identity, mall, hall,
 *                                   wishwall; unset = not deployed (503)
 *   YX_UPSTREAM_CONNECT_TIMEOUT_MS  waiting for + opening a connection (1000)
 *   YX_UPSTREAM_TIMEOUT_MS          writing the request + whole response (10000)
 *   YX_UPSTREAM_IDLE_TIMEOUT_MS     pooled idle connection lifetime (10000;
 *                                   keep it below the services' keep-alive)
 *   YX_UPSTREAM_MAX_IDLE            idle connections per upstream and worker (128)
 *   YX_UPSTREAM_MAX_CONNS           connections per upstream and worker (256)
 *   YX_UPSTREAM_BODY_MAX            largest upstream response body (8 MiB)
 *   YX_HEALTH_INTERVAL_MS           upstream probe period (2000)
 *   YX_HEALTH_TIMEOUT_MS            probe connect and response timeout (1000)
 *
 * Authentication: gw_auth.h; rate limits: gw_ratelimit.h; CORS:
 * gw_proxy.c; the /metrics token: gw_health.c.
 */
#include "gw_auth.h"
#include "gw_health.h"
#include "gw_metrics.h"
#include "gw_proxy.h"
#include "gw_ratelimit.h"
#include "gw_upstream.h"
#include "yx_config.h"
#include "yx_service.h"

/* Response status line and headers; Kore's own request header limit is 8 KiB. */
#define GW_UPSTREAM_HEAD_MAX 16384

static int gw_configure(void);
static int gw_worker_init(void);

/* Parent: limits, upstreams, routes and probe settings; -1 stops start-up. */
static int
gw_configure(void)
{
	struct gw_upstream_limits lim;
	long long v;

	if (yx_config_int("YX_UPSTREAM_CONNECT_TIMEOUT_MS", 1000, 1, 600000, &v) == -1)
		return -1;
	lim.connect_timeout_ms = (uint32_t)v;
	if (yx_config_int("YX_UPSTREAM_TIMEOUT_MS", 10000, 1, 3600000, &v) == -1)
		return -1;
	lim.timeout_ms = (uint32_t)v;
	if (yx_config_int("YX_UPSTREAM_IDLE_TIMEOUT_MS", 10000, 100, 3600000, &v) == -1)
		return -1;
	lim.idle_timeout_ms = (uint32_t)v;
	if (yx_config_int("YX_UPSTREAM_MAX_IDLE", 128, 0, 65536, &v) == -1)
		return -1;
	lim.max_idle = (uint32_t)v;
	if (yx_config_int("YX_UPSTREAM_MAX_CONNS", 256, 1, 65536, &v) == -1)
		return -1;
	lim.max_conns = (uint32_t)v;
	if (yx_config_int("YX_UPSTREAM_BODY_MAX", 8 * 1024 * 1024, 1024, 1024LL * 1024 * 1024,
	                  &v) == -1)
		return -1;
	lim.body_max = (size_t)v;
	lim.head_max = GW_UPSTREAM_HEAD_MAX;
	gw_upstream_set_limits(&lim);

	/* The counters must exist before the workers fork to be shared. */
	if (gw_metrics_init() == -1 || gw_proxy_configure() == -1 || gw_health_configure() == -1 ||
	    gw_auth_configure() == -1 || gw_ratelimit_configure() == -1)
		return -1;
	return 0;
}

/* Each worker: pool maintenance, caches, the fallback limiter, the probes. */
static int
gw_worker_init(void)
{
	if (gw_auth_worker_init() == -1)
		return -1;
	gw_ratelimit_worker_init();
	gw_upstream_worker_init();
	gw_health_worker_init();
	return 0;
}

const struct yx_service_def yx_service_def = {
    .name = "gateway",
    .default_port = 8080,
    .use_db = false,
    .use_redis = true,
    .verify_identity = false,
    .configure = gw_configure,
    .worker_init = gw_worker_init,
};
