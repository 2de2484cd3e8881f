/*
 * yx_db.h - one SQL statement per step of a request, asynchronously, on
 * Kore's pgsql pool. A handler is "decode, check, one DB call, map": it
 * calls yx_db_query() with the same arguments each time Kore runs it, and
 * returns KORE_RESULT_RETRY while the answer is pending.
 *
 * Serialization failures and deadlocks (40001, 40P01) are retried here, up
 * to YX_DB_ATTEMPTS times; the statement must therefore be one transaction
 * on its own (a SQL function, or a single statement).
 */
#ifndef YX_DB_H
#define YX_DB_H

#include <libpq-fe.h>

#include <kore/kore.h>
#include <kore/http.h>

#define YX_DB_ATTEMPTS       3
#define YX_DB_MAX_STATEMENTS 256

/*
 * A statement of the service. Each is prepared once on every new pooled
 * connection (named `name`), then executed by name: no parse or plan per
 * request, and the SQL text never travels with the parameters.
 */
struct yx_db_stmt {
	const char *name; /* unique, [a-z0-9_]+ */
	const char *sql;
	int nparams;
};

/*
 * Adds statements to the set prepared on each connection. Call in the
 * parent before workers start (the service's configure hook). Returns -1
 * on a duplicate name or when the table is full.
 */
int yx_db_register(const struct yx_db_stmt *const *stmts, size_t n);

/*
 * Installs the connection hook that prepares every registered statement;
 * called by the glue when the service has a database.
 */
void yx_db_install(void);

enum yx_db_rc {
	YX_DB_PENDING, /* the request sleeps; return KORE_RESULT_RETRY */
	YX_DB_OK,      /* *res holds the result, owned by the request */
	YX_DB_FAILED   /* see yx_db_sqlstate() / yx_db_message() */
};

/*
 * Executes the registered statement `st` with text parameters (NULL is SQL
 * NULL) for `req`. The first call starts it; later calls report progress,
 * then the outcome, until yx_db_next() lets the request run another
 * statement. `params` must be the same on every call of one step (they are
 * sent on the first call and on retries).
 */
enum yx_db_rc yx_db_exec(struct http_request *req, const struct yx_db_stmt *st,
                         const char *const *params, PGresult **res);

/* Ends the current step so the next yx_db_query() starts a new statement. */
void yx_db_next(struct http_request *req);

/* SQLSTATE ("" if none) and PostgreSQL's message of a failed step. */
const char *yx_db_sqlstate(struct http_request *req);
const char *yx_db_message(struct http_request *req);

/*
 * Replies to a failed step. A function that raised a known error code as
 * its message (SQLSTATE P0001, MESSAGE 'insufficient_points') gets that
 * problem; a unique violation is a 409 conflict; losing the database is a
 * 503 service_unavailable; anything else is logged and becomes a 500.
 */
int yx_db_reply_error(struct http_request *req);

/* Frees the request's DB state (called by the request context teardown). */
void yx_db_release(struct http_request *req);

#endif
