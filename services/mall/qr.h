/*
 * qr.h - the rotating, signed QR tokens of volunteer activities: the
 * organizer's screen shows one, a volunteer's app scans it and sends it
 * with a check-in or check-out (activities.c). Pure code, without Kore,
 * libpq or Redis, so tests/unit/test_mall_qr.c runs it alone.
 *
 * A token is base64url (no padding) of
 *   version (1) | purpose (1) | activity id (8, big-endian) |
 *   issued at (8, Unix seconds, big-endian) |
 *   the first 16 bytes of HMAC-SHA256(key, "yx-mall-qr-v1" | those 18 bytes)
 * and is good for MALL_QR_TTL seconds from its issue time: it binds one
 * activity, one purpose and one 60-second window, so a photo of the screen
 * sent to someone at home stops working within a minute. Every token of a
 * window may be scanned by every volunteer of the activity; who may check in
 * is decided by the sign-ups, not by the token.
 */
#ifndef MALL_QR_H
#define MALL_QR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds a token is accepted after it was issued. */
#define MALL_QR_TTL 60
/*
 * Seconds a token may come from the future: instances of the service mint
 * and verify with their own clocks, which may differ a little.
 */
#define MALL_QR_SKEW 5
/* Length of every token (no NUL), and a buffer that holds one. */
#define MALL_QR_TOKEN_LEN 46
#define MALL_QR_TOKEN_MAX 64
/* "YYYY-MM-DDTHH:MM:SSZ" and its NUL. */
#define MALL_QR_TIME_MAX 21

enum mall_qr_purpose {
	MALL_QR_CHECK_IN = 1,
	MALL_QR_CHECK_OUT = 2,
};

/* What verification found; only MALL_QR_OK lets a check-in through. */
enum mall_qr_rc {
	MALL_QR_OK,
	MALL_QR_MALFORMED, /* not a token of this version, or its MAC does not verify */
	MALL_QR_MISMATCH,  /* a genuine token of another activity or purpose */
	MALL_QR_EXPIRED,   /* issued MALL_QR_TTL seconds ago or earlier */
	MALL_QR_EARLY,     /* issued more than MALL_QR_SKEW seconds in the future */
};

/*
 * "check_in" or "check_out" into *out; -1 for anything else (NULL too).
 */
int mall_qr_purpose_parse(const char *s, enum mall_qr_purpose *out);

/* The API name of a purpose ("check_in", "check_out"); "" when unknown. */
const char *mall_qr_purpose_name(enum mall_qr_purpose p);

/*
 * The QR key derived from another 32-byte secret (the cursor key, when the
 * deployment gives no YX_QR_KEY): HMAC-SHA256(base, MALL_QR_KEY_LABEL), so
 * the derived key says nothing about the base and tokens cannot be made from
 * cursors. -1 when the digest fails (out is then zeroed).
 */
#define MALL_QR_KEY_LABEL "yx-mall activity qr key v1"
int mall_qr_derive_key(const unsigned char base[32], unsigned char out[32]);

/*
 * Mints the token of `activity` (> 0) and purpose p at Unix time `now` into
 * out (cap >= MALL_QR_TOKEN_LEN + 1, NUL-terminated) and its end of validity
 * (now + MALL_QR_TTL) into *expires_at when not NULL. -1 on a bad argument
 * or when the digest fails.
 */
int mall_qr_mint(const unsigned char key[32], int64_t activity, enum mall_qr_purpose p, int64_t now,
                 char *out, size_t cap, int64_t *expires_at);

/*
 * Checks len characters of token for `activity` and purpose p at Unix time
 * `now`: accepted while issued - MALL_QR_SKEW <= now < issued + MALL_QR_TTL.
 * The MAC is compared in constant time and checked before anything the
 * token says is believed.
 */
enum mall_qr_rc mall_qr_verify(const unsigned char key[32], const char *token, size_t len,
                               int64_t activity, enum mall_qr_purpose p, int64_t now);

/* Unix time t as "YYYY-MM-DDTHH:MM:SSZ" into out[MALL_QR_TIME_MAX]; -1 when out of range. */
int mall_qr_time_text(int64_t t, char out[MALL_QR_TIME_MAX]);

#endif
