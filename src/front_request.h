/* front_request.h -- the requests the relay's front end answers itself.
 *
 * front.c reads a client's bytes (through wire.c's check, so that their
 * framing is valid RFC 9112) and asks this parser whether they are
 * exactly one request it may answer without libmicrohttpd: "GET "
 * origin-form target " HTTP/1.1", CRLF line ends, no field but Host,
 * User-Agent and Accept (ignored) and one Accept-Encoding (forwarded),
 * and nothing after the empty line.  The target has only unreserved
 * characters and "/" (RFC 3986 2.3): nothing to decode, no query.
 * Anything else is libmicrohttpd's.  No allocation, no I/O; the buffer
 * is the caller's. */
#ifndef AVATAR_FRONT_REQUEST_H
#define AVATAR_FRONT_REQUEST_H

#include <stddef.h>

/* What front_request_parse found: pointers into the buffer. */
struct front_request {
	char *target;                 /* NUL-terminated */
	const char *accept_encoding;  /* NUL-terminated, without its
	                               * surrounding whitespace, or NULL */
	char *cut[2];                 /* where the NULs went (or NULL) */
	char was[2];                  /* and the bytes they replaced */
};

/* Parse the N bytes of BUF into *REQ if they are one request the front
 * end answers.  Writes NULs into BUF (front_request_restore takes them
 * out).  Returns 0, or -1 (BUF as it was: hand the bytes on). */
int front_request_parse(char *buf, size_t n, struct front_request *req);

/* Put back the bytes front_request_parse replaced with NULs. */
void front_request_restore(struct front_request *req);

#endif
