/* upstream.h -- the relay's HTTP/1.1 client parts: URL, request, head, body. */
#ifndef AVATAR_UPSTREAM_H
#define AVATAR_UPSTREAM_H

#include <stddef.h>

#include "error.h"

/* A response head (status line and headers) longer than this is refused. */
#define UPSTREAM_HEAD_MAX 16384u

/* An upstream URL taken apart: http://HOST[:PORT][/PATH], the host
 * without brackets, the path "/" when the URL has none. */
struct upstream_url {
	char host[256];
	char port[6];
	const char *path;      /* points into the URL; NUL-terminated */
	size_t host_header;    /* length of HOST[:PORT] as written, for Host */
	const char *authority; /* HOST[:PORT] as written (not NUL-terminated) */
};

/* How the body of a response is delimited. */
enum upstream_framing {
	UPSTREAM_LENGTH,  /* Content-Length (0 for 204, 304) */
	UPSTREAM_CHUNKED, /* Transfer-Encoding: chunked */
	UPSTREAM_CLOSE    /* read until the upstream closes */
};

/* What upstream_head_parse found in a response head. */
struct upstream_head {
	unsigned status;              /* 100-599 */
	unsigned minor;               /* HTTP/1.MINOR */
	enum upstream_framing framing;
	unsigned long long length;    /* UPSTREAM_LENGTH: the body's size */
	unsigned long long declared;  /* the Content-Length field's value, 0
	                               * if none: a 304's is the size its
	                               * 200 would have (RFC 9110 8.6) */
	int close;                    /* not reused after this answer */
	const char *type;             /* Content-Type value, or NULL */
	size_t type_len;
	const char *etag;             /* the first ETag value, or NULL */
	size_t etag_len;
	const char *coding;           /* Content-Encoding value, or NULL */
	size_t coding_len;
	size_t size;                  /* bytes of the head, blank line included */
};

/* The state of a chunked body being decoded, kept between reads. */
struct upstream_chunks {
	int state;
	unsigned long long left;      /* data bytes left in this chunk */
	size_t line;                  /* bytes of the current size/trailer line */
	size_t trailers;              /* bytes of trailers so far */
};

/* Take URL apart into U.  Only http:// is supported: https:// and
 * anything malformed give -1 with ERR set (EXIT_USAGE). */
int upstream_url_parse(const char *url, struct upstream_url *u,
                       struct error *err);

/* The request the relay sends for URL, taken apart in U:
 * "GET PATH HTTP/1.1" (the fragment cut), Host (HOST[:PORT] as written),
 * Accept: application/json and User-Agent: avatar-api/VERSION.  Returns
 * it NUL-terminated in a new buffer (the caller frees it) with its length
 * in *LEN, or NULL if out of memory. */
char *upstream_request(const char *url, const struct upstream_url *u,
                       size_t *len);

/* Parse the response head at the start of BUF (N bytes so far).  *SCAN
 * (0 at first) remembers how far a previous call looked for the blank
 * line, so that a head arriving a byte at a time costs linear time.
 * Returns 1 with H filled in when the head is complete, 0 when more is
 * needed (the caller refuses a head over UPSTREAM_HEAD_MAX), -1 when it
 * is malformed or ambiguous: a bad status line or header line, a bad or
 * conflicting Content-Length, a transfer coding other than chunked,
 * both Content-Length and Transfer-Encoding, two Content-Encoding fields
 * (which coding the body has would be a guess), an obsolete line fold,
 * or a 101 (the relay never asks for an upgrade).  Other 1xx heads parse
 * (the caller skips them).  A 204 or 304 has no body (length 0),
 * whatever its head says; H->close is also set after a 204 (see
 * upstream.c; a 304 is the caller's to judge).  H->etag and H->coding
 * point into BUF, blanks trimmed, unchecked (upstream_etag,
 * upstream_coding).  Header names are matched without regard to case. */
int upstream_head_parse(const char *buf, size_t n, size_t *scan,
                        struct upstream_head *h);

/* Start decoding a chunked body. */
void upstream_chunks_init(struct upstream_chunks *c);

/*
 * Decode the N raw bytes at BUF in place: the data bytes are moved to the
 * front of BUF, *OUT receiving their count, and *USED the raw bytes
 * consumed (all N unless the body ended).  A chunk larger than LIMIT
 * (the data bytes still allowed) stops the decoding at its size line.
 * Returns 1 when the last chunk and its trailers are done, 0 when more
 * is needed, -1 when the framing is malformed (a bad or overlong size
 * line, blanks inside the size as in "2 0", no CRLF after a chunk's
 * data, trailers over UPSTREAM_HEAD_MAX),
 * -2 when a chunk is over LIMIT.  Any split of the input gives the same
 * result.
 */
int upstream_chunks_decode(struct upstream_chunks *c, char *buf, size_t n,
                           unsigned long long limit, size_t *out,
                           size_t *used);

/* Whether the Content-Type value T (LEN bytes, parameters allowed) is
 * application/json or application/...+json.  T may be NULL (no field). */
int upstream_json_type(const char *t, size_t len);

/* Whether the ETag value V (LEN bytes) is an entity-tag (RFC 9110 8.8.3:
 * "..." or W/"...", no DQUOTE, control or space inside) of at most MAX
 * bytes: one the relay passes back.  V may be NULL (no field). */
int upstream_etag(const char *v, size_t len, size_t max);

/* The Content-Encoding value V (LEN bytes, NULL for no field): 0 for none,
 * an empty value or "identity" (the body is as is), 1 for a list of content codings
 * (RFC 9110 8.4: tokens separated by commas and blanks; "gzip",
 * "br, gzip"), -1 for anything else (an empty list, a parameter, a
 * quote). */
int upstream_coding(const char *v, size_t len);

/* A cheap check, not a parse: whether the body B (N bytes) looks like
 * JSON, its first and last non-blank bytes being { and } or [ and ]. */
int upstream_json_body(const char *b, size_t n);

#endif
