/*
 * yx_query.h - query string parameters of a request, read strictly.
 */
#ifndef YX_QUERY_H
#define YX_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include <kore/kore.h>
#include <kore/http.h>

/*
 * The value of query parameter `name`, percent-decoded, into buf (cap
 * bytes, NUL included): 1 when present, 0 when absent, -1 when malformed,
 * given twice, longer than cap - 1, or decoding to a NUL or invalid UTF-8.
 */
int yx_query_get(struct http_request *req, const char *name, char *buf, size_t cap);

/*
 * True when every parameter of the query string is named in `allowed` or
 * in `also` (two NULL-terminated lists; either may be NULL).
 */
bool yx_query_only(struct http_request *req, const char *const *allowed, const char *const *also);

#endif
