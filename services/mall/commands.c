/*
 * commands.c - yx-mall's command-line tools, run outside Kore with a
 * synchronous libpq connection to YX_DB_DSN:
 *
 *   reconcile            checks every balance against the journal and every
 *                        invariant of the ledger and the store (the checks
 *                        are in mall_db.c), prints each with its counts, and
 *                        exits 1 on any mismatch, 2 when it cannot check.
 *   rebuild-leaderboard  recomputes this month's and this year's
 *                        leaderboards of every community from the journal
 *                        and swaps them into Redis (YX_REDIS_* as for serve).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "commands.h"
#include "mall_cache.h"
#include "mall_db.h"
#include "yx_config.h"
#include "yx_redis.h"
#include "yx_service.h"

/* Connects to YX_DB_DSN with the service's schema first on the search path. */
static PGconn *
connect_db(const char *cmd)
{
	PGconn *conn = PQconnectdb(yx_app.dsn);
	PGresult *res;
	char *schema, sql[128];

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "%s: cannot connect to the database: %s", cmd,
		        PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	schema = PQescapeIdentifier(conn, yx_service_def.name, strlen(yx_service_def.name));
	snprintf(sql, sizeof(sql), "SET search_path = %s", schema ? schema : "mall");
	PQfreemem(schema);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s", cmd, PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

static void
report_check(const struct mall_check *c, void *arg)
{
	int *n = arg;

	(*n)++;
	if (c->bad == 0)
		printf("  ok    %s: %lld checked%s%s\n", c->name, (long long)c->checked,
		       c->sample[0] ? ", " : "", c->sample);
	else
		printf("  FAIL  %s: %lld of %lld wrong (first: %s)\n", c->name, (long long)c->bad,
		       (long long)c->checked, c->sample[0] ? c->sample : "-");
}

static int
cmd_reconcile(void)
{
	PGconn *conn;
	int failed, n = 0;

	if ((conn = connect_db("reconcile")) == NULL)
		return 2;
	printf("reconcile: the points ledger and the store of schema %s\n", yx_service_def.name);
	failed = mall_db_reconcile(conn, report_check, &n);
	PQfinish(conn);
	if (failed < 0) {
		printf("reconcile: could not run every check\n");
		return 2;
	}
	if (failed > 0) {
		printf("reconcile: %d of %d checks FAILED\n", failed, n);
		return 1;
	}
	printf("reconcile: clean, %d checks passed\n", n);
	fflush(stdout);
	return 0;
}

/* The Redis handle of the commands: the same settings as `serve`. */
static struct yx_redis *
connect_redis(void)
{
	struct yx_redis_opts o;
	long long port, cto, tmo;

	if (yx_config_int("YX_REDIS_PORT", 56379, 1, 65535, &port) == -1 ||
	    yx_config_int("YX_REDIS_CONNECT_TIMEOUT_MS", 200, 1, 10000, &cto) == -1 ||
	    yx_config_int("YX_REDIS_TIMEOUT_MS", 100, 1, 10000, &tmo) == -1)
		return NULL;
	memset(&o, 0, sizeof(o));
	o.host = yx_config_str("YX_REDIS_HOST", "127.0.0.1");
	o.port = (int)port;
	o.user = yx_config_str("YX_REDIS_USER", NULL);
	o.password = yx_config_str("YX_REDIS_PASSWORD", NULL);
	o.prefix = "mall:";
	o.connect_timeout_ms = (int)cto;
	/* A rebuild sends large commands: allow them more than a request would. */
	o.command_timeout_ms = (int)(tmo < 2000 ? 2000 : tmo);
	o.breaker_failures = 1000;
	return yx_redis_new(&o);
}

#define REBUILD_BATCH 256

/* One leaderboard being rebuilt: its entries go to a side key, then swap. */
struct rebuild {
	struct yx_redis *r;
	char community[24], period[8], label[16];
	char key[128], tmp[160];
	const char *argv[2 + 2 * REBUILD_BATCH];
	char vals[2 * REBUILD_BATCH][24];
	int argc;
	int boards, entries;
	bool failed;
};

static int
rb_command(struct rebuild *b, int argc, const char **argv)
{
	redisReply *reply = yx_redis_commandargv(b->r, argc, argv, NULL);

	if (reply == NULL) {
		fprintf(stderr, "rebuild-leaderboard: %s: %s\n", argv[0],
		        yx_redis_last_error(b->r));
		b->failed = true;
		return -1;
	}
	freeReplyObject(reply);
	return 0;
}

static int
rb_flush(struct rebuild *b)
{
	if (b->argc <= 2)
		return 0;
	if (rb_command(b, b->argc, b->argv) == -1)
		return -1;
	b->argc = 2;
	return 0;
}

/* Swaps the finished side key in and sets its lifetime. */
static int
rb_finish(struct rebuild *b)
{
	const char *argv[3];
	char ttl[24];

	if (b->key[0] == '\0')
		return 0;
	if (rb_flush(b) == -1)
		return -1;
	argv[0] = "RENAME";
	argv[1] = b->tmp;
	argv[2] = b->key;
	if (rb_command(b, 3, argv) == -1)
		return -1;
	snprintf(ttl, sizeof(ttl), "%lld", mall_lb_ttl(b->period));
	argv[0] = "EXPIRE";
	argv[1] = b->key;
	argv[2] = ttl;
	if (rb_command(b, 3, argv) == -1)
		return -1;
	b->boards++;
	b->key[0] = '\0';
	return 0;
}

static int
rb_row(const char *community, const char *period, const char *label, const char *user,
       const char *points, void *arg)
{
	struct rebuild *b = arg;
	const char *argv[2];
	int i;

	if (b->key[0] == '\0' || strcmp(community, b->community) != 0 ||
	    strcmp(period, b->period) != 0) {
		if (rb_finish(b) == -1)
			return -1;
		snprintf(b->community, sizeof(b->community), "%s", community);
		snprintf(b->period, sizeof(b->period), "%s", period);
		snprintf(b->label, sizeof(b->label), "%s", label);
		if (mall_lb_key(b->r, b->key, sizeof(b->key), community, period, label) == -1)
			return -1;
		/* Same hash tag as the board itself: one slot, so RENAME works in a cluster. */
		snprintf(b->tmp, sizeof(b->tmp), "%s:rebuild", b->key);
		argv[0] = "DEL";
		argv[1] = b->tmp;
		if (rb_command(b, 2, argv) == -1)
			return -1;
		b->argv[0] = "ZADD";
		b->argv[1] = b->tmp;
		b->argc = 2;
	}
	i = b->argc - 2;
	snprintf(b->vals[i], sizeof(b->vals[i]), "%s", points);
	snprintf(b->vals[i + 1], sizeof(b->vals[i + 1]), "%s", user);
	b->argv[b->argc++] = b->vals[i];
	b->argv[b->argc++] = b->vals[i + 1];
	b->entries++;
	if (b->argc == 2 + 2 * REBUILD_BATCH)
		return rb_flush(b);
	return 0;
}

static int
cmd_rebuild_leaderboard(void)
{
	struct rebuild *b;
	PGconn *conn;
	int rows, rc = 0;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return 2;
	if ((b->r = connect_redis()) == NULL) {
		fprintf(stderr, "rebuild-leaderboard: bad Redis configuration\n");
		free(b);
		return 2;
	}
	if ((conn = connect_db("rebuild-leaderboard")) == NULL) {
		yx_redis_free(b->r);
		free(b);
		return 2;
	}
	rows = mall_db_leaderboard_rows(conn, rb_row, b);
	if (rows >= 0 && rb_finish(b) == 0 && !b->failed)
		printf("rebuild-leaderboard: %d leaderboard(s), %d entries\n", b->boards,
		       b->entries);
	else
		rc = 1;
	PQfinish(conn);
	yx_redis_free(b->r);
	free(b);
	return rc;
}

int
mall_command(int argc, char **argv, int *exit_code)
{
	if (argc != 2)
		return 0;
	if (strcmp(argv[1], "reconcile") == 0) {
		*exit_code = cmd_reconcile();
		return 1;
	}
	if (strcmp(argv[1], "rebuild-leaderboard") == 0) {
		*exit_code = cmd_rebuild_leaderboard();
		return 1;
	}
	return 0;
}
