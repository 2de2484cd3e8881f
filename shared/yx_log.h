/*
 * yx_log: structured logs, one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-23T14:00:00.123Z","level":"info","svc":"identity",
 *    "pid":123,"request_id":"...","event":"...","msg":"...", ...}
 *
 * Each line is written with a single write(2), so lines from the several
 * worker processes of a service sharing stderr do not interleave. Strings
 * that are not valid UTF-8 (a client's header, say) are repaired rather than
 * dropped, so a line is never lost to its content.
 */
#ifndef YX_LOG_H
#define YX_LOG_H

#include <stdbool.h>

enum yx_log_level {
	YX_LOG_DEBUG,
	YX_LOG_INFO,
	YX_LOG_WARN,
	YX_LOG_ERROR,
};

/* Longest "msg" kept; longer messages are cut and marked "truncated":true. */
#define YX_LOG_MSG_MAX 2048

/*
 * Set the service name written as "svc" (copied, at most 63 bytes; NULL
 * leaves it out) and the lowest level written. Before this is called lines
 * have no "svc" and the level is YX_LOG_INFO. Call once at start-up.
 */
void yx_log_init(const char *service, enum yx_log_level min_level);

/*
 * Parse "debug", "info", "warn" (or "warning") or "error", in any case, into
 * *out; -1 for anything else, *out untouched.
 */
int yx_log_level_parse(const char *s, enum yx_log_level *out);

/* Whether a line at lvl would be written; lets callers skip costly fields. */
bool yx_log_enabled(enum yx_log_level lvl);

/*
 * Write one line at lvl if it is enabled. request_id and event (a stable
 * snake_case name such as "order_created") are left out when NULL, and so is
 * "msg" when fmt is NULL; fmt is printf-style.
 */
void yx_log(enum yx_log_level lvl, const char *request_id, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Like yx_log() without a message, with the members of fields_json (a JSON
 * object, or NULL) added to the line. Members named like the standard fields
 * (ts, level, svc, pid, request_id, event, msg) are dropped; if fields_json is
 * not a JSON object the line carries "fields_invalid":true instead.
 */
void yx_log_fields(enum yx_log_level lvl, const char *request_id, const char *event,
                   const char *fields_json);

/*
 * Send lines to fd instead of stderr (a negative fd restores stderr). For
 * tests that capture output; the caller keeps ownership of fd.
 */
void yx_log_set_fd(int fd);

#endif
