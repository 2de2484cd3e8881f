/*
 * mall_cache.h - what yx-mall keeps in Redis. PostgreSQL is the authority;
 * everything here is a copy that can be lost at any time, and a Redis that
 * fails or hangs (bounded by the yx_redis timeouts and breaker) only makes
 * the service take the PostgreSQL path: no function here reports an error to
 * the client.
 *
 * Keys (prefix "mall:", each multi-key script within one hash tag):
 *   mall:{items:<community>}:gen    generation of the community's item list
 *   mall:{items:<community>}:pages  hash: "<limit>:<after>" -> page body
 *   mall:{item:<id>}:gate           hash: v (stock_version), s (stock), newest wins
 *   mall:{lb:<community>:month:<YYYY-MM>}, mall:{lb:<community>:year:<YYYY>}
 *                                   sorted sets: user id -> points earned
 */
#ifndef MALL_CACHE_H
#define MALL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mall_db.h"

struct yx_redis;

/* Computes the script digests; call once in the parent. -1 on failure. */
int mall_cache_configure(void);

/*
 * The item list. A page is stored only under the generation read before
 * PostgreSQL was asked, so a page read before a change can never be stored
 * after the change's invalidation (which raises the generation and drops
 * every page atomically).
 */
struct mall_items_slot {
	char gen[24];
	bool usable; /* false: Redis did not answer, do not store */
};

/*
 * The cached body of page `field` of the community's list as malloc'd text
 * (caller frees) and its length, or NULL on a miss, when *slot tells under
 * which generation the page may be stored.
 */
char *mall_items_cache_get(const char *rid, const char *community, const char *field, size_t *len,
                           struct mall_items_slot *slot);

void mall_items_cache_put(const char *rid, const char *community, const char *field,
                          const struct mall_items_slot *slot, const char *body, size_t len);

/* After any change of the community's items (stock included). */
void mall_items_cache_invalidate(const char *rid, const char *community);

/*
 * The sold-out gate, a hint only: true when the copy of the item's stock is
 * below `quantity` (the caller then confirms with PostgreSQL, see orders.c).
 * Unknown (no copy, Redis down) is false. Each worker keeps the copy it read
 * for a second; copies in Redis live YX_MALL_GATE_TTL seconds.
 */
bool mall_gate_refuses(const char *rid, const char *item, int64_t quantity);

/*
 * Records the stock at stock_version `version` (as committed), in the
 * worker's copy and in Redis, unless a newer one is there.
 */
void mall_gate_set(const char *rid, const char *item, int64_t version, int64_t stock);

/*
 * Adds points earned by user in community to the leaderboards of the given
 * month ("YYYY-MM") and year ("YYYY"), as returned by the SQL function that
 * credited them. For awards, and for anything else credited through
 * ledger_credit() (activities). Best effort: `yx-mall rebuild-leaderboard`
 * repairs what a Redis outage lost.
 */
void mall_lb_credit(const char *rid, const char *community, const char *user, int64_t points,
                    const char *month, const char *year);

/*
 * The top `limit` entries of a leaderboard into out; 0 when Redis answered
 * (out->n may be 0: the key is missing or empty), -1 when it did not.
 */
int mall_lb_read(const char *rid, const char *community, const char *period, const char *label,
                 size_t limit, struct mall_lb *out);

/* The key of a leaderboard for handle r (its prefix); -1 when it does not fit. */
int mall_lb_key(const struct yx_redis *r, char *out, size_t cap, const char *community,
                const char *period, const char *label);

/* Seconds a leaderboard key of `period` lives after its last change. */
long long mall_lb_ttl(const char *period);

#endif
