/*
 * items.c - the store's items: GET /api/v1/mall/items?community_id= (a
 * page of the community's listed items, cached in Redis), POST
 * /api/v1/mall/items (staff create one), GET and PATCH
 * /api/v1/mall/items/{id} (anyone reads one; staff change it).
 *
 * Reading needs only a request the gateway signed (the catalogue is public
 * to residents, signed in or not); changing needs staff of the item's
 * community. Every change drops the community's cached list and records the
 * item's new stock in the sold-out gate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yx_query.h"
#include "items.h"
#include "mall_cache.h"
#include "mall_db.h"
#include "mall_http.h"
#include "yx_http.h"
#include "yx_log.h"

#define ITEM_NAME_MAX        60
#define ITEM_DESCRIPTION_MAX 1000
#define ITEM_PRICE_MAX       10000000
#define ITEM_STOCK_MAX       1000000000
#define ITEM_LIMIT_MAX       10000

/* Handler state kept across the runs of one request. */
struct items_state {
	bool started;
	char community[MALL_ID_MAX + 1];
	struct mall_page_args page;
	char field[48];
	struct mall_items_slot slot;
	char *fields_json; /* the validated body passed to SQL */
};

static void
items_state_free(void *p)
{
	struct items_state *st = p;

	free(st->fields_json);
	free(st);
}

static struct items_state *
state_of(struct http_request *req)
{
	return mall_state(req, sizeof(struct items_state), items_state_free);
}

/*
 * Validates the item members of a create (all required ones present) or a
 * change (only those given, at least one).
 */
static void
item_fields(const struct yx_json *body, bool create, struct mall_fields *f)
{
	static const char *const create_keys[] = {"community_id",
	                                          "name",
	                                          "description",
	                                          "image_url",
	                                          "points_price",
	                                          "stock",
	                                          "monthly_limit",
	                                          "sale_starts_at",
	                                          "sale_ends_at",
	                                          "listed",
	                                          NULL};
	static const char *const change_keys[] = {
	    "name",          "description",    "image_url",    "points_price", "stock",
	    "monthly_limit", "sale_starts_at", "sale_ends_at", "listed",       NULL};
	const char *s;
	int64_t n;
	bool given, is_null, any = false, b;

	mall_check_keys(body, create ? create_keys : change_keys, f);
	mall_body_text(body, "name", create, false, 1, ITEM_NAME_MAX, false, &given, &s, f);
	any |= given;
	mall_body_text(body, "description", false, true, 0, ITEM_DESCRIPTION_MAX, true, &given, &s,
	               f);
	any |= given;
	mall_body_url(body, "image_url", &given, &s, f);
	any |= given;
	mall_body_int(body, "points_price", create, false, 1, ITEM_PRICE_MAX, &given, &is_null, &n,
	              f);
	any |= given;
	mall_body_int(body, "stock", create, false, 0, ITEM_STOCK_MAX, &given, &is_null, &n, f);
	any |= given;
	mall_body_int(body, "monthly_limit", false, true, 1, ITEM_LIMIT_MAX, &given, &is_null, &n,
	              f);
	any |= given;
	mall_body_time(body, "sale_starts_at", &given, &s, f);
	any |= given;
	mall_body_time(body, "sale_ends_at", &given, &s, f);
	any |= given;
	mall_body_bool(body, "listed", &given, &b, f);
	any |= given;
	if (!create && !any && f->n == 0)
		mall_field_error(f, "body", "empty");
}

/* Mirrors a change in Redis: the gate's stock, and the list is stale. */
static void
item_changed(struct http_request *req, const struct mall_outcome *o)
{
	const char *rid = yx_req(req)->request_id;

	if (o->error != NULL || o->replayed || o->item[0] == '\0')
		return;
	mall_gate_set(rid, o->item, o->version, o->stock);
	mall_items_cache_invalidate(rid, o->community);
}

static int
items_list(struct http_request *req)
{
	static const char *const params[] = {"community_id", NULL};
	struct items_state *st = state_of(req);
	struct mall_fields f = {.n = 0};
	struct mall_page page;
	char *body;
	size_t len;
	int rc;

	if (!st->started) {
		if (!mall_page_args_or_reply(req, params, &st->page))
			return KORE_RESULT_OK;
		rc = yx_query_get(req, "community_id", st->community, sizeof(st->community));
		if (rc == 0)
			mall_field_error(&f, "community_id", "required");
		else if (rc == -1 || !mall_id_valid(st->community))
			mall_field_error(&f, "community_id", "invalid");
		if (f.n > 0)
			return mall_reply_invalid(req, &f);
		snprintf(st->field, sizeof(st->field), "%zu:%s", st->page.limit, st->page.after);
		body = mall_items_cache_get(yx_req(req)->request_id, st->community, st->field, &len,
		                            &st->slot);
		if (body != NULL) {
			yx_reply_json(req, 200, body, len);
			free(body);
			return KORE_RESULT_OK;
		}
		st->started = true;
	}
	switch (mall_db_items_page(req, st->community, st->page.after[0] ? st->page.after : NULL,
	                           st->page.limit_plus_one, st->page.limit, &page)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if ((body = mall_page_body(&page, &len)) == NULL)
		return yx_reply_problem(req, "internal_error", NULL);
	mall_items_cache_put(yx_req(req)->request_id, st->community, st->field, &st->slot, body,
	                     len);
	yx_reply_json(req, 200, body, len);
	free(body);
	return KORE_RESULT_OK;
}

static int
items_create(struct http_request *req)
{
	struct items_state *st = state_of(req);
	struct mall_fields f = {.n = 0};
	const struct yx_json *body;
	struct mall_outcome o;
	struct mall_idem idem;
	const char *community, *p[5];

	if (!yx_require_user_or_reply(req) || !mall_idem_or_reply(req, &idem))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, false)) == NULL)
		return KORE_RESULT_OK;
	mall_body_id(body, "community_id", true, &community, &f);
	if (community != NULL && !mall_staff_or_reply(req, community))
		return KORE_RESULT_OK;
	item_fields(body, true, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	if (st->fields_json == NULL && (st->fields_json = mall_body_json_text(body)) == NULL)
		return yx_reply_problem(req, "internal_error", NULL);

	p[0] = idem.key;
	p[1] = idem.hash;
	p[2] = yx_req(req)->id.user;
	p[3] = community;
	p[4] = st->fields_json;
	switch (mall_db_item_create(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	item_changed(req, &o);
	if (o.error == NULL && !o.replayed)
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "item_created",
		       "item %s in community %s by %s", o.item, o.community, yx_req(req)->id.user);
	return mall_reply_outcome(req, 201, &o);
}

int
mall_items(struct http_request *req)
{
	if (!mall_method_or_reply(req, HTTP_METHOD_GET, HTTP_METHOD_POST))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req))
		return KORE_RESULT_OK;
	if (req->method == HTTP_METHOD_GET)
		return items_list(req);
	return items_create(req);
}

static int
item_get(struct http_request *req, const char *id)
{
	const char *json;

	switch (mall_db_item_get(req, id, &json)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (json == NULL)
		return yx_reply_problem(req, "item_not_found", NULL);
	return yx_reply_json(req, 200, json, strlen(json));
}

/*
 * PATCH: the fields to change (null clears description, image_url,
 * monthly_limit and the sale window). Naturally idempotent (values, not
 * increments), so no Idempotency-Key is needed.
 */
static int
item_patch(struct http_request *req, const char *id)
{
	struct items_state *st = state_of(req);
	struct mall_fields f = {.n = 0};
	char scopes[MALL_SCOPES_TEXT];
	const struct yx_json *body;
	struct mall_outcome o;
	const char *p[4];

	if (!yx_require_user_or_reply(req))
		return KORE_RESULT_OK;
	if (!mall_staff_scopes_or_reply(req, scopes, sizeof(scopes)))
		return KORE_RESULT_OK;
	if ((body = mall_body_or_reply(req, false)) == NULL)
		return KORE_RESULT_OK;
	if (yx_json_get(body, "community_id") != NULL)
		mall_field_error(&f, "community_id", "read_only");
	item_fields(body, false, &f);
	if (f.n > 0)
		return mall_reply_invalid(req, &f);
	if (st->fields_json == NULL && (st->fields_json = mall_body_json_text(body)) == NULL)
		return yx_reply_problem(req, "internal_error", NULL);

	p[0] = yx_req(req)->id.user;
	p[1] = scopes;
	p[2] = id;
	p[3] = st->fields_json;
	switch (mall_db_item_update(req, p, &o)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	item_changed(req, &o);
	if (o.error == NULL)
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "item_changed", "item %s by %s", id,
		       yx_req(req)->id.user);
	return mall_reply_outcome(req, 200, &o);
}

int
mall_item(struct http_request *req)
{
	char id[MALL_ID_MAX + 1];
	const char *rest;

	if (!mall_method_or_reply(req, HTTP_METHOD_GET, HTTP_METHOD_PATCH))
		return KORE_RESULT_OK;
	if (!mall_signed_or_reply(req))
		return KORE_RESULT_OK;
	if (!mall_path_id(req->path, "/api/v1/mall/items/", id, &rest) || rest[0] != '\0')
		return yx_reply_problem(req, "item_not_found", NULL);
	if (req->method == HTTP_METHOD_GET)
		return item_get(req, id);
	return item_patch(req, id);
}
