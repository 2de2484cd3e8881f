/*
 * auth.h - login and tokens: POST /api/v1/auth/sms-code, /login, /refresh
 * and /logout, the access tokens they issue, and the revocation markers the
 * gateway checks.
 *
 * These routes are public, but like every route of a service they take
 * only requests the gateway signed (anonymous ones included), so the
 * client address the gateway forwards can be trusted for per-address
 * limits.
 */
#ifndef IDENTITY_AUTH_H
#define IDENTITY_AUTH_H

#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "identity_db_auth.h"

/* Settings of token issuance and the password back-off. */
struct identity_auth_conf {
	int64_t access_ttl;  /* seconds, at most 900 */
	int64_t refresh_ttl; /* seconds */
	char issuer[128];
	char audience[128];
	struct identity_backoff backoff;
};

extern struct identity_auth_conf identity_auth;

/* Reads the YX_* settings of login and tokens. Parent; -1 on bad values. */
int identity_auth_configure(void);

int identity_auth_sms_code(struct http_request *req);
int identity_auth_login(struct http_request *req);
int identity_auth_refresh(struct http_request *req);
int identity_auth_logout(struct http_request *req);

/*
 * Tells the gateway that session session_id is revoked: SET
 * pub:session:revoked:<id> "1" for the access token lifetime (no access
 * token of the session can outlive the marker). 0, or -1 when Redis did
 * not take it.
 */
int identity_publish_revoked(const char *session_id);

/* The caller's user agent and address, for the sessions table. */
void identity_client_of(struct http_request *req, struct identity_client *c);

#endif
