/*
 * yx_health.h - handlers shared by every service's routes: /healthz (the
 * process answers), /readyz (its PostgreSQL and Redis answer; 503 with the
 * state of each otherwise) and a catch-all 404 in problem+json.
 */
#ifndef YX_HEALTH_H
#define YX_HEALTH_H

#include <kore/kore.h>
#include <kore/http.h>

#include "yx_db.h"

/* The statement /readyz runs; registered by the glue for every service. */
extern const struct yx_db_stmt yx_health_ping;

int yx_healthz(struct http_request *req);
int yx_readyz(struct http_request *req);
int yx_not_found(struct http_request *req);

#endif
