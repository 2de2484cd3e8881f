/*
 * yx_gcra: GCRA arithmetic and the in-process limiter table, see yx_gcra.h.
 */
#include <stddef.h>
#include <string.h>

#include "yx_gcra.h"

#define GCRA_MAX_TOLERANCE_US (1LL << 50)
#define GCRA_LOCAL_SETS       (YX_GCRA_LOCAL_SLOTS / YX_GCRA_LOCAL_WAYS)

_Static_assert(YX_GCRA_LOCAL_SLOTS % YX_GCRA_LOCAL_WAYS == 0, "slots must fill whole sets");

int
yx_gcra_params(int64_t period_ms, int64_t limit, int64_t burst, int64_t *interval_us,
               int64_t *tolerance_us)
{
	int64_t interval;

	if (period_ms < 1 || period_ms > YX_GCRA_MAX_PERIOD_MS || limit < 1 || burst < 1)
		return -1;
	interval = period_ms * 1000 / limit;
	if (interval < 1)
		interval = 1;
	if (burst > GCRA_MAX_TOLERANCE_US / interval)
		return -1;
	*interval_us = interval;
	*tolerance_us = interval * burst;
	return 0;
}

enum yx_rl_result
yx_gcra_step(int64_t *tat_us, int64_t now_us, int64_t interval_us, int64_t tolerance_us,
             int64_t *retry_after_us, int64_t *remaining)
{
	int64_t tat, new_tat, allow_at;

	tat = *tat_us < now_us ? now_us : *tat_us;
	new_tat = tat + interval_us;
	allow_at = new_tat - tolerance_us;
	if (now_us < allow_at) {
		if (retry_after_us != NULL)
			*retry_after_us = allow_at - now_us;
		if (remaining != NULL)
			*remaining = 0;
		return YX_RL_LIMITED;
	}
	*tat_us = new_tat;
	if (retry_after_us != NULL)
		*retry_after_us = 0;
	if (remaining != NULL)
		*remaining = (now_us - allow_at) / interval_us;
	return YX_RL_ALLOWED;
}

void
yx_gcra_local_init(struct yx_gcra_local *t)
{
	memset(t, 0, sizeof(*t));
}

/* FNV-1a, then a splitmix64 finaliser so the set index uses well-mixed bits. */
static uint64_t
gcra_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;

	for (p = (const unsigned char *)key; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h == 0 ? 1 : h;
}

/*
 * The entry for hash: its own if present, else an empty one, else the one
 * with the earliest TAT, which is reset to "never seen".
 */
static struct yx_gcra_local_entry *
gcra_local_slot(struct yx_gcra_local *t, uint64_t hash, int64_t now_us)
{
	struct yx_gcra_local_entry *set, *victim = NULL;
	size_t i;

	set = &t->slots[(hash % GCRA_LOCAL_SETS) * YX_GCRA_LOCAL_WAYS];
	for (i = 0; i < YX_GCRA_LOCAL_WAYS; i++) {
		if (set[i].hash == hash)
			return &set[i];
	}
	for (i = 0; i < YX_GCRA_LOCAL_WAYS; i++) {
		if (set[i].hash == 0) {
			victim = &set[i];
			break;
		}
		if (victim == NULL || set[i].tat_us < victim->tat_us)
			victim = &set[i];
	}
	if (victim->hash != 0 && victim->tat_us > now_us)
		t->evictions++;
	victim->hash = hash;
	victim->tat_us = 0;
	return victim;
}

enum yx_rl_result
yx_gcra_local_check(struct yx_gcra_local *t, const char *key, int64_t now_ms, int64_t period_ms,
                    int64_t limit, int64_t burst, int64_t *retry_after_ms)
{
	struct yx_gcra_local_entry *e;
	int64_t interval, tolerance, retry_us;
	enum yx_rl_result r;

	/* now_ms is bounded so that microsecond sums cannot overflow. */
	if (t == NULL || key == NULL || now_ms < 0 || now_ms > (INT64_MAX >> 2) / 1000 ||
	    yx_gcra_params(period_ms, limit, burst, &interval, &tolerance) == -1)
		return YX_RL_ERROR;
	e = gcra_local_slot(t, gcra_hash(key), now_ms * 1000);
	r = yx_gcra_step(&e->tat_us, now_ms * 1000, interval, tolerance, &retry_us, NULL);
	if (retry_after_ms != NULL)
		*retry_after_ms = (retry_us + 999) / 1000;
	return r;
}
