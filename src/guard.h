/* guard.h -- the framing rule: a strict, incremental check of every byte
 * a client sends, before libmicrohttpd parses it.
 *
 * libmicrohttpd 0.9.75 is lenient (obsolete line folds, NUL bytes and
 * control bytes in headers, any Transfer-Encoding value, several
 * Content-Length spellings) and some of its leniency lets a request
 * hidden in a body reach the handler; its own error answers put two
 * status lines on the wire.  So every byte a client connection delivers
 * goes through guard_feed first (wire.c calls it from recv), and a
 * request is handed on only as far as it is valid RFC 9110/9112
 * framing; anything else is answered by wire.c and the connection is
 * closed.  The rule, in one place:
 *
 *   request-line  = token SP 1*(%x21-7E) SP "HTTP/1." DIGIT
 *                   (1.2 and later minors are read as 1.1, RFC 9112 2.3)
 *   field-line    = token ":" *(SP / HTAB / VCHAR / obs-text)
 *   line ends     = CRLF or a lone LF (RFC 9112 2.2); a lone CR is bad
 *   no obsolete folds, no empty field names, no NUL or other controls;
 *   HTTP/1.1: exactly one Host, HTTP/1.0: at most one; a Host value
 *   that is a syntactically valid uri-host [":" port];
 *   at most one Content-Length, of digits only;
 *   Transfer-Encoding: only exactly "chunked" (else 501), only on
 *   HTTP/1.1, never beside Content-Length, at most one such line;
 *   chunked bodies: hex sizes, no whitespace inside, extensions after
 *   ";", each chunk ended by a line end, trailers checked as fields.
 *
 * Limits, all answered before libmicrohttpd could run out of its pool
 * (its own 414/431 are HTML): see struct guard_limits.
 *
 * The parser keeps no pointers and does no I/O or allocation: one
 * struct guard per connection, fed in whatever pieces the socket
 * gives.  Thread rules: a struct guard belongs to the thread reading
 * its connection. */
#ifndef AVATAR_GUARD_H
#define AVATAR_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* What guard_feed found: GUARD_OK, or the status to answer with. */
enum guard_verdict {
	GUARD_OK = 0,
	GUARD_400,      /* malformed or ambiguous framing */
	GUARD_413,      /* a body over the limit */
	GUARD_414,      /* a request line over the limit */
	GUARD_431,      /* a header section over the limit */
	GUARD_501,      /* a transfer coding other than chunked */
	GUARD_505,      /* an HTTP major version other than 1 */
	GUARD_VERDICT_COUNT
};

struct guard_limits {
	uint32_t line_max;   /* request line, bytes (414) */
	uint32_t head_max;   /* request line and fields, bytes (431) */
	uint32_t fields_max; /* field lines (431) */
	/* What libmicrohttpd 0.9.75 would take from its per-connection
	 * pool for the head: its bytes, plus field_cost for each field line
	 * and each query argument (a struct MHD_HTTP_Header each), plus the
	 * bytes of a Cookie field it copies to parse.  Over pool_budget:
	 * 431 (414 while still in the request line). */
	uint32_t field_cost;
	uint32_t pool_budget; /* at most GUARD_BUDGET_MAX */
	uint32_t body_max;   /* Content-Length or chunked total (413);
	                      * below 2^31 */
};

#define GUARD_BUDGET_MAX 60000u

/* Per-connection state (40 bytes).  Zero it (or guard_reset) before the first
 * byte. */
struct guard {
	uint8_t state;
	uint8_t sub;        /* state within a field value */
	uint8_t field;      /* which recognised field is being read */
	uint8_t match;      /* recognised names still matching */
	uint8_t npos;       /* bytes of the field name so far (saturates) */
	uint8_t http10;     /* the request is HTTP/1.0 */
	uint8_t hosts, lengths, codings; /* counts (saturate at 2) */
	uint8_t bad_value;  /* a Host or Content-Length value is bad */
	uint8_t bad_coding; /* a Transfer-Encoding other than chunked */
	uint8_t trailer;    /* reading a chunked body's trailer fields */
	uint16_t fields;
	uint16_t line;      /* bytes of the current line */
	uint16_t head;      /* bytes of the current head */
	uint16_t cost;      /* the pool model (struct guard_limits) */
	uint32_t num;       /* Content-Length or chunk size being read */
	uint32_t left;      /* body or chunk bytes still to come */
	uint32_t body;      /* body bytes so far */
	uint32_t requests;  /* requests begun on this connection */
	uint32_t done;      /* requests whose last byte was read */
};

/* Default limits for a libmicrohttpd pool of POOL_SIZE bytes. */
void guard_limits_init(struct guard_limits *lim, size_t pool_size);

void guard_reset(struct guard *g);

/* Check the next N bytes of the connection, in BUF.  Returns GUARD_OK
 * if they are valid so far, else the status to answer with; *GOOD then
 * receives how many bytes of BUF end whole requests before the bad one
 * (they may be handed on; the rest must not be).  After a verdict other
 * than GUARD_OK, G must not be fed again.
 *
 * A Cookie field line whose name lies whole in BUF is renamed in place
 * (to "Xookie"): the API reads no cookies, and libmicrohttpd 0.9.75
 * copies a Cookie value into its pool to parse it, so that 3 KB of
 * cookies would not fit.  That is the only change made to BUF. */
enum guard_verdict guard_feed(struct guard *g, const struct guard_limits *lim,
                              char *buf, size_t n, size_t *good);

/* Non-zero if G is between requests, with no byte of the next one
 * received. */
int guard_idle(const struct guard *g);

/* The status code and reason phrase of V (not GUARD_OK). */
unsigned guard_status(enum guard_verdict v);
const char *guard_reason(enum guard_verdict v);

#endif
