/*
 * yx_pgutil: SQLSTATE classification and the retrying transaction runner,
 * see yx_pgutil.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yx_pgutil.h"

#define TX_BACKOFF_BASE_MS 5
#define TX_BACKOFF_CAP_MS  250

bool
yx_pg_retryable(const char *sqlstate)
{
	if (sqlstate == NULL)
		return false;
	return strcmp(sqlstate, YX_PG_SERIALIZATION_FAILURE) == 0 ||
	       strcmp(sqlstate, YX_PG_DEADLOCK_DETECTED) == 0;
}

enum yx_pg_class
yx_pg_classify(const char *sqlstate)
{
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return YX_PG_OTHER;
	if (strncmp(sqlstate, "00", 2) == 0)
		return YX_PG_OK;
	if (yx_pg_retryable(sqlstate))
		return YX_PG_RETRY;
	if (strcmp(sqlstate, YX_PG_UNIQUE_VIOLATION) == 0)
		return YX_PG_UNIQUE;
	if (strcmp(sqlstate, YX_PG_CHECK_VIOLATION) == 0)
		return YX_PG_CHECK;
	if (strcmp(sqlstate, YX_PG_FOREIGN_KEY_VIOLATION) == 0)
		return YX_PG_FOREIGN_KEY;
	if (strcmp(sqlstate, YX_PG_RAISE_EXCEPTION) == 0)
		return YX_PG_RAISE;
	return YX_PG_OTHER;
}

/* xorshift64*, seeded once per process from the clock and pid: jitter, not secrets. */
static uint64_t
tx_random(void)
{
	static uint64_t state;
	struct timespec ts;

	if (state == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
		        ((uint64_t)getpid() << 40) ^ 0x9e3779b97f4a7c15ULL;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545f4914f6cdd1dULL;
}

static void
tx_backoff(int attempt)
{
	struct timespec ts;
	int64_t cap = TX_BACKOFF_BASE_MS, ms;

	while (attempt-- > 0 && cap < TX_BACKOFF_CAP_MS)
		cap *= 2;
	if (cap > TX_BACKOFF_CAP_MS)
		cap = TX_BACKOFF_CAP_MS;
	ms = 1 + (int64_t)(tx_random() % (uint64_t)cap);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Run a transaction-control statement. 0 on success; -1 otherwise, with
 * *retry set when the failure was retryable (COMMIT under SERIALIZABLE).
 */
static int
tx_exec(PGconn *conn, const char *sql, bool *retry)
{
	PGresult *res;
	int rc = 0;

	*retry = false;
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*retry = yx_pg_retryable(PQresultErrorField(res, PG_DIAG_SQLSTATE));
		if (!*retry)
			fprintf(stderr, "yx_pg_tx_retry: %s: %s", sql,
			        res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* Roll back whatever is open; a transaction COMMIT already ended needs nothing. */
static void
tx_rollback(PGconn *conn)
{
	bool retry;

	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		(void)tx_exec(conn, "ROLLBACK", &retry);
}

int
yx_pg_tx_retry(PGconn *conn, int max_attempts, int (*body)(PGconn *, void *), void *arg)
{
	int attempt, rc;
	bool retry;

	if (conn == NULL || body == NULL)
		return -1;
	if (max_attempts < 1)
		max_attempts = 1;
	for (attempt = 1; attempt <= max_attempts; attempt++) {
		if (attempt > 1)
			tx_backoff(attempt - 1);
		if (tx_exec(conn, "BEGIN", &retry) == -1)
			return -1;
		rc = body(conn, arg);
		if (rc == 0 && PQtransactionStatus(conn) == PQTRANS_INTRANS) {
			if (tx_exec(conn, "COMMIT", &retry) == 0)
				return 0;
			tx_rollback(conn);
			if (!retry)
				return -1;
			continue;
		}
		tx_rollback(conn);
		if (rc == 0) {
			fprintf(stderr, "yx_pg_tx_retry: the body left the transaction "
			                "failed or ended\n");
			return -1;
		}
		if (rc != YX_PG_TX_RETRY)
			return -1;
	}
	fprintf(stderr, "yx_pg_tx_retry: gave up after %d attempt%s\n", max_attempts,
	        max_attempts == 1 ? "" : "s");
	return -1;
}
