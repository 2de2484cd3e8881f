/*
 * admin_roles.h - staff looking up users and granting or revoking roles
 * within their scope and below their own level (rule table: api-spec and
 * README, enforced in sql/0003_people.sql).
 */
#ifndef IDENTITY_ADMIN_ROLES_H
#define IDENTITY_ADMIN_ROLES_H

#include <kore/kore.h>
#include <kore/http.h>

/* GET /api/v1/admin/users/{id}: the user (phone masked) and their roles in scope. */
int identity_admin_user(struct http_request *req);

/*
 * POST /api/v1/admin/users/{id}/roles {"role","org_id"}: grant;
 * DELETE /api/v1/admin/users/{id}/roles?role=&org_id=: revoke.
 */
int identity_admin_user_roles(struct http_request *req);

#endif
