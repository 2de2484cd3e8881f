/*
 * identity_db_people.h - the SQL of identity's "people" part: the org tree,
 * residence and party-member requests, volunteers, role grants, the profile
 * card. Each state change is one SQL function (sql/0003_people.sql) run as
 * one prepared statement; callers get plain structs whose strings point into
 * the request's result (valid until yx_db_next() or the end of the request).
 * No PGresult is read outside this file and identity_db.c.
 *
 * Every call takes its arguments as text, exactly as yx_db_exec() wants them
 * (NULL is SQL NULL), and has the yx_db_exec() contract: call it again with
 * the same arguments while it returns YX_DB_PENDING.
 */
#ifndef IDENTITY_DB_PEOPLE_H
#define IDENTITY_DB_PEOPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity_db.h"
#include "yx_db.h"

/* Most items a page may hold (the ?limit= maximum). */
#define IDENTITY_PAGE_MAX 100

/* Registers every statement of this file; call from the service's configure. */
int identity_db_people_register(void);

/* The statements behind the calls below, for callers that pick one by kind. */
enum identity_people_list {
	IDENTITY_LIST_RESIDENCE_MINE,
	IDENTITY_LIST_RESIDENCE_STAFF,
	IDENTITY_LIST_PARTY_MINE,
	IDENTITY_LIST_PARTY_STAFF,
	IDENTITY_LIST_VOLUNTEER_MINE,
	IDENTITY_LIST_VOLUNTEER_STAFF,
	IDENTITY_LIST_ORG_CHILDREN,
};

enum identity_people_decide {
	IDENTITY_DECIDE_RESIDENCE,
	IDENTITY_DECIDE_PARTY,
	IDENTITY_DECIDE_VOLUNTEER,
};

/*
 * One page of a list: owner is the user (MINE), the staff member (STAFF) or
 * the parent org (ORG_CHILDREN); status is used by STAFF lists only (NULL
 * otherwise); cursor is the id to continue after (NULL: first page); limit
 * is the page size as text (one more row is read to learn whether there is
 * a next page).
 */
enum yx_db_rc identity_db_people_list(struct http_request *req, enum identity_people_list which,
                                      const char *owner, const char *status, const char *cursor,
                                      const char *limit_plus_one, PGresult **res);

/* A page read from a list result: items are JSON texts. */
struct identity_page {
	size_t n;
	const char *items[IDENTITY_PAGE_MAX];
	int64_t last_id; /* id of items[n - 1] */
	bool more;       /* a row beyond `limit` exists */
};

/* Reads up to `limit` rows of a list result into p. -1 on a malformed result. */
int identity_db_people_page(PGresult *res, size_t limit, struct identity_page *p);

/*
 * The outcome of a state-changing function: body is the JSON of the changed
 * object; card the user's new public card (NULL when the change does not
 * alter it); created says whether something was created (201) rather than
 * updated (200), false for functions without that column.
 */
struct identity_change {
	const char *body;
	const char *card;
	bool created;
};

/* Reads the one row of a state-changing function. -1 when there is none. */
int identity_db_people_change(PGresult *res, struct identity_change *c);

/* decision is "approve" or "reject"; note may be NULL. */
enum yx_db_rc identity_db_people_decide(struct http_request *req, enum identity_people_decide which,
                                        const char *request_id, const char *staff_id,
                                        const char *decision, const char *note, PGresult **res);

enum yx_db_rc identity_db_residence_create(struct http_request *req, const char *user_id,
                                           const char *building_id, const char *unit,
                                           const char *room, PGresult **res);

enum yx_db_rc identity_db_party_create(struct http_request *req, const char *user_id,
                                       const char *organization, const char *workplace,
                                       const char *community_id, PGresult **res);

/* skills_array is a PostgreSQL text[] literal; community_id may be NULL. */
enum yx_db_rc identity_db_volunteer_apply(struct http_request *req, const char *user_id,
                                          const char *skills_array, const char *community_id,
                                          PGresult **res);

enum yx_db_rc identity_db_org_get(struct http_request *req, const char *org_id, PGresult **res);

enum yx_db_rc identity_db_org_create(struct http_request *req, const char *staff_id,
                                     const char *parent_id, const char *name, PGresult **res);

/* name and vna ("true"/"false") may be NULL for "unchanged". */
enum yx_db_rc identity_db_org_update(struct http_request *req, const char *staff_id,
                                     const char *org_id, const char *name, const char *vna,
                                     PGresult **res);

enum yx_db_rc identity_db_role_grant(struct http_request *req, const char *staff_id,
                                     const char *user_id, const char *role, const char *org_id,
                                     PGresult **res);

enum yx_db_rc identity_db_role_revoke(struct http_request *req, const char *staff_id,
                                      const char *user_id, const char *role, const char *org_id,
                                      PGresult **res);

/*
 * The signed-in user with their card: the columns of identity_db_user_row()
 * followed by the card. For GET /me.
 */
enum yx_db_rc identity_db_me_get(struct http_request *req, const char *user_id, PGresult **res);

/* PATCH /me: name NULL leaves it; set_avatar with avatar NULL clears the URL. */
enum yx_db_rc identity_db_me_update(struct http_request *req, const char *user_id, const char *name,
                                    bool set_avatar, const char *avatar, PGresult **res);

/* The card of a me_get or me_update result (NULL when absent). */
const char *identity_db_me_card(PGresult *res);

/* A user as a staff member sees them: identity_db_user_row() columns + roles. */
enum yx_db_rc identity_db_admin_user_get(struct http_request *req, const char *staff_id,
                                         const char *user_id, PGresult **res);

/* The "role@org,..." list of an admin_user_get result ("" when absent). */
const char *identity_db_admin_user_roles(PGresult *res);

/* --- the demo seed (`yx-identity seed-demo`): synchronous, commands only --- */

enum identity_seed_stmt {
	IDENTITY_SEED_LOCK,      /* (): serialise seeders for the transaction */
	IDENTITY_SEED_EXISTS,    /* (district, street): a row when the demo is there */
	IDENTITY_SEED_ORG,       /* (parent or NULL, level, name): id, found or created */
	IDENTITY_SEED_USER,      /* (enc, idx, masked, name, hash or NULL): id, found or created */
	IDENTITY_SEED_ROLE,      /* (user, role, org) */
	IDENTITY_SEED_RESIDENCE, /* (user, building, unit, room, status, staff or NULL) */
	IDENTITY_SEED_PARTY,     /* (user, organization, workplace, community, status, staff) */
	IDENTITY_SEED_VOLUNTEER, /* (user, community, skills text[], status, staff) */
	IDENTITY_SEED_SETTING,   /* (community, volunteer_needs_approval) */
};

/*
 * Runs one seed statement on conn (inside the caller's transaction) and
 * copies the first column of its first row into out (cap bytes; "" when
 * there is no row; out may be NULL). 0 on success; YX_PG_TX_RETRY when it
 * failed with a retryable SQLSTATE; -1 otherwise, with PostgreSQL's message
 * on stderr.
 */
int identity_db_seed(PGconn *conn, enum identity_seed_stmt which, const char *const *params,
                     char *out, size_t cap);

#endif
