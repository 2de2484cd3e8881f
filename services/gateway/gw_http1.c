/*
 * gw_http1.c - parsing of upstream HTTP/1.x responses: status line, header
 * block, body framing and chunked decoding (see gw_http1.h). Pure functions
 * over caller-owned buffers; nothing here allocates.
 */
#include <string.h>
#include <strings.h>

#include "gw_http1.h"

/* Content-Length values longer than this are refused (no overflow below). */
#define CL_DIGITS_MAX     18
#define CHUNK_DIGITS_MAX  16
#define CHUNK_EXT_MAX     1024
#define CHUNK_TRAILER_MAX 16384

enum chunk_state {
	CH_SIZE,        /* hex digits of a chunk size */
	CH_SIZE_WS,     /* whitespace after the size */
	CH_EXT,         /* chunk extension, ignored */
	CH_SIZE_LF,     /* CR seen at the end of the size line */
	CH_DATA,        /* chunk data */
	CH_DATA_CR,     /* CRLF after chunk data */
	CH_DATA_LF,     /* CR seen after chunk data */
	CH_TRAILER_BOL, /* start of a trailer line, or the final empty line */
	CH_TRAILER,     /* inside a trailer line, ignored */
	CH_TRAILER_LF,  /* CR seen inside a trailer line */
	CH_END_LF,      /* CR of the final empty line seen */
	CH_DONE
};

static bool http1_tchar(unsigned char c);
static bool http1_field_char(unsigned char c);
static int http1_line(const char *buf, size_t len, size_t start, size_t *eol, size_t *next);
static int http1_status_line(const char *buf, size_t eol, struct gw_http1_head *h);
static bool http1_token_eq(const char *s, size_t n, const char *token);
static int http1_content_length(const char *v, uint64_t *out);
static int http1_hex(unsigned char c);

/* RFC 9110 tchar: the characters of a header name or token. */
static bool
http1_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte allowed inside a field value or reason phrase: HTAB, SP, VCHAR, obs-text. */
static bool
http1_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * Find the line that starts at buf[start]: *eol is the offset of its CR or
 * LF, *next the offset after its LF. Returns 1 when a whole line is there, 0
 * when it is not yet, -1 on a CR not followed by LF.
 */
static int
http1_line(const char *buf, size_t len, size_t start, size_t *eol, size_t *next)
{
	const char *lf;

	lf = memchr(buf + start, '\n', len - start);
	if (lf == NULL) {
		/* A CR anywhere but as the last byte so far can no longer end a line. */
		const char *cr = memchr(buf + start, '\r', len - start);
		if (cr != NULL && (size_t)(cr - buf) != len - 1)
			return -1;
		return 0;
	}
	*next = (size_t)(lf - buf) + 1;
	*eol = (size_t)(lf - buf);
	if (*eol > start && buf[*eol - 1] == '\r')
		(*eol)--;
	if (memchr(buf + start, '\r', *eol - start) != NULL)
		return -1;
	return 1;
}

/* "HTTP/1.x NNN[ reason]" in buf[0..eol). */
static int
http1_status_line(const char *buf, size_t eol, struct gw_http1_head *h)
{
	size_t i;

	if (eol < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	if (buf[7] != '0' && buf[7] != '1')
		return -1;
	if (buf[8] != ' ')
		return -1;
	for (i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
	}
	h->minor_version = buf[7] - '0';
	h->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (h->status < 100 || h->status > 599)
		return -1;
	if (eol == 12)
		return 0;
	if (buf[12] != ' ')
		return -1;
	for (i = 13; i < eol; i++) {
		if (!http1_field_char((unsigned char)buf[i]))
			return -1;
	}
	return 0;
}

ssize_t
gw_http1_parse_head(char *buf, size_t len, struct gw_http1_head *h)
{
	size_t start, eol, next, head_end, colon, vs, ve, i;
	struct gw_http1_header *hd;
	int r;

	if (len > UINT32_MAX)
		return -1;

	/* Find the empty line first: nothing is written until the head is whole. */
	start = 0;
	for (;;) {
		r = http1_line(buf, len, start, &eol, &next);
		if (r <= 0)
			return r;
		if (eol == start) {
			if (start == 0)
				return -1;
			break;
		}
		start = next;
	}
	head_end = next;

	memset(h, 0, sizeof(*h));
	r = http1_line(buf, len, 0, &eol, &next);
	if (r != 1 || http1_status_line(buf, eol, h) == -1)
		return -1;

	for (start = next; start < head_end; start = next) {
		(void)http1_line(buf, len, start, &eol, &next);
		if (eol == start)
			break;
		/* obs-fold and whitespace before the name are refused. */
		for (colon = start; colon < eol && http1_tchar((unsigned char)buf[colon]); colon++)
			;
		if (colon == start || colon == eol || buf[colon] != ':')
			return -1;
		for (vs = colon + 1; vs < eol && (buf[vs] == ' ' || buf[vs] == '\t'); vs++)
			;
		for (ve = eol; ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'); ve--)
			;
		for (i = vs; i < ve; i++) {
			if (!http1_field_char((unsigned char)buf[i]))
				return -1;
		}
		if (h->nheaders == GW_HTTP1_HEADERS_MAX)
			return -1;
		hd = &h->headers[h->nheaders++];
		hd->name_off = (uint32_t)start;
		hd->name_len = (uint32_t)(colon - start);
		hd->value_off = (uint32_t)vs;
		hd->value_len = (uint32_t)(ve - vs);
		buf[colon] = '\0';
		buf[ve] = '\0';
	}
	return (ssize_t)head_end;
}

/* True when s[0..n) is token, case-insensitively. */
static bool
http1_token_eq(const char *s, size_t n, const char *token)
{
	return strlen(token) == n && strncasecmp(s, token, n) == 0;
}

bool
gw_http1_token_in_list(const char *value, const char *token)
{
	const char *p, *e, *comma;

	for (p = value; *p != '\0'; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		for (e = comma; e > p && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (http1_token_eq(p, (size_t)(e - p), token))
			return true;
		if (*comma == '\0')
			break;
	}
	return false;
}

const char *
gw_http1_header_get(const char *buf, const struct gw_http1_head *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->nheaders; i++) {
		if (!strcasecmp(buf + h->headers[i].name_off, name))
			return buf + h->headers[i].value_off;
	}
	return NULL;
}

/* Content-Length: digits only, at most CL_DIGITS_MAX of them. */
static int
http1_content_length(const char *v, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9' || i == CL_DIGITS_MAX)
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (i == 0)
		return -1;
	*out = n;
	return 0;
}

int
gw_http1_framing(const char *buf, struct gw_http1_head *h, bool head_request)
{
	bool have_cl = false, chunked = false, close = false, keep_alive = false;
	uint64_t cl = 0, v;
	const char *name, *value;
	size_t i;

	for (i = 0; i < h->nheaders; i++) {
		name = buf + h->headers[i].name_off;
		value = buf + h->headers[i].value_off;
		if (!strcasecmp(name, "content-length")) {
			if (http1_content_length(value, &v) == -1)
				return -1;
			if (have_cl && v != cl)
				return -1;
			have_cl = true;
			cl = v;
		} else if (!strcasecmp(name, "transfer-encoding")) {
			/* Only a single "chunked" coding is understood. */
			if (chunked || strcasecmp(value, "chunked") != 0)
				return -1;
			chunked = true;
		} else if (!strcasecmp(name, "connection")) {
			if (gw_http1_token_in_list(value, "close"))
				close = true;
			if (gw_http1_token_in_list(value, "keep-alive"))
				keep_alive = true;
		}
	}
	if (h->status == 101)
		return -1;
	if (chunked && h->minor_version == 0)
		return -1;

	h->keep_alive = h->minor_version == 1 ? !close : keep_alive && !close;
	h->content_length = 0;
	if (head_request || h->status < 200 || h->status == 204 || h->status == 304) {
		h->framing = GW_HTTP1_BODY_NONE;
	} else if (chunked) {
		h->framing = GW_HTTP1_BODY_CHUNKED;
		/* Both framings present: honour chunked, but do not trust the connection. */
		if (have_cl)
			h->keep_alive = false;
	} else if (have_cl) {
		h->framing = GW_HTTP1_BODY_LENGTH;
		h->content_length = cl;
	} else {
		h->framing = GW_HTTP1_BODY_CLOSE;
		h->keep_alive = false;
	}
	return 0;
}

void
gw_http1_chunked_init(struct gw_http1_chunked *d, uint64_t max)
{
	memset(d, 0, sizeof(*d));
	d->state = CH_SIZE;
	d->max = max;
}

static int
http1_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
gw_http1_chunked_decode(struct gw_http1_chunked *d, char *buf, size_t *in, size_t len, size_t *out)
{
	unsigned char c;
	size_t n;
	int x;

	while (*in < len) {
		if (d->state == CH_DATA) {
			n = len - *in;
			if ((uint64_t)n > d->remaining)
				n = (size_t)d->remaining;
			if (*out != *in)
				memmove(buf + *out, buf + *in, n);
			*out += n;
			*in += n;
			d->remaining -= n;
			d->total += n;
			if (d->remaining == 0)
				d->state = CH_DATA_CR;
			continue;
		}

		c = (unsigned char)buf[(*in)++];
		switch (d->state) {
		case CH_SIZE:
			if ((x = http1_hex(c)) != -1) {
				if (++d->digits > CHUNK_DIGITS_MAX)
					return -1;
				d->remaining = d->remaining * 16 + (uint64_t)x;
				break;
			}
			if (d->digits == 0)
				return -1;
			if (c == ' ' || c == '\t')
				d->state = CH_SIZE_WS;
			else if (c == ';')
				d->state = CH_EXT;
			else if (c == '\r')
				d->state = CH_SIZE_LF;
			else if (c == '\n')
				goto size_done;
			else
				return -1;
			break;
		case CH_SIZE_WS:
			if (c == ' ' || c == '\t')
				break;
			if (c == ';')
				d->state = CH_EXT;
			else if (c == '\r')
				d->state = CH_SIZE_LF;
			else if (c == '\n')
				goto size_done;
			else
				return -1;
			break;
		case CH_EXT:
			if (c == '\r') {
				d->state = CH_SIZE_LF;
			} else if (c == '\n') {
				goto size_done;
			} else if (!http1_field_char(c) || ++d->line > CHUNK_EXT_MAX) {
				return -1;
			}
			break;
		case CH_SIZE_LF:
			if (c != '\n')
				return -1;
			goto size_done;
		case CH_DATA_CR:
			if (c == '\r')
				d->state = CH_DATA_LF;
			else if (c == '\n')
				goto next_chunk;
			else
				return -1;
			break;
		case CH_DATA_LF:
			if (c != '\n')
				return -1;
			goto next_chunk;
		case CH_TRAILER_BOL:
			if (c == '\r') {
				d->state = CH_END_LF;
				break;
			}
			if (c == '\n')
				goto done;
			d->state = CH_TRAILER;
			/* FALLTHROUGH */
		case CH_TRAILER:
			if (++d->trailers > CHUNK_TRAILER_MAX)
				return -1;
			if (c == '\r')
				d->state = CH_TRAILER_LF;
			else if (c == '\n')
				d->state = CH_TRAILER_BOL;
			else if (!http1_field_char(c))
				return -1;
			break;
		case CH_TRAILER_LF:
			if (c != '\n')
				return -1;
			d->state = CH_TRAILER_BOL;
			break;
		case CH_END_LF:
			if (c != '\n')
				return -1;
			goto done;
		default:
			return -1;
		}
		continue;

	size_done:
		if (d->remaining > d->max - d->total)
			return -2;
		d->line = 0;
		d->digits = 0;
		d->state = d->remaining == 0 ? CH_TRAILER_BOL : CH_DATA;
		continue;
	next_chunk:
		d->state = CH_SIZE;
		d->remaining = 0;
		continue;
	done:
		d->state = CH_DONE;
		return 1;
	}
	return d->state == CH_DONE ? 1 : 0;
}
