/*
 * gw_proxy.h - forwarding of the public API (/api/v1/...) to the service
 * that owns each path prefix: the route table, the request sent upstream
 * (hop-by-hop and client-forged identity headers removed, request id,
 * X-Forwarded-For and signed identity added) and the response relayed back.
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <kore/kore.h>
#include <kore/http.h>

/*
 * Parent process: define every upstream the route table names, each from
 * YX_UPSTREAM_<NAME> ("host:port"; unset means not deployed), and bind the
 * routes to them. Call after gw_upstream_set_limits(). Returns 0, or -1
 * with a message on stderr.
 */
int gw_proxy_configure(void);

/* Kore handler for ^/api/v1/ : forwards the request or replies a problem. */
int gw_forward(struct http_request *req);

#endif
