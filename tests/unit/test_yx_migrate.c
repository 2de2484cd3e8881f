/*
 * Tests for shared/yx_migrate against a real PostgreSQL: a fresh schema gets
 * every file, a second run none, concurrent runners apply each file once, a
 * failing file leaves nothing behind, and changed, missing, out-of-order or
 * misnamed files are refused.
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

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "yx_migrate.h"

#include "pg_fixture.h"

static PGconn *admin_conn;
static int schema_seq;

static int
group_setup(void **state)
{
	(void)state;
	if (!pg_fixture_start())
		return 0;
	admin_conn = pg_connect();
	pg_ok(admin_conn, "SET client_min_messages = warning");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (admin_conn != NULL)
		PQfinish(admin_conn);
	pg_private_stop();
	return 0;
}

/* Per test: a migrations directory and a schema name, both removed afterwards. */
struct mig_case {
	char dir[64];
	char schema[64];
	char qschema[80];
	FILE *report;
};

static int
case_setup(void **state)
{
	struct mig_case *c = calloc(1, sizeof(*c));
	char *q;

	assert_non_null(c);
	snprintf(c->dir, sizeof(c->dir), "/tmp/yxmig.XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->schema, sizeof(c->schema), "test_mig_%ld_%d", (long)getpid(), ++schema_seq);
	if (admin_conn != NULL) {
		q = PQescapeIdentifier(admin_conn, c->schema, strlen(c->schema));
		snprintf(c->qschema, sizeof(c->qschema), "%s", q);
		PQfreemem(q);
	}
	c->report = tmpfile();
	assert_non_null(c->report);
	*state = c;
	return 0;
}

static int
case_teardown(void **state)
{
	struct mig_case *c = *state;
	char sql[160];

	if (admin_conn != NULL && c->qschema[0] != '\0') {
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", c->qschema);
		pg_ok(admin_conn, sql);
	}
	(void)nftw(c->dir, pg_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	fclose(c->report);
	free(c);
	return 0;
}

static void
write_file(const struct mig_case *c, const char *name, const char *sql)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(sql, fp);
	fclose(fp);
}

static void
remove_file(const struct mig_case *c, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	assert_int_equal(remove(path), 0);
}

/* Lines of the report containing word; the report is then emptied. */
static int
report_count(struct mig_case *c, const char *word)
{
	char line[512];
	int n = 0;

	fflush(c->report);
	rewind(c->report);
	while (fgets(line, sizeof(line), c->report) != NULL) {
		if (strstr(line, word) != NULL)
			n++;
	}
	assert_int_equal(ftruncate(fileno(c->report), 0), 0);
	rewind(c->report);
	return n;
}

/* Run the migrator with stderr captured into err (NUL-terminated). */
static int
run_captured(struct mig_case *c, const char *dsn, char *err, size_t cap)
{
	FILE *tmp = tmpfile();
	int saved, rc;
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	rc = yx_migrate_run(dsn, c->schema, c->dir, c->report);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(err, 1, cap - 1, tmp);
	err[n] = '\0';
	fclose(tmp);
	return rc;
}

static int
run(struct mig_case *c)
{
	char err[2048];
	int rc = run_captured(c, pgfx.dsn, err, sizeof(err));

	if (err[0] != '\0')
		print_message("%s", err);
	return rc;
}

/* A one-value query; the "%s" in tmpl stands for the quoted schema. */
static long long
scalar_in(const struct mig_case *c, const char *tmpl)
{
	const char *at = strstr(tmpl, "%s");
	char sql[512];

	assert_non_null(at);
	snprintf(sql, sizeof(sql), "%.*s%s%s", (int)(at - tmpl), tmpl, c->qschema, at + 2);
	return pg_scalar(admin_conn, sql);
}

static bool
table_exists(const struct mig_case *c, const char *table)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM pg_tables WHERE schemaname = '%s' AND tablename = '%s'",
	         c->schema, table);
	return pg_scalar(admin_conn, sql) == 1;
}

static void
sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0, i;

	assert_int_equal(EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static const char m0001[] = "-- items on sale\n"
                            "CREATE TABLE item (id bigint PRIMARY KEY, stock bigint NOT NULL,\n"
                            "    CHECK (stock >= 0));\n"
                            "INSERT INTO item VALUES (1, 10);\n";
static const char m0002[] = "ALTER TABLE item ADD COLUMN title text NOT NULL DEFAULT '';\n"
                            "CREATE FUNCTION take(p_id bigint) RETURNS bigint LANGUAGE sql\n"
                            "    SET search_path FROM CURRENT AS $$\n"
                            "  UPDATE item SET stock = stock - 1 WHERE id = p_id RETURNING stock;\n"
                            "$$;\n";
static const char m0003[] = "CREATE INDEX item_title ON item (title);\n";

static void
test_fresh_schema_then_nothing_to_do(void **state)
{
	struct mig_case *c = *state;
	char sql[256], sum[65];
	PGresult *res;

	PG_REQUIRED();
	write_file(c, "0001_item.sql", m0001);
	write_file(c, "0002_take.sql", m0002);
	assert_int_equal(run(c), 0);
	assert_int_equal(report_count(c, ": applied "), 2);

	/* unqualified names landed in the schema */
	assert_true(table_exists(c, "item"));
	assert_int_equal(scalar_in(c, "SELECT %s.take(1)"), 9);
	snprintf(sql, sizeof(sql),
	         "SELECT version, name, checksum FROM %s.schema_migrations ORDER BY version",
	         c->qschema);
	res = PQexec(admin_conn, sql);
	assert_int_equal(PQntuples(res), 2);
	assert_string_equal(PQgetvalue(res, 0, 0), "1");
	assert_string_equal(PQgetvalue(res, 0, 1), "0001_item.sql");
	sha256_hex(m0001, sum);
	assert_string_equal(PQgetvalue(res, 0, 2), sum);
	assert_string_equal(PQgetvalue(res, 1, 1), "0002_take.sql");
	sha256_hex(m0002, sum);
	assert_string_equal(PQgetvalue(res, 1, 2), sum);
	PQclear(res);

	/* again: nothing to apply */
	assert_int_equal(run(c), 0);
	assert_int_equal(report_count(c, ": skipped "), 2);
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.schema_migrations"), 2);

	/* a new file: only it runs */
	write_file(c, "0003_title_index.sql", m0003);
	assert_int_equal(run(c), 0);
	fflush(c->report);
	assert_int_equal(report_count(c, "applied 0003_title_index.sql"), 1);
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.schema_migrations"), 3);
	assert_int_equal(scalar_in(c, "SELECT stock FROM %s.item WHERE id = 1"), 9);
}

static void
test_concurrent_runners_apply_each_file_once(void **state)
{
	struct mig_case *c = *state;
	enum { RUNNERS = 3 };
	pid_t pids[RUNNERS];
	FILE *reports[RUNNERS];
	char line[512];
	int i, status, applied = 0, skipped = 0;

	PG_REQUIRED();
	/* the first file is slow, so the runners overlap */
	write_file(c, "0001_log.sql",
	           "CREATE TABLE applied_log (version int NOT NULL);\n"
	           "SELECT pg_sleep(0.5);\n"
	           "INSERT INTO applied_log VALUES (1);\n");
	write_file(c, "0002_more.sql", "INSERT INTO applied_log VALUES (2);\n");
	write_file(c, "0003_more.sql", "INSERT INTO applied_log VALUES (3);\n");
	for (i = 0; i < RUNNERS; i++) {
		reports[i] = tmpfile();
		assert_non_null(reports[i]);
	}
	fflush(NULL);
	for (i = 0; i < RUNNERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(yx_migrate_run(pgfx.dsn, c->schema, c->dir, reports[i]) == 0 ? 0 : 1);
	}
	for (i = 0; i < RUNNERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		rewind(reports[i]);
		while (fgets(line, sizeof(line), reports[i]) != NULL) {
			if (strstr(line, ": applied ") != NULL)
				applied++;
			if (strstr(line, ": skipped ") != NULL)
				skipped++;
		}
		fclose(reports[i]);
	}
	/* one runner applied everything; the others waited for the lock and found nothing to do */
	assert_int_equal(applied, 3);
	assert_int_equal(skipped, (RUNNERS - 1) * 3);
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.applied_log"), 3);
	assert_int_equal(scalar_in(c, "SELECT count(DISTINCT version) FROM %s.applied_log"), 3);
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.schema_migrations"), 3);
}

static void
test_failing_migration_leaves_nothing(void **state)
{
	struct mig_case *c = *state;
	char err[2048];

	PG_REQUIRED();
	write_file(c, "0001_item.sql", m0001);
	write_file(c, "0002_broken.sql",
	           "CREATE TABLE half (id int);\n"
	           "INSERT INTO half VALUES (1);\n"
	           "UPDATE item SET stock = stock - 1;\n"
	           "SELECT 1 / 0;\n");
	write_file(c, "0003_after.sql", "CREATE TABLE after (id int);\n");
	assert_int_equal(run_captured(c, pgfx.dsn, err, sizeof(err)), -1);
	print_message("stderr: %s", err);
	assert_non_null(strstr(err, "0002_broken.sql"));
	assert_non_null(strstr(err, "division by zero"));
	assert_int_equal(report_count(c, ": applied "), 1);

	/* 0001 stays, 0002 left no table, no row change and no record, 0003 never ran */
	assert_true(table_exists(c, "item"));
	assert_false(table_exists(c, "half"));
	assert_int_equal(scalar_in(c, "SELECT stock FROM %s.item WHERE id = 1"), 10);
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.schema_migrations"), 1);
	assert_int_equal(scalar_in(c, "SELECT max(version) FROM %s.schema_migrations"), 1);

	/* a syntax error names the line within the file */
	write_file(c, "0002_broken.sql", "CREATE TABLE half (id int);\n\nCREATE TABLEX oops;\n");
	assert_int_equal(run_captured(c, pgfx.dsn, err, sizeof(err)), -1);
	print_message("stderr: %s", err);
	assert_non_null(strstr(err, "0002_broken.sql"));
	assert_non_null(strstr(err, "syntax error"));
	assert_non_null(strstr(err, "LINE 3"));
	assert_false(table_exists(c, "half"));

	/* fixed, it applies with the rest */
	write_file(c, "0002_broken.sql", "CREATE TABLE half (id int);\n");
	assert_int_equal(run(c), 0);
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.schema_migrations"), 3);
}

static void
test_changed_or_missing_files_refused(void **state)
{
	struct mig_case *c = *state;
	char err[2048];

	PG_REQUIRED();
	write_file(c, "0001_item.sql", m0001);
	write_file(c, "0002_take.sql", m0002);
	assert_int_equal(run(c), 0);
	(void)report_count(c, "");

	/* an applied file edited, plus a new one: refused before anything runs */
	write_file(c, "0001_item.sql", "-- edited\nCREATE TABLE item (id bigint);\n");
	write_file(c, "0003_title_index.sql", m0003);
	assert_int_equal(run_captured(c, pgfx.dsn, err, sizeof(err)), -1);
	print_message("stderr: %s", err);
	assert_non_null(strstr(err, "0001_item.sql"));
	assert_non_null(strstr(err, "checksum"));
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.schema_migrations"), 2);
	assert_int_equal(report_count(c, ": applied "), 0);

	/* an applied file deleted */
	write_file(c, "0001_item.sql", m0001);
	remove_file(c, "0002_take.sql");
	assert_int_equal(run_captured(c, pgfx.dsn, err, sizeof(err)), -1);
	print_message("stderr: %s", err);
	assert_non_null(strstr(err, "0002_take.sql"));

	/* an applied file renamed */
	write_file(c, "0002_take_renamed.sql", m0002);
	assert_int_equal(run_captured(c, pgfx.dsn, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0002_take_renamed.sql"));
	remove_file(c, "0002_take_renamed.sql");

	/* restored, it goes on */
	write_file(c, "0002_take.sql", m0002);
	assert_int_equal(run(c), 0);
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.schema_migrations"), 3);
}

static void
test_out_of_order_refused(void **state)
{
	struct mig_case *c = *state;
	char err[2048];

	PG_REQUIRED();
	write_file(c, "0001_item.sql", m0001);
	write_file(c, "0003_title_index.sql", "CREATE TABLE t3 (id int);\n");
	assert_int_equal(run(c), 0);
	write_file(c, "0002_late.sql", "CREATE TABLE late (id int);\n");
	assert_int_equal(run_captured(c, pgfx.dsn, err, sizeof(err)), -1);
	print_message("stderr: %s", err);
	assert_non_null(strstr(err, "0002_late.sql"));
	assert_false(table_exists(c, "late"));
}

static void
test_transaction_control_in_a_file_reported(void **state)
{
	struct mig_case *c = *state;
	char err[2048];

	PG_REQUIRED();
	write_file(c, "0001_commit.sql", "CREATE TABLE t (id int);\nCOMMIT;\n");
	assert_int_equal(run_captured(c, pgfx.dsn, err, sizeof(err)), -1);
	print_message("stderr: %s", err);
	assert_non_null(strstr(err, "0001_commit.sql"));
	assert_non_null(strstr(err, "ended the transaction"));
	assert_int_equal(scalar_in(c, "SELECT count(*) FROM %s.schema_migrations"), 0);
}

static void
test_bad_file_names_refused(void **state)
{
	static const char *const bad[] = {
	    "1_init.sql",     "00001_init.sql", "0001-init.sql", "0001_Init.sql",
	    "0001_init.SQL",  "0001_init.sql~", "0001_.sql",     "0000_zero.sql",
	    "README.md",      ".0001_x.sql",    "0001_a b.sql",  "0001_init.sql.orig",
	    "0001_naïve.sql", "abcd_init.sql",
	};
	struct mig_case *c = *state;
	char err[2048], path[256];
	size_t i;

	write_file(c, "0001_init.sql", "SELECT 1;\n");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(c, bad[i], "SELECT 1;\n");
		/* refused before connecting: this DSN would fail */
		assert_int_equal(run_captured(c, "host=/nonexistent port=1", err, sizeof(err)), -1);
		if (strstr(err, bad[i]) == NULL)
			fail_msg("%s: not named in: %s", bad[i], err);
		assert_null(strstr(err, "connect"));
		remove_file(c, bad[i]);
	}
	print_message("e.g. %s", err);

	/* a directory with a migration's name */
	snprintf(path, sizeof(path), "%s/0002_dir.sql", c->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(run_captured(c, "host=/nonexistent port=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0002_dir.sql"));
	assert_int_equal(rmdir(path), 0);

	/* two files with one version */
	write_file(c, "0001_other.sql", "SELECT 2;\n");
	assert_int_equal(run_captured(c, "host=/nonexistent port=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "same version"));
	remove_file(c, "0001_other.sql");

	/* what remains is fine; only the connection fails now */
	assert_int_equal(run_captured(c, "host=/nonexistent port=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "connect"));
}

static void
test_bad_arguments(void **state)
{
	struct mig_case *c = *state;
	char err[2048], longname[80];

	assert_int_equal(yx_migrate_run(NULL, "s", c->dir, NULL), -1);
	assert_int_equal(yx_migrate_run("", NULL, c->dir, NULL), -1);
	assert_int_equal(yx_migrate_run("", "s", NULL, NULL), -1);
	assert_int_equal(yx_migrate_run("", "", c->dir, NULL), -1);
	memset(longname, 'a', 64);
	longname[64] = '\0';
	assert_int_equal(yx_migrate_run("", longname, c->dir, NULL), -1);
	snprintf(c->dir + strlen(c->dir), 8, "%s", "/nope");
	assert_int_equal(run_captured(c, "host=/nonexistent port=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open directory"));
	c->dir[strlen(c->dir) - 5] = '\0';
}

static void
test_schema_name_is_quoted(void **state)
{
	struct mig_case *c = *state;
	char *q;

	PG_REQUIRED();
	/* a name that only works quoted */
	snprintf(c->schema, sizeof(c->schema), "Test Mig \"%ld\"", (long)getpid());
	q = PQescapeIdentifier(admin_conn, c->schema, strlen(c->schema));
	snprintf(c->qschema, sizeof(c->qschema), "%s", q);
	PQfreemem(q);
	write_file(c, "0001_item.sql", m0001);
	assert_int_equal(run(c), 0);
	assert_int_equal(scalar_in(c, "SELECT stock FROM %s.item"), 10);
	assert_int_equal(run(c), 0);
	assert_int_equal(report_count(c, ": skipped "), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fresh_schema_then_nothing_to_do, case_setup,
	                                    case_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_runners_apply_each_file_once,
	                                    case_setup, case_teardown),
	    cmocka_unit_test_setup_teardown(test_failing_migration_leaves_nothing, case_setup,
	                                    case_teardown),
	    cmocka_unit_test_setup_teardown(test_changed_or_missing_files_refused, case_setup,
	                                    case_teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_order_refused, case_setup, case_teardown),
	    cmocka_unit_test_setup_teardown(test_transaction_control_in_a_file_reported, case_setup,
	                                    case_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_file_names_refused, case_setup, case_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, case_setup, case_teardown),
	    cmocka_unit_test_setup_teardown(test_schema_name_is_quoted, case_setup, case_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
