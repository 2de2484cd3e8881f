/*
 * libFuzzer driver for shared/yx_json.c.
 *
 * Any input: parse under the default limits; a document that parses must be
 * written back by yx_jw, reparse to the same tree, and write back to the same
 * text again. The writer's validity check (yx_jw_raw) must accept whatever
 * the parser accepted, and the lossy string writer must produce a string that
 * parses, whatever the bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yx_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
fuzz_tree_equal(const struct yx_json *a, const struct yx_json *b)
{
	const struct yx_json *x, *y;

	if (a->type != b->type || a->count != b->count || a->key_len != b->key_len)
		return false;
	if (a->key_len > 0 && memcmp(a->key, b->key, a->key_len) != 0)
		return false;
	switch (a->type) {
	case YX_JSON_BOOL:
		return a->boolean == b->boolean;
	case YX_JSON_NUMBER:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0 &&
		       a->number == b->number;
	case YX_JSON_STRING:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0 &&
		       strlen(a->str) == a->len;
	case YX_JSON_ARRAY:
	case YX_JSON_OBJECT:
		for (x = a->child, y = b->child; x != NULL && y != NULL; x = x->next, y = y->next) {
			if (!fuzz_tree_equal(x, y))
				return false;
		}
		return x == NULL && y == NULL;
	default:
		return true;
	}
}

static char *
fuzz_write(const struct yx_json *v, size_t *len)
{
	struct yx_jw jw;

	yx_jw_init(&jw);
	yx_jw_value(&jw, v);
	return yx_jw_finish(&jw, len);
}

static void
fuzz_lossy(const uint8_t *data, size_t size)
{
	struct yx_json_limits lim = {SIZE_MAX, 1, 1, SIZE_MAX};
	struct yx_json_doc *doc;
	struct yx_jw jw;
	size_t len, i = 0, l;
	bool valid = true;
	char *s;

	yx_jw_init(&jw);
	yx_jw_strn_lossy(&jw, (const char *)data, size);
	s = yx_jw_finish(&jw, &len);
	if (s == NULL || yx_json_parse(s, len, &lim, &doc, NULL, NULL) != 0)
		abort();
	yx_json_free(doc);
	free(s);

	/* The strict writer accepts exactly NUL-free well-formed UTF-8. */
	while (i < size) {
		if (data[i] == 0 || (l = yx_json_utf8_len((const char *)data + i, size - i)) == 0) {
			valid = false;
			break;
		}
		i += l;
	}
	yx_jw_init(&jw);
	yx_jw_strn(&jw, (const char *)data, size);
	s = yx_jw_finish(&jw, &len);
	if ((s != NULL) != valid)
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yx_json_doc *doc, *again;
	const char *text = (const char *)data;
	char *out, *out2;
	size_t len, len2;
	struct yx_jw jw;

	fuzz_lossy(data, size);
	if (yx_json_parse(text, size, NULL, &doc, NULL, NULL) != 0)
		return 0;

	yx_jw_init(&jw);
	yx_jw_raw(&jw, text, size);
	out = yx_jw_finish(&jw, &len);
	if (out == NULL)
		abort();
	free(out);

	/* Default depth (16) is below the writer's 32, so this cannot fail. */
	if ((out = fuzz_write(yx_json_root(doc), &len)) == NULL)
		abort();
	if (yx_json_parse(out, len, NULL, &again, NULL, NULL) != 0) {
		/* Escaping can grow strings past max_bytes; anything else is a bug. */
		if (len <= yx_json_limits_default.max_bytes)
			abort();
		free(out);
		yx_json_free(doc);
		return 0;
	}
	if (!fuzz_tree_equal(yx_json_root(doc), yx_json_root(again)))
		abort();
	if ((out2 = fuzz_write(yx_json_root(again), &len2)) == NULL)
		abort();
	if (len2 != len || memcmp(out, out2, len) != 0)
		abort();
	free(out2);
	free(out);
	yx_json_free(again);
	yx_json_free(doc);
	return 0;
}
