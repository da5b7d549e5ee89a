/* check_server.c -- end-to-end tests: the real server on port 0, both modes. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>

#include "config.h"
#include "fixture.h"
#include "server.h"
#include "testutil.h"

static struct fixture *fx;
static struct server *srv;
static unsigned port;
static char *expected_body; /* tests/data/users.body.json */
static size_t expected_len;

static void
start(enum config_mode mode)
{
	struct config cfg;
	struct error err = {0, ""};
	char path[4096];

	fx = fixture_load(tu_env("AVATAR_API_FIXTURE"), &err);
	ck_assert_msg(fx != NULL, "fixture: %s", err.text);
	snprintf(path, sizeof(path), "%s/users.body.json",
	         tu_env("AVATAR_API_TEST_DATA"));
	expected_body = tu_read_file(path, &expected_len);
	config_defaults(&cfg);
	cfg.address = "127.0.0.1";
	cfg.port = 0;
	cfg.mode = mode;
	cfg.threads = 2;
	srv = server_start(&cfg, fx, &err);
	ck_assert_msg(srv != NULL, "server_start: %s", err.text);
	port = server_port(srv);
	ck_assert_uint_ne(port, 0);
}

static void
setup_epoll(void)
{
	start(CONFIG_MODE_EPOLL);
}

static void
setup_tpc(void)
{
	start(CONFIG_MODE_THREAD_PER_CONNECTION);
}

static void
teardown(void)
{
	server_stop(srv, 1000);
	srv = NULL;
	fixture_free(fx);
	fx = NULL;
	free(expected_body);
}

/* One request on a new connection; the response goes to R. */
static void
get(const char *method, const char *path, struct tu_response *r)
{
	struct tu_conn c;

	ck_assert_msg(tu_connect(&c, port) == 0, "connect: %s",
	              strerror(errno));
	ck_assert(tu_request(&c, method, path, NULL) == 0);
	ck_assert_msg(tu_read_response(&c, r, strcmp(method, "HEAD") == 0)
	              == 0, "%s %s: no response", method, path);
	tu_close(&c);
}

static void
assert_header(const struct tu_response *r, const char *name,
              const char *want)
{
	char v[1024];

	ck_assert_msg(tu_header(r, name, v, sizeof(v)) == 1,
	              "header %s missing or repeated in:\n%s", name, r->head);
	ck_assert_str_eq(v, want);
}

static void
assert_no_header(const struct tu_response *r, const char *name)
{
	char v[1024];

	ck_assert_msg(tu_header(r, name, v, sizeof(v)) == 0,
	              "unexpected header %s: %s", name, v);
}

/* Date: an RFC 9110 IMF-fixdate within a few seconds of now. */
static void
assert_date(const struct tu_response *r)
{
	char v[128], *end;
	struct tm tm;
	time_t t;

	ck_assert(tu_header(r, "Date", v, sizeof(v)) == 1);
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ck_assert_msg(end != NULL && *end == '\0', "bad Date: %s", v);
	ck_assert_uint_eq(strlen(v), 29);
	t = timegm(&tm);
	ck_assert_msg(labs((long)(t - time(NULL))) <= 5, "Date off: %s", v);
}

/* The error responses: JSON {"error": "..."} with its content type. */
static void
assert_json_error(const struct tu_response *r, int status)
{
	json_t *doc;
	json_error_t jerr;

	ck_assert_int_eq(r->status, status);
	assert_header(r, "Content-Type", "application/json");
	assert_header(r, "Engine", "C/libmicrohttpd");
	doc = json_loadb(r->body, r->body_len, 0, &jerr);
	ck_assert_msg(doc != NULL, "error body is not JSON: %s", r->body);
	ck_assert(json_is_object(doc) && json_object_size(doc) == 1);
	ck_assert(json_is_string(json_object_get(doc, "error")));
	json_decref(doc);
}

START_TEST(test_server_list_body_and_headers)
{
	struct tu_response r;
	char clen[32];

	get("GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, expected_len);
	ck_assert_uint_eq(r.body_len, 3616);
	ck_assert(memcmp(r.body, expected_body, expected_len) == 0);
	assert_header(&r, "Content-Type", "application/json");
	assert_header(&r, "Engine", "C/libmicrohttpd");
	assert_header(&r, "Location", "/v1/user");
	snprintf(clen, sizeof(clen), "%zu", expected_len);
	assert_header(&r, "Content-Length", clen);
	assert_date(&r);
	assert_no_header(&r, "Connection");
	ck_assert(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
	tu_response_free(&r);
}
END_TEST

START_TEST(test_server_head)
{
	struct tu_response r, g;
	struct tu_conn c;
	char clen[32];

	/* HEAD then GET on one connection: if HEAD sent a body, the GET's
	 * response would not parse. */
	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_request(&c, "HEAD", "/v1/user", NULL) == 0);
	ck_assert(tu_read_response(&c, &r, 1) == 0);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	assert_header(&r, "Engine", "C/libmicrohttpd");
	assert_header(&r, "Location", "/v1/user");
	snprintf(clen, sizeof(clen), "%zu", expected_len);
	assert_header(&r, "Content-Length", clen);
	assert_date(&r);
	ck_assert(tu_request(&c, "GET", "/v1/user/2", NULL) == 0);
	ck_assert(tu_read_response(&c, &g, 0) == 0);
	ck_assert_int_eq(g.status, 200);
	assert_header(&g, "Location", "/v1/user/2");
	tu_response_free(&g);
	tu_response_free(&r);

	ck_assert(tu_request(&c, "HEAD", "/v1/user/5", NULL) == 0);
	ck_assert(tu_read_response(&c, &r, 1) == 0);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Location", "/v1/user/5");
	tu_response_free(&r);
	ck_assert(tu_request(&c, "HEAD", "/v1/user/99", NULL) == 0);
	ck_assert(tu_read_response(&c, &r, 1) == 0);
	ck_assert_int_eq(r.status, 404);
	tu_response_free(&r);
	ck_assert(tu_request(&c, "GET", "/v1/user", NULL) == 0);
	ck_assert(tu_read_response(&c, &g, 0) == 0);
	ck_assert(g.body_len == expected_len &&
	          memcmp(g.body, expected_body, expected_len) == 0);
	tu_response_free(&g);
	tu_close(&c);
}
END_TEST

/* Each record: GET /v1/user/{id} gives exactly that record's bytes, the
 * slice of the list body for it. */
START_TEST(test_server_each_record)
{
	json_t *list;
	json_error_t jerr;
	const char *p = expected_body + 1;
	size_t i;

	list = json_loadb(expected_body, expected_len, 0, &jerr);
	ck_assert(list != NULL && json_array_size(list) == 20);
	for (i = 0; i < json_array_size(list); i++) {
		const char *id = json_string_value(
			json_object_get(json_array_get(list, i), "id"));
		const char *end = strstr(p, "},{");
		size_t want = end != NULL ? (size_t)(end - p) + 1
		              : expected_len - 1 - (size_t)(p - expected_body);
		char path[64], loc[64];
		struct tu_response r;

		snprintf(path, sizeof(path), "/v1/user/%s", id);
		get("GET", path, &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(r.body_len, want);
		ck_assert(memcmp(r.body, p, want) == 0);
		assert_header(&r, "Content-Type", "application/json");
		assert_header(&r, "Engine", "C/libmicrohttpd");
		snprintf(loc, sizeof(loc), "/v1/user/%s", id);
		assert_header(&r, "Location", loc);
		assert_date(&r);
		tu_response_free(&r);
		p += want + 1;
	}
	json_decref(list);
}
END_TEST

START_TEST(test_server_not_found)
{
	static const char *const paths[] = {
		"/", "/v1", "/v1/", "/v1/user/", "/v1/user/1/x", "/v1/users",
		"/v1/user//1", "/V1/USER", "/v1/user1", "/nope",
	};
	struct tu_response r;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		get("GET", paths[i], &r);
		assert_json_error(&r, 404);
		ck_assert_str_eq(r.body, "{\"error\":\"not found\"}");
		assert_no_header(&r, "Location");
		tu_response_free(&r);
	}
	/* Unknown ids are 404 too, with their own message. */
	get("GET", "/v1/user/21", &r);
	assert_json_error(&r, 404);
	ck_assert_str_eq(r.body, "{\"error\":\"user not found\"}");
	tu_response_free(&r);
	get("GET", "/v1/user/0", &r);
	assert_json_error(&r, 404);
	tu_response_free(&r);
}
END_TEST

START_TEST(test_server_method_not_allowed)
{
	static const char *const methods[] = {
		"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get",
	};
	static const char *const paths[] = {"/v1/user", "/v1/user/1",
	                                    "/v1/user/99"};
	struct tu_response r;
	size_t i, j;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		for (j = 0; j < sizeof(paths) / sizeof(paths[0]); j++) {
			get(methods[i], paths[j], &r);
			assert_json_error(&r, 405);
			assert_header(&r, "Allow", "GET, HEAD");
			ck_assert_str_eq(r.body,
			                 "{\"error\":\"method not allowed\"}");
			tu_response_free(&r);
		}
	}
	/* Other paths stay 404 whatever the method. */
	get("POST", "/nope", &r);
	assert_json_error(&r, 404);
	tu_response_free(&r);
}
END_TEST

START_TEST(test_server_body_is_read_and_dropped)
{
	struct tu_conn c;
	struct tu_response r;
	static const char req[] =
		"POST /v1/user HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
		"\r\nhello world"
		"GET /v1/user/3 HTTP/1.1\r\nHost: x\r\n\r\n";

	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_send(&c, req, sizeof(req) - 1) == 0);
	ck_assert(tu_read_response(&c, &r, 0) == 0);
	assert_json_error(&r, 405);
	tu_response_free(&r);
	ck_assert(tu_read_response(&c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Location", "/v1/user/3");
	tu_response_free(&r);
	tu_close(&c);
}
END_TEST

START_TEST(test_server_query_string_ignored)
{
	struct tu_response r;

	get("GET", "/v1/user?page=2&x", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.body_len == expected_len &&
	          memcmp(r.body, expected_body, expected_len) == 0);
	assert_header(&r, "Location", "/v1/user");
	tu_response_free(&r);
	get("GET", "/v1/user/7?x=/y", &r);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Location", "/v1/user/7");
	ck_assert(strstr(r.body, "DeloresDoyle") != NULL);
	tu_response_free(&r);
	get("GET", "/nope?/v1/user", &r);
	ck_assert_int_eq(r.status, 404);
	tu_response_free(&r);
}
END_TEST

START_TEST(test_server_keep_alive)
{
	struct tu_conn c;
	struct tu_response r;
	int i;

	ck_assert(tu_connect(&c, port) == 0);
	for (i = 0; i < 5; i++) {
		ck_assert(tu_request(&c, "GET", i % 2 ? "/nope" : "/v1/user",
		                     NULL) == 0);
		ck_assert_msg(tu_read_response(&c, &r, 0) == 0,
		              "request %d on the same connection failed", i + 1);
		ck_assert_int_eq(r.status, i % 2 ? 404 : 200);
		assert_no_header(&r, "Connection");
		tu_response_free(&r);
	}
	ck_assert_msg(!tu_closed(&c, 100), "server closed a keep-alive "
	              "connection");
	tu_close(&c);

	/* A client that asks to close gets Connection: close. */
	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_request(&c, "GET", "/v1/user", "Connection: close\r\n")
	          == 0);
	ck_assert(tu_read_response(&c, &r, 0) == 0);
	assert_header(&r, "Connection", "close");
	tu_response_free(&r);
	ck_assert(tu_closed(&c, 2000));
	tu_close(&c);
}
END_TEST

START_TEST(test_server_pipelining)
{
	char req[4096];
	size_t len = 0;
	struct tu_conn c;
	int i;

	for (i = 1; i <= 10; i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len,
		                        "GET /v1/user/%d HTTP/1.1\r\nHost: x\r\n"
		                        "\r\n", i);
	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_send(&c, req, len) == 0); /* one write */
	for (i = 1; i <= 10; i++) {
		struct tu_response r;
		char want[32], id[32];

		ck_assert_msg(tu_read_response(&c, &r, 0) == 0,
		              "pipelined response %d missing", i);
		ck_assert_int_eq(r.status, 200);
		snprintf(want, sizeof(want), "/v1/user/%d", i);
		assert_header(&r, "Location", want);
		snprintf(id, sizeof(id), "\"id\":\"%d\"}", i);
		ck_assert(strstr(r.body, id) != NULL);
		tu_response_free(&r);
	}
	ck_assert(!tu_closed(&c, 50));
	tu_close(&c);
}
END_TEST

#define CLIENTS 32
#define REQUESTS 200

START_TEST(test_server_concurrent_clients)
{
	pthread_t t[CLIENTS];
	struct tu_load cl[CLIENTS];
	unsigned ok = 0, other = 0;
	int i;

	memset(cl, 0, sizeof(cl));
	for (i = 0; i < CLIENTS; i++) {
		cl[i].port = port;
		cl[i].path = "/v1/user";
		cl[i].expect = expected_body;
		cl[i].expect_len = expected_len;
		cl[i].requests = REQUESTS;
		ck_assert(pthread_create(&t[i], NULL, tu_load_run, &cl[i]) == 0);
	}
	for (i = 0; i < CLIENTS; i++) {
		pthread_join(t[i], NULL);
		ok += cl[i].ok;
		other += cl[i].bad + cl[i].lost + cl[i].refused + cl[i].closed;
	}
	ck_assert_uint_eq(ok, CLIENTS * REQUESTS);
	ck_assert_uint_eq(other, 0);
}
END_TEST

/* Stop the server while clients hammer it: every request sent gets a
 * whole response; clients learn to go away from "Connection: close". */
START_TEST(test_server_stop_during_traffic_loses_nothing)
{
	pthread_t t[8];
	struct tu_load cl[8];
	volatile int stop = 0;
	unsigned ok = 0, bad = 0, lost = 0, closed = 0, left;
	struct timespec pause = {0, 300 * 1000 * 1000};
	struct tu_conn c;
	int i;

	memset(cl, 0, sizeof(cl));
	for (i = 0; i < 8; i++) {
		cl[i].port = port;
		cl[i].path = "/v1/user";
		cl[i].expect = expected_body;
		cl[i].expect_len = expected_len;
		cl[i].stop = &stop;
		ck_assert(pthread_create(&t[i], NULL, tu_load_run, &cl[i]) == 0);
	}
	nanosleep(&pause, NULL);
	left = server_stop(srv, 5000);
	srv = NULL;
	stop = 1;
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ok += cl[i].ok;
		bad += cl[i].bad + cl[i].refused;
		lost += cl[i].lost;
		closed += cl[i].closed;
	}
	ck_assert_uint_eq(left, 0);
	ck_assert_uint_gt(ok, 100);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(lost, 0);
	ck_assert_uint_eq(closed, 8);
	/* And the port no longer accepts. */
	ck_assert(tu_connect(&c, port) < 0);
}
END_TEST

/* An idle keep-alive connection does not hold the stop beyond the drain
 * deadline. */
START_TEST(test_server_stop_drain_is_bounded)
{
	struct tu_conn c;
	struct tu_response r;
	struct timespec a, b;
	unsigned left;
	long ms;

	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_request(&c, "GET", "/v1/user", NULL) == 0);
	ck_assert(tu_read_response(&c, &r, 0) == 0);
	tu_response_free(&r);
	clock_gettime(CLOCK_MONOTONIC, &a);
	left = server_stop(srv, 300);
	srv = NULL;
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_uint_eq(left, 1);
	ck_assert_msg(ms >= 250 && ms < 2000, "stop took %ld ms", ms);
	ck_assert(tu_closed(&c, 1000));
	tu_close(&c);
}
END_TEST

static TCase *
mode_tcase(const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_server_list_body_and_headers);
	tcase_add_test(tc, test_server_head);
	tcase_add_test(tc, test_server_each_record);
	tcase_add_test(tc, test_server_not_found);
	tcase_add_test(tc, test_server_method_not_allowed);
	tcase_add_test(tc, test_server_body_is_read_and_dropped);
	tcase_add_test(tc, test_server_query_string_ignored);
	tcase_add_test(tc, test_server_keep_alive);
	tcase_add_test(tc, test_server_pipelining);
	tcase_add_test(tc, test_server_concurrent_clients);
	tcase_add_test(tc, test_server_stop_during_traffic_loses_nothing);
	tcase_add_test(tc, test_server_stop_drain_is_bounded);
	return tc;
}

static Suite *
server_suite(void)
{
	Suite *s = suite_create("server");

	suite_add_tcase(s, mode_tcase("epoll", setup_epoll));
	suite_add_tcase(s, mode_tcase("thread-per-connection", setup_tpc));
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(server_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
