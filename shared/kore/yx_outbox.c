/*
 * yx_outbox.c - the outbox relay: rows of <service>.outbox to Redis Streams,
 * at least once, never lost.
 *
 * Design. One relay per service instance runs in Kore worker 1 on a timer
 * (YX_OUTBOX_INTERVAL_MS, 200 ms by default) and makes each round in three
 * steps:
 *   1. claim: one statement takes a lease on up to 100 unpublished rows in
 *      id order (UPDATE ... SET claimed_until = now() + 30 s WHERE id IN
 *      (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING ...). Rows leased by
 *      another instance are skipped, so relays of several instances do not
 *      publish the same rows in the normal case.
 *   2. publish: XADD each row to events:<topic>, in order, stopping at the
 *      first failure.
 *   3. settle: one statement marks the rows that were appended published and
 *      releases the lease of the others, which the next round takes again.
 * Nothing is marked published before Redis has accepted it, so an event is
 * never lost: if the process dies between 1 and 3, or step 3 fails, the
 * lease runs out and the rows are published again (consumers dedupe by
 * event id, which travels as the `id` field of the entry). What is given up
 * is exactly-once delivery and, across instances, a strict global order.
 *
 * The statements run asynchronously on the worker's Kore pgsql pool, bound
 * to a callback instead of a request. Kore calls that callback from deep
 * inside its own pgsql code (while scheduling, reading, releasing, waking
 * queued waiters), so the callback only schedules a zero-delay timer; the
 * state machine then advances from the timer, never re-entrantly. A
 * statement without an answer within YX_DB_TIMEOUT_MS has its socket shut
 * down, like the request path in yx_db.c, and the round is abandoned.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/pgsql.h>

#include "yx_config.h"
#include "yx_db.h"
#include "yx_log.h"
#include "yx_outbox.h"
#include "yx_redis.h"
#include "yx_service.h"

#define OUTBOX_BATCH 100
#define OUTBOX_LEASE "30 seconds"
/* "{" + 100 ids of up to 19 digits and a comma + "}" */
#define OUTBOX_IDS_MAX   (OUTBOX_BATCH * 21 + 3)
#define OUTBOX_TOPIC_MAX 64
/* After a failed round, wait interval * 2^failures, at most this long (ms). */
#define OUTBOX_BACKOFF_MAX 10000

static char claim_sql[768];
static char settle_sql[512];

static struct yx_db_stmt claim_stmt = {"yx_outbox_claim", claim_sql, 0};
static struct yx_db_stmt settle_stmt = {"yx_outbox_settle", settle_sql, 2};

static long long interval_ms = 200;
static long long maxlen = 100000;
static long long timeout_ms = 5000;

enum relay_phase { RELAY_IDLE, RELAY_CLAIM, RELAY_SETTLE };

static struct {
	enum relay_phase phase;
	struct kore_pgsql sql;
	bool active; /* sql is initialised */
	bool sent;   /* the statement went out on a connection */
	bool queued; /* waiting in Kore's queue for a free connection */
	bool timed_out;
	bool kick_pending;   /* a zero-delay timer will drive the machine */
	bool again;          /* the last claim was a full batch: go on at once */
	u_int64_t started;   /* ms, when the statement was started */
	u_int64_t resume_at; /* ms; no new round before (backoff after failures) */
	unsigned failures;   /* failed rounds in a row */
	PGresult *res;       /* rows of the claim, kept until it completes */
	char published[OUTBOX_IDS_MAX];
	char claimed[OUTBOX_IDS_MAX];
} relay;

static void relay_drive(void);
static void relay_backoff(void);

int
yx_outbox_register(void)
{
	const struct yx_db_stmt *stmts[2] = {&claim_stmt, &settle_stmt};
	const char *schema = yx_service_def.name;
	int n;

	if (yx_config_int("YX_OUTBOX_INTERVAL_MS", 200, 10, 60000, &interval_ms) == -1 ||
	    yx_config_int("YX_OUTBOX_MAXLEN", 100000, 100, 100000000, &maxlen) == -1 ||
	    yx_config_int("YX_DB_TIMEOUT_MS", 5000, 50, 600000, &timeout_ms) == -1)
		return -1;
	n = snprintf(
	    claim_sql, sizeof(claim_sql),
	    "WITH c AS (UPDATE %s.outbox o SET claimed_until = now() + interval '" OUTBOX_LEASE
	    "' WHERE o.id IN (SELECT id FROM %s.outbox WHERE published_at IS NULL"
	    " AND (claimed_until IS NULL OR claimed_until < now())"
	    " ORDER BY id LIMIT %d FOR UPDATE SKIP LOCKED)"
	    " RETURNING o.id, o.topic, o.event_id::text, o.payload::text)"
	    " SELECT id, topic, event_id, payload FROM c ORDER BY id",
	    schema, schema, OUTBOX_BATCH);
	if (n < 0 || (size_t)n >= sizeof(claim_sql))
		return -1;
	n = snprintf(settle_sql, sizeof(settle_sql),
	             "UPDATE %s.outbox SET claimed_until = NULL,"
	             " published_at = CASE WHEN id = ANY($1::bigint[]) THEN now() END"
	             " WHERE id = ANY($2::bigint[]) AND published_at IS NULL",
	             schema);
	if (n < 0 || (size_t)n >= sizeof(settle_sql))
		return -1;
	return yx_db_register(stmts, 2);
}

/* Kore calls this from inside its pgsql code: defer the work to a timer. */
static void
relay_kick(void *arg, u_int64_t now)
{
	relay.kick_pending = false;
	relay_drive();
}

static void
relay_cb(struct kore_pgsql *sql, void *arg)
{
	relay.queued = false;
	if (relay.kick_pending)
		return;
	relay.kick_pending = true;
	kore_timer_add(relay_kick, 0, NULL, KORE_TIMER_ONESHOT);
}

static void
relay_release(void)
{
	if (relay.active) {
		kore_pgsql_cleanup(&relay.sql);
		relay.active = false;
	}
	if (relay.res != NULL) {
		PQclear(relay.res);
		relay.res = NULL;
	}
	relay.phase = RELAY_IDLE;
	relay.sent = false;
	relay.queued = false;
	relay.timed_out = false;
}

static void
relay_start(enum relay_phase phase)
{
	kore_pgsql_init(&relay.sql);
	kore_pgsql_bind_callback(&relay.sql, relay_cb, NULL);
	relay.active = true;
	relay.sent = false;
	relay.queued = false;
	relay.timed_out = false;
	relay.phase = phase;
	relay.started = kore_time_ms();
}

/* Appends "<id>" to a "{...}" list being built in buf. */
static void
ids_add(char *buf, const char *id)
{
	size_t n = strlen(buf);

	snprintf(buf + n, OUTBOX_IDS_MAX - n, "%s%s", n > 1 ? "," : "", id);
}

/*
 * Step 2: appends the claimed rows to their streams in order; fills
 * relay.published and relay.claimed for the settle statement.
 */
static void
relay_publish(PGresult *res)
{
	char key[sizeof("events:") + OUTBOX_TOPIC_MAX], ml[24];
	const char *id, *topic, *event_id, *payload;
	redisReply *reply;
	bool ok = true;
	int i, rows = PQntuples(res);

	snprintf(relay.published, sizeof(relay.published), "{");
	snprintf(relay.claimed, sizeof(relay.claimed), "{");
	snprintf(ml, sizeof(ml), "%lld", maxlen);
	for (i = 0; i < rows; i++) {
		id = PQgetvalue(res, i, 0);
		topic = PQgetvalue(res, i, 1);
		event_id = PQgetvalue(res, i, 2);
		payload = PQgetvalue(res, i, 3);
		ids_add(relay.claimed, id);
		if (!ok)
			continue;
		if (strlen(topic) > OUTBOX_TOPIC_MAX) {
			/* Cannot happen (CHECK on topic); never retry it forever. */
			yx_log(YX_LOG_ERROR, NULL, "outbox", "event %s: topic too long", event_id);
			ids_add(relay.published, id);
			continue;
		}
		snprintf(key, sizeof(key), "events:%s", topic);
		reply =
		    yx_redis_command(yx_app.redis, "XADD %s MAXLEN ~ %s * id %s payload %b", key,
		                     ml, event_id, payload, (size_t)PQgetlength(res, i, 3));
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			yx_log(YX_LOG_WARN, NULL, "outbox", "cannot append event %s to %s: %s",
			       event_id, key,
			       reply ? reply->str : yx_redis_last_error(yx_app.redis));
			ok = false; /* keep the order: the rest waits for the next round */
		} else {
			ids_add(relay.published, id);
		}
		if (reply != NULL)
			freeReplyObject(reply);
	}
	strcat(relay.published, "}");
	strcat(relay.claimed, "}");
	relay.again = ok && rows == OUTBOX_BATCH;
	if (ok)
		relay.failures = 0;
	else
		relay_backoff();
}

/* The statement of the current phase completed (its rows in relay.res). */
static void
relay_step_done(void)
{
	PGresult *res = relay.res;

	relay.res = NULL;
	if (relay.active) {
		kore_pgsql_cleanup(&relay.sql);
		relay.active = false;
	}
	if (relay.phase == RELAY_CLAIM && res != NULL && PQntuples(res) > 0 &&
	    PQnfields(res) == 4) {
		relay_publish(res);
		PQclear(res);
		relay_start(RELAY_SETTLE);
		return;
	}
	if (relay.phase == RELAY_CLAIM)
		relay.failures = 0; /* nothing to publish, and the database answered */
	if (res != NULL)
		PQclear(res);
	relay.phase = RELAY_IDLE;
	relay.sent = false;
	if (relay.again) {
		relay.again = false;
		relay_start(RELAY_CLAIM);
	}
}

/*
 * A round failed (database or Redis): wait longer before the next one, so a
 * dead dependency costs worker 1 little (connecting blocks the worker).
 */
static void
relay_backoff(void)
{
	u_int64_t wait = (u_int64_t)interval_ms;
	unsigned i;

	if (relay.failures < 16)
		relay.failures++;
	for (i = 0; i < relay.failures && wait < OUTBOX_BACKOFF_MAX; i++)
		wait *= 2;
	if (wait > OUTBOX_BACKOFF_MAX)
		wait = OUTBOX_BACKOFF_MAX;
	relay.resume_at = kore_time_ms() + wait;
}

static void
relay_fail(const char *what)
{
	const char *msg = relay.sql.error ? relay.sql.error : "no answer";

	if (relay.timed_out) {
		msg = "no answer in time";
		/* Let libpq see the broken socket, so cleanup sends no cancel. */
		if (relay.sql.conn != NULL)
			(void)PQconsumeInput(relay.sql.conn->db);
	}
	yx_log(YX_LOG_WARN, NULL, "outbox", "%s failed: %s", what, msg);
	relay.again = false;
	relay_backoff();
	relay_release();
}

/* Advances the current statement as far as it can go without waiting. */
static void
relay_drive(void)
{
	const char *const *none = NULL;
	const char *settle_params[2];

	for (;;) {
		if (relay.phase == RELAY_IDLE || !relay.active)
			return;
		if (!relay.sent) {
			if (relay.queued)
				return;
			if (!kore_pgsql_setup(&relay.sql, YX_DB_NAME, KORE_PGSQL_ASYNC)) {
				/* Queued for a connection: the callback comes back. */
				if (relay.sql.state == KORE_PGSQL_STATE_INIT) {
					relay.queued = true;
					return;
				}
				relay_fail("connect");
				return;
			}
			relay.sent = true;
			relay.started = kore_time_ms();
			if (relay.phase == RELAY_CLAIM) {
				if (!kore_pgsql_query_prepared(&relay.sql, claim_stmt.name, 0,
				                               (const char **)none, NULL, NULL)) {
					relay_fail("claim");
					return;
				}
			} else {
				settle_params[0] = relay.published;
				settle_params[1] = relay.claimed;
				if (!kore_pgsql_query_prepared(&relay.sql, settle_stmt.name, 2,
				                               settle_params, NULL, NULL)) {
					relay_fail("settle");
					return;
				}
			}
			continue;
		}
		switch (relay.sql.state) {
		case KORE_PGSQL_STATE_INIT:
		case KORE_PGSQL_STATE_WAIT:
			return;
		case KORE_PGSQL_STATE_RESULT:
			if (relay.res != NULL)
				PQclear(relay.res);
			relay.res = relay.sql.result;
			relay.sql.result = NULL;
			kore_pgsql_continue(&relay.sql);
			continue;
		case KORE_PGSQL_STATE_DONE:
			kore_pgsql_continue(&relay.sql);
			continue;
		case KORE_PGSQL_STATE_COMPLETE:
			relay_step_done();
			continue;
		case KORE_PGSQL_STATE_ERROR:
			relay_fail(relay.phase == RELAY_CLAIM ? "claim" : "settle");
			return;
		default:
			kore_pgsql_continue(&relay.sql);
			continue;
		}
	}
}

/* The periodic round, and the statement deadline. */
static void
relay_tick(void *arg, u_int64_t now)
{
	int fd;

	if (relay.phase == RELAY_IDLE) {
		if (now < relay.resume_at)
			return;
		relay_start(RELAY_CLAIM);
	} else if (relay.sent && !relay.timed_out && relay.sql.conn != NULL &&
	           now - relay.started > (u_int64_t)timeout_ms) {
		/* Like yx_db.c: break the connection so the statement ends now. */
		relay.timed_out = true;
		fd = PQsocket(relay.sql.conn->db);
		if (fd >= 0)
			(void)shutdown(fd, SHUT_RDWR);
	}
	relay_drive();
}

int
yx_outbox_worker_start(void)
{
	if (worker == NULL || worker->id != 1 || !yx_service_def.use_db || yx_app.redis == NULL)
		return 0;
	memset(&relay, 0, sizeof(relay));
	relay.phase = RELAY_IDLE;
	kore_timer_add(relay_tick, (u_int64_t)interval_ms, NULL, 0);
	yx_log(YX_LOG_INFO, NULL, "outbox", "relay started (every %lld ms)", interval_ms);
	return 0;
}
