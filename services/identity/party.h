/*
 * party.h - in-service party members registering with their home community
 * (在职党员双报到): a request approved by that community's staff makes the
 * user a party_member there.
 */
#ifndef IDENTITY_PARTY_H
#define IDENTITY_PARTY_H

#include <kore/kore.h>
#include <kore/http.h>

/* GET, POST /api/v1/me/party-membership: the caller's requests; a new request. */
int identity_me_party(struct http_request *req);

/* GET /api/v1/admin/party-membership-requests?status=: requests in the caller's scope. */
int identity_admin_party_requests(struct http_request *req);

/* POST /api/v1/admin/party-membership-requests/{id}/approve|reject */
int identity_admin_party_decide(struct http_request *req);

#endif
