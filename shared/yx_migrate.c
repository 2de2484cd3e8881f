/*
 * yx_migrate: the migration runner, see yx_migrate.h. Blocking libpq; it runs
 * from a service's `migrate` command, never inside a Kore worker.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "yx_encode.h"
#include "yx_migrate.h"

#define MIG_MAX_FILE_BYTES (16 * 1024 * 1024)
#define MIG_MAX_NAME       128
#define MIG_MAX_SCHEMA     63 /* NAMEDATALEN - 1 */

struct mig_file {
	int version;
	char name[MIG_MAX_NAME];
	char checksum[65];
	char *sql;
	bool applied;
};

struct mig_run {
	const char *schema;
	const char *dir;
	char *qschema; /* quoted identifier, from PQescapeIdentifier */
	PGconn *conn;
	struct mig_file *files;
	size_t nfiles;
};

static void mig_error(const struct mig_run *m, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
mig_error(const struct mig_run *m, const char *file, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "migrate %s: ", m->schema);
	if (file != NULL)
		fprintf(stderr, "%s: ", file);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* PostgreSQL's message for a failed result, without its trailing newline. */
static void
mig_pg_error(const struct mig_run *m, const char *file, const char *what, const PGresult *res)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
	int len;

	if (*msg == '\0')
		msg = PQerrorMessage(m->conn);
	len = (int)strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		len--;
	mig_error(m, file, "%s: %.*s", what, len, msg);
}

/* NNNN_[a-z0-9_]+.sql with NNNN from 0001; the version in *version. */
static bool
mig_name_valid(const char *name, int *version)
{
	size_t len = strlen(name), i;

	if (len < 10 || len >= MIG_MAX_NAME || strcmp(name + len - 4, ".sql") != 0)
		return false;
	for (i = 0; i < 4; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
	}
	if (name[4] != '_')
		return false;
	for (i = 5; i < len - 4; i++) {
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return false;
	}
	*version =
	    (name[0] - '0') * 1000 + (name[1] - '0') * 100 + (name[2] - '0') * 10 + (name[3] - '0');
	return *version > 0;
}

static int
mig_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	return yx_hex_encode(md, mdlen, out, 65);
}

/* Read one migration file whole into f->sql and checksum it. */
static int
mig_read_file(const struct mig_run *m, struct mig_file *f)
{
	char path[4096];
	struct stat st;
	FILE *fp;
	size_t n;

	if (snprintf(path, sizeof(path), "%s/%s", m->dir, f->name) >= (int)sizeof(path)) {
		mig_error(m, f->name, "path too long");
		return -1;
	}
	if ((fp = fopen(path, "rb")) == NULL) {
		mig_error(m, f->name, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		mig_error(m, f->name, "not a regular file");
		fclose(fp);
		return -1;
	}
	if (st.st_size > MIG_MAX_FILE_BYTES) {
		mig_error(m, f->name, "larger than %d bytes", MIG_MAX_FILE_BYTES);
		fclose(fp);
		return -1;
	}
	if ((f->sql = malloc((size_t)st.st_size + 1)) == NULL) {
		mig_error(m, f->name, "out of memory");
		fclose(fp);
		return -1;
	}
	n = fread(f->sql, 1, (size_t)st.st_size, fp);
	if (ferror(fp) || n != (size_t)st.st_size || fgetc(fp) != EOF) {
		mig_error(m, f->name, "read failed or the file changed while being read");
		fclose(fp);
		return -1;
	}
	fclose(fp);
	f->sql[n] = '\0';
	/* libpq sends a C string: a NUL would silently cut the migration short. */
	if (memchr(f->sql, '\0', n) != NULL) {
		mig_error(m, f->name, "contains a NUL byte");
		return -1;
	}
	if (mig_sha256_hex(f->sql, n, f->checksum) == -1) {
		mig_error(m, f->name, "cannot compute checksum");
		return -1;
	}
	return 0;
}

static int
mig_file_cmp(const void *a, const void *b)
{
	const struct mig_file *fa = a, *fb = b;

	return (fa->version > fb->version) - (fa->version < fb->version);
}

/* List, validate, read and sort dir's migrations into m->files. */
static int
mig_scan(struct mig_run *m)
{
	struct mig_file *grown;
	struct dirent *de;
	size_t cap = 0, i;
	int version, rc = 0;
	DIR *d;

	if ((d = opendir(m->dir)) == NULL) {
		mig_error(m, NULL, "cannot open directory %s: %s", m->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!mig_name_valid(de->d_name, &version)) {
			mig_error(m, de->d_name,
			          "unexpected entry in %s (migrations are NNNN_name.sql, "
			          "NNNN from 0001, name in [a-z0-9_])",
			          m->dir);
			rc = -1;
			continue;
		}
		if (m->nfiles == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = realloc(m->files, cap * sizeof(*grown))) == NULL) {
				mig_error(m, NULL, "out of memory");
				rc = -1;
				break;
			}
			m->files = grown;
		}
		memset(&m->files[m->nfiles], 0, sizeof(m->files[0]));
		m->files[m->nfiles].version = version;
		/* mig_name_valid() checked that the name fits */
		memcpy(m->files[m->nfiles].name, de->d_name, strlen(de->d_name) + 1);
		m->nfiles++;
	}
	closedir(d);
	if (rc == -1)
		return -1;

	qsort(m->files, m->nfiles, sizeof(m->files[0]), mig_file_cmp);
	for (i = 0; i < m->nfiles; i++) {
		if (i > 0 && m->files[i].version == m->files[i - 1].version) {
			mig_error(m, m->files[i].name, "same version as %s", m->files[i - 1].name);
			return -1;
		}
		if (mig_read_file(m, &m->files[i]) == -1)
			return -1;
	}
	return 0;
}

/* Run a statement without parameters that returns no rows. */
static int
mig_exec(const struct mig_run *m, const char *file, const char *sql)
{
	PGresult *res;
	int rc = 0;

	res = PQexec(m->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		mig_pg_error(m, file, sql, res);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/*
 * Run a statement with text parameters; the result (tuples or command ok)
 * is the caller's to PQclear, NULL after reporting an error.
 */
static PGresult *
mig_query(const struct mig_run *m, const char *what, const char *sql, int nparams,
          const char *const *params)
{
	PGresult *res;

	res = PQexecParams(m->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		mig_pg_error(m, NULL, what, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* The advisory lock key: the first 8 bytes of sha256("yx_migrate:" schema). */
static int
mig_lock_key(const char *schema, char out[24])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char input[16 + MIG_MAX_SCHEMA];
	uint64_t key = 0;
	int n;

	n = snprintf(input, sizeof(input), "yx_migrate:%s", schema);
	if (n < 0 || (size_t)n >= sizeof(input) ||
	    EVP_Digest(input, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1)
		return -1;
	for (i = 0; i < 8; i++)
		key = (key << 8) | md[i];
	snprintf(out, 24, "%" PRId64, (int64_t)key);
	return 0;
}

/* Create the schema (only if missing: CREATE needs rights the owner may lack) and the table. */
static int
mig_prepare_schema(const struct mig_run *m)
{
	const char *params[1] = {m->schema};
	char sql[512];
	PGresult *res;
	bool exists;

	res = mig_query(m, "look up schema", "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1,
	                params);
	if (res == NULL)
		return -1;
	exists = PQntuples(res) > 0;
	PQclear(res);
	if (!exists) {
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", m->qschema);
		if (mig_exec(m, NULL, sql) == -1)
			return -1;
	}
	snprintf(sql, sizeof(sql),
	         "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
	         "version int PRIMARY KEY, "
	         "name text NOT NULL, "
	         "checksum text NOT NULL, "
	         "applied_at timestamptz NOT NULL DEFAULT now())",
	         m->qschema);
	return mig_exec(m, NULL, sql);
}

static struct mig_file *
mig_find(const struct mig_run *m, int version)
{
	size_t i;

	for (i = 0; i < m->nfiles; i++) {
		if (m->files[i].version == version)
			return &m->files[i];
	}
	return NULL;
}

/* Match the recorded migrations against the files; mark the applied ones. */
static int
mig_check_applied(struct mig_run *m)
{
	const char *name, *checksum;
	struct mig_file *f;
	int version, newest = 0, rc = 0, i, n;
	char sql[256];
	PGresult *res;
	size_t k;

	snprintf(sql, sizeof(sql),
	         "SELECT version, name, checksum FROM %s.schema_migrations ORDER BY version",
	         m->qschema);
	if ((res = mig_query(m, "read schema_migrations", sql, 0, NULL)) == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		version = atoi(PQgetvalue(res, i, 0));
		name = PQgetvalue(res, i, 1);
		checksum = PQgetvalue(res, i, 2);
		if (version > newest)
			newest = version;
		if ((f = mig_find(m, version)) == NULL) {
			mig_error(m, name, "applied, but no longer in %s", m->dir);
			rc = -1;
		} else if (strcmp(f->name, name) != 0) {
			mig_error(m, f->name, "version %04d was applied as %s", version, name);
			rc = -1;
		} else if (strcmp(f->checksum, checksum) != 0) {
			mig_error(m, f->name,
			          "changed since it was applied (checksum %s, recorded %s); "
			          "write a new migration instead",
			          f->checksum, checksum);
			rc = -1;
		} else {
			f->applied = true;
		}
	}
	PQclear(res);
	for (k = 0; rc == 0 && k < m->nfiles; k++) {
		if (!m->files[k].applied && m->files[k].version < newest) {
			mig_error(m, m->files[k].name,
			          "not applied, but a later migration (%04d) is; renumber it",
			          newest);
			rc = -1;
		}
	}
	return rc;
}

static int64_t
mig_elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* One file and its schema_migrations row in one transaction. */
static int
mig_apply(const struct mig_run *m, const struct mig_file *f, FILE *report)
{
	char sql[256], version[8];
	const char *params[3];
	struct timespec start;
	ExecStatusType st;
	PGresult *res;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (mig_exec(m, f->name, "BEGIN") == -1)
		return -1;
	snprintf(sql, sizeof(sql), "SET LOCAL search_path TO %s", m->qschema);
	if (mig_exec(m, f->name, sql) == -1)
		goto rollback;

	res = PQexec(m->conn, f->sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
			mig_error(m, f->name, "COPY is not supported in migrations");
		else
			mig_pg_error(m, f->name, "failed", res);
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	if (PQtransactionStatus(m->conn) != PQTRANS_INTRANS) {
		mig_error(m, f->name,
		          "ended the transaction itself (COMMIT or ROLLBACK in the "
		          "file?); it may be partly applied");
		goto rollback;
	}

	snprintf(version, sizeof(version), "%d", f->version);
	params[0] = version;
	params[1] = f->name;
	params[2] = f->checksum;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
	         m->qschema);
	if ((res = mig_query(m, f->name, sql, 3, params)) == NULL)
		goto rollback;
	PQclear(res);
	if (mig_exec(m, f->name, "COMMIT") == -1)
		goto rollback;
	if (report != NULL)
		fprintf(report, "migrate %s: applied %s (%" PRId64 " ms)\n", m->schema, f->name,
		        mig_elapsed_ms(&start));
	return 0;

rollback:
	if (PQtransactionStatus(m->conn) != PQTRANS_IDLE) {
		res = PQexec(m->conn, "ROLLBACK");
		PQclear(res);
	}
	return -1;
}

static int
mig_locked(struct mig_run *m, FILE *report)
{
	size_t i;

	if (mig_prepare_schema(m) == -1 || mig_check_applied(m) == -1)
		return -1;
	for (i = 0; i < m->nfiles; i++) {
		if (m->files[i].applied) {
			if (report != NULL)
				fprintf(report, "migrate %s: skipped %s (already applied)\n",
				        m->schema, m->files[i].name);
			continue;
		}
		if (mig_apply(m, &m->files[i], report) == -1)
			return -1;
	}
	return 0;
}

static void
mig_free(struct mig_run *m)
{
	size_t i;

	for (i = 0; i < m->nfiles; i++)
		free(m->files[i].sql);
	free(m->files);
	if (m->qschema != NULL)
		PQfreemem(m->qschema);
	if (m->conn != NULL)
		PQfinish(m->conn);
}

int
yx_migrate_run(const char *dsn, const char *schema, const char *dir, FILE *report)
{
	struct mig_run m = {.schema = schema, .dir = dir};
	const char *params[1];
	char key[24];
	PGresult *res;
	int rc = -1;

	if (dsn == NULL || schema == NULL || dir == NULL || *schema == '\0' ||
	    strlen(schema) > MIG_MAX_SCHEMA) {
		fprintf(stderr,
		        "migrate: a DSN, a schema name of 1..%d bytes and a directory "
		        "are required\n",
		        MIG_MAX_SCHEMA);
		return -1;
	}
	if (mig_scan(&m) == -1 || mig_lock_key(schema, key) == -1)
		goto out;

	m.conn = PQconnectdb(dsn);
	if (PQstatus(m.conn) != CONNECTION_OK) {
		mig_pg_error(&m, NULL, "connect", NULL);
		goto out;
	}
	m.qschema = PQescapeIdentifier(m.conn, schema, strlen(schema));
	if (m.qschema == NULL) {
		mig_pg_error(&m, NULL, "quote schema name", NULL);
		goto out;
	}
	/* "already exists, skipping" notices on every run are noise. */
	if (mig_exec(&m, NULL, "SET client_min_messages = warning") == -1)
		goto out;

	params[0] = key;
	if ((res = mig_query(&m, "advisory lock", "SELECT pg_advisory_lock($1::bigint)", 1,
	                     params)) == NULL)
		goto out;
	PQclear(res);
	rc = mig_locked(&m, report);
	/* PQfinish would release the lock as well; unlocking says so explicitly. */
	if ((res = mig_query(&m, "advisory unlock", "SELECT pg_advisory_unlock($1::bigint)", 1,
	                     params)) != NULL)
		PQclear(res);
out:
	mig_free(&m);
	if (report != NULL)
		fflush(report);
	return rc;
}
