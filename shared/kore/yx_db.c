/*
 * yx_db.c - drives one asynchronous statement at a time for a request
 * through Kore's pgsql state machine, with retries of serialization
 * failures and deadlocks, and maps failures to problem replies.
 *
 * A statement that gets no answer within the deadline has its connection
 * shut down: the worker's event loop then sees the socket fail, the request
 * wakes with an error, and the broken connection leaves the pool (patched
 * Kore, shared/kore/patches). After repeated connection-level failures a
 * per-worker breaker answers 503 at once instead of queueing on a database
 * that does not answer.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/pgsql.h>

#include "yx_breaker.h"
#include "yx_config.h"
#include "yx_db.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_pgutil.h"
#include "yx_service.h"

enum phase { PH_START, PH_RUNNING, PH_OK, PH_FAILED };

struct yx_db_call {
	struct kore_pgsql sql;
	enum phase phase;
	bool active; /* sql is initialised and bound to the request */
	bool timed_out;
	struct kore_timer *timer; /* statement deadline while running */
	int attempts;
	PGresult *res;
	char sqlstate[6];
	char message[512];
};

static const struct yx_db_stmt *statements[YX_DB_MAX_STATEMENTS];
static size_t nstatements;

int
yx_db_register(const struct yx_db_stmt *const *stmts, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < nstatements; j++) {
			if (strcmp(statements[j]->name, stmts[i]->name) == 0)
				return -1;
		}
		if (nstatements == YX_DB_MAX_STATEMENTS)
			return -1;
		statements[nstatements++] = stmts[i];
	}
	return 0;
}

/* Kore's connect hook: prepare every statement on the new session. */
static int
prepare_all(PGconn *conn, const char *dbname)
{
	PGresult *res;
	size_t i;
	int ok;

	for (i = 0; i < nstatements; i++) {
		res = PQprepare(conn, statements[i]->name, statements[i]->sql,
		                statements[i]->nparams, NULL);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok)
			yx_log(YX_LOG_ERROR, NULL, "db", "cannot prepare %s: %s",
			       statements[i]->name, PQresultErrorMessage(res));
		PQclear(res);
		if (!ok)
			return -1;
	}
	return 0;
}

void
yx_db_install(void)
{
	kore_pgsql_connect_hook = prepare_all;
}

static struct yx_breaker db_breaker;
static bool db_breaker_ready;
static long long db_timeout_ms = 5000;

static int64_t
now_ms(void)
{
	return yx_now_us() / 1000;
}

static struct yx_breaker *
breaker(void)
{
	long long fails = 5, cool = 1000;

	if (!db_breaker_ready) {
		(void)yx_config_int("YX_DB_TIMEOUT_MS", 5000, 50, 600000, &db_timeout_ms);
		(void)yx_config_int("YX_DB_BREAKER_FAILURES", 5, 1, 1000, &fails);
		(void)yx_config_int("YX_DB_BREAKER_COOLDOWN_MS", 1000, 10, 600000, &cool);
		yx_breaker_init(&db_breaker, (unsigned)fails, cool);
		db_breaker_ready = true;
	}
	return &db_breaker;
}

/* Connection-level trouble counts against the breaker; answers do not. */
static bool
is_connection_failure(const char *sqlstate)
{
	return strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57", 2) == 0 ||
	       strcmp(sqlstate, "53300") == 0;
}

static void
timer_stop(struct yx_db_call *c)
{
	if (c->timer != NULL) {
		kore_timer_remove(c->timer);
		c->timer = NULL;
	}
}

/* The deadline passed: break the connection so the request wakes now. */
static void
deadline(void *arg, u_int64_t now)
{
	struct yx_db_call *c = arg;
	int fd;

	c->timer = NULL;
	if (c->phase != PH_RUNNING || !c->active || c->sql.conn == NULL)
		return;
	c->timed_out = true;
	fd = PQsocket(c->sql.conn->db);
	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
}

static struct yx_db_call *
call_of(struct http_request *req)
{
	struct yx_req *r = yx_req(req);

	if (r->db == NULL) {
		if ((r->db = calloc(1, sizeof(struct yx_db_call))) == NULL)
			fatal("out of memory");
	}
	return r->db;
}

static void
call_finish_sql(struct yx_db_call *c)
{
	timer_stop(c);
	if (c->active) {
		kore_pgsql_cleanup(&c->sql);
		c->active = false;
	}
}

/* Records the failure of the current attempt and releases the connection. */
static void
call_fail(struct yx_db_call *c)
{
	const char *st = NULL;

	if (c->sql.result != NULL)
		st = PQresultErrorField(c->sql.result, PG_DIAG_SQLSTATE);
	if (c->timed_out)
		st = "57014"; /* like query_canceled: our deadline passed */
	if (st == NULL)
		st = "08006"; /* no result: the connection itself failed */
	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", st);
	if (c->timed_out)
		snprintf(c->message, sizeof(c->message), "no answer within %lld ms", db_timeout_ms);
	else if (c->sql.result != NULL &&
	         PQresultErrorField(c->sql.result, PG_DIAG_MESSAGE_PRIMARY) != NULL)
		snprintf(c->message, sizeof(c->message), "%s",
		         PQresultErrorField(c->sql.result, PG_DIAG_MESSAGE_PRIMARY));
	else
		snprintf(c->message, sizeof(c->message), "%s",
		         c->sql.error ? c->sql.error : "database error");
	call_finish_sql(c);
	c->phase = PH_FAILED;
	if (is_connection_failure(c->sqlstate))
		yx_breaker_failure(breaker(), now_ms());
}

static enum yx_db_rc
call_start(struct http_request *req, struct yx_db_call *c, const struct yx_db_stmt *st,
           const char *const *params)
{
	if (!yx_breaker_allow(breaker(), now_ms())) {
		snprintf(c->sqlstate, sizeof(c->sqlstate), "08006");
		snprintf(c->message, sizeof(c->message), "database breaker open");
		c->phase = PH_FAILED;
		return YX_DB_FAILED;
	}
	if (!c->active) {
		kore_pgsql_init(&c->sql);
		kore_pgsql_bind_request(&c->sql, req);
		c->active = true;
	}
	if (!kore_pgsql_setup(&c->sql, YX_DB_NAME, KORE_PGSQL_ASYNC)) {
		/* Queued for a free connection: Kore wakes the request later. */
		if (c->sql.state == KORE_PGSQL_STATE_INIT)
			return YX_DB_PENDING;
		call_fail(c);
		return YX_DB_FAILED;
	}
	c->attempts++;
	if (!kore_pgsql_query_prepared(&c->sql, st->name, st->nparams, (const char **)params, NULL,
	                               NULL)) {
		call_fail(c);
		return YX_DB_FAILED;
	}
	c->phase = PH_RUNNING;
	c->timed_out = false;
	c->timer = kore_timer_add(deadline, (u_int64_t)db_timeout_ms, c, KORE_TIMER_ONESHOT);
	return YX_DB_PENDING;
}

enum yx_db_rc
yx_db_exec(struct http_request *req, const struct yx_db_stmt *st, const char *const *params,
           PGresult **res)
{
	struct yx_db_call *c = call_of(req);
	enum yx_db_rc rc;

	*res = NULL;
	for (;;) {
		switch (c->phase) {
		case PH_START:
			rc = call_start(req, c, st, params);
			if (rc == YX_DB_FAILED && yx_pg_retryable(c->sqlstate) &&
			    c->attempts < YX_DB_ATTEMPTS) {
				c->phase = PH_START;
				continue;
			}
			return rc;
		case PH_OK:
			*res = c->res;
			return YX_DB_OK;
		case PH_FAILED:
			return YX_DB_FAILED;
		case PH_RUNNING:
			break;
		}

		switch (c->sql.state) {
		case KORE_PGSQL_STATE_WAIT:
		case KORE_PGSQL_STATE_INIT:
			return YX_DB_PENDING;
		case KORE_PGSQL_STATE_RESULT:
			/* Keep the rows; Kore reads on until the statement is done. */
			if (c->res != NULL)
				PQclear(c->res);
			c->res = c->sql.result;
			c->sql.result = NULL;
			kore_pgsql_continue(&c->sql);
			continue;
		case KORE_PGSQL_STATE_DONE:
		case KORE_PGSQL_STATE_COMPLETE:
			call_finish_sql(c);
			c->phase = PH_OK;
			yx_breaker_success(breaker());
			continue;
		case KORE_PGSQL_STATE_ERROR:
			call_fail(c);
			if (c->res != NULL) {
				PQclear(c->res);
				c->res = NULL;
			}
			if (yx_pg_retryable(c->sqlstate) && c->attempts < YX_DB_ATTEMPTS) {
				c->phase = PH_START;
				continue;
			}
			return YX_DB_FAILED;
		default:
			kore_pgsql_continue(&c->sql);
			continue;
		}
	}
}

void
yx_db_next(struct http_request *req)
{
	struct yx_db_call *c = call_of(req);

	call_finish_sql(c);
	if (c->res != NULL)
		PQclear(c->res);
	memset(c, 0, sizeof(*c));
}

const char *
yx_db_sqlstate(struct http_request *req)
{
	return call_of(req)->sqlstate;
}

const char *
yx_db_message(struct http_request *req)
{
	return call_of(req)->message;
}

int
yx_db_reply_error(struct http_request *req)
{
	struct yx_db_call *c = call_of(req);
	const struct yx_error_def *e;
	const char *rid = yx_req(req)->request_id;

	switch (yx_pg_classify(c->sqlstate)) {
	case YX_PG_RAISE:
		e = yx_error_lookup(c->message);
		if (strcmp(e->code, c->message) == 0)
			return yx_reply_problem(req, e->code, NULL);
		break;
	case YX_PG_UNIQUE:
		return yx_reply_problem(req, "conflict", NULL);
	default:
		break;
	}
	if (is_connection_failure(c->sqlstate)) {
		yx_log(YX_LOG_WARN, rid, "db", "database unavailable: %s", c->message);
		return yx_reply_problem(req, "service_unavailable", NULL);
	}
	yx_log(YX_LOG_ERROR, rid, "db", "statement failed: %s %s", c->sqlstate, c->message);
	return yx_reply_problem(req, "internal_error", NULL);
}

void
yx_db_release(struct http_request *req)
{
	struct yx_req *r = req->hdlr_extra;
	struct yx_db_call *c;

	if (r == NULL || r->db == NULL)
		return;
	c = r->db;
	if (c->phase == PH_RUNNING && c->active && c->sql.conn != NULL) {
		/*
		 * The client left mid-statement. Drop the connection rather
		 * than send a cancel request, which blocks when the server
		 * has stopped answering.
		 */
		int fd = PQsocket(c->sql.conn->db);
		if (fd >= 0)
			(void)shutdown(fd, SHUT_RDWR);
		(void)PQconsumeInput(c->sql.conn->db);
	}
	call_finish_sql(c);
	if (c->res != NULL)
		PQclear(c->res);
	free(c);
	r->db = NULL;
}
