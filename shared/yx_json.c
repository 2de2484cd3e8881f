/*
 * yx_json: the strict JSON parser and the JSON writer, see yx_json.h.
 *
 * The parser runs twice over the text with the same code. The first pass
 * validates everything that does not need the decoded output (syntax, UTF-8,
 * limits) and counts nodes and string bytes; the second pass, into one
 * allocation sized exactly from those counts, builds the tree and checks what
 * needs it (duplicate keys, number range). Sharing the code keeps the two
 * passes from disagreeing; one allocation makes freeing trivial and bounds the
 * memory a hostile body can cost to a small multiple of its size.
 */
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yx_json.h"

const struct yx_json_limits yx_json_limits_default = YX_JSON_LIMITS_DEFAULT;

struct yx_json_doc {
	const struct yx_json *root;
	size_t size;
};

struct json_parser {
	const unsigned char *s;
	size_t n;
	size_t pos;
	size_t max_string;
	size_t max_nodes;
	unsigned max_depth;

	/* Counting pass: totals. Building pass: they are recounted. */
	size_t nodes;
	size_t chars;
	size_t max_members;

	/* Building pass only. */
	bool build;
	struct yx_json *node_base;
	char *char_base;
	const struct yx_json **scratch;
	struct yx_json dummy;

	enum yx_json_err err;
	size_t err_off;
};

static int json_parse_value(struct json_parser *, unsigned, struct yx_json **);

static int
json_fail(struct json_parser *p, enum yx_json_err err, size_t off)
{
	if (p->err == YX_JSON_OK) {
		p->err = err;
		p->err_off = off;
	}
	return -1;
}

size_t
yx_json_utf8_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* UTF-16 surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= need; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return need + 1;
}

static void
json_skip_ws(struct json_parser *p)
{
	while (p->pos < p->n) {
		unsigned char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

/* A fresh node (the dummy in the counting pass), counted against the limit. */
static struct yx_json *
json_node(struct json_parser *p, enum yx_json_type type)
{
	struct yx_json *v;

	if (p->nodes >= p->max_nodes) {
		json_fail(p, YX_JSON_ERR_TOO_MANY, p->pos);
		return NULL;
	}
	if (p->build) {
		v = &p->node_base[p->nodes];
		memset(v, 0, sizeof(*v));
	} else {
		v = &p->dummy;
	}
	p->nodes++;
	v->type = type;
	v->offset = p->pos;
	return v;
}

static int
json_hex4(struct json_parser *p, size_t at, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; i < 4; i++) {
		unsigned char c;

		if (at + i >= p->n)
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->n);
		c = p->s[at + i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return json_fail(p, YX_JSON_ERR_SYNTAX, at + i);
	}
	*out = v;
	return 0;
}

static size_t
json_utf8_put(unsigned cp, unsigned char *o)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A string at p->pos (its opening quote). In the building pass the decoded
 * text is appended to the character area and *out points at it; *outlen gets
 * the decoded length in both passes.
 */
static int
json_parse_string(struct json_parser *p, const char **out, size_t *outlen)
{
	size_t start = p->pos, len = 0, l;
	unsigned char tmp[4];
	unsigned cp, lo;
	char *dst = NULL;

	if (p->build)
		dst = p->char_base + p->chars;
	p->pos++;
	for (;;) {
		const unsigned char *src;
		unsigned char c;

		if (p->pos >= p->n)
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->n);
		c = p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20)
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->pos);
		if (c == '\\') {
			size_t esc = p->pos;

			if (p->pos + 1 >= p->n)
				return json_fail(p, YX_JSON_ERR_SYNTAX, p->n);
			c = p->s[p->pos + 1];
			p->pos += 2;
			src = tmp;
			l = 1;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				tmp[0] = c;
				break;
			case 'b':
				tmp[0] = '\b';
				break;
			case 'f':
				tmp[0] = '\f';
				break;
			case 'n':
				tmp[0] = '\n';
				break;
			case 'r':
				tmp[0] = '\r';
				break;
			case 't':
				tmp[0] = '\t';
				break;
			case 'u':
				if (json_hex4(p, p->pos, &cp) == -1)
					return -1;
				p->pos += 4;
				if (cp == 0)
					return json_fail(p, YX_JSON_ERR_SYNTAX, esc);
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return json_fail(p, YX_JSON_ERR_UTF8, esc);
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (p->n - p->pos < 2 || p->s[p->pos] != '\\' ||
					    p->s[p->pos + 1] != 'u')
						return json_fail(p, YX_JSON_ERR_UTF8, esc);
					if (json_hex4(p, p->pos + 2, &lo) == -1)
						return -1;
					if (lo < 0xdc00 || lo > 0xdfff)
						return json_fail(p, YX_JSON_ERR_UTF8, esc);
					p->pos += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				l = json_utf8_put(cp, tmp);
				break;
			default:
				return json_fail(p, YX_JSON_ERR_SYNTAX, esc);
			}
		} else if (c < 0x80) {
			src = &p->s[p->pos];
			l = 1;
			p->pos++;
		} else {
			src = &p->s[p->pos];
			l = yx_json_utf8_len((const char *)src, p->n - p->pos);
			if (l == 0)
				return json_fail(p, YX_JSON_ERR_UTF8, p->pos);
			p->pos += l;
		}
		if (l > p->max_string - len)
			return json_fail(p, YX_JSON_ERR_TOO_LARGE, start);
		if (dst != NULL)
			memcpy(dst + len, src, l);
		len += l;
	}
	if (dst != NULL) {
		dst[len] = '\0';
		*out = dst;
	}
	p->chars += len + 1;
	*outlen = len;
	return 0;
}

static locale_t json_c_locale;
static pthread_once_t json_c_locale_once = PTHREAD_ONCE_INIT;

static void
json_c_locale_init(void)
{
	json_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* strtod that ignores setlocale(): JSON always uses '.' as decimal point. */
static double
json_strtod(const char *s)
{
	pthread_once(&json_c_locale_once, json_c_locale_init);
	if (json_c_locale != (locale_t)0)
		return strtod_l(s, NULL, json_c_locale);
	return strtod(s, NULL);
}

static int
json_parse_number(struct json_parser *p, struct yx_json *v)
{
	size_t start = p->pos;
	const unsigned char *s = p->s;
	size_t n = p->n, i = p->pos, len;
	char *dst;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return json_fail(p, YX_JSON_ERR_SYNTAX, i);
	if (s[i] == '0') {
		i++;
		/* No leading zeros: "01" and "-00" are not numbers. */
		if (i < n && s[i] >= '0' && s[i] <= '9')
			return json_fail(p, YX_JSON_ERR_SYNTAX, i);
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return json_fail(p, YX_JSON_ERR_SYNTAX, i);
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return json_fail(p, YX_JSON_ERR_SYNTAX, i);
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return json_fail(p, YX_JSON_ERR_SYNTAX, i);
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	len = i - start;
	p->pos = i;
	if (p->build) {
		dst = p->char_base + p->chars;
		memcpy(dst, s + start, len);
		dst[len] = '\0';
		v->str = dst;
		v->len = len;
		v->number = json_strtod(dst);
		/* Keep every number representable; 1e999 would become inf. */
		if (!isfinite(v->number))
			return json_fail(p, YX_JSON_ERR_SYNTAX, start);
	}
	p->chars += len + 1;
	return 0;
}

static int
json_parse_literal(struct json_parser *p, const char *word)
{
	size_t l = strlen(word);

	if (p->n - p->pos < l || memcmp(p->s + p->pos, word, l) != 0) {
		size_t i = 0;
		/* Point at the first byte that differs. */
		while (p->pos + i < p->n && i < l && p->s[p->pos + i] == (unsigned char)word[i])
			i++;
		return json_fail(p, YX_JSON_ERR_SYNTAX, p->pos + i);
	}
	p->pos += l;
	return 0;
}

static int
json_key_cmp(const void *a, const void *b)
{
	const struct yx_json *x = *(const struct yx_json *const *)a;
	const struct yx_json *y = *(const struct yx_json *const *)b;
	int c;

	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	c = memcmp(x->key, y->key, x->key_len);
	if (c != 0)
		return c;
	return x->offset < y->offset ? -1 : (x->offset > y->offset);
}

static bool
json_same_key(const struct yx_json *x, const struct yx_json *y)
{
	return x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0;
}

/*
 * Duplicate member names in a finished object, reported at the later of the
 * first duplicated pair in document order. Small objects compare pairwise;
 * larger ones sort a scratch copy so a hostile object costs n log n.
 */
static int
json_check_dups(struct json_parser *p, const struct yx_json *obj)
{
	const struct yx_json *a, *b;
	size_t i, n = 0, best = SIZE_MAX;

	if (obj->count < 2)
		return 0;
	if (obj->count <= 8) {
		for (a = obj->child; a != NULL; a = a->next) {
			for (b = a->next; b != NULL; b = b->next) {
				if (json_same_key(a, b) && b->offset < best)
					best = b->offset;
			}
		}
	} else {
		for (a = obj->child; a != NULL; a = a->next)
			p->scratch[n++] = a;
		qsort(p->scratch, n, sizeof(p->scratch[0]), json_key_cmp);
		for (i = 1; i < n; i++) {
			if (json_same_key(p->scratch[i - 1], p->scratch[i]) &&
			    p->scratch[i]->offset < best)
				best = p->scratch[i]->offset;
		}
	}
	if (best != SIZE_MAX)
		return json_fail(p, YX_JSON_ERR_DUPLICATE, best);
	return 0;
}

/*
 * Append child to parent's list. Counts are kept by the caller: while
 * counting, parent is the shared dummy and its fields mean nothing.
 */
static void
json_link(struct json_parser *p, struct yx_json *parent, struct yx_json **tail,
          struct yx_json *child)
{
	if (!p->build)
		return;
	if (*tail == NULL)
		parent->child = child;
	else
		(*tail)->next = child;
	*tail = child;
}

static int
json_parse_array(struct json_parser *p, unsigned depth, struct yx_json *arr)
{
	struct yx_json *tail = NULL, *elem;
	size_t count = 0;

	p->pos++;
	json_skip_ws(p);
	if (p->pos < p->n && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (json_parse_value(p, depth, &elem) == -1)
			return -1;
		json_link(p, arr, &tail, elem);
		count++;
		json_skip_ws(p);
		if (p->pos >= p->n)
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->n);
		if (p->s[p->pos] == ']') {
			p->pos++;
			if (p->build)
				arr->count = count;
			return 0;
		}
		if (p->s[p->pos] != ',')
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->pos);
		p->pos++;
		/* "[1,]" fails in json_parse_value: ']' does not start a value. */
	}
}

static int
json_parse_object(struct json_parser *p, unsigned depth, struct yx_json *obj)
{
	struct yx_json *tail = NULL, *member;
	const char *key = NULL;
	size_t key_len, key_off, count = 0;

	p->pos++;
	json_skip_ws(p);
	if (p->pos < p->n && p->s[p->pos] == '}') {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (p->pos >= p->n)
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->n);
		if (p->s[p->pos] != '"')
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->pos);
		key_off = p->pos;
		if (json_parse_string(p, &key, &key_len) == -1)
			return -1;
		json_skip_ws(p);
		if (p->pos >= p->n)
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->n);
		if (p->s[p->pos] != ':')
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->pos);
		p->pos++;
		if (json_parse_value(p, depth, &member) == -1)
			return -1;
		if (p->build) {
			member->key = key;
			member->key_len = key_len;
			member->offset = key_off;
		}
		json_link(p, obj, &tail, member);
		count++;
		json_skip_ws(p);
		if (p->pos >= p->n)
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->n);
		if (p->s[p->pos] == '}') {
			p->pos++;
			break;
		}
		if (p->s[p->pos] != ',')
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->pos);
		p->pos++;
		json_skip_ws(p);
	}
	if (count > p->max_members)
		p->max_members = count;
	if (!p->build)
		return 0;
	obj->count = count;
	return json_check_dups(p, obj);
}

/*
 * One value, after optional whitespace. depth is the number of containers
 * around it. *out gets the node (the dummy in the counting pass).
 */
static int
json_parse_value(struct json_parser *p, unsigned depth, struct yx_json **out)
{
	struct yx_json *v;
	unsigned char c;

	json_skip_ws(p);
	if (p->pos >= p->n)
		return json_fail(p, YX_JSON_ERR_SYNTAX, p->n);
	c = p->s[p->pos];
	switch (c) {
	case '{':
	case '[':
		if (depth >= p->max_depth)
			return json_fail(p, YX_JSON_ERR_TOO_DEEP, p->pos);
		if ((v = json_node(p, c == '{' ? YX_JSON_OBJECT : YX_JSON_ARRAY)) == NULL)
			return -1;
		*out = v;
		if (c == '{')
			return json_parse_object(p, depth + 1, v);
		return json_parse_array(p, depth + 1, v);
	case '"':
		if ((v = json_node(p, YX_JSON_STRING)) == NULL)
			return -1;
		*out = v;
		return json_parse_string(p, &v->str, &v->len);
	case 't':
	case 'f':
		if ((v = json_node(p, YX_JSON_BOOL)) == NULL)
			return -1;
		*out = v;
		v->boolean = (c == 't');
		return json_parse_literal(p, c == 't' ? "true" : "false");
	case 'n':
		if ((v = json_node(p, YX_JSON_NULL)) == NULL)
			return -1;
		*out = v;
		return json_parse_literal(p, "null");
	default:
		if (c != '-' && (c < '0' || c > '9'))
			return json_fail(p, YX_JSON_ERR_SYNTAX, p->pos);
		if ((v = json_node(p, YX_JSON_NUMBER)) == NULL)
			return -1;
		*out = v;
		return json_parse_number(p, v);
	}
}

/* One whole document: a value and nothing but whitespace after it. */
static int
json_run(struct json_parser *p, struct yx_json **root)
{
	p->pos = 0;
	p->nodes = 0;
	p->chars = 0;
	if (json_parse_value(p, 0, root) == -1)
		return -1;
	json_skip_ws(p);
	if (p->pos != p->n)
		return json_fail(p, YX_JSON_ERR_SYNTAX, p->pos);
	return 0;
}

static size_t
json_align(size_t n)
{
	const size_t a = _Alignof(max_align_t);

	return (n + a - 1) / a * a;
}

static void
json_parser_init(struct json_parser *p, const char *text, size_t len,
                 const struct yx_json_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->s = (const unsigned char *)text;
	p->n = len;
	p->max_string = lim->max_string;
	p->max_nodes = lim->max_nodes;
	p->max_depth = lim->max_depth;
	if (p->max_depth > YX_JSON_DEPTH_HARD_MAX)
		p->max_depth = YX_JSON_DEPTH_HARD_MAX;
}

int
yx_json_parse(const char *text, size_t len, const struct yx_json_limits *lim,
              struct yx_json_doc **out, enum yx_json_err *err, size_t *err_offset)
{
	struct json_parser p;
	struct yx_json_doc *doc;
	struct yx_json *root;
	size_t off_nodes, off_scratch, off_chars, total;

	if (lim == NULL)
		lim = &yx_json_limits_default;
	if (out != NULL)
		*out = NULL;
	if (err != NULL)
		*err = YX_JSON_OK;
	if (err_offset != NULL)
		*err_offset = 0;
	if (out == NULL || (text == NULL && len > 0)) {
		if (err != NULL)
			*err = YX_JSON_ERR_SYNTAX;
		return -1;
	}
	if (len > lim->max_bytes) {
		if (err != NULL)
			*err = YX_JSON_ERR_TOO_LARGE;
		if (err_offset != NULL)
			*err_offset = lim->max_bytes;
		return -1;
	}

	json_parser_init(&p, text, len, lim);
	if (json_run(&p, &root) == -1)
		goto fail;

	/* Sizes are bounded by the text length and max_nodes: no overflow. */
	off_nodes = json_align(sizeof(*doc));
	off_scratch = json_align(off_nodes + p.nodes * sizeof(struct yx_json));
	off_chars = off_scratch + p.max_members * sizeof(p.scratch[0]);
	total = off_chars + p.chars;
	if ((doc = malloc(total)) == NULL) {
		p.err = YX_JSON_ERR_NOMEM;
		p.err_off = 0;
		goto fail;
	}
	doc->size = total;
	p.build = true;
	p.node_base = (struct yx_json *)(void *)((char *)doc + off_nodes);
	p.scratch = (const struct yx_json **)(void *)((char *)doc + off_scratch);
	p.char_base = (char *)doc + off_chars;
	if (json_run(&p, &root) == -1) {
		free(doc);
		goto fail;
	}
	doc->root = root;
	*out = doc;
	return 0;

fail:
	if (err != NULL)
		*err = p.err;
	if (err_offset != NULL)
		*err_offset = p.err_off;
	return -1;
}

/*
 * Whether text is exactly one well-formed JSON value. Counting pass only:
 * allocates nothing, and so cannot see duplicate keys or overflowing numbers.
 */
static bool
json_well_formed(const char *text, size_t len)
{
	struct yx_json_limits lim = {SIZE_MAX, YX_JSON_DEPTH_HARD_MAX, SIZE_MAX, SIZE_MAX};
	struct json_parser p;
	struct yx_json *root;

	json_parser_init(&p, text, len, &lim);
	return json_run(&p, &root) == 0;
}

const struct yx_json *
yx_json_root(const struct yx_json_doc *doc)
{
	return doc == NULL ? NULL : doc->root;
}

void
yx_json_free(struct yx_json_doc *doc)
{
	free(doc);
}

const char *
yx_json_strerror(enum yx_json_err err)
{
	switch (err) {
	case YX_JSON_OK:
		return "no error";
	case YX_JSON_ERR_TOO_LARGE:
		return "document or string too large";
	case YX_JSON_ERR_TOO_DEEP:
		return "nesting too deep";
	case YX_JSON_ERR_TOO_MANY:
		return "too many values";
	case YX_JSON_ERR_SYNTAX:
		return "syntax error";
	case YX_JSON_ERR_UTF8:
		return "invalid UTF-8 or unpaired surrogate";
	case YX_JSON_ERR_DUPLICATE:
		return "duplicate object key";
	case YX_JSON_ERR_NOMEM:
		return "out of memory";
	}
	return "unknown error";
}

const struct yx_json *
yx_json_getn(const struct yx_json *obj, const char *key, size_t key_len)
{
	const struct yx_json *m;

	if (obj == NULL || obj->type != YX_JSON_OBJECT || key == NULL)
		return NULL;
	for (m = obj->child; m != NULL; m = m->next) {
		if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
			return m;
	}
	return NULL;
}

const struct yx_json *
yx_json_get(const struct yx_json *obj, const char *key)
{
	if (key == NULL)
		return NULL;
	return yx_json_getn(obj, key, strlen(key));
}

bool
yx_json_is_null(const struct yx_json *v)
{
	return v != NULL && v->type == YX_JSON_NULL;
}

bool
yx_json_is_bool(const struct yx_json *v)
{
	return v != NULL && v->type == YX_JSON_BOOL;
}

bool
yx_json_is_number(const struct yx_json *v)
{
	return v != NULL && v->type == YX_JSON_NUMBER;
}

bool
yx_json_is_string(const struct yx_json *v)
{
	return v != NULL && v->type == YX_JSON_STRING;
}

bool
yx_json_is_array(const struct yx_json *v)
{
	return v != NULL && v->type == YX_JSON_ARRAY;
}

bool
yx_json_is_object(const struct yx_json *v)
{
	return v != NULL && v->type == YX_JSON_OBJECT;
}

bool
yx_json_int64(const struct yx_json *v, int64_t *out)
{
	const char *s;
	size_t i = 0;
	bool neg = false;
	uint64_t acc = 0, limit;

	if (v == NULL || v->type != YX_JSON_NUMBER || v->len == 0)
		return false;
	s = v->str;
	if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == v->len)
		return false;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < v->len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false; /* '.', 'e' or 'E' */
		d = (unsigned)(s[i] - '0');
		if (acc > (limit - d) / 10)
			return false;
		acc = acc * 10 + d;
	}
	if (neg)
		*out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
	else
		*out = (int64_t)acc;
	return true;
}

bool
yx_json_double(const struct yx_json *v, double *out)
{
	if (v == NULL || v->type != YX_JSON_NUMBER)
		return false;
	*out = v->number;
	return true;
}

bool
yx_json_string(const struct yx_json *v, const char **s, size_t *len)
{
	if (v == NULL || v->type != YX_JSON_STRING)
		return false;
	*s = v->str;
	if (len != NULL)
		*len = v->len;
	return true;
}

bool
yx_json_bool(const struct yx_json *v, bool *out)
{
	if (v == NULL || v->type != YX_JSON_BOOL)
		return false;
	*out = v->boolean;
	return true;
}

/* --- writer ------------------------------------------------------------- */

void
yx_jw_init(struct yx_jw *jw)
{
	memset(jw, 0, sizeof(*jw));
}

void
yx_jw_reset(struct yx_jw *jw)
{
	char *buf = jw->buf;
	size_t cap = jw->cap;

	memset(jw, 0, sizeof(*jw));
	jw->buf = buf;
	jw->cap = cap;
}

void
yx_jw_free(struct yx_jw *jw)
{
	free(jw->buf);
	memset(jw, 0, sizeof(*jw));
}

bool
yx_jw_failed(const struct yx_jw *jw)
{
	return jw->failed;
}

static void
jw_fail(struct yx_jw *jw)
{
	jw->failed = true;
}

/* Room for extra more bytes plus a NUL; false (and failed) when out of memory. */
static bool
jw_reserve(struct yx_jw *jw, size_t extra)
{
	size_t need, cap;
	char *nb;

	if (jw->failed)
		return false;
	if (extra > SIZE_MAX - 1 - jw->len) {
		jw_fail(jw);
		return false;
	}
	need = jw->len + extra + 1;
	if (need <= jw->cap)
		return true;
	cap = jw->cap == 0 ? 256 : jw->cap;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	if ((nb = realloc(jw->buf, cap)) == NULL) {
		jw_fail(jw);
		return false;
	}
	jw->buf = nb;
	jw->cap = cap;
	return true;
}

static void
jw_put(struct yx_jw *jw, const char *s, size_t n)
{
	if (!jw_reserve(jw, n))
		return;
	memcpy(jw->buf + jw->len, s, n);
	jw->len += n;
}

static void
jw_putc(struct yx_jw *jw, char c)
{
	if (!jw_reserve(jw, 1))
		return;
	jw->buf[jw->len++] = c;
}

/* Commas and key/value order before any value; false if not allowed here. */
static bool
jw_before_value(struct yx_jw *jw)
{
	if (jw->failed)
		return false;
	if (jw->depth == 0) {
		if (jw->done) {
			jw_fail(jw);
			return false;
		}
		return true;
	}
	if (jw->open[jw->depth - 1] == '{') {
		if (!jw->want_value) {
			jw_fail(jw);
			return false;
		}
		jw->want_value = false;
		return true;
	}
	if (jw->nonempty[jw->depth - 1])
		jw_putc(jw, ',');
	jw->nonempty[jw->depth - 1] = true;
	return !jw->failed;
}

static void
jw_after_value(struct yx_jw *jw)
{
	if (jw->depth == 0)
		jw->done = true;
}

/*
 * A quoted, escaped string. strict: ill-formed UTF-8 or NUL fails the
 * writer; otherwise each such byte becomes U+FFFD.
 */
static void
jw_quoted(struct yx_jw *jw, const char *s, size_t n, bool strict)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run, l;
	char esc[6];

	jw_putc(jw, '"');
	while (i < n && !jw->failed) {
		unsigned char c = (unsigned char)s[i];

		/* Copy runs of bytes that need no escaping in one go. */
		run = i;
		while (run < n) {
			c = (unsigned char)s[run];
			if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
				break;
			run++;
		}
		if (run > i) {
			jw_put(jw, s + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jw_put(jw, esc, 2);
			i++;
		} else if (c == 0 && !strict) {
			jw_put(jw, "\xef\xbf\xbd", 3);
			i++;
		} else if (c == 0) {
			jw_fail(jw);
		} else if (c < 0x20) {
			esc[0] = '\\';
			switch (c) {
			case '\n':
				esc[1] = 'n';
				break;
			case '\t':
				esc[1] = 't';
				break;
			case '\r':
				esc[1] = 'r';
				break;
			case '\b':
				esc[1] = 'b';
				break;
			case '\f':
				esc[1] = 'f';
				break;
			default:
				esc[1] = 'u';
				break;
			}
			if (esc[1] == 'u') {
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0x0f];
				jw_put(jw, esc, 6);
			} else {
				jw_put(jw, esc, 2);
			}
			i++;
		} else {
			l = yx_json_utf8_len(s + i, n - i);
			if (l == 0) {
				if (strict) {
					jw_fail(jw);
					break;
				}
				jw_put(jw, "\xef\xbf\xbd", 3);
				i++;
				continue;
			}
			/* U+2028 and U+2029 end a line in JavaScript source. */
			if (l == 3 && c == 0xe2 && (unsigned char)s[i + 1] == 0x80 &&
			    ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
				jw_put(jw, (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029",
				       6);
			else
				jw_put(jw, s + i, l);
			i += l;
		}
	}
	jw_putc(jw, '"');
}

static void
jw_open(struct yx_jw *jw, char kind)
{
	if (!jw_before_value(jw))
		return;
	if (jw->depth >= YX_JW_MAX_DEPTH) {
		jw_fail(jw);
		return;
	}
	jw_putc(jw, kind);
	jw->open[jw->depth] = kind;
	jw->nonempty[jw->depth] = false;
	jw->depth++;
}

static void
jw_close(struct yx_jw *jw, char kind)
{
	if (jw->failed)
		return;
	if (jw->depth == 0 || jw->open[jw->depth - 1] != kind || jw->want_value) {
		jw_fail(jw);
		return;
	}
	jw_putc(jw, kind == '{' ? '}' : ']');
	jw->depth--;
	jw_after_value(jw);
}

void
yx_jw_obj_open(struct yx_jw *jw)
{
	jw_open(jw, '{');
}

void
yx_jw_obj_close(struct yx_jw *jw)
{
	jw_close(jw, '{');
}

void
yx_jw_arr_open(struct yx_jw *jw)
{
	jw_open(jw, '[');
}

void
yx_jw_arr_close(struct yx_jw *jw)
{
	jw_close(jw, '[');
}

void
yx_jw_keyn(struct yx_jw *jw, const char *key, size_t n)
{
	if (jw->failed)
		return;
	if (key == NULL || jw->depth == 0 || jw->open[jw->depth - 1] != '{' || jw->want_value) {
		jw_fail(jw);
		return;
	}
	if (jw->nonempty[jw->depth - 1])
		jw_putc(jw, ',');
	jw->nonempty[jw->depth - 1] = true;
	jw_quoted(jw, key, n, true);
	jw_putc(jw, ':');
	jw->want_value = true;
}

void
yx_jw_key(struct yx_jw *jw, const char *key)
{
	if (key == NULL) {
		jw_fail(jw);
		return;
	}
	yx_jw_keyn(jw, key, strlen(key));
}

void
yx_jw_null(struct yx_jw *jw)
{
	if (!jw_before_value(jw))
		return;
	jw_put(jw, "null", 4);
	jw_after_value(jw);
}

void
yx_jw_strn(struct yx_jw *jw, const char *s, size_t n)
{
	if (s == NULL) {
		yx_jw_null(jw);
		return;
	}
	if (!jw_before_value(jw))
		return;
	jw_quoted(jw, s, n, true);
	jw_after_value(jw);
}

void
yx_jw_str(struct yx_jw *jw, const char *s)
{
	yx_jw_strn(jw, s, s == NULL ? 0 : strlen(s));
}

void
yx_jw_strn_lossy(struct yx_jw *jw, const char *s, size_t n)
{
	if (s == NULL) {
		yx_jw_null(jw);
		return;
	}
	if (!jw_before_value(jw))
		return;
	jw_quoted(jw, s, n, false);
	jw_after_value(jw);
}

void
yx_jw_int(struct yx_jw *jw, int64_t v)
{
	char tmp[24];
	int l;

	if (!jw_before_value(jw))
		return;
	l = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	jw_put(jw, tmp, (size_t)l);
	jw_after_value(jw);
}

void
yx_jw_bool(struct yx_jw *jw, bool v)
{
	if (!jw_before_value(jw))
		return;
	if (v)
		jw_put(jw, "true", 4);
	else
		jw_put(jw, "false", 5);
	jw_after_value(jw);
}

static bool
jw_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void
yx_jw_raw(struct yx_jw *jw, const char *json, size_t n)
{
	if (jw->failed)
		return;
	if (json == NULL || !json_well_formed(json, n)) {
		jw_fail(jw);
		return;
	}
	/* Surrounding whitespace would only get in the way of JSON lines. */
	while (n > 0 && jw_is_ws(json[0])) {
		json++;
		n--;
	}
	while (n > 0 && jw_is_ws(json[n - 1]))
		n--;
	if (!jw_before_value(jw))
		return;
	jw_put(jw, json, n);
	jw_after_value(jw);
}

void
yx_jw_value(struct yx_jw *jw, const struct yx_json *v)
{
	const struct yx_json *m;

	if (jw->failed)
		return;
	if (v == NULL) {
		jw_fail(jw);
		return;
	}
	switch (v->type) {
	case YX_JSON_NULL:
		yx_jw_null(jw);
		break;
	case YX_JSON_BOOL:
		yx_jw_bool(jw, v->boolean);
		break;
	case YX_JSON_NUMBER:
		if (!jw_before_value(jw))
			return;
		jw_put(jw, v->str, v->len);
		jw_after_value(jw);
		break;
	case YX_JSON_STRING:
		yx_jw_strn(jw, v->str, v->len);
		break;
	case YX_JSON_ARRAY:
		yx_jw_arr_open(jw);
		for (m = v->child; m != NULL && !jw->failed; m = m->next)
			yx_jw_value(jw, m);
		yx_jw_arr_close(jw);
		break;
	case YX_JSON_OBJECT:
		yx_jw_obj_open(jw);
		for (m = v->child; m != NULL && !jw->failed; m = m->next) {
			yx_jw_keyn(jw, m->key, m->key_len);
			yx_jw_value(jw, m);
		}
		yx_jw_obj_close(jw);
		break;
	default:
		jw_fail(jw);
		break;
	}
}

void
yx_jw_kv_str(struct yx_jw *jw, const char *key, const char *s)
{
	yx_jw_key(jw, key);
	yx_jw_str(jw, s);
}

void
yx_jw_kv_int(struct yx_jw *jw, const char *key, int64_t v)
{
	yx_jw_key(jw, key);
	yx_jw_int(jw, v);
}

void
yx_jw_kv_bool(struct yx_jw *jw, const char *key, bool v)
{
	yx_jw_key(jw, key);
	yx_jw_bool(jw, v);
}

char *
yx_jw_finish(struct yx_jw *jw, size_t *len)
{
	char *out;

	if (jw->failed || jw->depth != 0 || !jw->done || !jw_reserve(jw, 0)) {
		yx_jw_free(jw);
		return NULL;
	}
	out = jw->buf;
	out[jw->len] = '\0';
	if (len != NULL)
		*len = jw->len;
	memset(jw, 0, sizeof(*jw));
	return out;
}
