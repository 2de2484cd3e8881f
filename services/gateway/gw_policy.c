/*
 * gw_policy.c - the public-route allowlist, route classes, bearer token
 * parsing, rate-limit subjects of client addresses and CORS origins (see
 * gw_policy.h). Pure code: no Kore, no I/O.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gw_policy.h"

struct public_route {
	const char *path;
	bool credential; /* class auth whatever the method */
};

/* The routes a caller reaches without an access token (DESIGN.md). */
static const struct public_route public_routes[] = {
    {"/api/v1/auth/sms-code", true},
    {"/api/v1/auth/login", true},
    {"/api/v1/auth/refresh", true},
    {"/api/v1/auth/jwks", false},
};

enum gw_class
gw_policy_classify(const char *method, const char *path, bool *is_public)
{
	enum gw_class c;
	size_t i;

	*is_public = false;
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD") || !strcmp(method, "OPTIONS"))
		c = GW_CLASS_READ;
	else
		c = GW_CLASS_WRITE;
	for (i = 0; i < sizeof(public_routes) / sizeof(public_routes[0]); i++) {
		if (!strcmp(path, public_routes[i].path)) {
			*is_public = true;
			if (public_routes[i].credential)
				c = GW_CLASS_AUTH;
			break;
		}
	}
	return c;
}

/* RFC 7235 token68: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="s. */
static bool
token68_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

int
gw_bearer_token(const char *value, size_t max_len, const char **tok, size_t *len)
{
	const char *p;
	size_t n, end;

	*tok = NULL;
	*len = 0;
	if (value == NULL)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, "bearer", 6) != 0)
		return 0;
	p = value + 6;
	if (*p == '\0')
		return -1;
	if (*p != ' ' && *p != '\t')
		return 0; /* another scheme that starts with "bearer" */
	while (*p == ' ' || *p == '\t')
		p++;
	for (n = 0; token68_char(p[n]); n++)
		;
	if (n == 0)
		return -1;
	end = n;
	while (p[end] == '=')
		end++;
	n = end;
	while (p[end] == ' ' || p[end] == '\t')
		end++;
	if (p[end] != '\0' || n > max_len)
		return -1;
	*tok = p;
	*len = n;
	return 1;
}

int
gw_ip_subject(const char *ip, char *out, size_t cap)
{
	struct in6_addr a6;
	const unsigned char *b;
	int n;

	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		b = a6.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&a6))
			n = snprintf(out, cap, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
		else
			n = snprintf(out, cap, "%x:%x:%x:%x::/64", (unsigned)(b[0] << 8 | b[1]),
			             (unsigned)(b[2] << 8 | b[3]), (unsigned)(b[4] << 8 | b[5]),
			             (unsigned)(b[6] << 8 | b[7]));
	} else {
		n = snprintf(out, cap, "%s", ip);
	}
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int64_t
gw_retry_after_seconds(int64_t ms)
{
	if (ms <= 1000)
		return 1;
	return (ms + 999) / 1000;
}

/* scheme://host[:port] in lower case, as a browser's Origin header reads. */
static bool
origin_valid(const char *s, size_t n)
{
	size_t i, start, colon = 0;

	if (n >= 7 && !strncmp(s, "http://", 7))
		start = 7;
	else if (n >= 8 && !strncmp(s, "https://", 8))
		start = 8;
	else
		return false;
	if (n == start || n >= GW_ORIGIN_LEN)
		return false;
	for (i = start; i < n; i++) {
		char c = s[i];
		if (c == ':' && colon == 0 && i > start) {
			colon = i;
			continue;
		}
		if (colon != 0) {
			if (c < '0' || c > '9')
				return false;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return colon == 0 || colon + 1 < n;
}

int
gw_origins_parse(struct gw_origins *o, const char *spec)
{
	const char *p, *comma;
	size_t n;

	memset(o, 0, sizeof(*o));
	if (spec == NULL)
		return 0;
	for (p = spec; *p != '\0'; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		while (p < comma && (*p == ' ' || *p == '\t'))
			p++;
		n = (size_t)(comma - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0) {
			if (o->n == GW_ORIGINS_MAX || !origin_valid(p, n)) {
				memset(o, 0, sizeof(*o));
				return -1;
			}
			memcpy(o->list[o->n], p, n);
			o->list[o->n][n] = '\0';
			o->n++;
		}
		if (*comma == '\0')
			break;
	}
	return 0;
}

bool
gw_origins_allowed(const struct gw_origins *o, const char *origin)
{
	size_t i;

	if (origin == NULL)
		return false;
	for (i = 0; i < o->n; i++) {
		if (!strcmp(o->list[i], origin))
			return true;
	}
	return false;
}
