/*
 * identity_db_auth.h - the SQL of login and tokens (migration 0002): SMS
 * codes, sessions and refresh rotation, the password back-off. Every call
 * is one statement, most of them one SQL function, run on the request's
 * connection through yx_db_exec; results come back as the plain structs
 * below, and no PGresult leaves identity_db_auth.c.
 *
 * Each call follows yx_db_exec: YX_DB_PENDING (return KORE_RESULT_RETRY and
 * call again with the same arguments), YX_DB_FAILED (answer with
 * yx_db_reply_error), or YX_DB_OK with *out filled. A request that runs a
 * second statement calls yx_db_next() in between.
 */
#ifndef IDENTITY_DB_AUTH_H
#define IDENTITY_DB_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "identity_db.h"
#include "yx_db.h"

/* Where a session came from, as the sessions table keeps it. */
struct identity_client {
	char user_agent[257]; /* printable ASCII, cut at 256 */
	char ip[64];          /* textual address, or empty for none */
};

/*
 * What a login or refresh function answers. outcome is "ok" or the error
 * code to reply with (an entry of the error table); session_id names the
 * session family when there is one (also with refresh_reused, so the
 * revocation can be published); user, roles ("role@org,...") and org (the
 * primary community) are set with "ok"; retry_after with login_locked.
 * A row that cannot be read gives outcome "internal_error".
 */
struct identity_auth_result {
	char outcome[48];
	char session_id[64];
	struct identity_user user;
	char roles[1024];
	char org[24];
	int64_t retry_after;
};

/* Registers the statements below; call from the configure hook. */
int identity_db_auth_register(void);

/* sms_code_issue(): the code (as its HMAC) now valid for the phone. */
enum yx_db_rc identity_db_sms_code_issue(struct http_request *req, const char *phone_idx,
                                         const char *code_hmac, int64_t ttl_seconds);

/* Arguments of login_with_code(); all strings NUL-terminated. */
struct identity_code_login {
	const char *phone_idx;
	const char *code_hmac;
	int64_t max_attempts;
	const char *phone_enc; /* stored if the phone gets a new account */
	const char *phone_masked;
	const char *refresh_hash; /* SHA-256 hex of the new refresh token */
	int64_t refresh_ttl;      /* seconds */
	const struct identity_client *client;
};

enum yx_db_rc identity_db_login_with_code(struct http_request *req,
                                          const struct identity_code_login *a,
                                          struct identity_auth_result *out);

/*
 * password_login_check(): *retry_after > 0 while the phone is locked;
 * user_id and hash are empty when the phone has no active account with a
 * password.
 */
struct identity_password_account {
	int64_t retry_after;
	char user_id[24];
	char password_hash[256];
};

enum yx_db_rc identity_db_password_check(struct http_request *req, const char *phone_idx,
                                         struct identity_password_account *out);

/* Back-off settings passed to password_login_finish(). */
struct identity_backoff {
	int64_t free_failures;
	int64_t base_seconds;
	int64_t max_seconds;
	int64_t window_seconds;
};

/* Arguments of password_login_finish(). user_id empty: no such account. */
struct identity_password_login {
	const char *phone_idx;
	const char *user_id;
	bool ok;
	const struct identity_backoff *backoff;
	const char *refresh_hash;
	int64_t refresh_ttl;
	const struct identity_client *client;
};

enum yx_db_rc identity_db_password_finish(struct http_request *req,
                                          const struct identity_password_login *a,
                                          struct identity_auth_result *out);

/* refresh_rotate(): the presented token's hash for the next one. */
enum yx_db_rc identity_db_refresh_rotate(struct http_request *req, const char *old_hash,
                                         const char *new_hash, int64_t refresh_ttl,
                                         const struct identity_client *client,
                                         struct identity_auth_result *out);

/*
 * session_revoke(): revoke session family `session_id` of `user_id` for
 * `reason` ("logout" or "deleted"). Fails with not_found (through
 * yx_db_reply_error) when the user has no such session.
 */
enum yx_db_rc identity_db_session_revoke(struct http_request *req, const char *user_id,
                                         const char *session_id, const char *reason);

#define IDENTITY_SESSIONS_PAGE_MAX 100

/* One live session of the caller, as the session list shows it. */
struct identity_session {
	char id[64];
	int64_t login_us;      /* cursor key: login time in microseconds */
	int64_t family_seq;    /* cursor tie-break */
	char login_at[40];     /* RFC 3339 UTC */
	char last_used_at[40]; /* when its current refresh token was issued */
	char expires_at[40];
	char login_method[16];
	char user_agent[257];
	char client_ip[64]; /* empty when unknown */
};

/*
 * The caller's live sessions, newest login first, after the position
 * (after_us, after_seq) when has_after, at most `limit` (1 to
 * IDENTITY_SESSIONS_PAGE_MAX) rows into items[]; *n gets the count.
 */
enum yx_db_rc identity_db_sessions_list(struct http_request *req, const char *user_id,
                                        bool has_after, int64_t after_us, int64_t after_seq,
                                        int limit, struct identity_session *items, size_t *n);

/*
 * bootstrap_admin() on conn, blocking (for the `bootstrap-admin` command,
 * never a worker): creates or updates the district administrator of the
 * phone with blind index phone_idx and puts the user id into out (cap
 * bytes). 0, or -1 with PostgreSQL's message on stderr.
 */
int identity_db_bootstrap_admin(PGconn *conn, const char *phone_idx, const char *phone_enc,
                                const char *phone_masked, const char *password_hash,
                                const char *district, char *out, size_t cap);

#endif
