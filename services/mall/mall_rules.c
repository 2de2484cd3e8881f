/*
 * mall_rules.c - the pure rules of yx-mall, see mall_rules.h. Nothing here
 * allocates or touches the network; every result lands in caller buffers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "mall_rules.h"
#include "yx_encode.h"
#include "yx_idhdr.h"
#include "yx_json.h"

bool
mall_id_valid(const char *s)
{
	size_t i, n;

	if (s == NULL || (n = strnlen(s, MALL_ID_MAX + 1)) == 0 || n > MALL_ID_MAX || s[0] == '0')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

bool
mall_path_id(const char *path, const char *prefix, char *id, const char **rest)
{
	size_t plen = strlen(prefix), n = 0;
	const char *p;

	if (strncmp(path, prefix, plen) != 0)
		return false;
	p = path + plen;
	while (p[n] >= '0' && p[n] <= '9') {
		if (n >= MALL_ID_MAX)
			return false;
		id[n] = p[n];
		n++;
	}
	if (n == 0 || (p[n] != '\0' && p[n] != '/'))
		return false;
	id[n] = '\0';
	if (!mall_id_valid(id))
		return false;
	*rest = p + n;
	return true;
}

bool
mall_idem_key_valid(const char *s)
{
	size_t i, n;

	if (s == NULL || (n = strnlen(s, MALL_IDEM_KEY_MAX + 1)) == 0 || n > MALL_IDEM_KEY_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	}
	return true;
}

int
mall_request_hash(const char *method, const char *path, const void *body, size_t len,
                  char out[MALL_HASH_HEX])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	out[0] = '\0';
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, method, strlen(method)) == 1 &&
	     EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
	     EVP_DigestUpdate(ctx, path, strlen(path)) == 1 &&
	     EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
	     (len == 0 || EVP_DigestUpdate(ctx, body, len) == 1) &&
	     EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == sizeof(md);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	return yx_hex_encode(md, sizeof(md), out, MALL_HASH_HEX);
}

/* The roles that manage a community's store and awards. */
static const char *const staff_roles[] = {"community_staff", "community_secretary"};

bool
mall_is_staff(const char *roles, const char *community)
{
	size_t i;

	if (roles == NULL || !mall_id_valid(community))
		return false;
	for (i = 0; i < sizeof(staff_roles) / sizeof(staff_roles[0]); i++) {
		if (yx_roles_has(roles, staff_roles[i], community))
			return true;
	}
	return false;
}

/* True when the n bytes at s are one of staff_roles. */
static bool
is_staff_role(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(staff_roles) / sizeof(staff_roles[0]); i++) {
		if (strlen(staff_roles[i]) == n && memcmp(staff_roles[i], s, n) == 0)
			return true;
	}
	return false;
}

int
mall_staff_scopes(const char *roles, char *out, size_t cap)
{
	char ids[MALL_SCOPES_MAX][MALL_ID_MAX + 1], org[MALL_ID_MAX + 2];
	const char *p = roles, *end, *at;
	size_t n = 0, i, len, used;
	int w;

	if (cap < 3)
		return -1;
	while (p != NULL && *p != '\0' && n < MALL_SCOPES_MAX) {
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		at = memchr(p, '@', len);
		if (at != NULL && is_staff_role(p, (size_t)(at - p)) &&
		    len - (size_t)(at - p) - 1 < sizeof(org)) {
			memcpy(org, at + 1, len - (size_t)(at - p) - 1);
			org[len - (size_t)(at - p) - 1] = '\0';
			if (mall_id_valid(org)) {
				for (i = 0; i < n && strcmp(ids[i], org) != 0; i++)
					;
				if (i == n)
					memcpy(ids[n++], org, strlen(org) + 1);
			}
		}
		p = end ? end + 1 : NULL;
	}
	out[0] = '{';
	used = 1;
	for (i = 0; i < n; i++) {
		w = snprintf(out + used, cap - used, "%s%s", i ? "," : "", ids[i]);
		if (w < 0 || (size_t)w >= cap - used)
			return -1;
		used += (size_t)w;
	}
	if (cap - used < 2)
		return -1;
	out[used++] = '}';
	out[used] = '\0';
	return (int)n;
}

/* Reads exactly n digits at s into *v. */
static bool
digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

bool
mall_time_valid(const char *s)
{
	int y, mo, d, h, mi, sec, oh, om, n;
	const char *p;

	if (s == NULL || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 59)
		return false;
	p = s + 19;
	if (*p == '.') {
		for (n = 0, p++; *p >= '0' && *p <= '9'; p++)
			n++;
		if (n < 1 || n > 6)
			return false;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return true;
	if ((*p != '+' && *p != '-') || strlen(p) != 6 || !digits(p + 1, 2, &oh) || p[3] != ':' ||
	    !digits(p + 4, 2, &om))
		return false;
	return oh <= 23 && om <= 59;
}

bool
mall_text_valid(const char *s, size_t len, size_t min_chars, size_t max_chars, bool multiline)
{
	size_t i = 0, l, chars = 0;
	bool blank = true;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if ((l = yx_json_utf8_len(s + i, len - i)) == 0)
			return false;
		if (l == 1 && (c < 0x20 || c == 0x7f)) {
			if (!multiline || (c != '\n' && c != '\t' && c != '\r'))
				return false;
		}
		if (!(l == 1 && (c == ' ' || c == '\n' || c == '\t' || c == '\r')))
			blank = false;
		chars++;
		i += l;
	}
	if (chars < min_chars || chars > max_chars)
		return false;
	return min_chars == 0 || !blank;
}

bool
mall_url_valid(const char *s)
{
	size_t i, n = strlen(s), scheme;

	if (strncmp(s, "https://", 8) == 0)
		scheme = 8;
	else if (strncmp(s, "http://", 7) == 0)
		scheme = 7;
	else
		return false;
	if (n <= scheme || n > 500)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	}
	return true;
}

int
mall_period_label(const char *period, int64_t now, char *out, size_t cap)
{
	time_t t = (time_t)(now + MALL_LOCAL_UTC_OFFSET);
	struct tm tm;
	int n;

	if (cap < 8 || gmtime_r(&t, &tm) == NULL)
		return -1;
	if (strcmp(period, "month") == 0)
		n = snprintf(out, cap, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
	else if (strcmp(period, "year") == 0)
		n = snprintf(out, cap, "%04d", tm.tm_year + 1900);
	else
		return -1;
	return n > 0 && (size_t)n < cap ? 0 : -1;
}
