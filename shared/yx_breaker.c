/*
 * yx_breaker: the circuit breaker's state machine, see yx_breaker.h.
 */
#include <stddef.h>

#include "yx_breaker.h"

void
yx_breaker_init(struct yx_breaker *b, unsigned failures, int64_t cooldown_ms)
{
	b->state = YX_BREAKER_CLOSED;
	b->threshold = failures == 0 ? 1 : failures;
	b->failures = 0;
	b->cooldown_ms = cooldown_ms < 0 ? 0 : cooldown_ms;
	b->opened_at_ms = 0;
	b->trial_at_ms = 0;
	b->trial_in_flight = false;
}

static void
breaker_open(struct yx_breaker *b, int64_t now_ms)
{
	b->state = YX_BREAKER_OPEN;
	b->opened_at_ms = now_ms;
	b->trial_in_flight = false;
}

bool
yx_breaker_allow(struct yx_breaker *b, int64_t now_ms)
{
	switch (b->state) {
	case YX_BREAKER_CLOSED:
		return true;
	case YX_BREAKER_OPEN:
		if (now_ms - b->opened_at_ms < b->cooldown_ms)
			return false;
		b->state = YX_BREAKER_HALF_OPEN;
		b->trial_in_flight = true;
		b->trial_at_ms = now_ms;
		return true;
	case YX_BREAKER_HALF_OPEN:
		if (b->trial_in_flight && now_ms - b->trial_at_ms < b->cooldown_ms)
			return false;
		b->trial_in_flight = true;
		b->trial_at_ms = now_ms;
		return true;
	}
	return false;
}

void
yx_breaker_success(struct yx_breaker *b)
{
	b->state = YX_BREAKER_CLOSED;
	b->failures = 0;
	b->trial_in_flight = false;
}

void
yx_breaker_failure(struct yx_breaker *b, int64_t now_ms)
{
	switch (b->state) {
	case YX_BREAKER_CLOSED:
		if (b->failures < b->threshold)
			b->failures++;
		if (b->failures >= b->threshold)
			breaker_open(b, now_ms);
		break;
	case YX_BREAKER_HALF_OPEN:
		breaker_open(b, now_ms);
		break;
	case YX_BREAKER_OPEN:
		break;
	}
}

const char *
yx_breaker_state_name(const struct yx_breaker *b)
{
	switch (b->state) {
	case YX_BREAKER_CLOSED:
		return "closed";
	case YX_BREAKER_OPEN:
		return "open";
	case YX_BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "unknown";
}
