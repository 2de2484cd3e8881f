/*
 * gw_metrics.h - the gateway's counters for /metrics (Prometheus text format
 * 0.0.4), shared by all workers.
 *
 * Kore workers are separate processes, so per-process counters would each
 * tell a part of the story. The counters live in one anonymous shared
 * mapping created by the parent before the workers fork (and re-fork after a
 * worker dies), and every update is an atomic add, so any worker renders the
 * totals of the whole gateway. Pure code (no Kore): unit-tested alone
 * (tests/unit/test_gw_metrics.c).
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_policy.h"

/* Latency histogram bounds in seconds: 0.001 ... 10, then +Inf. */
#define GW_METRICS_BUCKETS 13

/* Upstream names are indexes into the gateway's upstream table. */
#define GW_METRICS_UPSTREAMS 16

enum gw_uperr {
	GW_UPERR_UNAVAILABLE,     /* refused, reset, closed before any answer */
	GW_UPERR_CONNECT_TIMEOUT, /* no connection within the connect timeout */
	GW_UPERR_TIMEOUT,         /* no complete answer within the response timeout */
	GW_UPERR_BAD_RESPONSE,    /* malformed or too large */
	GW_UPERR_BUSY,            /* the connection pool stayed full */
	GW_UPERR_N
};

enum gw_rl_scope { GW_RL_IP, GW_RL_USER, GW_RL_SCOPES };

/* Why a request was refused authentication (401, or 503 for revocation). */
enum gw_auth_reason {
	GW_AUTH_MISSING, /* a protected route without bearer credentials */
	GW_AUTH_MALFORMED,
	GW_AUTH_BAD_ALG,
	GW_AUTH_BAD_TYP,
	GW_AUTH_UNKNOWN_KID,
	GW_AUTH_BAD_SIGNATURE,
	GW_AUTH_EXPIRED,
	GW_AUTH_NOT_YET_VALID,
	GW_AUTH_BAD_ISSUER,
	GW_AUTH_BAD_AUDIENCE,
	GW_AUTH_BAD_CLAIMS,
	GW_AUTH_REVOKED,
	GW_AUTH_REVOCATION_UNAVAILABLE, /* Redis could not say: 503 */
	GW_AUTH_N
};

/* "scope" label values and reason slugs; static strings. */
const char *gw_rl_scope_name(enum gw_rl_scope s);
const char *gw_auth_reason_name(enum gw_auth_reason r);

/*
 * Parent process, before the workers fork: create the shared counters.
 * Returns 0, or -1 (with a message on stderr) when the mapping fails.
 * Calling it again resets nothing and returns 0. Until it is called, every
 * update below is dropped and rendering shows zeros.
 */
int gw_metrics_init(void);

/* A finished request: status 0 (the client left first) is counted as 499. */
void gw_metrics_request(enum gw_class c, int status, int64_t duration_us);
void gw_metrics_upstream_error(size_t upstream, enum gw_uperr kind);
void gw_metrics_rate_limited(enum gw_class c, enum gw_rl_scope s);
/* A limit counted in process because Redis could not answer. */
void gw_metrics_rl_fallback(enum gw_class c);
void gw_metrics_auth_failure(enum gw_auth_reason r);
void gw_metrics_token_cache(bool hit);

/*
 * The whole exposition as a malloc'd NUL-terminated string (length in *len
 * when len is not NULL), or NULL when out of memory. upstreams[i] names
 * upstream index i (n of them, at most GW_METRICS_UPSTREAMS are shown).
 */
char *gw_metrics_render(const char *const *upstreams, size_t n, size_t *len);

#endif
