/*
 * orders.c - redemptions: POST /api/v1/mall/orders (redeem an item, get a
 * pickup code), GET /api/v1/mall/orders/me (the caller's orders), GET
 * /api/v1/mall/orders/{id} (its owner, or staff of its community), POST
 * /api/v1/mall/orders/{id}/cancel (the owner, before pickup: points and
 * stock come back) and POST /api/v1/mall/orders/{id}/fulfil (staff at the
 * counter, with the pickup code).
 *
 * A redemption first asks the sold-out gate (the worker's copy of the stock,
 * refreshed from Redis); PostgreSQL (mall.redeem) is the only authority on
 * stock and points, so a Redis outage never oversells. When the gate says
 * sold out, one lock-free read confirms it before the refusal (see
 * order_refused): the gate saves the redemption's locks and writes, never an
 * answer PostgreSQL would give differently.
 */
#include <stdio.h>
#include <string.h>

#include "yx_query.h"
#include "mall.h"
#include "mall_cache.h"
#include "mall_db.h"
#include "mall_http.h"
#include "orders.h"
#include "yx_http.h"
#include "yx_log.h"

#define ORDER_QUANTITY_MAX 100

struct order_state {
	bool gated;   /* the sold-out gate was asked */
	bool checked; /* it said sold out, and PostgreSQL was asked to confirm */
};

/* Mirrors the item's new stock in Redis after a movement. */
static void
stock_changed(struct http_request *req, const struct mall_outcome *o)
{
	const char *rid = yx_req(req)->request_id;

	if (o->error != NULL && strcmp(o->error, "out_of_stock") == 0 && o->item[0] != '\0') {
		mall_gate_set(rid, o->item, o->version, o->stock);
		return;
	}
	if (o->error != NULL || o->replayed || o->item[0] == '\0')
		return;
	mall_gate_set(rid, o->item, o->version, o->stock);
	mall_items_cache_invalidate(rid, o->community);
}

/*
 * The gate says sold out. It is a copy, so the refusal is confirmed by one
 * read without locks: a replay of an order that succeeded gets its stored
 * answer, and a copy that went stale (a cancellation, a restock) lets the
 * order through to the full redemption. Returns -1 when the order should go
 * on to mall.redeem, else the handler's result.
 */
static int
order_refused(struct http_request *req, const struct mall_idem *idem, const char *item,
              int64_t quantity)
{
	struct mall_order_check c;

	switch (mall_db_order_check(req, yx_req(req)->id.user, idem->key, idem->hash, item, &c)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (c.stored.error != NULL || c.stored.reply != NULL)
		return mall_reply_outcome(req, 201, &c.stored);
	if (!c.item_found || c.stock >= quantity) {
		yx_db_next(req);
		return -1;
	}
	mall_gate_set(yx_req(req)->request_id, item, c.version, c.stock);
	return yx_reply_problem(req, "out_of_stock", NULL);
}

static int
order_create(struct http_request *req)
{
	static const char *const keys[] = {"item_id", "quantity", NULL};
	struct order_state *st = mall_state(req, sizeof(*st), NULL);
	struct mall_fields f = {.n = 0};
	const struct yx_json *body;
	struct mall_outcome o;
	struct mall_idem idem;
	const char *item, *p[6];
	int64_t quantity = 1;
	bool given, is_null;
	char qty[8];
	int rc;

	if (!yx_require_user_or_reply(req) || !mall_idem_or_reply(req, &idem))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, false)) == NULL)
		return KORE_RESULT_OK;
	mall_check_keys(body, keys, &f);
	mall_body_id(body, "item_id", true, &item, &f);
	mall_body_int(body, "quantity", false, false, 1, ORDER_QUANTITY_MAX, &given, &is_null,
	              &quantity, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	if (!st->gated) {
		st->gated = true;
		st->checked = mall_gate_refuses(yx_req(req)->request_id, item, quantity);
	}
	if (st->checked) {
		if ((rc = order_refused(req, &idem, item, quantity)) != -1)
			return rc;
		st->checked = false;
	}
	snprintf(qty, sizeof(qty), "%lld", (long long)quantity);

	p[0] = idem.key;
	p[1] = idem.hash;
	p[2] = yx_req(req)->id.user;
	p[3] = item;
	p[4] = qty;
	p[5] = mall_config.pickup_ttl;
	switch (mall_db_redeem(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	stock_changed(req, &o);
	return mall_reply_outcome(req, 201, &o);
}

int
mall_orders(struct http_request *req)
{
	if (!mall_method_or_reply(req, HTTP_METHOD_POST, -1))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req))
		return KORE_RESULT_OK;
	return order_create(req);
}

int
mall_orders_me(struct http_request *req)
{
	static const char *const params[] = {"state", NULL};
	static const char *const states[] = {"pending", "fulfilled", "cancelled", "expired", NULL};
	struct mall_fields f = {.n = 0};
	struct mall_page_args a;
	struct mall_page page;
	char state[16];
	size_t i;
	int rc;

	if (!mall_method_or_reply(req, HTTP_METHOD_GET, -1))
		return KORE_RESULT_OK;
	if (!yx_require_user_or_reply(req) || !mall_page_args_or_reply(req, params, &a))
		return KORE_RESULT_OK;
	rc = yx_query_get(req, "state", state, sizeof(state));
	if (rc == 1) {
		for (i = 0; states[i] != NULL && strcmp(states[i], state) != 0; i++)
			;
		if (states[i] == NULL)
			rc = -1;
	}
	if (rc == -1) {
		mall_field_error(&f, "state", "invalid");
		return mall_reply_invalid(req, &f);
	}
	switch (mall_db_orders_page(req, yx_req(req)->id.user, rc == 1 ? state : NULL,
	                            a.after[0] ? a.after : NULL, a.limit_plus_one, a.limit,
	                            &page)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return mall_reply_page(req, &page);
}

static int
order_get(struct http_request *req, const char *id)
{
	struct yx_req *r = yx_req(req);
	struct mall_order_view v;

	if (!mall_method_or_reply(req, HTTP_METHOD_GET, -1))
		return KORE_RESULT_OK;
	switch (mall_db_order_get(req, id, r->id.user, &v)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	/* Someone else's order is not found, whether it exists or not. */
	if (v.json == NULL ||
	    (strcmp(v.user, r->id.user) != 0 && !mall_is_staff(r->id.roles, v.community)))
		return yx_reply_problem(req, "order_not_found", NULL);
	return yx_reply_json(req, 200, v.json, strlen(v.json));
}

int
mall_order(struct http_request *req)
{
	char id[MALL_ID_MAX + 1];
	const char *rest;

	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!mall_path_id(req->path, "/api/v1/mall/orders/", id, &rest) || rest[0] != '\0')
		return yx_reply_problem(req, "order_not_found", NULL);
	return order_get(req, id);
}

/* POST .../cancel with an empty body or {}: the owner takes the order back. */
static int
order_cancel(struct http_request *req, const char *id)
{
	static const char *const keys[] = {NULL};
	struct mall_fields f = {.n = 0};
	const struct yx_json *body;
	struct mall_outcome o;
	struct mall_idem idem;
	const char *p[4];

	if (!mall_idem_or_reply(req, &idem))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, true)) == NULL)
		return KORE_RESULT_OK;
	mall_check_keys(body, keys, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	p[0] = idem.key;
	p[1] = idem.hash;
	p[2] = yx_req(req)->id.user;
	p[3] = id;
	switch (mall_db_cancel(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	stock_changed(req, &o);
	return mall_reply_outcome(req, 200, &o);
}

/* True when s is a pickup code: six ASCII digits. */
static bool
pickup_code_valid(const char *s)
{
	size_t i;

	for (i = 0; i < 6; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return s[6] == '\0';
}

/* POST .../fulfil {"pickup_code"}: staff hand the item over at the counter. */
static int
order_fulfil(struct http_request *req, const char *id)
{
	static const char *const keys[] = {"pickup_code", NULL};
	struct mall_fields f = {.n = 0};
	char scopes[MALL_SCOPES_TEXT];
	const struct yx_json *body, *code;
	struct mall_outcome o;
	struct mall_idem idem;
	const char *p[6];

	if (!mall_idem_or_reply(req, &idem))
		return KORE_RESULT_OK;
	if (!mall_staff_scopes_or_reply(req, scopes, sizeof(scopes)))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, false)) == NULL)
		return KORE_RESULT_OK;
	mall_check_keys(body, keys, &f);
	code = yx_json_get(body, "pickup_code");
	if (code == NULL)
		mall_field_error(&f, "pickup_code", "required");
	else if (!yx_json_is_string(code) || !pickup_code_valid(code->str))
		mall_field_error(&f, "pickup_code", "invalid");
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	p[0] = idem.key;
	p[1] = idem.hash;
	p[2] = yx_req(req)->id.user;
	p[3] = scopes;
	p[4] = id;
	p[5] = code->str;
	switch (mall_db_fulfil(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (o.error == NULL && !o.replayed)
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "order_fulfilled", "order %s by %s",
		       id, yx_req(req)->id.user);
	return mall_reply_outcome(req, 200, &o);
}

int
mall_order_action(struct http_request *req)
{
	char id[MALL_ID_MAX + 1];
	const char *rest;

	if (!mall_method_or_reply(req, HTTP_METHOD_POST, -1))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req) || !yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!mall_path_id(req->path, "/api/v1/mall/orders/", id, &rest))
		return yx_reply_problem(req, "order_not_found", NULL);
	if (strcmp(rest, "/cancel") == 0)
		return order_cancel(req, id);
	if (strcmp(rest, "/fulfil") == 0)
		return order_fulfil(req, id);
	return yx_reply_problem(req, "route_not_found", NULL);
}
