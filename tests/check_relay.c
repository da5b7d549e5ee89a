/* check_relay.c -- end-to-end tests of relay mode, both modes, port 0. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>
#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "fixture.h"
#include "metrics.h"
#include "relay.h"
#include "server.h"
#include "testutil.h"

static const enum config_mode modes[] = {
	CONFIG_MODE_EPOLL, CONFIG_MODE_THREAD_PER_CONNECTION};
static const char *const mode_names[] = {"epoll", "thread-per-connection"};

/* ---- a fake upstream: one poll loop thread, counting connections ---- */

#define FAKE_CONNS 256
#define FAKE_HEADS 8

/* What the fake upstream does with each request: write REPLY (REPLY_LEN
 * bytes) DELAY_MS after the request's headers arrived, then close the
 * connection if CLOSE, else wait for the next request; with STALL it
 * never answers.  With SPLIT the reply goes out SPLIT bytes at a time,
 * a millisecond apart.  With PER_CONN a connection answers that many
 * requests, then closes on the next one without a byte (an upstream
 * closing an idle keep-alive connection as the request comes); with
 * ANSWER_MAX the same happens once that many were answered in all.
 * With ONCE (NONCE pieces) the first request is answered with those
 * instead (an upstream that misbehaves once), every later one with
 * REPLY. */
struct fake_piece {
	const char *data;    /* NUL-terminated */
	unsigned nap_ms;     /* sent by its own send() this long after the
	                      * piece before */
};

struct fake {
	const char *reply;
	size_t reply_len;
	unsigned delay_ms;
	int close;
	int stall;
	size_t split;
	unsigned per_conn;
	unsigned answer_max;
	const struct fake_piece *once;
	size_t nonce;
	unsigned want_port;  /* listen there; 0: any free port */
	/* filled in */
	int fd, stop[2];
	unsigned port;
	unsigned accepted;   /* atomic */
	unsigned received;   /* atomic: requests whose headers arrived */
	unsigned requests;   /* atomic: requests answered */
	int once_sent;       /* atomic: the ONCE pieces were written */
	pthread_t thread;
	/* The heads of the first FAKE_HEADS requests, in the order they
	 * arrived: HEADS[I] is written before RECEIVED passes I. */
	char heads[FAKE_HEADS][4096];
};

struct fake_conn {
	int fd;
	size_t got;
	char buf[8192];
	long long due_ms; /* when to answer; 0: no request pending */
	unsigned answered;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
fake_drop(struct fake_conn *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Write F's ONCE pieces on C, each by its own send() after its nap; a
 * peer that closed (the relay gave up on the connection) ends it.  Then
 * once_sent is set, whatever happened. */
static void
fake_misbehave(struct fake *f, struct fake_conn *c)
{
	size_t i;

	for (i = 0; i < f->nonce && c->fd >= 0; i++) {
		const char *p = f->once[i].data;
		size_t off = 0, len = strlen(p);
		struct timespec nap = {(time_t)(f->once[i].nap_ms / 1000),
		                       (long)(f->once[i].nap_ms % 1000) * 1000000L};

		if (f->once[i].nap_ms > 0)
			nanosleep(&nap, NULL);
		while (off < len) {
			ssize_t n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				fake_drop(c);
				break;
			}
			off += (size_t)n;
		}
	}
	if (c->fd >= 0) {
		__atomic_add_fetch(&f->requests, 1, __ATOMIC_RELAXED);
		c->answered++;
	}
	__atomic_store_n(&f->once_sent, 1, __ATOMIC_RELEASE);
}

/* Write all of the reply; a peer that gave up (the relay's size cap)
 * ends it. */
static void
fake_answer(struct fake *f, struct fake_conn *c)
{
	size_t off = 0;

	if (f->once != NULL && !__atomic_load_n(&f->once_sent,
	                                        __ATOMIC_ACQUIRE)) {
		fake_misbehave(f, c);
		return;
	}

	while (off < f->reply_len) {
		size_t want = f->reply_len - off;
		ssize_t n;

		if (f->split > 0 && off > 0) {
			struct timespec nap = {0, 1000L * 1000};

			nanosleep(&nap, NULL);
		}
		if (f->split > 0 && want > f->split)
			want = f->split;
		n = send(c->fd, f->reply + off, want, MSG_NOSIGNAL);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			fake_drop(c);
			return;
		}
		off += (size_t)n;
	}
	__atomic_add_fetch(&f->requests, 1, __ATOMIC_RELAXED);
	c->answered++;
	if (f->close)
		fake_drop(c);
}

static void *
fake_loop(void *arg)
{
	static struct fake_conn conns[FAKE_CONNS];
	struct fake *f = arg;
	struct pollfd pfd[FAKE_CONNS + 2];
	size_t i, n = 0;

	for (;;) {
		long long now = now_ms(), wait = -1;
		size_t k = 2;

		pfd[0] = (struct pollfd){f->fd, POLLIN, 0};
		pfd[1] = (struct pollfd){f->stop[0], POLLIN, 0};
		for (i = 0; i < n; i++) {
			if (conns[i].fd < 0)
				continue;
			if (conns[i].due_ms > 0) {
				long long left = conns[i].due_ms - now;

				if (left < 0)
					left = 0;
				if (wait < 0 || left < wait)
					wait = left;
			}
			pfd[k++] = (struct pollfd){conns[i].fd, POLLIN, 0};
		}
		if (poll(pfd, k, (int)wait) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents != 0)
			break;
		if (pfd[0].revents != 0) {
			int cfd = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0) {
				__atomic_add_fetch(&f->accepted, 1, __ATOMIC_RELAXED);
				for (i = 0; i < n && conns[i].fd >= 0; i++)
					;
				if (i == n && n < FAKE_CONNS)
					n++;
				if (i < n) {
					conns[i].fd = cfd;
					conns[i].got = 0;
					conns[i].due_ms = 0;
					conns[i].answered = 0;
				} else {
					close(cfd);
				}
			}
		}
		for (i = 0; i < n; i++) {
			struct fake_conn *c = &conns[i];
			size_t j;
			ssize_t r;

			if (c->fd < 0)
				continue;
			for (j = 2; j < k && pfd[j].fd != c->fd; j++)
				;
			if (j < k && pfd[j].revents != 0) {
				r = recv(c->fd, c->buf + c->got,
				         sizeof(c->buf) - 1 - c->got, MSG_DONTWAIT);
				if (r <= 0) {
					fake_drop(c);
					continue;
				}
				c->got += (size_t)r;
				c->buf[c->got] = '\0';
				if (c->due_ms == 0 && strstr(c->buf, "\r\n\r\n") != NULL) {
					unsigned seen = __atomic_load_n(
						&f->received, __ATOMIC_RELAXED);
					size_t hl = (size_t)(strstr(c->buf,
					        "\r\n\r\n") + 4 - c->buf);

					if (seen < FAKE_HEADS &&
					    hl < sizeof(f->heads[0])) {
						memcpy(f->heads[seen], c->buf, hl);
						f->heads[seen][hl] = '\0';
					}
					__atomic_add_fetch(&f->received, 1,
					                   __ATOMIC_RELEASE);
					c->due_ms = f->stall ? 0 : now_ms() + f->delay_ms;
				}
				if (f->stall)
					c->got = 0; /* read and ignore */
			}
			if (c->due_ms > 0 && now_ms() >= c->due_ms) {
				char *end = strstr(c->buf, "\r\n\r\n") + 4;

				/* Keep what follows this request (pipelining). */
				c->got -= (size_t)(end - c->buf);
				memmove(c->buf, end, c->got + 1);
				c->due_ms = 0;
				if ((f->per_conn > 0 && c->answered >= f->per_conn) ||
				    (f->answer_max > 0 &&
				     __atomic_load_n(&f->requests, __ATOMIC_RELAXED)
				     >= f->answer_max)) {
					fake_drop(c);
					continue;
				}
				fake_answer(f, c);
				if (c->fd >= 0 && strstr(c->buf, "\r\n\r\n") != NULL)
					c->due_ms = now_ms() + f->delay_ms;
			}
		}
	}
	for (i = 0; i < n; i++)
		if (conns[i].fd >= 0)
			fake_drop(&conns[i]);
	return NULL;
}

static void
fake_start(struct fake *f)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	f->accepted = 0;
	f->received = 0;
	f->requests = 0;
	f->once_sent = 0;
	f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert(f->fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)f->want_port);
	ck_assert(setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &(int){1},
	                     sizeof(int)) == 0);
	ck_assert(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	ck_assert(listen(f->fd, 512) == 0);
	ck_assert(getsockname(f->fd, (struct sockaddr *)&sa, &len) == 0);
	f->port = ntohs(sa.sin_port);
	ck_assert(pipe2(f->stop, O_CLOEXEC) == 0);
	ck_assert(pthread_create(&f->thread, NULL, fake_loop, f) == 0);
}

/* Wait until the fake upstream has received N requests (5 s at most). */
static void
fake_wait_received(struct fake *f, unsigned n)
{
	struct timespec nap = {0, 5L * 1000 * 1000};
	int i;

	for (i = 0; i < 1000; i++) {
		if (__atomic_load_n(&f->received, __ATOMIC_RELAXED) >= n)
			return;
		nanosleep(&nap, NULL);
	}
	ck_abort_msg("the upstream received %u requests, not %u",
	             __atomic_load_n(&f->received, __ATOMIC_RELAXED), n);
}

static void
fake_stop(struct fake *f)
{
	ck_assert(write(f->stop[1], "x", 1) == 1);
	pthread_join(f->thread, NULL);
	close(f->stop[0]);
	close(f->stop[1]);
	close(f->fd);
}

#define JSON_HEAD "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
/* Not JSON, and no NUL (the replies are strings). */
#define GZ_BODY "\x1f\x8b\x08\x01\x02\x03\x04\x05\x02\x03"

/* The request line of the fake upstream's request number I. */
static void
request_line(const struct fake *f, int i, char *out, size_t size)
{
	snprintf(out, size, "%.*s", (int)strcspn(f->heads[i], "\r"),
	         f->heads[i]);
}

/* ---- the relay under test, in process ---- */

static char url[256];

/* Start the fake upstream F answering REPLY (LEN bytes; NULL and 0 for
 * none) and point url at it. */
static void
fake_serve(struct fake *f, const char *reply, size_t len)
{
	f->reply = reply;
	f->reply_len = len;
	fake_start(f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/avatar", f->port);
}

/* --cors-origin for the next relay_server, or NULL. */
static const char *relay_cors;

/* Start a relay on 127.0.0.1, port 0, in MODE with 2 threads, to URL,
 * with TIMEOUT_MS, MAX_BYTES, CONNS connections and QUEUE; DATA, if not
 * NULL, is served at /v1/user/{id}. */
static struct server *
relay_server(int mode, const char *upstream, unsigned timeout_ms,
             unsigned max_bytes, unsigned conns, unsigned queue,
             const char *data, unsigned *port)
{
	struct config cfg;
	struct error err = {0, ""};
	struct fixture *fx;
	struct server *srv;

	fx = data != NULL ? fixture_load(data, &err) : fixture_empty();
	ck_assert_msg(fx != NULL, "fixture: %s", err.text);
	config_defaults(&cfg);
	cfg.address = "127.0.0.1";
	cfg.port = 0;
	cfg.mode = modes[mode];
	cfg.threads = 2;
	cfg.upstream = upstream;
	cfg.data_given = data != NULL;
	if (relay_cors != NULL) {
		cfg.cors_origins[0] = relay_cors;
		cfg.cors_count = 1;
	}
	cfg.upstream_timeout_ms = timeout_ms;
	cfg.upstream_max_bytes = max_bytes;
	cfg.upstream_connections = conns;
	cfg.upstream_queue = queue;
	srv = server_start(&cfg, fx, &err);
	ck_assert_msg(srv != NULL, "server_start: %s", err.text);
	*port = server_port(srv);
	return srv;
}

/* A JSON error answer: STATUS, {"error": MESSAGE}, our headers. */
static void
assert_error(const struct tu_response *r, int status, const char *message)
{
	json_t *doc;
	json_error_t jerr;

	ck_assert_msg(r->status == status, "status %d, want %d; body %s",
	              r->status, status, r->body);
	tu_assert_header(r, "Content-Type", "application/json");
	tu_assert_header(r, "Engine", "C/libmicrohttpd");
	doc = json_loadb(r->body, r->body_len, 0, &jerr);
	ck_assert_msg(doc != NULL, "error body is not JSON: %s", r->body);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "error")),
	                 message);
	json_decref(doc);
}

/* The value of the metric line starting with NAME (labels included) in
 * the server's /metrics, or -1. */
static long
metric(unsigned port, const char *name)
{
	struct tu_response r;
	const char *p;
	size_t n = strlen(name);
	long v = -1;

	tu_get(port, "GET", "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	for (p = r.body; p != NULL && *p != '\0';
	     p = strchr(p, '\n') != NULL ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			v = strtol(p + n + 1, NULL, 10);
	tu_response_free(&r);
	return v;
}

/* The body and headers are the upstream's body and our own headers; the
 * other routes stay local. */
START_TEST(test_relay_body_and_headers)
{
	struct server *up, *srv;
	struct tu_response r;
	unsigned up_port, port;
	size_t len;
	char *want = tu_expected_body(&len), date[64];

	up = tu_server_start(modes[_i], &up_port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/user", up_port);
	srv = relay_server(_i, url, 2000, 1024 * 1024, 4, 16, NULL, &port);

	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, len);
	ck_assert_msg(memcmp(r.body, want, len) == 0, "body differs");
	tu_assert_header(&r, "Content-Type", "application/json");
	tu_assert_header(&r, "Engine", "C/libmicrohttpd");
	tu_assert_header(&r, "Location", "/v1/user");
	ck_assert(tu_header(&r, "Date", date, sizeof(date)) == 1);
	ck_assert(tu_header(&r, "Connection", date, sizeof(date)) == 0);
	tu_response_free(&r);

	tu_get(port, "HEAD", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 0);
	tu_assert_header(&r, "Content-Length", "3616");
	tu_response_free(&r);

	tu_get(port, "POST", "/v1/user", &r);
	assert_error(&r, 405, "method not allowed");
	tu_response_free(&r);
	/* No --data: the records are relayed too (test_relay_records). */
	tu_get(port, "GET", "/v1/user/3", &r);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Location", "/v1/user/3");
	tu_response_free(&r);
	tu_get(port, "GET", "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	tu_response_free(&r);

	ck_assert_int_eq(metric(port, "avatar_api_upstream_requests_total"), 3);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"list\","
	                        "status=\"200\"}"), 2);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_duration_seconds_"
	                        "count"), 3);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_connections_opened_"
	                        "total"), 1);
	ck_assert_int_eq(server_stop(srv, 1000), 0);
	server_stop(up, 1000);
	free(want);
}
END_TEST

/* With --data the records are served from the fixture, the list is still
 * relayed. */
START_TEST(test_relay_with_data)
{
	struct fake f = {0};
	struct server *srv;
	struct tu_response r;
	unsigned port;
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json; charset=utf-8\r\nContent-Length: 14\r\n\r\n"
	        "[{\"id\":\"up\"}]\n";

	fake_serve(&f, reply, strlen(reply));
	srv = relay_server(_i, url, 2000, 1024, 2, 4,
	                   tu_env("AVATAR_API_FIXTURE"), &port);
	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "[{\"id\":\"up\"}]\n");
	tu_assert_header(&r, "Content-Type", "application/json");
	tu_response_free(&r);
	tu_get(port, "GET", "/v1/user/3", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body, "\"AngelKuhlmanIV\"") != NULL);
	tu_assert_header(&r, "Location", "/v1/user/3");
	tu_response_free(&r);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* Nothing listens on the upstream port: 502 at once. */
START_TEST(test_relay_upstream_down)
{
	struct server *srv;
	struct tu_response r;
	long long t, best = -1;
	unsigned port;
	int i;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/avatar",
	         tu_free_port());
	srv = relay_server(_i, url, 2000, 1024 * 1024, 4, 16, NULL, &port);
	for (i = 0; i < 5; i++) {
		t = tu_get(port, "GET", "/v1/user", &r);
		assert_error(&r, 502, "upstream unreachable");
		tu_response_free(&r);
		ck_assert_msg(t < 1000, "502 took %lld ms", t);
		if (best < 0 || t < best)
			best = t;
	}
	/* The fastest of 5: the machine is shared and noisy. */
	ck_assert_msg(best < 100, "502 took %lld ms at best", best);
	printf("relay %s: upstream down: 502 in %lld ms (best of 5)\n",
	       mode_names[_i], best);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_errors_total"
	                        "{kind=\"connect\"}"), 5);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"list\","
	                        "status=\"502\"}"), 5);
	server_stop(srv, 1000);
}
END_TEST

/* GET /readyz from PORT: its status, and its body in BODY. */
static int
readyz(unsigned port, char *body, size_t size)
{
	struct tu_response r;
	int status;

	tu_get(port, "GET", "/readyz", &r);
	status = r.status;
	snprintf(body, size, "%s", r.body);
	tu_response_free(&r);
	return status;
}

/* /readyz in relay mode: ready before any request, and after any answer
 * of the upstream (a 500 proves it reachable); not ready once a connect
 * fails, /healthz still 200; ready again once the upstream answers. */
START_TEST(test_relay_readyz)
{
	static const char reply500[] = "HTTP/1.1 500 Oops\r\nContent-Length: "
	        "0\r\n\r\n";
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 2\r\n\r\n[]";
	struct fake f = {0};
	struct server *srv;
	struct tu_response r;
	char body[256];
	unsigned port;

	f.close = 1;
	fake_serve(&f, reply500, strlen(reply500));
	srv = relay_server(_i, url, 2000, 1024 * 1024, 4, 16, NULL, &port);
	ck_assert_int_eq(readyz(port, body, sizeof(body)), 200);
	ck_assert_str_eq(body, "{\"status\":\"ready\"}");
	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 502);
	tu_response_free(&r);
	ck_assert_int_eq(readyz(port, body, sizeof(body)), 200);
	/* The upstream goes away: connects are refused. */
	fake_stop(&f);
	tu_get(port, "GET", "/v1/user", &r);
	assert_error(&r, 502, "upstream unreachable");
	tu_response_free(&r);
	ck_assert_int_eq(readyz(port, body, sizeof(body)), 503);
	ck_assert_str_eq(body, "{\"status\":\"not ready\",\"reason\":"
	                 "\"upstream unreachable\"}");
	tu_get(port, "GET", "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	/* It comes back on the same port and answers. */
	f.want_port = f.port;
	fake_serve(&f, reply, strlen(reply));
	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	ck_assert_int_eq(readyz(port, body, sizeof(body)), 200);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"readyz\","
	                        "status=\"503\"}"), 1);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* An upstream that accepts and never answers: 504 after the timeout. */
START_TEST(test_relay_upstream_stalled)
{
	struct fake f = {0};
	struct server *srv;
	struct tu_response r;
	unsigned port;
	long long t;

	f.stall = 1;
	fake_serve(&f, NULL, 0);
	srv = relay_server(_i, url, 300, 1024 * 1024, 4, 16, NULL, &port);
	t = tu_get(port, "GET", "/v1/user", &r);
	assert_error(&r, 504, "upstream timed out");
	tu_response_free(&r);
	ck_assert_msg(t >= 290 && t < 3000, "504 after %lld ms", t);
	printf("relay %s: stalled upstream: 504 after %lld ms (timeout "
	       "300 ms)\n", mode_names[_i], t);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_errors_total"
	                        "{kind=\"timeout\"}"), 1);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"list\","
	                        "status=\"504\"}"), 1);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* Bad upstream answers, each a 502 with its own message and kind. */
static const struct {
	const char *reply;
	int close;
	const char *message;
	const char *kind;
} bad[] = {
	{"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json"
	 "\r\nContent-Length: 2\r\n\r\n{}", 0,
	 "upstream answered a non-2xx status", "status"},
	{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0,
	 "upstream answered a non-2xx status", "status"},
	{"HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:1/\r\n"
	 "Content-Length: 0\r\n\r\n", 0,
	 "upstream answered a non-2xx status", "status"},
	{"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 7\r\n"
	 "\r\n<html/>", 0, "upstream answered a non-JSON content type",
	 "content_type"},
	{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", 0,
	 "upstream answered a non-JSON content type", "content_type"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/jsonx\r\n"
	 "Content-Length: 2\r\n\r\n[]", 0,
	 "upstream answered a non-JSON content type", "content_type"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Content-Length: 0\r\n\r\n", 0, "upstream body is not JSON", "body"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Content-Length: 5\r\n\r\nhello", 0, "upstream body is not JSON",
	 "body"},
	{"garbage\r\n\r\n", 1, "upstream connection failed", "protocol"},
	{"", 1, "upstream connection failed", "protocol"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Content-Length: 100\r\n\r\n[1,2,3]", 1,
	 "upstream connection failed", "protocol"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Content-Length: 5000\r\n\r\n", 0, "upstream body too large",
	 "too_large"},
	{"HTTP/2 200\r\ncontent-type: application/json\r\n\r\n[]", 1,
	 "upstream connection failed", "protocol"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Content-Length: 2\r\nContent-Length: 3\r\n\r\n[]", 0,
	 "upstream connection failed", "protocol"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Transfer-Encoding: gzip\r\n\r\n[]", 1,
	 "upstream connection failed", "protocol"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n2\r\n[]\r\nzz\r\n", 0,
	 "upstream connection failed", "protocol"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n", 1,
	 "upstream connection failed", "protocol"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n3E9\r\n", 0,
	 "upstream body too large", "too_large"},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n2\r\n[1\r\n0\r\n\r\n", 0,
	 "upstream body is not JSON", "body"},
	{"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
	 "[1,2", 1, "upstream body is not JSON", "body"},
};

START_TEST(test_relay_bad_answers)
{
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fake f = {0};
		struct server *srv;
		struct tu_response r;
		unsigned port;
		char name[128];

		f.close = bad[i].close;
		fake_serve(&f, bad[i].reply, strlen(bad[i].reply));
		/* A 1000-byte cap, for the too-large case. */
		srv = relay_server(_i, url, 2000, 1000, 2, 4, NULL, &port);
		tu_get(port, "GET", "/v1/user", &r);
		assert_error(&r, 502, bad[i].message);
		tu_response_free(&r);
		snprintf(name, sizeof(name), "avatar_api_upstream_errors_total"
		         "{kind=\"%s\"}", bad[i].kind);
		ck_assert_msg(metric(port, name) == 1, "case %zu: %s not 1", i,
		              name);
		server_stop(srv, 1000);
		fake_stop(&f);
	}
}
END_TEST

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* An endless body (4 MB, no Content-Length): 502 at the cap, and memory
 * stays bounded over many such requests. */
START_TEST(test_relay_oversized_bounded)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nConnection: close\r\n\r\n[";
	size_t size = 4u * 1024 * 1024;
	char *reply = malloc(size);
	struct fake f = {0};
	struct server *srv;
	struct tu_response r;
	unsigned port, i;
	long before = 0;

	ck_assert(reply != NULL);
	memset(reply, '1', size);
	memcpy(reply, head, strlen(head));
	f.close = 1;
	fake_serve(&f, reply, size);
	srv = relay_server(_i, url, 5000, 64 * 1024, 4, 16, NULL, &port);
	for (i = 0; i < 40; i++) {
		if (i == 10)
			before = rss_kb();
		tu_get(port, "GET", "/v1/user", &r);
		assert_error(&r, 502, "upstream body too large");
		tu_response_free(&r);
	}
	ck_assert_msg(rss_kb() - before < 4096, "RSS grew by %ld kB over 30 "
	              "oversized answers", rss_kb() - before);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_errors_total"
	                        "{kind=\"too_large\"}"), 40);
	server_stop(srv, 1000);
	fake_stop(&f);
	free(reply);
}
END_TEST

/* 500 requests over 50 keep-alive client connections go over at most
 * --upstream-connections upstream connections, counted where the
 * upstream accepts them. */
START_TEST(test_relay_reuse)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 12\r\n\r\n[{\"id\":\"1\"}]";
	struct fake f = {0};
	struct server *srv;
	struct tu_load cl[50], template, sum;
	pthread_t t[50];
	unsigned port, accepted;

	fake_serve(&f, reply, strlen(reply));
	srv = relay_server(_i, url, 2000, 1024, 4, 64, NULL, &port);
	memset(&template, 0, sizeof(template));
	template.port = port;
	template.path = "/v1/user";
	template.expect = "[{\"id\":\"1\"}]";
	template.expect_len = 12;
	template.requests = 10;
	tu_load_start(t, cl, 50, &template);
	tu_load_join(t, cl, 50, &sum);
	accepted = __atomic_load_n(&f.accepted, __ATOMIC_RELAXED);
	printf("relay %s: %u requests over 50 client connections: %u ok, "
	       "%u upstream connections accepted (limit 4), %u upstream "
	       "requests\n", mode_names[_i], 500u, sum.ok, accepted,
	       __atomic_load_n(&f.requests, __ATOMIC_RELAXED));
	ck_assert_uint_eq(sum.ok, 500);
	ck_assert_uint_eq(sum.bad + sum.lost + sum.refused, 0);
	ck_assert_uint_ge(accepted, 1);
	ck_assert_uint_le(accepted, 4);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_connections_opened_"
	                        "total"), (long)accepted);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* Start a fake upstream F answering REPLY (LEN bytes), and a relay to
 * it (2 s, MAX_BYTES, 2 connections); returns the relay's port. */
static struct server *
fake_relay(int mode, struct fake *f, const char *reply, size_t len,
           unsigned max_bytes, unsigned *port)
{
	fake_serve(f, reply, len);
	return relay_server(mode, url, 2000, max_bytes, 2, 16, NULL, port);
}

/* GET /v1/user gives 200 and WANT (LEN bytes) as the body. */
static void
get_body(unsigned port, const char *want, size_t len)
{
	struct tu_response r;
	char v[32];

	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_msg(r.status == 200, "status %d: %s", r.status, r.body);
	ck_assert_uint_eq(r.body_len, len);
	ck_assert_msg(memcmp(r.body, want, len) == 0, "body differs");
	tu_assert_header(&r, "Content-Type", "application/json");
	snprintf(v, sizeof(v), "%zu", len);
	tu_assert_header(&r, "Content-Length", v);
	tu_response_free(&r);
}

/* X-Request-Id and traceparent from the client go to the upstream with
 * the request, between its own header lines and the empty line; a
 * request without them is sent as before, and an id over 128 bytes is
 * not forwarded. */
START_TEST(test_relay_forward_ids)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 2\r\n\r\n[]";
	static const char tp[] = "00-0af7651916cd43dd8448eb211c80319c-"
	        "b7ad6b7169203331-01";
	char extra[512], longid[130], want[1100];
	struct fake f = {0};
	struct tu_response r;
	struct tu_conn c;
	struct server *srv;
	unsigned port;
	const char *sent[3];
	int i;

	memset(longid, 'a', 129);
	longid[129] = '\0';
	srv = fake_relay(_i, &f, reply, sizeof(reply) - 1, 1024, &port);
	ck_assert(tu_connect(&c, port) == 0);
	snprintf(extra, sizeof(extra), "X-Request-Id: req-42\r\n"
	         "traceparent: %s\r\n", tp);
	sent[0] = extra;
	sent[1] = NULL;
	sent[2] = NULL;
	for (i = 0; i < 3; i++) {
		char e[512];

		if (i == 2) {
			snprintf(e, sizeof(e), "x-request-id: %s\r\n"
			         "TraceParent: %s\r\n", longid, tp);
			sent[2] = e;
		}
		ck_assert(tu_request(&c, "GET", "/v1/user", sent[i]) == 0);
		ck_assert(tu_read_response(&c, &r, 0) == 0);
		ck_assert_int_eq(r.status, 200);
		tu_response_free(&r);
	}
	tu_close(&c);
	ck_assert_uint_eq(__atomic_load_n(&f.received, __ATOMIC_ACQUIRE), 3);
	/* Without the fields: the prebuilt request, nothing else. */
	ck_assert_msg(strcasestr(f.heads[1], "request-id") == NULL &&
	              strcasestr(f.heads[1], "traceparent") == NULL,
	              "sent: %s", f.heads[1]);
	/* With them: the same request, the two lines before its end. */
	snprintf(want, sizeof(want), "%.*sX-Request-Id: req-42\r\n"
	         "traceparent: %s\r\n\r\n", (int)strlen(f.heads[1]) - 2,
	         f.heads[1], tp);
	ck_assert_str_eq(f.heads[0], want);
	/* The over-long id is left out, the traceparent still goes. */
	snprintf(want, sizeof(want), "%.*straceparent: %s\r\n\r\n",
	         (int)strlen(f.heads[1]) - 2, f.heads[1], tp);
	ck_assert_str_eq(f.heads[2], want);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* A chunked body (Go's net/http sends large bodies so) of 200 kB in
 * chunks of every size from 1 to 3000 bytes, with extensions and a
 * trailer, is decoded; the connection is kept alive. */
START_TEST(test_relay_chunked)
{
	size_t n = 200 * 1000, i, off, step = 1, len = 0;
	char *body = malloc(n), *reply = malloc(2 * n + 256);
	struct fake f = {0};
	struct server *srv;
	unsigned port;

	ck_assert(body != NULL && reply != NULL);
	body[0] = '[';
	for (i = 1; i < n - 1; i++)
		body[i] = i % 2 ? '1' : ',';
	body[n - 2] = '1';
	body[n - 1] = ']';
	len = (size_t)sprintf(reply, "HTTP/1.1 200 OK\r\nContent-Type: "
	                      "application/json\r\nTransfer-Encoding: "
	                      "chunked\r\n\r\n");
	for (off = 0; off < n; off += step, step = step % 3000 + 97) {
		size_t take = n - off < step ? n - off : step;

		len += (size_t)sprintf(reply + len, "%zx%s\r\n", take,
		                       off % 2 ? ";name=value" : "");
		memcpy(reply + len, body + off, take);
		len += take;
		memcpy(reply + len, "\r\n", 2);
		len += 2;
	}
	len += (size_t)sprintf(reply + len, "0\r\nX-Trailer: t\r\n\r\n");
	srv = fake_relay(_i, &f, reply, len, 1024 * 1024, &port);
	for (i = 0; i < 3; i++)
		get_body(port, body, n);
	ck_assert_uint_eq(__atomic_load_n(&f.accepted, __ATOMIC_RELAXED), 1);
	server_stop(srv, 1000);
	fake_stop(&f);
	free(body);
	free(reply);
}
END_TEST

/* An HTTP/1.0 upstream without Content-Length: the body ends with the
 * connection, a new one per request. */
START_TEST(test_relay_http10)
{
	static const char reply[] = "HTTP/1.0 200 OK\r\nContent-Type: "
	        "application/json\r\n\r\n{\"users\":[1,2,3]}\n";
	static const char body[] = "{\"users\":[1,2,3]}\n";
	struct fake f = {0};
	struct server *srv;
	unsigned port, i;

	f.close = 1;
	srv = fake_relay(_i, &f, reply, strlen(reply), 1024, &port);
	for (i = 0; i < 3; i++)
		get_body(port, body, strlen(body));
	ck_assert_uint_eq(__atomic_load_n(&f.accepted, __ATOMIC_RELAXED), 3);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* An upstream that closes a kept-alive connection when the next request
 * comes: the request goes again on a fresh connection, and the client
 * never sees it.  Once only: if the fresh one fails too, 502. */
START_TEST(test_relay_idle_closed)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 2\r\n\r\n[]";
	struct fake f = {0}, g = {0};
	struct server *srv;
	struct tu_response r;
	unsigned port, i;

	f.per_conn = 1;
	srv = fake_relay(_i, &f, reply, strlen(reply), 1024, &port);
	for (i = 0; i < 4; i++)
		get_body(port, "[]", 2);
	ck_assert_uint_eq(__atomic_load_n(&f.accepted, __ATOMIC_RELAXED), 4);
	ck_assert_uint_eq(__atomic_load_n(&f.received, __ATOMIC_RELAXED), 7);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_errors_total"
	                        "{kind=\"protocol\"}"), 0);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_connections_opened_"
	                        "total"), 4);
	server_stop(srv, 1000);
	fake_stop(&f);

	g.answer_max = 1;
	srv = fake_relay(_i, &g, reply, strlen(reply), 1024, &port);
	get_body(port, "[]", 2);
	tu_get(port, "GET", "/v1/user", &r);
	assert_error(&r, 502, "upstream connection failed");
	tu_response_free(&r);
	ck_assert_uint_eq(__atomic_load_n(&g.accepted, __ATOMIC_RELAXED), 2);
	ck_assert_uint_eq(__atomic_load_n(&g.received, __ATOMIC_RELAXED), 3);
	server_stop(srv, 1000);
	fake_stop(&g);
}
END_TEST

/* One request METHOD PATH with the header lines EXTRA (or NULL) on a new
 * connection to PORT, into R; NOBODY: an answer without a body (to HEAD,
 * or a 304, whose Content-Length is its 200's). */
static void
ask(unsigned port, const char *method, const char *path, const char *extra,
    int nobody, struct tu_response *r)
{
	struct tu_conn c;

	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_request(&c, method, path, extra) == 0);
	ck_assert_msg(tu_read_response(&c, r, nobody) == 0, "%s %s: no answer",
	              method, path);
	tu_close(&c);
}

/* R has no header NAME. */
static void
assert_no_header(const struct tu_response *r, const char *name)
{
	char v[256];

	ck_assert_msg(tu_header(r, name, v, sizeof(v)) == 0, "%s: %s", name, v);
}

/* R's header NAME (there is one) into V. */
static void
header_of(const struct tu_response *r, const char *name, char *v, size_t size)
{
	ck_assert_msg(tu_header(r, name, v, size) == 1, "no %s in %s", name,
	              r->head);
}

/* Records relayed to a second avatar-api, and its validators passed
 * through: its body, its ETag, our Location, Cache-Control and Vary; its
 * 304 (with its Content-Length, the 200's size) for a matching
 * If-None-Match, its 412 for an If-Match that does not match, its 404
 * for an unknown record, its gzip form as it is.  None of these is an
 * upstream error. */
START_TEST(test_relay_records)
{
	struct server *up, *srv;
	struct tu_response d, r;
	unsigned up_port, port;
	char etag[64], list_etag[64], extra[256], v[256], len[32];

	up = tu_server_start(modes[_i], &up_port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/user", up_port);
	srv = relay_server(_i, url, 2000, 1024 * 1024, 4, 16, NULL, &port);

	/* The record, straight from the upstream, then through the relay. */
	ask(up_port, "GET", "/v1/user/3", NULL, 0, &d);
	ck_assert_int_eq(d.status, 200);
	header_of(&d, "ETag", etag, sizeof(etag));
	ask(port, "GET", "/v1/user/3", NULL, 0, &r);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	ck_assert_uint_eq(r.body_len, d.body_len);
	ck_assert(memcmp(r.body, d.body, d.body_len) == 0);
	ck_assert(strstr(r.body, "\"AngelKuhlmanIV\"") != NULL);
	tu_assert_header(&r, "Location", "/v1/user/3");
	tu_assert_header(&r, "ETag", etag);
	tu_assert_header(&r, "Content-Type", "application/json");
	tu_assert_header(&r, "Engine", "C/libmicrohttpd");
	tu_assert_header(&r, "Cache-Control", "no-cache");
	tu_assert_header(&r, "Vary", "Accept-Encoding");
	assert_no_header(&r, "Content-Encoding");
	tu_response_free(&r);
	snprintf(len, sizeof(len), "%zu", d.body_len);
	tu_response_free(&d);
	ask(port, "HEAD", "/v1/user/3", NULL, 1, &r);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Content-Length", len);
	tu_assert_header(&r, "ETag", etag);
	tu_response_free(&r);

	/* If-None-Match with that tag: the upstream's 304, passed on. */
	snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
	ask(port, "GET", "/v1/user/3", extra, 1, &r);
	ck_assert_msg(r.status == 304, "%d %s", r.status, r.head);
	tu_assert_header(&r, "ETag", etag);
	tu_assert_header(&r, "Cache-Control", "no-cache");
	tu_assert_header(&r, "Vary", "Accept-Encoding");
	tu_assert_header(&r, "Engine", "C/libmicrohttpd");
	tu_assert_header(&r, "Content-Length", len);
	assert_no_header(&r, "Content-Type");
	assert_no_header(&r, "Location");
	assert_no_header(&r, "Content-Encoding");
	tu_response_free(&r);
	/* The list's too. */
	ask(up_port, "GET", "/v1/user", NULL, 0, &d);
	header_of(&d, "ETag", list_etag, sizeof(list_etag));
	tu_response_free(&d);
	snprintf(extra, sizeof(extra), "If-None-Match: W/\"x\", %s\r\n",
	         list_etag);
	ask(port, "HEAD", "/v1/user", extra, 1, &r);
	ck_assert_int_eq(r.status, 304);
	tu_assert_header(&r, "ETag", list_etag);
	tu_response_free(&r);
	ask(port, "GET", "/v1/user", extra, 1, &r);
	ck_assert_int_eq(r.status, 304);
	tu_response_free(&r);
	/* Another record's tag does not match this one. */
	snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
	ask(port, "GET", "/v1/user/4", extra, 0, &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);

	/* If-Match: the upstream's 412 when it does not match. */
	ask(port, "GET", "/v1/user/3", "If-Match: \"nope\"\r\n", 0, &r);
	assert_error(&r, 412, "precondition failed");
	tu_assert_header(&r, "Cache-Control", "no-store");
	tu_response_free(&r);
	snprintf(extra, sizeof(extra), "If-Match: %s\r\n", etag);
	ask(port, "GET", "/v1/user/3", extra, 0, &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);

	/* An unknown record: the upstream's 404, whatever the conditions. */
	ask(port, "GET", "/v1/user/nope", "If-Match: \"nope\"\r\n", 0, &r);
	assert_error(&r, 404, "user not found");
	tu_assert_header(&r, "Cache-Control", "no-store");
	tu_response_free(&r);

	/* gzip: the upstream's gzip form and its tag, as they are. */
	ask(up_port, "GET", "/v1/user/3", "Accept-Encoding: gzip\r\n", 0, &d);
	ck_assert_int_eq(d.status, 200);
	tu_assert_header(&d, "Content-Encoding", "gzip");
	header_of(&d, "ETag", v, sizeof(v));
	ck_assert_str_ne(v, etag);
	ask(port, "GET", "/v1/user/3", "Accept-Encoding: gzip\r\n", 0, &r);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Content-Encoding", "gzip");
	tu_assert_header(&r, "ETag", v);
	ck_assert_uint_eq(r.body_len, d.body_len);
	ck_assert(memcmp(r.body, d.body, d.body_len) == 0);
	ck_assert(r.body_len >= 2 && (unsigned char)r.body[0] == 0x1f &&
	          (unsigned char)r.body[1] == 0x8b);
	tu_response_free(&r);
	tu_response_free(&d);

	/* Answers, not upstream errors. */
	ck_assert_int_eq(metric(port, "avatar_api_upstream_requests_total"), 10);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_errors_total"
	                        "{kind=\"status\"}"), 0);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"user\","
	                        "status=\"200\"}"), 5);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"user\","
	                        "status=\"304\"}"), 1);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"list\","
	                        "status=\"304\"}"), 2);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"user\","
	                        "status=\"412\"}"), 1);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"user\","
	                        "status=\"404\"}"), 1);
	/* Over kept-alive upstream connections, 304s included. */
	ck_assert_int_le(metric(port, "avatar_api_upstream_connections_opened_"
	                        "total"), 2);
	ck_assert_int_eq(server_stop(srv, 1000), 0);
	server_stop(up, 1000);
}
END_TEST

/* What goes upstream and comes back, seen at a fake upstream: the
 * record's id encoded again, the validators forwarded, a coded body and
 * its tag passed back as they are; an id or an If-Match too long to
 * forward answered at once, without asking. */
START_TEST(test_relay_pass_through)
{
	static const char reply[] = JSON_HEAD "ETag: \"f1-gz\"\r\n"
	        "Content-Encoding: gzip\r\nContent-Length: 10\r\n\r\n" GZ_BODY;
	char big[600], path[3200], line[4096];
	struct fake f = {0};
	struct server *srv;
	struct tu_response r;
	unsigned port;
	size_t i;

	srv = fake_relay(_i, &f, reply, strlen(reply), 1024, &port);
	ask(port, "GET", "/v1/user/a%20b%41", "If-None-Match: \"x\", \"y\"\r\n"
	    "If-Match: *\r\nAccept-Encoding: gzip, br\r\nX-Request-Id: r1\r\n",
	    0, &r);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	ck_assert_uint_eq(r.body_len, 10);
	ck_assert(memcmp(r.body, GZ_BODY, 10) == 0);
	tu_assert_header(&r, "Content-Encoding", "gzip");
	tu_assert_header(&r, "ETag", "\"f1-gz\"");
	tu_assert_header(&r, "Location", "/v1/user/a%20bA");
	tu_assert_header(&r, "Content-Type", "application/json");
	tu_assert_header(&r, "Cache-Control", "no-cache");
	tu_assert_header(&r, "Vary", "Accept-Encoding");
	tu_response_free(&r);
	fake_wait_received(&f, 1);
	request_line(&f, 0, line, sizeof(line));
	ck_assert_str_eq(line, "GET /v1/avatar/a%20bA HTTP/1.1");
	ck_assert_msg(strstr(f.heads[0], "\r\nX-Request-Id: r1\r\n"
	                     "If-None-Match: \"x\", \"y\"\r\nIf-Match: *\r\n"
	                     "Accept-Encoding: gzip, br\r\n\r\n") != NULL,
	              "sent: %s", f.heads[0]);
	/* The list, without the fields: none sent. */
	ask(port, "GET", "/v1/user", NULL, 0, &r);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Location", "/v1/user");
	tu_response_free(&r);
	fake_wait_received(&f, 2);
	request_line(&f, 1, line, sizeof(line));
	ck_assert_str_eq(line, "GET /v1/avatar HTTP/1.1");
	ck_assert(strstr(f.heads[1], "If-") == NULL &&
	          strstr(f.heads[1], "Accept-Encoding") == NULL);

	/* An If-Match of 513 bytes cannot go: 412 without asking. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "If-Match: \"", 11);
	memcpy(big + 11 + 511, "\"\r\n", 4);
	ask(port, "GET", "/v1/user/3", big, 0, &r);
	assert_error(&r, 412, "precondition failed");
	tu_assert_header(&r, "Cache-Control", "no-store");
	tu_response_free(&r);
	/* Nor an id of 1,025 escaped bytes: 404 without asking. */
	strcpy(path, "/v1/user/");
	for (i = 0; i < 1025; i++)
		strcat(path, "%20");
	ask(port, "GET", path, NULL, 0, &r);
	assert_error(&r, 404, "user not found");
	tu_response_free(&r);
	/* An over-long If-None-Match or Accept-Encoding is only dropped. */
	memcpy(big, "If-None-Match: \"", 16);
	memset(big + 16, 'a', 511);
	memcpy(big + 16 + 511, "\"\r\n", 4);
	ask(port, "GET", "/v1/user/3", big, 0, &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	fake_wait_received(&f, 3);
	ck_assert(strstr(f.heads[2], "If-None-Match") == NULL);
	ck_assert_uint_eq(__atomic_load_n(&f.received, __ATOMIC_RELAXED), 3);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_requests_total"), 3);
	ck_assert_int_eq(metric(port, "avatar_api_requests_total{route=\"user\","
	                        "status=\"412\"}"), 1);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* The upstream's 304, 412 and 404 as a fake sends them: passed on when
 * the request could get them, a 502 otherwise; errors carry
 * Cache-Control: no-store; with CORS, every answer its headers. */
START_TEST(test_relay_upstream_statuses)
{
	static const struct {
		const char *reply;
		const char *path, *extra;
		int status;
		const char *message;  /* an error's, or NULL */
	} cases[] = {
		{"HTTP/1.1 304 Not Modified\r\nETag: \"f1\"\r\nContent-Length: "
		 "3616\r\n\r\n", "/v1/user", "If-None-Match: \"f1\"\r\n", 304,
		 NULL},
		{"HTTP/1.1 304 Not Modified\r\nETag: \"f1\"\r\n\r\n", "/v1/user/7",
		 "If-None-Match: \"f1\"\r\n", 304, NULL},
		{"HTTP/1.1 304 Not Modified\r\nETag: \"f1\"\r\n\r\n", "/v1/user",
		 NULL, 502, "upstream answered a non-2xx status"},
		{"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n",
		 "/v1/user", "If-Match: \"f2\"\r\n", 412, "precondition failed"},
		{"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n",
		 "/v1/user/7", NULL, 502, "upstream answered a non-2xx status"},
		{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		 "/v1/user/7", NULL, 404, "user not found"},
		{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		 "/v1/user", NULL, 502, "upstream answered a non-2xx status"},
		{"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
		 "/v1/user/7", NULL, 502, "upstream answered a non-2xx status"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char extra[256];
		struct fake f = {0};
		struct server *srv;
		struct tu_response r;
		unsigned port;

		relay_cors = i % 2 ? "http://a.example" : NULL;
		snprintf(extra, sizeof(extra), "%sOrigin: http://a.example\r\n",
		         cases[i].extra != NULL ? cases[i].extra : "");
		srv = fake_relay(_i, &f, cases[i].reply, strlen(cases[i].reply),
		                 1024, &port);
		relay_cors = NULL;
		ask(port, "GET", cases[i].path, extra, cases[i].status == 304, &r);
		if (cases[i].message != NULL) {
			assert_error(&r, cases[i].status, cases[i].message);
			tu_assert_header(&r, "Cache-Control", "no-store");
		} else {
			ck_assert_msg(r.status == 304, "case %zu: %d %s", i,
			              r.status, r.body);
			tu_assert_header(&r, "ETag", "\"f1\"");
			tu_assert_header(&r, "Cache-Control", "no-cache");
			tu_assert_header(&r, "Content-Length",
			                 strstr(cases[i].reply, "3616") ? "3616"
			                                                : "0");
			assert_no_header(&r, "Content-Type");
		}
		if (i % 2) {
			tu_assert_header(&r, "Access-Control-Allow-Origin",
			                 "http://a.example");
			if (cases[i].message == NULL)
				tu_assert_header(&r, "Vary", "Accept-Encoding, Origin");
		} else {
			assert_no_header(&r, "Access-Control-Allow-Origin");
		}
		tu_response_free(&r);
		server_stop(srv, 1000);
		fake_stop(&f);
	}
}
END_TEST

/* ---- an upstream that misbehaves once (issue 11) ---- */

/* An unsolicited answer, with a body no client asked for. */
#define STRAY "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
	"Content-Length: 14\r\n\r\n{\"stray\":true}"
_Static_assert(sizeof(STRAY) - 1 == 85, "STRAY is 85 bytes");
#define HEAD_3 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
	"Content-Length: 3\r\n\r\n"
#define BIG_BODY 20000

/* The head, a 20,000-byte JSON body and one stray byte, in one write:
 * filled in by test_relay_misbehave_once. */
static char big_stray[BIG_BODY + 256];

/* Each misbehaving first answer; the relay must never hand what it left
 * behind to a later request.  STATUS and BODY (or MESSAGE) are what the
 * first client gets; with WAIT the next request is made only once all
 * of the pieces were written (so that they are there to be seen). */
static const struct {
	const char *name;
	struct fake_piece piece[3];
	size_t npieces;
	int wait;
	int status;
	const char *body;    /* 200: the body, or NULL for the 20,000 bytes */
	const char *message; /* 502: the error */
} misbehave[] = {
	/* The head first, then the body and, in a later write, a second
	 * answer: the body is read to its Content-Length, the second answer
	 * stays in the socket. */
	{"stray answer in a later write",
	 {{HEAD_3, 0}, {"[1]", 20}, {STRAY, 0}}, 3, 1, 200, "[1]", NULL},
	{"stray answer in the body's write",
	 {{HEAD_3, 0}, {"[1]" STRAY, 20}}, 2, 1, 200, "[1]", NULL},
	/* A body larger than one head read, and one byte more. */
	{"one stray byte after a 20 kB body",
	 {{big_stray, 0}}, 1, 1, 200, NULL, NULL},
	/* No body by their status, whatever the head says: where their
	 * answer ends is anyone's guess, and what follows comes late. */
	{"204 with a body after it",
	 {{"HTTP/1.1 204 No Content\r\nContent-Type: application/json\r\n"
	   "Content-Length: 85\r\n\r\n", 0}, {STRAY, 50}}, 2, 0, 502, NULL,
	 "upstream body is not JSON"},
	{"304 with a body after it",
	 {{"HTTP/1.1 304 Not Modified\r\nContent-Length: 85\r\n\r\n", 0},
	  {STRAY, 50}}, 2, 0, 502, NULL,
	 "upstream answered a non-2xx status"},
	/* An upgrade nobody asked for: what follows is not HTTP/1.1. */
	{"unsolicited 101",
	 {{"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	   "Upgrade: websocket\r\n\r\n" STRAY, 0}}, 1, 0, 502, NULL,
	 "upstream connection failed"},
	/* "2 0": 2 to one parser, 0x20 to another. */
	{"chunk size with inner whitespace",
	 {{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	   "Transfer-Encoding: chunked\r\n\r\n2 0\r\n[]\r\n0\r\n\r\n", 0}}, 1,
	 0, 502, NULL, "upstream connection failed"},
	{"Content-Length and Transfer-Encoding",
	 {{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	   "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
	   "2\r\n[]\r\n0\r\n\r\n", 0}}, 1, 0, 502, NULL,
	 "upstream connection failed"},
	/* Already refused before issue 11; kept as a guard. */
	{"two different Content-Lengths",
	 {{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	   "Content-Length: 2\r\nContent-Length: 3\r\n\r\n[1]", 0}}, 1, 0, 502,
	 NULL, "upstream connection failed"},
};
#define NMISBEHAVE (sizeof(misbehave) / sizeof(misbehave[0]))

/* Wait until F has written its ONCE pieces (5 s at most). */
static void
fake_wait_once(struct fake *f)
{
	struct timespec nap = {0, 2L * 1000 * 1000};
	int i;

	for (i = 0; i < 2500; i++) {
		if (__atomic_load_n(&f->once_sent, __ATOMIC_ACQUIRE))
			return;
		nanosleep(&nap, NULL);
	}
	ck_abort_msg("the upstream did not write its misbehaving answer");
}

/* With one upstream connection (so that the next request would reuse
 * it), an upstream misbehaves once, then answers the fixture: the first
 * client gets what that answer deserves, the next two the fixture, over
 * a second connection that is then reused.  _i: the case times 2, plus
 * the mode. */
START_TEST(test_relay_misbehave_once)
{
	int mode = _i % 2;
	size_t k = (size_t)_i / 2, len, glen, n;
	const char *name = misbehave[k].name;
	char *want = tu_expected_body(&len), *good;
	struct fake f = {0};
	struct server *srv;
	struct tu_response r;
	unsigned port;

	n = (size_t)sprintf(big_stray, "HTTP/1.1 200 OK\r\nContent-Type: "
	                    "application/json\r\nContent-Length: %u\r\n\r\n[",
	                    BIG_BODY);
	memset(big_stray + n, '1', BIG_BODY - 2);
	memcpy(big_stray + n + BIG_BODY - 2, "]x", 3);
	good = malloc(len + 128);
	ck_assert(good != NULL);
	glen = (size_t)sprintf(good, "HTTP/1.1 200 OK\r\nContent-Type: "
	                       "application/json\r\nContent-Length: %zu\r\n\r\n",
	                       len);
	memcpy(good + glen, want, len);
	glen += len;
	f.once = misbehave[k].piece;
	f.nonce = misbehave[k].npieces;
	fake_serve(&f, good, glen);
	srv = relay_server(mode, url, 2000, 1024 * 1024, 1, 4, NULL, &port);

	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_msg(r.status == misbehave[k].status, "%s (%s): first "
	              "answer %d, want %d: %.200s", name, mode_names[mode],
	              r.status, misbehave[k].status, r.body);
	if (misbehave[k].message != NULL)
		assert_error(&r, 502, misbehave[k].message);
	else if (misbehave[k].body != NULL)
		ck_assert_str_eq(r.body, misbehave[k].body);
	else
		ck_assert_uint_eq(r.body_len, BIG_BODY);
	tu_response_free(&r);
	if (misbehave[k].wait)
		fake_wait_once(&f);
	for (n = 0; n < 2; n++) {
		tu_get(port, "GET", "/v1/user", &r);
		ck_assert_msg(r.status == 200 && r.body_len == len &&
		              memcmp(r.body, want, len) == 0, "%s (%s): answer "
		              "%zu after it: %d %.200s", name, mode_names[mode],
		              n + 1, r.status, r.body);
		tu_response_free(&r);
	}
	/* The misbehaving connection was dropped, the next one reused. */
	ck_assert_msg(__atomic_load_n(&f.accepted, __ATOMIC_RELAXED) == 2,
	              "%s (%s): %u upstream connections, want 2", name,
	              mode_names[mode],
	              __atomic_load_n(&f.accepted, __ATOMIC_RELAXED));
	server_stop(srv, 1000);
	fake_stop(&f);
	free(good);
	free(want);
}
END_TEST

/* Answers that arrive a few bytes at a time, a millisecond apart. */
START_TEST(test_relay_split)
{
	static const struct {
		const char *reply;
		size_t split;
		int close;
	} cases[] = {
		{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n4\r\n[1,2\r\n3;x=y\r\n,3]"
		 "\r\n0\r\n\r\n", 1, 0},
		{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Length: 7\r\n\r\n[1,2,3]", 3, 0},
		{"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
		 "[1,2,3]", 5, 1},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake f = {0};
		struct server *srv;
		unsigned port;

		f.split = cases[i].split;
		f.close = cases[i].close;
		srv = fake_relay(_i, &f, cases[i].reply, strlen(cases[i].reply),
		                 1024, &port);
		get_body(port, "[1,2,3]", 7);
		get_body(port, "[1,2,3]", 7);
		server_stop(srv, 1000);
		fake_stop(&f);
	}
}
END_TEST

/* A response head up to 16 KiB is read; a longer one is a 502. */
START_TEST(test_relay_head_limit)
{
	static const char tail[] = "\r\nContent-Type: application/json\r\n"
	        "Content-Length: 2\r\n\r\n[]";
	size_t sizes[] = {15000, 17000}, i;

	for (i = 0; i < 2; i++) {
		char *reply = malloc(sizes[i] + 256);
		struct fake f = {0};
		struct server *srv;
		struct tu_response r;
		unsigned port;
		size_t len;

		ck_assert(reply != NULL);
		len = (size_t)sprintf(reply, "HTTP/1.1 200 OK\r\nX-Big: ");
		memset(reply + len, 'a', sizes[i]);
		len += sizes[i];
		memcpy(reply + len, tail, sizeof(tail));
		len += strlen(tail);
		srv = fake_relay(_i, &f, reply, len, 1024, &port);
		tu_get(port, "GET", "/v1/user", &r);
		if (i == 0) {
			ck_assert_int_eq(r.status, 200);
			ck_assert_str_eq(r.body, "[]");
		} else {
			assert_error(&r, 502, "upstream connection failed");
		}
		tu_response_free(&r);
		server_stop(srv, 1000);
		fake_stop(&f);
		free(reply);
	}
}
END_TEST

/* Thread: one GET /v1/user on a new connection; the response goes to
 * the struct tu_response ARG. */
static void *
get_thread(void *arg)
{
	struct tu_response *r = arg;
	struct tu_conn c;

	r->status = -1;
	if (tu_connect(&c, (unsigned)r->body_len) < 0)
		return NULL;
	if (tu_request(&c, "GET", "/v1/user", NULL) == 0 &&
	    tu_read_response(&c, r, 0) < 0)
		r->status = -2;
	tu_close(&c);
	return NULL;
}

/* A relay in MODE with one upstream connection and no queue, its only
 * slot taken: a fake upstream F that answers "[]" after DELAY_MS, and a
 * first request (in thread *T, its answer into *FIRST) that it holds.
 * Returns the relay; *PORT is its port.  End with busy_end. */
static const char busy_reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
        "application/json\r\nContent-Length: 2\r\n\r\n[]";

static struct server *
busy_start(int mode, struct fake *f, unsigned delay_ms, pthread_t *t,
           struct tu_response *first, unsigned *port)
{
	struct server *srv;

	memset(f, 0, sizeof(*f));
	f->delay_ms = delay_ms;
	fake_serve(f, busy_reply, strlen(busy_reply));
	srv = relay_server(mode, url, delay_ms + 1500, 1024, 1, 0, NULL, port);
	memset(first, 0, sizeof(*first));
	first->body_len = *port; /* the port, for get_thread */
	ck_assert(pthread_create(t, NULL, get_thread, first) == 0);
	fake_wait_received(f, 1);
	return srv;
}

/* The first request got its "[]"; stop the relay and the upstream. */
static void
busy_end(struct server *srv, struct fake *f, pthread_t t,
         struct tu_response *first)
{
	pthread_join(t, NULL);
	ck_assert_int_eq(first->status, 200);
	ck_assert_str_eq(first->body, "[]");
	tu_response_free(first);
	server_stop(srv, 1000);
	fake_stop(f);
}

/* ---- the front end (front.c): epoll mode's own answers ---- */

/* The answer to the raw REQUEST on a new connection to PORT, into R, the
 * value of its Date blanked (it may be of another second). */
static void
front_ask(unsigned port, const char *request, struct tu_response *r)
{
	struct tu_conn *c = malloc(sizeof(*c));
	char *d;

	ck_assert(c != NULL && tu_connect(c, port) == 0);
	ck_assert(tu_send(c, request, strlen(request)) == 0);
	ck_assert_msg(tu_read_response(c, r, 0) == 0, "no answer to %s",
	              request);
	tu_close(c);
	free(c);
	d = strstr(r->head, "\r\nDate: ");
	ck_assert_msg(d != NULL && strlen(d) > 8 + 29, "no Date: %s", r->head);
	memset(d + 8, 'x', 29);
}

/* HEAD (a request line and fields, no empty line) as the front end
 * takes it, and with a field that makes libmicrohttpd serve it: the
 * same status STATUS and the same bytes, Date aside.  In epoll mode the
 * first was the front end's, the second handed on; in
 * thread-per-connection mode there is no front end. */
static void
front_same(struct server *srv, int mode, unsigned port, const char *head,
           int status)
{
	char fast[1024], slow[1024];
	unsigned long a[3], h[3];
	struct tu_response r1, r2;

	snprintf(fast, sizeof(fast), "%s\r\n", head);
	snprintf(slow, sizeof(slow), "%sX-Probe: 1\r\n\r\n", head);
	server_front_counts(srv, &a[0], &h[0]);
	front_ask(port, fast, &r1);
	server_front_counts(srv, &a[1], &h[1]);
	front_ask(port, slow, &r2);
	server_front_counts(srv, &a[2], &h[2]);
	ck_assert_msg(r1.status == status, "status %d, want %d: %s", r1.status,
	              status, r1.head);
	ck_assert_msg(strcmp(r1.head, r2.head) == 0,
	              "front end:\n%s\nlibmicrohttpd:\n%s", r1.head, r2.head);
	ck_assert_uint_eq(r1.body_len, r2.body_len);
	ck_assert(memcmp(r1.body, r2.body, r1.body_len) == 0);
	if (modes[mode] == CONFIG_MODE_EPOLL) {
		ck_assert_msg(a[1] == a[0] + 1 && h[1] == h[0],
		              "not the front end's: %s", head);
		ck_assert_msg(a[2] == a[1] && h[2] == h[1] + 1,
		              "not handed on: %s", head);
	} else {
		ck_assert_uint_eq(a[2] + h[2], 0);
	}
	tu_response_free(&r1);
	tu_response_free(&r2);
}

/* Every answer the front end makes is byte for byte libmicrohttpd's:
 * the list and records (ETag, gzip), an upstream 404, 502 and 504, the
 * 503 of a full queue, and with CORS. */
START_TEST(test_relay_front_same_bytes)
{
	static const char host[] = "Host: x\r\n";
	struct server *up, *srv;
	struct fake f = {0};
	struct tu_response first;
	pthread_t t;
	unsigned up_port, port, closed = tu_free_port();
	char head[256];

	up = tu_server_start(modes[_i], &up_port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/user", up_port);
	srv = relay_server(_i, url, 2000, 1024 * 1024, 4, 16, NULL, &port);
	front_same(srv, _i, port, "GET /v1/user HTTP/1.1\r\nHost: x\r\n", 200);
	front_same(srv, _i, port, "GET /v1/user/3 HTTP/1.1\r\nhost: x\r\n"
	           "User-Agent: t/1\r\nAccept: */*\r\n", 200);
	front_same(srv, _i, port, "GET /v1/user/3 HTTP/1.1\r\nHost: x\r\n"
	           "Accept-Encoding:  gzip \r\n", 200);
	front_same(srv, _i, port, "GET /v1/user HTTP/1.1\r\nHost: x\r\n"
	           "accept-encoding: gzip;q=0\r\n", 200);
	front_same(srv, _i, port, "GET /v1/user/no-such.id_~ HTTP/1.1\r\n"
	           "Host: x\r\n", 404);
	server_stop(srv, 1000);

	relay_cors = "*";
	srv = relay_server(_i, url, 2000, 1024 * 1024, 4, 16, NULL, &port);
	relay_cors = NULL;
	front_same(srv, _i, port, "GET /v1/user HTTP/1.1\r\nHost: x\r\n", 200);
	server_stop(srv, 1000);
	server_stop(up, 1000);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/user", closed);
	srv = relay_server(_i, url, 2000, 1024, 4, 16, NULL, &port);
	snprintf(head, sizeof(head), "GET /v1/user HTTP/1.1\r\n%s", host);
	front_same(srv, _i, port, head, 502);
	server_stop(srv, 1000);

	f.stall = 1;
	fake_serve(&f, NULL, 0);
	srv = relay_server(_i, url, 100, 1024, 4, 16, NULL, &port);
	front_same(srv, _i, port, head, 504);
	server_stop(srv, 1000);
	fake_stop(&f);

	srv = busy_start(_i, &f, 1500, &t, &first, &port);
	front_same(srv, _i, port, head, 503);
	busy_end(srv, &f, t, &first);
}
END_TEST

/* GET /v1/user on C: a 200. */
static void
list_ok(struct tu_conn *c)
{
	static const char list[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n";
	struct tu_response r;

	ck_assert(tu_send(c, list, strlen(list)) == 0);
	ck_assert(tu_read_response(c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
}

/* What the front end hands to libmicrohttpd, with the bytes it read, is
 * answered as libmicrohttpd alone would: pipelined requests, a request
 * in pieces, a bad one after a good one, and a connection that starts
 * with the front end and goes on with libmicrohttpd. */
START_TEST(test_relay_front_hand_over)
{
	static const char list[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char two[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n"
	                          "GET /v1/user/2 HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char good_bad[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n"
	        "GET /v1/user HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
	struct tu_conn *c = malloc(sizeof(*c));
	struct tu_response r;
	struct server *up, *srv;
	unsigned up_port, port;
	unsigned long a0, h0, a1, h1;
	char etag[64], inm[128];

	ck_assert(c != NULL);
	up = tu_server_start(modes[_i], &up_port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/user", up_port);
	srv = relay_server(_i, url, 2000, 1024 * 1024, 4, 16, NULL, &port);

	/* Two requests in one write, then a third: all with MHD. */
	server_front_counts(srv, &a0, &h0);
	ck_assert(tu_connect(c, port) == 0);
	ck_assert(tu_send(c, two, strlen(two)) == 0);
	ck_assert(tu_read_response(c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Location", "/v1/user");
	tu_response_free(&r);
	ck_assert(tu_read_response(c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 200);
	tu_assert_header(&r, "Location", "/v1/user/2");
	tu_response_free(&r);
	list_ok(c);
	tu_close(c);
	server_front_counts(srv, &a1, &h1);
	ck_assert_uint_eq(a1, a0);
	ck_assert_uint_eq(h1, h0 + (modes[_i] == CONFIG_MODE_EPOLL));

	/* A request in two pieces. */
	ck_assert(tu_connect(c, port) == 0);
	ck_assert(tu_send(c, list, 20) == 0);
	usleep(50 * 1000);
	ck_assert(tu_send(c, list + 20, strlen(list) - 20) == 0);
	ck_assert(tu_read_response(c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	tu_close(c);

	/* A good request and a bad one in one write: the answer, then
	 * the framing check's 400, and the close. */
	ck_assert(tu_connect(c, port) == 0);
	ck_assert(tu_send(c, good_bad, strlen(good_bad)) == 0);
	ck_assert(tu_read_response(c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	ck_assert(tu_read_response(c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 400);
	tu_response_free(&r);
	ck_assert(tu_closed(c, 2000));
	tu_close(c);

	/* The front end's first, then a conditional one (304, MHD's),
	 * then the list again, all on one connection. */
	server_front_counts(srv, &a0, &h0);
	ck_assert(tu_connect(c, port) == 0);
	ck_assert(tu_send(c, list, strlen(list)) == 0);
	ck_assert(tu_read_response(c, &r, 0) == 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert(tu_header(&r, "ETag", etag, sizeof(etag)) == 1);
	tu_response_free(&r);
	snprintf(inm, sizeof(inm), "If-None-Match: %s\r\n", etag);
	ck_assert(tu_request(c, "GET", "/v1/user", inm) == 0);
	ck_assert(tu_read_response(c, &r, 1) == 0); /* no body */
	ck_assert_int_eq(r.status, 304);
	tu_response_free(&r);
	list_ok(c);
	tu_close(c);
	server_front_counts(srv, &a1, &h1);
	if (modes[_i] == CONFIG_MODE_EPOLL) {
		ck_assert_uint_eq(a1, a0 + 1);
		ck_assert_uint_eq(h1, h0 + 1);
	}
	ck_assert_int_eq(server_stop(srv, 1000), 0);
	server_stop(up, 1000);
	free(c);
}
END_TEST

/* One connection, no queue: a second request while the first is in
 * flight gets 503 at once. */
START_TEST(test_relay_queue_full)
{
	struct fake f;
	struct server *srv;
	struct tu_response first, r;
	pthread_t t;
	unsigned port;
	long long took;

	srv = busy_start(_i, &f, 500, &t, &first, &port);
	took = tu_get(port, "GET", "/v1/user", &r);
	assert_error(&r, 503, "upstream queue full");
	tu_response_free(&r);
	ck_assert_msg(took < 400, "503 took %lld ms", took);
	busy_end(srv, &f, t, &first);
}
END_TEST

/* A relayed request's duration runs from its first handler call to its
 * completion: the time the connection was suspended (epoll) or the
 * handler waited (thread-per-connection) for the upstream is in it. */
START_TEST(test_relay_duration)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 2\r\n\r\n[]";
	static const char count[] = "avatar_api_request_duration_seconds_count"
	        "{route=\"list\",status_class=\"2xx\"}";
	struct timespec nap = {0, 10L * 1000 * 1000};
	struct fake f = {0};
	struct server *srv;
	struct tu_response r;
	unsigned port;
	int i;

	f.delay_ms = 200;
	fake_serve(&f, reply, strlen(reply));
	srv = relay_server(_i, url, 2000, 1024, 1, 0, NULL, &port);
	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	/* Counted at completion, which may follow the client's read. */
	for (i = 0; i < 200 && metric(port, count) != 1; i++)
		nanosleep(&nap, NULL);
	ck_assert_int_eq(metric(port, count), 1);
	ck_assert_int_eq(metric(port, "avatar_api_request_duration_seconds_"
	                        "bucket{route=\"list\",status_class=\"2xx\","
	                        "le=\"0.1\"}"), 0);
	ck_assert_int_eq(metric(port, "avatar_api_request_duration_seconds_"
	                        "bucket{route=\"list\",status_class=\"2xx\","
	                        "le=\"10\"}"), 1);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* A request waiting for the one upstream connection times out like one
 * in flight: both get 504 after the timeout. */
START_TEST(test_relay_queue_timeout)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 2\r\n\r\n[]";
	struct fake f = {0};
	struct server *srv;
	struct tu_response r[3];
	pthread_t t[3];
	unsigned port, i;
	long long t0, took;

	f.delay_ms = 3000;
	fake_serve(&f, reply, strlen(reply));
	srv = relay_server(_i, url, 300, 1024, 1, 4, NULL, &port);
	t0 = now_ms();
	for (i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].body_len = port;
		ck_assert(pthread_create(&t[i], NULL, get_thread, &r[i]) == 0);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_error(&r[i], 504, "upstream timed out");
		tu_response_free(&r[i]);
	}
	took = now_ms() - t0;
	ck_assert_msg(took >= 290 && took < 2000, "504s after %lld ms", took);
	ck_assert_int_eq(metric(port, "avatar_api_upstream_errors_total"
	                        "{kind=\"timeout\"}"), 3);
	server_stop(srv, 1000);
	fake_stop(&f);
}
END_TEST

/* server_stop with requests in flight: each gets its answer (with
 * "Connection: close") before the server stops. */
START_TEST(test_relay_stop_in_flight)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 2\r\n\r\n[]";
	struct fake f = {0};
	struct server *srv;
	struct tu_response r[8];
	pthread_t t[8];
	unsigned port, i;
	char v[16];

	f.delay_ms = 400;
	fake_serve(&f, reply, strlen(reply));
	srv = relay_server(_i, url, 2000, 1024, 8, 8, NULL, &port);
	for (i = 0; i < 8; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].body_len = port;
		ck_assert(pthread_create(&t[i], NULL, get_thread, &r[i]) == 0);
	}
	fake_wait_received(&f, 8);
	ck_assert_uint_eq(server_stop(srv, 5000), 0);
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(r[i].status == 200, "request %u: status %d", i,
		              r[i].status);
		ck_assert_str_eq(r[i].body, "[]");
		ck_assert(tu_header(&r[i], "Connection", v, sizeof(v)) == 1);
		ck_assert_str_eq(v, "close");
		tu_response_free(&r[i]);
	}
	fake_stop(&f);
}
END_TEST

/* A relay still in flight when the drain time is over is ended: its
 * client gets 503 before the server stops. */
START_TEST(test_relay_stop_deadline)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 2\r\n\r\n[]";
	struct fake f = {0};
	struct server *srv;
	struct tu_response r;
	pthread_t t;
	unsigned port, left;
	long long t0;

	f.delay_ms = 3000;
	fake_serve(&f, reply, strlen(reply));
	srv = relay_server(_i, url, 5000, 1024, 2, 2, NULL, &port);
	memset(&r, 0, sizeof(r));
	r.body_len = port;
	ck_assert(pthread_create(&t, NULL, get_thread, &r) == 0);
	fake_wait_received(&f, 1);
	t0 = now_ms();
	left = server_stop(srv, 200);
	ck_assert_msg(now_ms() - t0 < 1000, "stop took %lld ms",
	              now_ms() - t0);
	pthread_join(t, NULL);
	assert_error(&r, 503, "shutting down");
	tu_response_free(&r);
	ck_assert_uint_eq(left, 0);
	fake_stop(&f);
}
END_TEST

/* ---- the built binary ---- */

/* Spawn the binary with ARGV and ENVP; wait for its "Listening" line. */
static pid_t
spawn(char *const argv[], char *const envp[], int *errfd)
{
	char line[2048] = "";
	pid_t pid;

	pid = tu_spawn(tu_env("AVATAR_API_BIN"), argv, envp, NULL, -1, errfd);
	ck_assert_msg(tu_read_until(*errfd, line, sizeof(line), "Listening",
	                            5000) == 0 &&
	              tu_read_until(*errfd, line, sizeof(line), "\n", 5000) == 0,
	              "no start-up line: %s", line);
	return pid;
}

/* Both tiers from one binary, configured as the reference's
 * docker-compose does: M1_PORT/M1_PATH for microservice2, M2_* for
 * microservice1. */
START_TEST(test_relay_two_tiers)
{
	char m2_port[32], m1_port[32], m2_env[32], data[4200];
	char *m2_argv[] = {(char *)"avatar-api", (char *)"--mode",
	                   (char *)mode_names[_i], NULL};
	char *m2_envp[] = {m2_port, (char *)"M1_PATH=/v1/avatar",
	                   (char *)"M1_DOMAIN=127.0.0.1", data, NULL};
	char *m1_envp[] = {m1_port, m2_env, (char *)"M1_DOMAIN=127.0.0.1",
	                   (char *)"M2_DOMAIN=http://127.0.0.1", NULL};
	struct tu_response r;
	unsigned p2 = tu_free_port(), p1 = tu_free_port();
	int e1, e2;
	pid_t m1, m2;
	size_t len;
	char *want = tu_expected_body(&len);

	snprintf(m2_port, sizeof(m2_port), "M1_PORT=%u", p2);
	snprintf(data, sizeof(data), "AVATAR_API_DATA=%s",
	         tu_env("AVATAR_API_FIXTURE"));
	m2 = spawn(m2_argv, m2_envp, &e2);
	tu_get(p2, "GET", "/v1/avatar", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, len);
	ck_assert(memcmp(r.body, want, len) == 0);
	tu_assert_header(&r, "Location", "/v1/avatar");
	tu_response_free(&r);

	snprintf(m1_port, sizeof(m1_port), "M1_PORT=%u", p1);
	snprintf(m2_env, sizeof(m2_env), "M2_PORT=%u", p2);
	m1 = spawn(m2_argv, m1_envp, &e1);
	tu_get(p1, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, len);
	ck_assert(memcmp(r.body, want, len) == 0);
	tu_assert_header(&r, "Location", "/v1/user");
	tu_assert_header(&r, "Content-Type", "application/json");
	tu_response_free(&r);
	/* The default M2_PATH is /v1/avatar, the default route /v1/user. */
	tu_get(p1, "GET", "/v1/avatar", &r);
	assert_error(&r, 404, "not found");
	tu_response_free(&r);
	tu_stop(m1, e1);
	tu_stop(m2, e2);
	free(want);
}
END_TEST

/* Count the lines of LOG that contain WHAT. */
static unsigned
log_count(const char *log, const char *what)
{
	unsigned n = 0;

	while ((log = strstr(log, what)) != NULL) {
		n++;
		log += strlen(what);
	}
	return n;
}

/* An unreachable upstream leaves a trace in the log: a warning at once
 * for the first failure, no line per request after it, and a line when
 * the upstream answers again (with the count not yet logged first). */
START_TEST(test_relay_log_failures)
{
	char m1_port[32], m2_port[32], upstream[128], data[4200];
	char log[16384] = "";
	char *m1_argv[] = {(char *)"avatar-api", (char *)"--mode",
	                   (char *)mode_names[_i], (char *)"--upstream",
	                   upstream, NULL};
	char *m1_envp[] = {m1_port, (char *)"M1_DOMAIN=127.0.0.1", NULL};
	char *m2_argv[] = {(char *)"avatar-api", NULL};
	char *m2_envp[] = {m2_port, (char *)"M1_PATH=/v1/avatar",
	                   (char *)"M1_DOMAIN=127.0.0.1", data, NULL};
	struct tu_response r;
	unsigned p1 = tu_free_port(), p2 = tu_free_port(), i, tries;
	int e1, e2;
	pid_t m1, m2;

	snprintf(m1_port, sizeof(m1_port), "M1_PORT=%u", p1);
	snprintf(m2_port, sizeof(m2_port), "M1_PORT=%u", p2);
	snprintf(upstream, sizeof(upstream), "http://127.0.0.1:%u/v1/avatar",
	         p2);
	snprintf(data, sizeof(data), "AVATAR_API_DATA=%s",
	         tu_env("AVATAR_API_FIXTURE"));
	m1 = spawn(m1_argv, m1_envp, &e1);

	/* Nothing listens on P2: the first failure is logged at once. */
	tu_get(p1, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 502);
	tu_response_free(&r);
	ck_assert_msg(tu_read_until(e1, log, sizeof(log), "request failed: "
	                            "connect", 1000) == 0,
	              "no line within 1 s of the failure: %s", log);
	ck_assert_msg(tu_log_has(log, "warning", "upstream: 1 request failed: "
	                         "connect (connection refused)"),
	              "log: %s", log);

	/* 200 more: counted, not logged one by one. */
	for (i = 0; i < 200; i++) {
		tu_get(p1, "GET", "/v1/user", &r);
		ck_assert_int_eq(r.status, 502);
		tu_response_free(&r);
	}
	(void)tu_read_until(e1, log, sizeof(log), "answering again", 1000);
	ck_assert_msg(log_count(log, " failed") <= 2, "flooded: %s", log);

	/* The upstream comes up: the counts, then the recovery. */
	m2 = spawn(m2_argv, m2_envp, &e2);
	for (tries = 0; tries < 20; tries++) {
		tu_get(p1, "GET", "/v1/user", &r);
		if (r.status == 200)
			break;
		tu_response_free(&r);
		usleep(50 * 1000);
	}
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
	ck_assert_msg(tu_read_until(e1, log, sizeof(log), "answering again "
	                            "after", 2000) == 0 &&
	              tu_read_until(e1, log, sizeof(log), "failures\n", 1000)
	              == 0, "no recovery line: %s", log);
	ck_assert_msg(tu_log_has(log, "warning", "upstream: 200 requests "
	                         "failed in the last "),
	              "log: %s", log);
	ck_assert_msg(tu_log_has(log, "info", "upstream: answering again "
	                         "after 201 failures\n"), "log: %s", log);
	ck_assert_uint_eq(log_count(log, " failed"), 2);
	tu_stop(m1, e1);
	tu_stop(m2, e2);
}
END_TEST

/* The upstream moves (a container restarted with a new address): a host
 * name is looked up again once connects fail, and the relay recovers
 * without a restart.  tests/resolve-shim.so makes "upstream.test"
 * resolve to the address in a file: first 127.0.0.2, where nothing
 * listens on that port (502), then 127.0.0.1, where microservice2 is. */
START_TEST(test_relay_reresolve)
{
	char dir[256], file[300], m2_port[32], m1_port[32], data[4200];
	char upstream[128], preload[1100], resolve[400], log[4096] = "";
	char *m2_argv[] = {(char *)"avatar-api", NULL};
	char *m2_envp[] = {m2_port, (char *)"M1_PATH=/v1/avatar",
	                   (char *)"M1_DOMAIN=127.0.0.1", data, NULL};
	char *m1_argv[] = {(char *)"avatar-api", (char *)"--mode",
	                   (char *)mode_names[_i], (char *)"--upstream",
	                   upstream, (char *)"--upstream-timeout", (char *)"1",
	                   NULL};
	/* Under --enable-sanitizers ASan wants to be loaded first: let the
	 * shim come before it (it only wraps getaddrinfo). */
	char *m1_envp[] = {m1_port, (char *)"M1_DOMAIN=127.0.0.1", preload,
	                   resolve,
	                   (char *)"ASAN_OPTIONS=verify_asan_link_order=0",
	                   NULL};
	struct tu_response r;
	unsigned p2 = tu_free_port(), p1 = tu_free_port(), tries = 0;
	int e1, e2;
	pid_t m1, m2;
	size_t len;
	char *want = tu_expected_body(&len);

	tu_tmpdir_make(dir, sizeof(dir), "relay-resolve");
	snprintf(file, sizeof(file), "%s/address", dir);
	tu_write_file(file, "127.0.0.2\n", 10);
	snprintf(m2_port, sizeof(m2_port), "M1_PORT=%u", p2);
	snprintf(data, sizeof(data), "AVATAR_API_DATA=%s",
	         tu_env("AVATAR_API_FIXTURE"));
	snprintf(m1_port, sizeof(m1_port), "M1_PORT=%u", p1);
	snprintf(upstream, sizeof(upstream), "http://upstream.test:%u/v1/avatar",
	         p2);
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s",
	         tu_env("AVATAR_API_RESOLVE_SO"));
	snprintf(resolve, sizeof(resolve), "AVATAR_API_RESOLVE_FILE=%s", file);
	m2 = spawn(m2_argv, m2_envp, &e2);
	m1 = spawn(m1_argv, m1_envp, &e1);

	tu_get(p1, "GET", "/v1/user", &r);
	assert_error(&r, 502, "upstream unreachable");
	tu_response_free(&r);

	/* Moved: within a few seconds (one lookup a second at most). */
	tu_write_file(file, "127.0.0.1\n", 10);
	for (;;) {
		tu_get(p1, "GET", "/v1/user", &r);
		if (r.status == 200 || ++tries == 40)
			break;
		tu_response_free(&r);
		usleep(100 * 1000);
	}
	ck_assert_msg(r.status == 200, "still %d after %u tries", r.status,
	              tries);
	ck_assert_uint_eq(r.body_len, len);
	ck_assert(memcmp(r.body, want, len) == 0);
	tu_response_free(&r);
	ck_assert_msg(tu_read_until(e1, log, sizeof(log), "resolves to other "
	                            "addresses now", 2000) == 0,
	              "no log line for the new address: %s", log);
	ck_assert_msg(tu_log_has(log, "info", "resolves to other addresses now"),
	              "not an info line: %s", log);
	tu_stop(m1, e1);
	tu_stop(m2, e2);
	tu_tmpdir_remove(dir);
	free(want);
}
END_TEST

/* SIGTERM PID and return the milliseconds until it exited 0. */
static long
stop_timed(pid_t pid, int errfd)
{
	struct timespec a, b;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert(kill(pid, SIGTERM) == 0);
	ck_assert(waitpid(pid, &status, 0) == pid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "exit status %d", status);
	close(errfd);
	return (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
}

#define IDLE_CLIENTS 100

/* Both tiers with idle keep-alive connections: 100 clients of the relay,
 * and the relay's own pool to the fixture tier.  SIGTERM to either
 * closes them at once: each exits within 100 ms (each waited the whole
 * 5 s drain before). */
START_TEST(test_relay_two_tiers_stop_idle)
{
	static struct tu_conn c[IDLE_CLIENTS];
	char m2_port[32], m1_port[32], m2_env[32], data[4200];
	char *argv[] = {(char *)"avatar-api", (char *)"--mode",
	                (char *)mode_names[_i], NULL};
	char *m2_envp[] = {m2_port, (char *)"M1_PATH=/v1/avatar",
	                   (char *)"M1_DOMAIN=127.0.0.1", data, NULL};
	char *m1_envp[] = {m1_port, m2_env, (char *)"M1_DOMAIN=127.0.0.1",
	                   (char *)"M2_DOMAIN=http://127.0.0.1", NULL};
	struct tu_response r;
	unsigned p2 = tu_free_port(), p1 = tu_free_port();
	int e1, e2;
	long ms;
	pid_t m1, m2;
	size_t i;

	snprintf(m2_port, sizeof(m2_port), "M1_PORT=%u", p2);
	snprintf(data, sizeof(data), "AVATAR_API_DATA=%s",
	         tu_env("AVATAR_API_FIXTURE"));
	snprintf(m1_port, sizeof(m1_port), "M1_PORT=%u", p1);
	snprintf(m2_env, sizeof(m2_env), "M2_PORT=%u", p2);
	m2 = spawn(argv, m2_envp, &e2);
	m1 = spawn(argv, m1_envp, &e1);
	for (i = 0; i < IDLE_CLIENTS; i++) {
		ck_assert(tu_connect(&c[i], p1) == 0);
		ck_assert(tu_request(&c[i], "GET", "/v1/user", NULL) == 0);
		ck_assert(tu_read_response(&c[i], &r, 0) == 0);
		ck_assert_int_eq(r.status, 200);
		tu_response_free(&r);
	}
	ck_assert_int_gt(metric(p1, "avatar_api_upstream_connections_opened_"
	                        "total"), 0);
	ms = stop_timed(m2, e2);
	ck_assert_msg(ms < 100, "%s: the fixture tier took %ld ms to stop",
	              mode_names[_i], ms);
	ms = stop_timed(m1, e1);
	ck_assert_msg(ms < 100, "%s: the relay took %ld ms to stop",
	              mode_names[_i], ms);
	for (i = 0; i < IDLE_CLIENTS; i++) {
		ck_assert(tu_closed(&c[i], 0));
		tu_close(&c[i]);
	}
}
END_TEST

/* SIGTERM with relays in flight (slow upstream): all answered, exit 0. */
START_TEST(test_relay_sigterm_in_flight)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	        "application/json\r\nContent-Length: 2\r\n\r\n[]";
	struct fake f = {0};
	char portstr[16];
	char *argv[] = {(char *)"avatar-api", (char *)"--address",
	                (char *)"127.0.0.1", (char *)"--port", portstr,
	                (char *)"--mode", (char *)mode_names[_i],
	                (char *)"--upstream", url, NULL};
	char *envp[] = {NULL};
	struct tu_response r[10];
	pthread_t t[10];
	unsigned port = tu_free_port(), i;
	int errfd;
	pid_t pid;

	f.delay_ms = 500;
	fake_serve(&f, reply, strlen(reply));
	snprintf(portstr, sizeof(portstr), "%u", port);
	pid = spawn(argv, envp, &errfd);
	for (i = 0; i < 10; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].body_len = port;
		ck_assert(pthread_create(&t[i], NULL, get_thread, &r[i]) == 0);
	}
	fake_wait_received(&f, 10);
	tu_stop(pid, errfd);
	for (i = 0; i < 10; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(r[i].status == 200, "request %u: status %d", i,
		              r[i].status);
		ck_assert_str_eq(r[i].body, "[]");
		tu_assert_header(&r[i], "Connection", "close");
		tu_response_free(&r[i]);
	}
	ck_assert_uint_eq(__atomic_load_n(&f.requests, __ATOMIC_RELAXED), 10);
	fake_stop(&f);
}
END_TEST

/* ---- the relay alone, as a client with a completion callback ---- */

/* What client_done saw. */
struct outcome_box {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int called;
	pthread_t thread;        /* the thread it ran on */
	int done_seen;           /* relay_done(job) in the callback */
	int same;                /* relay_outcome(job) says the same */
	enum relay_kind kind;
	char body[256];
	size_t len;
	int body_null;
};

static void
box_init(struct outcome_box *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
}

static void
box_free(struct outcome_box *b)
{
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

static void
client_done(void *arg, struct relay_job *job, const struct relay_outcome *out)
{
	struct outcome_box *b = arg;
	const struct relay_outcome *o = relay_outcome(job);

	pthread_mutex_lock(&b->lock);
	b->called++;
	b->thread = pthread_self();
	b->done_seen = relay_done(job);
	b->same = o->kind == out->kind && o->body == out->body &&
	          o->len == out->len;
	b->kind = out->kind;
	b->body_null = out->body == NULL;
	b->len = out->len;
	if (out->body != NULL && out->len < sizeof(b->body))
		memcpy(b->body, out->body, out->len);
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Wait (5 s at most) until the callback ran N times in all. */
static void
box_wait(struct outcome_box *b, int n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&b->lock);
	while (b->called < n &&
	       pthread_cond_timedwait(&b->cond, &b->lock, &until) == 0)
		;
	pthread_mutex_unlock(&b->lock);
	ck_assert_msg(b->called == n, "callback ran %d times, not %d",
	              b->called, n);
}

static struct relay *
client_start(const char *upstream, int blocking, unsigned timeout_ms)
{
	struct config cfg;
	struct error err = {0, ""};
	struct relay *rl;

	config_defaults(&cfg);
	cfg.upstream = upstream;
	cfg.upstream_timeout_ms = timeout_ms;
	cfg.upstream_connections = 2;
	cfg.upstream_queue = 2;
	rl = relay_start(&cfg, blocking, NULL, &err);
	ck_assert_msg(rl != NULL, "relay_start: %s", err.text);
	return rl;
}

static const char client_reply[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	"application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";

/* The outcome comes to the callback on the relay thread, with the body
 * as the upstream sent it; the counters count it; a second request goes
 * over the same connection. */
START_TEST(test_relay_client_callback)
{
	struct fake f = {0};
	struct outcome_box b;
	struct relay_counters c;
	struct relay_job *job;
	struct relay *rl;
	unsigned long n = 0;
	size_t i;

	box_init(&b);
	fake_serve(&f, client_reply, strlen(client_reply));
	rl = client_start(url, 0, 2000);
	for (i = 0; i < 2; i++) {
		job = relay_acquire(rl);
		ck_assert_ptr_nonnull(job);
		relay_submit(job, client_done, &b);
		box_wait(&b, (int)i + 1);
		ck_assert(!pthread_equal(b.thread, pthread_self()));
		ck_assert(b.done_seen && b.same);
		ck_assert_int_eq(b.kind, RELAY_OK);
		ck_assert_uint_eq(b.len, 7);
		ck_assert(memcmp(b.body, "{\"a\":1}", 7) == 0);
		relay_release(job);
	}
	relay_counters_read(rl, &c);
	ck_assert_uint_eq(c.requests, 2);
	ck_assert_uint_eq(c.connects, 1);
	for (i = 0; i < RELAY_KIND_COUNT; i++)
		ck_assert_uint_eq(c.errors[i], 0);
	for (i = 0; i <= RELAY_BUCKETS; i++)
		n += c.buckets[i];
	ck_assert_uint_eq(n, 2);
	relay_stop(rl);
	relay_free(rl);
	fake_stop(&f);
	box_free(&b);
}
END_TEST

/* A failed request: its kind, no body, counted by kind. */
START_TEST(test_relay_client_error)
{
	static const char reply[] = "HTTP/1.1 404 Not Found\r\nContent-Type: "
		"application/json\r\nContent-Length: 2\r\n\r\n{}";
	struct fake f = {0};
	struct outcome_box b;
	struct relay_counters c;
	struct relay_job *job;
	struct relay *rl;

	box_init(&b);
	fake_serve(&f, reply, strlen(reply));
	rl = client_start(url, 0, 2000);
	job = relay_acquire(rl);
	relay_submit(job, client_done, &b);
	box_wait(&b, 1);
	ck_assert_int_eq(b.kind, RELAY_STATUS);
	ck_assert(b.body_null);
	ck_assert_uint_eq(b.len, 0);
	relay_release(job);
	relay_counters_read(rl, &c);
	ck_assert_uint_eq(c.requests, 1);
	ck_assert_uint_eq(c.errors[RELAY_STATUS], 1);
	ck_assert_str_eq(relay_kind_name(RELAY_STATUS), "status");
	ck_assert_str_eq(relay_kind_name(RELAY_CONTENT_TYPE), "content_type");
	relay_free(rl);
	fake_stop(&f);
	box_free(&b);
}
END_TEST

/* A failed connect counts for RELAY_UNREACHABLE_MS, no longer. */
START_TEST(test_relay_client_reachable)
{
	struct outcome_box b;
	struct relay_job *job;
	struct relay *rl;
	uint64_t now;

	box_init(&b);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/avatar",
	         tu_free_port());
	rl = client_start(url, 0, 2000);
	ck_assert(relay_reachable(rl, clock_ms()));
	job = relay_acquire(rl);
	ck_assert_ptr_nonnull(job);
	relay_submit(job, client_done, &b);
	box_wait(&b, 1);
	ck_assert_int_eq(b.kind, RELAY_CONNECT);
	relay_release(job);
	now = clock_ms();
	ck_assert(!relay_reachable(rl, now));
	ck_assert(!relay_reachable(rl, now + RELAY_UNREACHABLE_MS - 100));
	ck_assert(relay_reachable(rl, now + RELAY_UNREACHABLE_MS + 100));
	relay_stop(rl);
	relay_free(rl);
	box_free(&b);
}
END_TEST

/* Without a callback, relay_wait waits (a relay started blocking). */
START_TEST(test_relay_client_wait)
{
	struct fake f = {0};
	const struct relay_outcome *out;
	struct relay_job *job;
	struct relay *rl;

	fake_serve(&f, client_reply, strlen(client_reply));
	rl = client_start(url, 1, 2000);
	job = relay_acquire(rl);
	relay_submit(job, NULL, NULL);
	relay_wait(job);
	ck_assert(relay_done(job));
	out = relay_outcome(job);
	ck_assert_int_eq(out->kind, RELAY_OK);
	ck_assert_uint_eq(out->len, 7);
	ck_assert(memcmp(out->body, "{\"a\":1}", 7) == 0);
	relay_release(job);
	relay_free(rl);
	fake_stop(&f);
}
END_TEST

/* A job submitted once the relay stopped is done at once, its callback
 * run by relay_submit itself; no slot is given out any more. */
START_TEST(test_relay_client_stopped)
{
	struct outcome_box b;
	struct relay_job *job;
	struct relay *rl;

	box_init(&b);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/avatar",
	         tu_free_port());
	rl = client_start(url, 0, 2000);
	job = relay_acquire(rl);
	ck_assert_ptr_nonnull(job);
	relay_stop(rl);
	ck_assert_ptr_null(relay_acquire(rl));
	relay_submit(job, client_done, &b);
	ck_assert_int_eq(b.called, 1);
	ck_assert(pthread_equal(b.thread, pthread_self()));
	ck_assert_int_eq(b.kind, RELAY_STOPPED);
	ck_assert(b.body_null);
	relay_release(job);
	relay_free(rl);
	box_free(&b);
}
END_TEST

/* What one exchange of a relay client ended with. */
struct seen {
	int forward_rc, target_rc;
	enum relay_kind kind;
	unsigned status;
	char body[256];
	size_t len;
	char etag[600];          /* "(null)" for none */
	char encoding[128];
	char id[128];            /* relay_job_id, "(null)" for none */
	unsigned note;
	unsigned long long declared;
};

/* One request on RL (started blocking): for the record ID unless NULL,
 * with the fields F unless NULL; what it got goes to OUT.  A job whose
 * relay_forward or relay_target refused it is released unsent. */
static void
exchange(struct relay *rl, const char *id, const struct relay_fields *f,
         struct seen *out)
{
	struct relay_job *job = relay_acquire(rl);
	const struct relay_outcome *o;
	const char *jid;

	memset(out, 0, sizeof(*out));
	ck_assert_ptr_nonnull(job);
	relay_note_set(job, 4242);
	if (id != NULL)
		out->target_rc = relay_target(job, id);
	if (f != NULL)
		out->forward_rc = relay_forward(job, f);
	jid = relay_job_id(job);
	snprintf(out->id, sizeof(out->id), "%s", jid != NULL ? jid : "(null)");
	if (out->forward_rc < 0 || out->target_rc < 0) {
		relay_release(job);
		return;
	}
	relay_submit(job, NULL, NULL);
	relay_wait(job);
	o = relay_outcome(job);
	out->kind = o->kind;
	out->status = o->status;
	out->len = o->len;
	if (o->body != NULL && o->len < sizeof(out->body))
		memcpy(out->body, o->body, o->len);
	snprintf(out->etag, sizeof(out->etag), "%s",
	         o->etag != NULL ? o->etag : "(null)");
	snprintf(out->encoding, sizeof(out->encoding), "%s",
	         o->encoding != NULL ? o->encoding : "(null)");
	out->note = relay_note(job);
	out->declared = o->declared;
	relay_release(job);
}

/* A record is asked for as the upstream's path, "/" and its id
 * percent-encoded again (as in Location), before the URL's query; the
 * list as before, also by a slot that asked for a record before; an id
 * too long to send is refused before anything is sent. */
START_TEST(test_relay_client_record)
{
	static const char *const urls[] = {"/v1/avatar", "/v1/avatar?x=1#f",
	                                   "/?q", "/v1/"};
	static const char *const want[][2] = {
		{"GET /v1/avatar/a%20b%2F%C3%A9 HTTP/1.1",
		 "GET /v1/avatar HTTP/1.1"},
		{"GET /v1/avatar/a%20b%2F%C3%A9?x=1 HTTP/1.1",
		 "GET /v1/avatar?x=1 HTTP/1.1"},
		{"GET /a%20b%2F%C3%A9?q HTTP/1.1", "GET /?q HTTP/1.1"},
		{"GET /v1/a%20b%2F%C3%A9 HTTP/1.1", "GET /v1/ HTTP/1.1"}};
	char line[256], longid[1100];
	struct seen r;
	size_t i;

	memset(longid, ' ', sizeof(longid));
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct fake f = {0};
		struct relay *rl;

		fake_serve(&f, client_reply, strlen(client_reply));
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f.port,
		         urls[i]);
		rl = client_start(url, 1, 2000);
		exchange(rl, "a b/\xc3\xa9", NULL, &r);
		ck_assert_int_eq(r.target_rc, 0);
		ck_assert_str_eq(r.id, "a%20b%2F%C3%A9");
		ck_assert_uint_eq(r.note, 4242);
		ck_assert_int_eq(r.kind, RELAY_OK);
		ck_assert_uint_eq(r.status, 200);
		ck_assert_str_eq(r.body, "{\"a\":1}");
		exchange(rl, NULL, NULL, &r);
		ck_assert_str_eq(r.id, "(null)");
		ck_assert_int_eq(r.kind, RELAY_OK);
		/* 1,024 bytes that all need escaping fit; one more does not. */
		longid[1024] = '\0';
		exchange(rl, longid, NULL, &r);
		ck_assert_int_eq(r.target_rc, 0);
		ck_assert_int_eq(r.kind, RELAY_OK);
		longid[1024] = ' ';
		longid[1025] = '\0';
		exchange(rl, longid, NULL, &r);
		ck_assert_int_eq(r.target_rc, -1);
		ck_assert_str_eq(r.id, "(null)");
		/* Dot-segments would name another resource upstream. */
		exchange(rl, ".", NULL, &r);
		ck_assert_int_eq(r.target_rc, -1);
		exchange(rl, "..", NULL, &r);
		ck_assert_int_eq(r.target_rc, -1);
		exchange(rl, "", NULL, &r);
		ck_assert_int_eq(r.target_rc, -1);
		exchange(rl, "...", NULL, &r);
		ck_assert_int_eq(r.target_rc, 0);
		ck_assert_str_eq(r.id, "...");
		relay_free(rl);
		fake_stop(&f);
		ck_assert_uint_eq(__atomic_load_n(&f.received, __ATOMIC_RELAXED),
		                  4);
		request_line(&f, 0, line, sizeof(line));
		ck_assert_str_eq(line, want[i][0]);
		request_line(&f, 1, line, sizeof(line));
		ck_assert_str_eq(line, want[i][1]);
		/* The rest of the request as the list's. */
		ck_assert_str_eq(strchr(f.heads[0], '\n'),
		                 strchr(f.heads[1], '\n'));
		ck_assert_uint_eq(strlen(f.heads[2]), strlen(f.heads[1]) +
		                  3 * 1024 + (i == 2 || i == 3 ? 0 : 1));
	}
}
END_TEST

/* If-None-Match, If-Match and Accept-Encoding go upstream after the ids,
 * when 1 to 512 bytes of printable ASCII; others are dropped, except an
 * If-Match, which refuses the request. */
START_TEST(test_relay_client_validators)
{
	static const char tp[] = "00-0af7651916cd43dd8448eb211c80319c-"
	        "b7ad6b7169203331-01";
	char v512[513], v513[514], want[4096];
	struct relay_fields fl;
	struct fake f = {0};
	struct relay *rl;
	struct seen r;

	memset(v512, 'x', 512);
	v512[512] = '\0';
	memset(v513, 'y', 513);
	v513[513] = '\0';
	fake_serve(&f, client_reply, strlen(client_reply));
	rl = client_start(url, 1, 2000);
	/* All of them. */
	fl = (struct relay_fields){"req-1", tp, "\"a\", W/\"b\"", "*", "gzip"};
	exchange(rl, NULL, &fl, &r);
	ck_assert_int_eq(r.forward_rc, 0);
	ck_assert_int_eq(r.kind, RELAY_OK);
	/* 512 bytes each go, 513 do not; a tab or DEL neither. */
	fl = (struct relay_fields){NULL, NULL, v512, v512, v512};
	exchange(rl, NULL, &fl, &r);
	ck_assert_int_eq(r.forward_rc, 0);
	fl = (struct relay_fields){NULL, NULL, v513, "", "gzip,\tbr"};
	exchange(rl, NULL, &fl, &r);
	ck_assert_int_eq(r.forward_rc, 0);
	fl = (struct relay_fields){NULL, NULL, "\"a\x7f\"", NULL, v513};
	exchange(rl, NULL, &fl, &r);
	ck_assert_int_eq(r.forward_rc, 0);
	/* An If-Match that cannot go: refused, nothing sent. */
	fl = (struct relay_fields){NULL, NULL, "\"a\"", v513, "gzip"};
	exchange(rl, NULL, &fl, &r);
	ck_assert_int_eq(r.forward_rc, -1);
	fl = (struct relay_fields){NULL, NULL, NULL, "\"a\tb\"", NULL};
	exchange(rl, NULL, &fl, &r);
	ck_assert_int_eq(r.forward_rc, -1);
	relay_free(rl);
	fake_stop(&f);
	ck_assert_uint_eq(__atomic_load_n(&f.received, __ATOMIC_RELAXED), 4);
	/* Request 3 carried nothing: the prebuilt request. */
	snprintf(want, sizeof(want), "%.*sX-Request-Id: req-1\r\n"
	         "traceparent: %s\r\nIf-None-Match: \"a\", W/\"b\"\r\n"
	         "If-Match: *\r\nAccept-Encoding: gzip\r\n\r\n",
	         (int)strlen(f.heads[3]) - 2, f.heads[3], tp);
	ck_assert_str_eq(f.heads[0], want);
	/* Request 1: all three at 512 bytes. */
	ck_assert(strstr(f.heads[1], "\r\nIf-None-Match: ") != NULL);
	ck_assert(strstr(f.heads[1], "\r\nIf-Match: ") != NULL);
	ck_assert(strstr(f.heads[1], "\r\nAccept-Encoding: ") != NULL);
	ck_assert(strstr(f.heads[1], v512) != NULL);
	/* Request 2: the 513 bytes left out, the empty If-Match sent. */
	ck_assert(strstr(f.heads[2], "If-None-Match") == NULL);
	ck_assert(strstr(f.heads[2], "\r\nIf-Match: \r\n") != NULL);
	ck_assert(strstr(f.heads[2], "Accept-Encoding") == NULL);
	/* Request 3: nothing forwarded. */
	ck_assert(strstr(f.heads[3], "If-") == NULL &&
	          strstr(f.heads[3], "Accept-Encoding") == NULL);
}
END_TEST

/* How an upstream answer ends a request, according to what it asked:
 * INM and IM say that If-None-Match and If-Match were sent, RECORD that
 * a record was asked for.  ETAG and ENCODING: what is passed back, or
 * "(null)"; BODY: the body (RELAY_OK and a 2xx), or NULL. */
static const struct {
	const char *reply;
	int inm, im, record;
	enum relay_kind kind;
	unsigned status;
	const char *etag, *encoding, *body;
} answers[] = {
	/* The ETag passed back if it is an entity-tag within 512 bytes. */
	{JSON_HEAD "ETag: \"e1\"\r\nContent-Length: 2\r\n\r\n[]", 0, 0, 0,
	 RELAY_OK, 200, "\"e1\"", "(null)", "[]"},
	{JSON_HEAD "ETag: W/\"e1\"\r\nContent-Length: 2\r\n\r\n[]", 0, 0, 1,
	 RELAY_OK, 200, "W/\"e1\"", "(null)", "[]"},
	{JSON_HEAD "ETag: e1\r\nContent-Length: 2\r\n\r\n[]", 0, 0, 0,
	 RELAY_OK, 200, "(null)", "(null)", "[]"},
	{JSON_HEAD "ETag: \"" "0123456789012345678901234567890123456789"
	 "0123456789012345678901234567890123456789012345678901234567890123"
	 "0123456789012345678901234567890123456789012345678901234567890123"
	 "0123456789012345678901234567890123456789012345678901234567890123"
	 "0123456789012345678901234567890123456789012345678901234567890123"
	 "0123456789012345678901234567890123456789012345678901234567890123"
	 "0123456789012345678901234567890123456789012345678901234567890123"
	 "0123456789012345678901234567890123456789012345678901234567890123"
	 "0123456789012345678901234567890123456789" /* 530 in all */
	 "\"\r\nContent-Length: 2\r\n\r\n[]", 0, 0, 0,
	 RELAY_OK, 200, "(null)", "(null)", "[]"},
	/* A coded body is not JSON text: passed on as it is, its coding
	 * with it. */
	{JSON_HEAD "Content-Encoding: gzip\r\nETag: \"e1-gz\"\r\n"
	 "Content-Length: 10\r\n\r\n" GZ_BODY, 0, 0, 0,
	 RELAY_OK, 200, "\"e1-gz\"", "gzip", GZ_BODY},
	{JSON_HEAD "Content-Encoding: br, gzip\r\nTransfer-Encoding: chunked"
	 "\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0, 0, 0,
	 RELAY_OK, 200, "(null)", "br, gzip", "abc"},
	{JSON_HEAD "Content-Encoding: identity\r\nContent-Length: 3\r\n\r\n"
	 "abc", 0, 0, 0, RELAY_BODY, 200, "(null)", "(null)", NULL},
	{JSON_HEAD "Content-Encoding: identity\r\nContent-Length: 2\r\n\r\n"
	 "{}", 0, 0, 0, RELAY_OK, 200, "(null)", "(null)", "{}"},
	/* A coding that cannot be passed back as it came. */
	{JSON_HEAD "Content-Encoding: gzip; q=1\r\nContent-Length: 3\r\n\r\n"
	 "abc", 0, 0, 0, RELAY_PROTOCOL, 200, "(null)", "(null)", NULL},
	{JSON_HEAD "Content-Encoding: gzip, gzip, gzip, gzip, gzip, gzip, "
	 "gzip, gzip, gzip, gzip, gzip, x\r\nContent-Length: 3\r\n\r\n"
	 "abc", 0, 0, 0, /* 67 bytes */
	 RELAY_PROTOCOL, 200, "(null)", "(null)", NULL},
	{JSON_HEAD "Content-Encoding: gzip\r\nContent-Encoding: br\r\n"
	 "Content-Length: 3\r\n\r\nabc", 0, 0, 0,
	 RELAY_PROTOCOL, 0, "(null)", "(null)", NULL},
	{"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10"
	 "\r\n\r\n" GZ_BODY, 0, 0, 0,
	 RELAY_CONTENT_TYPE, 200, "(null)", "(null)", NULL},
	/* 304, 412 and 404: answers when the request could get them. */
	{"HTTP/1.1 304 Not Modified\r\nETag: \"e1\"\r\n\r\n", 1, 0, 0,
	 RELAY_OK, 304, "\"e1\"", "(null)", NULL},
	{"HTTP/1.1 304 Not Modified\r\nETag: \"e1\"\r\n"
	 "Content-Encoding: gzip\r\nContent-Length: 0\r\n\r\n", 1, 1, 1,
	 RELAY_OK, 304, "\"e1\"", "(null)", NULL},
	{"HTTP/1.1 304 Not Modified\r\nETag: \"e1\"\r\n\r\n", 0, 1, 1,
	 RELAY_STATUS, 304, "(null)", "(null)", NULL},
	{"HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json"
	 "\r\nContent-Length: 31\r\n\r\n{\"error\":\"precondition failed\"}",
	 0, 1, 0, RELAY_OK, 412, "(null)", "(null)", NULL},
	{"HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n",
	 1, 0, 1, RELAY_STATUS, 412, "(null)", "(null)", NULL},
	{"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
	 "Content-Length: 26\r\n\r\n{\"error\":\"user not found\"}", 1, 1, 1,
	 RELAY_OK, 404, "(null)", "(null)", NULL},
	{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 1, 1, 0,
	 RELAY_STATUS, 404, "(null)", "(null)", NULL},
};
#define NANSWERS (sizeof(answers) / sizeof(answers[0]))

START_TEST(test_relay_client_answers)
{
	struct relay_fields fl = {NULL, NULL, NULL, NULL, "gzip"};
	struct fake f = {0};
	struct relay *rl;
	struct seen r;
	struct relay_counters c;
	size_t k;

	fl.if_none_match = answers[_i].inm ? "\"e1\"" : NULL;
	fl.if_match = answers[_i].im ? "\"e2\"" : NULL;
	fake_serve(&f, answers[_i].reply, strlen(answers[_i].reply));
	rl = client_start(url, 1, 2000);
	exchange(rl, answers[_i].record ? "7" : NULL, &fl, &r);
	ck_assert_msg(r.kind == answers[_i].kind, "case %d: kind %s, want %s",
	              _i, relay_kind_name(r.kind),
	              relay_kind_name(answers[_i].kind));
	ck_assert_uint_eq(r.status, answers[_i].status);
	ck_assert_str_eq(r.etag, answers[_i].etag);
	ck_assert_str_eq(r.encoding, answers[_i].encoding);
	if (answers[_i].body != NULL) {
		ck_assert_uint_eq(r.len, strlen(answers[_i].body));
		ck_assert(memcmp(r.body, answers[_i].body, r.len) == 0);
	}
	/* Answers are not upstream errors. */
	relay_counters_read(rl, &c);
	ck_assert_uint_eq(c.requests, 1);
	for (k = 0; k < RELAY_KIND_COUNT; k++)
		ck_assert_uint_eq(c.errors[k], k == (size_t)answers[_i].kind &&
		                  k != RELAY_OK ? 1 : 0);
	relay_free(rl);
	fake_stop(&f);
}
END_TEST

/* A 304 the request asked for (If-None-Match) keeps its connection
 * (RFC 9112 6.3: it ends with its head, whatever Content-Length says,
 * which avatar-api sets to its 200's size), unless the upstream closes
 * it or sends a byte after it; one nobody asked for is an error, and
 * its connection is closed (issue 11).  Its Content-Length comes with
 * the outcome. */
START_TEST(test_relay_client_304_reuse)
{
	static const struct {
		const char *reply;
		int inm;
		unsigned connections;
		unsigned long long declared;
	} cases[] = {
		{"HTTP/1.1 304 Not Modified\r\nETag: \"e1\"\r\n\r\n", 1, 1, 0},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n", 1, 1,
		 0},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 3616\r\n\r\n", 1,
		 1, 3616},
		{"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", 1, 3,
		 0},
		{"HTTP/1.1 304 Not Modified\r\n\r\nx", 1, 3, 0},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n", 0, 3,
		 0},
	};
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct relay_fields fl = {NULL, NULL, NULL, NULL, NULL};
		struct fake f = {0};
		struct relay *rl;
		struct seen r;

		fl.if_none_match = cases[i].inm ? "\"e1\"" : NULL;
		fake_serve(&f, cases[i].reply, strlen(cases[i].reply));
		rl = client_start(url, 1, 2000);
		for (n = 0; n < 3; n++) {
			exchange(rl, NULL, &fl, &r);
			ck_assert_int_eq(r.kind, cases[i].inm ? RELAY_OK
			                                      : RELAY_STATUS);
			ck_assert_uint_eq(r.status, 304);
			ck_assert_uint_eq(r.declared, cases[i].declared);
		}
		relay_free(rl);
		fake_stop(&f);
		ck_assert_msg(__atomic_load_n(&f.accepted, __ATOMIC_RELAXED) ==
		              cases[i].connections, "case %zu: %u connections, "
		              "want %u", i,
		              __atomic_load_n(&f.accepted, __ATOMIC_RELAXED),
		              cases[i].connections);
	}
}
END_TEST

/* The Prometheus text of a relay that answered nothing yet, byte for
 * byte, after the server's own (metrics_write). */
START_TEST(test_relay_client_metrics_text)
{
	static const char want[] =
		"# HELP avatar_api_upstream_requests_total Upstream requests "
		"that ended, whatever the result.\n"
		"# TYPE avatar_api_upstream_requests_total counter\n"
		"avatar_api_upstream_requests_total 0\n"
		"# HELP avatar_api_upstream_errors_total Upstream requests that "
		"failed, by kind.\n"
		"# TYPE avatar_api_upstream_errors_total counter\n"
		"avatar_api_upstream_errors_total{kind=\"connect\"} 0\n"
		"avatar_api_upstream_errors_total{kind=\"timeout\"} 0\n"
		"avatar_api_upstream_errors_total{kind=\"status\"} 0\n"
		"avatar_api_upstream_errors_total{kind=\"content_type\"} 0\n"
		"avatar_api_upstream_errors_total{kind=\"too_large\"} 0\n"
		"avatar_api_upstream_errors_total{kind=\"body\"} 0\n"
		"avatar_api_upstream_errors_total{kind=\"protocol\"} 0\n"
		"avatar_api_upstream_errors_total{kind=\"stopped\"} 0\n"
		"# HELP avatar_api_upstream_connections_opened_total TCP "
		"connections opened to the upstream (kept alive and reused).\n"
		"# TYPE avatar_api_upstream_connections_opened_total counter\n"
		"avatar_api_upstream_connections_opened_total 0\n"
		"# HELP avatar_api_upstream_duration_seconds Time from a "
		"request's submission to its upstream answer.\n"
		"# TYPE avatar_api_upstream_duration_seconds histogram\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.0005\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.001\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.0025\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.005\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.01\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.025\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.05\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.1\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.25\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"0.5\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"1\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"2.5\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"5\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"10\"} 0\n"
		"avatar_api_upstream_duration_seconds_bucket{le=\"+Inf\"} 0\n"
		"avatar_api_upstream_duration_seconds_sum 0.000000\n"
		"avatar_api_upstream_duration_seconds_count 0\n";
	struct relay_counters counters;
	struct metrics_input in;
	struct relay *rl;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/avatar",
	         tu_free_port());
	rl = client_start(url, 0, 2000);
	memset(&in, 0, sizeof(in));
	in.mhd_version = in.jansson_version = "x";
	relay_counters_read(rl, &counters);
	in.relay = &counters;
	f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	metrics_write(&in, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_ge(len, sizeof(want) - 1);
	ck_assert_str_eq(text + len - (sizeof(want) - 1), want);
	free(text);
	relay_free(rl);
}
END_TEST

static Suite *
relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("relay");
	TCase *once = tcase_create("misbehave");
	TCase *bin = tcase_create("binary");
	TCase *client = tcase_create("client");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_relay_body_and_headers, 0, 2);
	tcase_add_loop_test(tc, test_relay_with_data, 0, 2);
	tcase_add_loop_test(tc, test_relay_records, 0, 2);
	tcase_add_loop_test(tc, test_relay_pass_through, 0, 2);
	tcase_add_loop_test(tc, test_relay_upstream_statuses, 0, 2);
	tcase_add_loop_test(tc, test_relay_upstream_down, 0, 2);
	tcase_add_loop_test(tc, test_relay_readyz, 0, 2);
	tcase_add_loop_test(tc, test_relay_upstream_stalled, 0, 2);
	tcase_add_loop_test(tc, test_relay_bad_answers, 0, 2);
	tcase_add_loop_test(tc, test_relay_oversized_bounded, 0, 2);
	tcase_add_loop_test(tc, test_relay_reuse, 0, 2);
	tcase_add_loop_test(tc, test_relay_chunked, 0, 2);
	tcase_add_loop_test(tc, test_relay_forward_ids, 0, 2);
	tcase_add_loop_test(tc, test_relay_http10, 0, 2);
	tcase_add_loop_test(tc, test_relay_idle_closed, 0, 2);
	tcase_add_loop_test(tc, test_relay_split, 0, 2);
	tcase_add_loop_test(tc, test_relay_head_limit, 0, 2);
	tcase_add_loop_test(tc, test_relay_queue_full, 0, 2);
	tcase_add_loop_test(tc, test_relay_front_same_bytes, 0, 2);
	tcase_add_loop_test(tc, test_relay_front_hand_over, 0, 2);
	tcase_add_loop_test(tc, test_relay_queue_timeout, 0, 2);
	tcase_add_loop_test(tc, test_relay_duration, 0, 2);
	tcase_add_loop_test(tc, test_relay_stop_in_flight, 0, 2);
	tcase_add_loop_test(tc, test_relay_stop_deadline, 0, 2);
	suite_add_tcase(s, tc);
	/* Its own case, so that CK_RUN_CASE=misbehave runs it alone. */
	tcase_set_timeout(once, 60);
	tcase_add_loop_test(once, test_relay_misbehave_once, 0,
	                    (int)(2 * NMISBEHAVE));
	suite_add_tcase(s, once);
	tcase_set_timeout(bin, 60);
	tcase_add_loop_test(bin, test_relay_two_tiers, 0, 2);
	tcase_add_loop_test(bin, test_relay_sigterm_in_flight, 0, 2);
	tcase_add_loop_test(bin, test_relay_two_tiers_stop_idle, 0, 2);
	tcase_add_loop_test(bin, test_relay_reresolve, 0, 2);
	tcase_add_loop_test(bin, test_relay_log_failures, 0, 2);
	suite_add_tcase(s, bin);
	tcase_set_timeout(client, 30);
	tcase_add_test(client, test_relay_client_callback);
	tcase_add_test(client, test_relay_client_error);
	tcase_add_test(client, test_relay_client_reachable);
	tcase_add_test(client, test_relay_client_wait);
	tcase_add_test(client, test_relay_client_stopped);
	tcase_add_test(client, test_relay_client_metrics_text);
	tcase_add_test(client, test_relay_client_record);
	tcase_add_test(client, test_relay_client_validators);
	tcase_add_loop_test(client, test_relay_client_answers, 0,
	                    (int)NANSWERS);
	tcase_add_test(client, test_relay_client_304_reuse);
	suite_add_tcase(s, client);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return tu_run_suite(relay_suite());
}
