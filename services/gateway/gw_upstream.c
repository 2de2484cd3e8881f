/*
 * gw_upstream.c - the gateway's HTTP/1.1 client on Kore's event loop: the
 * upstream table, per-worker connection pools, calls with their timers, and
 * reading responses with gw_http1 (see gw_upstream.h for the contract).
 *
 * Ownership: a call owns its request and response buffers and, while it is
 * under way, its connection; an idle connection belongs to its upstream's
 * pool. A closed connection is not freed at once but parked until the next
 * timer run, because Kore may still hold an event for it in the batch being
 * dispatched (Kore defers freeing its own connections for the same reason).
 *
 * Re-entrancy: finishing a call runs its done callback, which may free the
 * call. Every internal function that can finish a call says so, and its
 * callers touch neither the call nor its connection afterwards.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kore/kore.h>

#include "gw_http1.h"
#include "gw_upstream.h"

/* Our events in Kore's loop; Kore itself only uses the type for its own. */
#define GW_EVT_UPSTREAM 0x47

/* Smallest free space worth a read() into the response buffer. */
#define GW_READ_MIN 4096

/* Pool maintenance (idle expiry) period. */
#define GW_MAINT_MS 1000

enum conn_state { CONN_CONNECTING, CONN_ACTIVE, CONN_IDLE, CONN_DEAD };

enum call_phase {
	PHASE_NEW,        /* created, not started (or taken off the wait queue) */
	PHASE_QUEUED,     /* waiting for a connection slot */
	PHASE_CONNECTING, /* on a connection that is being established */
	PHASE_SENDING,    /* writing the request */
	PHASE_RECEIVING,  /* request written, reading the response */
	PHASE_DONE
};

struct gw_conn {
	struct kore_event evt; /* first: Kore dispatches on it */
	int fd;
	enum conn_state state;
	bool reused; /* has carried a complete exchange before */
	uint64_t idle_since;
	struct gw_upstream *up;
	struct gw_call *call;
	TAILQ_ENTRY(gw_conn) list; /* the pool's idle list, or the graveyard */
};

TAILQ_HEAD(gw_conn_list, gw_conn);
TAILQ_HEAD(gw_call_list, gw_call);

struct gw_upstream {
	char name[GW_UPSTREAM_NAME_MAX + 1];
	char authority[280];
	bool deployed;
	struct sockaddr_storage addr;
	socklen_t addrlen;

	/* Per worker from here on (each worker has its own copy after fork). */
	struct gw_conn_list idle; /* most recently used first */
	uint32_t nidle;
	uint32_t nconns; /* connecting, active and idle */
	struct gw_call_list waiters;
	bool kicking;
};

struct gw_call {
	struct gw_upstream *up;
	gw_call_done_fn done;
	void *arg;
	int flags;
	uint32_t connect_ms;
	uint32_t timeout_ms;

	uint8_t *req;
	size_t req_len;
	size_t req_off;

	enum call_phase phase;
	bool in_start;  /* finishing now must not call done */
	bool retried;   /* already repeated once on a fresh connection */
	bool got_bytes; /* some of the response has arrived */
	struct gw_conn *conn;
	struct kore_timer *timer;
	uint64_t started;
	uint64_t elapsed;

	enum gw_call_result result;
	char error[128];

	/* The response: head at rbuf[0..head_len), decoded body after it. */
	char *rbuf;
	size_t rlen;
	size_t rcap;
	size_t head_len; /* 0 until the final (non-1xx) head is parsed */
	size_t body_len;
	size_t body_end; /* Content-Length framing: head_len + length */
	bool extra;      /* bytes after the response: the connection is unusable */
	struct gw_http1_head head;
	struct gw_http1_chunked chunked;

	TAILQ_ENTRY(gw_call) wait; /* up->waiters while PHASE_QUEUED */
};

static struct gw_upstream_limits limits = {
    .connect_timeout_ms = 1000,
    .timeout_ms = 10000,
    .idle_timeout_ms = 10000,
    .max_idle = 128,
    .max_conns = 256,
    .head_max = 16384,
    .body_max = 8 * 1024 * 1024,
};

static struct gw_upstream upstreams[GW_UPSTREAM_MAX];
static size_t nupstreams;

static struct gw_conn_list graveyard = TAILQ_HEAD_INITIALIZER(graveyard);
static struct kore_timer *reaper;

static int upstream_resolve(struct gw_upstream *up, const char *addr);
static void upstream_maint(void *arg, uint64_t now);
static void upstream_reap(void *arg, uint64_t now);

static struct gw_conn *conn_open(struct gw_upstream *up, int *err);
static void conn_close(struct gw_conn *conn);
static bool conn_stale(struct gw_conn *conn);
static void conn_release(struct gw_conn *conn);
static void conn_event(void *arg, int error);
static void conn_idle_event(struct gw_conn *conn, int error);

static struct gw_conn *pool_take(struct gw_upstream *up);
static void pool_kick(struct gw_upstream *up);

static void call_dispatch(struct gw_call *call, bool fresh);
static void call_connect(struct gw_call *call);
static int call_use_conn(struct gw_call *call, struct gw_conn *conn);
static int call_exchange(struct gw_call *call);
static int call_send(struct gw_call *call);
static int call_recv(struct gw_call *call);
static int call_parse(struct gw_call *call);
static int call_eof(struct gw_call *call);
static size_t call_room(struct gw_call *call);
static void call_timer(struct gw_call *call, uint32_t ms);
static void call_timeout(void *arg, uint64_t now);
static void call_io_failed(struct gw_call *call, bool at_write, int err, const char *what);
static void call_fail_conn(struct gw_call *call, enum gw_call_result r, int err, const char *what);
static void call_complete(struct gw_call *call);
static void call_finish(struct gw_call *call, enum gw_call_result r, int err, const char *what);
static void call_reset_response(struct gw_call *call);
static void call_dequeue(struct gw_call *call);

/* --- the upstream table ----------------------------------------------------- */

void
gw_upstream_set_limits(const struct gw_upstream_limits *lim)
{
	limits = *lim;
}

const struct gw_upstream_limits *
gw_upstream_limits(void)
{
	return &limits;
}

/*
 * Resolve "host:port" or "[v6]:port" into up->addr (the first address the
 * resolver gives). Runs in the parent, before the sandbox.
 */
static int
upstream_resolve(struct gw_upstream *up, const char *addr)
{
	struct addrinfo hints, *res;
	char host[256], port[8];
	const char *colon, *h;
	size_t hlen;
	int rc;

	colon = strrchr(addr, ':');
	if (colon == NULL || colon == addr || colon[1] == '\0' || strlen(colon + 1) >= sizeof(port))
		return -1;
	h = addr;
	hlen = (size_t)(colon - addr);
	if (h[0] == '[') {
		if (hlen < 3 || h[hlen - 1] != ']')
			return -1;
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "upstream %s: cannot resolve %s: %s\n", up->name, addr,
		        gai_strerror(rc));
		return -1;
	}
	if (res->ai_addrlen > sizeof(up->addr)) {
		freeaddrinfo(res);
		return -1;
	}
	memcpy(&up->addr, res->ai_addr, res->ai_addrlen);
	up->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(up->authority, sizeof(up->authority), "%s", addr);
	return 0;
}

struct gw_upstream *
gw_upstream_define(const char *name, const char *addr)
{
	struct gw_upstream *up;

	if (strlen(name) > GW_UPSTREAM_NAME_MAX || gw_upstream_find(name) != NULL ||
	    nupstreams == GW_UPSTREAM_MAX) {
		fprintf(stderr, "upstream %s: bad or duplicate name\n", name);
		return NULL;
	}
	up = &upstreams[nupstreams];
	memset(up, 0, sizeof(*up));
	snprintf(up->name, sizeof(up->name), "%s", name);
	TAILQ_INIT(&up->idle);
	TAILQ_INIT(&up->waiters);
	if (addr != NULL) {
		if (strlen(addr) >= sizeof(up->authority) || upstream_resolve(up, addr) == -1) {
			fprintf(stderr, "upstream %s: expected host:port, got \"%s\"\n", name,
			        addr);
			return NULL;
		}
		up->deployed = true;
	}
	nupstreams++;
	return up;
}

struct gw_upstream *
gw_upstream_find(const char *name)
{
	size_t i;

	for (i = 0; i < nupstreams; i++) {
		if (!strcmp(upstreams[i].name, name))
			return &upstreams[i];
	}
	return NULL;
}

size_t
gw_upstream_count(void)
{
	return nupstreams;
}

struct gw_upstream *
gw_upstream_at(size_t i)
{
	return i < nupstreams ? &upstreams[i] : NULL;
}

const char *
gw_upstream_name(const struct gw_upstream *up)
{
	return up->name;
}

const char *
gw_upstream_authority(const struct gw_upstream *up)
{
	return up->authority;
}

bool
gw_upstream_deployed(const struct gw_upstream *up)
{
	return up->deployed;
}

void
gw_upstream_worker_init(void)
{
	(void)kore_timer_add(upstream_maint, GW_MAINT_MS, NULL, 0);
}

/* Close pooled connections idle for longer than the idle timeout. */
static void
upstream_maint(void *arg, uint64_t now)
{
	struct gw_conn *conn;
	size_t i;

	for (i = 0; i < nupstreams; i++) {
		/* Oldest at the tail: the pool hands out its most recent first. */
		while ((conn = TAILQ_LAST(&upstreams[i].idle, gw_conn_list)) != NULL &&
		       now >= conn->idle_since && now - conn->idle_since >= limits.idle_timeout_ms)
			conn_close(conn);
		pool_kick(&upstreams[i]);
	}
}

/* Free closed connections; runs outside Kore's event dispatch. */
static void
upstream_reap(void *arg, uint64_t now)
{
	struct gw_conn *conn;

	reaper = NULL;
	while ((conn = TAILQ_FIRST(&graveyard)) != NULL) {
		TAILQ_REMOVE(&graveyard, conn, list);
		kore_free(conn);
	}
}

/* --- connections -------------------------------------------------------------- */

/*
 * A new non-blocking connection to up, connect() started and registered with
 * the event loop. NULL with *err set when socket() or connect() fails at once.
 */
static struct gw_conn *
conn_open(struct gw_upstream *up, int *err)
{
	struct gw_conn *conn;
	int fd, on = 1;

	fd = socket(up->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		*err = errno;
		return NULL;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (connect(fd, (struct sockaddr *)&up->addr, up->addrlen) == -1 && errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return NULL;
	}

	conn = kore_calloc(1, sizeof(*conn));
	conn->evt.type = GW_EVT_UPSTREAM;
	conn->evt.flags = 0;
	conn->evt.handle = conn_event;
	conn->fd = fd;
	conn->up = up;
	conn->state = CONN_CONNECTING;
	up->nconns++;
	kore_platform_event_all(fd, conn);
	return conn;
}

/*
 * Close conn (leaving the idle list if it is there) and park it for
 * upstream_reap. Does not wake waiters: callers decide when (pool_kick).
 */
static void
conn_close(struct gw_conn *conn)
{
	struct gw_upstream *up = conn->up;

	if (conn->state == CONN_DEAD)
		return;
	if (conn->state == CONN_IDLE) {
		TAILQ_REMOVE(&up->idle, conn, list);
		up->nidle--;
	}
	/* Closing the only descriptor also takes it out of the epoll set. */
	(void)close(conn->fd);
	conn->fd = -1;
	conn->state = CONN_DEAD;
	conn->call = NULL;
	up->nconns--;
	TAILQ_INSERT_TAIL(&graveyard, conn, list);
	if (reaper == NULL)
		reaper = kore_timer_add(upstream_reap, 0, NULL, KORE_TIMER_ONESHOT);
}

/*
 * True when conn cannot carry a new request: the upstream closed it, sent
 * bytes nobody asked for, or the socket is in error.
 */
static bool
conn_stale(struct gw_conn *conn)
{
	char c;
	ssize_t n;

	n = recv(conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		conn->evt.flags &= ~KORE_EVENT_READ;
		return false;
	}
	return true;
}

/*
 * conn finished an exchange cleanly: hand it to the first waiter, keep it
 * idle, or close it when the pool has enough idle connections. May finish
 * the waiter it is handed to. Whether the upstream has closed it or sent
 * stray bytes is checked when it is next used (pool_take), once.
 */
static void
conn_release(struct gw_conn *conn)
{
	struct gw_upstream *up = conn->up;
	struct gw_call *w;

	conn->call = NULL;
	conn->reused = true;
	conn->state = CONN_ACTIVE;
	if ((w = TAILQ_FIRST(&up->waiters)) != NULL && !up->kicking) {
		if (conn_stale(conn)) {
			conn_close(conn);
			pool_kick(up);
			return;
		}
		call_dequeue(w);
		(void)call_use_conn(w, conn);
		return;
	}
	if (up->nidle >= limits.max_idle) {
		conn_close(conn);
		pool_kick(up);
		return;
	}
	conn->state = CONN_IDLE;
	conn->idle_since = kore_time_ms();
	TAILQ_INSERT_HEAD(&up->idle, conn, list);
	up->nidle++;
	/* A waiter queued while we were kicking gets it from the kick loop. */
	if (!TAILQ_EMPTY(&up->waiters))
		pool_kick(up);
}

/* Kore's event callback for every upstream connection. */
static void
conn_event(void *arg, int error)
{
	struct gw_conn *conn = arg;
	struct gw_call *call = conn->call;
	struct gw_upstream *up;
	int soerr;
	socklen_t len;

	switch (conn->state) {
	case CONN_DEAD:
		return;
	case CONN_IDLE:
		conn_idle_event(conn, error);
		return;
	case CONN_CONNECTING:
		if (!error && !(conn->evt.flags & KORE_EVENT_WRITE))
			return;
		soerr = 0;
		len = sizeof(soerr);
		if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
			soerr = errno;
		if (soerr != 0) {
			call_fail_conn(call, GW_CALL_UNAVAILABLE, soerr, "connect");
			return;
		}
		conn->state = CONN_ACTIVE;
		(void)call_exchange(call);
		return;
	case CONN_ACTIVE:
		if (call == NULL) {
			/* Between two owners: nothing may arrive now. */
			up = conn->up;
			conn_close(conn);
			pool_kick(up);
			return;
		}
		if (call->phase == PHASE_SENDING &&
		    ((conn->evt.flags & KORE_EVENT_WRITE) || error)) {
			if (call_send(call) < 0)
				return;
		}
		if ((conn->evt.flags & KORE_EVENT_READ) || error)
			(void)call_recv(call);
		return;
	}
}

/* Anything happening on an idle connection means it is finished. */
static void
conn_idle_event(struct gw_conn *conn, int error)
{
	struct gw_upstream *up = conn->up;

	if (!error && !(conn->evt.flags & KORE_EVENT_READ))
		return;
	if (error || conn_stale(conn)) {
		conn_close(conn);
		pool_kick(up);
	}
}

/* --- the pool ------------------------------------------------------------------ */

/* The most recently used idle connection that is still fit, or NULL. */
static struct gw_conn *
pool_take(struct gw_upstream *up)
{
	struct gw_conn *conn;
	uint64_t now = kore_time_ms();

	while ((conn = TAILQ_FIRST(&up->idle)) != NULL) {
		TAILQ_REMOVE(&up->idle, conn, list);
		up->nidle--;
		conn->state = CONN_ACTIVE;
		if (now - conn->idle_since >= limits.idle_timeout_ms || conn_stale(conn)) {
			conn_close(conn);
			continue;
		}
		return conn;
	}
	return NULL;
}

/*
 * Give waiting calls the connections that became available: idle ones
 * first, then new ones while under max_conns. A retried call gets a fresh
 * connection when there is room for one. May finish waiting calls.
 */
static void
pool_kick(struct gw_upstream *up)
{
	struct gw_call *call;
	struct gw_conn *conn;

	if (up->kicking)
		return;
	up->kicking = true;
	while ((call = TAILQ_FIRST(&up->waiters)) != NULL) {
		conn = NULL;
		if (!call->retried || up->nconns >= limits.max_conns)
			conn = pool_take(up);
		if (conn == NULL && up->nconns >= limits.max_conns)
			break;
		call_dequeue(call);
		if (conn != NULL)
			(void)call_use_conn(call, conn);
		else
			call_connect(call);
	}
	up->kicking = false;
}

/* --- calls ---------------------------------------------------------------------- */

struct gw_call *
gw_call_new(struct gw_upstream *up, uint8_t *req, size_t len, int flags, gw_call_done_fn done,
            void *arg)
{
	struct gw_call *call;

	call = kore_calloc(1, sizeof(*call));
	call->up = up;
	call->req = req;
	call->req_len = len;
	call->flags = flags;
	call->done = done;
	call->arg = arg;
	call->connect_ms = limits.connect_timeout_ms;
	call->timeout_ms = limits.timeout_ms;
	call->phase = PHASE_NEW;
	return call;
}

void
gw_call_set_timeouts(struct gw_call *call, uint32_t connect_ms, uint32_t timeout_ms)
{
	call->connect_ms = connect_ms;
	call->timeout_ms = timeout_ms;
}

int
gw_call_start(struct gw_call *call)
{
	call->started = kore_time_ms();
	if (!call->up->deployed) {
		call->in_start = true;
		call_finish(call, GW_CALL_UNAVAILABLE, 0, "upstream not deployed");
		call->in_start = false;
		return -1;
	}
	call->in_start = true;
	call_dispatch(call, false);
	call->in_start = false;
	return call->phase == PHASE_DONE ? -1 : 0;
}

void
gw_call_free(struct gw_call *call)
{
	struct gw_upstream *up;
	struct gw_conn *conn;
	bool kick = false;

	if (call == NULL)
		return;
	up = call->up;
	if (call->timer != NULL) {
		kore_timer_remove(call->timer);
		call->timer = NULL;
	}
	if (call->phase == PHASE_QUEUED)
		TAILQ_REMOVE(&up->waiters, call, wait);
	if ((conn = call->conn) != NULL) {
		/* Mid-exchange: the connection's state is unknown, never reuse it. */
		call->conn = NULL;
		conn->call = NULL;
		conn_close(conn);
		kick = true;
	}
	call->phase = PHASE_DONE;
	kore_free(call->req);
	kore_free(call->rbuf);
	kore_free(call);
	if (kick)
		pool_kick(up);
}

/* Take call off its upstream's wait queue. */
static void
call_dequeue(struct gw_call *call)
{
	TAILQ_REMOVE(&call->up->waiters, call, wait);
	call->phase = PHASE_NEW;
}

/*
 * Put the call on a connection: a pooled one unless fresh, a new one while
 * under max_conns, else the wait queue. May finish the call.
 */
static void
call_dispatch(struct gw_call *call, bool fresh)
{
	struct gw_upstream *up = call->up;
	struct gw_conn *conn;

	if (!fresh && TAILQ_EMPTY(&up->waiters) && (conn = pool_take(up)) != NULL) {
		(void)call_use_conn(call, conn);
		return;
	}
	if (up->nconns < limits.max_conns && (TAILQ_EMPTY(&up->waiters) || fresh)) {
		call_connect(call);
		return;
	}
	call->phase = PHASE_QUEUED;
	TAILQ_INSERT_TAIL(&up->waiters, call, wait);
	call_timer(call, call->connect_ms);
	/* Behind other waiters while a slot is free: serve the queue in order. */
	if (up->nconns < limits.max_conns)
		pool_kick(up);
}

/* Open a new connection for the call. May finish the call. */
static void
call_connect(struct gw_call *call)
{
	struct gw_conn *conn;
	int err = 0;

	if ((conn = conn_open(call->up, &err)) == NULL) {
		call_finish(call, GW_CALL_UNAVAILABLE, err, "connect");
		return;
	}
	conn->call = call;
	call->conn = conn;
	call->phase = PHASE_CONNECTING;
	call_timer(call, call->connect_ms);
}

/* Start the exchange on an established connection. May finish the call. */
static int
call_use_conn(struct gw_call *call, struct gw_conn *conn)
{
	conn->call = call;
	conn->state = CONN_ACTIVE;
	call->conn = conn;
	return call_exchange(call);
}

/*
 * Arm the response timer and write; read at once if the upstream already
 * answered. Returns < 0 when the call is gone from this connection (finished
 * or moved to another one), >= 0 while it is still waiting here.
 */
static int
call_exchange(struct gw_call *call)
{
	struct gw_conn *conn = call->conn;
	int r;

	call->phase = PHASE_SENDING;
	call->req_off = 0;
	call_timer(call, call->timeout_ms);
	if ((r = call_send(call)) <= 0)
		return r;
	if (conn->evt.flags & KORE_EVENT_READ)
		return call_recv(call);
	return 0;
}

/*
 * Write what is left of the request. Returns 1 when all of it is written,
 * 0 when the socket is full, -1 when the call left the connection.
 */
static int
call_send(struct gw_call *call)
{
	struct gw_conn *conn = call->conn;
	ssize_t n;

	while (call->req_off < call->req_len) {
		n = send(conn->fd, call->req + call->req_off, call->req_len - call->req_off,
		         MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn->evt.flags &= ~KORE_EVENT_WRITE;
				return 0;
			}
			call_io_failed(call, true, errno, "write");
			return -1;
		}
		call->req_off += (size_t)n;
	}
	call->phase = PHASE_RECEIVING;
	return 1;
}

/*
 * How many bytes the next read may take, growing the buffer as needed
 * within the limits; 0 when the response is already over its limit.
 */
static size_t
call_room(struct gw_call *call)
{
	size_t limit, cap;
	char *p;

	if (call->head_len == 0) {
		limit = limits.head_max;
	} else {
		switch (call->head.framing) {
		case GW_HTTP1_BODY_LENGTH:
			limit = call->body_end;
			break;
		case GW_HTTP1_BODY_CHUNKED:
			/* Framing is decoded away after each read: body + one read. */
			limit = call->head_len + limits.body_max + GW_READ_MIN;
			break;
		case GW_HTTP1_BODY_CLOSE:
			/* One byte over tells "too large" from "exactly the limit". */
			limit = call->head_len + limits.body_max + 1;
			break;
		default:
			limit = call->rlen;
			break;
		}
	}
	if (call->rlen >= limit)
		return 0;
	if (call->rcap - call->rlen < GW_READ_MIN && call->rcap < limit) {
		cap = call->rcap * 2;
		if (cap < call->rlen + GW_READ_MIN)
			cap = call->rlen + GW_READ_MIN;
		if (call->head_len != 0 && call->head.framing == GW_HTTP1_BODY_LENGTH)
			cap = limit; /* the exact size is known: one allocation */
		if (cap > limit)
			cap = limit;
		p = kore_realloc(call->rbuf, cap);
		call->rbuf = p;
		call->rcap = cap;
	}
	return (call->rcap < limit ? call->rcap : limit) - call->rlen;
}

/*
 * Read until the socket is empty or the response is complete. Returns 0
 * while waiting for more, -1 when the call left the connection.
 */
static int
call_recv(struct gw_call *call)
{
	struct gw_conn *conn = call->conn;
	size_t room;
	ssize_t n;
	int r;

	for (;;) {
		if ((room = call_room(call)) == 0) {
			call_fail_conn(call, GW_CALL_BAD_RESPONSE, 0,
			               call->head_len == 0 ? "response head too large"
			                                   : "response body too large");
			return -1;
		}
		n = read(conn->fd, call->rbuf + call->rlen, room);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn->evt.flags &= ~KORE_EVENT_READ;
				return 0;
			}
			if (!call->got_bytes) {
				call_io_failed(call, call->phase == PHASE_SENDING, errno, "read");
				return -1;
			}
			call_fail_conn(call, GW_CALL_BAD_RESPONSE, errno, "response cut short");
			return -1;
		}
		if (n == 0)
			return call_eof(call);
		call->got_bytes = true;
		call->rlen += (size_t)n;
		r = call_parse(call);
		if (r == 1) {
			call_complete(call);
			return -1;
		}
		if (r == -1)
			return -1;
	}
}

/*
 * Advance the parser over the bytes read so far. Returns 1 when the
 * response is complete, 0 when more is needed, -1 when it failed the call.
 */
static int
call_parse(struct gw_call *call)
{
	struct gw_http1_head *h = &call->head;
	size_t in, out;
	ssize_t n;
	int r;

	while (call->head_len == 0) {
		n = gw_http1_parse_head(call->rbuf, call->rlen, h);
		if (n == 0)
			return 0;
		if (n < 0 || gw_http1_framing(call->rbuf, h, call->flags & GW_CALL_HEAD) == -1) {
			call_fail_conn(call, GW_CALL_BAD_RESPONSE, 0, "malformed response head");
			return -1;
		}
		if (h->status < 200) {
			/* An interim response: drop it and read the final one. */
			memmove(call->rbuf, call->rbuf + n, call->rlen - (size_t)n);
			call->rlen -= (size_t)n;
			continue;
		}
		call->head_len = (size_t)n;
		call->body_len = 0;
		if (h->framing == GW_HTTP1_BODY_LENGTH) {
			if (h->content_length > limits.body_max) {
				call_fail_conn(call, GW_CALL_BAD_RESPONSE, 0,
				               "response body too large");
				return -1;
			}
			call->body_end = call->head_len + (size_t)h->content_length;
		} else if (h->framing == GW_HTTP1_BODY_CHUNKED) {
			gw_http1_chunked_init(&call->chunked, limits.body_max);
		}
	}

	switch (h->framing) {
	case GW_HTTP1_BODY_NONE:
		call->extra = call->rlen > call->head_len;
		return 1;
	case GW_HTTP1_BODY_LENGTH:
		if (call->rlen < call->body_end)
			return 0;
		call->extra = call->rlen > call->body_end;
		call->body_len = (size_t)h->content_length;
		return 1;
	case GW_HTTP1_BODY_CHUNKED:
		in = out = call->head_len + call->body_len;
		r = gw_http1_chunked_decode(&call->chunked, call->rbuf, &in, call->rlen, &out);
		call->body_len = out - call->head_len;
		if (r == 1) {
			call->extra = in < call->rlen;
			call->rlen = out;
			return 1;
		}
		if (r == 0) {
			call->rlen = out;
			return 0;
		}
		call_fail_conn(call, GW_CALL_BAD_RESPONSE, 0,
		               r == -2 ? "response body too large" : "malformed chunked body");
		return -1;
	case GW_HTTP1_BODY_CLOSE:
		call->body_len = call->rlen - call->head_len;
		if (call->body_len > limits.body_max) {
			call_fail_conn(call, GW_CALL_BAD_RESPONSE, 0, "response body too large");
			return -1;
		}
		return 0;
	}
	return 0;
}

/* The upstream closed its side. Always leaves the connection; returns -1. */
static int
call_eof(struct gw_call *call)
{
	if (call->head_len != 0 && call->head.framing == GW_HTTP1_BODY_CLOSE) {
		call->body_len = call->rlen - call->head_len;
		call_complete(call);
		return -1;
	}
	if (!call->got_bytes) {
		call_io_failed(call, call->phase == PHASE_SENDING, 0,
		               "connection closed by upstream");
		return -1;
	}
	call_fail_conn(call, GW_CALL_BAD_RESPONSE, 0, "response cut short");
	return -1;
}

static void
call_timer(struct gw_call *call, uint32_t ms)
{
	if (call->timer != NULL)
		kore_timer_remove(call->timer);
	call->timer = kore_timer_add(call_timeout, ms, call, KORE_TIMER_ONESHOT);
}

/* The call's timer fired: whatever it was waiting for took too long. */
static void
call_timeout(void *arg, uint64_t now)
{
	struct gw_call *call = arg;

	/* Kore frees a one-shot timer itself after this returns. */
	call->timer = NULL;
	switch (call->phase) {
	case PHASE_QUEUED:
		call_finish(call, GW_CALL_BUSY, 0, "no free connection to the upstream");
		break;
	case PHASE_CONNECTING:
		call_fail_conn(call, GW_CALL_CONNECT_TIMEOUT, 0, "connect timed out");
		break;
	case PHASE_SENDING:
	case PHASE_RECEIVING:
		call_fail_conn(call, GW_CALL_TIMEOUT, 0, "no complete response in time");
		break;
	default:
		break;
	}
}

/*
 * The connection failed before any byte of the response. Repeat the call
 * once on a fresh connection when the connection had been reused and the
 * request is idempotent or was still being written; else fail it.
 */
static void
call_io_failed(struct gw_call *call, bool at_write, int err, const char *what)
{
	struct gw_upstream *up = call->up;
	struct gw_conn *conn = call->conn;
	bool retry;

	retry = !call->retried && conn->reused && !call->got_bytes &&
	        ((call->flags & GW_CALL_IDEMPOTENT) || at_write);
	call->conn = NULL;
	conn->call = NULL;
	conn_close(conn);
	if (retry) {
		call->retried = true;
		call_reset_response(call);
		call_dispatch(call, true);
	} else {
		call_finish(call, GW_CALL_UNAVAILABLE, err, what);
	}
	pool_kick(up);
}

/* End the call with r and close its connection. */
static void
call_fail_conn(struct gw_call *call, enum gw_call_result r, int err, const char *what)
{
	struct gw_upstream *up = call->up;
	struct gw_conn *conn = call->conn;

	call->conn = NULL;
	conn->call = NULL;
	conn_close(conn);
	call_finish(call, r, err, what);
	pool_kick(up);
}

/* A whole response arrived: keep the connection if it can carry another. */
static void
call_complete(struct gw_call *call)
{
	struct gw_conn *conn = call->conn;
	struct gw_upstream *up = call->up;
	bool reuse;

	reuse = call->head.keep_alive && call->head.framing != GW_HTTP1_BODY_CLOSE &&
	        !call->extra && call->req_off == call->req_len;
	call->conn = NULL;
	conn->call = NULL;
	call_finish(call, GW_CALL_OK, 0, NULL);
	if (reuse) {
		conn_release(conn);
	} else {
		conn_close(conn);
		pool_kick(up);
	}
}

/* Record the end of the call and tell its owner (unless inside gw_call_start). */
static void
call_finish(struct gw_call *call, enum gw_call_result r, int err, const char *what)
{
	if (call->timer != NULL) {
		kore_timer_remove(call->timer);
		call->timer = NULL;
	}
	if (call->phase == PHASE_QUEUED)
		TAILQ_REMOVE(&call->up->waiters, call, wait);
	call->phase = PHASE_DONE;
	call->result = r;
	call->elapsed = kore_time_ms() - call->started;
	if (what == NULL)
		call->error[0] = '\0';
	else if (err != 0)
		snprintf(call->error, sizeof(call->error), "%s: %s", what, strerror(err));
	else
		snprintf(call->error, sizeof(call->error), "%s", what);
	if (!call->in_start)
		call->done(call, call->arg);
}

/* Forget a partial exchange before repeating the call. */
static void
call_reset_response(struct gw_call *call)
{
	call->req_off = 0;
	call->rlen = 0;
	call->head_len = 0;
	call->body_len = 0;
	call->body_end = 0;
	call->extra = false;
	call->got_bytes = false;
}

/* --- results ---------------------------------------------------------------------- */

enum gw_call_result
gw_call_result(const struct gw_call *call)
{
	return call->result;
}

const char *
gw_call_error(const struct gw_call *call)
{
	return call->error;
}

uint64_t
gw_call_elapsed_ms(const struct gw_call *call)
{
	return call->elapsed;
}

int
gw_call_status(const struct gw_call *call)
{
	return call->head.status;
}

size_t
gw_call_header_count(const struct gw_call *call)
{
	return call->result == GW_CALL_OK ? call->head.nheaders : 0;
}

void
gw_call_header(const struct gw_call *call, size_t i, const char **name, const char **value)
{
	*name = call->rbuf + call->head.headers[i].name_off;
	*value = call->rbuf + call->head.headers[i].value_off;
}

const char *
gw_call_header_get(const struct gw_call *call, const char *name)
{
	if (call->result != GW_CALL_OK)
		return NULL;
	return gw_http1_header_get(call->rbuf, &call->head, name);
}

const uint8_t *
gw_call_body(const struct gw_call *call, size_t *len)
{
	if (call->result != GW_CALL_OK || call->body_len == 0) {
		*len = 0;
		return NULL;
	}
	*len = call->body_len;
	return (const uint8_t *)call->rbuf + call->head_len;
}
