/*
 * gw_metrics.c - shared atomic counters and their Prometheus text rendering
 * (see gw_metrics.h). The mapping is created once in the parent; workers
 * only add to it (relaxed atomics: each counter is independent, and a scrape
 * needs no consistent snapshot across counters).
 */
#include <sys/mman.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_metrics.h"

#define STATUS_SLOTS 600

struct gw_metrics_shm {
	uint64_t requests[GW_CLASS_N][STATUS_SLOTS];
	uint64_t buckets[GW_CLASS_N][GW_METRICS_BUCKETS + 1]; /* last: above the top bound */
	uint64_t duration_us_sum[GW_CLASS_N];
	uint64_t upstream_errors[GW_METRICS_UPSTREAMS][GW_UPERR_N];
	uint64_t rate_limited[GW_CLASS_N][GW_RL_SCOPES];
	uint64_t rl_fallback[GW_CLASS_N];
	uint64_t auth_failures[GW_AUTH_N];
	uint64_t token_cache[2]; /* misses, hits */
};

static struct gw_metrics_shm *shm;

/* Upper bounds of the latency buckets, microseconds and as printed. */
static const int64_t bucket_us[GW_METRICS_BUCKETS] = {
    1000,   2500,   5000,    10000,   25000,   50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const char *const bucket_le[GW_METRICS_BUCKETS] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",  "0.5",    "1",     "2.5",  "5",     "10",
};

static const char *const uperr_names[GW_UPERR_N] = {
    "unavailable", "connect_timeout", "timeout", "bad_response", "busy",
};

static const char *const scope_names[GW_RL_SCOPES] = {"ip", "user"};

static const char *const auth_reason_names[GW_AUTH_N] = {
    "missing",
    "malformed",
    "bad_alg",
    "bad_typ",
    "unknown_kid",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "bad_issuer",
    "bad_audience",
    "bad_claims",
    "revoked",
    "revocation_unavailable",
};

const char *
gw_rl_scope_name(enum gw_rl_scope s)
{
	return (unsigned)s < GW_RL_SCOPES ? scope_names[s] : "ip";
}

const char *
gw_auth_reason_name(enum gw_auth_reason r)
{
	return (unsigned)r < GW_AUTH_N ? auth_reason_names[r] : "malformed";
}

int
gw_metrics_init(void)
{
	void *p;

	if (shm != NULL)
		return 0;
	p = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("gateway metrics: mmap");
		return -1;
	}
	shm = p;
	return 0;
}

static void
add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static uint64_t
get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void
gw_metrics_request(enum gw_class c, int status, int64_t duration_us)
{
	size_t b;

	if (shm == NULL || (unsigned)c >= GW_CLASS_N)
		return;
	if (status == 0)
		status = 499;
	if (status < 100 || status >= STATUS_SLOTS)
		status = 500;
	if (duration_us < 0)
		duration_us = 0;
	add(&shm->requests[c][status], 1);
	for (b = 0; b < GW_METRICS_BUCKETS && duration_us > bucket_us[b]; b++)
		;
	add(&shm->buckets[c][b], 1);
	add(&shm->duration_us_sum[c], (uint64_t)duration_us);
}

void
gw_metrics_upstream_error(size_t upstream, enum gw_uperr kind)
{
	if (shm != NULL && upstream < GW_METRICS_UPSTREAMS && (unsigned)kind < GW_UPERR_N)
		add(&shm->upstream_errors[upstream][kind], 1);
}

void
gw_metrics_rate_limited(enum gw_class c, enum gw_rl_scope s)
{
	if (shm != NULL && (unsigned)c < GW_CLASS_N && (unsigned)s < GW_RL_SCOPES)
		add(&shm->rate_limited[c][s], 1);
}

void
gw_metrics_rl_fallback(enum gw_class c)
{
	if (shm != NULL && (unsigned)c < GW_CLASS_N)
		add(&shm->rl_fallback[c], 1);
}

void
gw_metrics_auth_failure(enum gw_auth_reason r)
{
	if (shm != NULL && (unsigned)r < GW_AUTH_N)
		add(&shm->auth_failures[r], 1);
}

void
gw_metrics_token_cache(bool hit)
{
	if (shm != NULL)
		add(&shm->token_cache[hit ? 1 : 0], 1);
}

/* A growing text buffer; failed stays set once an allocation fails. */
struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t need;
	char *grown;
	int n;

	if (o->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->failed = true;
		return;
	}
	if ((size_t)n < o->cap - o->len) {
		o->len += (size_t)n;
		return;
	}
	need = o->len + (size_t)n + 1;
	if (need < o->cap * 2)
		need = o->cap * 2;
	if ((grown = realloc(o->buf, need)) == NULL) {
		o->failed = true;
		return;
	}
	o->buf = grown;
	o->cap = need;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->failed = true;
		return;
	}
	o->len += (size_t)n;
}

static void
render_requests(struct out *o)
{
	static const struct gw_metrics_shm zero;
	const struct gw_metrics_shm *m = shm != NULL ? shm : &zero;
	uint64_t v, cum;
	size_t c, s, b;

	out_printf(o, "# HELP yx_gateway_requests_total Requests answered, by route class and "
	              "status code (499: the client left before the answer).\n"
	              "# TYPE yx_gateway_requests_total counter\n");
	for (c = 0; c < GW_CLASS_N; c++) {
		for (s = 0; s < STATUS_SLOTS; s++) {
			if ((v = get(&m->requests[c][s])) != 0)
				out_printf(
				    o,
				    "yx_gateway_requests_total{class=\"%s\",code=\"%zu\"} %llu\n",
				    gw_class_name((enum gw_class)c), s, (unsigned long long)v);
		}
	}

	out_printf(o, "# HELP yx_gateway_request_duration_seconds Time from the request's "
	              "arrival to its end, by route class.\n"
	              "# TYPE yx_gateway_request_duration_seconds histogram\n");
	for (c = 0; c < GW_CLASS_N; c++) {
		const char *name = gw_class_name((enum gw_class)c);

		cum = 0;
		for (b = 0; b < GW_METRICS_BUCKETS; b++) {
			cum += get(&m->buckets[c][b]);
			out_printf(
			    o,
			    "yx_gateway_request_duration_seconds_bucket{class=\"%s\",le=\"%s\"} "
			    "%llu\n",
			    name, bucket_le[b], (unsigned long long)cum);
		}
		cum += get(&m->buckets[c][GW_METRICS_BUCKETS]);
		out_printf(
		    o,
		    "yx_gateway_request_duration_seconds_bucket{class=\"%s\",le=\"+Inf\"} %llu\n"
		    "yx_gateway_request_duration_seconds_sum{class=\"%s\"} %.6f\n"
		    "yx_gateway_request_duration_seconds_count{class=\"%s\"} %llu\n",
		    name, (unsigned long long)cum, name, (double)get(&m->duration_us_sum[c]) / 1e6,
		    name, (unsigned long long)cum);
	}
}

static void
render_rest(struct out *o, const char *const *upstreams, size_t n)
{
	static const struct gw_metrics_shm zero;
	const struct gw_metrics_shm *m = shm != NULL ? shm : &zero;
	size_t u, k, c, s;

	out_printf(o, "# HELP yx_gateway_upstream_errors_total Forwarded requests that got no "
	              "usable answer, by upstream and kind.\n"
	              "# TYPE yx_gateway_upstream_errors_total counter\n");
	for (u = 0; u < n && u < GW_METRICS_UPSTREAMS; u++) {
		for (k = 0; k < GW_UPERR_N; k++)
			out_printf(
			    o,
			    "yx_gateway_upstream_errors_total{upstream=\"%s\",kind=\"%s\"} %llu\n",
			    upstreams[u], uperr_names[k],
			    (unsigned long long)get(&m->upstream_errors[u][k]));
	}

	out_printf(o, "# HELP yx_gateway_rate_limited_total Requests refused with 429, by route "
	              "class and the limit (client address or user) they hit.\n"
	              "# TYPE yx_gateway_rate_limited_total counter\n");
	for (c = 0; c < GW_CLASS_N; c++) {
		if (c == GW_CLASS_OPS || c == GW_CLASS_NONE)
			continue;
		for (s = 0; s < GW_RL_SCOPES; s++)
			out_printf(
			    o, "yx_gateway_rate_limited_total{class=\"%s\",scope=\"%s\"} %llu\n",
			    gw_class_name((enum gw_class)c), scope_names[s],
			    (unsigned long long)get(&m->rate_limited[c][s]));
	}

	out_printf(o, "# HELP yx_gateway_ratelimit_fallback_total Limits counted in process "
	              "because Redis could not answer.\n"
	              "# TYPE yx_gateway_ratelimit_fallback_total counter\n");
	for (c = 0; c < GW_CLASS_N; c++) {
		if (c == GW_CLASS_OPS || c == GW_CLASS_NONE)
			continue;
		out_printf(o, "yx_gateway_ratelimit_fallback_total{class=\"%s\"} %llu\n",
		           gw_class_name((enum gw_class)c),
		           (unsigned long long)get(&m->rl_fallback[c]));
	}

	out_printf(o, "# HELP yx_gateway_auth_failures_total Requests refused authentication, "
	              "by reason.\n"
	              "# TYPE yx_gateway_auth_failures_total counter\n");
	for (k = 0; k < GW_AUTH_N; k++)
		out_printf(o, "yx_gateway_auth_failures_total{reason=\"%s\"} %llu\n",
		           auth_reason_names[k], (unsigned long long)get(&m->auth_failures[k]));

	out_printf(o,
	           "# HELP yx_gateway_token_cache_total Access token lookups in the verified-token "
	           "cache.\n"
	           "# TYPE yx_gateway_token_cache_total counter\n"
	           "yx_gateway_token_cache_total{result=\"hit\"} %llu\n"
	           "yx_gateway_token_cache_total{result=\"miss\"} %llu\n",
	           (unsigned long long)get(&m->token_cache[1]),
	           (unsigned long long)get(&m->token_cache[0]));
}

char *
gw_metrics_render(const char *const *upstreams, size_t n, size_t *len)
{
	struct out o = {NULL, 0, 0, false};

	if ((o.buf = malloc(16384)) == NULL)
		return NULL;
	o.cap = 16384;
	o.buf[0] = '\0';
	render_requests(&o);
	render_rest(&o, upstreams, n);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	if (len != NULL)
		*len = o.len;
	return o.buf;
}
