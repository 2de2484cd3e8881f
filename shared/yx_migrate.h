/*
 * yx_migrate: the schema migration runner behind every service's `migrate`
 * command.
 *
 * A service's migrations are the files NNNN_name.sql in one directory
 * (exactly four digits from 0001, an underscore, [a-z0-9_]+, ".sql"); they are
 * applied in version order into the service's own schema and recorded in
 * <schema>.schema_migrations (version, name, sha256 checksum, applied_at).
 */
#ifndef YX_MIGRATE_H
#define YX_MIGRATE_H

#include <stdio.h>

/*
 * Bring schema (created if missing) up to date with the migrations in dir,
 * connecting with dsn. The directory is checked before anything else: any
 * other entry (a misspelt name, a subdirectory, a stray file) and two files
 * with one version are errors, so a typo never skips a migration silently.
 * A session advisory lock derived from the schema name serialises runners, so
 * services starting together apply each file exactly once. Each pending file
 * runs in its own transaction with `SET LOCAL search_path` to the schema,
 * together with its schema_migrations row: a failing file leaves nothing
 * behind. Files must therefore not contain transaction control (BEGIN,
 * COMMIT) or statements that cannot run in a transaction; a file that ends
 * the transaction itself is reported as an error. It refuses to go on, before
 * applying anything, when an applied migration's file is missing, renamed or
 * changed (checksum), or when a pending file is older than the newest applied
 * one. Writes one line per file ("applied" or "skipped") to report, which may
 * be NULL. 0 when the schema is up to date; -1 with a message on stderr
 * naming the file and quoting PostgreSQL's error.
 */
int yx_migrate_run(const char *dsn, const char *schema, const char *dir, FILE *report);

#endif
