/*
 * residence.h - residence registration (认证居民): a user asks to be
 * recorded in a household of a building; staff of that community approve,
 * which makes the user a verified resident there.
 */
#ifndef IDENTITY_RESIDENCE_H
#define IDENTITY_RESIDENCE_H

#include <kore/kore.h>
#include <kore/http.h>

/* GET, POST /api/v1/me/residence: the caller's requests; a new request. */
int identity_me_residence(struct http_request *req);

/* GET /api/v1/admin/residence-requests?status=: requests in the caller's scope. */
int identity_admin_residence_requests(struct http_request *req);

/* POST /api/v1/admin/residence-requests/{id}/approve|reject */
int identity_admin_residence_decide(struct http_request *req);

#endif
