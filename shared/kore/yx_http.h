/*
 * yx_http.h - the request side of the glue: a per-request context (request
 * id, verified identity, parsed body, handler state), JSON and problem+json
 * replies, body parsing with limits, and the access log line.
 */
#ifndef YX_HTTP_H
#define YX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "yx_idhdr.h"
#include "yx_json.h"
#include "yx_problem.h"

#define YX_REQUEST_ID_MAX 64

struct yx_req {
	char request_id[YX_REQUEST_ID_MAX + 1];
	struct yx_identity id; /* valid when identity_ok */
	bool identity_ok;      /* X-Yx-Sig verified (services) */
	int64_t start_us;
	struct yx_json_doc *body; /* owned; freed with the request */
	void *svc;                /* handler state, freed by svc_free */
	void (*svc_free)(void *);
	void *db; /* a pending yx_db_call, see yx_db.h */
	/* Optional: adds members to the access log line from svc (before svc_free). */
	void (*svc_log)(struct yx_jw *w, void *svc);
};

/*
 * The context of `req`, created on the first call: request id taken from a
 * well-formed X-Request-Id header or generated; freed (with body, svc and db
 * state) when Kore frees the request, after the access log line is written.
 */
struct yx_req *yx_req(struct http_request *req);

/* True when `s` is an acceptable request id: 8..64 of [A-Za-z0-9._-]. */
bool yx_request_id_valid(const char *s);

/* Writes a fresh random request id (32 hex characters) into out[33]. */
void yx_request_id_new(char out[33]);

/*
 * Replies. Each sets Content-Type, X-Request-Id and Cache-Control: no-store,
 * sends the response and returns KORE_RESULT_OK, so a handler can
 * `return yx_reply_...(req, ...)`.
 */
int yx_reply_json(struct http_request *req, int status, const char *json, size_t len);
/* Finishes `w` and replies with it; a builder failure becomes a 500 problem. */
int yx_reply_jw(struct http_request *req, int status, struct yx_jw *w);
int yx_reply_problem(struct http_request *req, const char *code, const char *detail);
int yx_reply_problem_fields(struct http_request *req, const char *code, const char *detail,
                            const struct yx_field_error *fields, size_t n);
/* 204 with no body. */
int yx_reply_empty(struct http_request *req, int status);

/*
 * Parses the request body as a JSON object within the shared limits. On
 * failure it has already replied (415, 413, 400 invalid_json) and returns
 * NULL; the handler then returns KORE_RESULT_OK. The tree belongs to the
 * request.
 */
const struct yx_json *yx_body_object_or_reply(struct http_request *req);

/*
 * Checks the caller identity of a service request. Returns true when the
 * caller is signed in; otherwise it has replied 401 and returns false.
 */
bool yx_require_user_or_reply(struct http_request *req);

/* The client address as text (for logs and per-IP limits). */
const char *yx_client_ip(struct http_request *req, char *buf, size_t cap);

/* Largest body YX_BODY_MAX and YX_BODY_MAX_ROUTES accept (bytes). */
#define YX_BODY_MAX_LIMIT (16 * 1024 * 1024)

/*
 * Parent, before Kore reads the service's configuration, after the
 * connection limit is set: the request limits from YX_HTTP_REQUEST_LIMIT
 * (requests in flight per worker, YX_MAX_CONNECTIONS by default; then 503),
 * YX_HTTP_MAX_HEADER_LINES (50), YX_HTTP_MAX_URI (2048 bytes), YX_BODY_MAX
 * (65536 bytes) and YX_BODY_MAX_ROUTES ("/api/v1/wishes=262144,/api/v1/x=0":
 * per path prefix, longest match), and problem+json for the errors Kore answers by
 * itself. A value in the .conf overrides the variable. Returns 0, or -1
 * with a message on stderr.
 */
int yx_http_configure(void);

#endif
