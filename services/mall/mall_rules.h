/*
 * mall_rules.h - the pure rules of yx-mall, without Kore, libpq or Redis, so
 * unit tests can run them alone (tests/unit/test_mall_rules.c): ids, the
 * Idempotency-Key and the request hash, who is staff of which community,
 * RFC 3339 times, text and URL fields, and the local calendar periods of
 * the leaderboards.
 */
#ifndef MALL_RULES_H
#define MALL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest id (user, community, item, order): 18 digits fit a bigint. */
#define MALL_ID_MAX 18
/* Longest Idempotency-Key. */
#define MALL_IDEM_KEY_MAX 128
/* Hex SHA-256 and its NUL. */
#define MALL_HASH_HEX 65
/* Largest number of communities one caller can be staff of, as counted. */
#define MALL_SCOPES_MAX 32
/* "{" + MALL_SCOPES_MAX ids and commas + "}" + NUL */
#define MALL_SCOPES_TEXT (MALL_SCOPES_MAX * (MALL_ID_MAX + 1) + 3)
/*
 * Offset of the local calendar (China Standard Time, no daylight saving):
 * must agree with local_zone() in services/mall/sql/0001_ledger.sql.
 */
#define MALL_LOCAL_UTC_OFFSET (8 * 3600)

/*
 * True when s is an id in canonical form: 1 to 18 ASCII digits without a
 * leading zero (so "7" and "007" never name two cache entries).
 */
bool mall_id_valid(const char *s);

/*
 * Reads the id that follows `prefix` in `path` into id[MALL_ID_MAX + 1]
 * and points *rest at what follows it ("" or "/..."). False when path does
 * not start with prefix or the id is not canonical.
 */
bool mall_path_id(const char *path, const char *prefix, char *id, const char **rest);

/* True when s is 1 to 128 visible ASCII characters (0x21..0x7e). */
bool mall_idem_key_valid(const char *s);

/*
 * The request hash stored with an Idempotency-Key: lowercase hex SHA-256 of
 * method "\n" path "\n" body, into out[MALL_HASH_HEX]. body may be NULL when
 * len is 0. -1 only when the digest fails.
 */
int mall_request_hash(const char *method, const char *path, const void *body, size_t len,
                      char out[MALL_HASH_HEX]);

/*
 * True when the comma-joined "role@org" list holds community_staff or
 * community_secretary at exactly `community`. Roles above a community
 * (street_admin, district_admin) do not count: the mall does not know the
 * org tree, so only staff of the community itself manage its store.
 */
bool mall_is_staff(const char *roles, const char *community);

/*
 * The communities the roles make the caller staff of, as a PostgreSQL
 * bigint[] literal ("{12,40}", "{}" for none) into out (cap bytes, at least
 * MALL_SCOPES_TEXT). Entries with a malformed org are skipped, duplicates
 * dropped. Returns the number of communities, or -1 when out is too small.
 */
int mall_staff_scopes(const char *roles, char *out, size_t cap);

/*
 * True when s is an RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS, an optional
 * fraction of 1 to 6 digits, then Z or +HH:MM / -HH:MM; 'T' and 'Z' also in
 * lower case. The date must exist (leap years included); seconds 00..59.
 */
bool mall_time_valid(const char *s);

/*
 * True when the UTF-8 text s of len bytes is well formed, has between
 * min_chars and max_chars code points, no control characters (newline and
 * tab allowed only when multiline), and is not all spaces when min_chars > 0.
 */
bool mall_text_valid(const char *s, size_t len, size_t min_chars, size_t max_chars, bool multiline);

/* True when s is an http:// or https:// URL of at most 500 bytes, without spaces or controls. */
bool mall_url_valid(const char *s);

/*
 * The leaderboard period label at Unix time `now` in the local calendar:
 * "YYYY-MM" for period "month", "YYYY" for "year", into out (cap >= 8).
 * -1 for another period or a too small buffer.
 */
int mall_period_label(const char *period, int64_t now, char *out, size_t cap);

#endif
