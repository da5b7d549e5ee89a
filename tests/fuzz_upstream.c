/* fuzz_upstream.c -- libFuzzer target for the relay's HTTP/1.1 parsers ("make fuzz").
 *
 * The upstream is untrusted input too: its answer goes through
 * upstream_head_parse and upstream_chunks_decode.  Each input is checked
 * two ways, which must agree (a differential test, not only "no crash"):
 *
 *   head:   parsed whole, and again fed one byte more at a time with the
 *           scan position kept between calls, as the relay reads it.  The
 *           first call that does not ask for more must give the whole
 *           parse's result, and the same head (status, version, framing,
 *           length, close, size and the places of Content-Type, ETag and
 *           Content-Encoding).  A head that parses is never a 101, a 204
 *           is never reusable (issue 11), and neither has a body: a
 *           304's Content-Length is only declared (issue 13: upconn.c
 *           reuses a connection after a 304 it asked for).
 *   chunks: decoded in place whole, and again in two reads split where
 *           the first input byte says, under a limit the second byte
 *           sets.  Both must give the same result and the same bytes.
 *           A size line with blanks between hex digits ("2 0") never
 *           decodes (issue 11).
 *
 * Built with -fsanitize=fuzzer,address,undefined; a mismatch aborts, and
 * so does any crash or sanitizer report.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"

#define MAX_INPUT ((size_t)UPSTREAM_HEAD_MAX + 1024)

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_upstream: %s\n", what);
	abort();
}

/* Whether V (LEN bytes, NULL: no field) lies outside H's head in BUF. */
static int
outside(const char *buf, const struct upstream_head *h, const char *v,
        size_t len)
{
	return v != NULL && (v < buf || v + len > buf + h->size);
}

static void
check_head(const char *buf, size_t n)
{
	struct upstream_head whole, step;
	size_t scan = 0, k;
	int rw, rs = 0;

	rw = upstream_head_parse(buf, n, &scan, &whole);
	scan = 0;
	for (k = 1; k <= n && rs == 0; k++)
		rs = upstream_head_parse(buf, k, &scan, &step);
	if (rs != rw)
		fail("head: byte-at-a-time result differs from the whole parse");
	if (rw != 1)
		return;
	if (whole.status != step.status || whole.minor != step.minor ||
	    whole.framing != step.framing || whole.length != step.length ||
	    whole.declared != step.declared ||
	    whole.close != step.close || whole.size != step.size ||
	    whole.type_len != step.type_len || whole.type != step.type ||
	    whole.etag_len != step.etag_len || whole.etag != step.etag ||
	    whole.coding_len != step.coding_len ||
	    whole.coding != step.coding)
		fail("head: byte-at-a-time head differs from the whole parse");
	if (whole.size > n || whole.status < 100 || whole.status > 599)
		fail("head: size or status out of range");
	if (whole.status == 101)
		fail("head: a 101 accepted");
	if (whole.status == 204 && !whole.close)
		fail("head: a 204 left reusable");
	if ((whole.status == 204 || whole.status == 304) &&
	    (whole.framing != UPSTREAM_LENGTH || whole.length != 0))
		fail("head: a 204 or 304 with a body");
	if (outside(buf, &whole, whole.type, whole.type_len) ||
	    outside(buf, &whole, whole.etag, whole.etag_len) ||
	    outside(buf, &whole, whole.coding, whole.coding_len))
		fail("head: a field value outside the head");
}

/* Whether BUF (N bytes) starts with a chunk size, blanks and another
 * hex digit, as in "2 0". */
static int
inner_blank(const uint8_t *buf, size_t n)
{
	size_t i = 0, digits;

	while (i < n && isxdigit(buf[i]))
		i++;
	digits = i;
	while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	return digits > 0 && i > digits && i < n && isxdigit(buf[i]);
}

static void
check_chunks(const uint8_t *data, size_t n)
{
	static char a[MAX_INPUT], b[MAX_INPUT];
	struct upstream_chunks ca, cb;
	unsigned long long limit;
	size_t split, outa, useda, out1, used1, out2 = 0, used2 = 0, len;
	int ra, rb;

	if (n < 2)
		return;
	split = data[0];
	limit = (unsigned long long)data[1] * 64;
	data += 2;
	len = n - 2;
	if (split > len)
		split = len;
	memcpy(a, data, len);
	memcpy(b, data, len);

	upstream_chunks_init(&ca);
	ra = upstream_chunks_decode(&ca, a, len, limit, &outa, &useda);

	upstream_chunks_init(&cb);
	rb = upstream_chunks_decode(&cb, b, split, limit, &out1, &used1);
	if (rb == 0) {
		if (used1 != split)
			fail("chunks: a read that needs more did not use it all");
		/* The second read's bytes follow the first read's data. */
		memmove(b + out1, data + split, len - split);
		rb = upstream_chunks_decode(&cb, b + out1, len - split,
		                            limit - out1, &out2, &used2);
		used2 += split;
	} else {
		used2 = used1;
	}
	if (ra != rb)
		fail("chunks: split result differs from the whole decode");
	if (ra >= 0 && inner_blank(data, len))
		fail("chunks: a size with blanks inside was taken");
	if (ra < 0)
		return;
	if (outa != out1 + out2 || memcmp(a, b, outa) != 0)
		fail("chunks: split data differs from the whole decode");
	if (outa > limit)
		fail("chunks: more data than the limit");
	if (ra == 1 && useda != used2)
		fail("chunks: the body ends at different places");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	if (n > MAX_INPUT)
		return 0;
	check_head((const char *)data, n);
	check_chunks(data, n);
	return 0;
}
