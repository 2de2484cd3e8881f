/*
 * yx_log: JSON-lines logging to stderr, see yx_log.h.
 *
 * Process-wide state is set once at start-up; Kore workers are
 * single-threaded processes, so no locking is needed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "yx_json.h"
#include "yx_log.h"

static char log_svc[64];
static bool log_has_svc;
static enum yx_log_level log_min = YX_LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

static const char *const log_reserved[] = {"ts",         "level", "svc", "pid",
                                           "request_id", "event", "msg"};

void
yx_log_init(const char *service, enum yx_log_level min_level)
{
	log_has_svc = service != NULL;
	if (service != NULL)
		snprintf(log_svc, sizeof(log_svc), "%s", service);
	else
		log_svc[0] = '\0';
	log_min = min_level;
}

int
yx_log_level_parse(const char *s, enum yx_log_level *out)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcasecmp(s, log_level_names[i]) == 0) {
			*out = (enum yx_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = YX_LOG_WARN;
		return 0;
	}
	return -1;
}

bool
yx_log_enabled(enum yx_log_level lvl)
{
	return lvl >= log_min;
}

void
yx_log_set_fd(int fd)
{
	log_fd = fd < 0 ? STDERR_FILENO : fd;
}

static void
log_write(const char *buf, size_t len)
{
	ssize_t r;

	/* Short writes only happen for lines past PIPE_BUF; finish them anyway. */
	while (len > 0) {
		r = write(log_fd, buf, len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		buf += r;
		len -= (size_t)r;
	}
}

static void
log_timestamp(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		date[0] = '\0';
	snprintf(out, cap, "%s.%03dZ", date, (int)(ts.tv_nsec / 1000000 % 1000));
}

static void
log_kv_text(struct yx_jw *jw, const char *key, const char *s, size_t n)
{
	yx_jw_key(jw, key);
	yx_jw_strn_lossy(jw, s, n);
}

static bool
log_is_reserved(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(log_reserved) / sizeof(log_reserved[0]); i++) {
		if (strlen(log_reserved[i]) == len && memcmp(log_reserved[i], key, len) == 0)
			return true;
	}
	return false;
}

/*
 * Build and write one line. msg may be NULL; fields is a parsed object or
 * NULL; fields_invalid marks a fields_json that could not be used.
 */
static void
log_line(enum yx_log_level lvl, const char *request_id, const char *event, const char *msg,
         size_t msg_len, bool truncated, const struct yx_json *fields, bool fields_invalid)
{
	static const char fallback[] = "{\"level\":\"error\",\"event\":\"log_line_failed\"}\n";
	const struct yx_json *m;
	struct yx_jw jw;
	char ts[64], *line, *grown;
	size_t len;

	if (lvl < YX_LOG_DEBUG || lvl > YX_LOG_ERROR)
		lvl = YX_LOG_ERROR;
	log_timestamp(ts, sizeof(ts));

	yx_jw_init(&jw);
	yx_jw_obj_open(&jw);
	yx_jw_kv_str(&jw, "ts", ts);
	yx_jw_kv_str(&jw, "level", log_level_names[lvl]);
	if (log_has_svc)
		log_kv_text(&jw, "svc", log_svc, strlen(log_svc));
	yx_jw_kv_int(&jw, "pid", (int64_t)getpid());
	if (request_id != NULL)
		log_kv_text(&jw, "request_id", request_id, strlen(request_id));
	if (event != NULL)
		log_kv_text(&jw, "event", event, strlen(event));
	if (msg != NULL)
		log_kv_text(&jw, "msg", msg, msg_len);
	if (truncated)
		yx_jw_kv_bool(&jw, "truncated", true);
	if (fields != NULL) {
		for (m = fields->child; m != NULL; m = m->next) {
			if (log_is_reserved(m->key, m->key_len))
				continue;
			yx_jw_keyn(&jw, m->key, m->key_len);
			yx_jw_value(&jw, m);
		}
	}
	if (fields_invalid)
		yx_jw_kv_bool(&jw, "fields_invalid", true);
	yx_jw_obj_close(&jw);

	line = yx_jw_finish(&jw, &len);
	if (line == NULL || (grown = realloc(line, len + 2)) == NULL) {
		free(line);
		log_write(fallback, sizeof(fallback) - 1);
		return;
	}
	line = grown;
	line[len++] = '\n';
	line[len] = '\0';
	log_write(line, len);
	free(line);
}

void
yx_log(enum yx_log_level lvl, const char *request_id, const char *event, const char *fmt, ...)
{
	/* One byte beyond the limit, to see whether the cut splits a character. */
	char msg[YX_LOG_MSG_MAX + 2];
	bool truncated = false;
	size_t len = 0, i;
	va_list ap;
	int n;

	if (!yx_log_enabled(lvl))
		return;
	if (fmt != NULL) {
		va_start(ap, fmt);
		n = vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (n < 0) {
			n = 0;
			msg[0] = '\0';
		}
		len = (size_t)n;
		if (len > YX_LOG_MSG_MAX) {
			len = YX_LOG_MSG_MAX;
			truncated = true;
			/*
			 * If the first byte cut off continues a character, the
			 * character is split: cut before its lead byte instead.
			 */
			for (i = 0; i < 3 && len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80;
			     i++)
				len--;
		}
	}
	log_line(lvl, request_id, event, fmt != NULL ? msg : NULL, len, truncated, NULL, false);
}

void
yx_log_fields(enum yx_log_level lvl, const char *request_id, const char *event,
              const char *fields_json)
{
	struct yx_json_doc *doc = NULL;
	const struct yx_json *root = NULL;
	bool invalid = false;

	if (!yx_log_enabled(lvl))
		return;
	if (fields_json != NULL) {
		if (yx_json_parse(fields_json, strlen(fields_json), NULL, &doc, NULL, NULL) == 0 &&
		    yx_json_is_object(yx_json_root(doc)))
			root = yx_json_root(doc);
		else
			invalid = true;
	}
	log_line(lvl, request_id, event, NULL, 0, false, root, invalid);
	yx_json_free(doc);
}
