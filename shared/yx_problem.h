/*
 * yx_problem: the one error table and RFC 9457 problem bodies built from it.
 *
 * Every error a client can see has a stable English code (for programs), an
 * HTTP status and a zh-CN title (for people). The shared codes are built in;
 * a service registers its own at start-up. Handlers name a code and never
 * pick statuses or titles themselves.
 */
#ifndef YX_PROBLEM_H
#define YX_PROBLEM_H

#include <stddef.h>

/*
 * code: lowercase slug ([a-z0-9_]+), stable across releases; status: 400..599;
 * title: a short zh-CN sentence shown to users.
 */
struct yx_error_def {
	const char *code;
	int status;
	const char *title;
};

/* The "type" member of a problem body is this prefix followed by the code. */
#define YX_PROBLEM_TYPE_PREFIX "urn:yuexiang:problem:"

/*
 * Add n service-specific errors to the table. All or nothing: -1 (and nothing
 * added) if any entry is malformed (NULL or non-slug code, status outside
 * 400..599, NULL or empty title) or repeats a code already known or earlier in
 * defs. The table keeps pointers into defs, which must stay valid for the
 * life of the process (a static array). Call at start-up, before workers
 * serve requests: registration is not synchronised with lookups.
 */
int yx_errors_register(const struct yx_error_def *defs, size_t n);

/*
 * The entry for code; an unknown or NULL code gives the internal_error entry,
 * so the result is never NULL. The pointer is into the static table or the
 * caller's registered array.
 */
const struct yx_error_def *yx_error_lookup(const char *code);

/* One offending input field of a validation error. */
struct yx_field_error {
	const char *field;  /* JSON pointer-like path, e.g. "items/0/qty" */
	const char *reason; /* stable English slug, e.g. "required" */
};

/*
 * An application/problem+json body for code:
 *   {"type":"urn:yuexiang:problem:<code>","title":...,"status":...,
 *    "detail":...,"code":...,"request_id":...,
 *    "errors":[{"field":...,"reason":...},...]}
 * detail and request_id are left out when NULL, errors when nfields is 0. An
 * unknown code is reported as internal_error. Text that is not valid UTF-8 is
 * repaired (U+FFFD), never refused. Returns a malloc'd NUL-terminated string
 * the caller frees, and stores the status in *status_out and the length in
 * *len_out when those are not NULL; NULL only when out of memory.
 */
char *yx_problem_json(const char *code, const char *detail, const char *request_id,
                      const struct yx_field_error *fields, size_t nfields, int *status_out,
                      size_t *len_out);

#endif
