/*
 * awards.h - the handler of manual awards (route in mall.conf).
 */
#ifndef MALL_AWARDS_H
#define MALL_AWARDS_H

#include <kore/kore.h>
#include <kore/http.h>

/* POST /api/v1/points/awards. */
int mall_awards(struct http_request *req);

#endif
