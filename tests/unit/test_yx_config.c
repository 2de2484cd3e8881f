/*
 * Unit tests for shared/yx_config.c: defaults, strict parsing of integers
 * and booleans, and secrets from the environment or a file, including that
 * error messages never show a secret.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yx_config.h"

#define VAR       "YX_TEST_VAR"
#define KEYVAR    "YX_TEST_KEY"
#define KEYFILE   "YX_TEST_KEY_FILE"
#define HEX32     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SECRETISH "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2"

/* stderr captured into a temporary file between begin and end. */
static int saved_stderr = -1;
static FILE *captured;

static void
capture_begin(void)
{
	fflush(stderr);
	captured = tmpfile();
	assert_non_null(captured);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(captured), STDERR_FILENO) >= 0);
}

/* The captured text, NUL-terminated in a static buffer. */
static const char *
capture_end(void)
{
	static char text[4096];
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(captured);
	n = fread(text, 1, sizeof(text) - 1, captured);
	text[n] = '\0';
	fclose(captured);
	return text;
}

static int
reset_env(void **state)
{
	(void)state;
	unsetenv(VAR);
	unsetenv(KEYVAR);
	unsetenv(KEYFILE);
	return 0;
}

static void
test_str(void **state)
{
	(void)state;
	assert_string_equal(yx_config_str(VAR, "dflt"), "dflt");
	assert_null(yx_config_str(VAR, NULL));
	setenv(VAR, "", 1);
	assert_string_equal(yx_config_str(VAR, "dflt"), "dflt");
	setenv(VAR, "postgres://localhost/yuexiang", 1);
	assert_string_equal(yx_config_str(VAR, "dflt"), "postgres://localhost/yuexiang");
	setenv(VAR, " ", 1);
	assert_string_equal(yx_config_str(VAR, "dflt"), " ");
}

static void
test_int_valid(void **state)
{
	long long v = 0;

	(void)state;
	assert_int_equal(yx_config_int(VAR, 8080, 1, 65535, &v), 0);
	assert_int_equal(v, 8080);
	setenv(VAR, "", 1);
	v = 0;
	assert_int_equal(yx_config_int(VAR, 7, 1, 10, &v), 0);
	assert_int_equal(v, 7);
	setenv(VAR, "42", 1);
	assert_int_equal(yx_config_int(VAR, 7, 1, 100, &v), 0);
	assert_int_equal(v, 42);
	setenv(VAR, "-5", 1);
	assert_int_equal(yx_config_int(VAR, 7, -10, 100, &v), 0);
	assert_int_equal(v, -5);
	setenv(VAR, "+9", 1);
	assert_int_equal(yx_config_int(VAR, 7, 0, 100, &v), 0);
	assert_int_equal(v, 9);
	setenv(VAR, "007", 1);
	assert_int_equal(yx_config_int(VAR, 1, 0, 100, &v), 0);
	assert_int_equal(v, 7);
	/* Both ends of the range are included. */
	setenv(VAR, "1", 1);
	assert_int_equal(yx_config_int(VAR, 5, 1, 10, &v), 0);
	assert_int_equal(v, 1);
	setenv(VAR, "10", 1);
	assert_int_equal(yx_config_int(VAR, 5, 1, 10, &v), 0);
	assert_int_equal(v, 10);
	setenv(VAR, "9223372036854775807", 1);
	assert_int_equal(yx_config_int(VAR, 0, LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MAX);
	setenv(VAR, "-9223372036854775808", 1);
	assert_int_equal(yx_config_int(VAR, 0, LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MIN);
}

static void
test_int_invalid(void **state)
{
	static const char *bad[] = {
	    "abc",
	    " 42",
	    "42 ",
	    "4 2",
	    "0x10",
	    "1e3",
	    "1.0",
	    "-",
	    "+",
	    "--1",
	    "12abc",
	    "9223372036854775808",
	    "-9223372036854775809",
	    "99999999999999999999",
	    "\t1",
	    "1\n",
	};
	const char *msg;
	long long v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(VAR, bad[i], 1);
		v = 1234;
		capture_begin();
		if (yx_config_int(VAR, 7, LLONG_MIN, LLONG_MAX, &v) != -1) {
			capture_end();
			fail_msg("accepted \"%s\"", bad[i]);
		}
		msg = capture_end();
		assert_int_equal(v, 1234);
		assert_non_null(strstr(msg, VAR));
	}
	/* Out of range. */
	setenv(VAR, "0", 1);
	capture_begin();
	assert_int_equal(yx_config_int(VAR, 5, 1, 10, &v), -1);
	msg = capture_end();
	assert_non_null(strstr(msg, VAR));
	assert_non_null(strstr(msg, "between 1 and 10"));
	setenv(VAR, "11", 1);
	capture_begin();
	assert_int_equal(yx_config_int(VAR, 5, 1, 10, &v), -1);
	capture_end();
	assert_int_equal(v, 1234);
}

static void
test_bool(void **state)
{
	static const char *yes[] = {"1", "true", "TRUE", "True", "yes", "YES", "on", "On"};
	static const char *no[] = {"0", "false", "FALSE", "no", "No", "off", "OFF"};
	static const char *bad[] = {"2", "tru", "y", "n", " true", "true ", "enabled", "-1"};
	const char *msg;
	bool b;
	size_t i;

	(void)state;
	b = false;
	assert_int_equal(yx_config_bool(VAR, true, &b), 0);
	assert_true(b);
	setenv(VAR, "", 1);
	assert_int_equal(yx_config_bool(VAR, false, &b), 0);
	assert_false(b);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		setenv(VAR, yes[i], 1);
		b = false;
		assert_int_equal(yx_config_bool(VAR, false, &b), 0);
		assert_true(b);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		setenv(VAR, no[i], 1);
		b = true;
		assert_int_equal(yx_config_bool(VAR, true, &b), 0);
		assert_false(b);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(VAR, bad[i], 1);
		b = true;
		capture_begin();
		if (yx_config_bool(VAR, false, &b) != -1) {
			capture_end();
			fail_msg("accepted \"%s\"", bad[i]);
		}
		msg = capture_end();
		assert_true(b);
		assert_non_null(strstr(msg, VAR));
	}
}

static void
test_key_env(void **state)
{
	unsigned char key[32];

	(void)state;
	setenv(KEYVAR, HEX32, 1);
	assert_int_equal(yx_config_key(KEYVAR, key, sizeof(key)), 0);
	assert_memory_equal(key, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff",
	                    16);
	assert_memory_equal(key + 16, key, 16);
	setenv(KEYVAR, "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF", 1);
	assert_int_equal(yx_config_key(KEYVAR, key, sizeof(key)), 0);
	assert_int_equal(key[10], 0xaa);
}

/* A refused key: -1, out zeroed, a message naming want_name and not the value. */
static void
key_refused(size_t len, const char *want_name)
{
	unsigned char key[64];
	const char *msg;
	size_t i;

	memset(key, 0x5a, sizeof(key));
	capture_begin();
	if (yx_config_key(KEYVAR, key, len) != -1) {
		capture_end();
		fail_msg("key accepted");
	}
	msg = capture_end();
	for (i = 0; i < len; i++)
		assert_int_equal(key[i], 0);
	if (want_name != NULL)
		assert_non_null(strstr(msg, want_name));
	assert_null(strstr(msg, "5ec2e7"));
	assert_null(strstr(msg, "00112233"));
}

static void
test_key_env_invalid(void **state)
{
	char buf[200];

	(void)state;
	/* Missing. */
	key_refused(32, KEYVAR);
	setenv(KEYVAR, "", 1);
	key_refused(32, KEYVAR);
	/* One hex digit short, one byte short, one byte long, odd. */
	snprintf(buf, sizeof(buf), "%.63s", SECRETISH);
	setenv(KEYVAR, buf, 1);
	key_refused(32, KEYVAR);
	snprintf(buf, sizeof(buf), "%.62s", SECRETISH);
	setenv(KEYVAR, buf, 1);
	key_refused(32, KEYVAR);
	snprintf(buf, sizeof(buf), "%s00", SECRETISH);
	setenv(KEYVAR, buf, 1);
	key_refused(32, KEYVAR);
	/* Right length, not hex. */
	snprintf(buf, sizeof(buf), "%.62sxz", SECRETISH);
	setenv(KEYVAR, buf, 1);
	key_refused(32, KEYVAR);
	snprintf(buf, sizeof(buf), " %.63s", SECRETISH);
	setenv(KEYVAR, buf, 1);
	key_refused(32, KEYVAR);
	/* A right-length value for another size. */
	setenv(KEYVAR, SECRETISH, 1);
	key_refused(16, KEYVAR);
	key_refused(33, KEYVAR);
}

static char *
write_temp(const char *content)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/yx_test_key_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void
test_key_file(void **state)
{
	unsigned char key[32];
	char *path, big[2000];

	(void)state;
	path = write_temp(HEX32 "\n");
	setenv(KEYFILE, path, 1);
	assert_int_equal(yx_config_key(KEYVAR, key, sizeof(key)), 0);
	assert_int_equal(key[1], 0x11);
	unlink(path);

	path = write_temp("  \n" HEX32 " \r\n\t");
	setenv(KEYFILE, path, 1);
	assert_int_equal(yx_config_key(KEYVAR, key, sizeof(key)), 0);
	assert_int_equal(key[31], 0xff);
	unlink(path);

	/* Wrong content: the message names the _FILE variable. */
	path = write_temp(SECRETISH "00\n");
	setenv(KEYFILE, path, 1);
	key_refused(32, KEYFILE);
	unlink(path);
	path = write_temp("5ec2e7 " SECRETISH);
	setenv(KEYFILE, path, 1);
	key_refused(32, KEYFILE);
	unlink(path);
	path = write_temp("");
	setenv(KEYFILE, path, 1);
	key_refused(32, KEYFILE);
	unlink(path);

	/* Larger than any key file should be. */
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, SECRETISH, 64);
	path = write_temp(big);
	setenv(KEYFILE, path, 1);
	key_refused(32, KEYFILE);
	unlink(path);

	/* Missing file. */
	setenv(KEYFILE, "/nonexistent/yx/key", 1);
	key_refused(32, KEYFILE);

	/* Both set is ambiguous. */
	path = write_temp(HEX32);
	setenv(KEYFILE, path, 1);
	setenv(KEYVAR, HEX32, 1);
	key_refused(32, KEYFILE);
	unsetenv(KEYVAR);
	assert_int_equal(yx_config_key(KEYVAR, key, sizeof(key)), 0);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_str, reset_env),
	    cmocka_unit_test_setup(test_int_valid, reset_env),
	    cmocka_unit_test_setup(test_int_invalid, reset_env),
	    cmocka_unit_test_setup(test_bool, reset_env),
	    cmocka_unit_test_setup(test_key_env, reset_env),
	    cmocka_unit_test_setup(test_key_env_invalid, reset_env),
	    cmocka_unit_test_setup(test_key_file, reset_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
