/*
 * gw_health.c - upstream probes and the gateway's /healthz and /readyz.
 *
 * Each worker probes every deployed upstream with GET /healthz through the
 * same client and pools the proxy uses, one probe per upstream at a time,
 * every YX_HEALTH_INTERVAL_MS; an upstream is "up" when its last probe got a
 * 200 and "down" otherwise (and before the first probe has answered). The
 * state is per worker: the worker that answers /healthz reports its view.
 */
#include <stdio.h>
#include <string.h>

#include "gw_health.h"
#include "gw_upstream.h"
#include "yx_config.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_redis.h"
#include "yx_service.h"

struct gw_probe {
	struct gw_call *call; /* the probe under way, if any */
	bool up;              /* the last probe answered 200 */
	bool seen;            /* a probe has finished */
	size_t index;
};

static struct gw_probe probes[GW_UPSTREAM_MAX];
static uint32_t interval_ms = 2000;
static uint32_t timeout_ms = 1000;

static void health_tick(void *arg, uint64_t now);
static void probe_start(struct gw_probe *p);
static void probe_done(struct gw_call *call, void *arg);
static void probe_record(struct gw_probe *p, struct gw_call *call);
static void upstreams_json(struct yx_jw *w, bool *all_up, char *down, size_t cap);

int
gw_health_configure(void)
{
	long long v;

	if (yx_config_int("YX_HEALTH_INTERVAL_MS", 2000, 100, 600000, &v) == -1)
		return -1;
	interval_ms = (uint32_t)v;
	if (yx_config_int("YX_HEALTH_TIMEOUT_MS", 1000, 10, 600000, &v) == -1)
		return -1;
	timeout_ms = (uint32_t)v;
	return 0;
}

void
gw_health_worker_init(void)
{
	size_t i;

	for (i = 0; i < GW_UPSTREAM_MAX; i++) {
		memset(&probes[i], 0, sizeof(probes[i]));
		probes[i].index = i;
	}
	(void)kore_timer_add(health_tick, interval_ms, NULL, 0);
	health_tick(NULL, 0);
}

const char *
gw_health_state(size_t i)
{
	struct gw_upstream *up = gw_upstream_at(i);

	if (up == NULL || !gw_upstream_deployed(up))
		return "not_deployed";
	return probes[i].up ? "up" : "down";
}

/* Probe every deployed upstream that has no probe under way. */
static void
health_tick(void *arg, uint64_t now)
{
	size_t i, n = gw_upstream_count();

	for (i = 0; i < n; i++) {
		if (gw_upstream_deployed(gw_upstream_at(i)) && probes[i].call == NULL)
			probe_start(&probes[i]);
	}
}

static void
probe_start(struct gw_probe *p)
{
	struct gw_upstream *up = gw_upstream_at(p->index);
	struct kore_buf b;
	uint8_t *req;
	size_t len;

	kore_buf_init(&b, 128);
	kore_buf_appendf(
	    &b, "GET /healthz HTTP/1.1\r\nHost: %s\r\nUser-Agent: yx-gateway-health\r\n\r\n",
	    gw_upstream_authority(up));
	req = kore_buf_release(&b, &len);
	p->call = gw_call_new(up, req, len, GW_CALL_IDEMPOTENT, probe_done, p);
	gw_call_set_timeouts(p->call, timeout_ms, timeout_ms);
	if (gw_call_start(p->call) == -1)
		probe_record(p, p->call);
}

static void
probe_done(struct gw_call *call, void *arg)
{
	probe_record(arg, call);
}

/* Keep the probe's verdict, log a change, free the call. */
static void
probe_record(struct gw_probe *p, struct gw_call *call)
{
	bool up = gw_call_result(call) == GW_CALL_OK && gw_call_status(call) == 200;

	if (up != p->up || !p->seen) {
		if (up)
			yx_log(YX_LOG_INFO, NULL, "upstream_up", "%s answers its health check",
			       gw_upstream_name(gw_upstream_at(p->index)));
		else
			yx_log(YX_LOG_WARN, NULL, "upstream_down", "%s health check failed: %s",
			       gw_upstream_name(gw_upstream_at(p->index)),
			       gw_call_result(call) == GW_CALL_OK ? "status not 200"
			                                          : gw_call_error(call));
	}
	p->up = up;
	p->seen = true;
	p->call = NULL;
	gw_call_free(call);
}

/*
 * "upstreams": {name: state, ...}; *all_up tells whether every deployed
 * upstream is up, and down collects the names of those that are not.
 */
static void
upstreams_json(struct yx_jw *w, bool *all_up, char *down, size_t cap)
{
	size_t i, n = gw_upstream_count(), used = 0;
	const char *state;
	int k;

	*all_up = true;
	yx_jw_key(w, "upstreams");
	yx_jw_obj_open(w);
	for (i = 0; i < n; i++) {
		state = gw_health_state(i);
		yx_jw_kv_str(w, gw_upstream_name(gw_upstream_at(i)), state);
		if (!strcmp(state, "down")) {
			*all_up = false;
			k = snprintf(down + used, cap - used, "%s%s", used ? ", " : "",
			             gw_upstream_name(gw_upstream_at(i)));
			if (k > 0 && (size_t)k < cap - used)
				used += (size_t)k;
		}
	}
	yx_jw_obj_close(w);
}

int
gw_healthz(struct http_request *req)
{
	struct yx_jw w;
	char down[256];
	bool all_up;

	yx_req(req);
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "status", "ok");
	yx_jw_kv_str(&w, "service", yx_service_def.name);
	upstreams_json(&w, &all_up, down, sizeof(down));
	yx_jw_obj_close(&w);
	return yx_reply_jw(req, 200, &w);
}

int
gw_readyz(struct http_request *req)
{
	struct yx_jw w;
	const char *redis = "not_used";
	char down[256], detail[320];
	bool all_up, ready;

	yx_req(req);
	down[0] = '\0';
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "status", "ready");
	yx_jw_kv_str(&w, "service", yx_service_def.name);
	upstreams_json(&w, &all_up, down, sizeof(down));
	ready = all_up;
	if (yx_app.redis != NULL) {
		redis = yx_redis_ping(yx_app.redis) ? "up" : "down";
		ready = ready && strcmp(redis, "up") == 0;
	}
	yx_jw_kv_str(&w, "redis", redis);
	yx_jw_obj_close(&w);
	if (ready)
		return yx_reply_jw(req, 200, &w);

	yx_jw_free(&w);
	snprintf(detail, sizeof(detail), "未就绪: %s%s%s", down,
	         down[0] != '\0' && strcmp(redis, "down") == 0 ? ", " : "",
	         strcmp(redis, "down") == 0 ? "redis" : "");
	return yx_reply_problem(req, "service_unavailable", detail);
}
