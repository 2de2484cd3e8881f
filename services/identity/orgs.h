/*
 * orgs.h - the org tree (district -> street -> community -> grid ->
 * building): reading nodes and children, and staff creating and editing
 * nodes within their scope.
 */
#ifndef IDENTITY_ORGS_H
#define IDENTITY_ORGS_H

#include <kore/kore.h>
#include <kore/http.h>

/* POST /api/v1/orgs {"parent_id","name"}: a node one level below its parent. */
int identity_orgs(struct http_request *req);

/* GET, PATCH /api/v1/orgs/{id}: a node; rename it or change community settings. */
int identity_org(struct http_request *req);

/* GET /api/v1/orgs/{id}/children: the node's children in id order, paginated. */
int identity_org_children(struct http_request *req);

#endif
