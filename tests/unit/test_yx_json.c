/*
 * Unit tests for shared/yx_json.c: the strict parser (grammar, UTF-8, limits,
 * duplicate keys, numbers, accessors) and the writer (structure, escaping,
 * sticky failure), and round trips between them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yx_json.h"

#define ANY_OFFSET SIZE_MAX

static struct yx_json_doc *
parse_lim(const char *text, size_t len, const struct yx_json_limits *lim)
{
	struct yx_json_doc *doc = NULL;
	enum yx_json_err err = YX_JSON_ERR_NOMEM;
	size_t off = 77;

	if (yx_json_parse(text, len, lim, &doc, &err, &off) != 0)
		fail_msg("rejected %.*s: %s at %zu", (int)len, text, yx_json_strerror(err), off);
	assert_int_equal(err, YX_JSON_OK);
	assert_non_null(doc);
	assert_non_null(yx_json_root(doc));
	return doc;
}

static struct yx_json_doc *
parse(const char *text)
{
	return parse_lim(text, strlen(text), NULL);
}

static void
reject_lim(const char *text, size_t len, const struct yx_json_limits *lim, enum yx_json_err want,
           size_t want_off)
{
	struct yx_json_doc *doc = (struct yx_json_doc *)&doc;
	enum yx_json_err err = YX_JSON_OK;
	size_t off = 0;

	if (yx_json_parse(text, len, lim, &doc, &err, &off) != -1)
		fail_msg("accepted %.*s", (int)len, text);
	assert_null(doc);
	if (err != want)
		fail_msg("%.*s: got %s, want %s", (int)len, text, yx_json_strerror(err),
		         yx_json_strerror(want));
	if (want_off != ANY_OFFSET && off != want_off)
		fail_msg("%.*s: error at %zu, want %zu", (int)len, text, off, want_off);
}

static void
reject(const char *text, enum yx_json_err want, size_t want_off)
{
	reject_lim(text, strlen(text), NULL, want, want_off);
}

/* --- grammar ----------------------------------------------------------- */

static void
test_scalars(void **state)
{
	struct yx_json_doc *doc;
	const struct yx_json *v;
	bool b;

	(void)state;
	doc = parse("null");
	assert_true(yx_json_is_null(yx_json_root(doc)));
	yx_json_free(doc);

	doc = parse("true");
	assert_true(yx_json_bool(yx_json_root(doc), &b));
	assert_true(b);
	yx_json_free(doc);

	doc = parse(" \t\r\nfalse \t\r\n");
	assert_true(yx_json_bool(yx_json_root(doc), &b));
	assert_false(b);
	yx_json_free(doc);

	doc = parse("\"hi\"");
	v = yx_json_root(doc);
	assert_true(yx_json_is_string(v));
	assert_string_equal(v->str, "hi");
	assert_int_equal(v->len, 2);
	assert_null(v->key);
	yx_json_free(doc);

	doc = parse("42");
	v = yx_json_root(doc);
	assert_true(yx_json_is_number(v));
	assert_string_equal(v->str, "42");
	yx_json_free(doc);

	yx_json_free(NULL);
	assert_null(yx_json_root(NULL));
}

static void
test_containers(void **state)
{
	struct yx_json_doc *doc;
	const struct yx_json *root, *v, *a;
	int64_t i;
	const char *s;
	size_t len;

	(void)state;
	doc = parse("{\"name\":\"x\", \"list\" : [1, \"two\", [], {}, null] ,\"o\":{\"k\":true}}");
	root = yx_json_root(doc);
	assert_true(yx_json_is_object(root));
	assert_int_equal(root->count, 3);
	assert_int_equal(root->offset, 0);

	v = root->child;
	assert_string_equal(v->key, "name");
	assert_int_equal(v->key_len, 4);
	assert_int_equal(v->offset, 1);
	v = v->next;
	assert_string_equal(v->key, "list");
	assert_int_equal(v->offset, 13);
	assert_true(yx_json_is_array(v));
	assert_int_equal(v->count, 5);
	a = v->child;
	assert_true(yx_json_int64(a, &i));
	assert_int_equal(i, 1);
	assert_null(a->key);
	a = a->next;
	assert_true(yx_json_string(a, &s, &len));
	assert_string_equal(s, "two");
	assert_int_equal(len, 3);
	a = a->next;
	assert_true(yx_json_is_array(a));
	assert_int_equal(a->count, 0);
	assert_null(a->child);
	a = a->next;
	assert_true(yx_json_is_object(a));
	assert_int_equal(a->count, 0);
	a = a->next;
	assert_true(yx_json_is_null(a));
	assert_null(a->next);
	v = v->next;
	assert_string_equal(v->key, "o");
	assert_null(v->next);

	assert_ptr_equal(yx_json_get(root, "list"), root->child->next);
	assert_ptr_equal(yx_json_get(yx_json_get(root, "o"), "k"), yx_json_get(root, "o")->child);
	assert_null(yx_json_get(root, "missing"));
	assert_null(yx_json_get(root, "nam"));
	assert_null(yx_json_get(root, "names"));
	assert_null(yx_json_get(root, NULL));
	assert_null(yx_json_get(NULL, "name"));
	assert_null(yx_json_get(yx_json_get(root, "list"), "name"));
	assert_ptr_equal(yx_json_getn(root, "namex", 4), root->child);
	yx_json_free(doc);
}

static void
test_syntax_rejections(void **state)
{
	static const struct {
		const char *text;
		size_t off;
	} bad[] = {
	    {"", 0},
	    {"   ", 3},
	    {"[1,]", 3},
	    {"[1,2,]", 5},
	    {"{\"a\":1,}", 7},
	    {"[,1]", 1},
	    {"{,}", 1},
	    {"[1 2]", 3},
	    {"{\"a\" 1}", 5},
	    {"{\"a\":}", 5},
	    {"{\"a\"}", 4},
	    {"{a:1}", 1},
	    {"{1:1}", 1},
	    {"['a']", 1},
	    {"/*c*/1", 0},
	    {"1/*c*/", 1},
	    {"// c\n1", 0},
	    {"1 // c", 2},
	    {"# c\n1", 0},
	    {"01", 1},
	    {"-01", 2},
	    {"00", 1},
	    {"-00", 2},
	    {"1.", 2},
	    {"1.e5", 2},
	    {".5", 0},
	    {"-", 1},
	    {"-a", 1},
	    {"+1", 0},
	    {"1e", 2},
	    {"1e+", 3},
	    {"1E-", 3},
	    {"NaN", 0},
	    {"nan", 1},
	    {"-NaN", 1},
	    {"Infinity", 0},
	    {"-Infinity", 1},
	    {"0x10", 1},
	    {"1_000", 1},
	    {"tru", 3},
	    {"trUe", 2},
	    {"True", 0},
	    {"nul", 3},
	    {"nulls", 4},
	    {"falsey", 5},
	    {"undefined", 0},
	    {"[1]x", 3},
	    {"1 2", 2},
	    {"[1]]", 3},
	    {"{}}", 2},
	    {"[", 1},
	    {"[1", 2},
	    {"{\"a\":1", 6},
	    {"{\"a\"", 4},
	    {"{", 1},
	    {"]", 0},
	    {"}", 0},
	    {"\"abc", 4},
	    {"\"\\x\"", 1},
	    {"\"\\'\"", 1},
	    {"\"\\u12\"", 5},
	    {"\"\\u12G4\"", 5},
	    {"\"\\u", 3},
	    {"\"\\", 2},
	    {"\"a\tb\"", 2},
	    {"\"a\nb\"", 2},
	    {"\"\x1f\"", 1},
	    {"\"\\u0000\"", 1},
	    {"\"a\\u0000b\"", 2},
	    {"\xef\xbb\xbf"
	     "1",
	     0},
	    {"\v1", 0},
	    {"\f1", 0},
	    {"1\f", 1},
	    {"1e999", 0},
	    {"-1e999", 0},
	    {"[1e400]", 1},
	    {"\xc2\xa0"
	     "1",
	     0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		reject(bad[i].text, YX_JSON_ERR_SYNTAX, bad[i].off);
}

static void
test_nul_bytes(void **state)
{
	(void)state;
	/* A raw NUL is a control character inside a string ... */
	reject_lim("\"a\0b\"", 5, NULL, YX_JSON_ERR_SYNTAX, 2);
	/* ... and garbage outside one. */
	reject_lim("[1]\0", 4, NULL, YX_JSON_ERR_SYNTAX, 3);
	reject_lim("\0", 1, NULL, YX_JSON_ERR_SYNTAX, 0);
	reject_lim(NULL, 0, NULL, YX_JSON_ERR_SYNTAX, 0);
}

static void
test_no_output_pointer(void **state)
{
	enum yx_json_err err;

	(void)state;
	assert_int_equal(yx_json_parse("1", 1, NULL, NULL, &err, NULL), -1);
	/* err and err_offset are optional */
	struct yx_json_doc *doc;
	assert_int_equal(yx_json_parse("[", 1, NULL, &doc, NULL, NULL), -1);
	assert_null(doc);
}

/* --- strings and UTF-8 ---------------------------------------------------- */

static void
check_string(const char *json, const char *want, size_t want_len)
{
	struct yx_json_doc *doc = parse(json);
	const struct yx_json *v = yx_json_root(doc);

	assert_true(yx_json_is_string(v));
	assert_int_equal(v->len, want_len);
	assert_memory_equal(v->str, want, want_len);
	assert_int_equal(v->str[want_len], '\0');
	yx_json_free(doc);
}

static void
test_string_escapes(void **state)
{
	(void)state;
	check_string("\"\"", "", 0);
	check_string("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
	check_string("\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9", 5);
	check_string("\"\\u0001\"", "\x01", 1);
	check_string("\"\\u007f\\u0080\\u07ff\\u0800\"", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80", 8);
	check_string("\"\\u4e2d\\u6587\"", "\xe4\xb8\xad\xe6\x96\x87", 6);
	check_string("\"\\uffff\"", "\xef\xbf\xbf", 3);
	check_string("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
	check_string("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4);
	check_string("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4);
	check_string("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4);
	check_string("\"a\\u2028b\"",
	             "a\xe2\x80\xa8"
	             "b",
	             5);
	check_string("\"\x7f\"", "\x7f", 1);
}

static void
test_utf8_raw(void **state)
{
	static const struct {
		const char *text;
		size_t off;
	} bad[] = {
	    {"\"\xc0\x80\"", 1},         /* overlong NUL */
	    {"\"\xc1\xbf\"", 1},         /* overlong */
	    {"\"\xe0\x80\x80\"", 1},     /* overlong */
	    {"\"\xe0\x9f\xbf\"", 1},     /* overlong */
	    {"\"\xed\xa0\x80\"", 1},     /* encoded surrogate D800 */
	    {"\"\xed\xbf\xbf\"", 1},     /* encoded surrogate DFFF */
	    {"\"\xf0\x8f\xbf\xbf\"", 1}, /* overlong */
	    {"\"\xf4\x90\x80\x80\"", 1}, /* above U+10FFFF */
	    {"\"\xf5\x80\x80\x80\"", 1},
	    {"\"\xff\"", 1},
	    {"\"\xfe\"", 1},
	    {"\"\x80\"", 1},     /* lone continuation */
	    {"\"ab\xbf\"", 3},   /* lone continuation */
	    {"\"\xe4\xb8\"", 1}, /* truncated before the quote */
	    {"\"\xc3"
	     "a\"",
	     1}, /* missing continuation */
	    {"\"\xf0\x9f\x98\"", 1},
	    {"\"\xc3", 1}, /* truncated at the end of input */
	    {"[\"ok\",\"\xe9\"]", 7},
	    {"{\"\xe9\":1}", 2}, /* in a key */
	};
	size_t i;

	(void)state;
	check_string("\"\xc3\xa9\"", "\xc3\xa9", 2);
	check_string("\"\xe4\xb8\xad\"", "\xe4\xb8\xad", 3);
	check_string("\"\xef\xbf\xbf\"", "\xef\xbf\xbf", 3);
	check_string("\"\xee\x80\x80\"", "\xee\x80\x80", 3);
	check_string("\"\xed\x9f\xbf\"", "\xed\x9f\xbf", 3);
	check_string("\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80", 4);
	check_string("\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf", 4);
	check_string("\"\xc2\x80\xdf\xbf\"", "\xc2\x80\xdf\xbf", 4);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		reject(bad[i].text, YX_JSON_ERR_UTF8, bad[i].off);
	/* Outside strings only ASCII is allowed at all. */
	reject("\xe4\xb8\xad", YX_JSON_ERR_SYNTAX, 0);
}

static void
test_utf8_surrogate_escapes(void **state)
{
	static const char *bad[] = {
	    "\"\\ud83d\"",        /* lone high */
	    "\"\\ud83dx\"",       /* high then text */
	    "\"\\ud83d\\ud83d\"", /* high then high */
	    "\"\\ude00\"",        /* lone low */
	    "\"\\ude00\\ud83d\"", /* reversed pair */
	    "\"\\ud83d\\n\"",     /* high then another escape */
	    "\"\\ud83d\\u0041\"", /* high then BMP */
	    "\"a\\udfff\"",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		reject(bad[i], YX_JSON_ERR_UTF8, bad[i][1] == 'a' ? 2 : 1);
	/* A broken low half is a syntax error where its digits go wrong. */
	reject("\"\\ud83d\\uZZZZ\"", YX_JSON_ERR_SYNTAX, 9);
	reject("\"\\ud83d\\u", YX_JSON_ERR_SYNTAX, ANY_OFFSET);
}

static void
test_utf8_len(void **state)
{
	(void)state;
	assert_int_equal(yx_json_utf8_len("a", 1), 1);
	assert_int_equal(yx_json_utf8_len("\0", 1), 1);
	assert_int_equal(yx_json_utf8_len("\xc3\xa9", 2), 2);
	assert_int_equal(yx_json_utf8_len("\xc3\xa9", 1), 0);
	assert_int_equal(yx_json_utf8_len("\xe4\xb8\xad", 3), 3);
	assert_int_equal(yx_json_utf8_len("\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(yx_json_utf8_len("\xf0\x9f\x98\x80", 3), 0);
	assert_int_equal(yx_json_utf8_len("\xed\xa0\x80", 3), 0);
	assert_int_equal(yx_json_utf8_len("", 0), 0);
}

/* --- duplicates --------------------------------------------------------------- */

static void
test_duplicate_keys(void **state)
{
	char big[4096];
	size_t off, i;
	struct yx_json_doc *doc;

	(void)state;
	reject("{\"a\":1,\"a\":2}", YX_JSON_ERR_DUPLICATE, 7);
	reject("{\"a\":1,\"b\":2,\"a\":3}", YX_JSON_ERR_DUPLICATE, 13);
	reject("{\"a\":1,\"\\u0061\":2}", YX_JSON_ERR_DUPLICATE, 7);
	reject("{\"\":1,\"\":2}", YX_JSON_ERR_DUPLICATE, 6);
	reject("{\"x\":{\"a\":1,\"a\":1}}", YX_JSON_ERR_DUPLICATE, 12);
	reject("[{\"a\":1},{\"b\":1,\"b\":1}]", YX_JSON_ERR_DUPLICATE, 16);
	/* Earliest duplicate wins when there are several. */
	reject("{\"b\":1,\"a\":1,\"a\":2,\"b\":2}", YX_JSON_ERR_DUPLICATE, 13);

	doc = parse("[{\"a\":1},{\"a\":2},{\"a\":{\"a\":3}},{\"a\":1,\"A\":2,\"a \":3}]");
	yx_json_free(doc);
	doc = parse("{\"ab\":1,\"a\":2,\"b\":3,\"a\\u0001\":4}");
	yx_json_free(doc);

	/* Large objects take the sorting path. */
	off = (size_t)snprintf(big, sizeof(big), "{");
	for (i = 0; i < 200; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off, "%s\"k%zu\":%zu",
		                        i ? "," : "", i, i);
	snprintf(big + off, sizeof(big) - off, "}");
	doc = parse(big);
	assert_int_equal(yx_json_root(doc)->count, 200);
	assert_non_null(yx_json_get(yx_json_root(doc), "k199"));
	yx_json_free(doc);

	size_t dup_at = off + 1;
	snprintf(big + off, sizeof(big) - off, ",\"k57\":0}");
	reject(big, YX_JSON_ERR_DUPLICATE, dup_at);
	snprintf(big + off, sizeof(big) - off, ",\"k199\":0,\"k0\":1}");
	reject(big, YX_JSON_ERR_DUPLICATE, dup_at);
}

/* --- numbers ------------------------------------------------------------------ */

static void
check_int(const char *text, int64_t want)
{
	struct yx_json_doc *doc = parse(text);
	int64_t got = 12345;

	if (!yx_json_int64(yx_json_root(doc), &got))
		fail_msg("%s: not an int64", text);
	assert_true(got == want);
	yx_json_free(doc);
}

static void
check_not_int(const char *text)
{
	struct yx_json_doc *doc = parse(text);
	int64_t got = 12345;

	if (yx_json_int64(yx_json_root(doc), &got))
		fail_msg("%s: taken as int64", text);
	assert_true(got == 12345);
	yx_json_free(doc);
}

static void
test_numbers_int64(void **state)
{
	(void)state;
	check_int("0", 0);
	check_int("-0", 0);
	check_int("7", 7);
	check_int("-7", -7);
	check_int("9223372036854775807", INT64_MAX);
	check_int("-9223372036854775808", INT64_MIN);
	check_int("9223372036854775806", INT64_MAX - 1);
	check_int("-9223372036854775807", INT64_MIN + 1);
	check_not_int("9223372036854775808");
	check_not_int("-9223372036854775809");
	check_not_int("18446744073709551616");
	check_not_int("99999999999999999999999");
	check_not_int("1.0");
	check_not_int("1e3");
	check_not_int("1E3");
	check_not_int("0.5");
	check_not_int("-0.0");

	struct yx_json_doc *doc = parse("\"5\"");
	int64_t x;
	assert_false(yx_json_int64(yx_json_root(doc), &x));
	assert_false(yx_json_int64(NULL, &x));
	yx_json_free(doc);
}

static void
check_double(const char *text, double want)
{
	struct yx_json_doc *doc = parse(text);
	const struct yx_json *v = yx_json_root(doc);
	double got;

	assert_true(yx_json_double(v, &got));
	if (got != want)
		fail_msg("%s: got %.17g want %.17g", text, got, want);
	/* The literal is kept as written. */
	assert_string_equal(v->str, text);
	assert_int_equal(v->len, strlen(text));
	yx_json_free(doc);
}

static void
test_numbers_forms(void **state)
{
	(void)state;
	check_double("0", 0.0);
	check_double("-0", -0.0);
	check_double("1.5", 1.5);
	check_double("-1.5", -1.5);
	check_double("0.25", 0.25);
	check_double("1e2", 100.0);
	check_double("1E2", 100.0);
	check_double("1e+2", 100.0);
	check_double("1E-2", 0.01);
	check_double("-2.5e-3", -0.0025);
	check_double("0e0", 0.0);
	check_double("10", 10.0);
	check_double("1.7976931348623157e308", 1.7976931348623157e308);
	check_double("1e-400", 0.0); /* underflow is fine, overflow is not */
	check_double("123456789012345678901234567890", 123456789012345678901234567890.0);

	struct yx_json_doc *doc = parse("true");
	double d;
	assert_false(yx_json_double(yx_json_root(doc), &d));
	yx_json_free(doc);
}

/* --- limits --------------------------------------------------------------------- */

static char *
nested(unsigned depth, char open, char close)
{
	char *s = malloc(2 * depth + 1);
	unsigned i;

	assert_non_null(s);
	for (i = 0; i < depth; i++) {
		s[i] = open;
		s[2 * depth - 1 - i] = close;
	}
	s[2 * depth] = '\0';
	return s;
}

static void
test_limit_size(void **state)
{
	struct yx_json_limits lim = {10, 16, 100, 100};
	struct yx_json_doc *doc;

	(void)state;
	doc = parse_lim("\"12345678\"", 10, &lim);
	yx_json_free(doc);
	reject_lim("\"123456789\"", 11, &lim, YX_JSON_ERR_TOO_LARGE, 10);
	/* Whitespace counts. */
	reject_lim("\"1234567\"  ", 11, &lim, YX_JSON_ERR_TOO_LARGE, 10);
}

static void
test_limit_depth(void **state)
{
	const struct yx_json_limits def = YX_JSON_LIMITS_DEFAULT;
	struct yx_json_limits lim = def;
	struct yx_json_doc *doc;
	char *s, obj[512];
	unsigned i;
	size_t off = 0;

	(void)state;
	assert_int_equal(def.max_depth, 16);
	s = nested(16, '[', ']');
	doc = parse(s);
	yx_json_free(doc);
	free(s);
	s = nested(17, '[', ']');
	reject(s, YX_JSON_ERR_TOO_DEEP, 16);
	free(s);

	/* Objects count the same as arrays. */
	for (i = 0; i < 16; i++)
		off += (size_t)snprintf(obj + off, sizeof(obj) - off, "{\"a\":");
	off += (size_t)snprintf(obj + off, sizeof(obj) - off, "1");
	for (i = 0; i < 16; i++)
		off += (size_t)snprintf(obj + off, sizeof(obj) - off, "}");
	doc = parse(obj);
	yx_json_free(doc);
	memmove(obj + 5, obj, strlen(obj) + 1);
	memcpy(obj, "{\"a\":", 5);
	strcat(obj, "}");
	reject(obj, YX_JSON_ERR_TOO_DEEP, 16 * 5);

	/* Siblings do not add up. */
	doc = parse("[[[1]],[[2]],[[[3]]]]");
	yx_json_free(doc);

	lim.max_depth = 0;
	doc = parse_lim("1", 1, &lim);
	yx_json_free(doc);
	reject_lim("[]", 2, &lim, YX_JSON_ERR_TOO_DEEP, 0);
	lim.max_depth = 1;
	doc = parse_lim("[1,\"{}\"]", 8, &lim);
	yx_json_free(doc);
	reject_lim("[1,{}]", 6, &lim, YX_JSON_ERR_TOO_DEEP, 3);

	/* A very large depth limit is capped. */
	lim.max_bytes = 10000;
	lim.max_nodes = 10000;
	lim.max_depth = 100000;
	s = nested(YX_JSON_DEPTH_HARD_MAX, '[', ']');
	doc = parse_lim(s, strlen(s), &lim);
	yx_json_free(doc);
	free(s);
	s = nested(YX_JSON_DEPTH_HARD_MAX + 1, '[', ']');
	reject_lim(s, strlen(s), &lim, YX_JSON_ERR_TOO_DEEP, YX_JSON_DEPTH_HARD_MAX);
	free(s);
	s = nested(5000, '[', ']');
	reject_lim(s, strlen(s), &lim, YX_JSON_ERR_TOO_DEEP, YX_JSON_DEPTH_HARD_MAX);
	free(s);
}

/* "[0,0,...,0]" with n elements. */
static char *
zeros_array(size_t n)
{
	char *s = malloc(2 * n + 2);
	size_t i;

	assert_non_null(s);
	s[0] = '[';
	for (i = 0; i < n; i++) {
		s[1 + 2 * i] = '0';
		s[2 + 2 * i] = ',';
	}
	s[n == 0 ? 1 : 2 * n] = ']';
	s[n == 0 ? 2 : 2 * n + 1] = '\0';
	return s;
}

static void
test_limit_nodes(void **state)
{
	struct yx_json_limits lim = {1000, 16, 3, 100};
	struct yx_json_doc *doc;
	char *big;

	(void)state;
	doc = parse_lim("[1,2]", 5, &lim);
	yx_json_free(doc);
	reject_lim("[1,2,3]", 7, &lim, YX_JSON_ERR_TOO_MANY, 5);
	doc = parse_lim("{\"a\":{\"b\":[]}}", 14, &lim);
	yx_json_free(doc);
	reject_lim("{\"a\":{\"b\":[1]}}", 15, &lim, YX_JSON_ERR_TOO_MANY, 11);
	lim.max_nodes = 1;
	doc = parse_lim("\"x\"", 3, &lim);
	yx_json_free(doc);
	reject_lim("[0]", 3, &lim, YX_JSON_ERR_TOO_MANY, 1);

	/* The default: 4096 values including the outer array. */
	big = zeros_array(4095);
	doc = parse(big);
	assert_int_equal(yx_json_root(doc)->count, 4095);
	yx_json_free(doc);
	free(big);
	big = zeros_array(4096);
	reject(big, YX_JSON_ERR_TOO_MANY, 1 + 2 * 4095);
	free(big);
}

static void
test_limit_string(void **state)
{
	struct yx_json_limits lim = {1000, 16, 100, 4};
	struct yx_json_doc *doc;

	(void)state;
	doc = parse_lim("\"abcd\"", 6, &lim);
	yx_json_free(doc);
	reject_lim("\"abcde\"", 7, &lim, YX_JSON_ERR_TOO_LARGE, 0);
	/* Decoded length: six escape characters are one byte, \u00e9 is two. */
	doc = parse_lim("\"\\u00e9\\u00e9\"", 14, &lim);
	assert_int_equal(yx_json_root(doc)->len, 4);
	yx_json_free(doc);
	reject_lim("\"\xc3\xa9\xc3\xa9\xc3\xa9\"", 8, &lim, YX_JSON_ERR_TOO_LARGE, 0);
	doc = parse_lim("\"\\n\\n\\n\\n\"", 10, &lim);
	yx_json_free(doc);
	/* Keys too. */
	reject_lim("{\"abcde\":1}", 11, &lim, YX_JSON_ERR_TOO_LARGE, 1);
	doc = parse_lim("{\"abcd\":\"efgh\"}", 15, &lim);
	yx_json_free(doc);
	lim.max_string = 0;
	doc = parse_lim("[\"\"]", 4, &lim);
	yx_json_free(doc);
	reject_lim("[\"a\"]", 5, &lim, YX_JSON_ERR_TOO_LARGE, 1);
}

static void
test_limits_default(void **state)
{
	const struct yx_json_limits m = YX_JSON_LIMITS_DEFAULT;

	(void)state;
	assert_int_equal(yx_json_limits_default.max_bytes, 65536);
	assert_int_equal(yx_json_limits_default.max_depth, 16);
	assert_int_equal(yx_json_limits_default.max_nodes, 4096);
	assert_int_equal(yx_json_limits_default.max_string, 16384);
	assert_int_equal(m.max_bytes, yx_json_limits_default.max_bytes);
	assert_int_equal(m.max_depth, yx_json_limits_default.max_depth);
	assert_int_equal(m.max_nodes, yx_json_limits_default.max_nodes);
	assert_int_equal(m.max_string, yx_json_limits_default.max_string);
}

static void
test_strerror(void **state)
{
	int e;

	(void)state;
	for (e = YX_JSON_OK; e <= YX_JSON_ERR_NOMEM; e++) {
		assert_non_null(yx_json_strerror((enum yx_json_err)e));
		assert_string_not_equal(yx_json_strerror((enum yx_json_err)e), "unknown error");
	}
	assert_string_equal(yx_json_strerror((enum yx_json_err)99), "unknown error");
}

/* --- writer ------------------------------------------------------------------- */

static char *
finish_ok(struct yx_jw *jw, const char *want)
{
	size_t len = 0;
	char *s = yx_jw_finish(jw, &len);

	if (s == NULL)
		fail_msg("writer failed, wanted %s", want);
	assert_string_equal(s, want);
	assert_int_equal(len, strlen(want));
	return s;
}

static void
finish_fails(struct yx_jw *jw)
{
	size_t len = 99;

	assert_null(yx_jw_finish(jw, &len));
	/* The writer is reset either way. */
	assert_null(jw->buf);
	assert_false(jw->failed);
}

static void
test_writer_basic(void **state)
{
	struct yx_jw jw;
	char *s;

	(void)state;
	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_kv_str(&jw, "a", "x");
	yx_jw_kv_int(&jw, "n", -5);
	yx_jw_kv_bool(&jw, "t", true);
	yx_jw_kv_bool(&jw, "f", false);
	yx_jw_kv_str(&jw, "z", NULL);
	yx_jw_key(&jw, "arr");
	yx_jw_arr_open(&jw);
	yx_jw_int(&jw, 1);
	yx_jw_null(&jw);
	yx_jw_arr_open(&jw);
	yx_jw_arr_close(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_obj_close(&jw);
	yx_jw_str(&jw, "s");
	yx_jw_arr_close(&jw);
	yx_jw_key(&jw, "o");
	yx_jw_obj_open(&jw);
	yx_jw_obj_close(&jw);
	yx_jw_key(&jw, "big");
	yx_jw_arr_open(&jw);
	yx_jw_int(&jw, INT64_MIN);
	yx_jw_int(&jw, INT64_MAX);
	yx_jw_arr_close(&jw);
	yx_jw_obj_close(&jw);
	assert_false(yx_jw_failed(&jw));
	s = finish_ok(&jw, "{\"a\":\"x\",\"n\":-5,\"t\":true,\"f\":false,\"z\":null,"
	                   "\"arr\":[1,null,[],{},\"s\"],\"o\":{},"
	                   "\"big\":[-9223372036854775808,9223372036854775807]}");
	free(s);

	/* Scalars at the top level are documents too. */
	yx_jw_init(&jw);
	yx_jw_int(&jw, 0);
	s = finish_ok(&jw, "0");
	free(s);
	yx_jw_str(&jw, ""); /* usable again after finish */
	s = finish_ok(&jw, "\"\"");
	free(s);
	yx_jw_null(&jw);
	s = finish_ok(&jw, "null");
	free(s);
}

static void
test_writer_escaping(void **state)
{
	struct yx_jw jw;
	char *s;

	(void)state;
	yx_jw_init(&jw);
	yx_jw_str(&jw, "\"\\\n\t\r\b\f\x01\x1f\x7f/");
	s = finish_ok(&jw, "\"\\\"\\\\\\n\\t\\r\\b\\f\\u0001\\u001f\x7f/\"");
	free(s);

	yx_jw_init(&jw);
	yx_jw_str(&jw,
	          "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 \xe2\x80\xa8 \xe2\x80\xa9 \xe2\x80\xaa");
	s = finish_ok(&jw, "\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 \\u2028 \\u2029 \xe2\x80\xaa\"");
	free(s);

	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_kv_str(&jw, "k\"\n", "v");
	yx_jw_obj_close(&jw);
	s = finish_ok(&jw, "{\"k\\\"\\n\":\"v\"}");
	free(s);

	yx_jw_init(&jw);
	yx_jw_strn(&jw, "abcdef", 3);
	s = finish_ok(&jw, "\"abc\"");
	free(s);
}

static void
writer_rejects_string(const char *str, size_t n)
{
	struct yx_jw jw;

	yx_jw_init(&jw);
	yx_jw_arr_open(&jw);
	yx_jw_str(&jw, "ok");
	yx_jw_strn(&jw, str, n);
	assert_true(yx_jw_failed(&jw));
	yx_jw_arr_close(&jw);
	finish_fails(&jw);

	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_keyn(&jw, str, n);
	assert_true(yx_jw_failed(&jw));
	yx_jw_null(&jw);
	yx_jw_obj_close(&jw);
	finish_fails(&jw);
}

static void
test_writer_invalid_utf8(void **state)
{
	(void)state;
	writer_rejects_string("\xff", 1);
	writer_rejects_string("a\x80", 2);
	writer_rejects_string("\xc0\x80", 2);
	writer_rejects_string("\xed\xa0\x80", 3);
	writer_rejects_string("\xf4\x90\x80\x80", 4);
	writer_rejects_string("\xe4\xb8", 2);
	writer_rejects_string("a\0b", 3);
}

static void
test_writer_lossy(void **state)
{
	struct yx_jw jw;
	struct yx_json_doc *doc;
	const struct yx_json *v;
	char *s;
	size_t len;

	(void)state;
	yx_jw_init(&jw);
	yx_jw_strn_lossy(&jw,
	                 "a\xff"
	                 "b\0c\xe4\xb8\xad\xe4\xb8\n",
	                 11);
	s = yx_jw_finish(&jw, &len);
	assert_non_null(s);
	assert_string_equal(s, "\"a\xef\xbf\xbd"
	                       "b\xef\xbf\xbd"
	                       "c\xe4\xb8\xad\xef\xbf\xbd\xef\xbf\xbd\\n\"");
	doc = parse_lim(s, len, NULL);
	v = yx_json_root(doc);
	assert_string_equal(v->str, "a\xef\xbf\xbd"
	                            "b\xef\xbf\xbd"
	                            "c\xe4\xb8\xad\xef\xbf\xbd\xef\xbf\xbd\n");
	yx_json_free(doc);
	free(s);

	yx_jw_init(&jw);
	yx_jw_strn_lossy(&jw, NULL, 5);
	s = finish_ok(&jw, "null");
	free(s);
}

static void
test_writer_structure_errors(void **state)
{
	struct yx_jw jw;
	unsigned i;
	char *s;

	(void)state;
	/* A key outside an object. */
	yx_jw_init(&jw);
	yx_jw_key(&jw, "a");
	finish_fails(&jw);
	yx_jw_arr_open(&jw);
	yx_jw_key(&jw, "a");
	finish_fails(&jw);
	/* A value in an object without a key. */
	yx_jw_obj_open(&jw);
	yx_jw_int(&jw, 1);
	yx_jw_obj_close(&jw);
	finish_fails(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_arr_open(&jw);
	finish_fails(&jw);
	/* Two keys in a row. */
	yx_jw_obj_open(&jw);
	yx_jw_key(&jw, "a");
	yx_jw_key(&jw, "b");
	finish_fails(&jw);
	/* Closing after a key. */
	yx_jw_obj_open(&jw);
	yx_jw_key(&jw, "a");
	yx_jw_obj_close(&jw);
	finish_fails(&jw);
	/* Mismatched and unbalanced closes. */
	yx_jw_obj_open(&jw);
	yx_jw_arr_close(&jw);
	finish_fails(&jw);
	yx_jw_arr_open(&jw);
	yx_jw_obj_close(&jw);
	finish_fails(&jw);
	yx_jw_arr_close(&jw);
	finish_fails(&jw);
	yx_jw_arr_open(&jw);
	yx_jw_arr_close(&jw);
	yx_jw_arr_close(&jw);
	finish_fails(&jw);
	/* Left open. */
	yx_jw_obj_open(&jw);
	finish_fails(&jw);
	yx_jw_arr_open(&jw);
	yx_jw_arr_open(&jw);
	yx_jw_arr_close(&jw);
	finish_fails(&jw);
	/* Nothing written. */
	finish_fails(&jw);
	/* Two top-level values. */
	yx_jw_int(&jw, 1);
	yx_jw_int(&jw, 2);
	finish_fails(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_obj_close(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_obj_close(&jw);
	finish_fails(&jw);
	/* NULL key. */
	yx_jw_obj_open(&jw);
	yx_jw_key(&jw, NULL);
	finish_fails(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_kv_int(&jw, NULL, 1);
	yx_jw_obj_close(&jw);
	finish_fails(&jw);

	/* Depth: exactly YX_JW_MAX_DEPTH levels fit. */
	for (i = 0; i < YX_JW_MAX_DEPTH; i++)
		yx_jw_arr_open(&jw);
	assert_false(yx_jw_failed(&jw));
	for (i = 0; i < YX_JW_MAX_DEPTH; i++)
		yx_jw_arr_close(&jw);
	s = yx_jw_finish(&jw, NULL);
	assert_non_null(s);
	assert_int_equal(strlen(s), 2 * YX_JW_MAX_DEPTH);
	free(s);
	for (i = 0; i < YX_JW_MAX_DEPTH + 1; i++)
		yx_jw_arr_open(&jw);
	assert_true(yx_jw_failed(&jw));
	for (i = 0; i < YX_JW_MAX_DEPTH + 1; i++)
		yx_jw_arr_close(&jw);
	finish_fails(&jw);
}

static void
test_writer_sticky(void **state)
{
	struct yx_jw jw;
	size_t len;
	char *s;

	(void)state;
	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_kv_str(&jw, "bad", "\xff");
	assert_true(yx_jw_failed(&jw));
	len = jw.len;
	/* Every later call is a no-op, including ones that would be valid. */
	yx_jw_kv_str(&jw, "good", "x");
	yx_jw_kv_int(&jw, "n", 1);
	yx_jw_key(&jw, "a");
	yx_jw_arr_open(&jw);
	yx_jw_arr_close(&jw);
	yx_jw_raw(&jw, "{}", 2);
	yx_jw_obj_close(&jw);
	assert_true(yx_jw_failed(&jw));
	assert_int_equal(jw.len, len);
	finish_fails(&jw);

	/* reset clears the failure and keeps the buffer. */
	yx_jw_obj_open(&jw);
	yx_jw_key(&jw, NULL);
	assert_true(yx_jw_failed(&jw));
	yx_jw_reset(&jw);
	assert_false(yx_jw_failed(&jw));
	yx_jw_arr_open(&jw);
	yx_jw_arr_close(&jw);
	s = finish_ok(&jw, "[]");
	free(s);

	/* free is safe on a fresh writer and twice. */
	yx_jw_init(&jw);
	yx_jw_free(&jw);
	yx_jw_int(&jw, 3);
	yx_jw_free(&jw);
	yx_jw_free(&jw);
}

static void
test_writer_raw(void **state)
{
	struct yx_jw jw;
	char *s;

	(void)state;
	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_key(&jw, "items");
	yx_jw_raw(&jw, " [{\"id\":\"1\"},{\"id\":\"2\"}]\n", 25);
	yx_jw_key(&jw, "n");
	yx_jw_raw(&jw, "12.5e3", 6);
	yx_jw_obj_close(&jw);
	s = finish_ok(&jw, "{\"items\":[{\"id\":\"1\"},{\"id\":\"2\"}],\"n\":12.5e3}");
	free(s);

	static const char *bad[] = {"",           " ",        "{",   "[1,]", "1 2",
	                            "{\"a\":1}x", "\"\xff\"", "nul", "01",   "'a'"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		yx_jw_init(&jw);
		yx_jw_arr_open(&jw);
		yx_jw_raw(&jw, bad[i], strlen(bad[i]));
		if (!yx_jw_failed(&jw))
			fail_msg("raw accepted \"%s\"", bad[i]);
		yx_jw_arr_close(&jw);
		finish_fails(&jw);
	}
	yx_jw_arr_open(&jw);
	yx_jw_raw(&jw, NULL, 0);
	yx_jw_arr_close(&jw);
	finish_fails(&jw);
	/* In an object, raw is a value: it needs a key first. */
	yx_jw_obj_open(&jw);
	yx_jw_raw(&jw, "1", 1);
	yx_jw_obj_close(&jw);
	finish_fails(&jw);
}

static void
test_writer_growth(void **state)
{
	struct yx_jw jw;
	struct yx_json_doc *doc;
	const struct yx_json *v;
	struct yx_json_limits lim = {1 << 20, 4, 20000, 100};
	char *s;
	size_t len;
	int64_t i, got;

	(void)state;
	yx_jw_init(&jw);
	yx_jw_arr_open(&jw);
	for (i = 0; i < 10000; i++)
		yx_jw_int(&jw, i * 1000003);
	yx_jw_arr_close(&jw);
	s = yx_jw_finish(&jw, &len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	doc = parse_lim(s, len, &lim);
	assert_int_equal(yx_json_root(doc)->count, 10000);
	for (i = 0, v = yx_json_root(doc)->child; v != NULL; v = v->next, i++) {
		assert_true(yx_json_int64(v, &got));
		assert_true(got == i * 1000003);
	}
	yx_json_free(doc);
	free(s);
}

/* --- round trips ---------------------------------------------------------- */

static bool
tree_equal(const struct yx_json *a, const struct yx_json *b)
{
	const struct yx_json *x, *y;

	if (a->type != b->type || a->key_len != b->key_len || a->count != b->count)
		return false;
	if (a->key != NULL && (b->key == NULL || memcmp(a->key, b->key, a->key_len) != 0))
		return false;
	switch (a->type) {
	case YX_JSON_BOOL:
		return a->boolean == b->boolean;
	case YX_JSON_NUMBER:
	case YX_JSON_STRING:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case YX_JSON_ARRAY:
	case YX_JSON_OBJECT:
		for (x = a->child, y = b->child; x != NULL && y != NULL; x = x->next, y = y->next)
			if (!tree_equal(x, y))
				return false;
		return x == NULL && y == NULL;
	default:
		return true;
	}
}

static void
roundtrip(const char *in, const char *canonical)
{
	struct yx_json_doc *a, *b;
	struct yx_jw jw;
	char *s;
	size_t len;

	a = parse(in);
	yx_jw_init(&jw);
	yx_jw_value(&jw, yx_json_root(a));
	s = yx_jw_finish(&jw, &len);
	assert_non_null(s);
	assert_string_equal(s, canonical);
	b = parse_lim(s, len, NULL);
	assert_true(tree_equal(yx_json_root(a), yx_json_root(b)));
	yx_json_free(a);
	yx_json_free(b);
	free(s);
}

static void
test_roundtrip(void **state)
{
	struct yx_jw jw;

	(void)state;
	roundtrip("null", "null");
	roundtrip(" [ 1 , -0 , 1.5E+3 , true , false , null ] ", "[1,-0,1.5E+3,true,false,null]");
	roundtrip("{\"a\" : {\"b\" : [ {}, [] ]}, \"c\":1}", "{\"a\":{\"b\":[{},[]]},\"c\":1}");
	roundtrip("\"\\u00e9\\/\\n\\u001f\\ud83d\\ude00\\u2028\"",
	          "\"\xc3\xa9/\\n\\u001f\xf0\x9f\x98\x80\\u2028\"");
	roundtrip("{\"\\u4e2d\\u6587\":\"\xe6\x82\xa6\xe4\xba\xab\"}",
	          "{\"\xe4\xb8\xad\xe6\x96\x87\":\"\xe6\x82\xa6\xe4\xba\xab\"}");

	/* Inside an open container, a parsed value is a value like any other. */
	struct yx_json_doc *doc = parse("{\"x\":[1,2]}");
	char *s;
	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_key(&jw, "wrapped");
	yx_jw_value(&jw, yx_json_root(doc));
	yx_jw_key(&jw, "first");
	yx_jw_value(&jw, yx_json_get(yx_json_root(doc), "x")->child);
	yx_jw_obj_close(&jw);
	s = finish_ok(&jw, "{\"wrapped\":{\"x\":[1,2]},\"first\":1}");
	free(s);
	yx_jw_arr_open(&jw);
	yx_jw_value(&jw, NULL);
	yx_jw_arr_close(&jw);
	finish_fails(&jw);
	yx_json_free(doc);
}

/* Every string the writer produces from valid UTF-8 parses back to itself. */
static void
test_roundtrip_all_bmp(void **state)
{
	char *text = malloc(4 * 0x110000);
	struct yx_json_limits lim = {1 << 24, 4, 10, 1 << 23};
	struct yx_json_doc *doc;
	const struct yx_json *v;
	struct yx_jw jw;
	size_t n = 0, len;
	unsigned cp;
	char *s;

	(void)state;
	assert_non_null(text);
	for (cp = 1; cp < 0x110000; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		if (cp < 0x80) {
			text[n++] = (char)cp;
		} else if (cp < 0x800) {
			text[n++] = (char)(0xc0 | (cp >> 6));
			text[n++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			text[n++] = (char)(0xe0 | (cp >> 12));
			text[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			text[n++] = (char)(0x80 | (cp & 0x3f));
		} else {
			text[n++] = (char)(0xf0 | (cp >> 18));
			text[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			text[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			text[n++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	yx_jw_init(&jw);
	yx_jw_strn(&jw, text, n);
	s = yx_jw_finish(&jw, &len);
	assert_non_null(s);
	doc = parse_lim(s, len, &lim);
	v = yx_json_root(doc);
	assert_int_equal(v->len, n);
	assert_memory_equal(v->str, text, n);
	yx_json_free(doc);
	free(s);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_containers),
	    cmocka_unit_test(test_syntax_rejections),
	    cmocka_unit_test(test_nul_bytes),
	    cmocka_unit_test(test_no_output_pointer),
	    cmocka_unit_test(test_string_escapes),
	    cmocka_unit_test(test_utf8_raw),
	    cmocka_unit_test(test_utf8_surrogate_escapes),
	    cmocka_unit_test(test_utf8_len),
	    cmocka_unit_test(test_duplicate_keys),
	    cmocka_unit_test(test_numbers_int64),
	    cmocka_unit_test(test_numbers_forms),
	    cmocka_unit_test(test_limit_size),
	    cmocka_unit_test(test_limit_depth),
	    cmocka_unit_test(test_limit_nodes),
	    cmocka_unit_test(test_limit_string),
	    cmocka_unit_test(test_limits_default),
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_writer_basic),
	    cmocka_unit_test(test_writer_escaping),
	    cmocka_unit_test(test_writer_invalid_utf8),
	    cmocka_unit_test(test_writer_lossy),
	    cmocka_unit_test(test_writer_structure_errors),
	    cmocka_unit_test(test_writer_sticky),
	    cmocka_unit_test(test_writer_raw),
	    cmocka_unit_test(test_writer_growth),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_roundtrip_all_bmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
