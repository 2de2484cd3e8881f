/*
 * gw_http1.h - the gateway's HTTP/1.1 response parser: the status line and
 * header block of an upstream response, the framing of its body, and an
 * in-place chunked decoder. Knows nothing of sockets or Kore, so it can be
 * unit-tested and fuzzed alone.
 *
 * The parser is strict where a lenient reading could let two parties
 * disagree on where a response ends (message framing): obs-fold, bare CR,
 * control characters, conflicting Content-Length values and transfer codings
 * other than chunked are all refused.
 */
#ifndef GW_HTTP1_H
#define GW_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GW_HTTP1_HEADERS_MAX 100

/* One header line; offsets into the parsed buffer, both NUL-terminated there. */
struct gw_http1_header {
	uint32_t name_off;
	uint32_t name_len;
	uint32_t value_off;
	uint32_t value_len;
};

/* How the body that follows the head is delimited. */
enum gw_http1_framing {
	GW_HTTP1_BODY_NONE,    /* HEAD, 1xx, 204, 304 */
	GW_HTTP1_BODY_LENGTH,  /* Content-Length bytes */
	GW_HTTP1_BODY_CHUNKED, /* Transfer-Encoding: chunked */
	GW_HTTP1_BODY_CLOSE    /* until the upstream closes the connection */
};

struct gw_http1_head {
	int minor_version; /* HTTP/1.<minor>: 0 or 1 */
	int status;        /* 100..599 */
	size_t nheaders;
	struct gw_http1_header headers[GW_HTTP1_HEADERS_MAX];

	/* Filled by gw_http1_framing(). */
	enum gw_http1_framing framing;
	uint64_t content_length;
	bool keep_alive; /* the connection may carry another request */
};

/*
 * Parse one response head at the start of buf[0..len). Returns the length of
 * the head (status line, headers and the empty line) when it is complete, 0
 * when more bytes are needed, -1 when it is malformed or has more than
 * GW_HTTP1_HEADERS_MAX headers. On success every header name and value in buf
 * is NUL-terminated in place (values without surrounding whitespace) and
 * described by an offset in h->headers. buf must not be longer than
 * UINT32_MAX; the caller bounds len to its head limit.
 */
ssize_t gw_http1_parse_head(char *buf, size_t len, struct gw_http1_head *h);

/*
 * Work out the body framing of a parsed head; head_request is true when the
 * request was HEAD (no body follows whatever the headers say). Sets
 * h->framing, h->content_length and h->keep_alive. Returns 0, or -1 when the
 * framing headers are malformed or contradictory (several different
 * Content-Length values, a transfer coding other than chunked, chunked on
 * HTTP/1.0, a 101 we never asked for).
 */
int gw_http1_framing(const char *buf, struct gw_http1_head *h, bool head_request);

/* Value of the first header called name (case-insensitive), or NULL. */
const char *gw_http1_header_get(const char *buf, const struct gw_http1_head *h, const char *name);

/*
 * True when the comma-separated token list value (a Connection header)
 * names token, case-insensitively.
 */
bool gw_http1_token_in_list(const char *value, const char *token);

/* Chunked decoder state; zero it (gw_http1_chunked_init) per body. */
struct gw_http1_chunked {
	int state;
	uint64_t remaining; /* bytes left in the current chunk */
	uint64_t total;     /* decoded bytes so far */
	uint64_t max;       /* refuse a body larger than this */
	size_t digits;      /* hex digits of the current size line */
	size_t line;        /* bytes of the current extension or trailer line */
	size_t trailers;    /* bytes of trailer section so far */
};

void gw_http1_chunked_init(struct gw_http1_chunked *d, uint64_t max);

/*
 * Decode the chunked bytes buf[*in .. len) in place: chunk data is moved
 * down to buf[*out ..], framing is dropped. *in and *out advance (*out never
 * passes *in, so the caller may pass *out == *in at the start). Returns 1
 * when the terminating chunk and trailers have been read (*in then points
 * just past them), 0 when every byte was consumed and more are needed, -1 on
 * malformed framing, -2 when the decoded body would exceed d->max.
 */
int gw_http1_chunked_decode(struct gw_http1_chunked *d, char *buf, size_t *in, size_t len,
                            size_t *out);

#endif
