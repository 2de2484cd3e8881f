/*
 * Unit tests for services/gateway/gw_http1.c: response heads (well-formed,
 * incremental and every kind of refusal), body framing and keep-alive
 * decisions, header lookup and token lists, and the in-place chunked decoder
 * (sizes, extensions, trailers, the body limit, malformed framing, and input
 * split at every byte boundary).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_http1.h"

#define BUF_MAX 32768

static char buf[BUF_MAX];
static struct gw_http1_head head;

/* Copy s into buf and parse it as a head; buf stays as the parser left it. */
static ssize_t
parse(const char *s, size_t len)
{
	assert_true(len <= sizeof(buf));
	memcpy(buf, s, len);
	return gw_http1_parse_head(buf, len, &head);
}

static ssize_t
parse_str(const char *s)
{
	return parse(s, strlen(s));
}

/* Parse s, which must be a complete head of its whole length, and frame it. */
static int
parse_frame(const char *s, bool head_request)
{
	ssize_t n = parse_str(s);

	if (n != (ssize_t)strlen(s))
		fail_msg("head not accepted (%zd): %s", n, s);
	return gw_http1_framing(buf, &head, head_request);
}

/* Literals may hold NUL bytes, so their length comes from sizeof. */
#define REFUSED(lit) assert_head_refused(lit, sizeof(lit) - 1)

static void
assert_head_refused(const char *s, size_t len)
{
	ssize_t n = parse(s, len);

	if (n != -1)
		fail_msg("head accepted (%zd): %.*s", n, (int)len, s);
}

static void
assert_framing_refused(const char *s, bool head_request)
{
	if (parse_frame(s, head_request) != -1)
		fail_msg("framing accepted: %s", s);
}

static const char *
hname(size_t i)
{
	return buf + head.headers[i].name_off;
}

static const char *
hvalue(size_t i)
{
	return buf + head.headers[i].value_off;
}

/* --- well-formed heads ------------------------------------------------------ */

static void
test_content_length(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\n"
	                        "Content-Type: text/plain\r\n"
	                        "Content-Length: 5\r\n"
	                        "\r\n"
	                        "hello";

	(void)state;
	assert_int_equal(parse(r, sizeof(r) - 1), sizeof(r) - 1 - 5);
	assert_int_equal(head.minor_version, 1);
	assert_int_equal(head.status, 200);
	assert_int_equal(head.nheaders, 2);
	assert_string_equal(hname(0), "Content-Type");
	assert_int_equal(head.headers[0].name_len, 12);
	assert_string_equal(hvalue(0), "text/plain");
	assert_int_equal(head.headers[0].value_len, 10);
	assert_string_equal(hname(1), "Content-Length");
	assert_string_equal(hvalue(1), "5");
	assert_memory_equal(buf + sizeof(r) - 1 - 5, "hello", 5);

	assert_int_equal(gw_http1_framing(buf, &head, false), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_LENGTH);
	assert_int_equal(head.content_length, 5);
	assert_true(head.keep_alive);
}

static void
test_content_length_values(void **state)
{
	(void)state;
	assert_int_equal(parse_frame("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_LENGTH);
	assert_int_equal(head.content_length, 0);
	assert_true(head.keep_alive);

	assert_int_equal(parse_frame("HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n", false), 0);
	assert_int_equal(head.content_length, 7);

	/* 18 digits is the longest accepted value. */
	assert_int_equal(
	    parse_frame("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n", false), 0);
	assert_int_equal(head.content_length, UINT64_C(999999999999999999));

	/* The same value twice is not a conflict. */
	assert_int_equal(
	    parse_frame("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n", false),
	    0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_LENGTH);
	assert_int_equal(head.content_length, 3);
}

static void
test_status_line_forms(void **state)
{
	(void)state;
	/* No reason phrase at all. */
	assert_int_equal(parse_str("HTTP/1.1 200\r\n\r\n"), 16);
	assert_int_equal(head.status, 200);
	assert_int_equal(head.nheaders, 0);
	/* An empty reason phrase. */
	assert_int_equal(parse_str("HTTP/1.1 404 \r\n\r\n"), 17);
	assert_int_equal(head.status, 404);
	/* HTAB, spaces and obs-text in the reason phrase. */
	assert_int_equal(parse_str("HTTP/1.1 500 Internal\tServer  \xc3\xa9rror\r\n\r\n"), 40);
	assert_int_equal(head.status, 500);
	/* Both ends of the status range, and HTTP/1.0. */
	assert_int_equal(parse_str("HTTP/1.1 100 Continue\r\n\r\n"), 25);
	assert_int_equal(head.status, 100);
	assert_int_equal(parse_str("HTTP/1.0 599 x\r\n\r\n"), 18);
	assert_int_equal(head.status, 599);
	assert_int_equal(head.minor_version, 0);
}

static void
test_bare_lf(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\nA: 1\nB: 2\n\nbody";

	(void)state;
	assert_int_equal(parse(r, sizeof(r) - 1), sizeof(r) - 1 - 4);
	assert_int_equal(head.nheaders, 2);
	assert_string_equal(hname(0), "A");
	assert_string_equal(hvalue(0), "1");
	assert_string_equal(hname(1), "B");
	assert_string_equal(hvalue(1), "2");

	/* Mixed line endings. */
	assert_int_equal(parse_str("HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\n"), 29);
	assert_int_equal(head.nheaders, 2);
	assert_string_equal(hvalue(1), "2");
}

static void
test_header_values(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\n"
	                        "X-Pad: \t  a  b\t \r\n"
	                        "X-Empty:\r\n"
	                        "X-Blank:   \r\n"
	                        "X-Tight:v\r\n"
	                        "X-Obs: \x80\xff\r\n"
	                        "X-Chars: !#$%&'*+-.^_`|~\"(),/:;<=>?@[\\]{}\r\n"
	                        "!#$%&'*+-.^_`|~09azAZ: token-name\r\n"
	                        "\r\n";

	(void)state;
	assert_int_equal(parse(r, sizeof(r) - 1), sizeof(r) - 1);
	assert_int_equal(head.nheaders, 7);
	assert_string_equal(hvalue(0), "a  b");
	assert_int_equal(head.headers[0].value_len, 4);
	assert_string_equal(hvalue(1), "");
	assert_int_equal(head.headers[1].value_len, 0);
	assert_string_equal(hvalue(2), "");
	assert_int_equal(head.headers[2].value_len, 0);
	assert_string_equal(hname(3), "X-Tight");
	assert_string_equal(hvalue(3), "v");
	assert_string_equal(hvalue(4), "\x80\xff");
	assert_string_equal(hvalue(5), "!#$%&'*+-.^_`|~\"(),/:;<=>?@[\\]{}");
	assert_string_equal(hname(6), "!#$%&'*+-.^_`|~09azAZ");
	assert_string_equal(hvalue(6), "token-name");
}

static void
test_chunked_framing(void **state)
{
	(void)state;
	assert_int_equal(
	    parse_frame("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_CHUNKED);
	assert_int_equal(head.content_length, 0);
	assert_true(head.keep_alive);

	/* Coding names are case-insensitive. */
	assert_int_equal(
	    parse_frame("HTTP/1.1 200 OK\r\ntransfer-encoding:  ChUnKeD \r\n\r\n", false), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_CHUNKED);
}

/*
 * Content-Length and Transfer-Encoding together: RFC 9112 section 6.3 lets
 * chunked win; the connection must not be reused afterwards.
 */
static void
test_content_length_and_chunked(void **state)
{
	(void)state;
	assert_int_equal(parse_frame("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
	                             "Transfer-Encoding: chunked\r\n\r\n",
	                             false),
	                 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_CHUNKED);
	assert_int_equal(head.content_length, 0);
	assert_false(head.keep_alive);

	assert_int_equal(parse_frame("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	                             "Content-Length: 10\r\nConnection: keep-alive\r\n\r\n",
	                             false),
	                 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_CHUNKED);
	assert_false(head.keep_alive);

	/* A malformed Content-Length is refused even beside chunked. */
	assert_framing_refused("HTTP/1.1 200 OK\r\nContent-Length: x\r\n"
	                       "Transfer-Encoding: chunked\r\n\r\n",
	                       false);
}

static void
test_close_delimited(void **state)
{
	(void)state;
	assert_int_equal(parse_frame("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n", false),
	                 0);
	assert_int_equal(head.minor_version, 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_CLOSE);
	assert_false(head.keep_alive);

	/* Asking to keep the connection cannot help: only closing ends the body. */
	assert_int_equal(parse_frame("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false),
	                 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_CLOSE);
	assert_false(head.keep_alive);

	assert_int_equal(parse_frame("HTTP/1.1 200 OK\r\n\r\n", false), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_CLOSE);
	assert_false(head.keep_alive);
}

static void
test_head_request(void **state)
{
	(void)state;
	assert_int_equal(parse_frame("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_NONE);
	assert_int_equal(head.content_length, 0);
	assert_true(head.keep_alive);

	assert_int_equal(parse_frame("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true),
	                 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_NONE);
	assert_true(head.keep_alive);

	/* Neither length nor chunked: still nothing follows, and the connection is fine. */
	assert_int_equal(parse_frame("HTTP/1.1 200 OK\r\n\r\n", true), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_NONE);
	assert_true(head.keep_alive);

	assert_int_equal(parse_frame("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", true), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_NONE);
	assert_true(head.keep_alive);
}

static void
test_no_body_statuses(void **state)
{
	static const char *const r[] = {
	    "HTTP/1.1 204 No Content\r\n\r\n",
	    "HTTP/1.1 204 No Content\r\nContent-Length: 12\r\n\r\n",
	    "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n",
	    "HTTP/1.1 304 Not Modified\r\n\r\n",
	    "HTTP/1.1 100 Continue\r\n\r\n",
	    "HTTP/1.1 102 Processing\r\nContent-Length: 5\r\n\r\n",
	    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
	    "HTTP/1.1 199 x\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		assert_int_equal(parse_frame(r[i], false), 0);
		if (head.framing != GW_HTTP1_BODY_NONE)
			fail_msg("a body expected after: %s", r[i]);
		assert_int_equal(head.content_length, 0);
		assert_true(head.keep_alive);
	}
	/* 205 and 200 do have bodies. */
	assert_int_equal(parse_frame("HTTP/1.1 205 Reset\r\nContent-Length: 0\r\n\r\n", false), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_LENGTH);
}

/* --- incremental parsing ---------------------------------------------------- */

static void
test_incremental(void **state)
{
	static const char *const r[] = {
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\n",
	    "HTTP/1.1 200 OK\nA: 1\n\n",
	    "HTTP/1.0 204 \r\n\r\n",
	    "HTTP/1.1 200\r\n\r\n",
	};
	static struct gw_http1_head untouched;
	size_t i, k, len;
	ssize_t n;

	(void)state;
	memset(&untouched, 0xa5, sizeof(untouched));
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		len = strlen(r[i]);
		/* Every proper prefix needs more bytes and leaves the buffer alone. */
		for (k = 0; k < len; k++) {
			memcpy(buf, r[i], len);
			memset(&head, 0xa5, sizeof(head));
			n = gw_http1_parse_head(buf, k, &head);
			if (n != 0)
				fail_msg("prefix %zu of %s: %zd", k, r[i], n);
			assert_memory_equal(buf, r[i], len);
			assert_memory_equal(&head, &untouched, sizeof(head));
		}
		/* The whole head, with or without bytes after it. */
		memcpy(buf, r[i], len);
		assert_int_equal(gw_http1_parse_head(buf, len, &head), len);
		memcpy(buf, r[i], len);
		memcpy(buf + len, "HTTP/1.1 500 Next\r\n", 19);
		assert_int_equal(gw_http1_parse_head(buf, len + 19, &head), len);
	}
}

/* A whole head in a buffer that grows one byte at a time, as read(2) might. */
static void
test_byte_by_byte(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\n"
	                        "Transfer-Encoding: chunked\r\n"
	                        "Connection: keep-alive\r\n"
	                        "\r\n"
	                        "5\r\nhello\r\n0\r\n\r\n";
	size_t k, head_len;
	ssize_t n;

	(void)state;
	head_len = (size_t)(strstr(r, "\r\n\r\n") - r) + 4;
	memcpy(buf, r, sizeof(r) - 1);
	for (k = 0; k <= sizeof(r) - 1; k++) {
		n = gw_http1_parse_head(buf, k, &head);
		if (k < head_len)
			assert_int_equal(n, 0);
		else
			break;
	}
	assert_int_equal(k, head_len);
	assert_int_equal(n, head_len);
	assert_int_equal(gw_http1_framing(buf, &head, false), 0);
	assert_int_equal(head.framing, GW_HTTP1_BODY_CHUNKED);
	assert_true(head.keep_alive);
}

/* --- refused heads ------------------------------------------------------------ */

static void
test_reject_obs_fold(void **state)
{
	(void)state;
	REFUSED("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\nX: a\n b\n\n");
	/* Whitespace before the first header name is the same thing. */
	REFUSED("HTTP/1.1 200 OK\r\n X: a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\n\tX: a\r\n\r\n");
}

static void
test_reject_bare_cr(void **state)
{
	(void)state;
	REFUSED("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n");
	REFUSED("HTTP/1.1 200 O\rK\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX\r: a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\n\r\r\n");
	REFUSED("HTTP/1.1 200 OK\rX: a\r\n\r\n");
	REFUSED("\rHTTP/1.1 200 OK\r\n\r\n");
	/* Refused as soon as the CR is followed by anything but LF... */
	REFUSED("HTTP/1.1 200 OK\r\nX: a\rb");
	REFUSED("HTTP/1.1 200 OK\rX");
	REFUSED("HTTP/1.1 200 OK\r\n\rX");
	/* ...but a CR that is the last byte so far may still be a CRLF. */
	assert_int_equal(parse_str("HTTP/1.1 200 OK\r\nX: a\r"), 0);
	assert_int_equal(parse_str("HTTP/1.1 200 OK\r\n\r"), 0);
}

/* tmpl with its one 'Q' replaced by c must be refused. */
static void
refused_with(const char *tmpl, char c)
{
	char r[64];
	size_t len = strlen(tmpl);

	assert_true(len < sizeof(r));
	memcpy(r, tmpl, len);
	assert_non_null(memchr(r, 'Q', len));
	*(char *)memchr(r, 'Q', len) = c;
	assert_head_refused(r, len);
}

static void
test_reject_control_chars(void **state)
{
	static const char bad[] = {0x00, 0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad); i++) {
		/* In a value: at its start, in its middle, at its end. */
		refused_with("HTTP/1.1 200 OK\r\nX: Qab\r\n\r\n", bad[i]);
		refused_with("HTTP/1.1 200 OK\r\nX: aQb\r\n\r\n", bad[i]);
		refused_with("HTTP/1.1 200 OK\r\nX: abQ\r\n\r\n", bad[i]);
		refused_with("HTTP/1.1 200 OK\r\nX: Q\r\n\r\n", bad[i]);
		/* In a later header than the first. */
		refused_with("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2Q\r\nC: 3\r\n\r\n", bad[i]);
		/* In a name. */
		refused_with("HTTP/1.1 200 OK\r\nXQ: ab\r\n\r\n", bad[i]);
		refused_with("HTTP/1.1 200 OK\r\nQX: ab\r\n\r\n", bad[i]);
		/* In the reason phrase, and in the status line proper. */
		refused_with("HTTP/1.1 200 OQ\r\n\r\n", bad[i]);
		refused_with("HTTP/1.1 200 Q\r\n\r\n", bad[i]);
		refused_with("HTTP/1.1 2Q0 OK\r\n\r\n", bad[i]);
		refused_with("HTTP/1.1Q200 OK\r\n\r\n", bad[i]);
	}
	/* Control characters hidden in the whitespace around a value. */
	REFUSED("HTTP/1.1 200 OK\r\nX: \x0b"
	        "a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX: a\x0c\r\n\r\n");
}

static void
test_reject_bad_header_names(void **state)
{
	(void)state;
	REFUSED("HTTP/1.1 200 OK\r\nX : a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX\t: a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\n: a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX Y: a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX(y): a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX/y: a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nX\"y: a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\n\xc3\xa9: a\r\n\r\n");
	REFUSED("HTTP/1.1 200 OK\r\nA: 1\r\nB\r\n\r\n");
}

static void
test_reject_empty_first_line(void **state)
{
	(void)state;
	REFUSED("\r\nHTTP/1.1 200 OK\r\n\r\n");
	REFUSED("\nHTTP/1.1 200 OK\r\n\r\n");
	REFUSED("\r\n");
	REFUSED("\n");
	/* Empty input is only "not yet". */
	assert_int_equal(parse("", 0), 0);
}

static void
test_reject_status_line(void **state)
{
	static const char *const r[] = {
	    "HTTP/1.1 20 OK\r\n\r\n",   "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
	    "HTTP/1.1 200\tOK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n",   "HTTP/1.1\t200 OK\r\n\r\n",
	    "HTTP/1.1 abc OK\r\n\r\n",  "HTTP/1.1 -20 OK\r\n\r\n",  "HTTP/1.1 +20 OK\r\n\r\n",
	    "HTTP/1.1 20x OK\r\n\r\n",  "HTTP/1.1 000 OK\r\n\r\n",  "HTTP/1.1 099 OK\r\n\r\n",
	    "HTTP/1.1 600 OK\r\n\r\n",  "HTTP/1.1 999 OK\r\n\r\n",  "HTTP/1.1 20\r\n\r\n",
	    "HTTP/1.1 \r\n\r\n",        "HTTP/1.1\r\n\r\n",         " HTTP/1.1 200 OK\r\n\r\n",
	};
	static const char *const version[] = {
	    "HTTP/2.0 200 OK\r\n\r\n",  "HTTP/1.2 200 OK\r\n\r\n",  "HTTP/1.9 200 OK\r\n\r\n",
	    "HTTP/0.9 200 OK\r\n\r\n",  "HTTP/1.01 200 OK\r\n\r\n", "HTTP/1.x 200 OK\r\n\r\n",
	    "HTTP/11 200 OK\r\n\r\n",   "http/1.1 200 OK\r\n\r\n",  "HTTP/1 200 OK\r\n\r\n",
	    "HTTPS/1.1 200 OK\r\n\r\n", "ICY 200 OK\r\n\r\n",       "HTTP/1.1200 OK\r\n\r\n",
	    "GET / HTTP/1.1\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		assert_head_refused(r[i], strlen(r[i]));
	for (i = 0; i < sizeof(version) / sizeof(version[0]); i++)
		assert_head_refused(version[i], strlen(version[i]));
}

/* n headers "Hnnn: v" after a status line. */
static size_t
many_headers(char *out, size_t cap, int n)
{
	size_t len;
	int i;

	len = (size_t)snprintf(out, cap, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len, "H%03d: v%d\r\n", i, i);
	len += (size_t)snprintf(out + len, cap - len, "\r\n");
	assert_true(len < cap);
	return len;
}

static void
test_header_count_limit(void **state)
{
	static char r[4096];
	size_t len;

	(void)state;
	len = many_headers(r, sizeof(r), GW_HTTP1_HEADERS_MAX);
	assert_int_equal(parse(r, len), len);
	assert_int_equal(head.nheaders, GW_HTTP1_HEADERS_MAX);
	assert_string_equal(hname(GW_HTTP1_HEADERS_MAX - 1), "H099");
	assert_string_equal(hvalue(GW_HTTP1_HEADERS_MAX - 1), "v99");

	len = many_headers(r, sizeof(r), GW_HTTP1_HEADERS_MAX + 1);
	assert_head_refused(r, len);
	len = many_headers(r, sizeof(r), 300);
	assert_head_refused(r, len);
}

/* --- refused framing ------------------------------------------------------------ */

static void
test_reject_content_length(void **state)
{
	static const char *const v[] = {
	    "",
	    "-1",
	    "+5",
	    "5, 5",
	    "5,6",
	    "5 5",
	    "0x10",
	    "1e3",
	    "five",
	    "5;",
	    "\xc2\xb3",
	    "1000000000000000000",
	    "18446744073709551616",
	    "99999999999999999999999999",
	};
	char r[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(r, sizeof(r), "HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n", v[i]);
		assert_framing_refused(r, false);
		/* Malformed is malformed, body or no body. */
		snprintf(r, sizeof(r), "HTTP/1.1 304 Not Modified\r\nContent-Length: %s\r\n\r\n",
		         v[i]);
		assert_framing_refused(r, false);
	}
	/* Two different values, in either order, however far apart. */
	assert_framing_refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	                       false);
	assert_framing_refused("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX: y\r\n"
	                       "content-length: 5\r\n\r\n",
	                       false);
	assert_framing_refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
	                       "Content-Length: 0\r\n\r\n",
	                       false);
	assert_framing_refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	                       true);
}

static void
test_reject_transfer_coding(void **state)
{
	static const char *const v[] = {
	    "gzip",          "identity",        "gzip, chunked",
	    "chunked, gzip", "chunked,chunked", "chunked ,",
	    "x-chunked",     "chunked;q=1",     "",
	    "chunk",         "chunkedx",        "\"chunked\"",
	};
	char r[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(r, sizeof(r), "HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n\r\n", v[i]);
		assert_framing_refused(r, false);
		/* Even where no body follows. */
		assert_framing_refused(r, true);
		snprintf(r, sizeof(r), "HTTP/1.1 204 No Content\r\nTransfer-Encoding: %s\r\n\r\n",
		         v[i]);
		assert_framing_refused(r, false);
	}
	/* Chunked twice is chunked applied twice. */
	assert_framing_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	                       "Transfer-Encoding: chunked\r\n\r\n",
	                       false);
	assert_framing_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
	                       "Transfer-Encoding: chunked\r\n\r\n",
	                       false);
}

static void
test_reject_chunked_on_http10(void **state)
{
	(void)state;
	assert_framing_refused("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false);
	assert_framing_refused("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true);
	assert_framing_refused("HTTP/1.0 204 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false);
	assert_framing_refused("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n"
	                       "Transfer-Encoding: chunked\r\n\r\n",
	                       false);
}

static void
test_reject_101(void **state)
{
	(void)state;
	assert_framing_refused("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                       "Connection: Upgrade\r\n\r\n",
	                       false);
	assert_framing_refused("HTTP/1.1 101 Switching Protocols\r\n\r\n", true);
	assert_framing_refused("HTTP/1.0 101 x\r\n\r\n", false);
}

/* --- keep-alive --------------------------------------------------------------------- */

static void
test_keep_alive(void **state)
{
	static const struct {
		const char *head;
		bool keep_alive;
	} t[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: CLOSE\r\n\r\n", false},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nconnection: Close\r\n\r\n", false},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", true},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive, close\r\n\r\n",
	     false},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Upgrade,close\r\n\r\n", false},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: closed\r\n\r\n", true},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: x-close\r\n\r\n", true},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: \r\n\r\n", true},
	    {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n"
	     "Connection: close\r\n\r\n",
	     false},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", false},
	    {"HTTP/1.1 204 OK\r\nConnection: close\r\n\r\n", false},
	    {"HTTP/1.1 304 OK\r\n\r\n", true},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", true},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n", true},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: TE, keep-alive\r\n\r\n", true},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive, close\r\n\r\n",
	     false},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: close, keep-alive\r\n\r\n",
	     false},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alives\r\n\r\n", false},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nKeep-Alive: timeout=5\r\n\r\n", false},
	    {"HTTP/1.0 204 OK\r\n\r\n", false},
	    {"HTTP/1.0 204 OK\r\nConnection: keep-alive\r\n\r\n", true},
	    {"HTTP/1.0 304 OK\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(parse_frame(t[i].head, false), 0);
		if (head.keep_alive != t[i].keep_alive)
			fail_msg("keep_alive %d expected for: %s", t[i].keep_alive, t[i].head);
	}
}

/* --- header lookup and token lists ------------------------------------------------ */

static void
test_header_get(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\n"
	                        "Content-Type: text/plain\r\n"
	                        "X-Dup: first\r\n"
	                        "x-dup: second\r\n"
	                        "X-Empty:\r\n"
	                        "\r\n";

	(void)state;
	assert_int_equal(parse(r, sizeof(r) - 1), sizeof(r) - 1);
	assert_string_equal(gw_http1_header_get(buf, &head, "Content-Type"), "text/plain");
	assert_string_equal(gw_http1_header_get(buf, &head, "content-type"), "text/plain");
	assert_string_equal(gw_http1_header_get(buf, &head, "CONTENT-TYPE"), "text/plain");
	assert_string_equal(gw_http1_header_get(buf, &head, "cOnTeNt-TyPe"), "text/plain");
	assert_string_equal(gw_http1_header_get(buf, &head, "X-DUP"), "first");
	assert_string_equal(gw_http1_header_get(buf, &head, "x-empty"), "");
	assert_null(gw_http1_header_get(buf, &head, "Content"));
	assert_null(gw_http1_header_get(buf, &head, "Content-Type2"));
	assert_null(gw_http1_header_get(buf, &head, "Content-Length"));
	assert_null(gw_http1_header_get(buf, &head, ""));
	assert_null(gw_http1_header_get(buf, &head, "text/plain"));

	assert_int_equal(parse_str("HTTP/1.1 200 OK\r\n\r\n"), 19);
	assert_null(gw_http1_header_get(buf, &head, "Content-Type"));
}

static void
test_token_in_list(void **state)
{
	static const struct {
		const char *list;
		bool found;
	} t[] = {
	    {"close", true},
	    {"Close", true},
	    {"CLOSE", true},
	    {" close ", true},
	    {"\tclose\t", true},
	    {"keep-alive, close", true},
	    {"keep-alive,close", true},
	    {"close, keep-alive", true},
	    {"a,close,b", true},
	    {"a , close , b", true},
	    {", , close , ,", true},
	    {",close", true},
	    {"close,", true},
	    {"", false},
	    {",", false},
	    {" , ", false},
	    {"closed", false},
	    {"x-close", false},
	    {"clo se", false},
	    {"close;", false},
	    {"close x", false},
	    {"\"close\"", false},
	    {"keep-alive", false},
	    {"closeclose", false},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (gw_http1_token_in_list(t[i].list, "close") != t[i].found)
			fail_msg("\"close\" in \"%s\": expected %d", t[i].list, t[i].found);
	}
	assert_true(gw_http1_token_in_list("Upgrade, Keep-Alive", "keep-alive"));
	assert_false(gw_http1_token_in_list("Upgrade, Keep-Alive", "close"));
	assert_true(gw_http1_token_in_list("te,upgrade", "Upgrade"));
}

/* --- chunked decoding ------------------------------------------------------------------ */

/*
 * Decode enc (copied to buf at offset off) in one call from *in = *out = off.
 * Returns what the decoder returned.
 */
static int
chunked(const char *enc, size_t len, size_t off, uint64_t max, size_t *in, size_t *out)
{
	struct gw_http1_chunked d;

	assert_true(off + len <= sizeof(buf));
	memset(buf, '#', off);
	memcpy(buf + off, enc, len);
	gw_http1_chunked_init(&d, max);
	*in = *out = off;
	return gw_http1_chunked_decode(&d, buf, in, off + len, out);
}

/* enc must decode to body in one call, consuming exactly enc_len bytes. */
static void
assert_chunked(const char *enc, size_t enc_len, const char *body, size_t body_len)
{
	size_t in, out;
	int r;

	r = chunked(enc, enc_len, 0, UINT64_MAX, &in, &out);
	if (r != 1)
		fail_msg("decode returned %d for: %.*s", r, (int)enc_len, enc);
	assert_int_equal(in, enc_len);
	assert_int_equal(out, body_len);
	assert_memory_equal(buf, body, body_len);
}

#define CHUNKED_OK(enc, body) assert_chunked(enc, sizeof(enc) - 1, body, sizeof(body) - 1)

static void
assert_chunked_refused(const char *enc, size_t len)
{
	size_t in, out;
	int r;

	r = chunked(enc, len, 0, UINT64_MAX, &in, &out);
	if (r != -1)
		fail_msg("decode returned %d for: %.*s", r, (int)len, enc);
}

#define CHUNKED_REFUSED(enc) assert_chunked_refused(enc, sizeof(enc) - 1)

static void
test_chunked_basic(void **state)
{
	size_t in, out;

	(void)state;
	CHUNKED_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
	CHUNKED_OK("0\r\n\r\n", "");
	CHUNKED_OK("1\r\nx\r\n0\r\n\r\n", "x");
	/* Chunk data is opaque: CR, LF, NUL and digits inside it are just bytes. */
	CHUNKED_OK("8\r\n\r\n0\r\n\0\r\n\r\n0\r\n\r\n", "\r\n0\r\n\0\r\n");
	/* Bare LF wherever CRLF is expected. */
	CHUNKED_OK("5\nhello\n0\n\n", "hello");
	CHUNKED_OK("5\r\nhello\n3\nabc\r\n0\n\r\n", "helloabc");

	/* The decoded body lands at *out, after whatever came before it. */
	assert_int_equal(chunked("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 20, 40, 100, &in, &out), 1);
	assert_int_equal(in, 60);
	assert_int_equal(out, 45);
	assert_memory_equal(buf + 40, "abcde", 5);
	assert_memory_equal(buf + 39, "#", 1);
}

static void
test_chunked_hex_sizes(void **state)
{
	(void)state;
	CHUNKED_OK("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
	CHUNKED_OK("10\r\n0123456789abcdef\r\n0\r\n\r\n", "0123456789abcdef");
	CHUNKED_OK("1b\r\nabcdefghijklmnopqrstuvwxyz!\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz!");
	CHUNKED_OK("1B\r\nabcdefghijklmnopqrstuvwxyz!\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz!");
	CHUNKED_OK("f\r\n0123456789abcde\r\nF\r\n0123456789ABCDE\r\n0\r\n\r\n",
	           "0123456789abcde0123456789ABCDE");
	/* Leading zeros, up to sixteen digits in all. */
	CHUNKED_OK("0003\r\nabc\r\n000000000000000\r\n\r\n", "abc");
	CHUNKED_OK("0000000000000003\r\nabc\r\n0000000000000000\r\n\r\n", "abc");
}

static void
test_chunked_extensions(void **state)
{
	char enc[1200];
	size_t len;

	(void)state;
	CHUNKED_OK("5;a=b\r\nhello\r\n0;last\r\n\r\n", "hello");
	CHUNKED_OK("5 ;a\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNKED_OK("5\t \t;a\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNKED_OK("5  \r\nhello\r\n0 \r\n\r\n", "hello");
	CHUNKED_OK("5;\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNKED_OK("5;a=\"x;y\\\"z\";b ; c=d\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNKED_OK("5;\x80\xff\t x\r\nhello\r\n0\n\n", "hello");
	CHUNKED_OK("5;a\nhello\r\n0;b\n\r\n", "hello");

	/* An extension of 1024 bytes is the longest accepted, on every line. */
	len = (size_t)snprintf(enc, sizeof(enc), "5;%01024d\r\nhello\r\n", 7);
	assert_int_equal(len, 2 + 1024 + 2 + 7);
	len += (size_t)snprintf(enc + len, sizeof(enc) - len, "0\r\n\r\n");
	assert_chunked(enc, len, "hello", 5);
	len = (size_t)snprintf(enc, sizeof(enc), "5;%01025d\r\nhello\r\n0\r\n\r\n", 7);
	assert_chunked_refused(enc, len);
	/* The count starts again on each size line. */
	len = (size_t)snprintf(enc, sizeof(enc), "1;%0600d\r\nx\r\n", 1);
	len += (size_t)snprintf(enc + len, sizeof(enc) - len, "0;%0500d\r\n\r\n", 2);
	assert_chunked(enc, len, "x", 1);
}

static void
test_chunked_trailers(void **state)
{
	static char enc[BUF_MAX];
	size_t in, out, len;

	(void)state;
	CHUNKED_OK("5\r\nhello\r\n0\r\nX-Trailer: a\r\n\r\n", "hello");
	CHUNKED_OK("5\r\nhello\r\n0\r\nX-A: a\r\nX-B: \x80 b\t\r\n\r\n", "hello");
	CHUNKED_OK("0\nX: a\n\n", "");
	CHUNKED_OK("0\r\nX: a\nY: b\r\n\n", "");

	/* *in stops just past the end: what follows belongs to the next response. */
	assert_int_equal(chunked("2\r\nok\r\n0\r\nT: 1\r\n\r\nHTTP/1.1 200 OK\r\n", 35, 0,
	                         UINT64_MAX, &in, &out),
	                 1);
	assert_int_equal(in, 18);
	assert_int_equal(out, 2);
	assert_memory_equal(buf, "ok", 2);
	assert_memory_equal(buf + in, "HTTP/1.1 200 OK\r\n", 17);

	/* Trailer lines are limited to 16384 bytes in all, their CRs included. */
	len = (size_t)snprintf(enc, sizeof(enc), "0\r\nX: ");
	memset(enc + len, 'a', 16383 - 3);
	len += 16383 - 3;
	len += (size_t)snprintf(enc + len, sizeof(enc) - len, "\r\n\r\n");
	assert_chunked(enc, len, "", 0);

	len = (size_t)snprintf(enc, sizeof(enc), "0\r\nX: ");
	memset(enc + len, 'a', 16384 - 3);
	len += 16384 - 3;
	len += (size_t)snprintf(enc + len, sizeof(enc) - len, "\r\n\r\n");
	assert_chunked_refused(enc, len);

	len = (size_t)snprintf(enc, sizeof(enc), "0\r\n");
	while (len < 24000)
		len += (size_t)snprintf(enc + len, sizeof(enc) - len, "T: 1\r\n");
	len += (size_t)snprintf(enc + len, sizeof(enc) - len, "\r\n");
	assert_chunked_refused(enc, len);
}

static void
test_chunked_max(void **state)
{
	static const char enc[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	size_t in, out;

	(void)state;
	/* Exactly the limit is fine. */
	assert_int_equal(chunked(enc, sizeof(enc) - 1, 0, 11, &in, &out), 1);
	assert_int_equal(out, 11);
	/* One less is refused at the size line that crosses it, before its data. */
	assert_int_equal(chunked(enc, sizeof(enc) - 1, 0, 10, &in, &out), -2);
	assert_int_equal(in, 13);
	assert_int_equal(out, 5);
	assert_int_equal(chunked(enc, sizeof(enc) - 1, 0, 4, &in, &out), -2);
	assert_int_equal(in, 3);
	assert_int_equal(out, 0);
	/* An empty body fits any limit. */
	assert_int_equal(chunked("0\r\n\r\n", 5, 0, 0, &in, &out), 1);
	assert_int_equal(chunked("1\r\n", 3, 0, 0, &in, &out), -2);
	/* The limit is checked even when the size line has an extension. */
	assert_int_equal(chunked("c;x=y\r\n", 7, 0, 11, &in, &out), -2);
	assert_int_equal(chunked("b;x=y\r\n", 7, 0, 11, &in, &out), 0);
}

static void
test_chunked_malformed(void **state)
{
	(void)state;
	CHUNKED_REFUSED("g\r\n");
	CHUNKED_REFUSED("5g\r\nhello\r\n0\r\n\r\n");
	CHUNKED_REFUSED(" 5\r\nhello\r\n0\r\n\r\n");
	CHUNKED_REFUSED("-5\r\n");
	CHUNKED_REFUSED("+5\r\n");
	CHUNKED_REFUSED("0x5\r\n");
	CHUNKED_REFUSED("5 5\r\n");
	CHUNKED_REFUSED("5 x\r\n");
	CHUNKED_REFUSED("5,\r\n");
	CHUNKED_REFUSED(";x\r\n");
	CHUNKED_REFUSED("\r\n");
	CHUNKED_REFUSED("\n");
	CHUNKED_REFUSED("\t5\r\n");
	/* CR not followed by LF, anywhere. */
	CHUNKED_REFUSED("5\rX");
	CHUNKED_REFUSED("5\r\r\n");
	CHUNKED_REFUSED("5 \rX");
	CHUNKED_REFUSED("5;a\rb\r\n");
	CHUNKED_REFUSED("5\r\nhello\rX");
	CHUNKED_REFUSED("5\r\nhello\r\r\n");
	CHUNKED_REFUSED("0\r\nX: a\rb\r\n\r\n");
	CHUNKED_REFUSED("0\r\n\rX");
	CHUNKED_REFUSED("0\r\n\r\r\n");
	/* Chunk data longer than its size. */
	CHUNKED_REFUSED("5\r\nhelloX\r\n0\r\n\r\n");
	CHUNKED_REFUSED("5\r\nhello world\r\n0\r\n\r\n");
	/* Control characters in an extension or a trailer. */
	CHUNKED_REFUSED("5;\x01\r\n");
	CHUNKED_REFUSED("5;a\x7f\r\n");
	CHUNKED_REFUSED("5;a\0b\r\n");
	CHUNKED_REFUSED("0\r\nX: \x01\r\n\r\n");
	CHUNKED_REFUSED("0\r\nX\0Y\r\n\r\n");
	CHUNKED_REFUSED("0\r\n\x7f\r\n\r\n");
}

static void
test_chunked_size_overflow(void **state)
{
	struct gw_http1_chunked d;
	size_t in, out;

	(void)state;
	/* Sixteen hex digits fill a uint64_t exactly... */
	assert_int_equal(chunked("ffffffffffffffff\r\n", 18, 0, UINT64_MAX, &in, &out), 0);
	assert_int_equal(in, 18);
	assert_int_equal(out, 0);
	gw_http1_chunked_init(&d, UINT64_MAX);
	memcpy(buf, "FFFFFFFFFFFFFFFF\r\nab", 20);
	in = out = 0;
	assert_int_equal(gw_http1_chunked_decode(&d, buf, &in, 20, &out), 0);
	assert_int_equal(d.remaining, UINT64_MAX - 2);
	assert_int_equal(d.total, 2);
	assert_int_equal(chunked("8000000000000000\r\n", 18, 0, UINT64_MAX, &in, &out), 0);
	/* ...a seventeenth is refused before it can wrap the size around. */
	CHUNKED_REFUSED("10000000000000000\r\n");
	CHUNKED_REFUSED("00000000000000001\r\n");
	CHUNKED_REFUSED("00000000000000000\r\n\r\n");
	CHUNKED_REFUSED("fffffffffffffffff\r\n");
	CHUNKED_REFUSED("1000000000000000000000000000000a\r\n");
	/* A huge size against a smaller limit, or after some data: too large. */
	assert_int_equal(chunked("ffffffffffffffff\r\n", 18, 0, UINT64_C(1) << 20, &in, &out), -2);
	assert_int_equal(chunked("1\r\na\r\nffffffffffffffff\r\n", 24, 0, UINT64_MAX, &in, &out),
	                 -2);
	assert_int_equal(out, 1);
	assert_int_equal(chunked("1\r\na\r\nfffffffffffffffe\r\n", 24, 0, UINT64_MAX, &in, &out),
	                 0);
}

/* Encoded bodies for the split tests, and what they decode to. */
static const struct {
	const char *enc;
	const char *body;
} split_cases[] = {
    {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
    {"a;ext=1\r\n0123456789\r\n1 \r\n!\r\n0;x\r\nT: 1\r\nU: 2\r\n\r\n", "0123456789!"},
    {"3\nabc\n0\n\n", "abc"},
    {"00000000000000A\r\n\r\n\r\n\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n\r\n\r\n\r\n"},
    {"0\r\n\r\n", ""},
};

/*
 * Decode split_cases[c] with its bytes arriving in up to three parts, ending
 * at a, b and the end. Every call before the last consumes all it is given
 * and returns 0; the last returns 1 with the whole body in place.
 */
static void
split_decode(size_t c, size_t a, size_t b)
{
	const char *enc = split_cases[c].enc, *body = split_cases[c].body;
	size_t len = strlen(enc), blen = strlen(body), in = 0, out = 0;
	struct gw_http1_chunked d;
	int r;

	memcpy(buf, enc, len);
	gw_http1_chunked_init(&d, blen);
	r = gw_http1_chunked_decode(&d, buf, &in, a, &out);
	if (r != 0 || in != a)
		fail_msg("case %zu split %zu/%zu: first part %d, in %zu", c, a, b, r, in);
	r = gw_http1_chunked_decode(&d, buf, &in, b, &out);
	if (r != (b == len ? 1 : 0) || in != b)
		fail_msg("case %zu split %zu/%zu: second part %d, in %zu", c, a, b, r, in);
	if (b < len) {
		r = gw_http1_chunked_decode(&d, buf, &in, len, &out);
		if (r != 1 || in != len)
			fail_msg("case %zu split %zu/%zu: last part %d, in %zu", c, a, b, r, in);
	}
	assert_int_equal(out, blen);
	assert_memory_equal(buf, body, blen);
}

static void
test_chunked_split_everywhere(void **state)
{
	size_t c, a, b, len;

	(void)state;
	for (c = 0; c < sizeof(split_cases) / sizeof(split_cases[0]); c++) {
		len = strlen(split_cases[c].enc);
		for (a = 0; a < len; a++) {
			for (b = a; b <= len; b++)
				split_decode(c, a, b);
		}
	}
}

static void
test_chunked_byte_by_byte(void **state)
{
	size_t c, k, len, blen, in, out;
	struct gw_http1_chunked d;
	int r;

	(void)state;
	for (c = 0; c < sizeof(split_cases) / sizeof(split_cases[0]); c++) {
		len = strlen(split_cases[c].enc);
		blen = strlen(split_cases[c].body);
		memcpy(buf, split_cases[c].enc, len);
		gw_http1_chunked_init(&d, UINT64_MAX);
		in = out = 0;
		for (k = 1; k <= len; k++) {
			r = gw_http1_chunked_decode(&d, buf, &in, k, &out);
			assert_int_equal(in, k);
			assert_true(out <= in);
			assert_int_equal(r, k == len ? 1 : 0);
		}
		assert_int_equal(out, blen);
		assert_memory_equal(buf, split_cases[c].body, blen);
		assert_int_equal(d.total, blen);
	}
}

/* A refusal does not depend on how the bytes were split either. */
static void
test_chunked_split_refused(void **state)
{
	static const char *const bad[] = {
	    "5\r\nhello\r\n6\r\n world\rX0\r\n\r\n",
	    "5\r\nhello\r\n6x\r\n world\r\n0\r\n\r\n",
	    "5;a\x01\r\nhello\r\n0\r\n\r\n",
	    "0\r\nT: 1\r\nU\x02\r\n\r\n",
	};
	size_t i, k, len, in, out;
	struct gw_http1_chunked d;
	int r, r2;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = strlen(bad[i]);
		for (k = 0; k <= len; k++) {
			memcpy(buf, bad[i], len);
			gw_http1_chunked_init(&d, UINT64_MAX);
			in = out = 0;
			r = gw_http1_chunked_decode(&d, buf, &in, k, &out);
			if (r == 0) {
				assert_int_equal(in, k);
				r2 = gw_http1_chunked_decode(&d, buf, &in, len, &out);
				if (r2 != -1)
					fail_msg("\"%s\" split at %zu: %d", bad[i], k, r2);
			} else if (r != -1) {
				fail_msg("\"%s\" prefix %zu: %d", bad[i], k, r);
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_content_length),
	    cmocka_unit_test(test_content_length_values),
	    cmocka_unit_test(test_status_line_forms),
	    cmocka_unit_test(test_bare_lf),
	    cmocka_unit_test(test_header_values),
	    cmocka_unit_test(test_chunked_framing),
	    cmocka_unit_test(test_content_length_and_chunked),
	    cmocka_unit_test(test_close_delimited),
	    cmocka_unit_test(test_head_request),
	    cmocka_unit_test(test_no_body_statuses),
	    cmocka_unit_test(test_incremental),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_reject_obs_fold),
	    cmocka_unit_test(test_reject_bare_cr),
	    cmocka_unit_test(test_reject_control_chars),
	    cmocka_unit_test(test_reject_bad_header_names),
	    cmocka_unit_test(test_reject_empty_first_line),
	    cmocka_unit_test(test_reject_status_line),
	    cmocka_unit_test(test_header_count_limit),
	    cmocka_unit_test(test_reject_content_length),
	    cmocka_unit_test(test_reject_transfer_coding),
	    cmocka_unit_test(test_reject_chunked_on_http10),
	    cmocka_unit_test(test_reject_101),
	    cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_header_get),
	    cmocka_unit_test(test_token_in_list),
	    cmocka_unit_test(test_chunked_basic),
	    cmocka_unit_test(test_chunked_hex_sizes),
	    cmocka_unit_test(test_chunked_extensions),
	    cmocka_unit_test(test_chunked_trailers),
	    cmocka_unit_test(test_chunked_max),
	    cmocka_unit_test(test_chunked_malformed),
	    cmocka_unit_test(test_chunked_size_overflow),
	    cmocka_unit_test(test_chunked_split_everywhere),
	    cmocka_unit_test(test_chunked_byte_by_byte),
	    cmocka_unit_test(test_chunked_split_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
