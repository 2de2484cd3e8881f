/*
 * mall_db.h - every SQL statement of yx-mall. Handlers pass text parameters
 * and get plain structs back; no PGresult is read outside mall_db.c. Text
 * pointers in the structs point into the request's result and stay valid
 * until the request ends (or yx_db_next()).
 *
 * The statements that move points or stock each call one SQL function of
 * services/mall/sql (one round trip, one transaction); a refusal comes back
 * as a row naming its error code (mall_outcome.error), anything unexpected
 * as a failed step for yx_db_reply_error().
 */
#ifndef MALL_DB_H
#define MALL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "yx_db.h"

/* Registers every statement below; call from the service's configure. */
int mall_db_register(void);

/*
 * What a movement returned: either a refusal (error: a code of the error
 * table; nothing was changed; a redemption refused as out_of_stock still
 * sets item, stock and version) or the response body (JSON text), whether it
 * is a stored one being replayed (then nothing else is set), and the state
 * the service mirrors in Redis.
 */
struct mall_outcome {
	const char *error;
	bool replayed;
	const char *reply;
	char item[24];      /* "" when the movement touched no item's stock */
	char community[24]; /* the item's, "" when none */
	int64_t stock;      /* the item's stock after the movement */
	int64_t version;    /* its stock_version */
	char month[16];     /* awards: leaderboard periods, "YYYY-MM" */
	char year[8];       /* and "YYYY" */
};

/*
 * The movements. Each returns YX_DB_PENDING (return KORE_RESULT_RETRY),
 * YX_DB_FAILED (reply with yx_db_reply_error) or YX_DB_OK with *out filled
 * (reply with mall_reply_outcome, which also answers refusals).
 * Parameters are text, in the order of the SQL function, see mall_db.c.
 */
enum yx_db_rc mall_db_award(struct http_request *req, const char *const p[8],
                            struct mall_outcome *out);
enum yx_db_rc mall_db_item_create(struct http_request *req, const char *const p[5],
                                  struct mall_outcome *out);
enum yx_db_rc mall_db_item_update(struct http_request *req, const char *const p[4],
                                  struct mall_outcome *out);
enum yx_db_rc mall_db_redeem(struct http_request *req, const char *const p[6],
                             struct mall_outcome *out);
enum yx_db_rc mall_db_cancel(struct http_request *req, const char *const p[4],
                             struct mall_outcome *out);
enum yx_db_rc mall_db_fulfil(struct http_request *req, const char *const p[6],
                             struct mall_outcome *out);

/*
 * For a redemption the sold-out gate refused, read without any lock: the
 * stored outcome of (user, key) in out->stored (replayed with its reply, or
 * error idempotency_key_mismatch; neither when none), and the item's
 * committed stock and stock_version (item_found false: no such item).
 */
struct mall_order_check {
	struct mall_outcome stored;
	bool item_found;
	int64_t stock, version;
};
enum yx_db_rc mall_db_order_check(struct http_request *req, const char *user, const char *key,
                                  const char *hash, const char *item, struct mall_order_check *out);

/* One item as JSON text in *json, NULL when there is no such item. */
enum yx_db_rc mall_db_item_get(struct http_request *req, const char *item, const char **json);

/*
 * One order, *json as `viewer` may see it (with the pickup code only for its
 * owner), with its owner and community; *json NULL when there is no such order.
 */
struct mall_order_view {
	const char *json;
	const char *user;
	const char *community;
};
enum yx_db_rc mall_db_order_get(struct http_request *req, const char *order, const char *viewer,
                                struct mall_order_view *out);

/* The signed-in user's points; zeros when the user has no account yet. */
struct mall_points {
	const char *balance, *earned, *spent;
};
enum yx_db_rc mall_db_points(struct http_request *req, const char *user, struct mall_points *out);

/*
 * A page of a list, newest first: up to `limit` JSON texts, and whether
 * there is more after the last (whose id continues the list).
 */
#define MALL_PAGE_MAX 100
struct mall_page {
	const char *items[MALL_PAGE_MAX];
	size_t n;
	bool more;
	int64_t last_id;
};

/*
 * Lists; `after` is the id to continue after, NULL for the first page;
 * `limit_plus_one` the page size + 1 as text; `limit` the page size.
 */
enum yx_db_rc mall_db_items_page(struct http_request *req, const char *community, const char *after,
                                 const char *limit_plus_one, size_t limit, struct mall_page *out);
enum yx_db_rc mall_db_ledger_page(struct http_request *req, const char *user, const char *after,
                                  const char *limit_plus_one, size_t limit, struct mall_page *out);
/* state NULL: every state. */
enum yx_db_rc mall_db_orders_page(struct http_request *req, const char *user, const char *state,
                                  const char *after, const char *limit_plus_one, size_t limit,
                                  struct mall_page *out);

/* The leaderboard of a community and period computed from the journal. */
#define MALL_LB_MAX 100
struct mall_lb_entry {
	char user[24];
	int64_t points;
};
struct mall_lb {
	struct mall_lb_entry e[MALL_LB_MAX];
	size_t n;
};
enum yx_db_rc mall_db_leaderboard(struct http_request *req, const char *community,
                                  const char *period, const char *limit, struct mall_lb *out);

/*
 * The expiry timer's statements (run on worker 1's pool without a request,
 * see expiry.c): their names, and the mapping of their results.
 */
extern const struct yx_db_stmt mall_db_expire_stmt;     /* $1 limit */
extern const struct yx_db_stmt mall_db_idem_purge_stmt; /* $1 hours, $2 limit */

struct mall_stock_change {
	const char *item, *community;
	int64_t stock, version;
	int expired;
};

/*
 * Calls each(change, arg) for every row of an expire_orders result; returns
 * the number of orders expired, or -1 when the result has the wrong shape.
 */
int mall_db_expired_each(PGresult *res, void (*each)(const struct mall_stock_change *, void *),
                         void *arg);

/* The first column of the first row as an integer; -1 when missing. */
int64_t mall_db_scalar(PGresult *res);

/* --- commands (synchronous libpq, outside Kore) ---------------------------- */

/* One invariant checked by `yx-mall reconcile`. */
struct mall_check {
	const char *name; /* what holds when the check passes */
	int64_t checked;  /* rows looked at */
	int64_t bad;      /* rows that break it */
	char sample[160]; /* the first bad row, or a figure of interest */
};

/*
 * Runs every reconciliation check in one read-only REPEATABLE READ
 * transaction (one snapshot), calling report() after each: those of the
 * ledger and the store, then the rows of every <module>_checks() function
 * of the schema (name, checked, bad, sample), e.g. activity_checks(). c->name
 * is valid during the call only. Returns the number of failed checks, or -1
 * when a query fails (message on stderr).
 */
int mall_db_reconcile(PGconn *conn, void (*report)(const struct mall_check *, void *), void *arg);

/*
 * Calls row() for every (community, period, label, user, points) of the
 * current month's and year's leaderboards computed from the journal, in
 * community and period order. -1 when the query fails; else the row count.
 */
int mall_db_leaderboard_rows(PGconn *conn,
                             int (*row)(const char *community, const char *period,
                                        const char *label, const char *user, const char *points,
                                        void *arg),
                             void *arg);

#endif
