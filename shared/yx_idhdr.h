/*
 * yx_idhdr: the signed identity headers the gateway adds to every request it
 * forwards to a service, and the role checks services make on them.
 *
 * After verifying the caller's access token the gateway forwards X-Yx-User,
 * X-Yx-Roles, X-Yx-Org, X-Yx-Session and X-Request-Id, plus X-Yx-Sig, an
 * HMAC-SHA256 under a key shared only by the gateway and the services. The
 * MAC covers the method, the path, the request id and every identity field,
 * each length-prefixed, and a timestamp; a service refuses a request whose
 * signature does not verify or is too old, so nothing that reaches a service
 * port directly can claim an identity. A request on a public route carries an
 * empty user and is signed all the same.
 *
 * X-Yx-Sig is "t=<unix seconds>,v1=<64 lowercase hex digits>".
 */
#ifndef YX_IDHDR_H
#define YX_IDHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YX_IDHDR_KEY_LEN 32
/* "t=" + up to 19 digits + ",v1=" + 64 hex + NUL */
#define YX_IDHDR_SIG_MAX 96

/*
 * The caller's identity as carried in the headers. Every field is a
 * NUL-terminated string (empty when absent); user empty means anonymous.
 * roles is the comma-joined "role@org" list of the access token.
 */
struct yx_identity {
	char user[64];
	char roles[1024];
	char org[64];
	char session[64];
};

/*
 * Compute X-Yx-Sig for one forwarded request into sig_out (outcap bytes,
 * YX_IDHDR_SIG_MAX is enough), NUL-terminated. method, path (as the service
 * will see it, query string included) and request_id are NUL-terminated;
 * request_id may be empty but not NULL. now is the current Unix time (>= 0).
 * Returns 0, or -1 (sig_out empty when outcap > 0) on a NULL argument, an
 * unterminated identity field, a control character in any signed value (they
 * travel as header values), a negative now, a too small buffer or a MAC failure.
 */
int yx_idhdr_sign(const unsigned char key[32], const char *method, const char *path,
                  const char *request_id, const struct yx_identity *id, int64_t now, char *sig_out,
                  size_t outcap);

/*
 * Check X-Yx-Sig (sig, NUL-terminated) against the request as received.
 * Returns 0 when sig is well formed ("t=<digits>,v1=<64 lowercase hex>",
 * nothing more), the MAC matches (compared in constant time) and
 * |now - t| <= max_skew; -1 for anything else, including a NULL argument, a
 * negative max_skew, or values the signer would have refused.
 */
int yx_idhdr_verify(const unsigned char key[32], const char *method, const char *path,
                    const char *request_id, const struct yx_identity *id, const char *sig,
                    int64_t now, int64_t max_skew);

/*
 * True when the comma-joined "role@org" list roles_csv holds an entry whose
 * role is exactly role and, unless org is NULL (any org), whose org is exactly
 * org. Entries are compared whole: "staff" does not match "community_staff@1"
 * and org "1" does not match "role@12". False for NULL roles_csv or role, or
 * an empty role.
 */
bool yx_roles_has(const char *roles_csv, const char *role, const char *org);

#endif
