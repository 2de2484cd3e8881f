/*
 * errors_people.h - the error codes of identity's people part (org tree,
 * requests, roles). The SQL functions of sql/0003_people.sql raise them by
 * name; yx_db_reply_error() finds them in the table.
 */
#ifndef IDENTITY_ERRORS_PEOPLE_H
#define IDENTITY_ERRORS_PEOPLE_H

/*
 * Adds the people error codes to the process's error table. A code some
 * other part of the service registered already is kept as it is, provided
 * it has the same status; -1 when a status differs or registration fails.
 * Call from the service's configure, before workers start.
 */
int identity_people_errors_register(void);

#endif
