/*
 * mall_db.c - the SQL of yx-mall and the mapping of its rows into plain
 * structs (see mall_db.h): the movements (one SQL function each), the
 * lists, the expiry timer's statements, and the queries of the reconcile and
 * rebuild-leaderboard commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mall_db.h"
#include "yx_http.h"
#include "yx_log.h"

/*
 * Every movement answers the same nine columns: error (the refusal's code),
 * replayed, reply, item, community, stock, stock_version, month, year (NULL
 * where it has none).
 */
static const struct yx_db_stmt st_award = {
    "mall_award",
    "SELECT r_error, r_replayed, r_reply::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint,"
    " r_month, r_year"
    " FROM award($1, $2, $3::bigint, $4::bigint, $5::bigint, $6::bigint, $7, $8::bigint)",
    8,
};

static const struct yx_db_stmt st_item_create = {
    "mall_item_create",
    "SELECT r_error, r_replayed, r_reply::text, r_item::text, r_community::text, r_stock, "
    "r_version,"
    " NULL::text, NULL::text"
    " FROM item_create($1, $2, $3::bigint, $4::bigint, $5::jsonb)",
    5,
};

static const struct yx_db_stmt st_item_update = {
    "mall_item_update",
    "SELECT r_error, r_replayed, r_reply::text, r_item::text, r_community::text, r_stock, "
    "r_version,"
    " NULL::text, NULL::text"
    " FROM item_update($1::bigint, $2::bigint[], $3::bigint, $4::jsonb)",
    4,
};

static const struct yx_db_stmt st_redeem = {
    "mall_redeem",
    "SELECT r_error, r_replayed, r_reply::text, r_item::text, r_community::text, r_stock, "
    "r_version,"
    " NULL::text, NULL::text"
    " FROM redeem($1, $2, $3::bigint, $4::bigint, $5::int, $6::interval)",
    6,
};

static const struct yx_db_stmt st_cancel = {
    "mall_cancel",
    "SELECT r_error, r_replayed, r_reply::text, r_item::text, r_community::text, r_stock, "
    "r_version,"
    " NULL::text, NULL::text"
    " FROM cancel_order($1, $2, $3::bigint, $4::bigint)",
    4,
};

static const struct yx_db_stmt st_fulfil = {
    "mall_fulfil",
    "SELECT r_error, r_replayed, r_reply::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint,"
    " NULL::text, NULL::text"
    " FROM fulfil_order($1, $2, $3::bigint, $4::bigint[], $5::bigint, $6)",
    6,
};

/*
 * What a redemption refused by the sold-out gate needs, read without a lock:
 * a stored answer of (caller, key), and the item's committed stock.
 */
static const struct yx_db_stmt st_order_check = {
    "mall_order_check",
    "SELECT i.request_hash = $3, i.response::text, t.stock, t.stock_version"
    " FROM items t LEFT JOIN idempotency i ON i.user_id = $1::bigint AND i.key = $2"
    " WHERE t.id = $4::bigint",
    4,
};

static const struct yx_db_stmt st_item_get = {
    "mall_item_get",
    "SELECT item_json(i)::text FROM items i WHERE i.id = $1::bigint",
    1,
};

/* Listed items whose sale has not ended, newest first. */
static const struct yx_db_stmt st_items_page = {
    "mall_items_page",
    "SELECT i.id, item_json(i)::text FROM items i"
    " WHERE i.community = $1::bigint AND i.listed"
    " AND (i.sale_ends_at IS NULL OR i.sale_ends_at > now())"
    " AND ($2::bigint IS NULL OR i.id < $2::bigint)"
    " ORDER BY i.id DESC LIMIT $3::int",
    3,
};

static const struct yx_db_stmt st_ledger_page = {
    "mall_ledger_page",
    "SELECT j.id, jsonb_build_object('id', j.id::text, 'txn_id', j.txn_id::text,"
    " 'amount', j.amount, 'kind', j.kind, 'ref', j.ref, 'community_id', j.community::text,"
    " 'created_at', utc_text(j.created_at))::text"
    " FROM journal j"
    " WHERE j.account_id = (SELECT a.id FROM accounts a"
    "                       WHERE a.kind = 'user' AND a.owner = $1::bigint AND a.shard = 0)"
    " AND ($2::bigint IS NULL OR j.id < $2::bigint)"
    " ORDER BY j.id DESC LIMIT $3::int",
    3,
};

static const struct yx_db_stmt st_orders_page = {
    "mall_orders_page",
    "SELECT o.id, order_json(o, true)::text FROM orders o"
    " WHERE o.user_id = $1::bigint AND ($2::text IS NULL OR o.state = $2::text)"
    " AND ($3::bigint IS NULL OR o.id < $3::bigint)"
    " ORDER BY o.id DESC LIMIT $4::int",
    4,
};

static const struct yx_db_stmt st_order_get = {
    "mall_order_get",
    "SELECT order_json(o, o.user_id = $2::bigint)::text, o.user_id::text, o.community::text"
    " FROM orders o WHERE o.id = $1::bigint",
    2,
};

static const struct yx_db_stmt st_points = {
    "mall_points",
    "SELECT a.balance::text, a.earned::text, a.spent::text FROM accounts a"
    " WHERE a.kind = 'user' AND a.owner = $1::bigint AND a.shard = 0",
    1,
};

/*
 * Ties are ordered like Redis orders a sorted set read backwards (member
 * bytes descending), so both sources rank alike.
 */
static const struct yx_db_stmt st_leaderboard = {
    "mall_leaderboard",
    "SELECT a.owner::text, sum(j.amount) FROM journal j JOIN accounts a ON a.id = j.account_id"
    " WHERE j.community = $1::bigint AND earning_kind(j.kind) AND j.amount > 0"
    " AND a.kind = 'user' AND j.created_at >= period_start($2, now())"
    " GROUP BY a.owner ORDER BY 2 DESC, a.owner::text COLLATE \"C\" DESC LIMIT $3::int",
    3,
};

const struct yx_db_stmt mall_db_expire_stmt = {
    "mall_expire",
    "SELECT r_item::text, r_community::text, r_stock, r_version, r_expired"
    " FROM expire_orders($1::int)",
    1,
};

const struct yx_db_stmt mall_db_idem_purge_stmt = {
    "mall_idem_purge",
    "SELECT idem_purge($1::int, $2::int)",
    2,
};

static const struct yx_db_stmt *const statements[] = {
    &st_award,       &st_item_create,      &st_item_update,
    &st_redeem,      &st_cancel,           &st_fulfil,
    &st_item_get,    &st_items_page,       &st_ledger_page,
    &st_orders_page, &st_order_get,        &st_points,
    &st_leaderboard, &mall_db_expire_stmt, &mall_db_idem_purge_stmt,
    &st_order_check,
};

int
mall_db_register(void)
{
	return yx_db_register(statements, sizeof(statements) / sizeof(statements[0]));
}

static void
copy_text(PGresult *res, int row, int col, char *dst, size_t cap)
{
	if (PQgetisnull(res, row, col))
		dst[0] = '\0';
	else
		snprintf(dst, cap, "%s", PQgetvalue(res, row, col));
}

static int64_t
int_at(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/*
 * A result of the wrong shape is a bug between this file and the SQL: log
 * it and let the request fail as an internal error.
 */
static enum yx_db_rc
malformed(struct http_request *req, const char *what)
{
	yx_log(YX_LOG_ERROR, yx_req(req)->request_id, "db", "malformed result of %s", what);
	return YX_DB_FAILED;
}

static enum yx_db_rc
movement(struct http_request *req, const struct yx_db_stmt *st, const char *const *p,
         struct mall_outcome *out)
{
	enum yx_db_rc rc;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if ((rc = yx_db_exec(req, st, p, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQntuples(res) != 1 || PQnfields(res) != 9)
		return malformed(req, st->name);
	if (!PQgetisnull(res, 0, 0)) {
		/* A refusal may still say what it saw of the item's stock. */
		out->error = PQgetvalue(res, 0, 0);
		copy_text(res, 0, 3, out->item, sizeof(out->item));
		out->stock = int_at(res, 0, 5);
		out->version = int_at(res, 0, 6);
		return YX_DB_OK;
	}
	if (PQgetisnull(res, 0, 2))
		return malformed(req, st->name);
	out->replayed = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	out->reply = PQgetvalue(res, 0, 2);
	if (out->replayed)
		return YX_DB_OK;
	copy_text(res, 0, 3, out->item, sizeof(out->item));
	copy_text(res, 0, 4, out->community, sizeof(out->community));
	out->stock = int_at(res, 0, 5);
	out->version = int_at(res, 0, 6);
	copy_text(res, 0, 7, out->month, sizeof(out->month));
	copy_text(res, 0, 8, out->year, sizeof(out->year));
	return YX_DB_OK;
}

enum yx_db_rc
mall_db_award(struct http_request *req, const char *const p[8], struct mall_outcome *out)
{
	return movement(req, &st_award, p, out);
}

enum yx_db_rc
mall_db_item_create(struct http_request *req, const char *const p[5], struct mall_outcome *out)
{
	return movement(req, &st_item_create, p, out);
}

enum yx_db_rc
mall_db_item_update(struct http_request *req, const char *const p[4], struct mall_outcome *out)
{
	return movement(req, &st_item_update, p, out);
}

enum yx_db_rc
mall_db_redeem(struct http_request *req, const char *const p[6], struct mall_outcome *out)
{
	return movement(req, &st_redeem, p, out);
}

enum yx_db_rc
mall_db_cancel(struct http_request *req, const char *const p[4], struct mall_outcome *out)
{
	return movement(req, &st_cancel, p, out);
}

enum yx_db_rc
mall_db_fulfil(struct http_request *req, const char *const p[6], struct mall_outcome *out)
{
	return movement(req, &st_fulfil, p, out);
}

enum yx_db_rc
mall_db_order_check(struct http_request *req, const char *user, const char *key, const char *hash,
                    const char *item, struct mall_order_check *out)
{
	const char *p[4] = {user, key, hash, item};
	enum yx_db_rc rc;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if ((rc = yx_db_exec(req, &st_order_check, p, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQnfields(res) != 4)
		return malformed(req, st_order_check.name);
	if (PQntuples(res) != 1)
		return YX_DB_OK;
	out->item_found = true;
	out->stock = int_at(res, 0, 2);
	out->version = int_at(res, 0, 3);
	if (!PQgetisnull(res, 0, 0)) {
		if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
			out->stored.error = "idempotency_key_mismatch";
		} else {
			out->stored.replayed = true;
			out->stored.reply = PQgetvalue(res, 0, 1);
		}
	}
	return YX_DB_OK;
}

enum yx_db_rc
mall_db_item_get(struct http_request *req, const char *item, const char **json)
{
	const char *p[1] = {item};
	enum yx_db_rc rc;
	PGresult *res;

	*json = NULL;
	if ((rc = yx_db_exec(req, &st_item_get, p, &res)) != YX_DB_OK)
		return rc;
	if (res != NULL && PQntuples(res) == 1 && PQnfields(res) == 1)
		*json = PQgetvalue(res, 0, 0);
	return YX_DB_OK;
}

enum yx_db_rc
mall_db_order_get(struct http_request *req, const char *order, const char *viewer,
                  struct mall_order_view *out)
{
	const char *p[2] = {order, viewer};
	enum yx_db_rc rc;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if ((rc = yx_db_exec(req, &st_order_get, p, &res)) != YX_DB_OK)
		return rc;
	if (res != NULL && PQntuples(res) == 1 && PQnfields(res) == 3) {
		out->json = PQgetvalue(res, 0, 0);
		out->user = PQgetvalue(res, 0, 1);
		out->community = PQgetvalue(res, 0, 2);
	}
	return YX_DB_OK;
}

enum yx_db_rc
mall_db_points(struct http_request *req, const char *user, struct mall_points *out)
{
	const char *p[1] = {user};
	enum yx_db_rc rc;
	PGresult *res;

	out->balance = out->earned = out->spent = "0";
	if ((rc = yx_db_exec(req, &st_points, p, &res)) != YX_DB_OK)
		return rc;
	if (res != NULL && PQntuples(res) == 1 && PQnfields(res) == 3) {
		out->balance = PQgetvalue(res, 0, 0);
		out->earned = PQgetvalue(res, 0, 1);
		out->spent = PQgetvalue(res, 0, 2);
	}
	return YX_DB_OK;
}

/* Rows of (id, json) with up to limit + 1 rows into a page. */
static enum yx_db_rc
page(struct http_request *req, const struct yx_db_stmt *st, const char *const *p, size_t limit,
     struct mall_page *out)
{
	enum yx_db_rc rc;
	PGresult *res;
	size_t i, rows;

	memset(out, 0, sizeof(*out));
	if ((rc = yx_db_exec(req, st, p, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQnfields(res) != 2 || limit > MALL_PAGE_MAX)
		return malformed(req, st->name);
	rows = (size_t)PQntuples(res);
	out->more = rows > limit;
	out->n = out->more ? limit : rows;
	for (i = 0; i < out->n; i++)
		out->items[i] = PQgetvalue(res, (int)i, 1);
	if (out->n > 0)
		out->last_id = int_at(res, (int)out->n - 1, 0);
	return YX_DB_OK;
}

enum yx_db_rc
mall_db_items_page(struct http_request *req, const char *community, const char *after,
                   const char *limit_plus_one, size_t limit, struct mall_page *out)
{
	const char *p[3] = {community, after, limit_plus_one};

	return page(req, &st_items_page, p, limit, out);
}

enum yx_db_rc
mall_db_ledger_page(struct http_request *req, const char *user, const char *after,
                    const char *limit_plus_one, size_t limit, struct mall_page *out)
{
	const char *p[3] = {user, after, limit_plus_one};

	return page(req, &st_ledger_page, p, limit, out);
}

enum yx_db_rc
mall_db_orders_page(struct http_request *req, const char *user, const char *state,
                    const char *after, const char *limit_plus_one, size_t limit,
                    struct mall_page *out)
{
	const char *p[4] = {user, state, after, limit_plus_one};

	return page(req, &st_orders_page, p, limit, out);
}

enum yx_db_rc
mall_db_leaderboard(struct http_request *req, const char *community, const char *period,
                    const char *limit, struct mall_lb *out)
{
	const char *p[3] = {community, period, limit};
	enum yx_db_rc rc;
	PGresult *res;
	int i, rows;

	out->n = 0;
	if ((rc = yx_db_exec(req, &st_leaderboard, p, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQnfields(res) != 2)
		return malformed(req, st_leaderboard.name);
	rows = PQntuples(res);
	for (i = 0; i < rows && out->n < MALL_LB_MAX; i++) {
		copy_text(res, i, 0, out->e[out->n].user, sizeof(out->e[out->n].user));
		out->e[out->n].points = int_at(res, i, 1);
		out->n++;
	}
	return YX_DB_OK;
}

int
mall_db_expired_each(PGresult *res, void (*each)(const struct mall_stock_change *, void *),
                     void *arg)
{
	struct mall_stock_change c;
	int i, rows, total = 0;

	if (res == NULL || PQnfields(res) != 5)
		return -1;
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		c.item = PQgetvalue(res, i, 0);
		c.community = PQgetvalue(res, i, 1);
		c.stock = int_at(res, i, 2);
		c.version = int_at(res, i, 3);
		c.expired = (int)int_at(res, i, 4);
		total += c.expired;
		each(&c, arg);
	}
	return total;
}

int64_t
mall_db_scalar(PGresult *res)
{
	if (res == NULL || PQntuples(res) < 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
		return -1;
	return int_at(res, 0, 0);
}

/* --- reconcile ------------------------------------------------------------ */

/*
 * Each check answers one row: rows looked at, rows that break the rule, and
 * a sample (the first bad row, or a figure worth printing). The journal is
 * aggregated per movement once and joined, so a check is a few scans.
 */
static const struct {
	const char *name;
	const char *sql;
} checks[] = {
    {"the balances of all accounts sum to zero",
     "SELECT count(*), CASE WHEN coalesce(sum(balance), 0) = 0 THEN 0 ELSE 1 END,"
     " 'sum ' || coalesce(sum(balance), 0) FROM accounts"},
    {"every balance equals the sum of its journal rows",
     "SELECT count(*), count(*) FILTER (WHERE a.balance <> coalesce(j.s, 0)),"
     " min(CASE WHEN a.balance <> coalesce(j.s, 0) THEN 'account ' || a.id || ': balance '"
     "  || a.balance || ', journal ' || coalesce(j.s, 0) END)"
     " FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS s FROM journal"
     "  GROUP BY account_id) j ON j.account_id = a.id"},
    {"every user's earned and spent equal their journal rows",
     "SELECT count(*), count(*) FILTER (WHERE NOT ok),"
     " min(CASE WHEN NOT ok THEN 'account ' || id || ': earned ' || earned || ' (journal '"
     "  || e || '), spent ' || spent || ' (journal ' || sp || ')' END)"
     " FROM (SELECT a.id, a.earned, a.spent,"
     "  CASE WHEN a.kind = 'user' THEN coalesce(j.e, 0) ELSE 0 END AS e,"
     "  CASE WHEN a.kind = 'user' THEN coalesce(j.sp, 0) ELSE 0 END AS sp,"
     "  a.earned = CASE WHEN a.kind = 'user' THEN coalesce(j.e, 0) ELSE 0 END"
     "  AND a.spent = CASE WHEN a.kind = 'user' THEN coalesce(j.sp, 0) ELSE 0 END AS ok"
     "  FROM accounts a LEFT JOIN (SELECT account_id,"
     "   sum(amount) FILTER (WHERE earning_kind(kind)) AS e,"
     "   -sum(amount) FILTER (WHERE kind IN ('redeem', 'refund')) AS sp"
     "   FROM journal GROUP BY account_id) j ON j.account_id = a.id) x"},
    {"no user or store balance is negative",
     "SELECT count(*) FILTER (WHERE kind <> 'issuer'),"
     " count(*) FILTER (WHERE kind <> 'issuer' AND balance < 0),"
     " min(CASE WHEN kind <> 'issuer' AND balance < 0 THEN 'account ' || id || ': '"
     "  || balance END) FROM accounts"},
    {"every movement's journal rows sum to zero (one kind, ref and community each)",
     "SELECT count(*), count(*) FILTER (WHERE NOT ok),"
     " min(CASE WHEN NOT ok THEN 'txn ' || txn_id END)"
     " FROM (SELECT txn_id, sum(amount) = 0 AND count(*) >= 2 AND count(DISTINCT kind) = 1"
     "  AND count(DISTINCT ref) = 1 AND count(DISTINCT community) = 1 AS ok"
     "  FROM journal GROUP BY txn_id) t"},
    /*
     * Rows of other earning kinds (activities) belong to the module that
     * credited them: they pass here only when that module has its own checks
     * (<module>_checks(), run below), which tie each row to its records.
     */
    {"every journal row belongs to an award, an order or a checked module",
     "SELECT count(*), count(*) FILTER (WHERE NOT ok),"
     " min(CASE WHEN NOT ok THEN 'journal ' || id || ' (' || kind || ' ' || ref || ')' END)"
     " FROM (SELECT j.id, j.kind, j.ref, CASE j.kind"
     "  WHEN 'award' THEN w.id IS NOT NULL AND j.ref = 'award:' || w.id"
     "   AND j.community = w.community"
     "  WHEN 'redeem' THEN r.id IS NOT NULL AND j.ref = 'order:' || r.id"
     "   AND j.community = r.community"
     "  WHEN 'refund' THEN f.id IS NOT NULL AND j.ref = 'order:' || f.id"
     "   AND j.community = f.community"
     "  WHEN 'activity' THEN to_regprocedure('activity_checks()') IS NOT NULL"
     "  ELSE false END AS ok"
     "  FROM journal j"
     "  LEFT JOIN awards w ON j.kind = 'award' AND w.txn_id = j.txn_id"
     "  LEFT JOIN orders r ON j.kind = 'redeem' AND r.redeem_txn = j.txn_id"
     "  LEFT JOIN orders f ON j.kind = 'refund' AND f.refund_txn = j.txn_id) x"},
    {"every award moved its points from its community's issuer to its user",
     "WITH t AS (SELECT j.txn_id, count(*) AS n,"
     "  count(*) FILTER (WHERE a.kind = 'issuer') AS isn,"
     "  sum(j.amount) FILTER (WHERE a.kind = 'issuer') AS isa,"
     "  max(a.owner) FILTER (WHERE a.kind = 'issuer') AS iso,"
     "  count(*) FILTER (WHERE a.kind = 'user') AS un,"
     "  sum(j.amount) FILTER (WHERE a.kind = 'user') AS ua,"
     "  max(a.owner) FILTER (WHERE a.kind = 'user') AS uo"
     "  FROM journal j JOIN accounts a ON a.id = j.account_id WHERE j.kind = 'award'"
     "  GROUP BY j.txn_id)"
     " SELECT count(*), count(*) FILTER (WHERE NOT ok),"
     " min(CASE WHEN NOT ok THEN 'award ' || id END)"
     " FROM (SELECT w.id, coalesce(t.n = 2 AND t.isn = 1 AND t.un = 1"
     "  AND t.isa = -w.points AND t.iso = w.community"
     "  AND t.ua = w.points AND t.uo = w.user_id, false) AS ok"
     "  FROM awards w LEFT JOIN t ON t.txn_id = w.txn_id) x"},
    {"every day's award total equals that day's awards",
     "SELECT count(*), count(*) FILTER (WHERE d.total IS DISTINCT FROM w.s),"
     " min(CASE WHEN d.total IS DISTINCT FROM w.s THEN 'community '"
     "  || coalesce(d.community, w.community) || ' on ' || coalesce(d.day, w.day) END)"
     " FROM award_days d FULL JOIN (SELECT community, local_day(created_at) AS day,"
     "  sum(points) AS s FROM awards GROUP BY 1, 2) w"
     " ON w.community = d.community AND w.day = d.day"},
    {"every order paid price x quantity to its store shard and, when cancelled or expired,"
     " got exactly that back once",
     "WITH t AS (SELECT j.txn_id, min(j.kind) AS kind, count(*) AS n,"
     "  count(*) FILTER (WHERE a.kind = 'user') AS un,"
     "  sum(j.amount) FILTER (WHERE a.kind = 'user') AS ua,"
     "  max(a.owner) FILTER (WHERE a.kind = 'user') AS uo,"
     "  count(*) FILTER (WHERE a.kind = 'store') AS sn,"
     "  sum(j.amount) FILTER (WHERE a.kind = 'store') AS sa,"
     "  max(a.id) FILTER (WHERE a.kind = 'store') AS sid,"
     "  max(a.owner) FILTER (WHERE a.kind = 'store') AS so"
     "  FROM journal j JOIN accounts a ON a.id = j.account_id"
     "  WHERE j.kind IN ('redeem', 'refund') GROUP BY j.txn_id)"
     " SELECT count(*), count(*) FILTER (WHERE NOT ok),"
     " min(CASE WHEN NOT ok THEN 'order ' || id || ' (' || state || ')' END)"
     " FROM (SELECT o.id, o.state, coalesce(o.points = o.unit_price * o.quantity"
     "  AND r.kind = 'redeem' AND r.n = 2 AND r.un = 1 AND r.sn = 1"
     "  AND r.ua = -o.points AND r.uo = o.user_id"
     "  AND r.sa = o.points AND r.sid = o.store_account AND r.so = o.community"
     "  AND CASE WHEN o.state IN ('cancelled', 'expired') THEN f.kind = 'refund' AND f.n = 2"
     "   AND f.un = 1 AND f.sn = 1 AND f.ua = o.points AND f.uo = o.user_id"
     "   AND f.sa = -o.points AND f.sid = o.store_account"
     "   ELSE o.refund_txn IS NULL END, false) AS ok"
     "  FROM orders o LEFT JOIN t r ON r.txn_id = o.redeem_txn"
     "  LEFT JOIN t f ON f.txn_id = o.refund_txn) x"},
    {"every item's stock is its initial stock plus adjustments minus its pending and"
     " fulfilled orders",
     "SELECT count(*), count(*) FILTER (WHERE i.stock <> i.initial_stock + i.adjusted"
     "  - coalesce(o.q, 0)),"
     " min(CASE WHEN i.stock <> i.initial_stock + i.adjusted - coalesce(o.q, 0)"
     "  THEN 'item ' || i.id || ': stock ' || i.stock || ', expected '"
     "  || (i.initial_stock + i.adjusted - coalesce(o.q, 0)) END)"
     " FROM items i LEFT JOIN (SELECT item_id, sum(quantity) AS q FROM orders"
     "  WHERE state IN ('pending', 'fulfilled') GROUP BY item_id) o ON o.item_id = i.id"},
    {"the journal and the awards are append-only (triggers on, no rights to change)",
     "SELECT 5::bigint, 3 - count(*) + has_table_privilege('journal', 'UPDATE')::int"
     " + has_table_privilege('journal', 'DELETE')::int"
     " + has_table_privilege('journal', 'TRUNCATE')::int,"
     " coalesce(string_agg(tgname, ', ' ORDER BY tgname), 'no triggers')"
     " FROM pg_trigger WHERE tgrelid IN ('journal'::regclass, 'awards'::regclass)"
     " AND tgname IN ('journal_append_only', 'journal_no_truncate', 'awards_append_only')"
     " AND tgenabled <> 'D'"},
};

static int
exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "reconcile: %s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return ok ? 0 : -1;
}

/*
 * The checks of the modules that credit points on their own (activities):
 * every function of the schema named <module>_checks() without arguments,
 * returning rows of (name, checked, bad, sample) like the checks above.
 */
static const char module_checks_sql[] =
    "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname = current_schema() AND p.proname LIKE '%\\_checks' AND p.pronargs = 0"
    " AND p.proretset ORDER BY p.proname";

/* Runs one query of check rows (checked, bad, sample; with name first when named). */
static int
run_checks(PGconn *conn, const char *sql, const char *name,
           void (*report)(const struct mall_check *, void *), void *arg, int *failed)
{
	int first = name == NULL ? 1 : 0, i, rows;
	struct mall_check c;
	PGresult *res;

	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 3 + first ||
	    (name != NULL && PQntuples(res) != 1)) {
		fprintf(stderr, "reconcile: \"%s\" failed to run: %s", name ? name : sql,
		        PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		memset(&c, 0, sizeof(c));
		c.name = name != NULL ? name : PQgetvalue(res, i, 0);
		c.checked = int_at(res, i, first);
		c.bad = int_at(res, i, first + 1);
		copy_text(res, i, first + 2, c.sample, sizeof(c.sample));
		if (c.bad != 0)
			(*failed)++;
		report(&c, arg);
	}
	PQclear(res);
	return 0;
}

int
mall_db_reconcile(PGconn *conn, void (*report)(const struct mall_check *, void *), void *arg)
{
	char sql[160], *fn;
	PGresult *mods;
	size_t i;
	int failed = 0, m, rc = 0;

	if (exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") == -1)
		return -1;
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]) && rc == 0; i++)
		rc = run_checks(conn, checks[i].sql, checks[i].name, report, arg, &failed);
	mods = rc == 0 ? PQexec(conn, module_checks_sql) : NULL;
	if (mods != NULL && PQresultStatus(mods) != PGRES_TUPLES_OK) {
		fprintf(stderr, "reconcile: %s", PQresultErrorMessage(mods));
		rc = -1;
	}
	for (m = 0; rc == 0 && mods != NULL && m < PQntuples(mods); m++) {
		fn = PQescapeIdentifier(conn, PQgetvalue(mods, m, 0),
		                        strlen(PQgetvalue(mods, m, 0)));
		if (fn == NULL) {
			rc = -1;
			break;
		}
		snprintf(sql, sizeof(sql), "SELECT * FROM %s()", fn);
		PQfreemem(fn);
		rc = run_checks(conn, sql, NULL, report, arg, &failed);
	}
	PQclear(mods);
	(void)exec_ok(conn, rc == 0 ? "COMMIT" : "ROLLBACK");
	return rc == 0 ? failed : -1;
}

int
mall_db_leaderboard_rows(PGconn *conn,
                         int (*row)(const char *community, const char *period, const char *label,
                                    const char *user, const char *points, void *arg),
                         void *arg)
{
	static const char sql[] =
	    "SELECT j.community::text, p.period, period_label(p.period, now()), a.owner::text,"
	    " sum(j.amount)::text"
	    " FROM (VALUES ('month'), ('year')) AS p (period)"
	    " JOIN journal j ON j.created_at >= period_start(p.period, now())"
	    "  AND earning_kind(j.kind) AND j.amount > 0"
	    " JOIN accounts a ON a.id = j.account_id AND a.kind = 'user'"
	    " GROUP BY j.community, p.period, a.owner ORDER BY j.community, p.period";
	PGresult *res = PQexec(conn, sql);
	int i, rows;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 5) {
		fprintf(stderr, "rebuild-leaderboard: %s", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		if (row(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		        PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), arg) == -1) {
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);
	return rows;
}
