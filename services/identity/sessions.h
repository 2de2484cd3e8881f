/*
 * sessions.h - the signed-in user's own sessions: GET /api/v1/me/sessions
 * (the live ones, newest login first, cursor-paginated) and DELETE
 * /api/v1/me/sessions/{id} (sign that session out everywhere). Only the
 * caller's sessions exist here: another user's session id is a 404.
 */
#ifndef IDENTITY_SESSIONS_H
#define IDENTITY_SESSIONS_H

#include <kore/kore.h>
#include <kore/http.h>

int identity_sessions_list(struct http_request *req);
int identity_session_delete(struct http_request *req);

#endif
