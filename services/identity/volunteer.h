/*
 * volunteer.h - volunteers: a user signs up with their skills in a
 * community and becomes a volunteer there, at once or after staff approval
 * as the community's settings say (volunteer_needs_approval).
 */
#ifndef IDENTITY_VOLUNTEER_H
#define IDENTITY_VOLUNTEER_H

#include <kore/kore.h>
#include <kore/http.h>

/* GET, POST /api/v1/me/volunteer: the caller's profiles; sign up or update skills. */
int identity_me_volunteer(struct http_request *req);

/* GET /api/v1/admin/volunteer-applications?status=: applications in the caller's scope. */
int identity_admin_volunteer_applications(struct http_request *req);

/* POST /api/v1/admin/volunteer-applications/{id}/approve|reject */
int identity_admin_volunteer_decide(struct http_request *req);

#endif
