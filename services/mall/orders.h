/*
 * orders.h - handlers of redemptions (routes in mall.conf).
 */
#ifndef MALL_ORDERS_H
#define MALL_ORDERS_H

#include <kore/kore.h>
#include <kore/http.h>

/* POST /api/v1/mall/orders: redeem. */
int mall_orders(struct http_request *req);

/* GET /api/v1/mall/orders/me?state=&limit=&cursor=. */
int mall_orders_me(struct http_request *req);

/* GET /api/v1/mall/orders/{id}. */
int mall_order(struct http_request *req);

/* POST /api/v1/mall/orders/{id}/cancel and /fulfil. */
int mall_order_action(struct http_request *req);

#endif
