/*
 * identity_db.h - every SQL statement of the identity service. Callers get
 * plain structs; no PGresult is read outside identity_db.c.
 */
#ifndef IDENTITY_DB_H
#define IDENTITY_DB_H

#include "yx_db.h"

struct identity_user {
	char id[24];
	char display_name[128];
	char avatar_url[512];
	char phone_enc[256];
	char phone_masked[16];
	char status[16];
	char created_at[40];
};

/* Registers every statement below to be prepared on each connection. */
int identity_db_register(void);

/* SELECT of one active user by id (text). */
enum yx_db_rc identity_db_user_get(struct http_request *req, const char *user_id, PGresult **res);

/* Copies the first row of a user query into u; -1 when there is no row. */
int identity_db_user_row(PGresult *res, struct identity_user *u);

#endif
