/*
 * libFuzzer driver for services/gateway/gw_http1.c.
 *
 * Any input is a response: parse it as a head (in an exact-size copy, so a
 * read past the end is caught), check what a parsed head promises (offsets
 * inside the head, names and values NUL-terminated in place at their stated
 * lengths, no whitespace around values, a shorter prefix only ever "needs
 * more"), work out its framing for GET and for HEAD, look headers up, and
 * run the chunked decoder over the rest of the input (the whole input when
 * there is no head): once in one call, once split in two at a point taken
 * from the input, which must agree byte for byte, and once under a small
 * body limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_MAX 64

static void
fuzz_check_head(const char *buf, size_t head_len, const struct gw_http1_head *h)
{
	const struct gw_http1_header *hd;
	const char *v;
	size_t i;

	if (h->minor_version != 0 && h->minor_version != 1)
		abort();
	if (h->status < 100 || h->status > 599 || h->nheaders > GW_HTTP1_HEADERS_MAX)
		abort();
	for (i = 0; i < h->nheaders; i++) {
		hd = &h->headers[i];
		if (hd->name_len == 0 || hd->name_off + hd->name_len >= head_len ||
		    hd->value_off + hd->value_len >= head_len || hd->value_off <= hd->name_off)
			abort();
		if (strlen(buf + hd->name_off) != hd->name_len ||
		    strlen(buf + hd->value_off) != hd->value_len)
			abort();
		v = buf + hd->value_off;
		if (hd->value_len > 0 &&
		    (v[0] == ' ' || v[0] == '\t' || v[hd->value_len - 1] == ' ' ||
		     v[hd->value_len - 1] == '\t'))
			abort();
		if (memchr(v, '\r', hd->value_len) != NULL ||
		    memchr(v, '\n', hd->value_len) != NULL)
			abort();
		/* The first header of a name is what a lookup finds. */
		if (gw_http1_header_get(buf, h, buf + hd->name_off) == NULL)
			abort();
		(void)gw_http1_token_in_list(v, "close");
		(void)gw_http1_token_in_list(v, "keep-alive");
	}
}

static void
fuzz_framing(const char *buf, const struct gw_http1_head *parsed, bool head_request)
{
	static struct gw_http1_head h;

	memcpy(&h, parsed, sizeof(h));
	if (gw_http1_framing(buf, &h, head_request) == -1)
		return;
	if (h.status == 101 || (h.framing == GW_HTTP1_BODY_CHUNKED && h.minor_version == 0))
		abort();
	if ((head_request || h.status < 200 || h.status == 204 || h.status == 304) &&
	    h.framing != GW_HTTP1_BODY_NONE)
		abort();
	if (h.framing == GW_HTTP1_BODY_CLOSE && h.keep_alive)
		abort();
	if (h.framing != GW_HTTP1_BODY_LENGTH && h.content_length != 0)
		abort();
}

/* Decode body[0..len) in one call, in a fresh exact-size copy. */
static int
fuzz_decode(const uint8_t *body, size_t len, uint64_t max, char **out_buf, size_t *in, size_t *out)
{
	struct gw_http1_chunked d;
	char *b;
	int r;

	b = malloc(len > 0 ? len : 1);
	if (b == NULL)
		abort();
	if (len > 0)
		memcpy(b, body, len);
	gw_http1_chunked_init(&d, max);
	*in = *out = 0;
	r = gw_http1_chunked_decode(&d, b, in, len, out);
	if (*out > *in || *in > len || d.total != *out || d.total > max)
		abort();
	if (r == 0 && *in != len)
		abort();
	if (r < -2 || r > 1)
		abort();
	*out_buf = b;
	return r;
}

static void
fuzz_chunked(const uint8_t *body, size_t len, size_t split)
{
	struct gw_http1_chunked d;
	size_t in1, out1, in2, out2;
	char *one, *two;
	int r1, r2;

	r1 = fuzz_decode(body, len, UINT64_MAX, &one, &in1, &out1);

	/* The same bytes arriving in two reads. */
	two = malloc(len > 0 ? len : 1);
	if (two == NULL)
		abort();
	if (len > 0)
		memcpy(two, body, len);
	gw_http1_chunked_init(&d, UINT64_MAX);
	in2 = out2 = 0;
	r2 = gw_http1_chunked_decode(&d, two, &in2, split, &out2);
	if (r2 == 0) {
		if (in2 != split)
			abort();
		r2 = gw_http1_chunked_decode(&d, two, &in2, len, &out2);
	}
	if (r1 != r2 || in1 != in2 || out1 != out2 || memcmp(one, two, out1) != 0)
		abort();
	free(two);
	free(one);

	/* A small limit: never more than it decoded, never a different refusal. */
	r2 = fuzz_decode(body, len, SMALL_MAX, &two, &in2, &out2);
	if (r2 == -1 && r1 != -1)
		abort();
	if (r2 == 1 && (r1 != 1 || out2 > SMALL_MAX))
		abort();
	free(two);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gw_http1_head h, h2;
	ssize_t n, m;
	size_t body_off = 0;
	char *buf;

	if (size > UINT32_MAX)
		return 0;
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		abort();
	if (size > 0)
		memcpy(buf, data, size);
	n = gw_http1_parse_head(buf, size, &h);
	if (n < -1 || n > (ssize_t)size)
		abort();
	if (n > 0) {
		fuzz_check_head(buf, (size_t)n, &h);
		fuzz_framing(buf, &h, false);
		fuzz_framing(buf, &h, true);
		body_off = (size_t)n;

		/* One byte short of the head only ever needs more. */
		memcpy(buf, data, size);
		m = gw_http1_parse_head(buf, (size_t)n - 1, &h2);
		if (m != 0 || memcmp(buf, data, size) != 0)
			abort();
	} else if (n == 0) {
		/* An incomplete head is left as it was. */
		if (memcmp(buf, data, size) != 0)
			abort();
	}
	free(buf);

	fuzz_chunked(data + body_off, size - body_off,
	             size - body_off > 0 ? data[size - 1] % (size - body_off + 1) : 0);
	return 0;
}
