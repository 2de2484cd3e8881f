/*
 * main.c - wiring of yx-identity: its configuration (token and field keys),
 * its error codes and the service definition the shared glue runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "identity_db.h"
#include "yx_config.h"
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
	return identity_db_register();
}

const struct yx_service_def yx_service_def = {
    .name = "identity",
    .default_port = 8081,
    .use_db = true,
    .use_redis = true,
    .verify_identity = true,
    .configure = identity_configure,
};
