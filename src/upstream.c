/* upstream.c -- the relay's HTTP/1.1 client parts: URL, request, head, body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upstream.h"

int
upstream_url_parse(const char *url, struct upstream_url *u,
                   struct error *err)
{
	const char *p, *host, *end, *colon = NULL;
	size_t hlen, plen = 0, i;

	if (strncasecmp(url, "https://", 8) == 0) {
		error_set(err, EXIT_USAGE, "upstream '%.64s': https:// is not "
		          "supported (the relay speaks plain http:// only)", url);
		return -1;
	}
	if (strncasecmp(url, "http://", 7) != 0)
		goto bad;
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			goto bad;
	host = url + 7;
	end = host + strcspn(host, "/?#");
	u->authority = host;
	u->host_header = (size_t)(end - host);
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (close == NULL || close == host + 1)
			goto bad;
		hlen = (size_t)(close - host - 1);
		host++;
		if (close + 1 < end) {
			if (close[1] != ':')
				goto bad;
			colon = close + 1;
		}
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		hlen = (size_t)((colon != NULL ? colon : end) - host);
		if (memchr(host, '@', (size_t)(end - host)) != NULL)
			goto bad; /* no user info */
	}
	if (hlen == 0 || hlen >= sizeof(u->host))
		goto bad;
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';
	if (colon != NULL) {
		unsigned long port = 0;

		plen = (size_t)(end - colon - 1);
		if (plen == 0 || plen > 5)
			goto bad;
		for (i = 0; i < plen; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				goto bad;
			port = port * 10 + (unsigned long)(colon[1 + i] - '0');
		}
		if (port == 0 || port > 65535)
			goto bad;
		memcpy(u->port, colon + 1, plen);
		u->port[plen] = '\0';
	} else {
		memcpy(u->port, "80", 3);
	}
	/* The fragment, if any, is the caller's: upstream_request cuts it. */
	u->path = *end == '/' ? end : "/";
	if (*end == '?')
		u->path = NULL; /* "http://h?q": the caller prefixes "/" */
	return 0;

bad:
	error_set(err, EXIT_USAGE, "upstream '%.64s': invalid URL (expected "
	          "http://HOST[:PORT][/PATH])", url);
	return -1;
}

char *
upstream_request(const char *url, const struct upstream_url *u, size_t *len)
{
	const char *path = u->path != NULL ? u->path
	                   : url + 7 + u->host_header; /* "?query" */
	size_t plen = strcspn(path, "#");
	char *request;
	int n;

	n = snprintf(NULL, 0, "GET %s%.*s HTTP/1.1\r\nHost: %.*s\r\n"
	             "Accept: application/json\r\nUser-Agent: avatar-api/%s"
	             "\r\n\r\n", u->path != NULL ? "" : "/", (int)plen, path,
	             (int)u->host_header, u->authority, PACKAGE_VERSION);
	request = malloc((size_t)n + 1);
	if (request == NULL)
		return NULL;
	snprintf(request, (size_t)n + 1, "GET %s%.*s HTTP/1.1\r\n"
	         "Host: %.*s\r\nAccept: application/json\r\n"
	         "User-Agent: avatar-api/%s\r\n\r\n",
	         u->path != NULL ? "" : "/", (int)plen, path,
	         (int)u->host_header, u->authority, PACKAGE_VERSION);
	*len = (size_t)n;
	return request;
}

/* A header name character (RFC 9110 token). */
static int
token_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

/* NAME (LEN bytes) is the header WANT, ignoring case. */
static int
name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* A comma-separated VALUE (LEN bytes) holds the token WORD. */
static int
has_token(const char *v, size_t len, const char *word)
{
	size_t i = 0, n = strlen(word);

	while (i < len) {
		size_t start, stop;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		stop = i;
		while (stop > start && (v[stop - 1] == ' ' || v[stop - 1] == '\t'))
			stop--;
		if (stop - start == n && strncasecmp(v + start, word, n) == 0)
			return 1;
	}
	return 0;
}

/* Parse a Content-Length value into *LEN (saturating far above any cap). */
static int
parse_length(const char *v, size_t len, unsigned long long *out)
{
	unsigned long long n = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (n < (1ull << 60))
			n = n * 10 + (unsigned long long)(v[i] - '0');
	}
	*out = n;
	return 0;
}

/* The status line "HTTP/1.D SSS[ reason]" (LEN bytes, no line end). */
static int
parse_status(const char *s, size_t len, struct upstream_head *h)
{
	if (len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' ||
	    s[7] > '9' || s[8] != ' ' || s[9] < '1' || s[9] > '5' ||
	    s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
	    (len > 12 && s[12] != ' '))
		return -1;
	h->minor = (unsigned)(s[7] - '0');
	h->status = (unsigned)((s[9] - '0') * 100 + (s[10] - '0') * 10 +
	                       (s[11] - '0'));
	return 0;
}

/* One header line (LEN bytes, no line end) into H.  *SEEN_LENGTH says a
 * Content-Length came before. */
static int
parse_header(const char *s, size_t len, struct upstream_head *h,
             int *seen_length, int *chunked, int *seen_coding)
{
	const char *colon = memchr(s, ':', len), *v;
	size_t nlen, vlen, i;

	if (colon == NULL || colon == s)
		return -1;
	nlen = (size_t)(colon - s);
	for (i = 0; i < nlen; i++)
		if (!token_char((unsigned char)s[i]))
			return -1; /* also a space before the colon */
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (i = 0; i < vlen; i++)
		if ((unsigned char)v[i] < ' ' && v[i] != '\t')
			return -1;
	if (name_is(s, nlen, "content-length")) {
		unsigned long long n;

		if (parse_length(v, vlen, &n) < 0 ||
		    (*seen_length && n != h->length))
			return -1;
		h->length = n;
		*seen_length = 1;
	} else if (name_is(s, nlen, "transfer-encoding")) {
		if (*chunked || vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
			return -1; /* gzip, "chunked, chunked", ...: not ours */
		*chunked = 1;
	} else if (name_is(s, nlen, "connection")) {
		if (has_token(v, vlen, "close"))
			h->close = 1;
	} else if (name_is(s, nlen, "content-type")) {
		if (h->type == NULL) {
			h->type = v;
			h->type_len = vlen;
		}
	} else if (name_is(s, nlen, "etag")) {
		if (h->etag == NULL) {
			h->etag = v;
			h->etag_len = vlen;
		}
	} else if (name_is(s, nlen, "content-encoding")) {
		if (*seen_coding)
			return -1;
		*seen_coding = 1;
		h->coding = v;
		h->coding_len = vlen;
	}
	return 0;
}

int
upstream_head_parse(const char *buf, size_t n, size_t *scan,
                    struct upstream_head *h)
{
	const char *line, *end, *nl;
	size_t i = *scan, size = 0;
	int seen_length = 0, chunked = 0, seen_coding = 0;

	/* Find the blank line: LF then LF, or LF CR LF. */
	for (; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < n && buf[i + 1] == '\n') {
			size = i + 2;
			break;
		}
		if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
			size = i + 3;
			break;
		}
		if (i + 2 >= n)
			break; /* look again from this LF with more bytes */
	}
	if (size == 0) {
		*scan = i;
		return 0;
	}
	memset(h, 0, sizeof(*h));
	h->size = size;
	end = buf + size;
	for (line = buf; line < end; line = nl + 1) {
		size_t len;

		nl = memchr(line, '\n', (size_t)(end - line));
		len = (size_t)(nl - line);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (memchr(line, '\r', len) != NULL ||
		    memchr(line, '\0', len) != NULL)
			return -1;
		if (line == buf) {
			if (parse_status(line, len, h) < 0)
				return -1;
		} else if (len == 0) {
			break; /* the blank line */
		} else if (line[0] == ' ' || line[0] == '\t' || /* a fold */
		           parse_header(line, len, h, &seen_length,
		                        &chunked, &seen_coding) < 0) {
			return -1;
		}
	}
	/* A 101 switches to another protocol, which the relay never asks
	 * for (no Upgrade): what follows is not an answer it can read.
	 * Other 1xx are left to the caller to skip (RFC 9110 15.2: a client
	 * must parse unexpected 1xx; 103 Early Hints is real). */
	if (h->status == 101)
		return -1;
	/* Both: RFC 9112 6.3 lets chunked win but says the message "ought
	 * to be handled as an error" (smuggling, response splitting); nginx
	 * refuses it from an upstream too.  Where this answer ends would be
	 * a guess, so nothing after it could be trusted. */
	if (chunked && seen_length)
		return -1;
	h->declared = h->length;
	if (h->minor == 0)
		h->close = 1; /* no keep-alive with HTTP/1.0 */
	if (h->status >= 100 && h->status < 200) {
		h->framing = UPSTREAM_LENGTH;
		h->length = 0;
	} else if (h->status == 204 || h->status == 304) {
		/* No body by their status, whatever the head says (RFC 9112
		 * 6.3): an upstream that sends one anyway (a Content-Length it
		 * means, a late write) would have it read as the next request's
		 * answer.  A 204 has no JSON body: an error, and closing costs
		 * one connect on an error path.  A 304 is left to the caller: an
		 * error too after an unconditional request, but the answer to a
		 * revalidation (If-None-Match) otherwise, as common as the 200
		 * under caching clients, whose connection is worth keeping; its
		 * Content-Length, if any, is the 200's size (RFC 9110 8.6), as
		 * avatar-api sends it, not a body to come. */
		h->framing = UPSTREAM_LENGTH;
		h->length = 0;
		if (h->status == 204)
			h->close = 1;
	} else if (chunked) {
		h->framing = UPSTREAM_CHUNKED;
	} else if (seen_length) {
		h->framing = UPSTREAM_LENGTH;
	} else {
		h->framing = UPSTREAM_CLOSE;
		h->close = 1;
	}
	return 1;
}

/* Decoder states. */
enum {
	CH_SIZE0,     /* the first hex digit of a size */
	CH_SIZE,      /* more hex digits */
	CH_SIZE_WS,   /* blanks after the size: only ; or the line end next */
	CH_EXT,       /* a chunk extension, up to the line end */
	CH_SIZE_LF,   /* CR seen after the size line */
	CH_DATA,
	CH_DATA_CR,   /* the CRLF after a chunk's data */
	CH_DATA_LF,
	CH_TRAILER0,  /* the start of a trailer line, or the final CRLF */
	CH_TRAILER,   /* inside a trailer line */
	CH_TRAILER_LF,/* CR seen at the start of a line: the end */
	CH_DONE
};

/* A size line longer than this (hex digits and extensions) is refused. */
#define CHUNK_LINE_MAX 1024u

void
upstream_chunks_init(struct upstream_chunks *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE0;
}

static int
hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The size line ended: data next, or the trailers after the last chunk. */
static int
chunk_size_done(struct upstream_chunks *c, unsigned long long limit)
{
	c->line = 0;
	if (c->left == 0) {
		c->state = CH_TRAILER0;
		return 0;
	}
	if (c->left > limit)
		return -2;
	c->state = CH_DATA;
	return 0;
}

int
upstream_chunks_decode(struct upstream_chunks *c, char *buf, size_t n,
                       unsigned long long limit, size_t *out, size_t *used)
{
	size_t i = 0, o = 0;
	int rc = 0, d;

	while (i < n && c->state != CH_DONE && rc == 0) {
		char ch = buf[i];

		if (c->state == CH_DATA) {
			size_t take = n - i;

			if (take > c->left)
				take = (size_t)c->left;
			if (o != i)
				memmove(buf + o, buf + i, take);
			o += take;
			i += take;
			limit -= take;
			c->left -= take;
			if (c->left == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		i++;
		if (c->state != CH_DATA_CR && c->state != CH_DATA_LF &&
		    ++c->line > CHUNK_LINE_MAX) {
			rc = -1;
			break;
		}
		switch (c->state) {
		case CH_SIZE0:
		case CH_SIZE:
			d = hex_value(ch);
			if (d >= 0) {
				if (c->left >> 56 != 0)
					rc = -1; /* over 2^60: no real chunk */
				c->left = c->left * 16 + (unsigned)d;
				c->state = CH_SIZE;
			} else if (c->state == CH_SIZE) {
				if (ch == ';')
					c->state = CH_EXT;
				else if (ch == ' ' || ch == '\t')
					c->state = CH_SIZE_WS;
				else if (ch == '\r')
					c->state = CH_SIZE_LF;
				else if (ch == '\n')
					rc = chunk_size_done(c, limit);
				else
					rc = -1;
			} else {
				rc = -1; /* no digit */
			}
			break;
		case CH_SIZE_WS:
			/* RFC 9112 7.1 allows blanks (BWS) before a ";": a digit
			 * after them ("2 0") is 2 to one parser and 0x20 to
			 * another, so it is refused.  Blanks before the line end
			 * are tolerated, as before. */
			if (ch == ';')
				c->state = CH_EXT;
			else if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				rc = chunk_size_done(c, limit);
			else if (ch != ' ' && ch != '\t')
				rc = -1;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				rc = chunk_size_done(c, limit);
			else if ((unsigned char)ch < ' ' && ch != '\t')
				rc = -1;
			break;
		case CH_SIZE_LF:
			rc = ch == '\n' ? chunk_size_done(c, limit) : -1;
			break;
		case CH_DATA_CR:
			if (ch == '\r')
				c->state = CH_DATA_LF;
			else if (ch == '\n')
				c->state = CH_SIZE0;
			else
				rc = -1;
			c->line = 0;
			break;
		case CH_DATA_LF:
			if (ch == '\n')
				c->state = CH_SIZE0;
			else
				rc = -1;
			break;
		case CH_TRAILER0:
			if (ch == '\r')
				c->state = CH_TRAILER_LF;
			else if (ch == '\n')
				c->state = CH_DONE;
			else
				c->state = CH_TRAILER;
			break;
		case CH_TRAILER:
			if (ch == '\n') {
				c->trailers += c->line;
				c->line = 0;
				c->state = CH_TRAILER0;
				if (c->trailers > UPSTREAM_HEAD_MAX)
					rc = -1;
			}
			break;
		case CH_TRAILER_LF:
			if (ch == '\n')
				c->state = CH_DONE;
			else
				rc = -1;
			break;
		default:
			rc = -1;
			break;
		}
	}
	*out = o;
	*used = i;
	if (rc != 0)
		return rc;
	return c->state == CH_DONE;
}

int
upstream_json_type(const char *t, size_t len)
{
	size_t n = 0;

	if (t == NULL)
		return 0;
	while (n < len && t[n] != ';' && t[n] != ' ' && t[n] != '\t')
		n++;
	if (n == 16 && strncasecmp(t, "application/json", 16) == 0)
		return 1;
	return n > 17 && strncasecmp(t, "application/", 12) == 0 &&
	       strncasecmp(t + n - 5, "+json", 5) == 0;
}

int
upstream_etag(const char *v, size_t len, size_t max)
{
	size_t i = 0;

	if (v == NULL || len > max)
		return 0;
	if (len >= 2 && v[0] == 'W' && v[1] == '/')
		i = 2;
	if (len < i + 2 || v[i] != '"' || v[len - 1] != '"')
		return 0;
	/* etagc: %x21 / %x23-7E (obs-text refused: it is passed back) */
	for (i++; i < len - 1; i++)
		if ((unsigned char)v[i] <= ' ' || v[i] == '"' ||
		    (unsigned char)v[i] >= 0x7f)
			return 0;
	return 1;
}

int
upstream_coding(const char *v, size_t len)
{
	size_t i = 0, n = 0;

	if (v == NULL || len == 0) /* an empty list: no coding */
		return 0;
	if (len == 8 && strncasecmp(v, "identity", 8) == 0)
		return 0;
	/* 1#token: elements separated by a comma and optional blanks. */
	while (i < len) {
		size_t start = i;

		while (i < len && token_char((unsigned char)v[i]))
			i++;
		if (i == start)
			return -1;
		n++;
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (v[i] != ',')
			return -1;
		for (i++; i < len && (v[i] == ' ' || v[i] == '\t'); i++)
			;
		if (i == len)
			return -1;
	}
	return n > 0 ? 1 : -1;
}

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
upstream_json_body(const char *b, size_t n)
{
	size_t first = 0, last = n;

	while (first < n && blank(b[first]))
		first++;
	while (last > first && blank(b[last - 1]))
		last--;
	if (last < first + 2)
		return 0;
	return (b[first] == '{' && b[last - 1] == '}') ||
	       (b[first] == '[' && b[last - 1] == ']');
}
