/*
 * yx_json: JSON input and output for every service.
 *
 * Input: a strict RFC 8259 parser into a read-only tree. Everything a parse
 * produces (nodes, decoded strings, number literals) lives in one allocation
 * owned by the struct yx_json_doc, so a document is freed with one call and
 * pointers into it stay valid until then. The parser enforces caller-chosen
 * limits on input size, nesting depth, number of values and string length,
 * and refuses anything the RFC leaves to interpretation: duplicate object
 * keys, ill-formed UTF-8 (raw or through \u escapes, including unpaired
 * surrogates), U+0000, numbers that overflow a double, a byte order mark.
 *
 * Output: struct yx_jw, an append-only writer that tracks nesting and commas
 * itself. Any misuse or failure is sticky, and yx_jw_finish() then returns
 * NULL, so a caller emits a whole document or nothing.
 */
#ifndef YX_JSON_H
#define YX_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum yx_json_type {
	YX_JSON_NULL,
	YX_JSON_BOOL,
	YX_JSON_NUMBER,
	YX_JSON_STRING,
	YX_JSON_ARRAY,
	YX_JSON_OBJECT,
};

/*
 * Parse limits. max_bytes bounds the input length; max_depth the number of
 * nested arrays/objects ("[]" is depth 1, a bare scalar depth 0; values above
 * YX_JSON_DEPTH_HARD_MAX are treated as that); max_nodes the number of values
 * in the document, containers and object members included; max_string the
 * decoded length in bytes of any one string or object key.
 */
struct yx_json_limits {
	size_t max_bytes;
	unsigned max_depth;
	size_t max_nodes;
	size_t max_string;
};

#define YX_JSON_LIMITS_DEFAULT                                                                     \
	{                                                                                          \
		65536, 16, 4096, 16384                                                             \
	}
#define YX_JSON_DEPTH_HARD_MAX 256

/* The same limits as YX_JSON_LIMITS_DEFAULT, for passing by address. */
extern const struct yx_json_limits yx_json_limits_default;

enum yx_json_err {
	YX_JSON_OK,
	YX_JSON_ERR_TOO_LARGE,
	YX_JSON_ERR_TOO_DEEP,
	YX_JSON_ERR_TOO_MANY,
	YX_JSON_ERR_SYNTAX,
	YX_JSON_ERR_UTF8,
	YX_JSON_ERR_DUPLICATE,
	YX_JSON_ERR_NOMEM,
};

/*
 * One value of a parsed document. All fields are read-only for callers and
 * all pointers point into the owning document.
 *
 * key/key_len: for a member of an object, its decoded name (NUL-terminated);
 * NULL/0 otherwise. str/len: for a string, its decoded UTF-8 text; for a
 * number, the literal exactly as written; both NUL-terminated, NULL/0 for other
 * types. Decoded strings never contain NUL, so str is also a C string.
 * number: the value of a number, always finite. boolean: for a bool.
 * child: first element or member of an array or object, in document order,
 * the rest linked by next; count is their number. offset: where the value
 * (for an object member, its key) starts in the parsed text.
 */
struct yx_json {
	enum yx_json_type type;
	bool boolean;
	const char *key;
	size_t key_len;
	const char *str;
	size_t len;
	double number;
	const struct yx_json *child;
	const struct yx_json *next;
	size_t count;
	size_t offset;
};

struct yx_json_doc;

/*
 * Parse len bytes of text (which need not be NUL-terminated) under lim (NULL
 * means yx_json_limits_default). The whole text must be exactly one JSON value,
 * optionally surrounded by JSON whitespace. On success returns 0 and stores in
 * *out a document the caller must release with yx_json_free(). On failure
 * returns -1, sets *out to NULL and, when err / err_offset are not NULL,
 * stores the reason and the byte offset where it was detected.
 */
int yx_json_parse(const char *text, size_t len, const struct yx_json_limits *lim,
                  struct yx_json_doc **out, enum yx_json_err *err, size_t *err_offset);

/* The top-level value of a parsed document (never NULL for a valid doc). */
const struct yx_json *yx_json_root(const struct yx_json_doc *doc);

/* Release a document and everything pointing into it. NULL is ignored. */
void yx_json_free(struct yx_json_doc *doc);

/* Short English description of an error code, a static string. */
const char *yx_json_strerror(enum yx_json_err err);

/*
 * The member of object obj named key (compared after decoding, byte for
 * byte), or NULL when obj is NULL, not an object, or has no such member.
 * Linear in the number of members.
 */
const struct yx_json *yx_json_get(const struct yx_json *obj, const char *key);

/* Same, with an explicit key length. */
const struct yx_json *yx_json_getn(const struct yx_json *obj, const char *key, size_t key_len);

/* Type predicates; all return false for NULL. */
bool yx_json_is_null(const struct yx_json *v);
bool yx_json_is_bool(const struct yx_json *v);
bool yx_json_is_number(const struct yx_json *v);
bool yx_json_is_string(const struct yx_json *v);
bool yx_json_is_array(const struct yx_json *v);
bool yx_json_is_object(const struct yx_json *v);

/*
 * If v is a number written as an integer (optional '-', digits, no fraction
 * or exponent) whose value fits in int64_t, store it in *out and return
 * true. Otherwise false and *out is untouched: 1.0, 1e3 and 2^63 are refused.
 */
bool yx_json_int64(const struct yx_json *v, int64_t *out);

/* If v is a number, store its (finite) value in *out and return true. */
bool yx_json_double(const struct yx_json *v, double *out);

/*
 * If v is a string, point *s at its decoded NUL-terminated text (owned by the
 * document), store its length in *len when len is not NULL, and return true.
 */
bool yx_json_string(const struct yx_json *v, const char **s, size_t *len);

/* If v is a bool, store it in *out and return true. */
bool yx_json_bool(const struct yx_json *v, bool *out);

/*
 * Length of the well-formed UTF-8 sequence that starts at s (1 to 4), or 0 if
 * the n bytes at s do not start one (overlong forms, surrogates and code
 * points above U+10FFFF are ill-formed).
 */
size_t yx_json_utf8_len(const char *s, size_t n);

/* --- writer ------------------------------------------------------------- */

#define YX_JW_MAX_DEPTH 32

/*
 * A JSON text being built. Initialise with yx_jw_init(); the fields are
 * private. The writer owns its buffer until yx_jw_finish() hands it over.
 */
struct yx_jw {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
	bool done;       /* the top-level value is complete */
	bool want_value; /* a key was written, its value is next */
	unsigned depth;
	char open[YX_JW_MAX_DEPTH];     /* '{' or '[' per level */
	bool nonempty[YX_JW_MAX_DEPTH]; /* a comma goes before the next item */
};

/* Prepare an empty writer. Allocates nothing. */
void yx_jw_init(struct yx_jw *jw);

/* Discard the text so far and any failure; keeps the buffer for reuse. */
void yx_jw_reset(struct yx_jw *jw);

/* Release the buffer; the writer may be initialised again afterwards. */
void yx_jw_free(struct yx_jw *jw);

/*
 * Structure. Opening a container counts as a value (so inside an object it
 * must follow a key); more than YX_JW_MAX_DEPTH levels, a close that does not
 * match the innermost open, or a close right after a key fail the writer.
 */
void yx_jw_obj_open(struct yx_jw *jw);
void yx_jw_obj_close(struct yx_jw *jw);
void yx_jw_arr_open(struct yx_jw *jw);
void yx_jw_arr_close(struct yx_jw *jw);

/*
 * An object member name; must be inside an object and not follow another key.
 * NUL-terminated key, escaped like yx_jw_str(). The writer does not look for
 * duplicate names: that is the caller's job. NULL fails the writer.
 */
void yx_jw_key(struct yx_jw *jw, const char *key);
void yx_jw_keyn(struct yx_jw *jw, const char *key, size_t n);

/*
 * A string value. '"', '\\' and control characters are escaped (\n \t \r \b
 * \f by name, the rest as \u00XX), as are U+2028 and U+2029 so the text is
 * also safe inside JavaScript; other UTF-8 is copied as is. Ill-formed UTF-8
 * or an embedded NUL (for yx_jw_strn) fails the writer. A NULL string is
 * written as null.
 */
void yx_jw_str(struct yx_jw *jw, const char *s);
void yx_jw_strn(struct yx_jw *jw, const char *s, size_t n);

/*
 * Like yx_jw_strn(), for text that may not be valid (request headers, data
 * from other systems, log messages): each byte that does not start a
 * well-formed UTF-8 sequence, and each NUL, is written as U+FFFD, so the result
 * always parses back. Fails the writer only for the usual structural reasons
 * or when out of memory. A NULL s is written as null.
 */
void yx_jw_strn_lossy(struct yx_jw *jw, const char *s, size_t n);

void yx_jw_int(struct yx_jw *jw, int64_t v);
void yx_jw_bool(struct yx_jw *jw, bool v);
void yx_jw_null(struct yx_jw *jw);

/*
 * An already-encoded JSON value, copied verbatim after checking that it is
 * exactly one well-formed value (syntax and UTF-8; duplicate keys are not
 * looked for). Anything else fails the writer.
 */
void yx_jw_raw(struct yx_jw *jw, const char *json, size_t n);

/*
 * A parsed value written back out: strings re-escaped, numbers as their
 * original literal, containers recursively. NULL fails the writer.
 */
void yx_jw_value(struct yx_jw *jw, const struct yx_json *v);

/* key + value shorthands; yx_jw_kv_str writes null for a NULL s. */
void yx_jw_kv_str(struct yx_jw *jw, const char *key, const char *s);
void yx_jw_kv_int(struct yx_jw *jw, const char *key, int64_t v);
void yx_jw_kv_bool(struct yx_jw *jw, const char *key, bool v);

/* True once any step has failed; later calls do nothing. */
bool yx_jw_failed(const struct yx_jw *jw);

/*
 * Hand over the finished text: a malloc'd NUL-terminated string the caller
 * frees, its length (without NUL) in *len when len is not NULL. Returns NULL
 * if any step failed, containers are still open, or no value was written.
 * Either way the writer is left empty (as after yx_jw_free()).
 */
char *yx_jw_finish(struct yx_jw *jw, size_t *len);

#endif
