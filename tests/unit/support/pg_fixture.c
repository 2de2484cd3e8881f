/*
 * pg_fixture.c - the PostgreSQL server the database unit tests run against
 * (see pg_fixture.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pg_fixture.h"

struct pg_fixture pgfx;

/* Run argv (through runuser when root) with output into log; the exit status. */
static int
pg_run(char *const argv[], const char *log)
{
	char *full[32];
	int i = 0, j, status, fd;
	pid_t pid;

	if (pgfx.as_user) {
		full[i++] = "runuser";
		full[i++] = "-u";
		full[i++] = "yuexiang";
		full[i++] = "--";
	}
	for (j = 0; argv[j] != NULL && i < 31; j++)
		full[i++] = argv[j];
	full[i] = NULL;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp(full[0], full);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
pg_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
pg_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

void
pg_private_stop(void)
{
	char data[128], log[128], pg_ctl[320];
	char *argv[8];

	if (pgfx.dir[0] == '\0')
		return;
	snprintf(data, sizeof(data), "%s/data", pgfx.dir);
	snprintf(log, sizeof(log), "%s/ctl.log", pgfx.dir);
	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pgfx.bindir);
	argv[0] = pg_ctl;
	argv[1] = "-D";
	argv[2] = data;
	argv[3] = "-m";
	argv[4] = "immediate";
	argv[5] = "-w";
	argv[6] = "stop";
	argv[7] = NULL;
	(void)pg_run(argv, log);
	(void)nftw(pgfx.dir, pg_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	pgfx.dir[0] = '\0';
}

static bool
pg_private_start(void)
{
	char data[128], log[128], opts[256], initdb[320], pg_ctl[320];
	struct passwd *pw = NULL;
	char *argv[16];
	const char *bindir = getenv("YX_TEST_PG_BINDIR");
	int port;

	snprintf(pgfx.bindir, sizeof(pgfx.bindir), "%s",
	         bindir != NULL ? bindir : "/usr/lib/postgresql/15/bin");
	if (geteuid() == 0) {
		if ((pw = getpwnam("yuexiang")) == NULL) {
			snprintf(pgfx.skip_reason, sizeof(pgfx.skip_reason),
			         "YX_TEST_PG_DSN is not set and PostgreSQL will not run as root; "
			         "create the user yuexiang or set YX_TEST_PG_DSN");
			return false;
		}
		pgfx.as_user = true;
	}
	snprintf(pgfx.dir, sizeof(pgfx.dir), "/tmp/yxpg.XXXXXX");
	if (mkdtemp(pgfx.dir) == NULL) {
		snprintf(pgfx.skip_reason, sizeof(pgfx.skip_reason), "mkdtemp: %s",
		         strerror(errno));
		pgfx.dir[0] = '\0';
		return false;
	}
	if (pw != NULL && chown(pgfx.dir, pw->pw_uid, pw->pw_gid) != 0) {
		snprintf(pgfx.skip_reason, sizeof(pgfx.skip_reason), "chown: %s", strerror(errno));
		return false;
	}
	snprintf(data, sizeof(data), "%s/data", pgfx.dir);
	snprintf(log, sizeof(log), "%s/ctl.log", pgfx.dir);
	snprintf(initdb, sizeof(initdb), "%s/initdb", pgfx.bindir);
	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pgfx.bindir);
	argv[0] = initdb;
	argv[1] = "-D";
	argv[2] = data;
	argv[3] = "-A";
	argv[4] = "trust";
	argv[5] = "-U";
	argv[6] = "postgres";
	argv[7] = "-E";
	argv[8] = "UTF8";
	argv[9] = "--no-sync";
	argv[10] = NULL;
	if (pg_run(argv, "/dev/null") != 0) {
		snprintf(pgfx.skip_reason, sizeof(pgfx.skip_reason), "%s failed", initdb);
		return false;
	}
	if ((port = pg_free_port()) < 0)
		return false;
	snprintf(opts, sizeof(opts),
	         "-p %d -k %s -c listen_addresses='' -c fsync=off -c max_connections=40", port,
	         pgfx.dir);
	argv[0] = pg_ctl;
	argv[1] = "-D";
	argv[2] = data;
	argv[3] = "-o";
	argv[4] = opts;
	argv[5] = "-l";
	argv[6] = log;
	argv[7] = "-w";
	argv[8] = "start";
	argv[9] = NULL;
	if (pg_run(argv, "/dev/null") != 0) {
		snprintf(pgfx.skip_reason, sizeof(pgfx.skip_reason), "pg_ctl start failed, see %s",
		         log);
		return false;
	}
	snprintf(pgfx.dsn, sizeof(pgfx.dsn), "host=%s port=%d user=postgres dbname=postgres",
	         pgfx.dir, port);
	return true;
}

/* Fill pgfx.dsn; false (with pgfx.skip_reason) when no PostgreSQL can be had. */
bool
pg_fixture_start(void)
{
	const char *dsn = getenv("YX_TEST_PG_DSN");

	if (dsn != NULL && *dsn != '\0') {
		snprintf(pgfx.dsn, sizeof(pgfx.dsn), "%s", dsn);
		return true;
	}
	if (pg_private_start())
		return true;
	pg_private_stop();
	fprintf(stderr, "skipping the PostgreSQL tests: %s\n", pgfx.skip_reason);
	return false;
}

/* Skip the calling test, saying why, when there is no PostgreSQL. */
PGconn *
pg_connect(void)
{
	PGconn *conn = PQconnectdb(pgfx.dsn);

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(conn));
	return conn;
}

/* Run SQL that must succeed. */
void
pg_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
}

/* The first column of the first row as a number. */
long long
pg_scalar(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	long long v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	v = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}
