/*
 * passwords.h - staff passwords: argon2id with the OWASP parameters
 * (m = 19456 KiB, t = 2, p = 1), hashed in the PHC string form libargon2
 * writes ($argon2id$v=19$m=19456,t=2,p=1$salt$hash). Checking a password
 * in the service runs on a task thread (offload.h), so a worker never
 * blocks on it.
 */
#ifndef IDENTITY_PASSWORDS_H
#define IDENTITY_PASSWORDS_H

#include <stdbool.h>
#include <stddef.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "offload.h"

#define IDENTITY_PASSWORD_MIN      10  /* characters (bytes) for a new password */
#define IDENTITY_PASSWORD_MAX      128 /* bytes accepted at all, bounding the work */
#define IDENTITY_PASSWORD_HASH_MAX 256

/*
 * Computes the dummy hash checked when a phone has no password, so such a
 * login costs as much as a real one and timing does not tell them apart;
 * reads YX_PASSWORD_QUEUE. Call in the parent. -1 on failure.
 */
int identity_passwords_configure(void);

/*
 * Hashes password (n bytes) with a fresh random salt into out (cap bytes,
 * IDENTITY_PASSWORD_HASH_MAX is enough), NUL-terminated. Blocking (tens of
 * milliseconds and 19 MiB): for commands, never a worker. 0 or -1.
 */
int identity_password_hash(const char *password, size_t n, char *out, size_t cap);

/*
 * Starts checking password (n bytes, copied) against the encoded hash;
 * an empty hash checks against the dummy, which never matches. NULL when
 * too many checks already wait in this worker (the caller answers 503).
 */
struct identity_job *identity_password_verify_start(struct http_request *req, const char *hash,
                                                    const char *password, size_t n);

/* The result of a finished check job: true when the password matched. */
bool identity_password_matched(int job_result);

#endif
