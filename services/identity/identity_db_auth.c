/*
 * identity_db_auth.c - the statements of login and tokens and the mapping
 * of their rows into the structs of identity_db_auth.h. The SQL functions
 * themselves live in sql/0002_sessions_and_codes.sql.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity_db_auth.h"

#define AUTH_RESULT_COLUMNS                                                                        \
	"outcome, coalesce(session_id, ''), coalesce(user_id, ''), coalesce(display_name, ''), "   \
	"coalesce(avatar_url, ''), coalesce(phone_enc, ''), coalesce(phone_masked, ''), "          \
	"coalesce(status, ''), coalesce(created_at, ''), coalesce(roles, ''), coalesce(org, ''), " \
	"coalesce(retry_after, 0)"

static const struct yx_db_stmt sms_code_issue = {
    "auth_sms_code_issue",
    "SELECT sms_code_issue($1, $2, $3::integer)",
    3,
};

static const struct yx_db_stmt login_with_code = {
    "auth_login_with_code",
    "SELECT " AUTH_RESULT_COLUMNS " FROM login_with_code($1, $2, $3::integer, $4, $5, $6, "
    "$7::integer, $8, $9::inet)",
    9,
};

static const struct yx_db_stmt password_check = {
    "auth_password_check",
    "SELECT retry_after, coalesce(user_id, ''), coalesce(password_hash, '') "
    "FROM password_login_check($1)",
    1,
};

static const struct yx_db_stmt password_finish = {
    "auth_password_finish",
    "SELECT " AUTH_RESULT_COLUMNS " FROM password_login_finish($1, $2::bigint, $3::boolean, "
    "$4::integer, $5::integer, $6::integer, $7::integer, $8, $9::integer, $10, $11::inet)",
    11,
};

static const struct yx_db_stmt refresh_rotate = {
    "auth_refresh_rotate",
    "SELECT " AUTH_RESULT_COLUMNS " FROM refresh_rotate($1, $2, $3::integer, $4, $5::inet)",
    5,
};

static const struct yx_db_stmt session_revoke = {
    "auth_session_revoke",
    "SELECT session_revoke($1::bigint, $2, $3)",
    3,
};

/*
 * The head row of each live family is the one neither rotated nor revoked.
 * The cursor compares (login_at, family_seq) exactly, in whole microseconds.
 */
static const struct yx_db_stmt sessions_list = {
    "auth_sessions_list",
    "SELECT family_id, (extract(epoch FROM login_at) * 1000000)::bigint, family_seq, "
    "to_char(login_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "login_method, user_agent, coalesce(host(client_ip), '') "
    "FROM sessions WHERE user_id = $1::bigint AND rotated_at IS NULL AND revoked_at IS NULL "
    "AND expires_at > now() AND ($2::bigint IS NULL OR (login_at, family_seq) < "
    "(timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::bigint)) "
    "ORDER BY login_at DESC, family_seq DESC LIMIT $4::integer",
    4,
};

static const struct yx_db_stmt *const statements[] = {
    &sms_code_issue, &login_with_code, &password_check, &password_finish,
    &refresh_rotate, &session_revoke,  &sessions_list,
};

int
identity_db_auth_register(void)
{
	return yx_db_register(statements, sizeof(statements) / sizeof(statements[0]));
}

static void
copy_col(PGresult *res, int row, int col, char *dst, size_t cap)
{
	snprintf(dst, cap, "%s", PQgetvalue(res, row, col));
}

static int64_t
int_col(PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Reads an auth_result row; a missing row reads as internal_error. */
static void
auth_result_row(PGresult *res, struct identity_auth_result *out)
{
	memset(out, 0, sizeof(*out));
	if (res == NULL || PQntuples(res) != 1 || PQnfields(res) != 12) {
		snprintf(out->outcome, sizeof(out->outcome), "internal_error");
		return;
	}
	copy_col(res, 0, 0, out->outcome, sizeof(out->outcome));
	copy_col(res, 0, 1, out->session_id, sizeof(out->session_id));
	copy_col(res, 0, 2, out->user.id, sizeof(out->user.id));
	copy_col(res, 0, 3, out->user.display_name, sizeof(out->user.display_name));
	copy_col(res, 0, 4, out->user.avatar_url, sizeof(out->user.avatar_url));
	copy_col(res, 0, 5, out->user.phone_enc, sizeof(out->user.phone_enc));
	copy_col(res, 0, 6, out->user.phone_masked, sizeof(out->user.phone_masked));
	copy_col(res, 0, 7, out->user.status, sizeof(out->user.status));
	copy_col(res, 0, 8, out->user.created_at, sizeof(out->user.created_at));
	copy_col(res, 0, 9, out->roles, sizeof(out->roles));
	copy_col(res, 0, 10, out->org, sizeof(out->org));
	out->retry_after = int_col(res, 0, 11);
	/* A cut value would be a wrong one: treat it as a broken row. */
	if (strlen(PQgetvalue(res, 0, 9)) >= sizeof(out->roles) ||
	    strlen(PQgetvalue(res, 0, 5)) >= sizeof(out->user.phone_enc))
		snprintf(out->outcome, sizeof(out->outcome), "internal_error");
}

/* NULL for an empty address, so the ::inet cast sees SQL NULL. */
static const char *
ip_param(const struct identity_client *c)
{
	return c->ip[0] != '\0' ? c->ip : NULL;
}

enum yx_db_rc
identity_db_sms_code_issue(struct http_request *req, const char *phone_idx, const char *code_hmac,
                           int64_t ttl_seconds)
{
	char ttl[24];
	const char *params[3];
	PGresult *res;

	snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_seconds);
	params[0] = phone_idx;
	params[1] = code_hmac;
	params[2] = ttl;
	return yx_db_exec(req, &sms_code_issue, params, &res);
}

enum yx_db_rc
identity_db_login_with_code(struct http_request *req, const struct identity_code_login *a,
                            struct identity_auth_result *out)
{
	char attempts[24], ttl[24];
	const char *params[9];
	enum yx_db_rc rc;
	PGresult *res;

	snprintf(attempts, sizeof(attempts), "%" PRId64, a->max_attempts);
	snprintf(ttl, sizeof(ttl), "%" PRId64, a->refresh_ttl);
	params[0] = a->phone_idx;
	params[1] = a->code_hmac;
	params[2] = attempts;
	params[3] = a->phone_enc;
	params[4] = a->phone_masked;
	params[5] = a->refresh_hash;
	params[6] = ttl;
	params[7] = a->client->user_agent;
	params[8] = ip_param(a->client);
	if ((rc = yx_db_exec(req, &login_with_code, params, &res)) == YX_DB_OK)
		auth_result_row(res, out);
	return rc;
}

enum yx_db_rc
identity_db_password_check(struct http_request *req, const char *phone_idx,
                           struct identity_password_account *out)
{
	const char *params[1] = {phone_idx};
	enum yx_db_rc rc;
	PGresult *res;

	if ((rc = yx_db_exec(req, &password_check, params, &res)) != YX_DB_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	if (res == NULL || PQntuples(res) != 1 || PQnfields(res) != 3)
		return rc;
	out->retry_after = int_col(res, 0, 0);
	copy_col(res, 0, 1, out->user_id, sizeof(out->user_id));
	if (strlen(PQgetvalue(res, 0, 2)) < sizeof(out->password_hash))
		copy_col(res, 0, 2, out->password_hash, sizeof(out->password_hash));
	return rc;
}

enum yx_db_rc
identity_db_password_finish(struct http_request *req, const struct identity_password_login *a,
                            struct identity_auth_result *out)
{
	char free_failures[24], base[24], max[24], window[24], ttl[24];
	const char *params[11];
	enum yx_db_rc rc;
	PGresult *res;

	snprintf(free_failures, sizeof(free_failures), "%" PRId64, a->backoff->free_failures);
	snprintf(base, sizeof(base), "%" PRId64, a->backoff->base_seconds);
	snprintf(max, sizeof(max), "%" PRId64, a->backoff->max_seconds);
	snprintf(window, sizeof(window), "%" PRId64, a->backoff->window_seconds);
	snprintf(ttl, sizeof(ttl), "%" PRId64, a->refresh_ttl);
	params[0] = a->phone_idx;
	params[1] = a->user_id[0] != '\0' ? a->user_id : NULL;
	params[2] = a->ok ? "true" : "false";
	params[3] = free_failures;
	params[4] = base;
	params[5] = max;
	params[6] = window;
	params[7] = a->refresh_hash;
	params[8] = ttl;
	params[9] = a->client->user_agent;
	params[10] = ip_param(a->client);
	if ((rc = yx_db_exec(req, &password_finish, params, &res)) == YX_DB_OK)
		auth_result_row(res, out);
	return rc;
}

enum yx_db_rc
identity_db_refresh_rotate(struct http_request *req, const char *old_hash, const char *new_hash,
                           int64_t refresh_ttl, const struct identity_client *client,
                           struct identity_auth_result *out)
{
	char ttl[24];
	const char *params[5];
	enum yx_db_rc rc;
	PGresult *res;

	snprintf(ttl, sizeof(ttl), "%" PRId64, refresh_ttl);
	params[0] = old_hash;
	params[1] = new_hash;
	params[2] = ttl;
	params[3] = client->user_agent;
	params[4] = ip_param(client);
	if ((rc = yx_db_exec(req, &refresh_rotate, params, &res)) == YX_DB_OK)
		auth_result_row(res, out);
	return rc;
}

enum yx_db_rc
identity_db_session_revoke(struct http_request *req, const char *user_id, const char *session_id,
                           const char *reason)
{
	const char *params[3] = {user_id, session_id, reason};
	PGresult *res;

	return yx_db_exec(req, &session_revoke, params, &res);
}

enum yx_db_rc
identity_db_sessions_list(struct http_request *req, const char *user_id, bool has_after,
                          int64_t after_us, int64_t after_seq, int limit,
                          struct identity_session *items, size_t *n)
{
	char us[24], seq[24], lim[16];
	const char *params[4];
	enum yx_db_rc rc;
	PGresult *res;
	int i, rows;

	snprintf(us, sizeof(us), "%" PRId64, after_us);
	snprintf(seq, sizeof(seq), "%" PRId64, after_seq);
	snprintf(lim, sizeof(lim), "%d", limit);
	params[0] = user_id;
	params[1] = has_after ? us : NULL;
	params[2] = has_after ? seq : NULL;
	params[3] = lim;
	*n = 0;
	if ((rc = yx_db_exec(req, &sessions_list, params, &res)) != YX_DB_OK)
		return rc;
	if (res == NULL || PQnfields(res) != 9)
		return rc;
	rows = PQntuples(res);
	for (i = 0; i < rows && i < limit; i++) {
		struct identity_session *s = &items[i];

		memset(s, 0, sizeof(*s));
		copy_col(res, i, 0, s->id, sizeof(s->id));
		s->login_us = int_col(res, i, 1);
		s->family_seq = int_col(res, i, 2);
		copy_col(res, i, 3, s->login_at, sizeof(s->login_at));
		copy_col(res, i, 4, s->last_used_at, sizeof(s->last_used_at));
		copy_col(res, i, 5, s->expires_at, sizeof(s->expires_at));
		copy_col(res, i, 6, s->login_method, sizeof(s->login_method));
		copy_col(res, i, 7, s->user_agent, sizeof(s->user_agent));
		copy_col(res, i, 8, s->client_ip, sizeof(s->client_ip));
	}
	*n = (size_t)i;
	return rc;
}

int
identity_db_bootstrap_admin(PGconn *conn, const char *phone_idx, const char *phone_enc,
                            const char *phone_masked, const char *password_hash,
                            const char *district, char *out, size_t cap)
{
	const char *params[5] = {phone_idx, phone_enc, phone_masked, password_hash, district};
	PGresult *res;
	int rc = -1;

	res = PQexecParams(conn, "SELECT bootstrap_admin($1, $2, $3, $4, $5)::text", 5, NULL,
	                   params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    PQgetlength(res, 0, 0) > 0 && (size_t)PQgetlength(res, 0, 0) < cap) {
		snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	} else {
		fprintf(stderr, "bootstrap-admin: %s", PQresultErrorMessage(res));
	}
	PQclear(res);
	return rc;
}
