/*
 * bootstrap.c - `yx-identity bootstrap-admin --phone P --password W
 * [--district NAME]`: creates the district (莲湖区 unless named) if it does
 * not exist, the account of the phone with an argon2id password, and the
 * district_admin role there. Idempotent on the phone: run again, it sets
 * the new password. Connects synchronously to YX_DB_DSN with the field
 * keys of the service (YX_FIELD_KEY, YX_INDEX_KEY); prints the user id and
 * never the password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "bootstrap.h"
#include "identity_db_auth.h"
#include "passwords.h"
#include "users.h"
#include "yx_config.h"
#include "yx_fieldcrypt.h"
#include "yx_service.h"

#define DISTRICT_DEFAULT "莲湖区"
#define DISTRICT_MAX     300 /* bytes; the orgs table allows 100 characters */

struct bootstrap_args {
	const char *phone;
	const char *password;
	const char *password_file;
	const char *district;
};

static int
usage_error(const char *msg)
{
	fprintf(stderr, "bootstrap-admin: %s\nusage: yx-identity " IDENTITY_COMMANDS_HELP, msg);
	return 2;
}

static int
parse_args(int argc, char **argv, struct bootstrap_args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	a->district = DISTRICT_DEFAULT;
	for (i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			return -1;
		if (!strcmp(argv[i], "--phone"))
			a->phone = argv[++i];
		else if (!strcmp(argv[i], "--password"))
			a->password = argv[++i];
		else if (!strcmp(argv[i], "--password-file"))
			a->password_file = argv[++i];
		else if (!strcmp(argv[i], "--district"))
			a->district = argv[++i];
		else
			return -1;
	}
	if (a->phone == NULL || (a->password == NULL) == (a->password_file == NULL))
		return -1;
	return 0;
}

/* The first line of path into buf (cap bytes). -1 when unreadable or too long. */
static int
read_password_file(const char *path, char *buf, size_t cap)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return n == cap - 1 ? -1 : 0;
}

static int
bootstrap(const struct bootstrap_args *a, const char *password)
{
	unsigned char field_key[32], index_key[32];
	char phone[12], idx[YX_BLIND_INDEX_HEX_LEN + 1], masked[12], user_id[32];
	char hash[IDENTITY_PASSWORD_HASH_MAX];
	char *enc = NULL;
	PGconn *conn;
	size_t n = strlen(password);
	int rc = 1;

	if (!yx_phone_normalize(a->phone, phone))
		return usage_error("--phone: expected a mainland mobile number");
	if (n < IDENTITY_PASSWORD_MIN || n > IDENTITY_PASSWORD_MAX)
		return usage_error("the password must be 10 to 128 bytes long");
	if (a->district[0] == '\0' || strlen(a->district) > DISTRICT_MAX)
		return usage_error("--district: expected a name of 1 to 100 characters");
	if (yx_config_key("YX_FIELD_KEY", field_key, sizeof(field_key)) == -1 ||
	    yx_config_key("YX_INDEX_KEY", index_key, sizeof(index_key)) == -1)
		return 2;
	if (yx_blind_index(index_key, "phone", phone, idx) == -1 ||
	    yx_phone_mask(phone, masked) == -1 ||
	    yx_field_encrypt(field_key, 0, IDENTITY_PHONE_AAD, (const unsigned char *)phone,
	                     strlen(phone), &enc) == -1 ||
	    identity_password_hash(password, n, hash, sizeof(hash)) == -1) {
		fprintf(stderr, "bootstrap-admin: cannot protect the phone or the password\n");
		goto out;
	}
	conn = PQconnectdb(yx_app.dsn);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "bootstrap-admin: cannot connect: %s", PQerrorMessage(conn));
	} else if (identity_db_bootstrap_admin(conn, idx, enc, masked, hash, a->district, user_id,
	                                       sizeof(user_id)) == 0) {
		printf("%s\n", user_id);
		fprintf(stderr, "bootstrap-admin: user %s (%s) is district_admin of %s\n", user_id,
		        masked, a->district);
		rc = 0;
	}
	PQfinish(conn);
out:
	OPENSSL_cleanse(field_key, sizeof(field_key));
	OPENSSL_cleanse(index_key, sizeof(index_key));
	OPENSSL_cleanse(hash, sizeof(hash));
	free(enc);
	return rc;
}

int
identity_command(int argc, char **argv, int *exit_code)
{
	struct bootstrap_args a;
	char buf[IDENTITY_PASSWORD_MAX + 2];

	if (argc < 2 || strcmp(argv[1], "bootstrap-admin") != 0)
		return 0;
	if (parse_args(argc, argv, &a) == -1) {
		*exit_code = usage_error("expected --phone and one of --password, --password-file");
		return 1;
	}
	if (a.password_file != NULL) {
		if (read_password_file(a.password_file, buf, sizeof(buf)) == -1) {
			*exit_code = usage_error("--password-file: unreadable or too long");
			return 1;
		}
		*exit_code = bootstrap(&a, buf);
		OPENSSL_cleanse(buf, sizeof(buf));
		return 1;
	}
	*exit_code = bootstrap(&a, a.password);
	return 1;
}
