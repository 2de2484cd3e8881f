/*
 * mall_http.h - request helpers of yx-mall's handlers: who the caller is
 * (signed, signed-in, staff of a community), the Idempotency-Key and the
 * request hash, body fields and query parameters with their validation
 * errors, cursor pages, and the replies of movements.
 */
#ifndef MALL_HTTP_H
#define MALL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "mall_db.h"
#include "mall_rules.h"
#include "yx_json.h"
#include "yx_problem.h"

/* Default page size of lists; MALL_PAGE_MAX is the largest. */
#define MALL_PAGE_DEFAULT 20

/*
 * True when the request carries a valid gateway signature (the caller may
 * be anonymous); otherwise it has replied 401 unauthorized.
 */
bool mall_signed_or_reply(struct http_request *req);

/*
 * True when the caller holds community_staff or community_secretary at
 * `community`; otherwise it has replied 403 not_in_scope. The caller must
 * be signed in (yx_require_user_or_reply) first.
 */
bool mall_staff_or_reply(struct http_request *req, const char *community);

/* Replies 405 unless the method is one of the (up to two) given. */
bool mall_method_or_reply(struct http_request *req, int m1, int m2);

/* The Idempotency-Key of a request and the hash of what it asks. */
struct mall_idem {
	char key[MALL_IDEM_KEY_MAX + 1];
	char hash[MALL_HASH_HEX];
};

/*
 * Reads the Idempotency-Key header (400 idempotency_key_required when
 * missing, 422 validation_failed when not 1..128 visible ASCII characters)
 * and hashes method, path and the raw body (mall_request_hash). False when
 * it has replied.
 */
bool mall_idem_or_reply(struct http_request *req, struct mall_idem *idem);

/*
 * The body as a JSON object, or NULL when it has replied (415, 413, 400);
 * with empty_ok, an empty body (no Content-Type needed) gives an empty
 * object instead.
 */
const struct yx_json *mall_body_or_reply(struct http_request *req, bool empty_ok);

/* Validation errors of one request (fields of the body or the query). */
struct mall_fields {
	struct yx_field_error e[16];
	size_t n;
};

void mall_field_error(struct mall_fields *f, const char *field, const char *reason);

/* Flags members of obj not in `allowed` (NULL-terminated) as "unknown". */
void mall_check_keys(const struct yx_json *obj, const char *const *allowed, struct mall_fields *f);

/*
 * Body members. Each appends "required", "invalid" or "out_of_range" to f
 * when the member is wrong. *present says whether the member was given
 * (JSON null counts as given when null_ok, leaving the value NULL / unset).
 */
void mall_body_id(const struct yx_json *obj, const char *key, bool required, const char **out,
                  struct mall_fields *f);
void mall_body_int(const struct yx_json *obj, const char *key, bool required, bool null_ok,
                   int64_t min, int64_t max, bool *present, bool *is_null, int64_t *out,
                   struct mall_fields *f);
void mall_body_text(const struct yx_json *obj, const char *key, bool required, bool null_ok,
                    size_t min_chars, size_t max_chars, bool multiline, bool *present,
                    const char **out, struct mall_fields *f);
void mall_body_url(const struct yx_json *obj, const char *key, bool *present, const char **out,
                   struct mall_fields *f);
void mall_body_time(const struct yx_json *obj, const char *key, bool *present, const char **out,
                    struct mall_fields *f);
void mall_body_bool(const struct yx_json *obj, const char *key, bool *present, bool *out,
                    struct mall_fields *f);

/* The body re-serialized for a SQL function's jsonb parameter; caller frees. */
char *mall_body_json_text(const struct yx_json *body);

/*
 * The communities where the caller is staff, comma-separated into scopes;
 * false (after replying 403 not_in_scope) when there is none.
 */
bool mall_staff_scopes_or_reply(struct http_request *req, char *scopes, size_t cap);

/* Replies 422 validation_failed listing the fields. */
int mall_reply_invalid(struct http_request *req, const struct mall_fields *f);

/* The paging arguments of a list (?limit=, ?cursor=). */
struct mall_page_args {
	size_t limit;
	char limit_text[8];
	char limit_plus_one[8];
	char after[24]; /* id to continue after, "" on the first page */
};

/*
 * Reads ?limit= (1..100, default 20) and ?cursor=, refusing any parameter
 * not in `allowed` (NULL-terminated; limit and cursor are always allowed).
 * Replies 422 for bad parameters and 400 invalid_cursor for a cursor it did
 * not make; false then.
 */
bool mall_page_args_or_reply(struct http_request *req, const char *const *allowed,
                             struct mall_page_args *a);

/*
 * The body of a list page, {"items":[...],"next_cursor":...}, as malloc'd
 * text (caller frees) with its length; NULL when it cannot be built.
 */
char *mall_page_body(const struct mall_page *p, size_t *len);

/* Replies 200 with a page. */
int mall_reply_page(struct http_request *req, const struct mall_page *p);

/*
 * Replies to a movement: the problem of its refusal, or `status` with its
 * response body, marked `Idempotent-Replayed: true` when it is the stored
 * answer of an earlier request with the same key.
 */
int mall_reply_outcome(struct http_request *req, int status, const struct mall_outcome *o);

/*
 * Per-request handler state: a zeroed block of `size` bytes owned by the
 * request, the same one on every run of the handler. The request frees it
 * with release (NULL: free()), which must free the block itself too.
 */
void *mall_state(struct http_request *req, size_t size, void (*release)(void *));

#endif
