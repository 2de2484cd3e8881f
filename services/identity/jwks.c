/*
 * jwks.c - GET /api/v1/auth/jwks: the public keys that verify access tokens.
 */
#include "identity.h"
#include "jwks.h"
#include "yx_http.h"

int
identity_jwks(struct http_request *req)
{
	if (req->method != HTTP_METHOD_GET)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	yx_reply_json(req, 200, identity_app.jwks, identity_app.jwks_len);
	return KORE_RESULT_OK;
}
