/*
 * yx_redis: the one way services talk to Redis — a synchronous hiredis
 * connection with bounded waits, key namespacing, a circuit breaker, and the
 * GCRA rate-limit script.
 *
 * Kore workers are single-threaded event loops, so every call here blocks the
 * whole worker while it waits. The waits are therefore bounded: connecting by
 * connect_timeout_ms, each command (and AUTH) by command_timeout_ms; a call
 * that has to connect first waits at most connect_timeout_ms +
 * 2 * command_timeout_ms. Name resolution of `host` is not bounded; use an
 * address or a name from /etc/hosts. Once the breaker has opened after
 * breaker_failures failures in a row, calls fail at once without any I/O until
 * breaker_cooldown_ms have passed, then one trial call probes the server.
 *
 * Keys and Redis Cluster: every key is the service's prefix plus the rest
 * (yx_redis_key), and nothing assumes a single node. A command or script that
 * touches several keys must keep them in one hash slot by sharing a hash tag,
 * e.g. "mall:{item:42}:stock" and "mall:{item:42}:holds"; never use KEYS,
 * cross-slot MULTI/EXEC or scripts that build key names at run time.
 *
 * Writing to a connection the server has closed raises SIGPIPE; the process
 * must ignore it (Kore does).
 *
 * Not thread-safe: one struct yx_redis per worker process.
 */
#ifndef YX_REDIS_H
#define YX_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "yx_gcra.h"

/* Defaults for zero or NULL fields of struct yx_redis_opts. */
#define YX_REDIS_DEFAULT_HOST             "127.0.0.1"
#define YX_REDIS_DEFAULT_PORT             6379
#define YX_REDIS_DEFAULT_CONNECT_MS       200
#define YX_REDIS_DEFAULT_COMMAND_MS       100
#define YX_REDIS_DEFAULT_BREAKER_FAILURES 3
#define YX_REDIS_DEFAULT_BREAKER_COOLDOWN 1000

/*
 * Connection settings; every field may be left zero/NULL for its default.
 * user NULL with a password sends the one-argument AUTH (default user);
 * password NULL sends no AUTH; an empty string counts as NULL for both. prefix (e.g. "identity:")
 * starts every key built by yx_redis_key and should be what the service's ACL user is limited to.
 */
struct yx_redis_opts {
	const char *host;
	int port;
	const char *user;
	const char *password;
	const char *prefix;
	int connect_timeout_ms;
	int command_timeout_ms;
	unsigned breaker_failures;
	int breaker_cooldown_ms;
};

struct yx_redis;

/*
 * A handle from the options; the strings are copied, so opts need not
 * outlive it. Does not connect: the first command does. NULL when out of
 * memory or when a field is out of range (port outside 0..65535, a negative
 * timeout or cooldown). Free with yx_redis_free.
 */
struct yx_redis *yx_redis_new(const struct yx_redis_opts *opts);

/*
 * Close the connection, wipe the password copy and free the handle. NULL is
 * fine.
 */
void yx_redis_free(struct yx_redis *r);

/*
 * Run one command built from a hiredis format string (%s for a C string, %b
 * for a pointer and a size_t length; arguments are binary-safe, never
 * concatenated into the command text). Connects first if needed. Returns the
 * reply, which the caller frees with freeReplyObject, or NULL: when the
 * breaker is open (no I/O at all), on a connection error or timeout (the
 * connection is dropped and the breaker counts a failure), or when Redis
 * answered with an error reply (the connection stays; counted as a failure
 * only for LOADING, BUSY and MASTERDOWN, which say the server cannot serve).
 * The reason for a NULL is in yx_redis_last_error. Errors nested inside an
 * array reply (EXEC) are returned as part of the reply.
 */
redisReply *yx_redis_command(struct yx_redis *r, const char *fmt, ...);

/*
 * yx_redis_command with the command given as argc arguments; lens may be
 * NULL for NUL-terminated arguments. The caller keeps argv.
 */
redisReply *yx_redis_commandargv(struct yx_redis *r, int argc, const char **argv,
                                 const size_t *lens);

/*
 * Why the last call on r returned NULL or false: the server's error reply
 * (e.g. "WRONGTYPE ..."), a connection error, or "circuit breaker open".
 * Empty after a success. Owned by r, valid until the next call on r.
 */
const char *yx_redis_last_error(const struct yx_redis *r);

/*
 * Write prefix + the printf-formatted rest into out (cap bytes, NUL
 * included). 0, or -1 when it does not fit (out then holds an empty string)
 * or the format fails. Keep multi-key operations under one hash tag, see the
 * top of this file.
 */
int yx_redis_key(const struct yx_redis *r, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * PING through the breaker, for readiness probes: true only on PONG.
 */
bool yx_redis_ping(struct yx_redis *r);

/*
 * "up" (connected, breaker closed), "open" (breaker open or probing: calls
 * fail fast) or "down" (not connected: never yet, or the last call failed).
 * A static string; performs no I/O.
 */
const char *yx_redis_state(const struct yx_redis *r);

/*
 * Count one request against a GCRA limit kept in Redis under key (already
 * prefixed; one key, so Cluster-safe) — limit requests per period_ms, at most
 * burst at once, exactly as in yx_gcra.h but on the Redis server's clock
 * (TIME inside the script), so any number of gateways share one limit. The
 * key expires once it holds no information. Runs EVALSHA, or EVAL the first
 * time on a connection and whenever the server answers NOSCRIPT; SCRIPT is
 * never needed, so an ACL user refused SCRIPT works. ALLOWED or LIMITED;
 * ERROR when the parameters are invalid or Redis cannot answer (breaker open,
 * timeout, error reply) — then fall back to yx_gcra_local_check.
 * *retry_after_ms: 0 if allowed, else the wait before a request would pass,
 * rounded up to a millisecond. *remaining: requests still allowed right now.
 * Both may be NULL and are 0 on ERROR.
 */
enum yx_rl_result yx_redis_gcra(struct yx_redis *r, const char *key, int64_t period_ms,
                                int64_t limit, int64_t burst, int64_t *retry_after_ms,
                                int64_t *remaining);

/* One count of yx_redis_gcra_many(): the inputs, then what came of it. */
struct yx_gcra_count {
	const char *key; /* already prefixed; each count may be in another hash slot */
	int64_t period_ms, limit, burst;
	enum yx_rl_result result;
	int64_t retry_after_ms, remaining;
};

/*
 * n counts as yx_redis_gcra() makes them, in one round trip (pipelined
 * EVALSHA, one key per script, so Cluster-safe) instead of n: each counts
 * whatever the others' results, in order. A count with invalid parameters
 * is ERROR alone; a connection failure makes the counts without an answer
 * ERROR. The first call on a connection (the script not loaded yet) and a
 * NOSCRIPT answer fall back to yx_redis_gcra() for the counts concerned.
 */
void yx_redis_gcra_many(struct yx_redis *r, struct yx_gcra_count *counts, size_t n);

#endif
