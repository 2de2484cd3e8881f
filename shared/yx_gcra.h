/*
 * yx_gcra: the generic cell rate algorithm (GCRA) used for rate limits, as
 * pure arithmetic, plus a small in-process table of limits for when Redis
 * cannot be reached.
 *
 * A limit is "limit requests per period_ms, at most burst at once". Each
 * request costs one emission interval T = period_ms * 1000 / limit
 * microseconds (rounded down, at least 1); a key's only state is its
 * theoretical arrival time (TAT). A request at time now is allowed when
 * TAT + T - burst * T <= now, and then TAT becomes max(TAT, now) + T. So a
 * fresh key takes `burst` requests at once and then one every T, and
 * an idle key regains its burst after burst * T. The Redis script in yx_redis.c
 * does exactly the same sums on the server's clock; yx_gcra_params() and
 * yx_gcra_step() are its reference.
 */
#ifndef YX_GCRA_H
#define YX_GCRA_H

#include <stdbool.h>
#include <stdint.h>

enum yx_rl_result {
	YX_RL_ALLOWED,
	YX_RL_LIMITED,
	YX_RL_ERROR,
};

/* Longest period accepted: 30 days. */
#define YX_GCRA_MAX_PERIOD_MS (30LL * 24 * 3600 * 1000)

/*
 * Turn a limit into the emission interval and the burst tolerance
 * (burst * interval), both in microseconds. -1 when period_ms is outside
 * 1..YX_GCRA_MAX_PERIOD_MS, limit or burst is below 1, or the tolerance would
 * exceed 2^50 us (about 35 years), which keeps every sum exact in Lua's
 * doubles as well as in int64.
 */
int yx_gcra_params(int64_t period_ms, int64_t limit, int64_t burst, int64_t *interval_us,
                   int64_t *tolerance_us);

/*
 * One GCRA decision for one request at now_us. *tat_us is the key's stored
 * TAT (0 for a key never seen). Allowed: *tat_us advances, *retry_after_us is
 * 0 and *remaining is how many more requests would be allowed right now.
 * Limited: *tat_us is unchanged, *retry_after_us is how long until one request
 * would be allowed, *remaining is 0. Either out pointer may be NULL.
 */
enum yx_rl_result yx_gcra_step(int64_t *tat_us, int64_t now_us, int64_t interval_us,
                               int64_t tolerance_us, int64_t *retry_after_us, int64_t *remaining);

/* Table size of the in-process limiter: sets of YX_GCRA_LOCAL_WAYS entries. */
#define YX_GCRA_LOCAL_SLOTS 2048
#define YX_GCRA_LOCAL_WAYS  8

struct yx_gcra_local_entry {
	uint64_t hash; /* 0: empty */
	int64_t tat_us;
};

/*
 * Fixed-size, allocation-free table of TATs keyed by a 64-bit hash of the key
 * (a collision, about 1 in 2^64 per pair of keys, would make two keys share a
 * limit). When a key's set is full the entry with the earliest TAT is evicted:
 * an entry whose TAT has passed holds no information at all, and otherwise it
 * is the one closest to having its full burst back, so eviction errs towards
 * letting a request through. The table lives in one process; with W workers on
 * G gateways the effective limit is up to W * G times the configured one, so
 * callers may scale the limit down while they fall back to it.
 */
struct yx_gcra_local {
	struct yx_gcra_local_entry slots[YX_GCRA_LOCAL_SLOTS];
	uint64_t evictions; /* live entries pushed out; for metrics */
};

/*
 * Empty the table. The caller owns the struct (about 32 KiB; put it in the
 * process's app struct rather than on the stack).
 */
void yx_gcra_local_init(struct yx_gcra_local *t);

/*
 * Count one request for key (a NUL-terminated string, not kept) at now_ms
 * against limit per period_ms with the given burst. YX_RL_ALLOWED or
 * YX_RL_LIMITED; YX_RL_ERROR for a NULL table or key, a negative (or absurdly
 * large) now_ms, or parameters that yx_gcra_params() refuses. *retry_after_ms (may be NULL) is 0
 * when allowed, else the wait in milliseconds, rounded up, before a request would pass.
 */
enum yx_rl_result yx_gcra_local_check(struct yx_gcra_local *t, const char *key, int64_t now_ms,
                                      int64_t period_ms, int64_t limit, int64_t burst,
                                      int64_t *retry_after_ms);

#endif
