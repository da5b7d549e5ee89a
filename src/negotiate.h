/* negotiate.h -- what a request asks of an answer: conditional fields,
 * Accept-Encoding, Origin.
 *
 * Pure parsers of request field values (RFC 9110), run on the request
 * path once per field: each is one pass over the value's bytes, with no
 * allocation, no I/O, no locale (ASCII case folding by hand) and no
 * global state, so any thread may call any of them at any time.  Values
 * are NUL-terminated, as libmicrohttpd 0.9.75 gives them (it trims OWS at
 * both ends of a field value); a NULL value is taken as "".  Nothing is
 * kept past a call but what is written into a caller's struct. */
#ifndef AVATAR_NEGOTIATE_H
#define AVATAR_NEGOTIATE_H

#include <stddef.h>

/* The content codings the server may send. */
enum negotiate_coding { NEGOTIATE_IDENTITY, NEGOTIATE_GZIP, NEGOTIATE_CODINGS };

/* Accept-Encoding, accumulated over every field of that name (RFC 9110
 * 5.3: several fields are one list, in order).  Owned by the caller,
 * typically on its stack for one request. */
struct negotiate_accept {
	int fields;           /* fields seen */
	int malformed;        /* a field did not parse: identity is sent */
	short q_identity, q_gzip, q_star;  /* q * 1000, or -1 when not listed */
};

/* Start A afresh: no field seen, nothing listed. */
void negotiate_accept_init(struct negotiate_accept *a);

/* Add one Accept-Encoding field VALUE to A: #( codings [ weight ] ) with
 * codings case-insensitive, "x-gzip" taken as "gzip", unknown codings
 * (br, deflate, zstd...) accepted and ignored, and no parameter but q.
 * A coding listed twice keeps its last q.  A value that does not parse
 * sets A->malformed and changes nothing else but A->fields; an empty
 * value is an empty list (a field, nothing listed).  Adding the fields
 * of a list one by one gives A the q values the list gives as one field
 * when it parses, and sets malformed when it does not, either way. */
void negotiate_accept_field(struct negotiate_accept *a, const char *value);

/* The coding to send for A: NEGOTIATE_GZIP only if GZIP_AVAILABLE and A
 * asks for it (RFC 9110 12.5.3, as the README says: gzip or x-gzip
 * listed with q > 0, or "*" with q > 0 and gzip not listed, and identity
 * not listed with a higher q); else NEGOTIATE_IDENTITY, which is also the
 * answer when no field was seen, a field was malformed, or nothing
 * listed is acceptable. */
enum negotiate_coding negotiate_accept_choose(const struct negotiate_accept *a,
                                              int gzip_available);

/* Whether the entity-tag list of one If-Match / If-None-Match field VALUE
 * contains a tag matching TAG (TAG_LEN bytes, with its quotes, e.g.
 * "\"abc\"" -- our tags are always strong).  WEAK non-zero: weak
 * comparison (W/"abc" matches "abc", for If-None-Match); zero: strong
 * comparison (W/ tags never match, for If-Match).  "*" matches, only as
 * the whole value.  Returns 1 (match), 0 (no match, or an empty list) or
 * -1 (malformed anywhere in VALUE, even after a matching tag: the caller
 * decides; If-Match treats it as no match -> 412, If-None-Match ignores
 * the field).
 * Several fields of one name: -1 if any field gives -1, else 1 if any
 * gives 1, else 0.  That is the answer for the fields joined with ", ",
 * except that a field "*" then matches (joined, a "*" beside tags is
 * malformed; a "*" field beside others is a client's error either way). */
int negotiate_etag_match(const char *value, const char *tag, size_t tag_len,
                         int weak);

/* Whether origin O (an Origin field value) equals one of the N configured
 * origins LIST[i] byte for byte; "*" in the list matches any non-empty O.
 * An empty O matches nothing.  Returns the index in LIST of the match
 * (the first "*" or exact match), or -1. */
int negotiate_origin_find(const char *o, const char *const *list, size_t n);

/* Whether S is an acceptable --cors-origin value (avatar-api(8)):
 * "*", or an origin as a browser serializes it in Origin (RFC 6454 6.2),
 * which is the only form a byte-for-byte match can ever meet:
 * "http://" or "https://", then the host: lowercase letters, digits,
 * '-' and '.' in non-empty labels (a trailing '.' allowed), a host whose
 * last label is a number being a dotted-quad IPv4 address as the WHATWG
 * URL standard writes it (four decimal parts 0-255, no leading zeros),
 * or a bracketed IPv6 literal in its serialized form (lowercase, no
 * leading zeros, the first longest run of two or more zero pieces as
 * "::", no dotted quad); then optionally ':' and a port 1-65535 without
 * leading zeros, other than the scheme's default (80 for http, 443 for
 * https: a browser leaves it out); nothing after (no path, query,
 * fragment, userinfo or trailing slash).  Returns 1 or 0. */
int negotiate_origin_valid(const char *s);

#endif
