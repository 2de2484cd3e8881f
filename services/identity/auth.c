/*
 * auth.c - the handlers of login and tokens (see auth.h). Each is decode,
 * check, one SQL function, map its outcome; a password login has two SQL
 * steps around the password check, which runs on a task thread.
 *
 * Handlers run again after every wait (database, task), so what a request
 * computes once - its random refresh token, the encrypted phone - lives in
 * its state (struct auth_state, freed with the request) and each call
 * resumes at st->step.
 */
#include <arpa/inet.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "identity.h"
#include "passwords.h"
#include "sms.h"
#include "users.h"
#include "yx_config.h"
#include "yx_encode.h"
#include "yx_fieldcrypt.h"
#include "yx_http.h"
#include "yx_jwt.h"
#include "yx_log.h"
#include "yx_redis.h"
#include "yx_service.h"

#define REFRESH_TOKEN_BYTES 32
#define REFRESH_TOKEN_LEN   43 /* base64url of 32 bytes */
#define PHONE_INPUT_MAX     20

struct identity_auth_conf identity_auth;

enum auth_step {
	STEP_START,
	STEP_SMS_STORE,   /* sms_code_issue() */
	STEP_SMS_DELIVER, /* the http driver's job */
	STEP_CODE_LOGIN,  /* login_with_code() */
	STEP_PW_CHECK,    /* password_login_check() */
	STEP_PW_VERIFY,   /* argon2id on a task thread */
	STEP_PW_FINISH,   /* password_login_finish() */
	STEP_REFRESH,     /* refresh_rotate() */
	STEP_LOGOUT,      /* session_revoke() */
};

/* Per-request state of these handlers; owned by the request (yx_req svc). */
struct auth_state {
	enum auth_step step;
	char phone[12];
	char phone_idx[YX_BLIND_INDEX_HEX_LEN + 1];
	char phone_masked[12];
	char *phone_enc;
	char code[IDENTITY_SMS_CODE_LEN + 1];
	char code_hmac[65];
	char refresh_token[REFRESH_TOKEN_LEN + 1];
	char refresh_hash[65];
	char old_hash[65];
	char *password;
	size_t password_len;
	bool matched;
	struct identity_client client;
	struct identity_password_account account;
	struct identity_job *job;
	struct identity_auth_result result;
};

static void
state_free(void *p)
{
	struct auth_state *st = p;

	identity_job_release(st->job);
	if (st->password != NULL) {
		OPENSSL_cleanse(st->password, st->password_len);
		free(st->password);
	}
	free(st->phone_enc);
	OPENSSL_cleanse(st, sizeof(*st));
	free(st);
}

static struct auth_state *
state_new(struct http_request *req)
{
	struct yx_req *r = yx_req(req);
	struct auth_state *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		fatal("out of memory");
	r->svc = st;
	r->svc_free = state_free;
	return st;
}

static int
conf_int(const char *name, long long def, long long min, long long max, int64_t *out)
{
	long long v;

	if (yx_config_int(name, def, min, max, &v) == -1)
		return -1;
	*out = v;
	return 0;
}

int
identity_auth_configure(void)
{
	int64_t days;

	/* DESIGN.md: access tokens live at most 15 minutes. */
	if (conf_int("YX_ACCESS_TTL_SECONDS", 900, 30, 900, &identity_auth.access_ttl) == -1 ||
	    conf_int("YX_REFRESH_TTL_DAYS", 30, 1, 365, &days) == -1 ||
	    conf_int("YX_LOGIN_MAX_FAILURES", 5, 1, 1000, &identity_auth.backoff.free_failures) ==
	        -1 ||
	    conf_int("YX_LOGIN_BACKOFF_SECONDS", 30, 1, 86400,
	             &identity_auth.backoff.base_seconds) == -1 ||
	    conf_int("YX_LOGIN_BACKOFF_MAX_SECONDS", 3600, 1, 30 * 86400,
	             &identity_auth.backoff.max_seconds) == -1 ||
	    conf_int("YX_LOGIN_FAILURE_WINDOW_SECONDS", 86400, 60, 30 * 86400,
	             &identity_auth.backoff.window_seconds) == -1)
		return -1;
	identity_auth.refresh_ttl = days * 86400;
	snprintf(identity_auth.issuer, sizeof(identity_auth.issuer), "%s",
	         yx_config_str("YX_JWT_ISSUER", "yuexiang-identity"));
	snprintf(identity_auth.audience, sizeof(identity_auth.audience), "%s",
	         yx_config_str("YX_JWT_AUDIENCE", "yuexiang-app"));
	return 0;
}

/* --- helpers ------------------------------------------------------------------ */

/* Only requests that came through the gateway (signed, perhaps anonymous). */
static bool
signed_or_reply(struct http_request *req)
{
	if (yx_req(req)->identity_ok)
		return true;
	yx_reply_problem(req, "unauthorized", NULL);
	return false;
}

static int
reply_retry_after(struct http_request *req, const char *code, int64_t seconds)
{
	char v[24];

	snprintf(v, sizeof(v), "%" PRId64, seconds > 0 ? seconds : 1);
	http_response_header(req, "retry-after", v);
	return yx_reply_problem(req, code, NULL);
}

static int
reply_field(struct http_request *req, const char *field, const char *reason)
{
	struct yx_field_error fe = {field, reason};

	return yx_reply_problem_fields(req, "validation_failed", NULL, &fe, 1);
}

/* The last address of X-Forwarded-For (the one our gateway wrote), if valid. */
static bool
forwarded_ip(struct http_request *req, char *out, size_t cap)
{
	const char *xff, *last;
	char tok[64];
	unsigned char addr[sizeof(struct in6_addr)];
	size_t n;

	if (!http_request_header(req, "x-forwarded-for", &xff))
		return false;
	last = strrchr(xff, ',');
	last = last != NULL ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	n = strcspn(last, " \t");
	if (n == 0 || n >= sizeof(tok))
		return false;
	memcpy(tok, last, n);
	tok[n] = '\0';
	if (inet_pton(AF_INET, tok, addr) == 1)
		return inet_ntop(AF_INET, addr, out, (socklen_t)cap) != NULL;
	if (inet_pton(AF_INET6, tok, addr) == 1)
		return inet_ntop(AF_INET6, addr, out, (socklen_t)cap) != NULL;
	return false;
}

void
identity_client_of(struct http_request *req, struct identity_client *c)
{
	const char *ua;
	size_t i, n = 0;

	memset(c, 0, sizeof(*c));
	if (http_request_header(req, "user-agent", &ua)) {
		for (i = 0; ua[i] != '\0' && n < sizeof(c->user_agent) - 1; i++)
			c->user_agent[n++] = (ua[i] >= 0x20 && ua[i] < 0x7f) ? ua[i] : '?';
	}
	/* The gateway's word is trusted only on a request it signed. */
	if (!yx_req(req)->identity_ok || !forwarded_ip(req, c->ip, sizeof(c->ip)))
		(void)yx_client_ip(req, c->ip, sizeof(c->ip));
	if (strcmp(c->ip, "unix") == 0)
		c->ip[0] = '\0';
}

int
identity_publish_revoked(const char *session_id)
{
	char key[128], ttl[24];
	const char *argv[5];
	redisReply *rep;
	int rc = -1;

	if (yx_app.redis == NULL)
		return -1;
	/* pub:* is shared with the gateway, outside identity's own prefix. */
	snprintf(key, sizeof(key), "pub:session:revoked:%s", session_id);
	snprintf(ttl, sizeof(ttl), "%" PRId64, identity_auth.access_ttl);
	argv[0] = "SET";
	argv[1] = key;
	argv[2] = "1";
	argv[3] = "EX";
	argv[4] = ttl;
	rep = yx_redis_commandargv(yx_app.redis, 5, argv, NULL);
	if (rep != NULL && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0)
		rc = 0;
	if (rep != NULL)
		freeReplyObject(rep);
	if (rc == -1)
		yx_log(YX_LOG_ERROR, NULL, "revocation_unpublished", "session %s: %s", session_id,
		       yx_redis_last_error(yx_app.redis));
	return rc;
}

/*
 * Reads "phone" from the body into st: normalised, blind index, mask.
 * false after replying 422.
 */
static bool
phone_or_reply(struct http_request *req, const struct yx_json *root, struct auth_state *st)
{
	const char *s;
	size_t n;

	if (!yx_json_string(yx_json_get(root, "phone"), &s, &n)) {
		reply_field(req, "phone", "required");
		return false;
	}
	if (n > PHONE_INPUT_MAX || !yx_phone_normalize(s, st->phone)) {
		reply_field(req, "phone", "invalid");
		return false;
	}
	if (yx_blind_index(identity_app.index_key, "phone", st->phone, st->phone_idx) == -1 ||
	    yx_phone_mask(st->phone, st->phone_masked) == -1) {
		yx_reply_problem(req, "internal_error", NULL);
		return false;
	}
	return true;
}

/* SHA-256 of text as lowercase hex. */
static int
sha256_hex(const char *text, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (EVP_Digest(text, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -1;
	return yx_hex_encode(md, len, out, 65);
}

/* A fresh refresh token in st and the hash the database keeps of it. */
static int
refresh_token_new(struct auth_state *st)
{
	unsigned char raw[REFRESH_TOKEN_BYTES];
	int rc;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	rc = yx_b64url_encode(raw, sizeof(raw), st->refresh_token, sizeof(st->refresh_token));
	OPENSSL_cleanse(raw, sizeof(raw));
	if (rc == -1)
		return -1;
	return sha256_hex(st->refresh_token, REFRESH_TOKEN_LEN, st->refresh_hash);
}

/* The signed access token of a successful login or refresh; NULL on failure. */
static char *
access_token(const struct identity_auth_result *res)
{
	struct yx_jwt_claims c;
	unsigned char jti[16];
	char *token = NULL;

	memset(&c, 0, sizeof(c));
	if (RAND_bytes(jti, sizeof(jti)) != 1 ||
	    yx_b64url_encode(jti, sizeof(jti), c.jti, sizeof(c.jti)) == -1)
		return NULL;
	snprintf(c.sub, sizeof(c.sub), "%s", res->user.id);
	snprintf(c.sid, sizeof(c.sid), "%s", res->session_id);
	snprintf(c.org, sizeof(c.org), "%s", res->org);
	snprintf(c.roles, sizeof(c.roles), "%s", res->roles);
	snprintf(c.iss, sizeof(c.iss), "%s", identity_auth.issuer);
	snprintf(c.aud, sizeof(c.aud), "%s", identity_auth.audience);
	snprintf(c.typ, sizeof(c.typ), "access");
	c.iat = yx_now();
	c.exp = c.iat + identity_auth.access_ttl;
	if (yx_jwt_sign(&identity_app.jwt, identity_app.jwt_kid, &c, &token) == -1)
		return NULL;
	return token;
}

/* 200 with the token pair and the user, as login and refresh answer. */
static int
reply_tokens(struct http_request *req, struct auth_state *st)
{
	const struct identity_auth_result *res = &st->result;
	struct yx_jw w;
	char *token;
	int rc;

	if ((token = access_token(res)) == NULL) {
		yx_log(YX_LOG_ERROR, yx_req(req)->request_id, "token",
		       "cannot sign an access token");
		return yx_reply_problem(req, "internal_error", NULL);
	}
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "access_token", token);
	yx_jw_kv_str(&w, "refresh_token", st->refresh_token);
	yx_jw_kv_str(&w, "token_type", "Bearer");
	yx_jw_kv_int(&w, "expires_in", identity_auth.access_ttl);
	yx_jw_kv_int(&w, "refresh_expires_in", identity_auth.refresh_ttl);
	yx_jw_kv_str(&w, "session_id", res->session_id);
	yx_jw_key(&w, "user");
	identity_user_json(&w, &res->user, res->roles, true);
	yx_jw_obj_close(&w);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	rc = yx_reply_jw(req, 200, &w);
	return rc;
}

/* Maps the outcome of a login or refresh function to the reply. */
static int
reply_auth_result(struct http_request *req, struct auth_state *st, const char *event)
{
	const struct identity_auth_result *res = &st->result;
	const char *rid = yx_req(req)->request_id;

	if (strcmp(res->outcome, "ok") == 0) {
		yx_log(YX_LOG_INFO, rid, event, "user %s session %s", res->user.id,
		       res->session_id);
		return reply_tokens(req, st);
	}
	if (strcmp(res->outcome, "login_locked") == 0)
		return reply_retry_after(req, res->outcome, res->retry_after);
	if ((strcmp(res->outcome, "refresh_reused") == 0 ||
	     strcmp(res->outcome, "account_disabled") == 0) &&
	    res->session_id[0] != '\0') {
		yx_log(YX_LOG_WARN, rid, "session_family_revoked", "session %s: %s",
		       res->session_id, res->outcome);
		(void)identity_publish_revoked(res->session_id);
	}
	if (strcmp(res->outcome, "internal_error") == 0)
		yx_log(YX_LOG_ERROR, rid, event, "unexpected result row");
	return yx_reply_problem(req, res->outcome, NULL);
}

/* --- POST /api/v1/auth/sms-code --------------------------------------------- */

static int
sms_code_start(struct http_request *req)
{
	const struct yx_json *root;
	struct auth_state *st;
	int64_t retry = 0;

	if (req->method != HTTP_METHOD_POST)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!signed_or_reply(req) || (root = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	st = state_new(req);
	if (!phone_or_reply(req, root, st))
		return KORE_RESULT_OK;
	identity_client_of(req, &st->client);

	switch (identity_sms_limit(yx_req(req)->request_id, st->phone_idx, st->client.ip, &retry)) {
	case IDENTITY_SMS_ALLOWED:
		break;
	case IDENTITY_SMS_LIMITED:
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "sms_rate_limited", "phone %s",
		       st->phone_masked);
		return reply_retry_after(req, "sms_rate_limited", retry);
	case IDENTITY_SMS_UNAVAILABLE:
		/* Fail closed: without the counters no code is sent at all. */
		return reply_retry_after(req, "service_unavailable", 1);
	}
	if (identity_sms_code_new(st->code) == -1 ||
	    identity_sms_code_hmac(st->phone_idx, st->code, st->code_hmac) == -1)
		return yx_reply_problem(req, "internal_error", NULL);
	st->step = STEP_SMS_STORE;
	return KORE_RESULT_RETRY;
}

static int
sms_code_accepted(struct http_request *req, struct auth_state *st)
{
	struct yx_jw w;

	yx_log(YX_LOG_INFO, yx_req(req)->request_id, "sms_code_sent", "phone %s", st->phone_masked);
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_int(&w, "expires_in", identity_sms.code_ttl);
	yx_jw_obj_close(&w);
	return yx_reply_jw(req, 202, &w);
}

static int
sms_code_failed(struct http_request *req, struct auth_state *st, int why)
{
	yx_log(YX_LOG_ERROR, yx_req(req)->request_id, "sms_delivery_failed", "phone %s: %d",
	       st->phone_masked, why);
	return yx_reply_problem(req, "sms_delivery_failed", NULL);
}

int
identity_auth_sms_code(struct http_request *req)
{
	struct auth_state *st = yx_req(req)->svc;
	int result;

	if (st == NULL) {
		if (sms_code_start(req) != KORE_RESULT_RETRY)
			return KORE_RESULT_OK;
		st = yx_req(req)->svc;
	}
	switch (st->step) {
	case STEP_SMS_STORE:
		switch (identity_db_sms_code_issue(req, st->phone_idx, st->code_hmac,
		                                   identity_sms.code_ttl)) {
		case YX_DB_PENDING:
			return KORE_RESULT_RETRY;
		case YX_DB_FAILED:
			return yx_db_reply_error(req);
		case YX_DB_OK:
			break;
		}
		switch (identity_sms_send(req, st->phone, st->code, &st->job)) {
		case IDENTITY_SMS_SENT:
			return sms_code_accepted(req, st);
		case IDENTITY_SMS_FAILED:
			return sms_code_failed(req, st, 0);
		case IDENTITY_SMS_BUSY:
			return reply_retry_after(req, "service_unavailable", 1);
		case IDENTITY_SMS_STARTED:
			st->step = STEP_SMS_DELIVER;
			return KORE_RESULT_RETRY;
		}
		break;
	case STEP_SMS_DELIVER:
		if (!identity_job_done(st->job, &result)) {
			http_request_sleep(req);
			return KORE_RESULT_RETRY;
		}
		if (!identity_sms_delivered(result))
			return sms_code_failed(req, st, result);
		return sms_code_accepted(req, st);
	default:
		break;
	}
	return yx_reply_problem(req, "internal_error", NULL);
}

/* --- POST /api/v1/auth/login ----------------------------------------------------- */

/* Exactly one of "code" (6 digits) and "password"; false after replying 422. */
static bool
credential_or_reply(struct http_request *req, const struct yx_json *root, struct auth_state *st)
{
	const struct yx_json *code = yx_json_get(root, "code");
	const struct yx_json *pw = yx_json_get(root, "password");
	const char *s;
	size_t n, i;

	if ((code == NULL) == (pw == NULL)) {
		struct yx_field_error fe[2] = {{"code", code ? "exclusive" : "one_required"},
		                               {"password", pw ? "exclusive" : "one_required"}};
		yx_reply_problem_fields(req, "validation_failed", "须提供 code 或 password 之一",
		                        fe, 2);
		return false;
	}
	if (code != NULL) {
		if (!yx_json_string(code, &s, &n) || n != IDENTITY_SMS_CODE_LEN) {
			reply_field(req, "code", "invalid");
			return false;
		}
		for (i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9') {
				reply_field(req, "code", "invalid");
				return false;
			}
		}
		memcpy(st->code, s, n + 1);
		return true;
	}
	if (!yx_json_string(pw, &s, &n) || n == 0 || n > IDENTITY_PASSWORD_MAX) {
		reply_field(req, "password", "invalid");
		return false;
	}
	if ((st->password = malloc(n + 1)) == NULL)
		fatal("out of memory");
	memcpy(st->password, s, n + 1);
	st->password_len = n;
	return true;
}

static int
login_start(struct http_request *req)
{
	const unsigned char *phone;
	const struct yx_json *root;
	struct auth_state *st;

	if (req->method != HTTP_METHOD_POST)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!signed_or_reply(req) || (root = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	st = state_new(req);
	if (!phone_or_reply(req, root, st) || !credential_or_reply(req, root, st))
		return KORE_RESULT_OK;
	identity_client_of(req, &st->client);
	if (refresh_token_new(st) == -1)
		return yx_reply_problem(req, "internal_error", NULL);

	if (st->password != NULL) {
		st->step = STEP_PW_CHECK;
		return KORE_RESULT_RETRY;
	}
	/* Encrypted now, stored only if this code login creates the account. */
	phone = (const unsigned char *)st->phone;
	if (identity_sms_code_hmac(st->phone_idx, st->code, st->code_hmac) == -1 ||
	    yx_field_encrypt(identity_app.field_key, 0, IDENTITY_PHONE_AAD, phone,
	                     strlen(st->phone), &st->phone_enc) == -1)
		return yx_reply_problem(req, "internal_error", NULL);
	st->step = STEP_CODE_LOGIN;
	return KORE_RESULT_RETRY;
}

static int
login_with_code(struct http_request *req, struct auth_state *st)
{
	struct identity_code_login a = {
	    .phone_idx = st->phone_idx,
	    .code_hmac = st->code_hmac,
	    .max_attempts = identity_sms.max_attempts,
	    .phone_enc = st->phone_enc,
	    .phone_masked = st->phone_masked,
	    .refresh_hash = st->refresh_hash,
	    .refresh_ttl = identity_auth.refresh_ttl,
	    .client = &st->client,
	};

	switch (identity_db_login_with_code(req, &a, &st->result)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (strcmp(st->result.outcome, "ok") != 0)
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "login_refused", "phone %s: %s",
		       st->phone_masked, st->result.outcome);
	return reply_auth_result(req, st, "login_code");
}

static int
password_check(struct http_request *req, struct auth_state *st)
{
	switch (identity_db_password_check(req, st->phone_idx, &st->account)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (st->account.retry_after > 0) {
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "login_locked", "phone %s",
		       st->phone_masked);
		return reply_retry_after(req, "login_locked", st->account.retry_after);
	}
	st->job = identity_password_verify_start(req, st->account.password_hash, st->password,
	                                         st->password_len);
	if (st->job == NULL)
		return reply_retry_after(req, "service_unavailable", 1);
	st->step = STEP_PW_VERIFY;
	return KORE_RESULT_RETRY;
}

static int
password_verified(struct http_request *req, struct auth_state *st)
{
	int result;

	if (!identity_job_done(st->job, &result)) {
		http_request_sleep(req);
		return KORE_RESULT_RETRY;
	}
	st->matched = identity_password_matched(result) && st->account.user_id[0] != '\0';
	identity_job_release(st->job);
	st->job = NULL;
	OPENSSL_cleanse(st->password, st->password_len);
	yx_db_next(req);
	st->step = STEP_PW_FINISH;
	return KORE_RESULT_RETRY;
}

static int
password_finish(struct http_request *req, struct auth_state *st)
{
	struct identity_password_login a = {
	    .phone_idx = st->phone_idx,
	    .user_id = st->account.user_id,
	    .ok = st->matched,
	    .backoff = &identity_auth.backoff,
	    .refresh_hash = st->refresh_hash,
	    .refresh_ttl = identity_auth.refresh_ttl,
	    .client = &st->client,
	};

	switch (identity_db_password_finish(req, &a, &st->result)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	if (strcmp(st->result.outcome, "ok") != 0)
		yx_log(YX_LOG_INFO, yx_req(req)->request_id, "login_refused", "phone %s: %s",
		       st->phone_masked, st->result.outcome);
	return reply_auth_result(req, st, "login_password");
}

int
identity_auth_login(struct http_request *req)
{
	struct auth_state *st = yx_req(req)->svc;
	int rc;

	if (st == NULL) {
		if (login_start(req) != KORE_RESULT_RETRY)
			return KORE_RESULT_OK;
		st = yx_req(req)->svc;
	}
	/* Steps that finish at once go straight on to the next. */
	for (;;) {
		switch (st->step) {
		case STEP_CODE_LOGIN:
			return login_with_code(req, st);
		case STEP_PW_CHECK:
			rc = password_check(req, st);
			break;
		case STEP_PW_VERIFY:
			rc = password_verified(req, st);
			if (rc == KORE_RESULT_RETRY && st->step == STEP_PW_FINISH)
				continue;
			return rc;
		case STEP_PW_FINISH:
			return password_finish(req, st);
		default:
			return yx_reply_problem(req, "internal_error", NULL);
		}
		return rc;
	}
}

/* --- POST /api/v1/auth/refresh ------------------------------------------------ */

static int
refresh_start(struct http_request *req)
{
	unsigned char raw[REFRESH_TOKEN_BYTES];
	const struct yx_json *root;
	struct auth_state *st;
	const char *s;
	size_t n, got;

	if (req->method != HTTP_METHOD_POST)
		return yx_reply_problem(req, "method_not_allowed", NULL);
	if (!signed_or_reply(req) || (root = yx_body_object_or_reply(req)) == NULL)
		return KORE_RESULT_OK;
	if (!yx_json_string(yx_json_get(root, "refresh_token"), &s, &n))
		return reply_field(req, "refresh_token", "required");
	/* Anything but one of our tokens is refused without a look-up. */
	if (n != REFRESH_TOKEN_LEN || yx_b64url_decode(s, n, raw, sizeof(raw), &got) == -1 ||
	    got != sizeof(raw))
		return yx_reply_problem(req, "invalid_refresh_token", NULL);
	OPENSSL_cleanse(raw, sizeof(raw));
	st = state_new(req);
	identity_client_of(req, &st->client);
	if (sha256_hex(s, n, st->old_hash) == -1 || refresh_token_new(st) == -1)
		return yx_reply_problem(req, "internal_error", NULL);
	st->step = STEP_REFRESH;
	return KORE_RESULT_RETRY;
}

int
identity_auth_refresh(struct http_request *req)
{
	struct auth_state *st = yx_req(req)->svc;

	if (st == NULL) {
		if (refresh_start(req) != KORE_RESULT_RETRY)
			return KORE_RESULT_OK;
		st = yx_req(req)->svc;
	}
	switch (identity_db_refresh_rotate(req, st->old_hash, st->refresh_hash,
	                                   identity_auth.refresh_ttl, &st->client, &st->result)) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		return yx_db_reply_error(req);
	case YX_DB_OK:
		break;
	}
	return reply_auth_result(req, st, "token_refreshed");
}

/* --- POST /api/v1/auth/logout -------------------------------------------------- */

int
identity_auth_logout(struct http_request *req)
{
	struct yx_req *r = yx_req(req);
	struct auth_state *st = r->svc;

	if (st == NULL) {
		if (req->method != HTTP_METHOD_POST)
			return yx_reply_problem(req, "method_not_allowed", NULL);
		if (!yx_require_user_or_reply(req))
			return KORE_RESULT_OK;
		if (r->id.session[0] == '\0')
			return yx_reply_problem(req, "unauthorized", NULL);
		st = state_new(req);
		st->step = STEP_LOGOUT;
	}
	switch (identity_db_session_revoke(req, r->id.user, r->id.session, "logout")) {
	case YX_DB_PENDING:
		return KORE_RESULT_RETRY;
	case YX_DB_FAILED:
		/* A session that is gone is as logged out as can be. */
		if (strcmp(yx_db_sqlstate(req), "P0001") != 0 ||
		    strcmp(yx_db_message(req), "not_found") != 0)
			return yx_db_reply_error(req);
		break;
	case YX_DB_OK:
		break;
	}
	/* Revoked in the database; until the gateway knows, the access token works. */
	if (identity_publish_revoked(r->id.session) == -1)
		return reply_retry_after(req, "service_unavailable", 1);
	yx_log(YX_LOG_INFO, r->request_id, "logout", "user %s session %s", r->id.user,
	       r->id.session);
	return yx_reply_empty(req, 204);
}
