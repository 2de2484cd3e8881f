/*
 * gw_health.c - upstream probes and the gateway's own endpoints: /healthz,
 * /readyz and /metrics.
 *
 * Each worker probes every deployed upstream with GET /healthz through the
 * same client and pools the proxy uses, one probe per upstream at a time,
 * every YX_HEALTH_INTERVAL_MS; an upstream is "up" when its last probe got a
 * 200 and "down" otherwise (and before the first probe has answered). The
 * state is per worker: the worker that answers /healthz reports its view.
 *
 * /metrics (gw_metrics.h) is for the monitoring system only: with
 * YX_METRICS_TOKEN (or YX_METRICS_TOKEN_FILE) set it wants
 * "Authorization: Bearer <that token>" from anywhere; without, it answers
 * loopback clients only. Set the token whenever something on the same host
 * (a reverse proxy) forwards public traffic to the gateway.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gw_health.h"
#include "gw_metrics.h"
#include "gw_policy.h"
#include "gw_proxy.h"
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
static char metrics_token[256]; /* empty: loopback clients only */

static void health_tick(void *arg, uint64_t now);
static void probe_start(struct gw_probe *p);
static void probe_done(struct gw_call *call, void *arg);
static void probe_record(struct gw_probe *p, struct gw_call *call);
static void upstreams_json(struct yx_jw *w, bool *all_up, char *down, size_t cap);
static int metrics_token_load(void);
static bool metrics_allowed(struct http_request *req);

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
	return metrics_token_load();
}

/* YX_METRICS_TOKEN, or the first line of the file YX_METRICS_TOKEN_FILE names. */
static int
metrics_token_load(void)
{
	const char *v = yx_config_str("YX_METRICS_TOKEN", NULL);
	const char *path = yx_config_str("YX_METRICS_TOKEN_FILE", NULL);
	FILE *fp;
	size_t n;

	if (v != NULL && path != NULL) {
		fprintf(stderr, "set YX_METRICS_TOKEN or YX_METRICS_TOKEN_FILE, not both\n");
		return -1;
	}
	if (path != NULL) {
		if ((fp = fopen(path, "r")) == NULL) {
			fprintf(stderr, "YX_METRICS_TOKEN_FILE: cannot read the file\n");
			return -1;
		}
		if (fgets(metrics_token, sizeof(metrics_token), fp) == NULL)
			metrics_token[0] = '\0';
		fclose(fp);
		metrics_token[strcspn(metrics_token, "\r\n")] = '\0';
	} else if (v != NULL) {
		if (strlen(v) >= sizeof(metrics_token)) {
			fprintf(stderr, "YX_METRICS_TOKEN: at most %zu characters\n",
			        sizeof(metrics_token) - 1);
			return -1;
		}
		memcpy(metrics_token, v, strlen(v) + 1);
	}
	n = strlen(metrics_token);
	if ((v != NULL || path != NULL) &&
	    (n < 16 || strspn(metrics_token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                                     "0123456789-._~+/") != n)) {
		fprintf(stderr, "YX_METRICS_TOKEN: use at least 16 characters of A-Z a-z 0-9 "
		                "-._~+/ (it travels as a bearer token)\n");
		return -1;
	}
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

	gw_track(req, GW_CLASS_OPS);
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

	gw_track(req, GW_CLASS_OPS);
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

/* The token when one is configured, else a loopback client. */
static bool
metrics_allowed(struct http_request *req)
{
	const struct connection *c = req->owner;
	const char *hdr, *tok;
	size_t len;

	if (metrics_token[0] != '\0')
		return http_request_header(req, "authorization", &hdr) &&
		       gw_bearer_token(hdr, sizeof(metrics_token), &tok, &len) == 1 &&
		       len == strlen(metrics_token) && CRYPTO_memcmp(tok, metrics_token, len) == 0;
	if (c == NULL)
		return false;
	if (c->family == AF_INET)
		return (ntohl(c->addr.ipv4.sin_addr.s_addr) >> 24) == 127;
	if (c->family == AF_INET6) {
		const struct in6_addr *a = &c->addr.ipv6.sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

int
gw_metrics_page(struct http_request *req)
{
	const char *names[GW_UPSTREAM_MAX];
	size_t i, n = gw_upstream_count(), len;
	char *text;

	gw_track(req, GW_CLASS_OPS);
	if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_HEAD)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!metrics_allowed(req))
		return yx_reply_problem(req, "forbidden", NULL);
	for (i = 0; i < n && i < GW_UPSTREAM_MAX; i++)
		names[i] = gw_upstream_name(gw_upstream_at(i));
	if ((text = gw_metrics_render(names, i, &len)) == NULL)
		return yx_reply_problem(req, "internal_error", NULL);
	http_response_header(req, "content-type", "text/plain; version=0.0.4; charset=utf-8");
	http_response_header(req, "x-request-id", yx_req(req)->request_id);
	http_response_header(req, "cache-control", "no-store");
	http_response(req, 200, text, len);
	free(text);
	return KORE_RESULT_OK;
}
