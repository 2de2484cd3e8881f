/*
 * yx_pgutil: small libpq helpers shared by the services' DB layers and CLI
 * tools — SQLSTATE classification and a synchronous transaction runner that
 * retries serialization failures and deadlocks.
 */
#ifndef YX_PGUTIL_H
#define YX_PGUTIL_H

#include <stdbool.h>

#include <libpq-fe.h>

/* SQLSTATEs the services act on. */
#define YX_PG_SERIALIZATION_FAILURE "40001"
#define YX_PG_DEADLOCK_DETECTED     "40P01"
#define YX_PG_UNIQUE_VIOLATION      "23505"
#define YX_PG_CHECK_VIOLATION       "23514"
#define YX_PG_FOREIGN_KEY_VIOLATION "23503"
#define YX_PG_RAISE_EXCEPTION       "P0001"

enum yx_pg_class {
	YX_PG_OK,          /* class 00: successful completion */
	YX_PG_RETRY,       /* 40001 or 40P01: run the whole transaction again */
	YX_PG_UNIQUE,      /* 23505: duplicate key, e.g. an idempotency key seen before */
	YX_PG_CHECK,       /* 23514: a CHECK guard held, e.g. balance >= 0 */
	YX_PG_FOREIGN_KEY, /* 23503: the referenced row does not exist */
	YX_PG_RAISE,       /* P0001: our SQL functions signal business errors by RAISE */
	YX_PG_OTHER,       /* anything else, or no SQLSTATE at all */
};

/*
 * True for the SQLSTATEs after which the same transaction, run again from
 * BEGIN, may succeed: 40001 serialization_failure and 40P01
 * deadlock_detected. NULL is false.
 */
bool yx_pg_retryable(const char *sqlstate);

/*
 * Map a SQLSTATE (as from PQresultErrorField(res, PG_DIAG_SQLSTATE)) to the
 * classes above. NULL — libpq reports no SQLSTATE for errors of its own, such
 * as a lost connection — is YX_PG_OTHER, as is any malformed string.
 */
enum yx_pg_class yx_pg_classify(const char *sqlstate);

/* Returned by a yx_pg_tx_retry body to ask for the transaction to be retried. */
#define YX_PG_TX_RETRY 1

/*
 * Run body inside BEGIN ... COMMIT on conn (blocking; for CLI tools, not for
 * Kore workers). body runs its statements on conn and returns 0 to commit,
 * -1 to roll back and give up, or YX_PG_TX_RETRY when a statement failed with
 * a retryable SQLSTATE (test it with yx_pg_retryable) — the runner cannot see
 * a statement's PGresult, so the body must say. It may start with SET
 * TRANSACTION ISOLATION LEVEL .... A COMMIT that fails with 40001 or 40P01
 * is retried too. Between attempts the runner rolls back and, before the
 * k-th retry, sleeps a random 1..min(5 * 2^k, 250) ms so competing clients
 * spread out.
 * body may run several times and must not keep side effects outside the
 * database. max_attempts below 1 is taken as 1.
 * 0 when committed; -1 when body failed, a non-retryable error occurred, or
 * all attempts failed. Failures of BEGIN, COMMIT, ROLLBACK and exhaustion are
 * described on stderr (the body reports its own). arg is passed through.
 */
int yx_pg_tx_retry(PGconn *conn, int max_attempts, int (*body)(PGconn *, void *), void *arg);

#endif
