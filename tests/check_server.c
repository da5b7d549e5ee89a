/* check_server.c -- end-to-end tests: the real server on port 0, both modes. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "config.h"
#include "fixture.h"
#include "server.h"
#include "testutil.h"

static struct server *srv;
static unsigned port;
static char *expected_body; /* tests/data/users.body.json */
static size_t expected_len;

static void
start(enum config_mode mode)
{
	expected_body = tu_expected_body(&expected_len);
	srv = tu_server_start(mode, &port);
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
	free(expected_body);
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
	tu_assert_header(r, "Content-Type", "application/json");
	tu_assert_header(r, "Engine", "C/libmicrohttpd");
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

	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, expected_len);
	ck_assert_uint_eq(r.body_len, 3616);
	ck_assert(memcmp(r.body, expected_body, expected_len) == 0);
	tu_assert_header(&r, "Content-Type", "application/json");
	tu_assert_header(&r, "Engine", "C/libmicrohttpd");
	tu_assert_header(&r, "Location", "/v1/user");
	snprintf(clen, sizeof(clen), "%zu", expected_len);
	tu_assert_header(&r, "Content-Length", clen);
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
	tu_assert_header(&r, "Content-Type", "application/json");
	tu_assert_header(&r, "Engine", "C/libmicrohttpd");
	tu_assert_header(&r, "Location", "/v1/user");
	snprintf(clen, sizeof(clen), "%zu", expected_len);
	tu_assert_header(&r, "Content-Length", clen);
	assert_date(&r);
	ck_assert(tu_request(&c, "GET", "/v1/user/2", NULL) == 0);
	ck_assert(tu_read_response(&c, &g, 0) == 0);
	ck_assert_int_eq(g.status, 200);
	tu_assert_header(&g, "Location", "/v1/user/2");
	tu_response_free(&g);
	tu_response_free(&r);

	ck_assert(tu_request(&c, "HEAD", "/v1/user/5", NULL) == 0);
	ck_assert(tu_read_response(&c, &r, 1) == 0);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Location", "/v1/user/5");
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
		tu_get(port, "GET", path, &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(r.body_len, want);
		ck_assert(memcmp(r.body, p, want) == 0);
		tu_assert_header(&r, "Content-Type", "application/json");
		tu_assert_header(&r, "Engine", "C/libmicrohttpd");
		snprintf(loc, sizeof(loc), "/v1/user/%s", id);
		tu_assert_header(&r, "Location", loc);
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
		tu_get(port, "GET", paths[i], &r);
		assert_json_error(&r, 404);
		ck_assert_str_eq(r.body, "{\"error\":\"not found\"}");
		assert_no_header(&r, "Location");
		tu_response_free(&r);
	}
	/* Unknown ids are 404 too, with their own message. */
	tu_get(port, "GET", "/v1/user/21", &r);
	assert_json_error(&r, 404);
	ck_assert_str_eq(r.body, "{\"error\":\"user not found\"}");
	tu_response_free(&r);
	tu_get(port, "GET", "/v1/user/0", &r);
	assert_json_error(&r, 404);
	tu_response_free(&r);
}
END_TEST

START_TEST(test_server_method_not_allowed)
{
	static const char *const methods[] = {
		"POST", "PUT", "DELETE", "PATCH", "TRACE", "get", "options",
	};
	static const char *const paths[] = {"/v1/user", "/v1/user/1",
	                                    "/v1/user/99"};
	struct tu_response r;
	size_t i, j;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		for (j = 0; j < sizeof(paths) / sizeof(paths[0]); j++) {
			tu_get(port, methods[i], paths[j], &r);
			assert_json_error(&r, 405);
			tu_assert_header(&r, "Allow", "GET, HEAD, OPTIONS");
			ck_assert_str_eq(r.body,
			                 "{\"error\":\"method not allowed\"}");
			tu_response_free(&r);
		}
	}
	/* Other paths stay 404 whatever the method. */
	tu_get(port, "POST", "/nope", &r);
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
	tu_assert_header(&r, "Location", "/v1/user/3");
	tu_response_free(&r);
	tu_close(&c);
}
END_TEST

START_TEST(test_server_query_string_ignored)
{
	struct tu_response r;

	tu_get(port, "GET", "/v1/user?page=2&x", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.body_len == expected_len &&
	          memcmp(r.body, expected_body, expected_len) == 0);
	tu_assert_header(&r, "Location", "/v1/user");
	tu_response_free(&r);
	tu_get(port, "GET", "/v1/user/7?x=/y", &r);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Location", "/v1/user/7");
	ck_assert(strstr(r.body, "DeloresDoyle") != NULL);
	tu_response_free(&r);
	tu_get(port, "GET", "/nope?/v1/user", &r);
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
	tu_assert_header(&r, "Connection", "close");
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
		tu_assert_header(&r, "Location", want);
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

/* A load client template for GET /v1/user and the bundled body. */
static struct tu_load
load_template(unsigned requests, volatile int *stop)
{
	struct tu_load l;

	memset(&l, 0, sizeof(l));
	l.port = port;
	l.path = "/v1/user";
	l.expect = expected_body;
	l.expect_len = expected_len;
	l.requests = requests;
	l.stop = stop;
	return l;
}

START_TEST(test_server_concurrent_clients)
{
	pthread_t t[CLIENTS];
	struct tu_load cl[CLIENTS], sum, tmpl = load_template(REQUESTS, NULL);

	tu_load_start(t, cl, CLIENTS, &tmpl);
	tu_load_join(t, cl, CLIENTS, &sum);
	ck_assert_uint_eq(sum.ok, CLIENTS * REQUESTS);
	ck_assert_uint_eq(sum.bad + sum.lost + sum.refused + sum.closed, 0);
}
END_TEST

/* Stop the server while clients hammer it: every request sent gets a
 * whole response; clients learn to go away from "Connection: close". */
START_TEST(test_server_stop_during_traffic_loses_nothing)
{
	pthread_t t[8];
	volatile int stop = 0;
	struct tu_load cl[8], sum, tmpl = load_template(0, &stop);
	struct timespec pause = {0, 300 * 1000 * 1000};
	struct tu_conn c;
	unsigned left;

	tu_load_start(t, cl, 8, &tmpl);
	nanosleep(&pause, NULL);
	left = server_stop(srv, 5000);
	srv = NULL;
	stop = 1;
	tu_load_join(t, cl, 8, &sum);
	ck_assert_uint_eq(left, 0);
	ck_assert_uint_gt(sum.ok, 100);
	ck_assert_uint_eq(sum.bad + sum.refused, 0);
	ck_assert_uint_eq(sum.lost, 0);
	ck_assert_uint_eq(sum.closed, 8);
	/* And the port no longer accepts. */
	ck_assert(tu_connect(&c, port) < 0);
}
END_TEST

/* Stop with a client in the middle of a request that it never ends: it
 * holds the stop until the drain deadline, not beyond. */
START_TEST(test_server_stop_drain_is_bounded)
{
	static const char part[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n";
	struct tu_conn c;
	struct timespec a, b;
	unsigned left;
	long ms;

	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_send(&c, part, strlen(part)) == 0);
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

/* An idle keep-alive connection does not hold the stop: it is closed at
 * once, well within the drain time (it took the whole drain before). */
START_TEST(test_server_stop_closes_idle)
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
	left = server_stop(srv, 5000);
	srv = NULL;
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_uint_eq(left, 0);
	ck_assert_msg(ms < 100, "stop took %ld ms", ms);
	ck_assert(tu_closed(&c, 0));
	tu_close(&c);
}
END_TEST

START_TEST(test_server_healthz)
{
	struct tu_response r;
	struct tu_conn c;

	tu_get(port, "GET", "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	tu_assert_header(&r, "Content-Type", "application/json");
	tu_assert_header(&r, "Engine", "C/libmicrohttpd");
	assert_no_header(&r, "Connection");
	tu_response_free(&r);
	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_request(&c, "HEAD", "/healthz", NULL) == 0);
	ck_assert(tu_read_response(&c, &r, 1) == 0);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Content-Length", "15");
	tu_response_free(&r);
	tu_close(&c);
	tu_get(port, "POST", "/healthz", &r);
	assert_json_error(&r, 405);
	tu_assert_header(&r, "Allow", "GET, HEAD, OPTIONS");
	tu_response_free(&r);
}
END_TEST

/* /readyz: 200 while serving; 503 once stopping (server_unready), while
 * everything else, /healthz included, is served as before; each counted
 * in /metrics. */
START_TEST(test_server_readyz)
{
	struct tu_response r;

	tu_get(port, "GET", "/readyz", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"status\":\"ready\"}");
	tu_assert_header(&r, "Content-Type", "application/json");
	assert_no_header(&r, "Connection");
	tu_response_free(&r);
	tu_get(port, "POST", "/readyz", &r);
	assert_json_error(&r, 405);
	tu_response_free(&r);
	server_unready(srv);
	tu_get(port, "GET", "/readyz", &r);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.body,
	                 "{\"status\":\"not ready\",\"reason\":\"stopping\"}");
	assert_no_header(&r, "Connection");
	tu_response_free(&r);
	tu_get(port, "GET", "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, expected_len);
	assert_no_header(&r, "Connection");
	tu_response_free(&r);
	tu_get(port, "GET", "/metrics", &r);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"readyz\","
	                    "status=\"200\"}") == 1);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"readyz\","
	                    "status=\"405\"}") == 1);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"readyz\","
	                    "status=\"503\"}") == 1);
	tu_response_free(&r);
}
END_TEST

START_TEST(test_server_metrics)
{
	static const struct {
		const char *method, *path;
		int times;
	} reqs[] = {
		{"GET", "/v1/user", 3}, {"HEAD", "/v1/user", 1},
		{"GET", "/v1/user/1", 2}, {"GET", "/v1/user/99", 1},
		{"POST", "/v1/user", 1}, {"DELETE", "/v1/user/1", 1},
		{"GET", "/nope", 4}, {"GET", "/healthz", 2},
		{"POST", "/metrics", 1},
	};
	struct tu_response r;
	char want[64];
	size_t i;
	int k;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		for (k = 0; k < reqs[i].times; k++) {
			tu_get(port, reqs[i].method, reqs[i].path, &r);
			tu_response_free(&r);
		}
	}
	tu_get(port, "GET", "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Content-Type",
	              "text/plain; version=0.0.4; charset=utf-8");
	tu_assert_header(&r, "Engine", "C/libmicrohttpd");
	ck_assert_msg(strncmp(r.body, "# HELP avatar_api_requests_total ", 33)
	              == 0, "%s", r.body);
	ck_assert(strstr(r.body, "# TYPE avatar_api_requests_total counter\n"));
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"list\","
	                 "status=\"200\"}") == 4);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"list\","
	                 "status=\"405\"}") == 1);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"user\","
	                 "status=\"200\"}") == 2);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"user\","
	                 "status=\"404\"}") == 1);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"user\","
	                 "status=\"405\"}") == 1);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"other\","
	                 "status=\"404\"}") == 4);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"healthz\","
	                 "status=\"200\"}") == 2);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"metrics\","
	                 "status=\"405\"}") == 1);
	/* The scrape counts itself. */
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"metrics\","
	                 "status=\"200\"}") == 1);
	ck_assert(tu_metric(r.body, "avatar_api_users") == 20);
	ck_assert(tu_metric(r.body, "avatar_api_connections") >= 1);
	ck_assert(tu_metric(r.body, "avatar_api_reloads_total{result=\"ok\"}")
	          == 0);
	ck_assert(tu_metric(r.body, "avatar_api_reloads_total{result=\"failed\"}")
	          == 0);
	ck_assert(labs((long)tu_metric(r.body, "avatar_api_last_reload_success_"
	                            "timestamp_seconds") - (long)time(NULL))
	          < 60);
	snprintf(want, sizeof(want), "avatar_api_build_info{version=\"%s\",",
	         tu_env("AVATAR_API_VERSION"));
	ck_assert_msg(strstr(r.body, want) != NULL, "%s", r.body);
	ck_assert(r.body[r.body_len - 1] == '\n');
	tu_response_free(&r);
	tu_get(port, "GET", "/metrics", &r);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"metrics\","
	                 "status=\"200\"}") == 2);
	tu_response_free(&r);
}
END_TEST

/* Scrape AT's PATH (/metrics) until the metric NAME reads WANT, for up to
 * 2 s, and return the last value: a request's duration is counted at
 * its completion, which may come just after its client read the answer
 * (libmicrohttpd completes the request once the write returned). */
static double
await_metric(unsigned at, const char *path, const char *name, double want)
{
	struct timespec nap = {0, 10L * 1000 * 1000};
	struct tu_response r;
	double v = -1;
	int i;

	for (i = 0; i < 200; i++) {
		tu_get(at, "GET", path, &r);
		ck_assert_int_eq(r.status, 200);
		v = tu_metric(r.body, name);
		tu_response_free(&r);
		if (v == want)
			break;
		nanosleep(&nap, NULL);
	}
	return v;
}

#define DURATION "avatar_api_request_duration_seconds"

/* The duration histogram: one observation per request answered, by route
 * and status class, cumulative buckets whose +Inf is the count. */
START_TEST(test_server_metrics_durations)
{
	static const struct {
		const char *method, *path;
		int times;
	} reqs[] = {
		{"GET", "/v1/user", 3}, {"HEAD", "/v1/user", 1},
		{"GET", "/v1/user/1", 2}, {"GET", "/v1/user/99", 1},
		{"DELETE", "/v1/user/1", 1}, {"GET", "/nope", 4},
		{"GET", "/healthz", 2}, {"POST", "/metrics", 1},
	};
	static const struct {
		const char *labels;
		double count;
	} want[] = {
		{"{route=\"list\",status_class=\"2xx\"}", 4},
		{"{route=\"list\",status_class=\"4xx\"}", 0},
		{"{route=\"user\",status_class=\"2xx\"}", 2},
		{"{route=\"user\",status_class=\"4xx\"}", 2},
		{"{route=\"healthz\",status_class=\"2xx\"}", 2},
		{"{route=\"metrics\",status_class=\"4xx\"}", 1},
		{"{route=\"other\",status_class=\"4xx\"}", 4},
	};
	struct tu_response r;
	char name[256];
	double prev, v;
	size_t i;
	int k;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		for (k = 0; k < reqs[i].times; k++) {
			tu_get(port, reqs[i].method, reqs[i].path, &r);
			tu_response_free(&r);
		}
	}
	/* Each request is counted at its completion, on its own thread:
	 * wait for every count, not only the last request's (a loaded
	 * machine completed the last ones first). */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(name, sizeof(name), DURATION "_count%s", want[i].labels);
		(void)await_metric(port, "/metrics", name, want[i].count);
	}
	tu_get(port, "GET", "/metrics", &r);
	ck_assert(strstr(r.body, "# TYPE " DURATION " histogram\n") != NULL);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(name, sizeof(name), DURATION "_count%s", want[i].labels);
		ck_assert_msg(tu_metric(r.body, name) == want[i].count, "%s: %g",
		              name, tu_metric(r.body, name));
		snprintf(name, sizeof(name), DURATION "_bucket%.*s,le=\"+Inf\"}",
		         (int)strlen(want[i].labels) - 1, want[i].labels);
		ck_assert_msg(tu_metric(r.body, name) == want[i].count, "%s", name);
		snprintf(name, sizeof(name), DURATION "_sum%s", want[i].labels);
		v = tu_metric(r.body, name);
		ck_assert_msg(want[i].count == 0 ? v == 0 : v > 0 && v < 10, "%s: %g",
		              name, v);
	}
	/* Cumulative buckets, each request of the list well under 10 s. */
	prev = 0;
	for (i = 0; i < 18; i++) {
		static const char *const le[] = {
			"2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001",
			"0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
			"0.5", "1", "2.5", "5", "10"};

		snprintf(name, sizeof(name), DURATION "_bucket{route=\"list\","
		         "status_class=\"2xx\",le=\"%s\"}", le[i]);
		v = tu_metric(r.body, name);
		ck_assert_msg(v >= prev, "%s: %g after %g", name, v, prev);
		prev = v;
	}
	ck_assert(prev == 4);
	tu_response_free(&r);
}
END_TEST

/* The process metrics and the acceptor's closes and accept failures. */
START_TEST(test_server_metrics_process)
{
	struct tu_response r;
	double open, max, start;

	tu_get(port, "GET", "/metrics", &r);
	ck_assert(strstr(r.body, "# TYPE process_cpu_seconds_total counter\n"));
	ck_assert(tu_metric(r.body, "process_cpu_seconds_total") >= 0);
	ck_assert(tu_metric(r.body, "process_resident_memory_bytes") > 1e5);
	ck_assert(tu_metric(r.body, "process_virtual_memory_bytes") >=
	          tu_metric(r.body, "process_resident_memory_bytes"));
	open = tu_metric(r.body, "process_open_fds");
	max = tu_metric(r.body, "process_max_fds");
	/* stdio, the listening socket, this client's connection, ... */
	ck_assert_msg(open >= 5 && open < max, "%g of %g", open, max);
	start = tu_metric(r.body, "process_start_time_seconds");
	ck_assert_msg(start <= (double)time(NULL) + 1 &&
	              start > (double)time(NULL) - 3600, "%f", start);
	ck_assert(tu_metric(r.body, "avatar_api_connections_closed_total"
	                    "{reason=\"timeout\"}") == 0);
	ck_assert(tu_metric(r.body, "avatar_api_accept_errors_total") == 0);
	tu_response_free(&r);
}
END_TEST

static const enum config_mode admin_modes[] = {
	CONFIG_MODE_EPOLL, CONFIG_MODE_THREAD_PER_CONNECTION};

/* --admin-port: /metrics, /healthz (and /readyz) there, the API not;
 * the main port keeps /healthz and the API, and answers 404 for
 * /metrics.  Requests on either port are counted alike. */
START_TEST(test_server_admin_port)
{
	struct config cfg;
	struct error err = {0, ""};
	struct fixture *fx;
	struct server *s;
	struct tu_response r;
	struct tu_conn c;
	unsigned main_port, admin_port = tu_free_port();

	fx = fixture_load(tu_env("AVATAR_API_FIXTURE"), &err);
	ck_assert_msg(fx != NULL, "fixture: %s", err.text);
	config_defaults(&cfg);
	cfg.address = "127.0.0.1";
	cfg.port = 0;
	cfg.mode = admin_modes[_i];
	cfg.threads = 2;
	cfg.admin_port = admin_port;
	s = server_start(&cfg, fx, &err);
	ck_assert_msg(s != NULL, "server_start: %s", err.text);
	ck_assert_uint_eq(server_admin_port(s), admin_port);
	main_port = server_port(s);

	tu_get(main_port, "GET", "/metrics", &r);
	assert_json_error(&r, 404);
	tu_response_free(&r);
	tu_get(main_port, "POST", "/metrics", &r);
	assert_json_error(&r, 404);
	tu_response_free(&r);
	tu_get(main_port, "GET", "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	tu_get(main_port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);

	tu_get(admin_port, "GET", "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	tu_response_free(&r);
	tu_get(admin_port, "GET", "/v1/user", &r);
	assert_json_error(&r, 404);
	tu_response_free(&r);
	tu_get(admin_port, "GET", "/v1/user/1", &r);
	assert_json_error(&r, 404);
	tu_response_free(&r);
	tu_get(admin_port, "POST", "/healthz", &r);
	assert_json_error(&r, 405);
	tu_response_free(&r);
	tu_get(admin_port, "GET", "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Content-Type",
	              "text/plain; version=0.0.4; charset=utf-8");
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"list\","
	                    "status=\"200\"}") == 1);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"other\","
	                    "status=\"404\"}") == 4);
	ck_assert(tu_metric(r.body, "avatar_api_requests_total{route=\"healthz\","
	                    "status=\"200\"}") == 2);
	tu_response_free(&r);
	/* The admin port's own requests have durations too. */
	ck_assert(await_metric(admin_port, "/metrics", DURATION "_count{route="
	                       "\"healthz\",status_class=\"4xx\"}", 1) == 1);
	ck_assert_uint_eq(server_stop(s, 1000), 0);
	ck_assert_msg(tu_connect(&c, admin_port) != 0, "admin port still open");
}
END_TEST

/* A second fixture: 3 records, the third with an extra field. */
static const char fixture_b[] =
	"[{\"id\":\"1\",\"name\":\"One\",\"avatar\":\"a1\",\"createdAt\":\"c1\"},"
	"{\"id\":\"b\",\"name\":\"Bee\",\"avatar\":\"a2\",\"createdAt\":\"c2\"},"
	"{\"id\":\"c\",\"name\":\"Sea\",\"avatar\":\"a3\",\"createdAt\":\"c3\","
	"\"extra\":[1,2]}]";

static void
scratch_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s-%d.json", tu_env("AVATAR_API_TMPDIR"),
	         name, (int)getpid());
}

START_TEST(test_server_reload_swaps_data)
{
	char path[4096];
	struct error err = {0, ""};
	struct tu_response r;

	scratch_path(path, sizeof(path), "reload-b");
	tu_write_file(path, fixture_b, sizeof(fixture_b) - 1);
	ck_assert_int_eq(server_reload(srv, path, &err), 0);
	ck_assert_uint_eq(server_users(srv), 3);
	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, fixture_b);
	tu_response_free(&r);
	tu_get(port, "GET", "/v1/user/c", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body, "\"extra\":[1,2]") != NULL);
	tu_assert_header(&r, "Location", "/v1/user/c");
	tu_response_free(&r);
	tu_get(port, "GET", "/v1/user/20", &r);
	ck_assert_int_eq(r.status, 404);
	tu_response_free(&r);
	tu_get(port, "GET", "/metrics", &r);
	ck_assert(tu_metric(r.body, "avatar_api_users") == 3);
	ck_assert(tu_metric(r.body, "avatar_api_reloads_total{result=\"ok\"}")
	          == 1);
	tu_response_free(&r);
	unlink(path);
}
END_TEST

START_TEST(test_server_reload_bad_file_keeps_data)
{
	char path[4096], want[4200];
	struct error err = {0, ""};
	struct tu_response r;

	scratch_path(path, sizeof(path), "reload-bad");
	tu_write_file(path, "[{\"id\":\"1\",", 11);
	ck_assert_int_eq(server_reload(srv, path, &err), -1);
	ck_assert_int_eq(err.code, 65);
	snprintf(want, sizeof(want), "%s:1:11: string or '}' expected near "
	         "end of file", path);
	ck_assert_str_eq(err.text, want);
	error_clear(&err);
	unlink(path);
	ck_assert_int_eq(server_reload(srv, path, &err), -1);
	ck_assert_int_eq(err.code, 66);
	ck_assert_uint_eq(server_users(srv), 20);
	tu_get(port, "GET", "/v1/user", &r);
	ck_assert(r.status == 200 && r.body_len == expected_len &&
	          memcmp(r.body, expected_body, expected_len) == 0);
	tu_response_free(&r);
	tu_get(port, "GET", "/metrics", &r);
	ck_assert(tu_metric(r.body, "avatar_api_reloads_total{result=\"failed\"}")
	          == 2);
	ck_assert(tu_metric(r.body, "avatar_api_reloads_total{result=\"ok\"}")
	          == 0);
	tu_response_free(&r);
}
END_TEST

/* 50 reloads while 8 clients send requests: no failure, and every body
 * is one of the two versions, whole. */
START_TEST(test_server_reload_under_load)
{
	char path_a[4096], path_b[4096];
	struct error err = {0, ""};
	pthread_t t[8];
	volatile int stop = 0;
	struct tu_load cl[8], sum, tmpl = load_template(0, &stop);
	int i;

	scratch_path(path_a, sizeof(path_a), "reload-a");
	scratch_path(path_b, sizeof(path_b), "reload-b2");
	tu_write_file(path_a, expected_body, expected_len);
	tu_write_file(path_b, fixture_b, sizeof(fixture_b) - 1);
	tmpl.expect2 = fixture_b;
	tmpl.expect2_len = sizeof(fixture_b) - 1;
	tu_load_start(t, cl, 8, &tmpl);
	for (i = 0; i < 50; i++) {
		struct timespec pause = {0, 2 * 1000 * 1000};

		ck_assert_msg(server_reload(srv, i % 2 ? path_a : path_b, &err)
		              == 0, "reload %d: %s", i, err.text);
		nanosleep(&pause, NULL);
	}
	stop = 1;
	tu_load_join(t, cl, 8, &sum);
	ck_assert_uint_gt(sum.ok, 100);
	ck_assert_uint_eq(sum.bad + sum.lost + sum.refused + sum.closed, 0);
	unlink(path_a);
	unlink(path_b);
}
END_TEST

/*
 * Issue 11, point 6: reloads in a tight loop while clients scrape
 * /metrics and fetch /v1/user.  metrics_answer used to read
 * srv->active->closing after epoch_leave, when a reload may already have
 * published a new set and freed the one it read: a use after free, which
 * the sanitizer build (configure --enable-sanitizers, as .ci/run does)
 * reports and stops on; without it, freed memory read as "closing" adds
 * a "Connection: close" that nothing asked for.  The window is a few
 * instructions wide (between loading the pointer and reading through
 * it), so a run shows it only when a scraping thread is preempted just
 * there while a whole reload runs: many scrapes on more threads than
 * cores over RACE_MS make that possible, not likely; run against 457061c
 * it did not show (see the commit message).  Every answer must be whole
 * and right: /metrics with the fixture's user count or the other's and
 * no "Connection: close"; /v1/user one fixture or the other.
 */
#define RACE_MS 2000
#define RACE_SCRAPERS 4
#define RACE_FETCHERS 2

struct race_scraper {
	unsigned port;
	volatile int *stop;
	unsigned ok, bad;
	char why[512];
};

/* Empty if R is a whole, right answer to GET /metrics, else why not. */
static void
race_check_metrics(const struct tu_response *r, char *why, size_t size)
{
	char v[128];
	double users;

	why[0] = '\0';
	if (r->status != 200)
		tu_say(why, size, "status %d", r->status);
	else if (tu_header(r, "Content-Type", v, sizeof(v)) != 1 ||
	         strcmp(v, "text/plain; version=0.0.4; charset=utf-8") != 0)
		tu_say(why, size, "Content-Type");
	else if (tu_header(r, "Connection", v, sizeof(v)) != 0)
		tu_say(why, size, "Connection: %s", v);
	else if (strncmp(r->body, "# HELP avatar_api_requests_total ", 33)
	         != 0 || r->body_len == 0 || r->body[r->body_len - 1] != '\n' ||
	         strstr(r->body, "\navatar_api_build_info{") == NULL)
		tu_say(why, size, "body cut or garbled");
	else if ((users = tu_metric(r->body, "avatar_api_users")) != 20 &&
	         users != 3)
		tu_say(why, size, "avatar_api_users %g", users);
	if (why[0] != '\0') {
		size_t n = strlen(why);

		tu_say(why + n, size - n, ":\n%s%.300s", r->head,
		       r->body != NULL ? r->body : "");
	}
}

/* A keep-alive client scraping /metrics until *STOP. */
static void *
race_scrape(void *arg)
{
	struct race_scraper *s = arg;
	struct tu_conn c;

	if (tu_connect(&c, s->port) < 0) {
		s->bad++;
		tu_say(s->why, sizeof(s->why), "connect: %s", strerror(errno));
		return NULL;
	}
	while (!*s->stop) {
		struct tu_response r;

		if (tu_request(&c, "GET", "/metrics", NULL) < 0 ||
		    tu_read_response(&c, &r, 0) < 0) {
			s->bad++;
			tu_say(s->why, sizeof(s->why), "no whole answer");
			break;
		}
		race_check_metrics(&r, s->why, sizeof(s->why));
		tu_response_free(&r);
		if (s->why[0] != '\0') {
			s->bad++;
			break;
		}
		s->ok++;
	}
	tu_close(&c);
	return NULL;
}

START_TEST(test_server_reload_race)
{
	char path_a[4096], path_b[4096];
	struct error err = {0, ""};
	pthread_t ts[RACE_SCRAPERS], tf[RACE_FETCHERS];
	struct race_scraper sc[RACE_SCRAPERS];
	volatile int stop = 0;
	struct tu_load cl[RACE_FETCHERS], sum, tmpl = load_template(0, &stop);
	struct timespec t0, t;
	unsigned long reloads = 0, scrapes = 0;
	long ms = 0;
	int i;

	scratch_path(path_a, sizeof(path_a), "race-a");
	scratch_path(path_b, sizeof(path_b), "race-b");
	tu_write_file(path_a, expected_body, expected_len);
	tu_write_file(path_b, fixture_b, sizeof(fixture_b) - 1);
	tmpl.expect2 = fixture_b;
	tmpl.expect2_len = sizeof(fixture_b) - 1;
	for (i = 0; i < RACE_SCRAPERS; i++) {
		memset(&sc[i], 0, sizeof(sc[i]));
		sc[i].port = port;
		sc[i].stop = &stop;
		ck_assert(pthread_create(&ts[i], NULL, race_scrape, &sc[i]) == 0);
	}
	tu_load_start(tf, cl, RACE_FETCHERS, &tmpl);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms < RACE_MS) {
		ck_assert_msg(server_reload(srv, reloads % 2 ? path_a : path_b,
		                            &err) == 0, "reload %lu: %s",
		              reloads, err.text);
		reloads++;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
	}
	stop = 1;
	for (i = 0; i < RACE_SCRAPERS; i++)
		pthread_join(ts[i], NULL);
	tu_load_join(tf, cl, RACE_FETCHERS, &sum);
	for (i = 0; i < RACE_SCRAPERS; i++) {
		ck_assert_msg(sc[i].bad == 0, "scraper %d, after %u good "
		              "scrapes: %s", i, sc[i].ok, sc[i].why);
		ck_assert_uint_gt(sc[i].ok, 0);
		scrapes += sc[i].ok;
	}
	ck_assert_uint_gt(sum.ok, 0);
	ck_assert_uint_eq(sum.bad + sum.lost + sum.refused + sum.closed, 0);
	fprintf(stderr, "reload race: %lu reloads in %ld ms beside %lu "
	        "scrapes of /metrics and %u GET /v1/user, all whole and "
	        "right\n", reloads, ms, scrapes, sum.ok);
	unlink(path_a);
	unlink(path_b);
}
END_TEST

/* Requests RFC 9112 says to reject, with a request hidden in the body
 * (smuggling): 400, the connection closed, the hidden request unanswered. */
static const struct {
	const char *name, *req;
} ambiguous[] = {
	{"no Host", "GET /v1/user HTTP/1.1\r\n\r\n"},
	{"two Hosts", "GET /v1/user HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{"two Content-Lengths", "GET /v1/user HTTP/1.1\r\nHost: a\r\n"
	 "Content-Length: 0\r\nContent-Length: 36\r\n\r\n"
	 "GET /v1/user/5 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"Content-Length and chunked", "POST /v1/user HTTP/1.1\r\nHost: a\r\n"
	 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	 "GET /v1/user/5 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"two Transfer-Encodings", "POST /v1/user HTTP/1.1\r\nHost: a\r\n"
	 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"
	 "0\r\n\r\n"},
	{"space before colon", "GET /v1/user HTTP/1.1\r\nHost: a\r\n"
	 "Content-Length : 36\r\n\r\n"
	 "GET /v1/user/5 HTTP/1.1\r\nHost: a\r\n\r\n"},
};

START_TEST(test_server_rejects_ambiguous_requests)
{
	struct tu_conn c;
	struct tu_response r;

	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_send(&c, ambiguous[_i].req, strlen(ambiguous[_i].req))
	          == 0);
	ck_assert_msg(tu_read_response(&c, &r, 0) == 0, "%s: no answer",
	              ambiguous[_i].name);
	ck_assert_msg(r.status == 400, "%s: status %d", ambiguous[_i].name,
	              r.status);
	ck_assert_str_eq(r.body, "{\"error\":\"bad request\"}");
	tu_assert_header(&r, "Connection", "close");
	tu_response_free(&r);
	ck_assert_msg(tu_closed(&c, 2000), "%s: connection left open",
	              ambiguous[_i].name);
	ck_assert_msg(c.len == 0, "%s: more bytes after the 400",
	              ambiguous[_i].name);
	tu_close(&c);
}
END_TEST

/* HTTP/1.0 needs no Host; %00 is not decoded into a NUL that would cut
 * the path short. */
START_TEST(test_server_http10_and_nul_escape)
{
	struct tu_conn c;
	struct tu_response r;
	static const char req[] = "GET /v1/user/3 HTTP/1.0\r\n\r\n";

	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_send(&c, req, sizeof(req) - 1) == 0);
	ck_assert(tu_read_response(&c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Location", "/v1/user/3");
	tu_response_free(&r);
	tu_close(&c);
	tu_get(port, "GET", "/v1/user%00x", &r);
	ck_assert_int_eq(r.status, 404);
	tu_response_free(&r);
	tu_get(port, "GET", "/v1/user/3%00", &r);
	ck_assert_int_eq(r.status, 404);
	tu_response_free(&r);
	tu_get(port, "GET", "/v1/%75ser/%33", &r); /* other escapes still decode */
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Location", "/v1/user/3");
	tu_response_free(&r);
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
	tcase_add_test(tc, test_server_stop_closes_idle);
	tcase_add_test(tc, test_server_healthz);
	tcase_add_test(tc, test_server_readyz);
	tcase_add_loop_test(tc, test_server_rejects_ambiguous_requests, 0,
	                    sizeof(ambiguous) / sizeof(ambiguous[0]));
	tcase_add_test(tc, test_server_http10_and_nul_escape);
	tcase_add_test(tc, test_server_metrics);
	tcase_add_test(tc, test_server_metrics_durations);
	tcase_add_test(tc, test_server_metrics_process);
	tcase_add_test(tc, test_server_reload_swaps_data);
	tcase_add_test(tc, test_server_reload_bad_file_keeps_data);
	tcase_add_test(tc, test_server_reload_under_load);
	tcase_add_test(tc, test_server_reload_race);
	return tc;
}

static Suite *
server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *admin;

	suite_add_tcase(s, mode_tcase("epoll", setup_epoll));
	suite_add_tcase(s, mode_tcase("thread-per-connection", setup_tpc));
	admin = tcase_create("admin");
	tcase_set_timeout(admin, 30);
	tcase_add_loop_test(admin, test_server_admin_port, 0, 2);
	suite_add_tcase(s, admin);
	return s;
}

int
main(void)
{
	return tu_run_suite(server_suite());
}
