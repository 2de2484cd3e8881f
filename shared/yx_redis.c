/*
 * yx_redis: the hiredis wrapper — lazy connection, bounded waits, circuit
 * breaker, key prefixes and the GCRA script; see yx_redis.h.
 *
 * One blocking redisContext per handle. Any I/O error or timeout leaves a
 * hiredis context unusable (and a reply may still be in flight on it), so it
 * is freed at once and the next allowed call connects afresh.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/evp.h>

#include "yx_breaker.h"
#include "yx_encode.h"
#include "yx_redis.h"

/*
 * GCRA on the server's clock; the same sums as yx_gcra_step() in
 * microseconds. ARGV[1] = emission interval, ARGV[2] = burst tolerance.
 * Returns {allowed, retry_after_us, remaining}. The TAT is written with
 * string.format('%d') because tostring() would print it with 14 significant
 * digits and lose microseconds. TIME is allowed before a write because Redis
 * 7 replicates a script's effects, not the script.
 */
static const char gcra_script[] = "local t = redis.call('TIME')\n"
                                  "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
                                  "local interval = tonumber(ARGV[1])\n"
                                  "local tolerance = tonumber(ARGV[2])\n"
                                  "local tat = tonumber(redis.call('GET', KEYS[1]))\n"
                                  "if tat == nil or tat < now then tat = now end\n"
                                  "local new_tat = tat + interval\n"
                                  "local allow_at = new_tat - tolerance\n"
                                  "if now < allow_at then return {0, allow_at - now, 0} end\n"
                                  "redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX',\n"
                                  "    math.ceil((new_tat - now) / 1000))\n"
                                  "return {1, 0, math.floor((now - allow_at) / interval)}\n";

enum redis_status {
	REDIS_ST_OK,
	REDIS_ST_REPLY_ERROR, /* the server answered with an error */
	REDIS_ST_FAILED,      /* no answer: breaker open, connect, I/O, timeout */
};

struct yx_redis {
	redisContext *ctx;
	char *host;
	int port;
	char *user;
	char *password;
	char *prefix;
	size_t prefix_len;
	int connect_timeout_ms;
	int command_timeout_ms;
	struct yx_breaker breaker;
	bool script_loaded; /* EVAL has run on this connection */
	char script_sha[41];
	char last_error[256];
};

static int64_t
redis_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval
redis_timeval(int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static void
redis_set_error(struct yx_redis *r, const char *what, const char *detail)
{
	snprintf(r->last_error, sizeof(r->last_error), "%s%s%s", what,
	         detail != NULL && *detail != '\0' ? ": " : "", detail != NULL ? detail : "");
}

static char *
redis_strdup_or_null(const char *s, bool *failed)
{
	char *copy;

	if (s == NULL)
		return NULL;
	if ((copy = strdup(s)) == NULL)
		*failed = true;
	return copy;
}

static int
redis_script_sha(char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(gcra_script, sizeof(gcra_script) - 1, md, &len, EVP_sha1(), NULL) != 1 ||
	    len != 20)
		return -1;
	return yx_hex_encode(md, len, out, 41);
}

struct yx_redis *
yx_redis_new(const struct yx_redis_opts *opts)
{
	struct yx_redis *r;
	bool failed = false;

	if (opts == NULL || opts->port < 0 || opts->port > 65535 || opts->connect_timeout_ms < 0 ||
	    opts->command_timeout_ms < 0 || opts->breaker_cooldown_ms < 0)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->host = redis_strdup_or_null(
	    opts->host != NULL && *opts->host != '\0' ? opts->host : YX_REDIS_DEFAULT_HOST,
	    &failed);
	/* An empty user or password (an unset variable in a config file) means none. */
	r->user = redis_strdup_or_null(
	    opts->user != NULL && *opts->user != '\0' ? opts->user : NULL, &failed);
	r->password = redis_strdup_or_null(
	    opts->password != NULL && *opts->password != '\0' ? opts->password : NULL, &failed);
	r->prefix = redis_strdup_or_null(opts->prefix != NULL ? opts->prefix : "", &failed);
	if (failed || redis_script_sha(r->script_sha) == -1) {
		yx_redis_free(r);
		return NULL;
	}
	r->prefix_len = strlen(r->prefix);
	r->port = opts->port != 0 ? opts->port : YX_REDIS_DEFAULT_PORT;
	r->connect_timeout_ms =
	    opts->connect_timeout_ms != 0 ? opts->connect_timeout_ms : YX_REDIS_DEFAULT_CONNECT_MS;
	r->command_timeout_ms =
	    opts->command_timeout_ms != 0 ? opts->command_timeout_ms : YX_REDIS_DEFAULT_COMMAND_MS;
	yx_breaker_init(&r->breaker,
	                opts->breaker_failures != 0 ? opts->breaker_failures
	                                            : YX_REDIS_DEFAULT_BREAKER_FAILURES,
	                opts->breaker_cooldown_ms != 0 ? opts->breaker_cooldown_ms
	                                               : YX_REDIS_DEFAULT_BREAKER_COOLDOWN);
	return r;
}

static void
redis_drop(struct yx_redis *r)
{
	if (r->ctx != NULL) {
		redisFree(r->ctx);
		r->ctx = NULL;
	}
	r->script_loaded = false;
}

void
yx_redis_free(struct yx_redis *r)
{
	if (r == NULL)
		return;
	redis_drop(r);
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->host);
	free(r->user);
	free(r->prefix);
	free(r);
}

/*
 * A context error: drop the connection and count a failure. A blocking
 * hiredis context reports a socket timeout as EAGAIN; say "timed out".
 */
static enum redis_status
redis_fail_io(struct yx_redis *r, const char *what)
{
	int saved_errno = errno;
	char detail[160];

	if (r->ctx != NULL && r->ctx->err == REDIS_ERR_IO &&
	    (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
		snprintf(detail, sizeof(detail), "timed out after %d ms", r->command_timeout_ms);
	else if (r->ctx != NULL && r->ctx->errstr[0] != '\0')
		snprintf(detail, sizeof(detail), "%s", r->ctx->errstr);
	else
		snprintf(detail, sizeof(detail), "no reply");
	redis_set_error(r, what, detail);
	redis_drop(r);
	yx_breaker_failure(&r->breaker, redis_now_ms());
	return REDIS_ST_FAILED;
}

/* Connect, bound later waits by the command timeout, then AUTH. */
static enum redis_status
redis_connect(struct yx_redis *r)
{
	redisReply *reply;
	const char *argv[3];
	int argc = 0;

	r->ctx = redisConnectWithTimeout(r->host, r->port, redis_timeval(r->connect_timeout_ms));
	if (r->ctx == NULL) {
		redis_set_error(r, "connect", "out of memory");
		yx_breaker_failure(&r->breaker, redis_now_ms());
		return REDIS_ST_FAILED;
	}
	if (r->ctx->err != 0)
		return redis_fail_io(r, "connect");
	if (redisSetTimeout(r->ctx, redis_timeval(r->command_timeout_ms)) != REDIS_OK)
		return redis_fail_io(r, "connect: set timeout");
	if (redisEnableKeepAlive(r->ctx) != REDIS_OK)
		return redis_fail_io(r, "connect: keepalive");
	if (r->password == NULL)
		return REDIS_ST_OK;

	argv[argc++] = "AUTH";
	if (r->user != NULL)
		argv[argc++] = r->user;
	argv[argc++] = r->password;
	reply = redisCommandArgv(r->ctx, argc, argv, NULL);
	if (reply == NULL)
		return redis_fail_io(r, "auth");
	if (reply->type == REDIS_REPLY_ERROR) {
		/* Wrong credentials will not fix themselves: let the breaker pace retries. */
		redis_set_error(r, "auth", reply->str);
		freeReplyObject(reply);
		redis_drop(r);
		yx_breaker_failure(&r->breaker, redis_now_ms());
		return REDIS_ST_FAILED;
	}
	freeReplyObject(reply);
	return REDIS_ST_OK;
}

/*
 * Error replies that mean the server cannot serve at all, not that the
 * command was wrong. The codes are matched whole: BUSYGROUP (XGROUP CREATE on
 * an existing group) is an ordinary answer, BUSY (a script running too long)
 * is not.
 */
static bool
redis_error_is_unavailable(const char *msg)
{
	return strncmp(msg, "LOADING ", 8) == 0 || strncmp(msg, "BUSY ", 5) == 0 ||
	       strncmp(msg, "MASTERDOWN ", 11) == 0;
}

/*
 * Before a command: ask the breaker, connect if needed. REDIS_ST_OK when a
 * command may be sent on r->ctx.
 */
static enum redis_status
redis_begin(struct yx_redis *r)
{
	r->last_error[0] = '\0';
	if (!yx_breaker_allow(&r->breaker, redis_now_ms())) {
		redis_set_error(r, "circuit breaker open", NULL);
		return REDIS_ST_FAILED;
	}
	if (r->ctx == NULL)
		return redis_connect(r);
	return REDIS_ST_OK;
}

/*
 * After a command: classify hiredis's answer and tell the breaker. Takes the
 * reply; on REDIS_ST_OK hands it to *out, otherwise frees it and sets *out to
 * NULL.
 */
static enum redis_status
redis_finish(struct yx_redis *r, redisReply *reply, redisReply **out)
{
	*out = NULL;
	if (reply == NULL)
		return redis_fail_io(r, "command");
	if (reply->type == REDIS_REPLY_ERROR) {
		redis_set_error(r, reply->str, NULL);
		if (redis_error_is_unavailable(reply->str))
			yx_breaker_failure(&r->breaker, redis_now_ms());
		else
			yx_breaker_success(&r->breaker);
		freeReplyObject(reply);
		return REDIS_ST_REPLY_ERROR;
	}
	yx_breaker_success(&r->breaker);
	*out = reply;
	return REDIS_ST_OK;
}

static enum redis_status
redis_argv(struct yx_redis *r, redisReply **out, int argc, const char **argv, const size_t *lens)
{
	enum redis_status st;

	*out = NULL;
	if ((st = redis_begin(r)) != REDIS_ST_OK)
		return st;
	return redis_finish(r, redisCommandArgv(r->ctx, argc, argv, lens), out);
}

redisReply *
yx_redis_command(struct yx_redis *r, const char *fmt, ...)
{
	redisReply *reply = NULL;
	va_list ap;

	if (fmt == NULL) {
		redis_set_error(r, "no command", NULL);
		return NULL;
	}
	if (redis_begin(r) != REDIS_ST_OK)
		return NULL;
	va_start(ap, fmt);
	(void)redis_finish(r, redisvCommand(r->ctx, fmt, ap), &reply);
	va_end(ap);
	return reply;
}

redisReply *
yx_redis_commandargv(struct yx_redis *r, int argc, const char **argv, const size_t *lens)
{
	redisReply *reply;

	if (argc < 1 || argv == NULL) {
		redis_set_error(r, "no command", NULL);
		return NULL;
	}
	(void)redis_argv(r, &reply, argc, argv, lens);
	return reply;
}

const char *
yx_redis_last_error(const struct yx_redis *r)
{
	return r->last_error;
}

int
yx_redis_key(const struct yx_redis *r, char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (out == NULL || cap == 0)
		return -1;
	out[0] = '\0';
	if (fmt == NULL || r->prefix_len >= cap)
		return -1;
	memcpy(out, r->prefix, r->prefix_len);
	va_start(ap, fmt);
	n = vsnprintf(out + r->prefix_len, cap - r->prefix_len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - r->prefix_len) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

bool
yx_redis_ping(struct yx_redis *r)
{
	redisReply *reply;
	bool ok;

	if ((reply = yx_redis_command(r, "PING")) == NULL)
		return false;
	ok = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
	if (!ok)
		redis_set_error(r, "unexpected PING reply", NULL);
	freeReplyObject(reply);
	return ok;
}

const char *
yx_redis_state(const struct yx_redis *r)
{
	if (r->breaker.state != YX_BREAKER_CLOSED)
		return "open";
	return r->ctx != NULL ? "up" : "down";
}

/* Parse the script's {allowed, retry_after_us, remaining}. */
static enum yx_rl_result
redis_gcra_reply(struct yx_redis *r, const redisReply *reply, int64_t *retry_after_ms,
                 int64_t *remaining)
{
	size_t i;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
		redis_set_error(r, "gcra: unexpected reply", NULL);
		return YX_RL_ERROR;
	}
	for (i = 0; i < 3; i++) {
		if (reply->element[i]->type != REDIS_REPLY_INTEGER ||
		    reply->element[i]->integer < 0) {
			redis_set_error(r, "gcra: unexpected reply", NULL);
			return YX_RL_ERROR;
		}
	}
	*retry_after_ms = (reply->element[1]->integer + 999) / 1000;
	*remaining = reply->element[2]->integer;
	return reply->element[0]->integer == 1 ? YX_RL_ALLOWED : YX_RL_LIMITED;
}

enum yx_rl_result
yx_redis_gcra(struct yx_redis *r, const char *key, int64_t period_ms, int64_t limit, int64_t burst,
              int64_t *retry_after_ms, int64_t *remaining)
{
	char interval_s[24], tolerance_s[24];
	const char *argv[6];
	int64_t interval, tolerance, retry = 0, left = 0;
	enum yx_rl_result res = YX_RL_ERROR;
	enum redis_status st;
	redisReply *reply;

	if (key == NULL || yx_gcra_params(period_ms, limit, burst, &interval, &tolerance) == -1) {
		redis_set_error(r, "gcra: invalid parameters", NULL);
		goto out;
	}
	snprintf(interval_s, sizeof(interval_s), "%lld", (long long)interval);
	snprintf(tolerance_s, sizeof(tolerance_s), "%lld", (long long)tolerance);
	argv[2] = "1";
	argv[3] = key;
	argv[4] = interval_s;
	argv[5] = tolerance_s;

	if (r->script_loaded) {
		argv[0] = "EVALSHA";
		argv[1] = r->script_sha;
		st = redis_argv(r, &reply, 6, argv, NULL);
		if (st == REDIS_ST_REPLY_ERROR && strncmp(r->last_error, "NOSCRIPT", 8) == 0)
			r->script_loaded = false;
		else if (st != REDIS_ST_OK)
			goto out;
	}
	if (!r->script_loaded) {
		argv[0] = "EVAL";
		argv[1] = gcra_script;
		if (redis_argv(r, &reply, 6, argv, NULL) != REDIS_ST_OK)
			goto out;
		/* EVAL caches the script on the server, so EVALSHA works from now on. */
		r->script_loaded = true;
	}
	res = redis_gcra_reply(r, reply, &retry, &left);
	freeReplyObject(reply);
	if (res == YX_RL_ERROR)
		retry = left = 0;
out:
	if (retry_after_ms != NULL)
		*retry_after_ms = retry;
	if (remaining != NULL)
		*remaining = left;
	return res;
}

/* EVALSHA arguments of one count; false when its parameters are invalid. */
static bool
redis_gcra_args(const struct yx_redis *r, const struct yx_gcra_count *c, char interval_s[24],
                char tolerance_s[24], const char *argv[6])
{
	int64_t interval, tolerance;

	if (c->key == NULL ||
	    yx_gcra_params(c->period_ms, c->limit, c->burst, &interval, &tolerance) == -1)
		return false;
	snprintf(interval_s, 24, "%lld", (long long)interval);
	snprintf(tolerance_s, 24, "%lld", (long long)tolerance);
	argv[0] = "EVALSHA";
	argv[1] = r->script_sha;
	argv[2] = "1";
	argv[3] = c->key;
	argv[4] = interval_s;
	argv[5] = tolerance_s;
	return true;
}

#define GCRA_MANY_MAX 8

void
yx_redis_gcra_many(struct yx_redis *r, struct yx_gcra_count *counts, size_t n)
{
	char interval_s[GCRA_MANY_MAX][24], tolerance_s[GCRA_MANY_MAX][24];
	const char *argv[GCRA_MANY_MAX][6];
	bool sent[GCRA_MANY_MAX], noscript[GCRA_MANY_MAX];
	enum redis_status st;
	redisReply *reply, *out;
	size_t i;

	for (i = 0; i < n; i++) {
		counts[i].result = YX_RL_ERROR;
		counts[i].retry_after_ms = counts[i].remaining = 0;
	}
	/* Nothing to pipeline, or the script must be loaded with EVAL first. */
	if (n == 1 || n > GCRA_MANY_MAX || r->ctx == NULL || !r->script_loaded) {
		for (i = 0; i < n; i++)
			counts[i].result = yx_redis_gcra(
			    r, counts[i].key, counts[i].period_ms, counts[i].limit, counts[i].burst,
			    &counts[i].retry_after_ms, &counts[i].remaining);
		return;
	}
	if (redis_begin(r) != REDIS_ST_OK)
		return;
	for (i = 0; i < n; i++) {
		noscript[i] = false;
		sent[i] = redis_gcra_args(r, &counts[i], interval_s[i], tolerance_s[i], argv[i]) &&
		          redisAppendCommandArgv(r->ctx, 6, argv[i], NULL) == REDIS_OK;
	}
	for (i = 0; i < n; i++) {
		if (!sent[i])
			continue;
		reply = NULL;
		if (r->ctx == NULL || redisGetReply(r->ctx, (void **)&reply) != REDIS_OK)
			reply = NULL;
		if (reply == NULL && r->ctx == NULL)
			break; /* an earlier reply failed: the connection is gone */
		st = redis_finish(r, reply, &out);
		if (st == REDIS_ST_REPLY_ERROR && strncmp(r->last_error, "NOSCRIPT", 8) == 0) {
			noscript[i] = true;
			continue;
		}
		if (st != REDIS_ST_OK)
			continue;
		counts[i].result =
		    redis_gcra_reply(r, out, &counts[i].retry_after_ms, &counts[i].remaining);
		if (counts[i].result == YX_RL_ERROR)
			counts[i].retry_after_ms = counts[i].remaining = 0;
		freeReplyObject(out);
	}
	/* The server forgot the script (restart, SCRIPT FLUSH): EVAL loads it again. */
	for (i = 0; i < n; i++) {
		if (!noscript[i])
			continue;
		r->script_loaded = false;
		counts[i].result =
		    yx_redis_gcra(r, counts[i].key, counts[i].period_ms, counts[i].limit,
		                  counts[i].burst, &counts[i].retry_after_ms, &counts[i].remaining);
	}
}
