/*
 * yx_config: process configuration from YX_* environment variables.
 *
 * Every setting has a safe local default in the calling code, so a developer
 * machine runs with no environment at all; deployments override through the
 * environment. A value that is set but wrong is an error the caller should
 * stop on, never something silently replaced by the default. Messages go to
 * stderr and name the variable; secrets are never echoed.
 */
#ifndef YX_CONFIG_H
#define YX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The value of name, or def when it is unset or empty. The result points into
 * the environment (or is def) and stays valid until the environment changes.
 */
const char *yx_config_str(const char *name, const char *def);

/*
 * A base-10 integer (optional sign, digits only, no spaces) within
 * [min, max]. Unset or empty: *out = def, 0. Set but malformed or out of
 * range: a message on stderr, -1, *out untouched.
 */
int yx_config_int(const char *name, long long def, long long min, long long max, long long *out);

/*
 * A boolean: 1/0, true/false, yes/no, on/off (case-insensitive). Unset or
 * empty: *out = def, 0. Anything else: a message on stderr, -1, *out untouched.
 */
int yx_config_bool(const char *name, bool def, bool *out);

/*
 * A secret of exactly len bytes, given as 2 * len hex digits either in name
 * itself or in the file named by name_FILE (surrounding whitespace, such as a
 * final newline, is ignored). Setting both, neither, or a value of the wrong
 * length or with non-hex characters gives -1 and a message on stderr that
 * names the variable but never shows its value; out is then zeroed. There is
 * no default on purpose: a missing key must stop the service.
 */
int yx_config_key(const char *name, unsigned char *out, size_t len);

#endif
