/*
 * yx_breaker: a circuit breaker with no I/O and no clock of its own.
 *
 * It protects a single-threaded caller (a Kore worker) from waiting on a
 * dependency that has stopped answering. After `failures` consecutive
 * failures it opens and refuses every call for `cooldown_ms`; then it lets one
 * trial call through (half-open); the trial's success closes it, its failure
 * opens it again for another cooldown. Time is passed in as milliseconds from
 * any monotonic clock, so tests drive it without sleeping.
 */
#ifndef YX_BREAKER_H
#define YX_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum yx_breaker_state {
	YX_BREAKER_CLOSED,
	YX_BREAKER_OPEN,
	YX_BREAKER_HALF_OPEN,
};

/*
 * Plain data owned by the caller (embed it in the struct it protects); read
 * `state` freely, change it only through the functions below.
 */
struct yx_breaker {
	enum yx_breaker_state state;
	unsigned threshold;   /* consecutive failures that open it */
	unsigned failures;    /* consecutive failures seen while closed */
	int64_t cooldown_ms;  /* how long it stays open */
	int64_t opened_at_ms; /* when it last opened */
	int64_t trial_at_ms;  /* when the half-open trial was let through */
	bool trial_in_flight; /* a half-open trial has not reported back */
};

/*
 * Start closed. A `failures` of 0 is taken as 1; a negative cooldown as 0.
 */
void yx_breaker_init(struct yx_breaker *b, unsigned failures, int64_t cooldown_ms);

/*
 * Ask before each call. Closed: true. Open: false until cooldown_ms have
 * passed since it opened, then it turns half-open and returns true once for
 * the trial. Half-open: false while the trial is out; a trial that never
 * reports back is taken as lost after another cooldown and a new one is let
 * through, so a forgotten report cannot wedge the breaker.
 */
bool yx_breaker_allow(struct yx_breaker *b, int64_t now_ms);

/*
 * Report that an allowed call succeeded: closes the breaker and forgets past
 * failures.
 */
void yx_breaker_success(struct yx_breaker *b);

/*
 * Report that an allowed call failed at now_ms. Closed: counts it and opens at
 * the threshold. Half-open: the trial failed, open again from now_ms. Open (a
 * late report of a call allowed before it opened): no change, so the cooldown
 * is not stretched by stragglers.
 */
void yx_breaker_failure(struct yx_breaker *b, int64_t now_ms);

/*
 * "closed", "open" or "half-open"; a static string.
 */
const char *yx_breaker_state_name(const struct yx_breaker *b);

#endif
