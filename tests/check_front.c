/* check_front.c -- front_request_parse: which requests the relay's front
 * end answers itself, what it finds in them, and that the buffer it
 * hands on is the one it was given. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "front_request.h"
#include "testutil.h"

/* A request and what the parser must make of it: NULL TARGET for one
 * it leaves to libmicrohttpd. */
static const struct front_case {
	const char *bytes;
	const char *target;
	const char *accept_encoding;
} cases[] = {
	/* Taken: what wrk, curl, hey, h2load, reqwest and an avatar-api
	 * relay send. */
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n", "/v1/user", NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
	 "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", "/v1/user", NULL},
	{"GET /v1/user/3 HTTP/1.1\r\nhost: x\r\nACCEPT: */*\r\n"
	 "user-agent: hey/0.0.1\r\n\r\n", "/v1/user/3", NULL},
	{"GET /v1/user/a-b.c_d~e HTTP/1.1\r\nHost: x\r\n\r\n",
	 "/v1/user/a-b.c_d~e", NULL},
	{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "/", NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
	 "/v1/user", "gzip"},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\naccept-encoding:\t gzip, br \t"
	 "\r\n\r\n", "/v1/user", "gzip, br"},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nAccept-Encoding:\r\n\r\n",
	 "/v1/user", ""},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "/v1/user",
	 NULL}, /* (the framing check refuses this one first) */
	/* Not taken: another method, version or target form. */
	{"HEAD /v1/user HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"POST /v1/user HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"get /v1/user HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.0\r\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.2\r\nHost: x\r\n\r\n", NULL, NULL},
	{"GET http://x/v1/user HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"GET /v1/user?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"GET /v1/user/%33 HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"GET /v1/user/a+b HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"GET /v1/user#x HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"GET  /v1/user HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	/* Not taken: a field that asks something of the answer, or of the
	 * connection, or a body. */
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n",
	 NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nIf-Match: \"a\"\r\n\r\n", NULL,
	 NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n"
	 "\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	 NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
	 NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\r\n\r\n", NULL,
	 NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\ntraceparent: 00-a\r\n\r\n", NULL,
	 NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
	 NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", NULL,
	 NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	 "\r\n0\r\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
	 "Accept-Encoding: br\r\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nAccepts: x\r\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\nAccept-Encodings: x\r\n\r\n",
	 NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHos: x\r\n\r\n", NULL, NULL},
	/* Not taken: line ends, and anything after the head. */
	{"GET /v1/user HTTP/1.1\nHost: x\n\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\n\n", NULL, NULL},
	{"\r\nGET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/user HTTP/1.1\r\n"
	 "Host: x\r\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\nHost: x\r\n", NULL, NULL},
	{"GET /v1/user HTTP/1.1\r\n", NULL, NULL},
	{"GET /v1/user", NULL, NULL},
	{"GET /", NULL, NULL},
	{"GET", NULL, NULL},
	{"", NULL, NULL},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Each case whole, and every prefix of it short of its first empty line:
 * such a prefix is never taken (it is no whole request), and a buffer
 * not taken is given back as it was; a taken one is as it was after
 * front_request_restore. */
START_TEST(test_front_request_cases)
{
	const struct front_case *fc = &cases[_i];
	const char *blank = strstr(fc->bytes, "\r\n\r\n");
	size_t len = strlen(fc->bytes), cut;
	size_t whole = blank != NULL ? (size_t)(blank - fc->bytes) + 4 : len;

	for (cut = 0; cut <= len; cut++) {
		struct front_request req;
		char *buf;
		int r;

		if (cut >= whole && cut < len)
			continue; /* a first request whole: its own case */
		buf = malloc(len + 1);
		ck_assert(buf != NULL);
		memcpy(buf, fc->bytes, len + 1);
		r = front_request_parse(buf, cut, &req);
		if (cut < len || fc->target == NULL) {
			ck_assert_msg(r == -1, "taken (%zu of %zu bytes): %s", cut,
			              len, fc->bytes);
			ck_assert_msg(memcmp(buf, fc->bytes, len + 1) == 0,
			              "buffer changed: %s", fc->bytes);
			free(buf);
			continue;
		}
		ck_assert_msg(r == 0, "not taken: %s", fc->bytes);
		ck_assert_str_eq(req.target, fc->target);
		if (fc->accept_encoding == NULL)
			ck_assert_ptr_null(req.accept_encoding);
		else
			ck_assert_str_eq(req.accept_encoding,
			                 fc->accept_encoding);
		front_request_restore(&req);
		ck_assert_msg(memcmp(buf, fc->bytes, len + 1) == 0,
		              "not restored: %s", fc->bytes);
		free(buf);
	}
}
END_TEST

/* The parser reads only the N bytes it is given: a request taken whole
 * is still taken with anything after it in the buffer, as long as N
 * stops at its end; and never past N (here a guard byte that would
 * complete the head). */
START_TEST(test_front_request_bounds)
{
	static const char req[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[sizeof(req) + 16];
	struct front_request fr;
	size_t n = sizeof(req) - 1;

	memcpy(buf, req, n);
	memcpy(buf + n, "GARBAGE", 8);
	ck_assert_int_eq(front_request_parse(buf, n, &fr), 0);
	ck_assert_str_eq(fr.target, "/v1/user");
	front_request_restore(&fr);
	memcpy(buf, req, n);
	ck_assert_int_eq(front_request_parse(buf, n - 1, &fr), -1);
	ck_assert_int_eq(front_request_parse(buf, n - 2, &fr), -1);
}
END_TEST

static Suite *
front_suite(void)
{
	Suite *s = suite_create("front");
	TCase *tc = tcase_create("request");

	tcase_add_loop_test(tc, test_front_request_cases, 0, (int)NCASES);
	tcase_add_test(tc, test_front_request_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(front_suite());
}
