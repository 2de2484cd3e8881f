/*
 * yx_service.c - the process side of every service binary: the command line,
 * the Kore server configured from YX_* variables (listener, TLS, workers,
 * shutdown grace, pgsql pool), the keys, the per-worker Redis handle, and the seccomp additions
 * that libpq and hiredis need inside Kore's worker sandbox.
 *
 * Kore runs as a single binary here: its configuration (routes and limits)
 * is the service's .conf embedded at build time; everything that differs
 * between machines comes from the environment and is applied in
 * kore_parent_configure(), which Kore calls before it parses that file.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kore/kore.h>
#include <kore/hooks.h>
#include <kore/http.h>
#include <kore/pgsql.h>
#include <kore/seccomp.h>

#include "yx_config.h"
#include "yx_db.h"
#include "yx_health.h"
#include "yx_http.h"
#include "yx_log.h"
#include "yx_migrate.h"
#include "yx_redis.h"
#include "yx_service.h"

struct yx_app yx_app;

static char listen_host[256];
static char listen_port[16];
static char pidfile_path[PATH_MAX];
static char tls_cert_path[PATH_MAX];
static char tls_key_path[PATH_MAX];
static char dsn_buf[2048];

void kore_parent_configure(int, char **);
void kore_worker_configure(void);
void kore_worker_teardown(void);

int64_t
yx_now(void)
{
	return (int64_t)time(NULL);
}

int64_t
yx_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: yx-%s [command]\n\n"
	        "commands:\n"
	        "  serve      run the service in the foreground (default)\n"
	        "  migrate    apply pending database migrations\n"
	        "%s"
	        "  help       this text\n\n"
	        "configuration comes from YX_* environment variables; see README.md\n",
	        yx_service_def.name,
	        yx_service_def.commands_help ? yx_service_def.commands_help : "");
}

/*
 * Splits "host:port" (or "[v6]:port") from YX_LISTEN into the static
 * buffers Kore's bind takes. Returns -1 on a malformed value.
 */
static int
parse_listen(const char *spec)
{
	const char *colon;
	size_t hlen;
	long long port;
	char *end;

	colon = strrchr(spec, ':');
	if (colon == NULL || colon == spec)
		return -1;
	hlen = (size_t)(colon - spec);
	if (spec[0] == '[' && hlen > 2 && spec[hlen - 1] == ']') {
		spec++;
		hlen -= 2;
	}
	if (hlen >= sizeof(listen_host))
		return -1;
	errno = 0;
	port = strtoll(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
		return -1;
	memcpy(listen_host, spec, hlen);
	listen_host[hlen] = '\0';
	snprintf(listen_port, sizeof(listen_port), "%lld", port);
	return 0;
}

/*
 * libpq under Kore's sandbox: GSS probing and the ~/.pgpass lookup make
 * system calls the worker filter refuses (PLATFORM.md), so the DSN always
 * carries gssencmode=disable and the service refuses one without a password.
 */
static int
prepare_dsn(const char *dsn)
{
	int n;

	if (strstr(dsn, "password=") == NULL) {
		fprintf(stderr, "YX_DB_DSN must carry password= (libpq would read ~/.pgpass)\n");
		return -1;
	}
	if (strstr(dsn, "gssencmode=") != NULL)
		n = snprintf(dsn_buf, sizeof(dsn_buf), "%s", dsn);
	else
		n = snprintf(dsn_buf, sizeof(dsn_buf), "%s gssencmode=disable", dsn);
	if (n < 0 || (size_t)n >= sizeof(dsn_buf)) {
		fprintf(stderr, "YX_DB_DSN is too long\n");
		return -1;
	}
	yx_app.dsn = dsn_buf;
	return 0;
}

static int
load_common_config(void)
{
	long long v;
	enum yx_log_level lvl;

	if (yx_log_level_parse(yx_config_str("YX_LOG_LEVEL", "info"), &lvl) == -1) {
		fprintf(stderr, "YX_LOG_LEVEL: expected debug, info, warn or error\n");
		return -1;
	}
	yx_log_init(yx_service_def.name, lvl);

	if (yx_config_int("YX_IDENTITY_MAX_SKEW", 30, 1, 600, &v) == -1)
		return -1;
	yx_app.identity_max_skew = v;
	yx_app.sql_dir = yx_config_str("YX_SQL_DIR", NULL);
	if (yx_service_def.use_db &&
	    prepare_dsn(yx_config_str("YX_DB_DSN", "host=127.0.0.1 port=55432 dbname=yuexiang")) ==
	        -1)
		return -1;
	return 0;
}

static int
cmd_migrate(void)
{
	char dir[PATH_MAX];
	const char *d;

	if (!yx_service_def.use_db) {
		fprintf(stderr, "yx-%s has no database\n", yx_service_def.name);
		return 1;
	}
	d = yx_app.sql_dir;
	if (d == NULL) {
		snprintf(dir, sizeof(dir), "services/%s/sql", yx_service_def.name);
		d = dir;
	}
	return yx_migrate_run(yx_app.dsn, yx_service_def.name, d, stdout) == 0 ? 0 : 1;
}

/*
 * YX_TLS_CERT and YX_TLS_KEY (PEM paths, both or neither): the listener
 * serves HTTPS. Kore's built-in configuration names no certificate, so every
 * domain takes these (patched Kore); the private key is read only by Kore's
 * key manager process, which signs handshakes for the workers. Returns 1
 * for TLS, 0 for plain HTTP, -1 with a message on a bad value.
 */
static int
configure_tls(void)
{
	const char *cert, *key;

	cert = yx_config_str("YX_TLS_CERT", "");
	key = yx_config_str("YX_TLS_KEY", "");
	if (cert[0] == '\0' && key[0] == '\0')
		return 0;
	if (cert[0] == '\0' || key[0] == '\0') {
		fprintf(stderr, "YX_TLS_CERT and YX_TLS_KEY go together\n");
		return -1;
	}
	/* Absolute: the key manager resolves them after changing directory. */
	if (realpath(cert, tls_cert_path) == NULL || access(tls_cert_path, R_OK) == -1) {
		fprintf(stderr, "YX_TLS_CERT: cannot read %s: %s\n", cert, strerror(errno));
		return -1;
	}
	if (realpath(key, tls_key_path) == NULL || access(tls_key_path, R_OK) == -1) {
		fprintf(stderr, "YX_TLS_KEY: cannot read %s: %s\n", key, strerror(errno));
		return -1;
	}
	kore_tls_default_certfile = tls_cert_path;
	kore_tls_default_certkey = tls_key_path;
	return 1;
}

/* Reads keys and sets Kore's globals for `serve`. Exits on bad config. */
static void
configure_server(void)
{
	struct kore_server *srv;
	char deflisten[64];
	long long v;
	int tls;

	if (yx_config_key("YX_INTERNAL_KEY", yx_app.internal_key, 32) == -1)
		exit(2);
	yx_app.have_internal_key = true;
	if (yx_service_def.use_db && yx_config_key("YX_CURSOR_KEY", yx_app.cursor_key, 32) == -1)
		exit(2);

	snprintf(deflisten, sizeof(deflisten), "127.0.0.1:%u", yx_service_def.default_port);
	if (parse_listen(yx_config_str("YX_LISTEN", deflisten)) == -1) {
		fprintf(stderr, "YX_LISTEN: expected host:port\n");
		exit(2);
	}

	if (yx_config_int("YX_WORKERS", 2, 1, 64, &v) == -1)
		exit(2);
	worker_count = (u_int8_t)v;
	worker_set_affinity = 0;
	worker_policy = KORE_WORKER_POLICY_RESTART;
	if (yx_config_int("YX_MAX_CONNECTIONS", 4096, 16, 65536, &v) == -1)
		exit(2);
	worker_max_connections = (u_int32_t)v;
	worker_rlimit_nofiles = (u_int32_t)v * 2 + 64;

	kore_foreground = 1;
	skip_chroot = 1;
	skip_runas = 1;
	kore_quiet = yx_config_str("YX_KORE_VERBOSE", NULL) == NULL;

	/* Kore writes and later unlinks its pid file: never let it be a shared path. */
	snprintf(pidfile_path, sizeof(pidfile_path), "%s", yx_config_str("YX_PIDFILE", ""));
	if (pidfile_path[0] == '\0')
		snprintf(pidfile_path, sizeof(pidfile_path), "/tmp/yx-%s.%s.pid",
		         yx_service_def.name, listen_port);
	kore_pidfile = pidfile_path;

	/* SIGTERM: stop accepting, finish what is in flight, exit (patched Kore). */
	if (yx_config_int("YX_SHUTDOWN_GRACE_MS", 10000, 0, 60000, &v) == -1)
		exit(2);
	worker_shutdown_grace = (u_int32_t)v;
	if (yx_http_configure() == -1)
		exit(2);
	if ((tls = configure_tls()) == -1)
		exit(2);

	srv = kore_server_create("main");
	srv->tls = tls;
	if (!kore_server_bind(srv, listen_host, listen_port, NULL)) {
		fprintf(stderr, "cannot listen on %s:%s\n", listen_host, listen_port);
		exit(2);
	}
	kore_server_finalize(srv);

	if (yx_service_def.use_db) {
		/* PLATFORM.md: 2 connections per worker starve waiters; 4 do not. */
		if (yx_config_int("YX_DB_CONNS", 4, 1, 64, &v) == -1)
			exit(2);
		pgsql_conn_max = (u_int16_t)v;
		if (yx_config_int("YX_DB_QUEUE", 1000, 1, 100000, &v) == -1)
			exit(2);
		pgsql_queue_limit = (u_int32_t)v;
		/* Connecting blocks a worker: keep it short (patched Kore). */
		if (yx_config_int("YX_DB_CONNECT_TIMEOUT_MS", 1000, 50, 60000, &v) == -1)
			exit(2);
		kore_pgsql_connect_timeout = (u_int32_t)v;
		if (!kore_pgsql_register(YX_DB_NAME, yx_app.dsn)) {
			fprintf(stderr, "cannot register database\n");
			exit(2);
		}
		const struct yx_db_stmt *ping = &yx_health_ping;
		if (yx_db_register(&ping, 1) == -1)
			exit(2);
		yx_db_install();
	}

	if (yx_service_def.configure != NULL && yx_service_def.configure() == -1)
		exit(2);

	yx_log(YX_LOG_INFO, NULL, "start", "listening on %s://%s:%s with %u workers",
	       tls ? "https" : "http", listen_host, listen_port, (unsigned)worker_count);
}

/*
 * Kore calls this first, with the untouched command line. Commands other
 * than `serve` run here and exit; `serve` returns to Kore.
 */
void
kore_parent_configure(int argc, char **argv)
{
	const char *cmd;
	int code;

	cmd = argc > 1 ? argv[1] : "serve";
	if (!strcmp(cmd, "help") || !strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		exit(0);
	}
	if (load_common_config() == -1)
		exit(2);
	if (yx_service_def.errors != NULL &&
	    yx_errors_register(yx_service_def.errors, yx_service_def.nerrors) == -1) {
		fprintf(stderr, "duplicate error codes in the service table\n");
		exit(2);
	}

	if (!strcmp(cmd, "migrate"))
		exit(cmd_migrate());
	if (yx_service_def.command != NULL && strcmp(cmd, "serve") != 0) {
		code = 0;
		if (yx_service_def.command(argc, argv, &code) == 1)
			exit(code);
	}
	if (strcmp(cmd, "serve") != 0) {
		fprintf(stderr, "unknown command: %s\n\n", cmd);
		usage(stderr);
		exit(2);
	}
	configure_server();
}

static struct yx_redis *
open_redis(void)
{
	struct yx_redis_opts o;
	long long port, cto, tmo, fails, cool;
	char prefix[64];

	if (yx_config_int("YX_REDIS_PORT", 56379, 1, 65535, &port) == -1 ||
	    yx_config_int("YX_REDIS_CONNECT_TIMEOUT_MS", 200, 1, 10000, &cto) == -1 ||
	    yx_config_int("YX_REDIS_TIMEOUT_MS", 100, 1, 10000, &tmo) == -1 ||
	    yx_config_int("YX_REDIS_BREAKER_FAILURES", 3, 1, 1000, &fails) == -1 ||
	    yx_config_int("YX_REDIS_BREAKER_COOLDOWN_MS", 1000, 10, 600000, &cool) == -1)
		return NULL;
	snprintf(prefix, sizeof(prefix),
	         "%s:", strcmp(yx_service_def.name, "gateway") ? yx_service_def.name : "gw");
	memset(&o, 0, sizeof(o));
	o.host = yx_config_str("YX_REDIS_HOST", "127.0.0.1");
	o.port = (int)port;
	o.user = yx_config_str("YX_REDIS_USER", NULL);
	o.password = yx_config_str("YX_REDIS_PASSWORD", NULL);
	o.prefix = prefix;
	o.connect_timeout_ms = (int)cto;
	o.command_timeout_ms = (int)tmo;
	o.breaker_failures = (unsigned)fails;
	o.breaker_cooldown_ms = (int)cool;
	return yx_redis_new(&o);
}

void
kore_worker_configure(void)
{
	/* A client that went away must not kill the worker mid-write. */
	signal(SIGPIPE, SIG_IGN);
	if (yx_service_def.use_redis) {
		yx_app.redis = open_redis();
		if (yx_app.redis == NULL) {
			yx_log(YX_LOG_ERROR, NULL, "config", "bad Redis configuration");
			exit(2);
		}
	}
	if (yx_service_def.worker_init != NULL && yx_service_def.worker_init() == -1) {
		yx_log(YX_LOG_ERROR, NULL, "start", "worker initialisation failed");
		exit(2);
	}
}

void
kore_worker_teardown(void)
{
	if (yx_app.redis != NULL) {
		yx_redis_free(yx_app.redis);
		yx_app.redis = NULL;
	}
}

/*
 * What the services need beyond Kore's worker filter:
 * - libpq and hiredis: outbound TCP or unix sockets with their options and
 *   polling, and libpq's file probes while connecting (PLATFORM.md);
 * - Kore task threads (argon2 hashing, slow deliveries): Kore's task filter
 *   allows clone(2) only, while glibc 2.34+ tries clone3(2) first and falls
 *   back on ENOSYS, and each new thread registers rseq(2) (glibc aborts when
 *   that fails); glibc's resolver on such a thread uses sendmmsg(2).
 */
static struct sock_filter yx_filter[] = {
    KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_INET),
    KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_INET6),
    KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_UNIX),
    KORE_SYSCALL_ALLOW(connect),
    KORE_SYSCALL_ALLOW(getsockopt),
    KORE_SYSCALL_ALLOW(getsockname),
    KORE_SYSCALL_ALLOW(getpeername),
    KORE_SYSCALL_ALLOW(shutdown),
    KORE_SYSCALL_ALLOW(poll),
    KORE_SYSCALL_ALLOW(sendmsg),
    KORE_SYSCALL_ALLOW(recvmsg),
    KORE_SYSCALL_ALLOW(sendmmsg),
    KORE_SYSCALL_ALLOW(newfstatat),
    KORE_SYSCALL_ALLOW(getdents64),
    KORE_SYSCALL_ALLOW(uname),
    KORE_SYSCALL_ALLOW(ioctl),
    KORE_SYSCALL_ALLOW(fsync),
    KORE_SYSCALL_ALLOW(fdatasync),
    KORE_SYSCALL_ALLOW(getppid),
    KORE_SYSCALL_ALLOW(gettid),
    KORE_SYSCALL_ALLOW(clock_getres),
#if defined(SYS_clone3)
    KORE_SYSCALL_DENY(clone3, ENOSYS),
#endif
#if defined(SYS_rseq)
    KORE_SYSCALL_ALLOW(rseq),
#endif
#if defined(__SANITIZE_ADDRESS__)
    /*
     * Sanitizer builds (make SANITIZE=1): thread start asks for the CPU set,
     * the leak check at exit yields and lists /proc, and mappings are named
     * with prctl(PR_SET_VMA), which the runtime does without when refused.
     */
    KORE_SYSCALL_ALLOW(sched_getaffinity),
    KORE_SYSCALL_ALLOW(sched_yield),
    KORE_SYSCALL_DENY(prctl, EINVAL),
    /*
     * The leak check stops the other threads from a tracer it clones: that
     * one lists /proc/self/task with getdents(2) (not getdents64), attaches
     * with ptrace(2) and waits with wait4(2). Refused, the tracer was killed
     * and the exiting worker spun forever waiting for it.
     */
    KORE_SYSCALL_ALLOW(getdents),
    KORE_SYSCALL_ALLOW(ptrace),
    KORE_SYSCALL_ALLOW(wait4),
#endif
};

void
kore_seccomp_hook(void)
{
	kore_seccomp_filter("yx", yx_filter, KORE_FILTER_LEN(yx_filter));
}
