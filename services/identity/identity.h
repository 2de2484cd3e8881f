/*
 * identity.h - state of the identity service shared by its handler files:
 * the signing keys and the field-encryption keys, loaded at start-up.
 */
#ifndef IDENTITY_H
#define IDENTITY_H

#include "yx_jwt.h"

struct identity_app {
	struct yx_jwt_keyset jwt;    /* private signing key(s) */
	char jwt_kid[64];            /* the key new tokens are signed with */
	unsigned char field_key[32]; /* AES-256-GCM for phone and ID numbers */
	unsigned char index_key[32]; /* HMAC blind index for lookups */
	char *jwks;                  /* published public keys, built once */
	size_t jwks_len;
};

extern struct identity_app identity_app;

#endif
