/* check_upstream.c -- unit tests for upstream.c: URL, request, head, body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "target.h"
#include "upstream.h"
#include "testutil.h"

/* ---- URLs ---- */

static const struct {
	const char *url, *host, *port, *path, *authority;
} good_urls[] = {
	{"http://127.0.0.1", "127.0.0.1", "80", "/", "127.0.0.1"},
	{"http://m2:3000/v1/avatar", "m2", "3000", "/v1/avatar", "m2:3000"},
	{"HTTP://m2.example/a/b?x=1", "m2.example", "80", "/a/b?x=1",
	 "m2.example"},
	{"http://[::1]:8080/x", "::1", "8080", "/x", "[::1]:8080"},
	{"http://[::1]", "::1", "80", "/", "[::1]"},
	{"http://h:1/#frag", "h", "1", "/#frag", "h:1"},
	{"http://h:65535?q", "h", "65535", NULL, "h:65535"},
};

START_TEST(test_url_good)
{
	struct upstream_url u;
	struct error err = {0, ""};

	ck_assert_int_eq(upstream_url_parse(good_urls[_i].url, &u, &err), 0);
	ck_assert_str_eq(u.host, good_urls[_i].host);
	ck_assert_str_eq(u.port, good_urls[_i].port);
	if (good_urls[_i].path == NULL)
		ck_assert_ptr_null(u.path);
	else
		ck_assert_str_eq(u.path, good_urls[_i].path);
	ck_assert_uint_eq(u.host_header, strlen(good_urls[_i].authority));
	ck_assert(memcmp(u.authority, good_urls[_i].authority,
	                 u.host_header) == 0);
}
END_TEST

static const char *const bad_urls[] = {
	"ftp://h/", "http://", "http:///x", "http://h:/x", "http://h:0/",
	"http://h:65536/", "http://h:12a/", "http://u@h/", "http://[::1/",
	"http://[]/", "http://[::1]x/", "http://h/a b", "h:80",
	"http://h:123456/",
};

START_TEST(test_url_bad)
{
	struct upstream_url u;
	struct error err = {0, ""};

	ck_assert_int_eq(upstream_url_parse(bad_urls[_i], &u, &err), -1);
	ck_assert_int_eq(err.code, EXIT_USAGE);
	ck_assert_msg(strstr(err.text, "invalid URL (expected "
	                     "http://HOST[:PORT][/PATH])") != NULL, "%s",
	              err.text);
}
END_TEST

START_TEST(test_url_https_refused)
{
	struct upstream_url u;
	struct error err = {0, ""};

	ck_assert_int_eq(upstream_url_parse("https://m2.example/v1/avatar",
	                                    &u, &err), -1);
	ck_assert_int_eq(err.code, EXIT_USAGE);
	ck_assert_str_eq(err.text, "upstream 'https://m2.example/v1/avatar': "
	                 "https:// is not supported (the relay speaks plain "
	                 "http:// only)");
}
END_TEST

/* ---- the request ---- */

static const struct {
	const char *url, *line, *host;
} requests[] = {
	{"http://m2:3000/v1/avatar", "GET /v1/avatar HTTP/1.1", "m2:3000"},
	{"http://127.0.0.1", "GET / HTTP/1.1", "127.0.0.1"},
	{"http://h:1/a?x=1#frag", "GET /a?x=1 HTTP/1.1", "h:1"},
	{"http://h:65535?q#f", "GET /?q HTTP/1.1", "h:65535"},
	{"http://[::1]:8080/x", "GET /x HTTP/1.1", "[::1]:8080"},
};

START_TEST(test_request_text)
{
	struct upstream_url u;
	struct error err = {0, ""};
	char want[512];
	size_t len = 0;
	char *req;

	ck_assert_int_eq(upstream_url_parse(requests[_i].url, &u, &err), 0);
	req = upstream_request(requests[_i].url, &u, &len);
	ck_assert_ptr_nonnull(req);
	snprintf(want, sizeof(want), "%s\r\nHost: %s\r\nAccept: "
	         "application/json\r\nUser-Agent: avatar-api/%s\r\n\r\n",
	         requests[_i].line, requests[_i].host, PACKAGE_VERSION);
	ck_assert_str_eq(req, want);
	ck_assert_uint_eq(len, strlen(want));
	free(req);
}
END_TEST

/* ---- JSON checks ---- */

START_TEST(test_json_type)
{
	static const char *const yes[] = {
		"application/json", "APPLICATION/JSON",
		"application/json; charset=utf-8", "application/json\t;x",
		"application/problem+json", "application/vnd.x+JSON; a=b"};
	static const char *const no[] = {
		"", "text/json", "application/jsonx", "application/+json",
		"application/json5", "text/plain+json", "application/xml"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(upstream_json_type(yes[i], strlen(yes[i])), "%s",
		              yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!upstream_json_type(no[i], strlen(no[i])), "%s",
		              no[i]);
	ck_assert(!upstream_json_type(NULL, 0));
	/* Only LEN bytes count. */
	ck_assert(upstream_json_type("application/jsonXYZ", 16));
}
END_TEST

START_TEST(test_json_body)
{
	static const char *const yes[] = {
		"{}", "[]", " {\"a\":1}\r\n", "\t[1,2]\n", "{x}", "[}]"};
	static const char *const no[] = {
		"", " ", "{", "}", "[", "{]", "[}", "1", "\"s\"", "null",
		"x{}", "{}x"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(upstream_json_body(yes[i], strlen(yes[i])), "%s",
		              yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!upstream_json_body(no[i], strlen(no[i])), "%s",
		              no[i]);
}
END_TEST

/* ---- response heads ---- */

/* Parse all of S (a head, maybe with a body after) in one call. */
static int
parse(const char *s, struct upstream_head *h)
{
	size_t scan = 0;

	return upstream_head_parse(s, strlen(s), &scan, h);
}

START_TEST(test_head_content_length)
{
	static const char s[] = "HTTP/1.1 200 OK\r\ncOnTeNt-TyPe:  "
	        "application/json; charset=utf-8 \r\ncontent-LENGTH: 2\r\n"
	        "X-Other: a:b\r\n\r\n[]";
	struct upstream_head h;

	ck_assert_int_eq(parse(s, &h), 1);
	ck_assert_uint_eq(h.status, 200);
	ck_assert_uint_eq(h.minor, 1);
	ck_assert_int_eq(h.framing, UPSTREAM_LENGTH);
	ck_assert_uint_eq(h.length, 2);
	ck_assert_int_eq(h.close, 0);
	ck_assert_uint_eq(h.size, strlen(s) - 2);
	ck_assert_uint_eq(h.type_len, strlen("application/json; charset=utf-8"));
	ck_assert(memcmp(h.type, "application/json; charset=utf-8",
	                 h.type_len) == 0);
	ck_assert_ptr_null(h.etag);
	ck_assert_ptr_null(h.coding);
}
END_TEST

/* ETag and Content-Encoding: found whatever the case, blanks trimmed,
 * the first ETag kept; two Content-Encoding fields are refused. */
START_TEST(test_head_validators)
{
	static const char s[] = "HTTP/1.1 200 OK\r\neTaG:  W/\"a-b\" \r\n"
	        "Content-Type: application/json\r\nContent-ENCODING:\tgzip \r\n"
	        "ETag: \"second\"\r\nContent-Length: 2\r\n\r\n[]";
	struct upstream_head h;

	ck_assert_int_eq(parse(s, &h), 1);
	ck_assert_uint_eq(h.etag_len, 7);
	ck_assert(memcmp(h.etag, "W/\"a-b\"", 7) == 0);
	ck_assert_uint_eq(h.coding_len, 4);
	ck_assert(memcmp(h.coding, "gzip", 4) == 0);
	ck_assert_uint_eq(h.type_len, 16);
	/* An empty value is there, with no bytes. */
	ck_assert_int_eq(parse("HTTP/1.1 304 Not Modified\r\nETag:\r\n"
	                       "Content-Encoding: \r\n\r\n", &h), 1);
	ck_assert_ptr_nonnull(h.etag);
	ck_assert_uint_eq(h.etag_len, 0);
	ck_assert_ptr_nonnull(h.coding);
	ck_assert_uint_eq(h.coding_len, 0);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
	                       "Content-Encoding: gzip\r\n\r\n", &h), -1);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
	                       "content-encoding: br\r\n\r\n", &h), -1);
}
END_TEST

START_TEST(test_etag_check)
{
	static const char *const yes[] = {
		"\"\"", "\"0123456789abcdef\"", "\"0123456789abcdef-gz\"",
		"W/\"x\"", "\"!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\""};
	static const char *const no[] = {
		"", "x", "\"", "W/", "W/\"", "w/\"x\"", "\"a\"b\"", "\"a b\"",
		"\"a\tb\"", "'x'", "\"x\" ", " \"x\"", "\"x\"\"", "W/x",
		"\"\x80\""};
	char big[600];
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(upstream_etag(yes[i], strlen(yes[i]), 512), "%s",
		              yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!upstream_etag(no[i], strlen(no[i]), 512), "%s",
		              no[i]);
	ck_assert(!upstream_etag(NULL, 0, 512));
	/* At most MAX bytes. */
	memset(big, 'a', sizeof(big));
	big[0] = '"';
	big[511] = '"';
	ck_assert(upstream_etag(big, 512, 512));
	big[511] = 'a';
	big[512] = '"';
	ck_assert(!upstream_etag(big, 513, 512));
	/* Only LEN bytes count. */
	ck_assert(upstream_etag("\"x\"yz", 3, 512));
}
END_TEST

START_TEST(test_coding_check)
{
	static const char *const none[] = {"", "identity", "IDENTITY"};
	static const char *const yes[] = {
		"gzip", "GZIP", "x-gzip", "br", "br, gzip", "deflate,gzip",
		"gzip ,\tbr", "gzip "};
	static const char *const bad[] = {
		",", "gzip,", ", gzip", "gzip,,br", "gzip br", "gzip;q=1",
		"\"gzip\"", "gz/ip", " ", "gzip, "};
	size_t i;

	ck_assert_int_eq(upstream_coding(NULL, 0), 0);
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		ck_assert_msg(upstream_coding(none[i], strlen(none[i])) == 0,
		              "%s", none[i]);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(upstream_coding(yes[i], strlen(yes[i])) == 1,
		              "%s", yes[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(upstream_coding(bad[i], strlen(bad[i])) == -1,
		              "%s", bad[i]);
	/* Only LEN bytes count. */
	ck_assert_int_eq(upstream_coding("identityX", 8), 0);
	ck_assert_int_eq(upstream_coding("gzip;q=1", 4), 1);
}
END_TEST

START_TEST(test_head_kinds)
{
	struct upstream_head h;

	/* Chunked, whatever the case. */
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	                       "Chunked\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.framing, UPSTREAM_CHUNKED);
	ck_assert_int_eq(h.close, 0);
	/* HTTP/1.0 without a length: until the close. */
	ck_assert_int_eq(parse("HTTP/1.0 200 OK\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.framing, UPSTREAM_CLOSE);
	ck_assert_int_eq(h.close, 1);
	ck_assert_uint_eq(h.minor, 0);
	ck_assert_ptr_null(h.type);
	/* HTTP/1.0 with a length: that, then the close. */
	ck_assert_int_eq(parse("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n"
	                       "Connection: keep-alive\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.framing, UPSTREAM_LENGTH);
	ck_assert_int_eq(h.close, 1);
	/* HTTP/1.1 without a length either. */
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.framing, UPSTREAM_CLOSE);
	/* Connection: close among other tokens. */
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	                       "Connection: Upgrade , CLOSE\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.close, 1);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	                       "Connection: closed\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.close, 0);
	/* No body for 204 and 304 whatever the headers say, and where
	 * they end is the status's word only: never reused. */
	ck_assert_int_eq(parse("HTTP/1.1 204 No Content\r\nContent-Length: 9"
	                       "\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.framing, UPSTREAM_LENGTH);
	ck_assert_uint_eq(h.length, 0);
	ck_assert_int_eq(h.close, 1);
	ck_assert_int_eq(parse("HTTP/1.1 204 No Content\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.close, 1);
	/* A 304's end is its head (RFC 9112 6.3): its Content-Length, the
	 * 200's size, is kept apart; whether to reuse the connection is
	 * the caller's (upconn.c: after a 304 it asked for). */
	ck_assert_int_eq(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: "
	                       "85\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.framing, UPSTREAM_LENGTH);
	ck_assert_uint_eq(h.length, 0);
	ck_assert_uint_eq(h.declared, 85);
	ck_assert_int_eq(h.close, 0);
	ck_assert_int_eq(parse("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: "
	                       "chunked\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.framing, UPSTREAM_LENGTH);
	ck_assert_uint_eq(h.length, 0);
	ck_assert_uint_eq(h.declared, 0);
	ck_assert_int_eq(parse("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n"
	                       "\r\n", &h), 1);
	ck_assert_uint_eq(h.length, 0);
	ck_assert_int_eq(h.close, 0);
	ck_assert_int_eq(parse("HTTP/1.1 304 Not Modified\r\nConnection: "
	                       "close\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.close, 1);
	ck_assert_int_eq(parse("HTTP/1.0 304 Not Modified\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.close, 1);
	ck_assert_int_eq(parse("HTTP/1.1 204 No Content\r\nContent-Length: 0"
	                       "\r\n\r\n", &h), 1);
	ck_assert_int_eq(h.close, 1);
	/* The declared length of any answer. */
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
	                       "\r\n", &h), 1);
	ck_assert_uint_eq(h.declared, 7);
	/* An interim answer, and no reason phrase. */
	ck_assert_int_eq(parse("HTTP/1.1 100\r\n\r\n", &h), 1);
	ck_assert_uint_eq(h.status, 100);
	ck_assert_int_eq(h.close, 0);
	/* Early hints and other 1xx but 101 parse, for the caller to skip. */
	ck_assert_int_eq(parse("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; "
	                       "rel=preload\r\n\r\n", &h), 1);
	ck_assert_uint_eq(h.status, 103);
	ck_assert_int_eq(h.framing, UPSTREAM_LENGTH);
	ck_assert_uint_eq(h.length, 0);
	ck_assert_int_eq(h.close, 0);
	/* Bare LF line ends. */
	ck_assert_int_eq(parse("HTTP/1.1 502 Bad Gateway\nContent-Length: 4\n"
	                       "\nbody", &h), 1);
	ck_assert_uint_eq(h.status, 502);
	ck_assert_uint_eq(h.length, 4);
	ck_assert_uint_eq(h.size, strlen("HTTP/1.1 502 Bad Gateway\n"
	                                 "Content-Length: 4\n\n"));
	/* The same length twice is fine; a huge one saturates. */
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
	                       "Content-Length: 7\r\n\r\n", &h), 1);
	ck_assert_uint_eq(h.length, 7);
	ck_assert_int_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: "
	                       "99999999999999999999999999\r\n\r\n", &h), 1);
	ck_assert(h.length > (1ull << 40));
}
END_TEST

static const char *const bad_heads[] = {
	"garbage\r\n\r\n",
	"HTTP/2 200 OK\r\n\r\n",
	"HTTP/1.1 20 OK\r\n\r\n",
	"HTTP/1.1 2000 OK\r\n\r\n",
	"HTTP/1.1 600 OK\r\n\r\n",
	"HTTP/1.1 099 OK\r\n\r\n",
	"HTTP/1.1 200OK\r\n\r\n",
	"http/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
	"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n folded\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n"),
	"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: a\001b\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX Y: z\r\n\r\n",
	"\r\n\r\n",
	/* An upgrade the relay never asked for. */
	("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	 "Upgrade: websocket\r\n\r\n"),
	"HTTP/1.1 101\r\n\r\n",
	/* Both framings, in either order, even for a bodiless status. */
	("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n"),
	("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	 "Content-Length: 5\r\n\r\n"),
	("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n"
	 "Content-Length: 0\r\n\r\n"),
};

START_TEST(test_head_bad)
{
	struct upstream_head h;

	ck_assert_msg(parse(bad_heads[_i], &h) == -1, "accepted: %s",
	              bad_heads[_i]);
}
END_TEST

/* The head split at every byte: 0 until the last byte, then the same
 * result as in one piece, with the scan resumed each time. */
START_TEST(test_head_split)
{
	static const char s[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nETag: \"0123456789abcdef-gz\"\r\n"
	        "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
	        "Connection: close\r\n\r\n5\r\n[1,2]\r\n0\r\n\r\n";
	size_t n, scan = 0, whole;
	struct upstream_head h, one;

	ck_assert_int_eq(parse(s, &one), 1);
	whole = one.size;
	for (n = 0; n < whole; n++)
		ck_assert_msg(upstream_head_parse(s, n, &scan, &h) == 0,
		              "complete at %zu bytes", n);
	ck_assert_int_eq(upstream_head_parse(s, whole, &scan, &h), 1);
	ck_assert_uint_eq(h.size, one.size);
	ck_assert_int_eq(h.framing, UPSTREAM_CHUNKED);
	ck_assert_int_eq(h.close, 1);
	ck_assert_uint_eq(h.type_len, 16);
	ck_assert_ptr_eq(h.etag, one.etag);
	ck_assert_uint_eq(h.etag_len, 21);
	ck_assert(memcmp(h.etag, "\"0123456789abcdef-gz\"", 21) == 0);
	ck_assert_ptr_eq(h.coding, one.coding);
	ck_assert_uint_eq(h.coding_len, 4);
	ck_assert(memcmp(h.coding, "gzip", 4) == 0);
	/* Bare LFs split between the two line ends. */
	scan = 0;
	ck_assert_int_eq(upstream_head_parse("HTTP/1.1 200 OK\n", 16, &scan,
	                                     &h), 0);
	ck_assert_int_eq(upstream_head_parse("HTTP/1.1 200 OK\n\n", 17, &scan,
	                                     &h), 1);
	ck_assert_uint_eq(h.size, 17);
}
END_TEST

/* ---- chunked bodies ---- */

/* Decode RAW fed in pieces of STEP bytes (0: in one piece) the way the
 * relay does: each piece lands after the data decoded so far.  Returns
 * the last result; the data goes to OUT (*OUTLEN bytes). */
static int
dechunk(const char *raw, size_t n, size_t step, unsigned long long limit,
        char *out, size_t *outlen)
{
	struct upstream_chunks c;
	size_t off = 0, len = 0;
	int rc = 0;

	upstream_chunks_init(&c);
	if (step == 0)
		step = n;
	while (off < n && rc == 0) {
		size_t take = n - off < step ? n - off : step, got, used;

		memcpy(out + len, raw + off, take);
		rc = upstream_chunks_decode(&c, out + len, take, limit - len,
		                            &got, &used);
		ck_assert_uint_le(got, take);
		ck_assert_uint_le(used, take);
		if (rc == 0)
			ck_assert_uint_eq(used, take);
		len += got;
		off += used;
		if (rc != 0 || used < take)
			break;
	}
	*outlen = len;
	return rc;
}

static const struct {
	const char *raw;
	const char *data;  /* NULL: an error */
	int rc;
} chunk_cases[] = {
	{"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n", "Wikipedia", 1},
	{"A\r\n0123456789\r\na;ext=1;q=\"x\"\r\nabcdefghij\r\n0\r\n\r\n",
	 "0123456789abcdefghij", 1},
	{"3 \r\n[1]\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", "[1]", 1},
	/* Blanks after the size: before a ";" or the line end only. */
	{"2 \t;x=1\r\n[]\r\n0\t\n\r\n", "[]", 1},
	{"2 0\r\n[]\r\n0\r\n\r\n", NULL, -1},
	{"2\t0\r\n", NULL, -1},
	{"2  a\r\n", NULL, -1},
	{"2 x\r\n", NULL, -1},
	{"0 0\r\n\r\n", NULL, -1},
	{"2\n[]\n0\n\n", "[]", 1},
	{"002\r\n{}\r\n000\r\n\r\n", "{}", 1},
	{"zz\r\n", NULL, -1},
	{"\r\n", NULL, -1},
	{"-1\r\n", NULL, -1},
	{"2\r\n[]xx", NULL, -1},
	{"2\r\n[]\rx", NULL, -1},
	{"2\r\x01", NULL, -1},
	{"2;\001\r\n", NULL, -1},
	{"10000000000000000\r\n", NULL, -1},
	{"0\r\n\rx", NULL, -1},
	{"FFFF\r\n", NULL, -2},
};

START_TEST(test_chunks_cases)
{
	const char *raw = chunk_cases[_i].raw;
	size_t n = strlen(raw), step, len;
	char out[256];

	/* Every split gives the same answer. */
	for (step = 0; step <= n; step++) {
		int rc = dechunk(raw, n, step, 100, out, &len);

		ck_assert_msg(rc == chunk_cases[_i].rc, "case %d step %zu: %d",
		              _i, step, rc);
		if (chunk_cases[_i].data != NULL) {
			ck_assert_uint_eq(len, strlen(chunk_cases[_i].data));
			ck_assert(memcmp(out, chunk_cases[_i].data, len) == 0);
		}
	}
}
END_TEST

/* Not the end yet: more is needed, and nothing is lost. */
START_TEST(test_chunks_partial)
{
	static const char raw[] = "5\r\nhello\r\n6\r\n world";
	char out[64];
	size_t len;

	ck_assert_int_eq(dechunk(raw, strlen(raw), 3, 100, out, &len), 0);
	ck_assert_uint_eq(len, 11);
	ck_assert(memcmp(out, "hello world", 11) == 0);
}
END_TEST

/* What follows the last chunk is not consumed. */
START_TEST(test_chunks_after_end)
{
	char buf[] = "1\r\n[\r\n0\r\n\r\nHTTP/1.1 200 OK";
	struct upstream_chunks c;
	size_t out, used;

	upstream_chunks_init(&c);
	ck_assert_int_eq(upstream_chunks_decode(&c, buf, strlen(buf), 10,
	                                        &out, &used), 1);
	ck_assert_uint_eq(out, 1);
	ck_assert_uint_eq(used, strlen("1\r\n[\r\n0\r\n\r\n"));
}
END_TEST

/* The limit counts over several chunks; exactly the limit is fine. */
START_TEST(test_chunks_limit)
{
	static const char raw[] = "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
	char out[64];
	size_t len;

	ck_assert_int_eq(dechunk(raw, strlen(raw), 0, 8, out, &len), 1);
	ck_assert_uint_eq(len, 8);
	ck_assert_int_eq(dechunk(raw, strlen(raw), 0, 7, out, &len), -2);
	ck_assert_int_eq(dechunk(raw, strlen(raw), 1, 7, out, &len), -2);
}
END_TEST

/* Overlong size lines and trailers are refused, never buffered. */
START_TEST(test_chunks_overlong)
{
	size_t n = 40000, len;
	char *raw = malloc(n + 1), *out = malloc(n + 1);

	ck_assert(raw != NULL && out != NULL);
	/* An extension that never ends. */
	memset(raw, 'x', n);
	memcpy(raw, "1;", 2);
	ck_assert_int_eq(dechunk(raw, n, 0, 100, out, &len), -1);
	/* Trailers that never end: many short lines. */
	memcpy(raw, "0\r\n", 3);
	for (len = 3; len + 4 <= n; len += 4)
		memcpy(raw + len, "a:b\n", 4);
	ck_assert_int_eq(dechunk(raw, len, 0, 100, out, &len), -1);
	free(raw);
	free(out);
}
END_TEST

/* ---- a record's id in a request target ---- */

START_TEST(test_target_encode)
{
	static const struct {
		const char *id, *want;
	} cases[] = {
		{"3", "3"},
		{"a-b._~!$&'()*+,;=:@Z9", "a-b._~!$&'()*+,;=:@Z9"},
		{"a b/c?d#e%f", "a%20b%2Fc%3Fd%23e%25f"},
		{"\xc3\xa9\x7f\x01", "%C3%A9%7F%01"},
		{"", ""},
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(target_encode(out, sizeof(out), cases[i].id),
		                 (long)strlen(cases[i].want));
		ck_assert_str_eq(out, cases[i].want);
	}
	/* Room for the NUL: "ab" needs 3 bytes, "%20" 4. */
	ck_assert_int_eq(target_encode(out, 3, "ab"), 2);
	ck_assert_int_eq(target_encode(out, 2, "ab"), -1);
	ck_assert_int_eq(target_encode(out, 4, " "), 3);
	ck_assert_int_eq(target_encode(out, 3, " "), -1);
	ck_assert_int_eq(target_encode(out, 0, ""), -1);
}
END_TEST

static Suite *
upstream_suite(void)
{
	Suite *s = suite_create("upstream");
	TCase *url = tcase_create("url");
	TCase *head = tcase_create("head");
	TCase *chunks = tcase_create("chunks");
	TCase *req = tcase_create("request");
	TCase *json = tcase_create("json");

	tcase_add_loop_test(url, test_url_good, 0,
	                    (int)(sizeof(good_urls) / sizeof(good_urls[0])));
	tcase_add_loop_test(url, test_url_bad, 0,
	                    (int)(sizeof(bad_urls) / sizeof(bad_urls[0])));
	tcase_add_test(url, test_url_https_refused);
	suite_add_tcase(s, url);
	tcase_add_test(head, test_head_content_length);
	tcase_add_test(head, test_head_kinds);
	tcase_add_loop_test(head, test_head_bad, 0,
	                    (int)(sizeof(bad_heads) / sizeof(bad_heads[0])));
	tcase_add_test(head, test_head_split);
	tcase_add_test(head, test_head_validators);
	suite_add_tcase(s, head);
	tcase_add_loop_test(chunks, test_chunks_cases, 0,
	                    (int)(sizeof(chunk_cases) / sizeof(chunk_cases[0])));
	tcase_add_test(chunks, test_chunks_partial);
	tcase_add_test(chunks, test_chunks_after_end);
	tcase_add_test(chunks, test_chunks_limit);
	tcase_add_test(chunks, test_chunks_overlong);
	suite_add_tcase(s, chunks);
	tcase_add_loop_test(req, test_request_text, 0,
	                    (int)(sizeof(requests) / sizeof(requests[0])));
	tcase_add_test(req, test_target_encode);
	suite_add_tcase(s, req);
	tcase_add_test(json, test_json_type);
	tcase_add_test(json, test_json_body);
	tcase_add_test(json, test_etag_check);
	tcase_add_test(json, test_coding_check);
	suite_add_tcase(s, json);
	return s;
}

int
main(void)
{
	return tu_run_suite(upstream_suite());
}
