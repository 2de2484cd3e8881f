/*
 * me.h - handlers of the signed-in user's own account.
 */
#ifndef IDENTITY_ME_H
#define IDENTITY_ME_H

#include <kore/kore.h>
#include <kore/http.h>

int identity_me(struct http_request *req);

#endif
