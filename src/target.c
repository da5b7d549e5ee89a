/* target.c -- the request target as the routes see it: percent-decoding
 * and encoding, and the path of an absolute-form target. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "target.h"

/* Decode %HH escapes in the path and query like MHD's default, except
 * %00: a NUL would cut the path short (/v1/user%00x would route as
 * /v1/user), so it stays encoded and such a path matches no route. */
size_t
target_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	static const char digits[] = "0123456789abcdef";
	char *r = s, *w = s;

	(void)cls;
	(void)conn;
	while (*r != '\0') {
		const char *hi = r[0] == '%' && r[1] != '\0'
		                 ? strchr(digits, tolower((unsigned char)r[1]))
		                 : NULL;
		const char *lo = hi != NULL && r[2] != '\0'
		                 ? strchr(digits, tolower((unsigned char)r[2]))
		                 : NULL;

		if (lo != NULL && (hi != digits || lo != digits)) {
			*w++ = (char)((hi - digits) << 4 | (lo - digits));
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* The path of an absolute-form request target (RFC 9112 3.2.2:
 * "http://host:port/path", which a server must accept): what follows the
 * authority, or "/" if nothing does.  Other targets are returned as they
 * are.  The authority is not checked against Host: RFC 9112 3.2.2 says
 * the target's wins, and there is one site here. */
const char *
target_origin_form(const char *url)
{
	const char *p;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return url;
	p = strchr(p, '/');
	return p != NULL ? p : "/";
}

long
target_encode(char *out, size_t size, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t o = 0;

	for (p = (const unsigned char *)id; *p != '\0'; p++) {
		int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		           (*p >= '0' && *p <= '9') ||
		           strchr("-._~!$&'()*+,;=:@", *p) != NULL;

		if (o + (keep ? 1u : 3u) >= size) /* and the NUL */
			return -1;
		if (keep) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= size)
		return -1;
	out[o] = '\0';
	return (long)o;
}
