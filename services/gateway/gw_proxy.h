/*
 * gw_proxy.h - forwarding of the public API (/api/v1/...) to the service
 * that owns each path prefix: the route table, CORS, limits and
 * authentication on the way in, the request sent upstream (hop-by-hop
 * headers, credentials and client-forged identity headers removed, request
 * id, X-Forwarded-For and signed identity added) and the response relayed
 * back.
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <kore/kore.h>
#include <kore/http.h>

#include "gw_policy.h"

struct gw_fwd;

/*
 * Parent process: define every upstream the route table names, each from
 * YX_UPSTREAM_<NAME> ("host:port"; unset means not deployed), and bind the
 * routes to them; read the CORS settings. Call after
 * gw_upstream_set_limits(). Returns 0, or -1 with a message on stderr.
 */
int gw_proxy_configure(void);

/* Kore handler for ^/api/v1/ : forwards the request or replies a problem. */
int gw_forward(struct http_request *req);

/* Kore handler for everything else: 404 route_not_found. */
int gw_not_found(struct http_request *req);

/*
 * The gateway's state of req, created on the first call with route class
 * cls: when the request ends it is counted in the metrics (class, status,
 * duration) and its access log line gets the class, the upstream and the
 * outcome. Every handler of the gateway calls it (or gw_forward does).
 */
struct gw_fwd *gw_track(struct http_request *req, enum gw_class cls);

#endif
