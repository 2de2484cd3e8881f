/*
 * activities.h - volunteer activities (志愿服务): their settings and error
 * codes, and the handlers of /api/v1/activities (routes in mall.conf).
 */
#ifndef MALL_ACTIVITIES_H
#define MALL_ACTIVITIES_H

#include <kore/kore.h>
#include <kore/http.h>

/*
 * Registers the activities' error codes and SQL statements and reads their
 * settings (YX_QR_KEY or the key derived from the cursor key,
 * YX_MALL_CHECKIN_EARLY_MINUTES, YX_MALL_CHECKOUT_LATE_MINUTES). Call from
 * the service's configure hook, in the parent, after the glue loaded the
 * cursor key. -1 (with a message on stderr) stops the start.
 */
int mall_activities_configure(void);

/* GET (list: ?community_id=&from=&limit=&cursor=) and POST (create) /api/v1/activities. */
int mall_activities(struct http_request *req);

/* GET /api/v1/activities/me: the caller's sign-ups and their states. */
int mall_activities_me(struct http_request *req);

/* GET and PATCH /api/v1/activities/{id}. */
int mall_activity(struct http_request *req);

/*
 * /api/v1/activities/{id}/...: POST cancel, POST and GET signups, DELETE
 * signups/me, GET qr, POST check-in and check-out, POST
 * attendance/{user_id}/confirm.
 */
int mall_activity_action(struct http_request *req);

#endif
