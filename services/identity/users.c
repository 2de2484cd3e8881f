/*
 * users.c - JSON representation of user accounts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "users.h"
#include "yx_fieldcrypt.h"

/* The decrypted phone of u, or the masked one when decryption fails. */
static void
owner_phone(const struct identity_user *u, char out[16])
{
	const unsigned char *keys[1] = {identity_app.field_key};
	unsigned char *pt = NULL;
	size_t n = 0;

	snprintf(out, 16, "%s", u->phone_masked);
	if (yx_field_decrypt(keys, 1, IDENTITY_PHONE_AAD, u->phone_enc, &pt, &n) == 0 && n < 16) {
		memcpy(out, pt, n);
		out[n] = '\0';
	}
	if (pt != NULL) {
		memset(pt, 0, n);
		free(pt);
	}
}

static void
roles_json(struct yx_jw *w, const char *csv)
{
	const char *p = csv, *comma, *at;
	char role[64], org[64];
	size_t n;

	yx_jw_arr_open(w);
	while (p != NULL && *p != '\0') {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		at = memchr(p, '@', n);
		if (at != NULL && (size_t)(at - p) < sizeof(role) &&
		    n - (size_t)(at - p) - 1 < sizeof(org)) {
			memcpy(role, p, (size_t)(at - p));
			role[at - p] = '\0';
			memcpy(org, at + 1, n - (size_t)(at - p) - 1);
			org[n - (size_t)(at - p) - 1] = '\0';
			yx_jw_obj_open(w);
			yx_jw_kv_str(w, "role", role);
			yx_jw_kv_str(w, "org_id", org);
			yx_jw_obj_close(w);
		}
		p = comma ? comma + 1 : NULL;
	}
	yx_jw_arr_close(w);
}

void
identity_user_json(struct yx_jw *w, const struct identity_user *u, const char *roles_csv,
                   bool owner)
{
	char phone[16];

	if (owner)
		owner_phone(u, phone);
	else
		snprintf(phone, sizeof(phone), "%s", u->phone_masked);
	yx_jw_obj_open(w);
	yx_jw_kv_str(w, "id", u->id);
	yx_jw_kv_str(w, "display_name", u->display_name);
	yx_jw_kv_str(w, "avatar_url", u->avatar_url[0] ? u->avatar_url : NULL);
	yx_jw_kv_str(w, "phone", phone);
	yx_jw_key(w, "roles");
	roles_json(w, roles_csv ? roles_csv : "");
	yx_jw_kv_str(w, "created_at", u->created_at);
	yx_jw_obj_close(w);
	memset(phone, 0, sizeof(phone));
}
