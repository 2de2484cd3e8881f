/*
 * items.h - handlers of the store's items (routes in mall.conf).
 */
#ifndef MALL_ITEMS_H
#define MALL_ITEMS_H

#include <kore/kore.h>
#include <kore/http.h>

/* GET (list, ?community_id=) and POST (create) /api/v1/mall/items. */
int mall_items(struct http_request *req);

/* GET and PATCH /api/v1/mall/items/{id}. */
int mall_item(struct http_request *req);

#endif
