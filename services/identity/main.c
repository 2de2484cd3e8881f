/*
 * main.c - wiring of yx-identity: its configuration (token and field keys),
 * its error codes and the service definition the shared glue runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bootstrap.h"
#include "errors_people.h"
#include "identity.h"
#include "identity_db.h"
#include "identity_db_auth.h"
#include "identity_db_people.h"
#include "offload.h"
#include "passwords.h"
#include "people_http.h"
#include "seed_demo.h"
#include "sms.h"
#include "yx_config.h"
#include "yx_outbox.h"
#include "yx_service.h"

struct identity_app identity_app;

/*
 * Loads the signing keys from YX_JWT_KEYS ("kid=path,..."; the first is
 * used to sign) and the field keys; the public JWKS document is built once.
 */
static int
identity_configure(void)
{
	const char *spec, *eq;
	size_t n;

	spec = yx_config_str("YX_JWT_KEYS", NULL);
	if (spec == NULL) {
		fprintf(stderr, "YX_JWT_KEYS is required (kid=path of an Ed25519 private key)\n");
		return -1;
	}
	yx_jwt_keyset_init(&identity_app.jwt);
	if (yx_jwt_keyset_from_spec(&identity_app.jwt, spec) == -1) {
		fprintf(stderr, "YX_JWT_KEYS: cannot load the keys it names\n");
		return -1;
	}
	eq = strchr(spec, '=');
	n = eq ? (size_t)(eq - spec) : 0;
	if (n == 0 || n >= sizeof(identity_app.jwt_kid))
		return -1;
	memcpy(identity_app.jwt_kid, spec, n);
	identity_app.jwt_kid[n] = '\0';

	if (yx_config_key("YX_FIELD_KEY", identity_app.field_key, 32) == -1 ||
	    yx_config_key("YX_INDEX_KEY", identity_app.index_key, 32) == -1)
		return -1;

	identity_app.jwks = yx_jwt_jwks_json(&identity_app.jwt);
	if (identity_app.jwks == NULL)
		return -1;
	identity_app.jwks_len = strlen(identity_app.jwks);

	if (identity_auth_configure() == -1 || identity_sms_configure() == -1 ||
	    identity_passwords_configure() == -1)
		return -1;
	if (identity_db_register() == -1 || identity_db_auth_register() == -1)
		return -1;
	/* People: org tree, requests, roles, profile cards, the event outbox. */
	if (identity_db_people_register() == -1 || identity_people_errors_register() == -1 ||
	    identity_card_configure() == -1 || yx_outbox_register() == -1)
		return -1;
	return 0;
}

/* Each worker after fork: worker 1 relays the outbox to Redis Streams. */
static int
identity_worker_init(void)
{
	return yx_outbox_worker_start();
}

/* The service's commands: seed-demo (people), then those of login. */
static int
identity_commands(int argc, char **argv, int *exit_code)
{
	if (identity_seed_command(argc, argv, exit_code) == 1)
		return 1;
	return identity_command(argc, argv, exit_code);
}

/*
 * Errors of login and tokens. Codes are part of the API contract
 * (api-spec/identity.yaml): never rename one, add a new code instead.
 */
static const struct yx_error_def identity_errors[] = {
    {"invalid_code", 401, "验证码错误"},
    {"code_expired", 401, "验证码已过期，请重新获取"},
    {"code_attempts_exceeded", 401, "验证码错误次数过多，请重新获取"},
    {"invalid_credentials", 401, "手机号或密码错误"},
    {"login_locked", 429, "登录失败次数过多，请稍后再试"},
    {"invalid_refresh_token", 401, "登录凭证无效，请重新登录"},
    {"refresh_expired", 401, "登录已过期，请重新登录"},
    {"refresh_reused", 401, "登录凭证已被使用，为安全起见请重新登录"},
    {"session_revoked", 401, "该登录已退出，请重新登录"},
    {"account_disabled", 403, "账号已停用"},
    {"sms_rate_limited", 429, "验证码发送过于频繁，请稍后再试"},
    {"sms_delivery_failed", 502, "短信发送失败，请稍后再试"},
};

const struct yx_service_def yx_service_def = {
    .name = "identity",
    .default_port = 8081,
    .use_db = true,
    .use_redis = true,
    .verify_identity = true,
    .configure = identity_configure,
    .worker_init = identity_worker_init,
    .command = identity_commands,
    .commands_help = IDENTITY_COMMANDS_HELP IDENTITY_SEED_HELP,
    .errors = identity_errors,
    .nerrors = sizeof(identity_errors) / sizeof(identity_errors[0]),
};
