/*
 * yx_config: reading and checking YX_* variables, see yx_config.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "yx_config.h"
#include "yx_encode.h"

/* Longest secret file read: a 64-byte key in hex with room for whitespace. */
#define CONFIG_KEY_FILE_MAX 1024

static const char *
config_get(const char *name)
{
	const char *v;

	if (name == NULL)
		return NULL;
	v = getenv(name);
	if (v == NULL || v[0] == '\0')
		return NULL;
	return v;
}

const char *
yx_config_str(const char *name, const char *def)
{
	const char *v = config_get(name);

	return v != NULL ? v : def;
}

int
yx_config_int(const char *name, long long def, long long min, long long max, long long *out)
{
	const char *v = config_get(name), *p;
	char *end;
	long long n;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	/* strtoll would skip leading spaces and accept "0x"; be stricter. */
	p = v;
	if (*p == '-' || *p == '+')
		p++;
	if (*p < '0' || *p > '9')
		goto bad;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*end != '\0')
		goto bad;
	if (errno == ERANGE || n < min || n > max)
		goto bad;
	*out = n;
	return 0;

bad:
	fprintf(stderr, "config: %s must be an integer between %lld and %lld\n", name, min, max);
	return -1;
}

int
yx_config_bool(const char *name, bool def, bool *out)
{
	static const char *yes[] = {"1", "true", "yes", "on"};
	static const char *no[] = {"0", "false", "no", "off"};
	const char *v = config_get(name);
	size_t i;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	fprintf(stderr, "config: %s must be one of 1/0, true/false, yes/no, on/off\n", name);
	return -1;
}

static bool
config_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Read the whole file at path into buf and NUL-terminate it; -1 if it cannot
 * be read or holds cap - 1 bytes or more (so no secret is ever cut short).
 */
static int
config_read_file(const char *path, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	ssize_t r = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (n < cap) {
		r = read(fd, buf + n, cap - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (r == -1 || n >= cap)
		return -1;
	buf[n] = '\0';
	*len = n;
	return 0;
}

int
yx_config_key(const char *name, unsigned char *out, size_t len)
{
	char file_var[256], buf[CONFIG_KEY_FILE_MAX];
	const char *v, *path, *hex;
	size_t n = 0, got;
	int rc = -1;

	if (out == NULL || len == 0)
		return -1;
	memset(out, 0, len);
	if (name == NULL ||
	    (size_t)snprintf(file_var, sizeof(file_var), "%s_FILE", name) >= sizeof(file_var))
		return -1;
	v = config_get(name);
	path = config_get(file_var);
	if (v != NULL && path != NULL) {
		fprintf(stderr, "config: set only one of %s and %s\n", name, file_var);
		return -1;
	}
	if (v == NULL && path == NULL) {
		fprintf(stderr, "config: %s (or %s) is required: %zu bytes as %zu hex digits\n",
		        name, file_var, len, 2 * len);
		return -1;
	}
	if (v != NULL) {
		hex = v;
		n = strlen(v);
	} else {
		if (config_read_file(path, buf, sizeof(buf), &n) == -1) {
			fprintf(stderr, "config: %s: cannot read the file it names\n", file_var);
			goto out;
		}
		hex = buf;
		while (n > 0 && config_is_space(hex[0])) {
			hex++;
			n--;
		}
		while (n > 0 && config_is_space(hex[n - 1]))
			n--;
	}
	if (len > SIZE_MAX / 2 || n != 2 * len || yx_hex_decode(hex, n, out, len, &got) == -1 ||
	    got != len) {
		OPENSSL_cleanse(out, len);
		fprintf(stderr, "config: %s must hold exactly %zu hex digits (%zu bytes)\n",
		        v != NULL ? name : file_var, 2 * len, len);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}
