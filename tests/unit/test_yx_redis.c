/*
 * Tests for shared/yx_redis against real Redis servers: commands, key
 * prefixes, the GCRA script, AUTH, and the circuit breaker facing a refused
 * port, a killed connection and a hung server.
 *
 * Tests that only talk to Redis use the server given by YX_TEST_REDIS_HOST,
 * _PORT, _USER and _PASSWORD (set by scripts/test.sh). Tests that stop,
 * reconfigure or reset a server use a private redis-server started here on a
 * free loopback port and stopped by its pid; they also stand in for the
 * shared server when the environment names none.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "yx_redis.h"

struct fixture {
	/* the server most tests use */
	const char *host;
	int port;
	const char *user;
	const char *password;
	/* the private server */
	pid_t priv_pid;
	int priv_port;
	char prefix[64];
};

static struct fixture fx;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A loopback port nobody listens on right now. */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* A raw hiredis connection to the private server, for setup the wrapper must not do. */
static redisReply *
admin(const char *fmt, ...)
{
	struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
	redisContext *c;
	redisReply *reply;
	va_list ap;

	c = redisConnectWithTimeout("127.0.0.1", fx.priv_port, tv);
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	va_start(ap, fmt);
	reply = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	assert_non_null(reply);
	return reply;
}

static void
admin_ok(const char *fmt, const char *arg)
{
	redisReply *reply = admin(fmt, arg);

	if (reply->type == REDIS_REPLY_ERROR)
		fail_msg("%s: %s", fmt, reply->str);
	freeReplyObject(reply);
}

static bool
private_ready(void)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	redisContext *c;
	redisReply *reply;
	bool ok = false;

	c = redisConnectWithTimeout("127.0.0.1", fx.priv_port, tv);
	if (c != NULL && c->err == 0 && (reply = redisCommand(c, "PING")) != NULL) {
		ok = reply->type == REDIS_REPLY_STATUS;
		freeReplyObject(reply);
	}
	if (c != NULL)
		redisFree(c);
	return ok;
}

/* Start redis-server on a free port; false (and the reason printed) if it cannot run. */
static bool
private_start(void)
{
	const char *bin = getenv("YX_TEST_REDIS_SERVER");
	char port_s[16];
	int attempt, i, status, devnull;

	if (bin == NULL)
		bin = "/usr/bin/redis-server";
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "test_yx_redis: %s not found; set YX_TEST_REDIS_SERVER\n", bin);
		return false;
	}
	for (attempt = 0; attempt < 5; attempt++) {
		fx.priv_port = free_port();
		snprintf(port_s, sizeof(port_s), "%d", fx.priv_port);
		fx.priv_pid = fork();
		assert_true(fx.priv_pid >= 0);
		if (fx.priv_pid == 0) {
			/* never outlive the test, even if it crashes */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			devnull = open("/dev/null", O_RDWR);
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
			execl(bin, "redis-server", "--port", port_s, "--bind", "127.0.0.1",
			      "--save", "", "--appendonly", "no", "--daemonize", "no",
			      (char *)NULL);
			_exit(127);
		}
		for (i = 0; i < 100; i++) {
			if (private_ready())
				return true;
			if (waitpid(fx.priv_pid, &status, WNOHANG) == fx.priv_pid)
				break; /* lost the port race: try another */
			sleep_ms(50);
		}
		kill(fx.priv_pid, SIGKILL);
		waitpid(fx.priv_pid, &status, 0);
	}
	fx.priv_pid = 0;
	fprintf(stderr, "test_yx_redis: could not start %s\n", bin);
	return false;
}

static int
group_setup(void **state)
{
	const char *port;

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as in a Kore worker */
	if (!private_start())
		return -1;
	fx.host = getenv("YX_TEST_REDIS_HOST");
	if (fx.host != NULL && *fx.host != '\0') {
		port = getenv("YX_TEST_REDIS_PORT");
		fx.port = port != NULL ? atoi(port) : 6379;
		fx.user = getenv("YX_TEST_REDIS_USER");
		fx.password = getenv("YX_TEST_REDIS_PASSWORD");
		if (fx.user != NULL && *fx.user == '\0')
			fx.user = NULL;
		if (fx.password != NULL && *fx.password == '\0')
			fx.password = NULL;
	} else {
		fprintf(stderr, "test_yx_redis: YX_TEST_REDIS_HOST not set, "
		                "using a private redis-server\n");
		fx.host = "127.0.0.1";
		fx.port = fx.priv_port;
	}
	snprintf(fx.prefix, sizeof(fx.prefix), "yxtest:%ld:", (long)getpid());
	return 0;
}

static int
group_teardown(void **state)
{
	int status;

	(void)state;
	if (fx.priv_pid > 0) {
		kill(fx.priv_pid, SIGCONT);
		kill(fx.priv_pid, SIGTERM);
		waitpid(fx.priv_pid, &status, 0);
		fx.priv_pid = 0;
	}
	return 0;
}

/* A handle on the shared server with the test's prefix. */
static struct yx_redis *
shared_new(void)
{
	struct yx_redis_opts o = {
	    .host = fx.host,
	    .port = fx.port,
	    .user = fx.user,
	    .password = fx.password,
	    .prefix = fx.prefix,
	    .connect_timeout_ms = 1000,
	    .command_timeout_ms = 1000,
	};
	struct yx_redis *r = yx_redis_new(&o);

	assert_non_null(r);
	return r;
}

static struct yx_redis *
private_new(const char *user, const char *password, const char *prefix, int timeout_ms,
            unsigned failures, int cooldown_ms)
{
	struct yx_redis_opts o = {
	    .host = "127.0.0.1",
	    .port = fx.priv_port,
	    .user = user,
	    .password = password,
	    .prefix = prefix,
	    .connect_timeout_ms = timeout_ms,
	    .command_timeout_ms = timeout_ms,
	    .breaker_failures = failures,
	    .breaker_cooldown_ms = cooldown_ms,
	};
	struct yx_redis *r = yx_redis_new(&o);

	assert_non_null(r);
	return r;
}

static void
del_key(struct yx_redis *r, const char *key)
{
	redisReply *reply = yx_redis_command(r, "DEL %s", key);

	assert_non_null(reply);
	freeReplyObject(reply);
}

static void
test_new_validates_options(void **state)
{
	struct yx_redis_opts o;
	struct yx_redis *r;

	(void)state;
	assert_null(yx_redis_new(NULL));
	memset(&o, 0, sizeof(o));
	o.port = -1;
	assert_null(yx_redis_new(&o));
	o.port = 65536;
	assert_null(yx_redis_new(&o));
	o.port = 0;
	o.command_timeout_ms = -1;
	assert_null(yx_redis_new(&o));
	o.command_timeout_ms = 0;
	o.connect_timeout_ms = -1;
	assert_null(yx_redis_new(&o));
	o.connect_timeout_ms = 0;
	o.breaker_cooldown_ms = -1;
	assert_null(yx_redis_new(&o));
	o.breaker_cooldown_ms = 0;
	/* all defaults; nothing connects yet */
	r = yx_redis_new(&o);
	assert_non_null(r);
	assert_string_equal(yx_redis_state(r), "down");
	assert_string_equal(yx_redis_last_error(r), "");
	yx_redis_free(r);
	yx_redis_free(NULL);
}

static void
test_commands(void **state)
{
	static const char bin[] = {'a', '\0', 'b', ' ', '\n'};
	struct yx_redis *r = shared_new();
	char key[128], key2[128];
	const char *argv[3];
	size_t lens[3];
	redisReply *reply;

	(void)state;
	assert_int_equal(yx_redis_key(r, key, sizeof(key), "{t}:bin"), 0);
	assert_int_equal(yx_redis_key(r, key2, sizeof(key2), "{t}:count"), 0);
	assert_true(yx_redis_ping(r));
	assert_string_equal(yx_redis_state(r), "up");

	/* binary-safe value through the format interface */
	reply = yx_redis_command(r, "SET %s %b", key, bin, sizeof(bin));
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STATUS);
	freeReplyObject(reply);
	reply = yx_redis_command(r, "GET %s", key);
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STRING);
	assert_int_equal(reply->len, sizeof(bin));
	assert_memory_equal(reply->str, bin, sizeof(bin));
	freeReplyObject(reply);

	/* argv interface, with and without lengths */
	argv[0] = "INCRBY";
	argv[1] = key2;
	argv[2] = "41";
	reply = yx_redis_commandargv(r, 3, argv, NULL);
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
	assert_int_equal(reply->integer, 41);
	freeReplyObject(reply);
	argv[2] = "1xyz";
	lens[0] = 6;
	lens[1] = strlen(key2);
	lens[2] = 1;
	reply = yx_redis_commandargv(r, 3, argv, lens);
	assert_non_null(reply);
	assert_int_equal(reply->integer, 42);
	freeReplyObject(reply);
	assert_string_equal(yx_redis_last_error(r), "");

	/* an error reply is NULL, with the reason kept, and the connection stays */
	assert_null(yx_redis_command(r, "LPUSH %s x", key2));
	assert_memory_equal(yx_redis_last_error(r), "WRONGTYPE", 9);
	assert_string_equal(yx_redis_state(r), "up");
	assert_null(yx_redis_command(r, "NOSUCHCOMMAND"));
	assert_non_null(strstr(yx_redis_last_error(r), "unknown command"));
	assert_null(yx_redis_commandargv(r, 0, argv, NULL));
	assert_null(yx_redis_command(r, NULL));
	reply = yx_redis_command(r, "GET %s", key2);
	assert_non_null(reply);
	assert_string_equal(reply->str, "42");
	freeReplyObject(reply);
	assert_string_equal(yx_redis_last_error(r), "");

	del_key(r, key);
	del_key(r, key2);
	yx_redis_free(r);
}

static void
test_key_building(void **state)
{
	struct yx_redis_opts o = {.prefix = "mall:"};
	struct yx_redis *r, *bare;
	char out[32];

	(void)state;
	r = yx_redis_new(&o);
	assert_non_null(r);
	assert_int_equal(yx_redis_key(r, out, sizeof(out), "{item:%d}:stock", 42), 0);
	assert_string_equal(out, "mall:{item:42}:stock");

	/* "mall:" + "{item:42}:stock" is 20 bytes: 21 fits, 20 does not */
	assert_int_equal(yx_redis_key(r, out, 21, "{item:%d}:stock", 42), 0);
	assert_string_equal(out, "mall:{item:42}:stock");
	assert_int_equal(yx_redis_key(r, out, 20, "{item:%d}:stock", 42), -1);
	assert_string_equal(out, "");
	/* too small even for the prefix */
	strcpy(out, "junk");
	assert_int_equal(yx_redis_key(r, out, 5, "x"), -1);
	assert_string_equal(out, "");
	assert_int_equal(yx_redis_key(r, out, 0, "x"), -1);
	assert_int_equal(yx_redis_key(r, NULL, 10, "x"), -1);
	/* an empty rest is just the prefix */
	assert_int_equal(yx_redis_key(r, out, sizeof(out), "%s", ""), 0);
	assert_string_equal(out, "mall:");
	yx_redis_free(r);

	memset(&o, 0, sizeof(o));
	bare = yx_redis_new(&o);
	assert_non_null(bare);
	assert_int_equal(yx_redis_key(bare, out, sizeof(out), "pub:user:%s", "7"), 0);
	assert_string_equal(out, "pub:user:7");
	yx_redis_free(bare);
}

static void
test_gcra_script(void **state)
{
	struct yx_redis *r = shared_new();
	int64_t retry, remaining, pttl, t0, elapsed_ms;
	enum yx_rl_result res;
	redisReply *reply;
	char key[128];
	int i;

	(void)state;
	assert_int_equal(yx_redis_key(r, key, sizeof(key), "{rl}:login"), 0);
	del_key(r, key);
	/* 5 per second, burst 5 */
	t0 = now_us();
	for (i = 0; i < 5; i++) {
		res = yx_redis_gcra(r, key, 1000, 5, 5, &retry, &remaining);
		assert_int_equal(res, YX_RL_ALLOWED);
		assert_int_equal(retry, 0);
		assert_int_equal(remaining, 4 - i);
	}
	res = yx_redis_gcra(r, key, 1000, 5, 5, &retry, &remaining);
	assert_int_equal(res, YX_RL_LIMITED);
	assert_int_equal(remaining, 0);
	/* one every 200 ms: the wait is that, less the time these calls took */
	elapsed_ms = (now_us() - t0) / 1000;
	assert_true(retry <= 200 && retry >= 200 - elapsed_ms - 1);
	print_message("gcra: retry-after after a burst of 5 at 5/s: %lld ms\n", (long long)retry);

	/* the key expires once the burst would be back: about 1 s */
	reply = yx_redis_command(r, "PTTL %s", key);
	assert_non_null(reply);
	pttl = reply->integer;
	freeReplyObject(reply);
	assert_true(pttl > 500 && pttl <= 1000);

	/* waiting retry-after is enough */
	sleep_ms(retry);
	assert_int_equal(yx_redis_gcra(r, key, 1000, 5, 5, &retry, &remaining), YX_RL_ALLOWED);
	t0 = now_us();
	assert_int_equal(yx_redis_gcra(r, key, 1000, 5, 5, &retry, NULL), YX_RL_LIMITED);
	elapsed_ms = (now_us() - t0) / 1000;
	assert_true(retry <= 200 && retry >= 150 - elapsed_ms);

	/* invalid parameters never reach Redis */
	retry = remaining = 9;
	assert_int_equal(yx_redis_gcra(r, key, 0, 5, 5, &retry, &remaining), YX_RL_ERROR);
	assert_int_equal(retry, 0);
	assert_int_equal(remaining, 0);
	assert_int_equal(yx_redis_gcra(r, key, 1000, 0, 5, NULL, NULL), YX_RL_ERROR);
	assert_int_equal(yx_redis_gcra(r, key, 1000, 5, 0, NULL, NULL), YX_RL_ERROR);
	assert_int_equal(yx_redis_gcra(r, NULL, 1000, 5, 5, NULL, NULL), YX_RL_ERROR);

	del_key(r, key);
	yx_redis_free(r);
}

static void
test_gcra_script_steady_rate(void **state)
{
	struct yx_redis *r = shared_new();
	int64_t t0, elapsed_us, allowed = 0, expected;
	char key[128];

	(void)state;
	assert_int_equal(yx_redis_key(r, key, sizeof(key), "{rl}:steady"), 0);
	del_key(r, key);
	/* 100 per second, burst 5, asked every millisecond for about 600 ms */
	t0 = now_us();
	while (now_us() - t0 < 600000) {
		if (yx_redis_gcra(r, key, 1000, 100, 5, NULL, NULL) == YX_RL_ALLOWED)
			allowed++;
		sleep_ms(1);
	}
	elapsed_us = now_us() - t0;
	/* the burst, then one per 10 ms of the server's clock */
	expected = 5 + elapsed_us / 10000;
	print_message("gcra: %lld allowed in %.0f ms at 100/s burst 5 (expected about %lld)\n",
	              (long long)allowed, elapsed_us / 1000.0, (long long)expected);
	assert_true(allowed >= expected - 2 && allowed <= expected + 1);
	del_key(r, key);
	yx_redis_free(r);
}

/* calls=N for one command in INFO commandstats of the private server. */
static long
command_calls(const char *name)
{
	redisReply *reply = admin("INFO commandstats");
	char needle[64];
	const char *p;
	long calls = 0;

	snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", name);
	if ((p = strstr(reply->str, needle)) != NULL)
		calls = strtol(p + strlen(needle), NULL, 10);
	freeReplyObject(reply);
	return calls;
}

static void
test_gcra_evalsha_and_noscript(void **state)
{
	struct yx_redis *r;
	int64_t retry;
	int i;

	(void)state;
	admin_ok("ACL SETUSER yxrl on >rl-pass resetkeys ~rl:* +@all -script %s", "-debug");
	r = private_new("yxrl", "rl-pass", "rl:", 1000, 3, 1000);
	admin_ok("CONFIG RESETSTAT%s", "");
	admin_ok("SCRIPT FLUSH%s", "");

	/* EVAL once on a connection, then EVALSHA */
	for (i = 0; i < 3; i++)
		assert_int_equal(yx_redis_gcra(r, "rl:{a}:x", 60000, 100, 10, &retry, NULL),
		                 YX_RL_ALLOWED);
	assert_int_equal(command_calls("eval"), 1);
	assert_int_equal(command_calls("evalsha"), 2);

	/* the script cache is lost (restart, failover): NOSCRIPT, then EVAL again */
	admin_ok("SCRIPT FLUSH%s", "");
	assert_int_equal(yx_redis_gcra(r, "rl:{a}:x", 60000, 100, 10, &retry, NULL), YX_RL_ALLOWED);
	assert_int_equal(command_calls("eval"), 2);
	assert_int_equal(command_calls("evalsha"), 3);
	assert_int_equal(yx_redis_gcra(r, "rl:{a}:x", 60000, 100, 10, &retry, NULL), YX_RL_ALLOWED);
	assert_int_equal(command_calls("evalsha"), 4);

	/* the ACL refuses SCRIPT to this user, and nothing needed it */
	assert_null(yx_redis_command(r, "SCRIPT FLUSH"));
	assert_memory_equal(yx_redis_last_error(r), "NOPERM", 6);
	/* a key outside the user's prefix is refused: ERROR, and the breaker stays closed */
	assert_int_equal(yx_redis_gcra(r, "other:{a}:x", 60000, 100, 10, &retry, NULL),
	                 YX_RL_ERROR);
	assert_memory_equal(yx_redis_last_error(r), "NOPERM", 6);
	assert_string_equal(yx_redis_state(r), "up");

	yx_redis_free(r);
	admin_ok("ACL DELUSER %s", "yxrl");
}

static void
test_gcra_many_pipelined(void **state)
{
	struct yx_redis *r;
	struct yx_gcra_count c[3];
	int i;

	(void)state;
	admin_ok("ACL SETUSER yxrlm on >rlm-pass resetkeys ~rlm:* +@all -script %s", "-debug");
	r = private_new("yxrlm", "rlm-pass", "rlm:", 1000, 3, 1000);
	admin_ok("SCRIPT FLUSH%s", "");
	memset(c, 0, sizeof(c));
	c[0] = (struct yx_gcra_count){
	    .key = "rlm:{ip:1}:read", .period_ms = 60000, .limit = 60, .burst = 2};
	c[1] = (struct yx_gcra_count){
	    .key = "rlm:{user:7}:read", .period_ms = 60000, .limit = 60, .burst = 3};
	c[2] = (struct yx_gcra_count){.key = "rlm:{bad}", .period_ms = 0, .limit = 1, .burst = 1};

	/* The first call loads the script; later ones pipeline. */
	admin_ok("CONFIG RESETSTAT%s", "");
	for (i = 0; i < 4; i++) {
		yx_redis_gcra_many(r, c, 3);
		assert_int_equal(c[0].result, i < 2 ? YX_RL_ALLOWED : YX_RL_LIMITED);
		assert_int_equal(c[1].result, i < 3 ? YX_RL_ALLOWED : YX_RL_LIMITED);
		assert_int_equal(c[2].result, YX_RL_ERROR);
	}
	assert_int_equal(command_calls("eval"), 1);
	assert_int_equal(command_calls("evalsha"), 7);
	assert_int_equal(c[0].remaining, 0);
	assert_true(c[0].retry_after_ms > 0 && c[0].retry_after_ms <= 2000);
	assert_true(c[1].retry_after_ms > 0 && c[1].retry_after_ms <= 1000);

	/* The script cache lost: NOSCRIPT, then EVAL again; every count still counts. */
	admin_ok("SCRIPT FLUSH%s", "");
	admin_ok("DEL rlm:{ip:1}:read rlm:{user:7}:read%s", "");
	yx_redis_gcra_many(r, c, 2);
	assert_int_equal(c[0].result, YX_RL_ALLOWED);
	assert_int_equal(c[1].result, YX_RL_ALLOWED);
	yx_redis_gcra_many(r, c, 2);
	assert_int_equal(c[0].result, YX_RL_ALLOWED);
	assert_int_equal(c[0].remaining, 0);
	assert_int_equal(c[1].remaining, 1);

	/* A refused key is ERROR alone. */
	c[1].key = "other:{user:7}:read";
	yx_redis_gcra_many(r, c, 2);
	assert_int_equal(c[0].result, YX_RL_LIMITED);
	assert_int_equal(c[1].result, YX_RL_ERROR);
	assert_string_equal(yx_redis_state(r), "up");

	yx_redis_free(r);
	admin_ok("ACL DELUSER %s", "yxrlm");
}

static void
test_auth(void **state)
{
	struct yx_redis *r;
	redisReply *reply;

	(void)state;
	admin_ok("ACL SETUSER yxauth on >right-pass resetkeys ~auth:* +@all %s", "-debug");

	r = private_new("yxauth", "wrong-pass", "auth:", 1000, 2, 60000);
	assert_null(yx_redis_command(r, "SET auth:k 1"));
	assert_non_null(strstr(yx_redis_last_error(r), "WRONGPASS"));
	assert_string_equal(yx_redis_state(r), "down");
	assert_false(yx_redis_ping(r));
	/* refused credentials count towards the breaker: it stops trying */
	assert_string_equal(yx_redis_state(r), "open");
	assert_null(yx_redis_command(r, "SET auth:k 1"));
	assert_string_equal(yx_redis_last_error(r), "circuit breaker open");
	yx_redis_free(r);

	r = private_new("yxauth", "right-pass", "auth:", 1000, 2, 60000);
	reply = yx_redis_command(r, "SET auth:k 1");
	assert_non_null(reply);
	freeReplyObject(reply);
	/* the ACL confines the user to its prefix */
	assert_null(yx_redis_command(r, "SET identity:k 1"));
	assert_memory_equal(yx_redis_last_error(r), "NOPERM", 6);
	reply = yx_redis_command(r, "DEL auth:k");
	assert_non_null(reply);
	freeReplyObject(reply);
	yx_redis_free(r);

	admin_ok("ACL DELUSER %s", "yxauth");
}

static void
test_connection_refused(void **state)
{
	struct yx_redis_opts o = {
	    .host = "127.0.0.1",
	    .port = free_port(),
	    .connect_timeout_ms = 200,
	    .command_timeout_ms = 200,
	    .breaker_failures = 2,
	    .breaker_cooldown_ms = 60000,
	};
	struct yx_redis *r = yx_redis_new(&o);
	int64_t t0;

	(void)state;
	assert_non_null(r);
	t0 = now_us();
	assert_null(yx_redis_command(r, "PING"));
	assert_true(now_us() - t0 < 200000);
	assert_non_null(strstr(yx_redis_last_error(r), "connect"));
	assert_string_equal(yx_redis_state(r), "down");
	assert_false(yx_redis_ping(r));
	assert_string_equal(yx_redis_state(r), "open");
	assert_int_equal(yx_redis_gcra(r, "k", 1000, 1, 1, NULL, NULL), YX_RL_ERROR);
	assert_string_equal(yx_redis_last_error(r), "circuit breaker open");
	yx_redis_free(r);
}

static void
test_killed_connection_reconnects(void **state)
{
	struct yx_redis *r = private_new(NULL, NULL, "", 1000, 3, 1000);
	redisReply *reply;

	(void)state;
	assert_true(yx_redis_ping(r));
	/* the server drops every ordinary client, as on a restart */
	reply = admin("CLIENT KILL TYPE normal SKIPME yes");
	freeReplyObject(reply);
	assert_null(yx_redis_command(r, "PING"));
	assert_string_equal(yx_redis_state(r), "down");
	/* one failure is below the threshold: the next call connects afresh */
	assert_true(yx_redis_ping(r));
	assert_string_equal(yx_redis_state(r), "up");
	yx_redis_free(r);
}

static void
test_error_replies_and_the_breaker(void **state)
{
	struct yx_redis *r = private_new(NULL, NULL, "", 1000, 1, 60000);
	struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
	redisContext *c;
	redisReply *reply;
	pid_t pid;
	int status;

	(void)state;
	/* an ordinary error answer, even BUSYGROUP, leaves a one-failure breaker closed */
	reply = yx_redis_command(r, "XGROUP CREATE errs:s g $ MKSTREAM");
	assert_non_null(reply);
	freeReplyObject(reply);
	assert_null(yx_redis_command(r, "XGROUP CREATE errs:s g $ MKSTREAM"));
	assert_memory_equal(yx_redis_last_error(r), "BUSYGROUP", 9);
	assert_string_equal(yx_redis_state(r), "up");

	/* BUSY, a script that will not finish, says the server cannot serve */
	admin_ok("CONFIG SET busy-reply-threshold %s", "50");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		c = redisConnectWithTimeout("127.0.0.1", fx.priv_port, tv);
		if (c != NULL && c->err == 0)
			freeReplyObject(
			    redisCommand(c, "EVAL %s 0",
			                 "local s = redis.call('TIME') local n = s repeat n = "
			                 "redis.call('TIME') "
			                 "until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 400000"));
		_exit(0);
	}
	sleep_ms(150);
	assert_null(yx_redis_command(r, "PING"));
	assert_memory_equal(yx_redis_last_error(r), "BUSY ", 5);
	assert_string_equal(yx_redis_state(r), "open");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	admin_ok("CONFIG SET busy-reply-threshold %s", "5000");
	admin_ok("DEL %s", "errs:s");
	yx_redis_free(r);
}

/* read and write syscalls made by this process so far, from /proc/self/io */
static long long
syscalls_rw(void)
{
	char buf[512];
	long long cr = -1, cw = -1;
	const char *p;
	ssize_t n;
	int fd;

	fd = open("/proc/self/io", O_RDONLY);
	if (fd == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "syscr: ")) != NULL)
		cr = atoll(p + 7);
	if ((p = strstr(buf, "syscw: ")) != NULL)
		cw = atoll(p + 7);
	return cr < 0 || cw < 0 ? -1 : cr + cw;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static bool
under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

static void
test_hung_server_opens_the_breaker(void **state)
{
	const int timeout_ms = 200, cooldown_ms = 600, fast_calls = 10000;
	struct yx_redis *r = private_new(NULL, NULL, "hung:", timeout_ms, 2, cooldown_ms);
	int64_t t0, dt, total = 0, *samples;
	long long io_before, io_after;
	int i;

	(void)state;
	assert_true(yx_redis_ping(r));

	assert_int_equal(kill(fx.priv_pid, SIGSTOP), 0);

	/* first failure: the connected socket times out after command_timeout_ms */
	t0 = now_us();
	assert_null(yx_redis_command(r, "SET hung:k 1"));
	dt = now_us() - t0;
	print_message("hung redis: first command failed after %.1f ms (%s)\n", dt / 1000.0,
	              yx_redis_last_error(r));
	assert_true(dt >= (timeout_ms - 20) * 1000 && dt < (timeout_ms * 3) * 1000);
	assert_string_equal(yx_redis_state(r), "down");

	/* second: the kernel still accepts the connection, the command times out */
	t0 = now_us();
	assert_null(yx_redis_command(r, "SET hung:k 2"));
	dt = now_us() - t0;
	print_message("hung redis: second command (reconnect) failed after %.1f ms\n", dt / 1000.0);
	assert_true(dt < (timeout_ms * 3) * 1000);
	assert_string_equal(yx_redis_state(r), "open");

	/*
	 * Open: fail fast, without touching the network. Any I/O would wait for
	 * the stopped server for command_timeout_ms, and outside valgrind (whose
	 * own reads and writes are counted too) the process makes no read or
	 * write system call at all.
	 */
	samples = calloc(fast_calls, sizeof(*samples));
	assert_non_null(samples);
	io_before = syscalls_rw();
	for (i = 0; i < fast_calls; i++) {
		t0 = now_us();
		assert_null(yx_redis_command(r, "GET hung:k"));
		samples[i] = now_us() - t0;
	}
	io_after = syscalls_rw();
	assert_string_equal(yx_redis_last_error(r), "circuit breaker open");
	for (i = 0; i < fast_calls; i++)
		total += samples[i];
	qsort(samples, fast_calls, sizeof(*samples), cmp_i64);
	print_message("hung redis: breaker open, %d calls: mean %.3f us, p99 %lld us, worst %lld "
	              "us, read/write syscalls %lld\n",
	              fast_calls, (double)total / fast_calls,
	              (long long)samples[fast_calls * 99 / 100], (long long)samples[fast_calls - 1],
	              io_after - io_before - 1);
	assert_true(samples[fast_calls * 99 / 100] < 1000);
	assert_true(samples[fast_calls - 1] < timeout_ms * 1000 * 3 / 4);
	free(samples);
	if (io_before >= 0 && io_after >= 0 && !under_valgrind())
		assert_true(io_after - io_before <= 1); /* the read of /proc/self/io itself */
	assert_int_equal(yx_redis_gcra(r, "hung:{x}", 1000, 1, 1, NULL, NULL), YX_RL_ERROR);

	/* after the cooldown one trial goes out; still hung, so it fails and re-opens */
	sleep_ms(cooldown_ms + 20);
	t0 = now_us();
	assert_false(yx_redis_ping(r));
	dt = now_us() - t0;
	print_message("hung redis: half-open trial failed after %.1f ms\n", dt / 1000.0);
	assert_true(dt < (timeout_ms * 3) * 1000);
	assert_string_equal(yx_redis_state(r), "open");
	t0 = now_us();
	assert_false(yx_redis_ping(r));
	assert_true(now_us() - t0 < 1000);

	/* the server comes back; calls keep failing fast until the cooldown is over */
	assert_int_equal(kill(fx.priv_pid, SIGCONT), 0);
	t0 = now_us();
	assert_false(yx_redis_ping(r));
	assert_true(now_us() - t0 < 1000);
	sleep_ms(cooldown_ms + 20);
	t0 = now_us();
	assert_true(yx_redis_ping(r));
	print_message("hung redis: recovered after the cooldown, trial took %.1f ms\n",
	              (now_us() - t0) / 1000.0);
	assert_string_equal(yx_redis_state(r), "up");
	assert_true(yx_redis_ping(r));
	yx_redis_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_validates_options),
	    cmocka_unit_test(test_commands),
	    cmocka_unit_test(test_key_building),
	    cmocka_unit_test(test_gcra_script),
	    cmocka_unit_test(test_gcra_script_steady_rate),
	    cmocka_unit_test(test_gcra_evalsha_and_noscript),
	    cmocka_unit_test(test_gcra_many_pipelined),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test(test_killed_connection_reconnects),
	    cmocka_unit_test(test_error_replies_and_the_breaker),
	    cmocka_unit_test(test_hung_server_opens_the_breaker),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
