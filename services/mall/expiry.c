/*
 * expiry.c - the service's own housekeeping, in Kore worker 1 of each
 * instance: orders not picked up in time are expired and refunded
 * (mall.expire_orders), and old idempotency records are purged.
 *
 * Why Kore's asynchronous pgsql path and not a private blocking libpq
 * connection: worker 1 also serves requests, and a blocking statement would
 * stall all of them for as long as PostgreSQL takes (statement_timeout
 * bounds only the server's side, not a network that stopped answering).
 * So, like the outbox relay (shared/kore/yx_outbox.c), the statements run on
 * the worker's pool bound to a callback instead of a request; the callback
 * only schedules a zero-delay timer, and the state machine advances from
 * timers, never from inside Kore's pgsql code. A statement without an
 * answer within YX_DB_TIMEOUT_MS has its socket shut down and the round is
 * abandoned (retried later with backoff).
 *
 * A round: expire up to YX_MALL_EXPIRE_BATCH orders, again at once while
 * batches come back full; about once a minute, purge idempotency records
 * older than YX_MALL_IDEMPOTENCY_TTL_HOURS. Several instances may run at
 * once: expire_orders skips orders another transaction holds.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/pgsql.h>

#include "expiry.h"
#include "mall.h"
#include "mall_cache.h"
#include "mall_db.h"
#include "yx_config.h"
#include "yx_log.h"
#include "yx_service.h"

#define EXPIRY_PURGE_BATCH  1000
#define EXPIRY_BACKOFF_MAX  60000
#define EXPIRY_PURGE_PERIOD 60000 /* ms between purges */

enum phase { PH_IDLE, PH_EXPIRE, PH_PURGE };

static struct {
	enum phase phase;
	struct kore_pgsql sql;
	bool active, sent, queued, timed_out, kick_pending, again;
	u_int64_t started, resume_at, next_purge;
	unsigned failures;
	PGresult *res;
	char batch[16], hours[16], purge_batch[16];
} ex;

static long long timeout_ms = 5000;

static void expiry_drive(void);

static void
expiry_kick(void *arg, u_int64_t now)
{
	ex.kick_pending = false;
	expiry_drive();
}

/* Called from inside Kore's pgsql code: defer to a timer. */
static void
expiry_cb(struct kore_pgsql *sql, void *arg)
{
	ex.queued = false;
	if (ex.kick_pending)
		return;
	ex.kick_pending = true;
	kore_timer_add(expiry_kick, 0, NULL, KORE_TIMER_ONESHOT);
}

static void
expiry_start(enum phase phase)
{
	kore_pgsql_init(&ex.sql);
	kore_pgsql_bind_callback(&ex.sql, expiry_cb, NULL);
	ex.active = true;
	ex.sent = false;
	ex.queued = false;
	ex.timed_out = false;
	ex.phase = phase;
	ex.started = kore_time_ms();
}

static void
expiry_release(void)
{
	if (ex.active) {
		kore_pgsql_cleanup(&ex.sql);
		ex.active = false;
	}
	if (ex.res != NULL) {
		PQclear(ex.res);
		ex.res = NULL;
	}
	ex.phase = PH_IDLE;
	ex.sent = false;
	ex.queued = false;
	ex.timed_out = false;
}

static void
expiry_backoff(void)
{
	u_int64_t wait = (u_int64_t)mall_config.expire_interval_ms;
	unsigned i;

	if (ex.failures < 16)
		ex.failures++;
	for (i = 0; i < ex.failures && wait < EXPIRY_BACKOFF_MAX; i++)
		wait *= 2;
	if (wait > EXPIRY_BACKOFF_MAX)
		wait = EXPIRY_BACKOFF_MAX;
	ex.resume_at = kore_time_ms() + wait;
}

static void
expiry_fail(const char *what)
{
	const char *msg = ex.sql.error ? ex.sql.error : "no answer";

	if (ex.timed_out) {
		msg = "no answer in time";
		if (ex.sql.conn != NULL)
			(void)PQconsumeInput(ex.sql.conn->db);
	}
	yx_log(YX_LOG_WARN, NULL, "expiry", "%s failed: %s", what, msg);
	ex.again = false;
	expiry_backoff();
	expiry_release();
}

/* One item's stock came back: mirror it in Redis. */
static void
on_stock_change(const struct mall_stock_change *c, void *arg)
{
	yx_log(YX_LOG_INFO, NULL, "orders_expired", "%d order(s) of item %s expired and refunded",
	       c->expired, c->item);
	mall_gate_set(NULL, c->item, c->version, c->stock);
	mall_items_cache_invalidate(NULL, c->community);
}

/* The statement of the current phase completed, its rows in ex.res. */
static void
expiry_step_done(void)
{
	PGresult *res = ex.res;
	enum phase done = ex.phase;
	int64_t n;

	ex.res = NULL;
	if (ex.active) {
		kore_pgsql_cleanup(&ex.sql);
		ex.active = false;
	}
	ex.phase = PH_IDLE;
	ex.sent = false;
	ex.failures = 0;
	if (done == PH_EXPIRE) {
		n = mall_db_expired_each(res, on_stock_change, NULL);
		if (n < 0)
			yx_log(YX_LOG_ERROR, NULL, "expiry", "malformed result of expire_orders");
		ex.again = n >= mall_config.expire_batch;
	} else if (done == PH_PURGE) {
		n = mall_db_scalar(res);
		if (n > 0)
			yx_log(YX_LOG_INFO, NULL, "idempotency_purged", "%lld record(s)",
			       (long long)n);
	}
	if (res != NULL)
		PQclear(res);
	if (ex.again) {
		ex.again = false;
		expiry_start(PH_EXPIRE);
	} else if (done == PH_EXPIRE && kore_time_ms() >= ex.next_purge) {
		ex.next_purge = kore_time_ms() + EXPIRY_PURGE_PERIOD;
		expiry_start(PH_PURGE);
	}
}

/* Advances the current statement as far as it can go without waiting. */
static void
expiry_drive(void)
{
	const char *params[2];
	int ok;

	for (;;) {
		if (ex.phase == PH_IDLE || !ex.active)
			return;
		if (!ex.sent) {
			if (ex.queued)
				return;
			if (!kore_pgsql_setup(&ex.sql, YX_DB_NAME, KORE_PGSQL_ASYNC)) {
				if (ex.sql.state == KORE_PGSQL_STATE_INIT) {
					ex.queued = true; /* the callback comes back */
					return;
				}
				expiry_fail("connect");
				return;
			}
			ex.sent = true;
			ex.started = kore_time_ms();
			if (ex.phase == PH_EXPIRE) {
				params[0] = ex.batch;
				ok = kore_pgsql_query_prepared(&ex.sql, mall_db_expire_stmt.name, 1,
				                               params, NULL, NULL);
			} else {
				params[0] = ex.hours;
				params[1] = ex.purge_batch;
				ok = kore_pgsql_query_prepared(
				    &ex.sql, mall_db_idem_purge_stmt.name, 2, params, NULL, NULL);
			}
			if (!ok) {
				expiry_fail(ex.phase == PH_EXPIRE ? "expire" : "purge");
				return;
			}
			continue;
		}
		switch (ex.sql.state) {
		case KORE_PGSQL_STATE_INIT:
		case KORE_PGSQL_STATE_WAIT:
			return;
		case KORE_PGSQL_STATE_RESULT:
			if (ex.res != NULL)
				PQclear(ex.res);
			ex.res = ex.sql.result;
			ex.sql.result = NULL;
			kore_pgsql_continue(&ex.sql);
			continue;
		case KORE_PGSQL_STATE_DONE:
			kore_pgsql_continue(&ex.sql);
			continue;
		case KORE_PGSQL_STATE_COMPLETE:
			expiry_step_done();
			continue;
		case KORE_PGSQL_STATE_ERROR:
			expiry_fail(ex.phase == PH_EXPIRE ? "expire" : "purge");
			return;
		default:
			kore_pgsql_continue(&ex.sql);
			continue;
		}
	}
}

/* The periodic round, and the statement deadline. */
static void
expiry_tick(void *arg, u_int64_t now)
{
	int fd;

	if (ex.phase == PH_IDLE) {
		if (now < ex.resume_at)
			return;
		expiry_start(PH_EXPIRE);
	} else if (ex.sent && !ex.timed_out && ex.sql.conn != NULL &&
	           now - ex.started > (u_int64_t)timeout_ms) {
		ex.timed_out = true;
		fd = PQsocket(ex.sql.conn->db);
		if (fd >= 0)
			(void)shutdown(fd, SHUT_RDWR);
	}
	expiry_drive();
}

int
mall_expiry_worker_start(void)
{
	if (worker == NULL || worker->id != 1)
		return 0;
	if (yx_config_int("YX_DB_TIMEOUT_MS", 5000, 50, 600000, &timeout_ms) == -1)
		return -1;
	memset(&ex, 0, sizeof(ex));
	ex.phase = PH_IDLE;
	snprintf(ex.batch, sizeof(ex.batch), "%lld", mall_config.expire_batch);
	snprintf(ex.hours, sizeof(ex.hours), "%lld", mall_config.idempotency_ttl_hours);
	snprintf(ex.purge_batch, sizeof(ex.purge_batch), "%d", EXPIRY_PURGE_BATCH);
	kore_timer_add(expiry_tick, (u_int64_t)mall_config.expire_interval_ms, NULL, 0);
	yx_log(YX_LOG_INFO, NULL, "expiry", "order expiry every %lld ms, pickup within %lld days",
	       mall_config.expire_interval_ms, mall_config.pickup_days);
	return 0;
}
