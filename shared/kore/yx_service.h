/*
 * yx_service.h - what every Yuexiang service binary shares: the command line
 * (`serve`, `migrate`, service commands), configuration of the Kore server
 * from YX_* variables, the per-worker Redis handle and the process-wide keys.
 *
 * A service defines one `yx_service_def` and its handlers; the glue owns
 * Kore's hooks (kore_parent_configure, kore_worker_configure,
 * kore_seccomp_hook).
 */
#ifndef YX_SERVICE_H
#define YX_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yx_problem.h"

struct yx_jw;
struct yx_redis;

struct yx_service_def {
	const char *name;            /* "identity": log name, Redis prefix, schema */
	unsigned short default_port; /* used when YX_LISTEN is unset */
	bool use_db;                 /* register Kore pgsql database "db" from YX_DB_DSN */
	bool use_redis;              /* open a Redis handle per worker */
	bool verify_identity;        /* refuse requests without a valid X-Yx-Sig */
	int (*configure)(void);      /* parent, before workers; -1 aborts start-up */
	int (*worker_init)(void);    /* each worker after fork; -1 kills the worker */
	/*
	 * Extra subcommands. Return 1 when argv[1] was handled (exit code in
	 * *exit_code), 0 when it is not a command of this service.
	 */
	int (*command)(int argc, char **argv, int *exit_code);
	const char *commands_help;         /* lines printed by `help` */
	const struct yx_error_def *errors; /* the service's own error codes */
	size_t nerrors;
};

/* Each service binary defines this. */
extern const struct yx_service_def yx_service_def;

/* Process-wide state, filled by the glue before workers start. */
struct yx_app {
	unsigned char internal_key[32]; /* signs/validates X-Yx-Sig */
	unsigned char cursor_key[32];   /* authenticates pagination cursors */
	bool have_internal_key;
	int64_t identity_max_skew; /* seconds accepted between gateway and service */
	struct yx_redis *redis;    /* per worker; NULL when use_redis is false */
	const char *dsn;           /* YX_DB_DSN */
	const char *sql_dir;       /* YX_SQL_DIR */
};

extern struct yx_app yx_app;

/* Name of the Kore pgsql database every service registers. */
#define YX_DB_NAME "db"

/* Current time, in whole seconds and in microseconds (wall clock). */
int64_t yx_now(void);
int64_t yx_now_us(void);

#endif
