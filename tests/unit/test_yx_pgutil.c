/*
 * Tests for shared/yx_pgutil: SQLSTATE classification (from strings and from
 * errors a real PostgreSQL raises) and the retrying transaction runner,
 * which must survive real serialization failures and deadlocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "yx_pgutil.h"

#include "pg_fixture.h"

static char schema[64];
static PGconn *conn_a, *conn_b;

static int
group_setup(void **state)
{
	char sql[512];

	(void)state;
	if (!pg_fixture_start())
		return 0;
	snprintf(schema, sizeof(schema), "test_pgu_%ld", (long)getpid());
	conn_a = pg_connect();
	conn_b = pg_connect();
	pg_ok(conn_a, "SET client_min_messages = warning");
	snprintf(sql, sizeof(sql),
	         "CREATE SCHEMA %s; "
	         "CREATE TABLE %s.acct (id int PRIMARY KEY, v bigint NOT NULL CHECK (v >= 0)); "
	         "CREATE TABLE %s.child (id int PRIMARY KEY REFERENCES %s.acct(id))",
	         schema, schema, schema, schema);
	pg_ok(conn_a, sql);
	snprintf(sql, sizeof(sql), "SET search_path TO %s", schema);
	pg_ok(conn_a, sql);
	pg_ok(conn_b, sql);
	return 0;
}

static int
group_teardown(void **state)
{
	char sql[128];

	(void)state;
	if (conn_b != NULL)
		PQfinish(conn_b);
	if (conn_a != NULL) {
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
		pg_ok(conn_a, sql);
		PQfinish(conn_a);
	}
	pg_private_stop();
	return 0;
}

/* Fresh rows for each test. */
static void
reset_rows(void)
{
	pg_ok(conn_a, "DELETE FROM child; DELETE FROM acct; "
	              "INSERT INTO acct VALUES (1, 100), (10, 50), (11, 50), (20, 0), (21, 0)");
}

static void
test_retryable(void **state)
{
	(void)state;
	assert_true(yx_pg_retryable("40001"));
	assert_true(yx_pg_retryable("40P01"));
	assert_false(yx_pg_retryable("40002"));
	assert_false(yx_pg_retryable("40p01"));
	assert_false(yx_pg_retryable("4000"));
	assert_false(yx_pg_retryable("400010"));
	assert_false(yx_pg_retryable("23505"));
	assert_false(yx_pg_retryable(""));
	assert_false(yx_pg_retryable(NULL));
}

static void
test_classify(void **state)
{
	(void)state;
	assert_int_equal(yx_pg_classify("00000"), YX_PG_OK);
	assert_int_equal(yx_pg_classify("40001"), YX_PG_RETRY);
	assert_int_equal(yx_pg_classify("40P01"), YX_PG_RETRY);
	assert_int_equal(yx_pg_classify("23505"), YX_PG_UNIQUE);
	assert_int_equal(yx_pg_classify("23514"), YX_PG_CHECK);
	assert_int_equal(yx_pg_classify("23503"), YX_PG_FOREIGN_KEY);
	assert_int_equal(yx_pg_classify("P0001"), YX_PG_RAISE);
	assert_int_equal(yx_pg_classify("23502"), YX_PG_OTHER); /* not_null_violation */
	assert_int_equal(yx_pg_classify("57014"), YX_PG_OTHER); /* query_canceled */
	assert_int_equal(yx_pg_classify("08006"), YX_PG_OTHER);
	assert_int_equal(yx_pg_classify(NULL), YX_PG_OTHER);
	assert_int_equal(yx_pg_classify(""), YX_PG_OTHER);
	assert_int_equal(yx_pg_classify("000"), YX_PG_OTHER);
	assert_int_equal(yx_pg_classify("235050"), YX_PG_OTHER);
}

static enum yx_pg_class
class_of(const char *sql)
{
	PGresult *res = PQexec(conn_a, sql);
	enum yx_pg_class c;

	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	c = yx_pg_classify(PQresultErrorField(res, PG_DIAG_SQLSTATE));
	PQclear(res);
	return c;
}

static void
test_classify_real_errors(void **state)
{
	(void)state;
	PG_REQUIRED();
	reset_rows();
	assert_int_equal(class_of("INSERT INTO acct VALUES (1, 0)"), YX_PG_UNIQUE);
	assert_int_equal(class_of("UPDATE acct SET v = v - 1000 WHERE id = 1"), YX_PG_CHECK);
	assert_int_equal(class_of("INSERT INTO child VALUES (999)"), YX_PG_FOREIGN_KEY);
	assert_int_equal(class_of("DO $$ BEGIN RAISE EXCEPTION 'insufficient_points'; END $$"),
	                 YX_PG_RAISE);
	assert_int_equal(class_of("SELECT 1/0"), YX_PG_OTHER);
}

struct tx_case {
	int attempts;
	int statement_failures;
	char sqlstate[6];
};

/* A statement inside a body: on failure, remember why and say whether to retry. */
static int
body_exec(PGconn *conn, struct tx_case *c, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	const char *state;
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state != NULL ? state : "");
		c->statement_failures++;
		rc = yx_pg_retryable(state) ? YX_PG_TX_RETRY : -1;
	}
	PQclear(res);
	return rc;
}

static int
body_insert(PGconn *conn, void *arg)
{
	struct tx_case *c = arg;

	c->attempts++;
	return body_exec(conn, c, "INSERT INTO acct VALUES (2, 7)");
}

static void
test_tx_commits(void **state)
{
	struct tx_case c = {0};

	(void)state;
	PG_REQUIRED();
	reset_rows();
	assert_int_equal(yx_pg_tx_retry(conn_a, 3, body_insert, &c), 0);
	assert_int_equal(c.attempts, 1);
	assert_int_equal(pg_scalar(conn_b, "SELECT v FROM acct WHERE id = 2"), 7);
	assert_int_equal(PQtransactionStatus(conn_a), PQTRANS_IDLE);
}

/*
 * Read, let another session change the row and commit, then write it: in
 * SERIALIZABLE the write fails with 40001 ("could not serialize access due
 * to concurrent update"). Only the first attempt is interfered with.
 */
static int
body_concurrent_update(PGconn *conn, void *arg)
{
	struct tx_case *c = arg;
	int rc;

	c->attempts++;
	if ((rc = body_exec(conn, c, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")) != 0 ||
	    (rc = body_exec(conn, c, "SELECT v FROM acct WHERE id = 1")) != 0)
		return rc;
	if (c->attempts == 1)
		pg_ok(conn_b, "UPDATE acct SET v = v + 100 WHERE id = 1");
	return body_exec(conn, c, "UPDATE acct SET v = v + 1 WHERE id = 1");
}

static void
test_tx_retries_serialization_failure(void **state)
{
	struct tx_case c = {0};

	(void)state;
	PG_REQUIRED();
	reset_rows();
	assert_int_equal(yx_pg_tx_retry(conn_a, 3, body_concurrent_update, &c), 0);
	assert_int_equal(c.attempts, 2);
	assert_int_equal(c.statement_failures, 1);
	assert_string_equal(c.sqlstate, "40001");
	/* both updates landed, the retried one exactly once */
	assert_int_equal(pg_scalar(conn_b, "SELECT v FROM acct WHERE id = 1"), 201);
}

/*
 * Write skew: both sessions read rows 10 and 11, each writes the other row.
 * The other session commits first, and this one's COMMIT fails with 40001
 * ("read/write dependencies among transactions") although every statement
 * succeeded.
 */
static int
body_write_skew(PGconn *conn, void *arg)
{
	struct tx_case *c = arg;
	int rc;

	c->attempts++;
	if ((rc = body_exec(conn, c, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")) != 0 ||
	    (rc = body_exec(conn, c, "SELECT sum(v) FROM acct WHERE id IN (10, 11)")) != 0)
		return rc;
	if (c->attempts == 1) {
		pg_ok(conn_b, "BEGIN ISOLATION LEVEL SERIALIZABLE");
		pg_ok(conn_b, "SELECT sum(v) FROM acct WHERE id IN (10, 11)");
		pg_ok(conn_b, "UPDATE acct SET v = v - 1 WHERE id = 10");
	}
	if ((rc = body_exec(conn, c, "UPDATE acct SET v = v - 1 WHERE id = 11")) != 0)
		return rc;
	if (c->attempts == 1)
		pg_ok(conn_b, "COMMIT");
	return 0;
}

static void
test_tx_retries_failed_commit(void **state)
{
	struct tx_case c = {0};

	(void)state;
	PG_REQUIRED();
	reset_rows();
	assert_int_equal(yx_pg_tx_retry(conn_a, 3, body_write_skew, &c), 0);
	assert_int_equal(c.attempts, 2);
	/* the failure came from COMMIT, not from a statement */
	assert_int_equal(c.statement_failures, 0);
	assert_int_equal(pg_scalar(conn_b, "SELECT v FROM acct WHERE id = 10"), 49);
	assert_int_equal(pg_scalar(conn_b, "SELECT v FROM acct WHERE id = 11"), 49);
}

/*
 * A real deadlock: this session holds row 20, the other holds row 21 and
 * waits (asynchronously) for row 20, then this session asks for row 21. This
 * session's deadlock_timeout is the shorter, so it is the victim (40P01). The
 * second attempt first lets the other session finish.
 */
static int
body_deadlock(PGconn *conn, void *arg)
{
	struct tx_case *c = arg;
	PGresult *res;
	char sql[256];
	int rc, i;

	c->attempts++;
	if (c->attempts == 2) {
		while ((res = PQgetResult(conn_b)) != NULL) {
			assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
			PQclear(res);
		}
		pg_ok(conn_b, "COMMIT");
	}
	if ((rc = body_exec(conn, c, "SET LOCAL deadlock_timeout = '20ms'")) != 0 ||
	    (rc = body_exec(conn, c, "UPDATE acct SET v = v + 1 WHERE id = 20")) != 0)
		return rc;
	if (c->attempts == 1) {
		pg_ok(conn_b, "BEGIN");
		pg_ok(conn_b, "SET LOCAL deadlock_timeout = '10s'");
		pg_ok(conn_b, "UPDATE acct SET v = v + 10 WHERE id = 21");
		assert_int_equal(PQsendQuery(conn_b, "UPDATE acct SET v = v + 10 WHERE id = 20"),
		                 1);
		/* let it reach the lock wait (a fresh statistics snapshot each time) */
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM pg_stat_activity, pg_stat_clear_snapshot() "
		         "WHERE pid = %d AND wait_event_type = 'Lock'",
		         PQbackendPID(conn_b));
		for (i = 0; pg_scalar(conn, sql) == 0; i++) {
			assert_true(i < 2000);
			usleep(5000);
		}
	}
	return body_exec(conn, c, "UPDATE acct SET v = v + 1 WHERE id = 21");
}

static void
test_tx_retries_deadlock(void **state)
{
	struct tx_case c = {0};

	(void)state;
	PG_REQUIRED();
	reset_rows();
	assert_int_equal(yx_pg_tx_retry(conn_a, 3, body_deadlock, &c), 0);
	assert_int_equal(c.attempts, 2);
	assert_string_equal(c.sqlstate, "40P01");
	assert_int_equal(pg_scalar(conn_b, "SELECT v FROM acct WHERE id = 20"), 11);
	assert_int_equal(pg_scalar(conn_b, "SELECT v FROM acct WHERE id = 21"), 11);
}

static int
body_always_conflicts(PGconn *conn, void *arg)
{
	struct tx_case *c = arg;

	c->attempts++;
	if (body_exec(conn, c, "INSERT INTO acct VALUES (3, 1)") != 0)
		return -1;
	return YX_PG_TX_RETRY;
}

static void
test_tx_gives_up(void **state)
{
	struct tx_case c = {0};

	(void)state;
	PG_REQUIRED();
	reset_rows();
	assert_int_equal(yx_pg_tx_retry(conn_a, 4, body_always_conflicts, &c), -1);
	assert_int_equal(c.attempts, 4);
	assert_int_equal(pg_scalar(conn_b, "SELECT count(*) FROM acct WHERE id = 3"), 0);
	assert_int_equal(PQtransactionStatus(conn_a), PQTRANS_IDLE);

	/* max_attempts below 1 still runs once */
	memset(&c, 0, sizeof(c));
	assert_int_equal(yx_pg_tx_retry(conn_a, 0, body_always_conflicts, &c), -1);
	assert_int_equal(c.attempts, 1);
}

static int
body_duplicate(PGconn *conn, void *arg)
{
	struct tx_case *c = arg;
	int rc;

	c->attempts++;
	if ((rc = body_exec(conn, c, "INSERT INTO acct VALUES (4, 1)")) != 0)
		return rc;
	return body_exec(conn, c, "INSERT INTO acct VALUES (1, 1)");
}

static void
test_tx_other_error_rolls_back(void **state)
{
	struct tx_case c = {0};

	(void)state;
	PG_REQUIRED();
	reset_rows();
	assert_int_equal(yx_pg_tx_retry(conn_a, 3, body_duplicate, &c), -1);
	assert_int_equal(c.attempts, 1);
	assert_string_equal(c.sqlstate, "23505");
	assert_int_equal(yx_pg_classify(c.sqlstate), YX_PG_UNIQUE);
	/* the first insert went with the rest */
	assert_int_equal(pg_scalar(conn_b, "SELECT count(*) FROM acct WHERE id = 4"), 0);
	assert_int_equal(PQtransactionStatus(conn_a), PQTRANS_IDLE);
}

/* Claims success although its statement failed: the runner must not commit. */
static int
body_ignores_error(PGconn *conn, void *arg)
{
	struct tx_case *c = arg;

	c->attempts++;
	(void)body_exec(conn, c, "INSERT INTO acct VALUES (5, 1)");
	(void)body_exec(conn, c, "SELECT 1/0");
	return 0;
}

static void
test_tx_body_hiding_an_error(void **state)
{
	struct tx_case c = {0};

	(void)state;
	PG_REQUIRED();
	reset_rows();
	assert_int_equal(yx_pg_tx_retry(conn_a, 3, body_ignores_error, &c), -1);
	assert_int_equal(c.attempts, 1);
	assert_int_equal(pg_scalar(conn_b, "SELECT count(*) FROM acct WHERE id = 5"), 0);
	assert_int_equal(PQtransactionStatus(conn_a), PQTRANS_IDLE);
	assert_int_equal(yx_pg_tx_retry(NULL, 3, body_ignores_error, &c), -1);
	assert_int_equal(yx_pg_tx_retry(conn_a, 3, NULL, &c), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retryable),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_classify_real_errors),
	    cmocka_unit_test(test_tx_commits),
	    cmocka_unit_test(test_tx_retries_serialization_failure),
	    cmocka_unit_test(test_tx_retries_failed_commit),
	    cmocka_unit_test(test_tx_retries_deadlock),
	    cmocka_unit_test(test_tx_gives_up),
	    cmocka_unit_test(test_tx_other_error_rolls_back),
	    cmocka_unit_test(test_tx_body_hiding_an_error),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
