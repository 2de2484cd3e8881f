/*
 * activities_db.h - every SQL statement of volunteer activities (the
 * functions of services/mall/sql/0003_activities.sql). Handlers pass text
 * parameters and get JSON text or plain structs back; no PGresult is read
 * outside activities_db.c. Text pointers point into the request's result
 * and stay valid until the request ends (or yx_db_next()).
 *
 * Each call returns YX_DB_PENDING (return KORE_RESULT_RETRY), YX_DB_FAILED
 * (reply with yx_db_reply_error: only the unexpected arrives this way) or
 * YX_DB_OK with its output filled; a refusal (activity_full, ...) is a
 * successful call whose output names the error code.
 */
#ifndef MALL_ACTIVITIES_DB_H
#define MALL_ACTIVITIES_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mall_db.h"
#include "yx_db.h"

/* Registers the statements below; call from the service's configure. */
int activities_db_register(void);

/*
 * What a change returned: a refusal (error: a code of the error table, json
 * NULL), or the response body and whether it is the stored one of an
 * earlier request with the same Idempotency-Key.
 */
struct activity_reply {
	const char *error;
	bool replayed;
	const char *json;
};

/*
 * p: Idempotency-Key (NULL: none), request hash (NULL: none), staff,
 * community, the validated body as JSON text.
 */
enum yx_db_rc activities_db_create(struct http_request *req, const char *const p[5],
                                   struct activity_reply *out);

/* One activity; json NULL when there is no such activity. */
struct activity_view {
	const char *json;
	const char *community;
	const char *state; /* "open" or "cancelled" */
};
enum yx_db_rc activities_db_get(struct http_request *req, const char *activity,
                                struct activity_view *out);

/* p: staff, staff scopes ("{1,2}"), activity, the validated body. */
enum yx_db_rc activities_db_update(struct http_request *req, const char *const p[4],
                                   struct activity_reply *out);

/* p: staff, staff scopes, activity, reason (NULL: none). */
enum yx_db_rc activities_db_cancel(struct http_request *req, const char *const p[4],
                                   struct activity_reply *out);

/* p: user, volunteer communities, party-member communities, activity. */
enum yx_db_rc activities_db_signup(struct http_request *req, const char *const p[4],
                                   struct activity_reply *out);

/* p: user, activity. */
enum yx_db_rc activities_db_withdraw(struct http_request *req, const char *const p[2],
                                     struct activity_reply *out);

/*
 * p: user, activity, purpose ("check_in" or "check_out"), how long before
 * the start check-in opens and how long after the end check-out stays open
 * (PostgreSQL intervals).
 */
enum yx_db_rc activities_db_check(struct http_request *req, const char *const p[5],
                                  struct activity_reply *out);

/* What a confirmation returned; community and points only on a first run. */
struct activity_confirmed {
	const char *error; /* a refusal, as in struct activity_reply */
	bool replayed;
	const char *json;
	char community[24];
	int64_t points;
	char month[16]; /* leaderboard periods, "YYYY-MM" */
	char year[8];   /* and "YYYY" */
};

/* p: Idempotency-Key, request hash, staff, staff scopes, activity, user, hours (NULL: default). */
enum yx_db_rc activities_db_confirm(struct http_request *req, const char *const p[7],
                                    struct activity_confirmed *out);

/*
 * Pages (struct mall_page of mall_db.h, whose last_id continues the list).
 * The community's activities that end after `from` (NULL: now), by start
 * time; `after` the id of the last activity of the previous page.
 */
enum yx_db_rc activities_db_page(struct http_request *req, const char *community, const char *from,
                                 const char *after, const char *limit_plus_one, size_t limit,
                                 struct mall_page *out);

/*
 * An activity's sign-ups in sign-up order, for staff (scopes) of its
 * community; *error names the refusal (activity_not_found, not_in_scope),
 * NULL when the page is filled.
 */
enum yx_db_rc activities_db_signups_page(struct http_request *req, const char *scopes,
                                         const char *activity, const char *after,
                                         const char *limit_plus_one, size_t limit,
                                         struct mall_page *out, const char **error);

/* A user's sign-ups with their activities, newest first. */
enum yx_db_rc activities_db_mine_page(struct http_request *req, const char *user, const char *after,
                                      const char *limit_plus_one, size_t limit,
                                      struct mall_page *out);

#endif
