/*
 * identity_db_people.c - the prepared statements of identity's people part
 * (each a call of one SQL function of sql/0003_people.sql) and the reading
 * of their results into plain structs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity_db_people.h"
#include "yx_pgutil.h"

/* The columns identity_db_user_row() reads, from a function's result row. */
#define ME_COLUMNS "id, display_name, avatar_url, phone_enc, phone_masked, status, created_at"

static const struct yx_db_stmt st_org_get = {
    "people_org_get",
    "SELECT identity.org_get($1::bigint)::text",
    1,
};

static const struct yx_db_stmt st_org_children = {
    "people_org_children",
    "SELECT id, item::text FROM identity.org_children($1::bigint, $2::bigint, $3::int)",
    3,
};

static const struct yx_db_stmt st_org_create = {
    "people_org_create",
    "SELECT identity.org_create($1::bigint, $2::bigint, $3)::text",
    3,
};

static const struct yx_db_stmt st_org_update = {
    "people_org_update",
    "SELECT identity.org_update($1::bigint, $2::bigint, $3, $4::boolean)::text",
    4,
};

static const struct yx_db_stmt st_residence_create = {
    "people_residence_create",
    "SELECT identity.residence_request_create($1::bigint, $2::bigint, $3, $4)::text",
    4,
};

static const struct yx_db_stmt st_residence_decide = {
    "people_residence_decide",
    "SELECT body::text, card::text FROM identity.residence_decide($1::bigint, $2::bigint, $3, $4)",
    4,
};

static const struct yx_db_stmt st_residence_mine = {
    "people_residence_mine",
    "SELECT id, item::text FROM identity.residence_mine($1::bigint, $2::bigint, $3::int)",
    3,
};

static const struct yx_db_stmt st_residence_list = {
    "people_residence_list",
    "SELECT id, item::text FROM identity.residence_list($1::bigint, $2, $3::bigint, $4::int)",
    4,
};

static const struct yx_db_stmt st_party_create = {
    "people_party_create",
    "SELECT identity.party_request_create($1::bigint, $2, $3, $4::bigint)::text",
    4,
};

static const struct yx_db_stmt st_party_decide = {
    "people_party_decide",
    "SELECT body::text, card::text FROM identity.party_decide($1::bigint, $2::bigint, $3, $4)",
    4,
};

static const struct yx_db_stmt st_party_mine = {
    "people_party_mine",
    "SELECT id, item::text FROM identity.party_mine($1::bigint, $2::bigint, $3::int)",
    3,
};

static const struct yx_db_stmt st_party_list = {
    "people_party_list",
    "SELECT id, item::text FROM identity.party_list($1::bigint, $2, $3::bigint, $4::int)",
    4,
};

static const struct yx_db_stmt st_volunteer_apply = {
    "people_volunteer_apply",
    "SELECT body::text, card::text, created "
    "FROM identity.volunteer_apply($1::bigint, $2::text[], $3::bigint)",
    3,
};

static const struct yx_db_stmt st_volunteer_decide = {
    "people_volunteer_decide",
    "SELECT body::text, card::text FROM identity.volunteer_decide($1::bigint, $2::bigint, $3, $4)",
    4,
};

static const struct yx_db_stmt st_volunteer_mine = {
    "people_volunteer_mine",
    "SELECT id, item::text FROM identity.volunteer_mine($1::bigint, $2::bigint, $3::int)",
    3,
};

static const struct yx_db_stmt st_volunteer_list = {
    "people_volunteer_list",
    "SELECT id, item::text FROM identity.volunteer_list($1::bigint, $2, $3::bigint, $4::int)",
    4,
};

static const struct yx_db_stmt st_role_grant = {
    "people_role_grant",
    "SELECT body::text, card::text, created "
    "FROM identity.role_grant($1::bigint, $2::bigint, $3, $4::bigint)",
    4,
};

static const struct yx_db_stmt st_role_revoke = {
    "people_role_revoke",
    "SELECT body::text, card::text FROM identity.role_revoke($1::bigint, $2::bigint, $3, "
    "$4::bigint)",
    4,
};

static const struct yx_db_stmt st_me_get = {
    "people_me_get",
    "SELECT u.id::text, u.display_name, coalesce(u.avatar_url, ''), u.phone_enc, u.phone_masked, "
    "u.status, identity.utc_text(u.created_at), identity.user_card(u.id)::text "
    "FROM identity.users u WHERE u.id = $1::bigint AND u.status = 'active'",
    1,
};

static const struct yx_db_stmt st_me_update = {
    "people_me_update",
    "SELECT " ME_COLUMNS ", card::text "
    "FROM identity.user_update_profile($1::bigint, $2::boolean, $3, $4::boolean, $5)",
    5,
};

static const struct yx_db_stmt st_admin_user_get = {
    "people_admin_user_get",
    "SELECT " ME_COLUMNS ", roles FROM identity.admin_user_get($1::bigint, $2::bigint)",
    2,
};

static const struct yx_db_stmt *const statements[] = {
    &st_org_get,          &st_org_children,     &st_org_create,     &st_org_update,
    &st_residence_create, &st_residence_decide, &st_residence_mine, &st_residence_list,
    &st_party_create,     &st_party_decide,     &st_party_mine,     &st_party_list,
    &st_volunteer_apply,  &st_volunteer_decide, &st_volunteer_mine, &st_volunteer_list,
    &st_role_grant,       &st_role_revoke,      &st_me_get,         &st_me_update,
    &st_admin_user_get,
};

int
identity_db_people_register(void)
{
	return yx_db_register(statements, sizeof(statements) / sizeof(statements[0]));
}

enum yx_db_rc
identity_db_people_list(struct http_request *req, enum identity_people_list which,
                        const char *owner, const char *status, const char *cursor,
                        const char *limit_plus_one, PGresult **res)
{
	const char *mine[3] = {owner, cursor, limit_plus_one};
	const char *staff[4] = {owner, status, cursor, limit_plus_one};

	switch (which) {
	case IDENTITY_LIST_RESIDENCE_MINE:
		return yx_db_exec(req, &st_residence_mine, mine, res);
	case IDENTITY_LIST_RESIDENCE_STAFF:
		return yx_db_exec(req, &st_residence_list, staff, res);
	case IDENTITY_LIST_PARTY_MINE:
		return yx_db_exec(req, &st_party_mine, mine, res);
	case IDENTITY_LIST_PARTY_STAFF:
		return yx_db_exec(req, &st_party_list, staff, res);
	case IDENTITY_LIST_VOLUNTEER_MINE:
		return yx_db_exec(req, &st_volunteer_mine, mine, res);
	case IDENTITY_LIST_VOLUNTEER_STAFF:
		return yx_db_exec(req, &st_volunteer_list, staff, res);
	case IDENTITY_LIST_ORG_CHILDREN:
		return yx_db_exec(req, &st_org_children, mine, res);
	}
	return YX_DB_FAILED;
}

static int
parse_id(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = (int64_t)v;
	return 0;
}

int
identity_db_people_page(PGresult *res, size_t limit, struct identity_page *p)
{
	int rows, i;

	memset(p, 0, sizeof(*p));
	if (res == NULL || PQnfields(res) < 2 || limit > IDENTITY_PAGE_MAX)
		return -1;
	rows = PQntuples(res);
	for (i = 0; i < rows && (size_t)i < limit; i++) {
		if (PQgetisnull(res, i, 1) || parse_id(PQgetvalue(res, i, 0), &p->last_id) == -1)
			return -1;
		p->items[p->n++] = PQgetvalue(res, i, 1);
	}
	p->more = (size_t)rows > limit;
	return 0;
}

int
identity_db_people_change(PGresult *res, struct identity_change *c)
{
	memset(c, 0, sizeof(*c));
	if (res == NULL || PQntuples(res) < 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
		return -1;
	c->body = PQgetvalue(res, 0, 0);
	if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1))
		c->card = PQgetvalue(res, 0, 1);
	if (PQnfields(res) > 2 && !PQgetisnull(res, 0, 2))
		c->created = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	return 0;
}

enum yx_db_rc
identity_db_people_decide(struct http_request *req, enum identity_people_decide which,
                          const char *request_id, const char *staff_id, const char *decision,
                          const char *note, PGresult **res)
{
	const char *params[4] = {request_id, staff_id, decision, note};

	switch (which) {
	case IDENTITY_DECIDE_RESIDENCE:
		return yx_db_exec(req, &st_residence_decide, params, res);
	case IDENTITY_DECIDE_PARTY:
		return yx_db_exec(req, &st_party_decide, params, res);
	case IDENTITY_DECIDE_VOLUNTEER:
		return yx_db_exec(req, &st_volunteer_decide, params, res);
	}
	return YX_DB_FAILED;
}

enum yx_db_rc
identity_db_residence_create(struct http_request *req, const char *user_id, const char *building_id,
                             const char *unit, const char *room, PGresult **res)
{
	const char *params[4] = {user_id, building_id, unit, room};

	return yx_db_exec(req, &st_residence_create, params, res);
}

enum yx_db_rc
identity_db_party_create(struct http_request *req, const char *user_id, const char *organization,
                         const char *workplace, const char *community_id, PGresult **res)
{
	const char *params[4] = {user_id, organization, workplace, community_id};

	return yx_db_exec(req, &st_party_create, params, res);
}

enum yx_db_rc
identity_db_volunteer_apply(struct http_request *req, const char *user_id, const char *skills_array,
                            const char *community_id, PGresult **res)
{
	const char *params[3] = {user_id, skills_array, community_id};

	return yx_db_exec(req, &st_volunteer_apply, params, res);
}

enum yx_db_rc
identity_db_org_get(struct http_request *req, const char *org_id, PGresult **res)
{
	const char *params[1] = {org_id};

	return yx_db_exec(req, &st_org_get, params, res);
}

enum yx_db_rc
identity_db_org_create(struct http_request *req, const char *staff_id, const char *parent_id,
                       const char *name, PGresult **res)
{
	const char *params[3] = {staff_id, parent_id, name};

	return yx_db_exec(req, &st_org_create, params, res);
}

enum yx_db_rc
identity_db_org_update(struct http_request *req, const char *staff_id, const char *org_id,
                       const char *name, const char *vna, PGresult **res)
{
	const char *params[4] = {staff_id, org_id, name, vna};

	return yx_db_exec(req, &st_org_update, params, res);
}

enum yx_db_rc
identity_db_role_grant(struct http_request *req, const char *staff_id, const char *user_id,
                       const char *role, const char *org_id, PGresult **res)
{
	const char *params[4] = {staff_id, user_id, role, org_id};

	return yx_db_exec(req, &st_role_grant, params, res);
}

enum yx_db_rc
identity_db_role_revoke(struct http_request *req, const char *staff_id, const char *user_id,
                        const char *role, const char *org_id, PGresult **res)
{
	const char *params[4] = {staff_id, user_id, role, org_id};

	return yx_db_exec(req, &st_role_revoke, params, res);
}

enum yx_db_rc
identity_db_me_get(struct http_request *req, const char *user_id, PGresult **res)
{
	const char *params[1] = {user_id};

	return yx_db_exec(req, &st_me_get, params, res);
}

enum yx_db_rc
identity_db_me_update(struct http_request *req, const char *user_id, const char *name,
                      bool set_avatar, const char *avatar, PGresult **res)
{
	const char *params[5] = {user_id, name != NULL ? "t" : "f", name, set_avatar ? "t" : "f",
	                         avatar};

	return yx_db_exec(req, &st_me_update, params, res);
}

const char *
identity_db_me_card(PGresult *res)
{
	if (res == NULL || PQntuples(res) < 1 || PQnfields(res) < 8 || PQgetisnull(res, 0, 7))
		return NULL;
	return PQgetvalue(res, 0, 7);
}

enum yx_db_rc
identity_db_admin_user_get(struct http_request *req, const char *staff_id, const char *user_id,
                           PGresult **res)
{
	const char *params[2] = {staff_id, user_id};

	return yx_db_exec(req, &st_admin_user_get, params, res);
}

const char *
identity_db_admin_user_roles(PGresult *res)
{
	if (res == NULL || PQntuples(res) < 1 || PQnfields(res) < 8 || PQgetisnull(res, 0, 7))
		return "";
	return PQgetvalue(res, 0, 7);
}

/* The seed's statements, by enum identity_seed_stmt; nparams alongside. */
static const struct {
	const char *sql;
	int nparams;
} seed_sql[] = {
    [IDENTITY_SEED_LOCK] = {"SELECT pg_advisory_xact_lock(hashtext('identity.seed-demo'))", 0},
    [IDENTITY_SEED_EXISTS] = {"SELECT s.id::text FROM identity.orgs d JOIN identity.orgs s ON "
                              "s.parent_id = d.id WHERE d.level = 'district' AND d.name = $1 "
                              "AND s.name = $2 LIMIT 1",
                              2},
    [IDENTITY_SEED_ORG] =
        {"WITH found AS (SELECT id FROM identity.orgs WHERE parent_id IS NOT DISTINCT FROM "
         "$1::bigint AND level = $2 AND name = $3 ORDER BY id LIMIT 1), "
         "n AS (SELECT nextval(pg_get_serial_sequence('identity.orgs', 'id')) AS id "
         "WHERE NOT EXISTS (SELECT 1 FROM found)), "
         "ins AS (INSERT INTO identity.orgs (id, parent_id, level, name, path) "
         "OVERRIDING SYSTEM VALUE SELECT n.id, $1::bigint, $2, $3, coalesce((SELECT path FROM "
         "identity.orgs WHERE id = $1::bigint), '/') || n.id || '/' FROM n RETURNING id) "
         "SELECT id::text FROM found UNION ALL SELECT id::text FROM ins",
         3},
    [IDENTITY_SEED_USER] =
        {"WITH ins AS (INSERT INTO identity.users (phone_enc, phone_idx, phone_masked, "
         "display_name, password_hash) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (phone_idx) DO "
         "NOTHING RETURNING id) SELECT id::text FROM ins UNION ALL "
         "SELECT id::text FROM identity.users WHERE phone_idx = $2 LIMIT 1",
         5},
    [IDENTITY_SEED_ROLE] = {"INSERT INTO identity.user_roles (user_id, role, org_id) VALUES "
                            "($1::bigint, $2, $3::bigint) ON CONFLICT DO NOTHING",
                            3},
    [IDENTITY_SEED_RESIDENCE] =
        {"INSERT INTO identity.residence_requests (user_id, building_id, community_id, unit, "
         "room, status, decided_by, decided_at) VALUES ($1::bigint, $2::bigint, "
         "identity.community_of($2::bigint), $3, $4, $5, $6::bigint, CASE WHEN $5 <> 'pending' "
         "THEN now() END)",
         6},
    [IDENTITY_SEED_PARTY] =
        {"INSERT INTO identity.party_requests (user_id, organization, workplace, community_id, "
         "status, decided_by, decided_at) VALUES ($1::bigint, $2, $3, $4::bigint, $5, "
         "$6::bigint, CASE WHEN $5 <> 'pending' THEN now() END)",
         6},
    [IDENTITY_SEED_VOLUNTEER] =
        {"INSERT INTO identity.volunteer_profiles (user_id, community_id, skills, status, "
         "decided_by, decided_at) VALUES ($1::bigint, $2::bigint, $3::text[], $4, $5::bigint, "
         "CASE WHEN $4 <> 'pending' AND $5 IS NOT NULL THEN now() END) "
         "ON CONFLICT (user_id, community_id) DO NOTHING",
         5},
    [IDENTITY_SEED_SETTING] =
        {"INSERT INTO identity.community_settings (org_id, volunteer_needs_approval) VALUES "
         "($1::bigint, $2::boolean) ON CONFLICT (org_id) DO UPDATE SET "
         "volunteer_needs_approval = excluded.volunteer_needs_approval, updated_at = now()",
         2},
};

int
identity_db_seed(PGconn *conn, enum identity_seed_stmt which, const char *const *params, char *out,
                 size_t cap)
{
	PGresult *res;
	ExecStatusType st;
	const char *state;
	int rc = 0;

	if (out != NULL && cap > 0)
		out[0] = '\0';
	res = PQexecParams(conn, seed_sql[which].sql, seed_sql[which].nparams, NULL, params, NULL,
	                   NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (yx_pg_retryable(state)) {
			rc = YX_PG_TX_RETRY;
		} else {
			fprintf(stderr, "seed-demo: %s", PQresultErrorMessage(res));
			rc = -1;
		}
	} else if (out != NULL && cap > 0 && st == PGRES_TUPLES_OK && PQntuples(res) > 0) {
		snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return rc;
}
