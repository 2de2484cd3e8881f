/*
 * jwks.h - the published token verification keys.
 */
#ifndef IDENTITY_JWKS_H
#define IDENTITY_JWKS_H

#include <kore/kore.h>
#include <kore/http.h>

int identity_jwks(struct http_request *req);

#endif
