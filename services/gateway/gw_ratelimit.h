/*
 * gw_ratelimit.h - the gateway's rate limits: GCRA in Redis (yx_redis_gcra)
 * per client address and per user, for each route class, so that every
 * worker of every gateway shares one count.
 *
 *   YX_RL_<CLASS>_<SCOPE>_PER_MIN   requests per minute; 0 turns the limit off
 *   YX_RL_<CLASS>_<SCOPE>_BURST     requests allowed at once
 *
 * CLASS is AUTH, READ or WRITE (gw_policy.h), SCOPE is IP or USER. Defaults
 * (per minute / burst): AUTH 600/300 per address and 60/20 per user; READ
 * 6000/1000 per address and 600/200 per user; WRITE 3000/500 per address
 * and 120/60 per user. An IPv6 client is counted by its /64.
 *
 * Redis keys: gw:{rl:ip:<address>}:<class> and gw:{rl:user:<sub>}:<class>.
 * When Redis cannot answer, read and write limits are counted in the worker
 * instead (yx_gcra_local, the limit divided among the workers), and auth
 * routes are refused with 503 (fail closed): their limits are what slows
 * down guessing, and per-worker counts would multiply them.
 */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <kore/kore.h>
#include <kore/http.h>

#include "gw_metrics.h"
#include "gw_policy.h"

/* Parent process: read the limits. 0, or -1 with a message on stderr. */
int gw_ratelimit_configure(void);

/* Worker: empty in-process table for the fallback. */
void gw_ratelimit_worker_init(void);

/*
 * Count one request of class c for the client address ip (its
 * gw_ip_subject) and for user (the token's subject), each when not NULL and
 * its limit is on, in one Redis round trip. Returns 0 when it may pass, or
 * -1 after replying 429 rate_limited with Retry-After (the longest wait of
 * the limits that refused; *limited then names the first: "ip" or "user"),
 * or 503 service_unavailable (auth class without Redis).
 */
int gw_ratelimit_or_reply(struct http_request *req, enum gw_class c, const char *ip,
                          const char *user, const char **limited);

#endif
