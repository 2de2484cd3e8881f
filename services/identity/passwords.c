/*
 * passwords.c - argon2id hashing and checking of staff passwords, see
 * passwords.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "passwords.h"
#include "yx_config.h"

/* OWASP Password Storage Cheat Sheet, argon2id, first option. */
#define PW_M_COST   19456 /* KiB */
#define PW_T_COST   2
#define PW_LANES    1
#define PW_SALT_LEN 16
#define PW_HASH_LEN 32

/* Matches nothing: the hash of 32 random bytes nobody kept. */
static char dummy_hash[IDENTITY_PASSWORD_HASH_MAX];

static struct identity_job_pool verify_pool = {"password", 0, 16};

struct verify_arg {
	char hash[IDENTITY_PASSWORD_HASH_MAX];
	char *password;
	size_t n;
};

int
identity_password_hash(const char *password, size_t n, char *out, size_t cap)
{
	unsigned char salt[PW_SALT_LEN];
	int rc;

	if (n > IDENTITY_PASSWORD_MAX ||
	    cap < argon2_encodedlen(PW_T_COST, PW_M_COST, PW_LANES, PW_SALT_LEN, PW_HASH_LEN,
	                            Argon2_id))
		return -1;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	rc = argon2id_hash_encoded(PW_T_COST, PW_M_COST, PW_LANES, password, n, salt, sizeof(salt),
	                           PW_HASH_LEN, out, cap);
	return rc == ARGON2_OK ? 0 : -1;
}

int
identity_passwords_configure(void)
{
	unsigned char secret[32];
	long long cap;
	int rc;

	if (yx_config_int("YX_PASSWORD_QUEUE", 16, 1, 10000, &cap) == -1)
		return -1;
	verify_pool.cap = (unsigned)cap;
	if (RAND_bytes(secret, sizeof(secret)) != 1)
		return -1;
	rc = identity_password_hash((const char *)secret, sizeof(secret), dummy_hash,
	                            sizeof(dummy_hash));
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* On a task thread: 1 when the password matches, 0 otherwise. */
static int
verify_run(void *p)
{
	struct verify_arg *a = p;

	return argon2id_verify(a->hash, a->password, a->n) == ARGON2_OK ? 1 : 0;
}

static void
verify_free(void *p)
{
	struct verify_arg *a = p;

	if (a == NULL)
		return;
	if (a->password != NULL) {
		OPENSSL_cleanse(a->password, a->n);
		free(a->password);
	}
	OPENSSL_cleanse(a->hash, sizeof(a->hash));
	free(a);
}

struct identity_job *
identity_password_verify_start(struct http_request *req, const char *hash, const char *password,
                               size_t n)
{
	struct verify_arg *a;

	if ((a = calloc(1, sizeof(*a))) == NULL || (a->password = malloc(n + 1)) == NULL)
		fatal("out of memory");
	/* Only argon2id hashes are ever written; anything else checks the dummy. */
	if (hash[0] == '\0' || strncmp(hash, "$argon2id$", 10) != 0 ||
	    strlen(hash) >= sizeof(a->hash))
		hash = dummy_hash;
	snprintf(a->hash, sizeof(a->hash), "%s", hash);
	memcpy(a->password, password, n);
	a->password[n] = '\0';
	a->n = n;
	return identity_job_start(req, &verify_pool, verify_run, a, verify_free);
}

bool
identity_password_matched(int job_result)
{
	return job_result == 1;
}
