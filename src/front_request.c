/* front_request.c -- the requests the relay's front end answers itself:
 * a parser over one whole request head, no I/O (see front_request.h). */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "front_request.h"

void
front_request_restore(struct front_request *req)
{
	int i;

	for (i = 0; i < 2; i++)
		if (req->cut[i] != NULL)
			*req->cut[i] = req->was[i];
}

/* End a string at P, remembering the byte (slot I of REQ). */
static void
front_cut(struct front_request *req, int i, char *p)
{
	req->cut[i] = p;
	req->was[i] = *p;
	*p = '\0';
}

/* Non-zero for the bytes a target the front end takes may have:
 * unreserved characters and "/" (RFC 3986 2.3): nothing to decode, no
 * query. */
static int
target_byte(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
	       ch == '_' || ch == '~' || ch == '/';
}

/* What the front end does with a field named NAME (LEN bytes, any
 * case): ignores it (1), forwards it (2, Accept-Encoding), or not take
 * the request (0). */
static int
field_kind(const char *name, size_t len)
{
	static const char *const ignored[] = {"Host", "User-Agent", "Accept"};
	size_t i;

	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (len == strlen(ignored[i]) &&
		    strncasecmp(name, ignored[i], len) == 0)
			return 1;
	if (len == sizeof("Accept-Encoding") - 1 &&
	    strncasecmp(name, "Accept-Encoding", len) == 0)
		return 2;
	return 0;
}

int
front_request_parse(char *buf, size_t n, struct front_request *req)
{
	char *p = buf, *end = buf + n, *target_end, *value_end = NULL;

	req->accept_encoding = NULL;
	req->cut[0] = req->cut[1] = NULL;
	req->was[0] = req->was[1] = '\0';
	if (n < 5 || memcmp(p, "GET /", 5) != 0)
		return -1;
	p += 4;
	req->target = p;
	while (p < end && target_byte((unsigned char)*p))
		p++;
	if ((size_t)(end - p) < sizeof(" HTTP/1.1\r\n") - 1 ||
	    memcmp(p, " HTTP/1.1\r\n", sizeof(" HTTP/1.1\r\n") - 1) != 0)
		return -1;
	target_end = p;
	p += sizeof(" HTTP/1.1\r\n") - 1;
	for (;;) {
		char *line = p, *colon, *value, *eol;
		int kind;

		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL || eol == line || eol[-1] != '\r')
			return -1;
		if (eol == line + 1) { /* the empty line: the last bytes */
			if (eol + 1 != end)
				return -1;
			front_cut(req, 0, target_end);
			if (value_end != NULL)
				front_cut(req, 1, value_end);
			return 0;
		}
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL)
			return -1;
		kind = field_kind(line, (size_t)(colon - line));
		if (kind == 0 || (kind == 2 && req->accept_encoding != NULL))
			return -1;
		if (kind == 2) {
			char *last = eol - 1;

			value = colon + 1;
			while (value < last && (*value == ' ' || *value == '\t'))
				value++;
			while (last > value &&
			       (last[-1] == ' ' || last[-1] == '\t'))
				last--;
			value_end = last;
			req->accept_encoding = value;
		}
		p = eol + 1;
	}
}

