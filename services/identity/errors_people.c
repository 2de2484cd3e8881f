/*
 * errors_people.c - the error table of identity's people part; see
 * errors_people.h. Codes are part of the API contract (api-spec/identity.yaml):
 * never rename one.
 */
#include <stdio.h>
#include <string.h>

#include "errors_people.h"
#include "yx_problem.h"

static const struct yx_error_def people_errors[] = {
    {"org_not_found", 404, "组织不存在"},
    {"request_not_found", 404, "申请不存在"},
    {"user_not_found", 404, "用户不存在"},
    {"role_not_found", 404, "该用户在此组织没有这个角色"},
    {"not_in_scope", 403, "超出您的管辖范围"},
    {"role_above_own_level", 403, "不能授予或撤销不低于自己级别的角色"},
    {"cannot_decide_own", 403, "不能审核自己的申请"},
    {"cannot_change_own_roles", 403, "不能修改自己的角色"},
    {"already_pending", 409, "已有待审核的申请"},
    {"already_decided", 409, "该申请已审核"},
    {"already_has_role", 409, "已拥有该角色"},
    {"org_name_taken", 409, "同一上级下已有同名组织"},
    {"invalid_org_level", 422, "组织层级不符合要求"},
    {"role_not_grantable", 422, "该角色不能由管理员授予"},
    {"community_required", 422, "请指定所在社区"},
};

int
identity_people_errors_register(void)
{
	const struct yx_error_def *known;
	size_t i;

	for (i = 0; i < sizeof(people_errors) / sizeof(people_errors[0]); i++) {
		known = yx_error_lookup(people_errors[i].code);
		if (strcmp(known->code, people_errors[i].code) == 0) {
			if (known->status == people_errors[i].status)
				continue;
			fprintf(stderr,
			        "error code %s is registered twice with different statuses\n",
			        people_errors[i].code);
			return -1;
		}
		if (yx_errors_register(&people_errors[i], 1) == -1)
			return -1;
	}
	return 0;
}
