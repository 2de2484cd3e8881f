/*
 * gw_health.h - the gateway's own endpoints: a periodic probe of every
 * deployed upstream from each worker, /healthz (liveness with the upstreams'
 * state), /readyz (ready when every deployed upstream and Redis answer) and
 * /metrics (Prometheus text; a token or loopback only, see gw_health.c).
 */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <kore/kore.h>
#include <kore/http.h>

/*
 * Parent process: read the probe period and timeout (YX_HEALTH_INTERVAL_MS,
 * YX_HEALTH_TIMEOUT_MS) and the metrics token (YX_METRICS_TOKEN[_FILE]).
 * Returns 0, or -1 with a message on stderr.
 */
int gw_health_configure(void);

/* Worker: probe every deployed upstream now and then every period. */
void gw_health_worker_init(void);

/* "up", "down" or "not_deployed", as this worker last saw the upstream. */
const char *gw_health_state(size_t upstream_index);

int gw_healthz(struct http_request *req);
int gw_readyz(struct http_request *req);
int gw_metrics_page(struct http_request *req);

#endif
