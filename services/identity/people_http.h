/*
 * people_http.h - request helpers shared by identity's people handlers
 * (orgs, residence, party, volunteer, admin_roles, me): ids in paths, query
 * parameters, cursor pages, body field checks, the public profile card in
 * Redis, and the list and decide handlers common to the three kinds of
 * request staff review.
 */
#ifndef IDENTITY_PEOPLE_HTTP_H
#define IDENTITY_PEOPLE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "identity_db_people.h"
#include "yx_json.h"
#include "yx_problem.h"

/* Longest id accepted in a path or a body: 18 digits fit a bigint. */
#define IDENTITY_ID_MAX 18

/* Default and largest ?limit= of a list. */
#define IDENTITY_PAGE_DEFAULT 20

/*
 * Reads the id that follows `prefix` in `path` (1 to 18 ASCII digits, ended
 * by '/' or the end of the path) into id[IDENTITY_ID_MAX + 1] and points
 * *rest at what follows it. False when path does not start with prefix or
 * the id is not of that form (the caller answers 404).
 */
bool identity_path_id(const char *path, const char *prefix, char *id, const char **rest);

/* True when s is 1 to 18 ASCII digits (an id as text). */
bool identity_id_valid(const char *s);

/* The arguments of one page of a list (?limit=, ?cursor=, ?status=). */
struct identity_page_args {
	size_t limit;
	char limit_plus_one[8];
	char cursor[24]; /* id to continue after; "" on the first page */
	char status[16];
};

/*
 * Reads ?limit= (1..100, default 20) and ?cursor= (400 invalid_cursor
 * unless made by identity_reply_page) and, when status_default is not NULL,
 * ?status= (pending, approved or rejected; default status_default). Any
 * other parameter is refused. False when it has replied (400 or 422).
 */
bool identity_page_args_or_reply(struct http_request *req, struct identity_page_args *a,
                                 const char *status_default);

/* Replies 200 {"items":[...],"next_cursor":...} from a list result. */
int identity_reply_page(struct http_request *req, PGresult *res, size_t limit);

/*
 * Writes a public profile card (JSON text holding "id") to pub:user:<id>
 * for YX_IDENTITY_CARD_TTL seconds; with only_if_missing, only when no card
 * is there. Best-effort: a Redis failure is logged, never reported to the
 * client (the outbox event is the durable signal).
 */
void identity_card_publish(struct http_request *req, const char *card, bool only_if_missing);

/* Reads YX_IDENTITY_CARD_TTL; call from the service's configure. -1 on a bad value. */
int identity_card_configure(void);

/*
 * Field checks for request bodies; each appends to errs (up to cap) when
 * the field is wrong and leaves *out NULL then.
 */
struct identity_field_errors {
	struct yx_field_error e[16];
	size_t n;
};

void identity_field_error(struct identity_field_errors *fe, const char *field, const char *reason);

/* Flags members of obj not named in allowed (NULL-terminated) as "unknown". */
void identity_check_keys(const struct yx_json *obj, const char *const *allowed,
                         struct identity_field_errors *fe);

/*
 * A text member: a string of 1..max_chars characters, no control
 * characters, not only spaces. Absent: "required" when required, else *out
 * stays NULL. JSON null counts as absent only when null_ok.
 */
void identity_text_field(const struct yx_json *obj, const char *key, bool required,
                         size_t max_chars, bool null_ok, const char **out,
                         struct identity_field_errors *fe);

/* Whether len bytes of UTF-8 at s pass the check of identity_text_field. */
bool identity_text_ok(const char *s, size_t len, size_t max_chars);

/* An id member: a string of 1..18 digits. */
void identity_id_field(const struct yx_json *obj, const char *key, bool required, const char **out,
                       struct identity_field_errors *fe);

/* Replies 422 validation_failed with the collected fields. */
int identity_reply_invalid(struct http_request *req, const struct identity_field_errors *fe);

/*
 * Replies with one page of list `which` of `owner` (see
 * identity_db_people_list), reading ?limit=, ?cursor= and, when
 * status_default is not NULL, ?status=. For any signed-in caller: the SQL
 * behind each list applies the caller's authorization.
 */
int identity_people_list(struct http_request *req, enum identity_people_list which,
                         const char *owner, const char *status_default);

/* Handlers common to the three kinds of reviewed request. */

/* GET: the caller's own requests (MINE lists), newest first. */
int identity_people_list_mine(struct http_request *req, enum identity_people_list which);

/* GET ?status=: the requests in the caller's staff scope, oldest first. */
int identity_people_list_staff(struct http_request *req, enum identity_people_list which);

/*
 * POST <prefix><id>/approve|reject with an optional body {"note": ...}:
 * decides a request, publishes the user's new card when it changed.
 */
int identity_people_decide(struct http_request *req, enum identity_people_decide which,
                           const char *prefix);

/*
 * Replies to the result of a state-changing statement: `status` with its
 * body, after publishing the card it carries, if any.
 */
int identity_reply_change(struct http_request *req, int status, PGresult *res);

#endif
