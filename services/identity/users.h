/*
 * users.h - how a user account is shown: to its owner (full phone) or to
 * others (masked phone).
 */
#ifndef IDENTITY_USERS_H
#define IDENTITY_USERS_H

#include <stdbool.h>

#include "identity_db.h"
#include "yx_json.h"

/* Phone field encryption is bound to this column name (AES-GCM AAD). */
#define IDENTITY_PHONE_AAD "identity.users.phone"

/*
 * Appends the user object to w: id, display_name, avatar_url, phone (the
 * number itself only when `owner`; otherwise 138****0000), roles parsed
 * from the comma-separated "role@org" list, created_at.
 */
void identity_user_json(struct yx_jw *w, const struct identity_user *u, const char *roles_csv,
                        bool owner);

#endif
