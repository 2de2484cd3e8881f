/*
 * yx_query.c - query string parameters of a request: strict
 * percent-decoding (no NUL, valid UTF-8, bounded), each name at most once,
 * and a check that nothing outside a list was given.
 */
#include <stdbool.h>
#include <string.h>

#include "yx_json.h"
#include "yx_query.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of s into buf (cap); -1 when malformed or too long. */
static int
query_decode(const char *s, size_t n, char *buf, size_t cap)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= n)
				return -1;
			if ((hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		buf[o++] = c;
	}
	buf[o] = '\0';
	for (i = 0; i < o;) {
		size_t l = yx_json_utf8_len(buf + i, o - i);
		if (l == 0)
			return -1;
		i += l;
	}
	return 0;
}

/*
 * Calls visit(name, namelen, value, valuelen, arg) for each "name=value" of
 * the query string; stops at the first non-zero return and returns it.
 */
static int
query_each(struct http_request *req,
           int (*visit)(const char *, size_t, const char *, size_t, void *), void *arg)
{
	const char *q = req->query_string, *amp, *eq;
	size_t len, nlen;
	int rc;

	if (q == NULL)
		return 0;
	while (*q != '\0') {
		amp = strchr(q, '&');
		len = amp ? (size_t)(amp - q) : strlen(q);
		if (len > 0) {
			eq = memchr(q, '=', len);
			nlen = eq ? (size_t)(eq - q) : len;
			rc = visit(q, nlen, eq ? eq + 1 : q + len, eq ? len - nlen - 1 : 0, arg);
			if (rc != 0)
				return rc;
		}
		if (amp == NULL)
			break;
		q = amp + 1;
	}
	return 0;
}

struct query_find {
	const char *name;
	char *buf;
	size_t cap;
	int found;
};

static int
query_find_visit(const char *n, size_t nlen, const char *v, size_t vlen, void *arg)
{
	struct query_find *f = arg;

	if (strlen(f->name) != nlen || memcmp(f->name, n, nlen) != 0)
		return 0;
	if (f->found)
		return -1; /* given twice */
	if (query_decode(v, vlen, f->buf, f->cap) == -1)
		return -1;
	f->found = 1;
	return 0;
}

int
yx_query_get(struct http_request *req, const char *name, char *buf, size_t cap)
{
	struct query_find f = {name, buf, cap, 0};

	if (cap == 0)
		return -1;
	buf[0] = '\0';
	if (query_each(req, query_find_visit, &f) != 0)
		return -1;
	return f.found;
}

struct query_known {
	const char *const *lists[2];
};

static bool
in_list(const char *const *list, const char *n, size_t nlen)
{
	size_t i;

	for (i = 0; list != NULL && list[i] != NULL; i++) {
		if (strlen(list[i]) == nlen && memcmp(list[i], n, nlen) == 0)
			return true;
	}
	return false;
}

static int
query_known_visit(const char *n, size_t nlen, const char *v, size_t vlen, void *arg)
{
	const struct query_known *k = arg;

	return in_list(k->lists[0], n, nlen) || in_list(k->lists[1], n, nlen) ? 0 : 1;
}

bool
yx_query_only(struct http_request *req, const char *const *allowed, const char *const *also)
{
	struct query_known k = {{allowed, also}};

	return query_each(req, query_known_visit, &k) == 0;
}
