/*
 * pg_fixture.h - PostgreSQL for unit tests that need a real server:
 * YX_TEST_PG_DSN (a superuser DSN, set by scripts/test.sh), or else a private
 * cluster initdb'd into a temporary directory under /tmp and stopped at the
 * end. PostgreSQL refuses to run as root, so as root the cluster runs as the
 * unprivileged user "yuexiang" and the tests are skipped, saying why, when
 * that user does not exist.
 */
#ifndef PG_FIXTURE_H
#define PG_FIXTURE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <ftw.h>

#include <libpq-fe.h>

struct pg_fixture {
	char dsn[512];
	char dir[64]; /* private cluster's directory, "" when none */
	char bindir[256];
	bool as_user; /* run the server's programs through runuser */
	char skip_reason[512];
};

extern struct pg_fixture pgfx;

/* Finds or starts the server; false (with pgfx.skip_reason) when there is none. */
bool pg_fixture_start(void);
/* Stops a private cluster started by pg_fixture_start and removes it. */
void pg_private_stop(void);
/* Skips the calling test, saying why, when there is no server. */
#define PG_REQUIRED()                                                                              \
	do {                                                                                       \
		if (pgfx.dsn[0] == '\0') {                                                         \
			print_message("skipped: %s\n", pgfx.skip_reason);                          \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* nftw callback removing one entry of a temporary directory tree. */
int pg_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw);

/* A new connection to pgfx.dsn; fails the test when it cannot connect. */
PGconn *pg_connect(void);
/* Runs a statement that must succeed. */
void pg_ok(PGconn *conn, const char *sql);
/* Runs a query that must return one row and one integer column. */
long long pg_scalar(PGconn *conn, const char *sql);

#endif
