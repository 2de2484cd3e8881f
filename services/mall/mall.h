/*
 * mall.h - process-wide settings of yx-mall, read once in the parent from
 * YX_MALL_* variables (main.c) and inherited by the workers.
 */
#ifndef MALL_H
#define MALL_H

struct mall_config {
	long long pickup_days;           /* YX_MALL_PICKUP_DAYS: an order waits this long */
	char pickup_ttl[32];             /* the same as a PostgreSQL interval, "14 days" */
	long long award_daily_cap;       /* YX_MALL_AWARD_DAILY_CAP: points per community and day */
	long long items_cache_ttl;       /* YX_MALL_ITEMS_CACHE_TTL: seconds a cached page lives */
	long long gate_ttl;              /* YX_MALL_GATE_TTL: seconds a stock copy lives */
	long long expire_interval_ms;    /* YX_MALL_EXPIRE_INTERVAL_MS: expiry timer */
	long long expire_batch;          /* YX_MALL_EXPIRE_BATCH: orders per statement */
	long long idempotency_ttl_hours; /* YX_MALL_IDEMPOTENCY_TTL_HOURS: stored responses */
};

extern struct mall_config mall_config;

#endif
