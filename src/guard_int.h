/* guard_int.h -- the framing rule's insides, shared by guard.c (the byte
 * by byte path) and guard_line.c (whole lines in one pass).  Private to
 * those two files: the rest of the program uses guard.h. */
#ifndef AVATAR_GUARD_INT_H
#define AVATAR_GUARD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "guard.h"

/* Byte classes (RFC 9110 5.6.2, 5.5; RFC 3986 3.2.2). */
#define C_TCHAR 1  /* token */
#define C_VCHAR 2  /* %x21-7E */
#define C_OBS 4    /* obs-text, %x80-FF */
#define C_WS 8     /* SP, HTAB */
#define C_HEX 16
#define C_DIGIT 32
#define C_HOST 64  /* reg-name: unreserved, sub-delims, "%" */

extern const unsigned char guard_cls[256];

#define IS(c, k) ((guard_cls[(unsigned char)(c)] & (k)) != 0)

enum state {
	S_START,     /* before a request line: empty lines are skipped */
	S_START_CR,
	S_METHOD,
	S_TARGET0,   /* the target's first byte */
	S_TARGET,
	S_VERSION,   /* sub: bytes of "HTTP/1.x" matched */
	S_RL_CR,     /* the request line's CR */
	S_LINE,      /* a field line, or the empty line ending the head */
	S_NAME,
	S_VALUE,
	S_VALUE_CR,
	S_END_CR,    /* the empty line's CR */
	S_BODY,      /* Content-Length bytes */
	S_CSIZE0,    /* a chunk size's first digit */
	S_CSIZE,
	S_CEXT,      /* a chunk extension, up to the line end */
	S_CSIZE_CR,
	S_CDATA,
	S_CDATA_END, /* the line end after chunk data */
	S_CDATA_CR
};

/* Field names recognised, as bits of struct guard's match. */
enum field { F_OTHER, F_HOST, F_LENGTH, F_CODING, F_COOKIE, F_COUNT };

extern const char *const guard_names[F_COUNT];
extern const unsigned char guard_name_len[F_COUNT];

/* A field value byte C (not CR or LF) of the field being read. */
void guard_value_byte(struct guard *g, const struct guard_limits *lim,
                      unsigned char c);

/* Inline: both paths call these once per field line.  Out of line,
 * with the whole-line checks in a file of their own, they cost about 50
 * instructions more per request (callgrind, wrk's request: 21,950 against
 * 21,900). */
/* The end of a field line's value.  Whitespace after a Content-Length
 * or Transfer-Encoding value is not part of it (RFC 9110 5.5), but
 * libmicrohttpd 0.9.75 does not trim it: it fails to parse such a length
 * (its own HTML 400) and misses such a coding (and reads the body as the
 * next request).  Both are refused here, 400, before it sees them. */
static inline void
guard_value_end(struct guard *g)
{
	/* Length: no digits, or whitespace after them; coding: whitespace
	 * after "chunked"; Host: "[" never closed. */
	if ((g->field == F_LENGTH && g->sub != 1) ||
	    (g->field == F_CODING && g->sub == 8) ||
	    (g->field == F_HOST && g->sub == 2))
		g->bad_value = 1;
	else if (g->field == F_CODING && g->sub != 7)
		g->bad_coding = 1;
}

/* The name of the field line being read is known (g->field): count it,
 * and rename a Cookie field whose name starts at FIRST (NULL: it began in
 * an earlier read, and is not renamed), as guard.h says. */
static inline void
guard_field_named(struct guard *g, char *first)
{
	if (g->field == F_HOST) {
		g->hosts += g->hosts < 2;
	} else if (g->field == F_LENGTH) {
		g->lengths += g->lengths < 2;
		g->num = 0;
	} else if (g->field == F_CODING) {
		g->codings += g->codings < 2;
	} else if (g->field == F_COOKIE && first != NULL) {
		*first = 'X';
		g->field = F_OTHER;
	}
	g->sub = 0;
}

/* A request line that lies whole in P (N bytes from its first byte),
 * valid and within the limits: taken at once, as the byte-by-byte path
 * would, and *USED set to its length with its line end; else *USED is
 * 0 and nothing is done (the byte-by-byte path gives the verdict). */
void guard_line_request(struct guard *g, const struct guard_limits *lim,
                        const char *p, size_t n, size_t *used);

/* A field line that lies whole in P (N bytes from the start of the
 * name), checked at once: what the byte-by-byte path would do to G, in
 * one pass with no per-byte dispatch.  Sets *USED to the line's length
 * with its line end, or to 0 (nothing done) if the line is not whole in
 * P or is not valid: the byte-by-byte path then takes it and gives the
 * verdict at the right byte.  Returns GUARD_OK, or the verdict of a
 * limit the line crosses. */
enum guard_verdict guard_line_field(struct guard *g,
                                    const struct guard_limits *lim, char *p,
                                    size_t n, size_t *used);

#endif
