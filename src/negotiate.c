/* negotiate.c -- what a request asks of an answer: conditional fields,
 * Accept-Encoding, Origin.
 *
 * Each parser walks its value once, byte by byte, up to the NUL: no
 * strlen first, no allocation, no locale (ctype's tolower and isalpha
 * follow LC_CTYPE; these fields are ASCII by RFC 9110, folded here by
 * hand).  The grammar is RFC 9110's: 5.6.1 (lists: empty elements
 * allowed, OWS around ","), 5.6.2 (token), 8.8.3 (entity-tag), 12.4.2
 * (qvalue), 12.5.3 (Accept-Encoding), 13.1.1 and 13.1.2 (If-Match and
 * If-None-Match). */
#include <string.h>

#include "negotiate.h"

/* OWS = *( SP / HTAB ), RFC 9110 5.6.3. */
static int
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* tchar, RFC 9110 5.6.2: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return 1;
	default:
		return 0;
	}
}

/* etagc = %x21 / %x23-7E / obs-text (%x80-FF), RFC 9110 8.8.3: no
 * space, DQUOTE, DEL or control. */
static int
is_etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

/* Whether the LEN bytes at P are NAME (lowercase, LEN bytes) but for
 * the case of letters. */
static int
token_is(const unsigned char *p, size_t len, const char *name, size_t name_len)
{
	size_t i;

	if (len != name_len)
		return 0;
	for (i = 0; i < len; i++)
		if (ascii_lower(p[i]) != (unsigned char)name[i])
			return 0;
	return 1;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), RFC 9110
 * 12.4.2: its value times 1000, *PP moved past it; or -1.  What follows
 * is the caller's to check, so "0.1234" and "01" fail there. */
static int
qvalue_parse(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	int q;

	if (*p == '0')
		q = 0;
	else if (*p == '1')
		q = 1000;
	else
		return -1;
	p++;
	if (*p == '.') {
		int scale = 100, i;

		p++;
		for (i = 0; i < 3 && is_digit(*p); i++, p++) {
			if (q == 1000 && *p != '0')
				return -1;
			q += (*p - '0') * scale;
			scale /= 10;
		}
	}
	*pp = p;
	return q;
}

void
negotiate_accept_init(struct negotiate_accept *a)
{
	a->fields = 0;
	a->malformed = 0;
	a->q_identity = a->q_gzip = a->q_star = -1;
}

/* Accept-Encoding = #( codings [ weight ] ), codings = token /
 * "identity" / "*", weight = OWS ";" OWS "q=" qvalue (RFC 9110 12.5.3,
 * 12.4.2).  "q=" is an ABNF literal, so case-insensitive (RFC 5234 2.3):
 * "Q=0.5" is a weight.  No whitespace around "=" (the grammar has none,
 * and RFC 9110 5.6.6 forbids it in any parameter), and nothing after
 * the coding but one weight: "gzip;level=9", "gzip;q=1;q=0" and "gzip;"
 * are malformed (5.6.6 would allow an empty parameter, but 12.5.3's
 * grammar is codings [ weight ], not parameters), which sends identity.  The values are
 * parsed into locals and written to A only when the whole field parsed,
 * so a malformed field leaves the q values as they were. */
void
negotiate_accept_field(struct negotiate_accept *a, const char *value)
{
	const unsigned char *p = (const unsigned char *)(value != NULL ? value
	                                                               : "");
	short q_identity = a->q_identity, q_gzip = a->q_gzip,
	      q_star = a->q_star;

	a->fields++;
	for (;;) {
		const unsigned char *tok;
		size_t len;
		int q = 1000;

		while (is_ows(*p))
			p++;
		if (*p == ',') {  /* an empty element (RFC 9110 5.6.1) */
			p++;
			continue;
		}
		if (*p == '\0')
			break;
		for (tok = p; is_tchar(*p); p++)
			;
		len = (size_t)(p - tok);
		if (len == 0)
			goto malformed;
		while (is_ows(*p))
			p++;
		if (*p == ';') {
			p++;
			while (is_ows(*p))
				p++;
			if (ascii_lower(p[0]) != 'q' || p[1] != '=')
				goto malformed;
			p += 2;
			q = qvalue_parse(&p);
			if (q < 0)
				goto malformed;
			while (is_ows(*p))
				p++;
		}
		if (*p != ',' && *p != '\0')
			goto malformed;
		/* A coding listed twice: the last q wins.  RFC 9110 says
		 * nothing of repeats; the last one is what a client that
		 * appends its own preference to a proxy's list (or a second
		 * field to the first) meant, and needs no memory of which
		 * codings were seen.  "x-gzip" is gzip (RFC 9110 8.4.1.3), so
		 * it shares gzip's q, last one wins there too.  Unknown codings
		 * (br, deflate, zstd, and tokens such as "*x") are ignored. */
		if (len == 1 && tok[0] == '*')
			q_star = (short)q;
		else if (token_is(tok, len, "gzip", 4) ||
		         token_is(tok, len, "x-gzip", 6))
			q_gzip = (short)q;
		else if (token_is(tok, len, "identity", 8))
			q_identity = (short)q;
	}
	a->q_identity = q_identity;
	a->q_gzip = q_gzip;
	a->q_star = q_star;
	return;

malformed:
	a->malformed = 1;
}

/* RFC 9110 12.5.3: a coding listed with q=0 is not acceptable; one not
 * listed takes "*"'s q, if "*" is listed, and is not acceptable if not.
 * The spec (section 2) weighs identity only when it is listed: the body
 * is small JSON, gzip is always the smaller answer, so a tie goes to
 * gzip, and identity wins only with a strictly higher q.  When nothing
 * is acceptable, RFC 9110 12.5.3 allows either a 415-like refusal or
 * the identity form; the spec chose identity. */
enum negotiate_coding
negotiate_accept_choose(const struct negotiate_accept *a, int gzip_available)
{
	int q;

	if (!gzip_available || a->malformed || a->fields == 0)
		return NEGOTIATE_IDENTITY;
	q = a->q_gzip >= 0 ? a->q_gzip : a->q_star;
	if (q <= 0 || a->q_identity > q)
		return NEGOTIATE_IDENTITY;
	return NEGOTIATE_GZIP;
}

/* If-Match = "*" / #entity-tag (RFC 9110 13.1.1), If-None-Match the
 * same (13.1.2); entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (8.8.3),
 * "W/" case-sensitive (an ABNF %s"W/" there).  The tag is compared from
 * its opening to its closing quote, so W/"a" compares "\"a\"" with TAG.
 * Strong comparison: both tags strong and equal; weak: equal whatever
 * W/ (8.8.3.2).  The whole value is parsed even after a match, so that
 * garbage anywhere makes it -1: a value is well-formed or it is not,
 * whatever tag it is compared with.  An empty value is an empty list
 * (5.6.1 allows zero elements in #rule): 0, no match. */
int
negotiate_etag_match(const char *value, const char *tag, size_t tag_len,
                     int weak)
{
	const unsigned char *p = (const unsigned char *)(value != NULL ? value
	                                                               : "");
	int found = 0;

	while (is_ows(*p))
		p++;
	if (*p == '*') {
		for (p++; is_ows(*p); p++)
			;
		return *p == '\0' ? 1 : -1;
	}
	for (;;) {
		const unsigned char *open;
		int is_weak = 0;

		while (is_ows(*p))
			p++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\0')
			break;
		if (p[0] == 'W' && p[1] == '/') {
			is_weak = 1;
			p += 2;
		}
		if (*p != '"')
			return -1;
		for (open = p++; is_etagc(*p); p++)
			;
		if (*p != '"')
			return -1;
		p++;
		if (!found && (weak || !is_weak) &&
		    (size_t)(p - open) == tag_len &&
		    memcmp(open, tag, tag_len) == 0)
			found = 1;
		while (is_ows(*p))
			p++;
		if (*p != ',' && *p != '\0')
			return -1;
	}
	return found;
}

/* RFC 6454 5 and 7.1: origins compare as serialized, byte for byte; the
 * Fetch standard's CORS check (Access-Control-Allow-Origin) does the
 * same.  "null" (an opaque origin) is just a value here: no valid
 * configured origin equals it, and "*" matches it as any other. */
int
negotiate_origin_find(const char *o, const char *const *list, size_t n)
{
	size_t i;

	if (o == NULL || o[0] == '\0')
		return -1;
	for (i = 0; i < n; i++) {
		if (list[i] == NULL)
			continue;
		if ((list[i][0] == '*' && list[i][1] == '\0') ||
		    strcmp(list[i], o) == 0)
			return (int)i;
	}
	return -1;
}

/* Whether [P, END) is a dotted-quad IPv4 address as the WHATWG URL
 * standard serializes one: four decimal parts 0-255, no leading zero. */
static int
ipv4_canonical(const char *p, const char *end)
{
	int parts = 0;

	while (parts < 4) {
		int v = 0, digits = 0;

		for (; p < end && is_digit((unsigned char)*p); p++, digits++) {
			if (digits > 0 && v == 0)
				return 0;  /* a leading zero */
			v = v * 10 + (*p - '0');
			if (v > 255)
				return 0;
		}
		if (digits == 0)
			return 0;
		if (++parts < 4) {
			if (p == end || *p != '.')
				return 0;
			p++;
		}
	}
	return p == end;
}

/* The end of a host name at P (the first byte that is none of its), or
 * NULL: lowercase letters, digits, '-' and '.', non-empty labels, a
 * trailing '.' allowed (a browser keeps it in Origin).  A host whose
 * last label is a number (all digits, or "0x" and hex digits: the WHATWG
 * URL standard's "ends in a number") is an IPv4 address there, and must
 * be written as a browser writes it: anything else ("127.1", "0x7f.1",
 * "010.0.0.1", "1.2.3.4.") can never match. */
static const char *
host_end(const char *p)
{
	const char *start = p, *label = p, *last = p, *last_end = p;

	for (;; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || is_digit(c) || c == '-')
			continue;
		if (p == label) {  /* an empty label */
			if (c == '.' || p == start)
				return NULL;
			break;     /* a trailing '.' */
		}
		last = label;
		last_end = p;
		if (c != '.')
			break;
		label = p + 1;
	}
	{
		const char *q = last;
		int number = 1;

		if (last_end - last >= 2 && q[0] == '0' && q[1] == 'x') {
			for (q += 2; q < last_end; q++)
				if (!is_digit((unsigned char)*q) &&
				    !(*q >= 'a' && *q <= 'f'))
					number = 0;
		} else {
			for (; q < last_end; q++)
				if (!is_digit((unsigned char)*q))
					number = 0;
		}
		if (number && !ipv4_canonical(start, p))
			return NULL;
	}
	return p;
}

static int
hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c = ascii_lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The end of a bracketed IPv6 literal at P ('['), past its ']', or NULL
 * if it is not one, or not written as a browser writes it.  Parsed as
 * the WHATWG URL standard's IPv6 parser does (without the dotted-quad
 * tail, which its serializer never writes), then serialized as it does
 * (lowercase hex without leading zeros, the first longest run of two or
 * more zero pieces as "::"), and the two must be the same bytes. */
static const char *
ipv6_end(const char *p)
{
	static const char hex[] = "0123456789abcdef";
	unsigned pieces[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	int n = 0, compress = -1, i, best = -1, best_len = 1, run = 0;
	const char *q = p + 1;
	char canon[40];  /* 8 pieces of 4 digits, 7 colons, NUL */
	size_t len = 0;

	if (q[0] == ':') {
		if (q[1] != ':')
			return NULL;
		q += 2;
		compress = n = 1;
	}
	while (*q != ']') {
		unsigned v = 0;
		int digits = 0;

		if (*q == '\0' || n == 8)
			return NULL;
		if (*q == ':') {
			if (compress != -1)
				return NULL;
			q++;
			compress = ++n;
			continue;
		}
		for (; digits < 4 && hex_value((unsigned char)*q) >= 0;
		     q++, digits++)
			v = v * 16 + (unsigned)hex_value((unsigned char)*q);
		if (digits == 0)
			return NULL;
		pieces[n++] = v;
		if (*q == ':') {
			if (*++q == ']')
				return NULL;
		} else if (*q != ']') {
			return NULL;
		}
	}
	if (compress != -1) {
		int swaps = n - compress;

		for (n = 7; n != 0 && swaps > 0; n--, swaps--) {
			unsigned t = pieces[n];

			pieces[n] = pieces[compress + swaps - 1];
			pieces[compress + swaps - 1] = t;
		}
	} else if (n != 8) {
		return NULL;
	}

	for (i = 0; i < 8; i++) {
		run = pieces[i] == 0 ? run + 1 : 0;
		if (run > best_len) {
			best_len = run;
			best = i - run + 1;
		}
	}
	for (i = 0; i < 8; i++) {
		int shift;

		if (i == best) {
			canon[len++] = ':';
			if (i == 0)
				canon[len++] = ':';
			i += best_len - 1;
			continue;
		}
		for (shift = 12; shift > 0 && (pieces[i] >> shift) == 0;
		     shift -= 4)
			;
		for (; shift >= 0; shift -= 4)
			canon[len++] = hex[(pieces[i] >> shift) & 0xf];
		if (i != 7)
			canon[len++] = ':';
	}
	if ((size_t)(q - (p + 1)) != len || memcmp(p + 1, canon, len) != 0)
		return NULL;
	return q + 1;
}

/* See negotiate.h.  Only the start-up reads this: it is not on the
 * request path. */
int
negotiate_origin_valid(const char *s)
{
	const char *p;
	unsigned long default_port;

	if (s == NULL)
		return 0;
	if (s[0] == '*' && s[1] == '\0')
		return 1;
	if (strncmp(s, "http://", 7) == 0) {
		p = s + 7;
		default_port = 80;
	} else if (strncmp(s, "https://", 8) == 0) {
		p = s + 8;
		default_port = 443;
	} else {
		return 0;
	}
	p = *p == '[' ? ipv6_end(p) : host_end(p);
	if (p == NULL)
		return 0;
	if (*p == ':') {
		unsigned long port = 0;
		int digits;

		p++;
		if (*p < '1' || *p > '9')
			return 0;  /* no port, or a leading zero */
		for (digits = 0; is_digit((unsigned char)*p) && digits < 6;
		     p++, digits++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (port > 65535 || port == default_port)
			return 0;
	}
	return *p == '\0';
}
