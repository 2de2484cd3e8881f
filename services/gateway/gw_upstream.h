/*
 * gw_upstream.h - the gateway's asynchronous HTTP/1.1 client, running inside
 * each Kore worker's event loop.
 *
 * An upstream is a named service address ("identity" -> 10.0.0.5:8081),
 * defined in the parent process before the workers fork. Each worker keeps,
 * per upstream, its own pool of keep-alive connections (at most max_idle
 * idle, max_conns in all); a call waits for a free connection when the pool
 * is full. Every wait is bounded by a Kore timer: the connect timeout covers
 * waiting for a connection and connecting, the response timeout covers
 * writing the request and reading the whole response.
 *
 * A connection that failed, timed out, was closed by the upstream or carried
 * a response that cannot be followed by another is closed, never reused. A
 * call on a reused connection that fails before any byte of the response
 * arrives is repeated once on a fresh connection when the request is
 * idempotent, or when the failure came while writing (the upstream had
 * closed the idle connection, so it never saw the request).
 *
 * Completion is reported through a callback from the event loop; a call can
 * be freed at any time, which cancels it and closes its connection.
 */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_UPSTREAM_NAME_MAX 31
#define GW_UPSTREAM_MAX      16

/* Limits shared by every upstream; set once in the parent. */
struct gw_upstream_limits {
	uint32_t connect_timeout_ms; /* waiting for a connection + connecting */
	uint32_t timeout_ms;         /* writing the request + reading the response */
	uint32_t idle_timeout_ms;    /* an idle pooled connection is closed after this */
	uint32_t max_idle;           /* idle connections kept per upstream and worker */
	uint32_t max_conns;          /* connections per upstream and worker */
	size_t head_max;             /* response status line + headers */
	size_t body_max;             /* decoded response body */
};

struct gw_upstream;
struct gw_call;

enum gw_call_result {
	GW_CALL_PENDING = 0,
	GW_CALL_OK,              /* a complete response (any status) */
	GW_CALL_UNAVAILABLE,     /* connect refused, reset or closed before any response byte */
	GW_CALL_CONNECT_TIMEOUT, /* no connection within the connect timeout */
	GW_CALL_TIMEOUT,         /* no complete response within the response timeout */
	GW_CALL_BAD_RESPONSE,    /* malformed, truncated or larger than the limits */
	GW_CALL_BUSY             /* the pool stayed full for the whole connect timeout */
};

/* Called once when a started call ends (never from inside gw_call_start). */
typedef void (*gw_call_done_fn)(struct gw_call *call, void *arg);

/* Flags for gw_call_new(). */
#define GW_CALL_IDEMPOTENT 0x01 /* may be repeated on a fresh connection */
#define GW_CALL_HEAD       0x02 /* a HEAD request: the response has no body */

/* --- parent process ------------------------------------------------------ */

/* Set the limits (copied). Call before any worker starts. */
void gw_upstream_set_limits(const struct gw_upstream_limits *lim);

/*
 * Define the upstream called name. addr is "host:port" ("[v6]:port" for a
 * literal IPv6 address), resolved here once, or NULL for an upstream that is
 * not deployed (calls to it are refused). Returns the upstream, or NULL with
 * a message on stderr for a bad address, a duplicate name or a full table.
 */
struct gw_upstream *gw_upstream_define(const char *name, const char *addr);

/* --- any process ------------------------------------------------------------ */

struct gw_upstream *gw_upstream_find(const char *name);
size_t gw_upstream_count(void);
struct gw_upstream *gw_upstream_at(size_t i);
const char *gw_upstream_name(const struct gw_upstream *up);
/* "host:port" as configured, used as the Host header; "" when not deployed. */
const char *gw_upstream_authority(const struct gw_upstream *up);
bool gw_upstream_deployed(const struct gw_upstream *up);
const struct gw_upstream_limits *gw_upstream_limits(void);

/* --- worker ----------------------------------------------------------------- */

/* Start the worker's pool maintenance (idle expiry). Call from worker_init. */
void gw_upstream_worker_init(void);

/*
 * A call of up carrying req[0..len), a complete HTTP/1.1 request (head and
 * body) allocated with kore_malloc; the call owns it from now on. flags are
 * GW_CALL_*; done(call, arg) reports the end of a started call.
 */
struct gw_call *gw_call_new(struct gw_upstream *up, uint8_t *req, size_t len, int flags,
                            gw_call_done_fn done, void *arg);

/* Override the limits' timeouts for this call (health probes use shorter ones). */
void gw_call_set_timeouts(struct gw_call *call, uint32_t connect_ms, uint32_t timeout_ms);

/*
 * Start the call. Returns 0 when it is under way (done will be called), or
 * -1 when it ended at once (an upstream not deployed, a refused connect):
 * gw_call_result() says why and done is not called.
 */
int gw_call_start(struct gw_call *call);

/*
 * Free a call in any state. A call still under way is cancelled: its timer
 * stops, it leaves the wait queue, its connection is closed; done is not
 * called.
 */
void gw_call_free(struct gw_call *call);

enum gw_call_result gw_call_result(const struct gw_call *call);
/* Human-readable reason of a failure, for logs ("" on success). */
const char *gw_call_error(const struct gw_call *call);
/* Time from gw_call_start to the end, in milliseconds. */
uint64_t gw_call_elapsed_ms(const struct gw_call *call);

/* The response of a GW_CALL_OK call: status, headers (NUL-terminated), body. */
int gw_call_status(const struct gw_call *call);
size_t gw_call_header_count(const struct gw_call *call);
void gw_call_header(const struct gw_call *call, size_t i, const char **name, const char **value);
const char *gw_call_header_get(const struct gw_call *call, const char *name);
const uint8_t *gw_call_body(const struct gw_call *call, size_t *len);

#endif
