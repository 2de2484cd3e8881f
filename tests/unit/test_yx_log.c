/*
 * Unit tests for shared/yx_log.c: lines captured through yx_log_set_fd(),
 * parsed back with yx_json and checked member by member.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "yx_json.h"
#include "yx_log.h"

static int log_file = -1;
static char log_path[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(log_path, sizeof(log_path), "/tmp/yx_test_log_XXXXXX");
	log_file = mkstemp(log_path);
	if (log_file < 0)
		return -1;
	/* O_APPEND, as a shared stderr redirected to a file would be. */
	close(log_file);
	log_file = open(log_path, O_WRONLY | O_APPEND);
	if (log_file < 0)
		return -1;
	yx_log_set_fd(log_file);
	yx_log_init("identity", YX_LOG_DEBUG);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	yx_log_set_fd(-1);
	close(log_file);
	unlink(log_path);
	return 0;
}

/* Everything logged since the last call, malloc'd and NUL-terminated. */
static char *
take_output(size_t *len)
{
	FILE *f = fopen(log_path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	assert_int_equal(ftruncate(log_file, 0), 0);
	*len = (size_t)n;
	return buf;
}

/* The single line logged since the last call, parsed. */
static struct yx_json_doc *
take_line(void)
{
	struct yx_json_limits lim = {1 << 20, 16, 4096, 1 << 20};
	struct yx_json_doc *doc;
	enum yx_json_err err;
	size_t len;
	char *out = take_output(&len);

	assert_true(len > 1);
	assert_int_equal(out[len - 1], '\n');
	/* Exactly one line: no newline but the last. */
	assert_null(memchr(out, '\n', len - 1));
	if (yx_json_parse(out, len - 1, &lim, &doc, &err, NULL) != 0)
		fail_msg("log line is not JSON (%s): %s", yx_json_strerror(err), out);
	free(out);
	assert_true(yx_json_is_object(yx_json_root(doc)));
	return doc;
}

static void
assert_nothing_logged(void)
{
	size_t len;
	char *out = take_output(&len);

	assert_int_equal(len, 0);
	free(out);
}

static const char *
member_str(const struct yx_json_doc *doc, const char *key)
{
	const char *s;

	if (!yx_json_string(yx_json_get(yx_json_root(doc), key), &s, NULL))
		return NULL;
	return s;
}

static void
test_line_shape(void **state)
{
	struct yx_json_doc *doc;
	const struct yx_json *root, *m;
	const char *ts;
	int64_t pid;
	size_t i;

	(void)state;
	yx_log(YX_LOG_INFO, "req-1", "user_login", "user %d logged in from %s", 42, "app");
	doc = take_line();
	root = yx_json_root(doc);
	ts = member_str(doc, "ts");
	assert_non_null(ts);
	/* 2026-11-23T14:00:00.123Z */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[4], '-');
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	for (i = 20; i < 23; i++)
		assert_true(ts[i] >= '0' && ts[i] <= '9');
	assert_string_equal(member_str(doc, "level"), "info");
	assert_string_equal(member_str(doc, "svc"), "identity");
	assert_true(yx_json_int64(yx_json_get(root, "pid"), &pid));
	assert_int_equal(pid, getpid());
	assert_string_equal(member_str(doc, "request_id"), "req-1");
	assert_string_equal(member_str(doc, "event"), "user_login");
	assert_string_equal(member_str(doc, "msg"), "user 42 logged in from app");
	assert_int_equal(root->count, 7);
	/* Members in the documented order. */
	static const char *order[] = {"ts", "level", "svc", "pid", "request_id", "event", "msg"};
	for (i = 0, m = root->child; m != NULL; m = m->next, i++)
		assert_string_equal(m->key, order[i]);
	yx_json_free(doc);
}

static void
test_omitted_fields(void **state)
{
	struct yx_json_doc *doc;

	(void)state;
	yx_log(YX_LOG_WARN, NULL, NULL, NULL);
	doc = take_line();
	assert_string_equal(member_str(doc, "level"), "warn");
	assert_null(yx_json_get(yx_json_root(doc), "request_id"));
	assert_null(yx_json_get(yx_json_root(doc), "event"));
	assert_null(yx_json_get(yx_json_root(doc), "msg"));
	assert_int_equal(yx_json_root(doc)->count, 4);
	yx_json_free(doc);

	/* No service name before init names one. */
	yx_log_init(NULL, YX_LOG_DEBUG);
	yx_log(YX_LOG_ERROR, NULL, "boom", "x");
	doc = take_line();
	assert_null(yx_json_get(yx_json_root(doc), "svc"));
	assert_string_equal(member_str(doc, "level"), "error");
	yx_json_free(doc);
	yx_log_init("identity", YX_LOG_DEBUG);
}

static void
test_levels(void **state)
{
	struct yx_json_doc *doc;
	enum yx_log_level l = YX_LOG_ERROR;

	(void)state;
	yx_log_init("mall", YX_LOG_WARN);
	assert_false(yx_log_enabled(YX_LOG_DEBUG));
	assert_false(yx_log_enabled(YX_LOG_INFO));
	assert_true(yx_log_enabled(YX_LOG_WARN));
	yx_log(YX_LOG_DEBUG, NULL, "x", "hidden");
	yx_log(YX_LOG_INFO, NULL, "x", "hidden");
	yx_log_fields(YX_LOG_INFO, NULL, "x", "{\"a\":1}");
	assert_nothing_logged();
	yx_log(YX_LOG_WARN, NULL, "x", "shown");
	doc = take_line();
	assert_string_equal(member_str(doc, "svc"), "mall");
	yx_json_free(doc);
	yx_log_init("identity", YX_LOG_DEBUG);
	yx_log(YX_LOG_DEBUG, NULL, "x", "shown");
	doc = take_line();
	assert_string_equal(member_str(doc, "level"), "debug");
	yx_json_free(doc);

	assert_int_equal(yx_log_level_parse("debug", &l), 0);
	assert_int_equal(l, YX_LOG_DEBUG);
	assert_int_equal(yx_log_level_parse("INFO", &l), 0);
	assert_int_equal(l, YX_LOG_INFO);
	assert_int_equal(yx_log_level_parse("Warn", &l), 0);
	assert_int_equal(l, YX_LOG_WARN);
	assert_int_equal(yx_log_level_parse("warning", &l), 0);
	assert_int_equal(l, YX_LOG_WARN);
	assert_int_equal(yx_log_level_parse("error", &l), 0);
	assert_int_equal(l, YX_LOG_ERROR);
	l = YX_LOG_INFO;
	assert_int_equal(yx_log_level_parse("fatal", &l), -1);
	assert_int_equal(yx_log_level_parse("", &l), -1);
	assert_int_equal(yx_log_level_parse(" info", &l), -1);
	assert_int_equal(yx_log_level_parse(NULL, &l), -1);
	assert_int_equal(l, YX_LOG_INFO);
}

static void
test_escaping_and_repair(void **state)
{
	struct yx_json_doc *doc;

	(void)state;
	yx_log(YX_LOG_INFO, "rid\xff", "ev\"il\n", "a \"quoted\"\nsecond line\t\\ \xe2\x80\xa8 %s",
	       "\xc3\x28");
	doc = take_line();
	assert_string_equal(member_str(doc, "request_id"), "rid\xef\xbf\xbd");
	assert_string_equal(member_str(doc, "event"), "ev\"il\n");
	assert_string_equal(member_str(doc, "msg"),
	                    "a \"quoted\"\nsecond line\t\\ \xe2\x80\xa8 \xef\xbf\xbd(");
	yx_json_free(doc);
}

static void
test_truncation(void **state)
{
	struct yx_json_doc *doc;
	const struct yx_json *msg;
	char *big = malloc(5001);
	bool t;
	size_t i;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 5000);
	big[5000] = '\0';
	yx_log(YX_LOG_INFO, NULL, NULL, "%s", big);
	doc = take_line();
	msg = yx_json_get(yx_json_root(doc), "msg");
	assert_int_equal(msg->len, YX_LOG_MSG_MAX);
	assert_true(yx_json_bool(yx_json_get(yx_json_root(doc), "truncated"), &t));
	assert_true(t);
	yx_json_free(doc);

	/* Cut inside a three-byte character: back up to its start, no U+FFFD. */
	for (i = 0; i + 3 <= 5000; i += 3)
		memcpy(big + i, "\xe4\xb8\xad", 3);
	big[i] = '\0';
	yx_log(YX_LOG_INFO, NULL, NULL, "%s", big);
	doc = take_line();
	msg = yx_json_get(yx_json_root(doc), "msg");
	assert_int_equal(msg->len, YX_LOG_MSG_MAX / 3 * 3);
	assert_null(strstr(msg->str, "\xef\xbf\xbd"));
	yx_json_free(doc);

	/* Exactly at the limit is not truncated. */
	memset(big, 'y', YX_LOG_MSG_MAX);
	big[YX_LOG_MSG_MAX] = '\0';
	yx_log(YX_LOG_INFO, NULL, NULL, "%s", big);
	doc = take_line();
	assert_int_equal(yx_json_get(yx_json_root(doc), "msg")->len, YX_LOG_MSG_MAX);
	assert_null(yx_json_get(yx_json_root(doc), "truncated"));
	yx_json_free(doc);
	free(big);
}

static void
test_fields(void **state)
{
	struct yx_json_doc *doc;
	const struct yx_json *root, *v;
	int64_t n;

	(void)state;
	yx_log_fields(YX_LOG_INFO, "r9", "order_created",
	              "{\"order_id\":\"123\",\"points\":-50,\"items\":[1,{\"k\":null}],"
	              "\"ok\":true,\"ratio\":0.5,\"level\":\"forged\",\"ts\":0,\"msg\":\"x\"}");
	doc = take_line();
	root = yx_json_root(doc);
	assert_string_equal(member_str(doc, "order_id"), "123");
	assert_true(yx_json_int64(yx_json_get(root, "points"), &n));
	assert_int_equal(n, -50);
	v = yx_json_get(root, "items");
	assert_int_equal(v->count, 2);
	assert_true(yx_json_is_null(yx_json_get(v->child->next, "k")));
	assert_string_equal(yx_json_get(root, "ratio")->str, "0.5");
	/* Standard members cannot be overridden (and are not duplicated). */
	assert_string_equal(member_str(doc, "level"), "info");
	assert_true(yx_json_is_string(yx_json_get(root, "ts")));
	assert_null(yx_json_get(root, "msg"));
	assert_string_equal(member_str(doc, "event"), "order_created");
	yx_json_free(doc);

	yx_log_fields(YX_LOG_INFO, NULL, "e", NULL);
	doc = take_line();
	assert_null(yx_json_get(yx_json_root(doc), "fields_invalid"));
	assert_int_equal(yx_json_root(doc)->count, 5);
	yx_json_free(doc);

	yx_log_fields(YX_LOG_INFO, NULL, "e", "{}");
	doc = take_line();
	assert_int_equal(yx_json_root(doc)->count, 5);
	yx_json_free(doc);

	static const char *bad[] = {"[1,2]", "{\"a\":", "\"str\"", "", "{\"a\":1,\"a\":2}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool b = false;
		yx_log_fields(YX_LOG_WARN, NULL, "e", bad[i]);
		doc = take_line();
		assert_true(yx_json_bool(yx_json_get(yx_json_root(doc), "fields_invalid"), &b));
		assert_true(b);
		yx_json_free(doc);
	}
}

/*
 * Several processes logging at once through one O_APPEND descriptor: every
 * line comes out whole, because each is one write(2).
 */
static void
test_concurrent_processes(void **state)
{
	enum { NPROC = 4, NLINES = 300 };
	struct yx_json_limits lim = {1 << 20, 16, 4096, 1 << 20};
	char pad[600], *out, *line, *nl;
	pid_t pids[NPROC];
	size_t len, count = 0;
	int i, status;

	(void)state;
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			for (int j = 0; j < NLINES; j++)
				yx_log(YX_LOG_INFO, NULL, "load", "child %d line %d %s", i, j, pad);
			_exit(0);
		}
	}
	for (i = 0; i < NPROC; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	out = take_output(&len);
	for (line = out; line < out + len; line = nl + 1) {
		struct yx_json_doc *doc;

		nl = memchr(line, '\n', (size_t)(out + len - line));
		assert_non_null(nl);
		if (yx_json_parse(line, (size_t)(nl - line), &lim, &doc, NULL, NULL) != 0)
			fail_msg("mangled line: %.*s", (int)(nl - line), line);
		yx_json_free(doc);
		count++;
	}
	assert_int_equal(count, NPROC * NLINES);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_shape),
	    cmocka_unit_test(test_omitted_fields),
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_escaping_and_repair),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_concurrent_processes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
