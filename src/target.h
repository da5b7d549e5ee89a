/* target.h -- the request target as the routes see it: percent-decoding
 * and the path of an absolute-form target.  Pure functions: any thread,
 * no allocation. */
#ifndef AVATAR_TARGET_H
#define AVATAR_TARGET_H

#include <stddef.h>

struct MHD_Connection;

/* libmicrohttpd's MHD_OPTION_UNESCAPE_CALLBACK: decode the %HH escapes
 * of S in place, like MHD's default, except %00, which stays encoded (a
 * NUL would cut the path short: /v1/user%00x would route as /v1/user).
 * Returns the new length.  CLS and CONN are not used. */
size_t target_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* The path of URL if it is an absolute-form target (RFC 9112 3.2.2,
 * "http://host:port/path", which a server must accept): what follows the
 * authority, or "/" if nothing does; any other target as it is.  The
 * authority is not checked against Host: RFC 9112 3.2.2 says the
 * target's wins, and there is one site here. */
const char *target_origin_form(const char *url);

/* Percent-encode the path segment ID into OUT (SIZE bytes, NUL-terminated):
 * RFC 3986's unreserved characters and sub-delims, ':' and '@' are kept,
 * every other byte is written %HH (upper-case hex), as Location carries a
 * record's id (routes.c) and the relay sends it upstream (relay.c).
 * Returns the encoded length, or -1 if it does not fit (OUT is then not
 * a string). */
long target_encode(char *out, size_t size, const char *id);

#endif
