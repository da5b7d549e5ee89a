/* check_slow.c -- slow, idle and surplus clients against the built server. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <check.h>

#include "testutil.h"

/* How long the server may take to start or stop. */
#define WAIT_MS 5000
/* How long a surplus client may wait to learn that it was refused: the
 * issue asks for 100 ms; the bound here leaves room for a loaded machine
 * (the measured times are printed). */
#define REFUSE_MS 1000

static const char *const modes[] = {"epoll", "thread-per-connection"};

/* A server run from the built binary. */
struct srv {
	pid_t pid;
	unsigned port;
	int errfd;
	char log[16384];
};

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Start the server in MODE with the extra flags EXTRA (NULL-terminated,
 * may be NULL) on a free port; with NOFILE non-zero, under "ulimit -n
 * NOFILE" (soft and hard).  Waits for its "Listening on" line. */
static void
srv_start(struct srv *s, int mode, unsigned nofile, const char *const *extra)
{
	char portstr[16], ulimit[64], modestr[64];
	char *argv[32];
	char *envp[] = {(char *)"PATH=/usr/bin:/bin", NULL};
	const char *prog = tu_env("AVATAR_API_BIN");
	int n = 0;

	s->port = tu_free_port();
	snprintf(portstr, sizeof(portstr), "%u", s->port);
	snprintf(modestr, sizeof(modestr), "--mode=%s", modes[mode]);
	if (nofile != 0) {
		snprintf(ulimit, sizeof(ulimit), "ulimit -n %u && exec \"$0\" "
		         "\"$@\"", nofile);
		argv[n++] = (char *)"sh";
		argv[n++] = (char *)"-c";
		argv[n++] = ulimit;
		argv[n++] = (char *)prog;
		prog = "/bin/sh";
	} else {
		argv[n++] = (char *)"avatar-api";
	}
	argv[n++] = (char *)"--data";
	argv[n++] = (char *)tu_env("AVATAR_API_FIXTURE");
	argv[n++] = (char *)"--address=127.0.0.1";
	argv[n++] = (char *)"--port";
	argv[n++] = portstr;
	argv[n++] = modestr;
	argv[n++] = (char *)"--threads=2";
	while (extra != NULL && *extra != NULL && n < 31)
		argv[n++] = (char *)*extra++;
	argv[n] = NULL;
	s->log[0] = '\0';
	s->pid = tu_spawn(prog, argv, envp, NULL, -1, &s->errfd);
	ck_assert_msg(tu_read_until(s->errfd, s->log, sizeof(s->log),
	                            "Listening on", WAIT_MS) == 0,
	              "server did not start; stderr: %s", s->log);
}

/* Read what the server logged so far (waits up to MS for WANT). */
static int
srv_log_has(struct srv *s, const char *want, int ms)
{
	return tu_read_until(s->errfd, s->log, sizeof(s->log), want, ms) == 0;
}

/* srv_log_has, and the line with WANT is a warning. */
static int
srv_warned(struct srv *s, const char *want, int ms)
{
	return srv_log_has(s, want, ms) && tu_log_has(s->log, "warning", want);
}

/* The server must still run; stop it with SIGTERM: it must exit 0. */
static void
srv_stop(struct srv *s)
{
	int status;

	ck_assert_msg(waitpid(s->pid, &status, WNOHANG) == 0,
	              "the server died (status 0x%x); stderr: %s", status,
	              s->log);
	ck_assert(kill(s->pid, SIGTERM) == 0);
	srv_log_has(s, NULL, WAIT_MS);
	ck_assert(waitpid(s->pid, &status, 0) == s->pid);
	close(s->errfd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "server exit status 0x%x; stderr: %s", status, s->log);
}

/* Milliseconds until the server closes C (end of file or reset; any
 * data is dropped), or -1 if it is still open after MS. */
static long
close_ms(struct tu_conn *c, long ms)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	struct timespec t0;
	char buf[4096];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left = ms - ms_since(&t0);
		ssize_t n;

		if (left < 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return ms_since(&t0);
	}
}

/* One GET /v1/user on C: it must be answered 200. */
static void
get_ok_on(struct tu_conn *c)
{
	struct tu_response r;

	ck_assert_msg(tu_request(c, "GET", "/v1/user", NULL) == 0 &&
	              tu_read_response(c, &r, 0) == 0, "no answer");
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
}

/* A new client gets 200 for GET /v1/user. */
static void
get_ok(unsigned port)
{
	struct tu_response r;

	tu_get(port, "GET", "/v1/user", &r);
	ck_assert_int_eq(r.status, 200);
	tu_response_free(&r);
}

/* utime + stime of PID, in clock ticks. */
static unsigned long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	ck_assert(f != NULL);
	ck_assert(fgets(buf, sizeof(buf), f) != NULL);
	fclose(f);
	p = strrchr(buf, ')');
	ck_assert(p != NULL);
	/* After the name: state (field 3) ... utime (14), stime (15). */
	ck_assert(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	                 "%lu %lu", &ut, &st) == 2);
	return ut + st;
}

/* A number from the line "NAME:\t..." of /proc/PID/status. */
static unsigned
proc_status(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t len = strlen(name);
	unsigned v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, len) == 0 && line[len] == ':')
			v = (unsigned)strtoul(line + len + 1, NULL, 10);
	fclose(f);
	return v;
}

/* The open-file limit that leaves PID exactly ROOM free descriptors:
 * the limit caps descriptor numbers, which fill the lowest free first. */
static unsigned
nofile_for(pid_t pid, unsigned room)
{
	char path[64], used[4096] = {0};
	struct dirent *e;
	unsigned fd;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	ck_assert(d != NULL);
	while ((e = readdir(d)) != NULL) {
		unsigned long n = strtoul(e->d_name, NULL, 10);

		if (e->d_name[0] != '.' && n < sizeof(used))
			used[n] = 1;
	}
	closedir(d);
	for (fd = 0; fd < sizeof(used); fd++)
		if (!used[fd] && --room == 0)
			return fd + 1;
	ck_abort_msg("no free descriptor");
	return 0;
}

/* A keep-alive client idle after its answer is closed after --timeout,
 * not before. */
START_TEST(test_idle_closed)
{
	const char *extra[] = {"--timeout=1", NULL};
	struct tu_conn c;
	struct srv s;
	long t;

	srv_start(&s, _i, 0, extra);
	ck_assert(tu_connect(&c, s.port) == 0);
	get_ok_on(&c);
	t = close_ms(&c, 5000);
	fprintf(stderr, "%s: idle keep-alive closed %ld ms after its answer "
	        "(--timeout=1)\n", modes[_i], t);
	ck_assert_msg(t >= 900, "closed after %ld ms, before --timeout", t);
	/* By the deadline sweep (every 250 ms here), not libmicrohttpd's
	 * own timeout, 2 s later (mhd_timeout). */
	ck_assert_msg(t >= 0 && t <= 1500, "closed after %ld ms", t);
	tu_close(&c);
	get_ok(s.port);
	srv_stop(&s);
}
END_TEST

/* Send PREFIX, then one byte of a header every 300 ms until the server
 * closes C; a normal client must still be served meanwhile.  Returns the
 * milliseconds from the start of the trickle to the close, or -1. */
static long
trickle(struct tu_conn *c, unsigned port, const char *prefix)
{
	struct timespec t0;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert(tu_send(c, prefix, strlen(prefix)) == 0);
	for (i = 0; i < 20; i++) {
		if (close_ms(c, 300) >= 0)
			return ms_since(&t0);
		if (i == 1)
			get_ok(port);
		if (tu_send(c, "a", 1) < 0)
			return ms_since(&t0);
	}
	return -1;
}

/* Clients that trickle their request, a byte every 300 ms (so that
 * MHD's inactivity timeout never fires): each must be closed about
 * --timeout after it connected or after its previous answer, without an
 * answer, while others are served. */
static const struct slow_case {
	const char *name;
	int served_first;   /* one request answered before the trickle */
	const char *prefix; /* sent at once, then a byte at a time */
} slow_cases[] = {
	{"slow headers", 0, "GET /v1/user HTTP/1.1\r\nHost: x\r\nX-A: "},
	{"slow second request", 1, "GET /v1/user HTTP/1.1\r\nHost: x\r\n"},
	{"slow body", 0, "GET /v1/user HTTP/1.1\r\nHost: x\r\n"
	 "Content-Length: 100\r\n\r\n"},
};

START_TEST(test_slow_request)
{
	const char *extra[] = {"--timeout=1", NULL};
	const struct slow_case *k = &slow_cases[_i / 2];
	struct tu_response r;
	struct tu_conn c;
	struct srv s;
	long t;

	srv_start(&s, _i % 2, 0, extra);
	ck_assert(tu_connect(&c, s.port) == 0);
	if (k->served_first) {
		get_ok_on(&c);
		sleep_ms(600);
		get_ok_on(&c);
	}
	t = trickle(&c, s.port, k->prefix);
	fprintf(stderr, "%s: %s closed after %ld ms (--timeout=1)\n",
	        modes[_i % 2], k->name, t);
	ck_assert_msg(t >= 900 && t <= 3000, "%s: closed after %ld ms",
	              k->name, t);
	ck_assert_msg(c.len == 0, "%s: got an answer: %.*s", k->name,
	              (int)c.len, c.buf);
	tu_close(&c);
	get_ok(s.port);
	ck_assert(srv_warned(&s, "closed 1 connection that sent no whole "
	                      "request within 1 s", WAIT_MS));
	/* Exported too, not only logged. */
	tu_get(s.port, "GET", "/metrics", &r);
	ck_assert_msg(tu_metric(r.body, "avatar_api_connections_closed_total"
	                        "{reason=\"timeout\"}") == 1, "%s", r.body);
	tu_response_free(&r);
	srv_stop(&s);
}
END_TEST

/* Relay mode too: after an answer relayed from the upstream, a second
 * request trickled a byte every 300 ms is closed about --timeout after
 * the first answer.  (Relay mode has its own completion callback, which
 * must also start the next request's deadline.) */
START_TEST(test_slow_relay)
{
	char url[64];
	const char *extra[] = {"--timeout=1", "--upstream", url, NULL};
	struct tu_conn c;
	struct srv up, s;
	long t;

	srv_start(&up, 0, 0, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/user", up.port);
	srv_start(&s, _i, 0, extra);
	ck_assert(tu_connect(&c, s.port) == 0);
	get_ok_on(&c);
	t = trickle(&c, s.port, slow_cases[1].prefix);
	fprintf(stderr, "%s: relay: slow second request closed after %ld ms "
	        "(--timeout=1)\n", modes[_i], t);
	ck_assert_msg(t >= 700 && t <= 3000, "closed after %ld ms", t);
	ck_assert_msg(c.len == 0, "got an answer: %.*s", (int)c.len, c.buf);
	tu_close(&c);
	srv_stop(&s);
	srv_stop(&up);
}
END_TEST

/* Count the lines of LOG that contain WHAT. */
static unsigned
log_lines(const char *log, const char *what)
{
	unsigned n = 0;

	while ((log = strstr(log, what)) != NULL) {
		n++;
		log = strchr(log, '\n');
		if (log == NULL)
			break;
	}
	return n;
}

/* 20 slow clients closed at once make a few lines in the log, not 20
 * of libmicrohttpd's and 20 of ours. */
START_TEST(test_slow_many)
{
	const char *extra[] = {"--timeout=1", NULL};
	static const char head[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n";
	struct tu_conn c[20];
	struct srv s;
	unsigned i, open, tries;

	srv_start(&s, _i, 0, extra);
	for (i = 0; i < 20; i++) {
		ck_assert(tu_connect(&c[i], s.port) == 0);
		ck_assert(tu_send(&c[i], head, sizeof(head) - 1) == 0);
	}
	/* Each trickles a byte every 300 ms, as in test_slow_request. */
	for (open = 20, tries = 0; open > 0 && tries < 15; tries++) {
		sleep_ms(300);
		for (i = 0; i < 20; i++)
			if (c[i].fd >= 0 && (close_ms(&c[i], 0) >= 0 ||
			                     tu_send(&c[i], "a", 1) < 0)) {
				tu_close(&c[i]);
				open--;
			}
	}
	ck_assert_msg(open == 0, "%u slow clients still open", open);
	get_ok(s.port);
	srv_stop(&s);
	fprintf(stderr, "%s: 20 slow clients closed; the log:\n%s", modes[_i],
	        s.log);
	ck_assert_uint_ge(log_lines(s.log, "that sent no whole request"), 1);
	ck_assert_uint_le(log_lines(s.log, "that sent no whole request"), 2);
	ck_assert_uint_le(log_lines(s.log, "libmicrohttpd:"), 2);
}
END_TEST

/*
 * Clients closed at their deadline are told at once (the server shuts the
 * socket down), and may connect again before libmicrohttpd has closed the
 * old sockets: those must not count against --max-connections any more.
 * 300 slow clients against a limit of 300, each connecting again as soon
 * as it sees its end of file: none of the new connections may be refused.
 * (Before the fix, make stress saw 188 of 2,000 refused.)
 */
#define RECONNECTS 300

START_TEST(test_deadline_reconnect)
{
	const char *extra[] = {"--timeout=1", "--max-connections=300", NULL};
	static const char head[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n";
	static struct tu_conn c[RECONNECTS];
	static char moved[RECONNECTS];  /* connected again */
	unsigned i, again = 0, refused = 0, tries;
	struct srv s;

	srv_start(&s, _i, 0, extra);
	for (i = 0; i < RECONNECTS; i++) {
		ck_assert(tu_connect(&c[i], s.port) == 0);
		ck_assert(tu_send(&c[i], head, sizeof(head) - 1) == 0);
	}
	/* The deadline closes them after 1-1.25 s: connect again at once. */
	for (tries = 0; again < RECONNECTS && tries < 1000; tries++) {
		sleep_ms(3);
		for (i = 0; i < RECONNECTS; i++)
			if (!moved[i] && close_ms(&c[i], 0) >= 0) {
				tu_close(&c[i]);
				ck_assert(tu_connect(&c[i], s.port) == 0);
				ck_assert(tu_send(&c[i], head, sizeof(head) - 1)
				          == 0);
				moved[i] = 1;
				again++;
			}
	}
	ck_assert_msg(again == RECONNECTS, "only %u of %u closed by the "
	              "deadline", again, RECONNECTS);
	/* A refused one is answered 503 and closed at once; the others
	 * wait for their next deadline, a second away. */
	sleep_ms(200);
	for (i = 0; i < RECONNECTS; i++) {
		moved[i] = 0;
		if (close_ms(&c[i], 0) >= 0)
			refused++;
		tu_close(&c[i]);
	}
	srv_stop(&s);
	ck_assert_msg(refused == 0, "%s: %u of %u clients connecting again "
	              "after their deadline were refused", modes[_i], refused,
	              RECONNECTS);
}
END_TEST

#define MAXC 8

/* Over --max-connections a new client is closed at once and the server
 * goes on serving the others; in thread-per-connection mode the threads
 * stay bounded. */
START_TEST(test_max_connections)
{
	const char *extra[] = {"--max-connections=8", NULL};
	struct tu_conn held[MAXC], c;
	struct srv s;
	long worst = 0;
	unsigned most = 0;
	int i;

	srv_start(&s, _i, 0, extra);
	for (i = 0; i < MAXC; i++) {
		ck_assert(tu_connect(&held[i], s.port) == 0);
		get_ok_on(&held[i]);
	}
	for (i = 0; i < 20; i++) {
		unsigned threads;
		long t;

		ck_assert(tu_connect(&c, s.port) == 0);
		t = close_ms(&c, REFUSE_MS);
		ck_assert_msg(t >= 0, "connection %d over the limit still open "
		              "after %d ms", i + 1, REFUSE_MS);
		worst = t > worst ? t : worst;
		tu_close(&c);
		threads = proc_status(s.pid, "Threads");
		most = threads > most ? threads : most;
	}
	fprintf(stderr, "%s: 20 connections over --max-connections=8 closed, "
	        "the slowest after %ld ms; at most %u threads\n", modes[_i],
	        worst, most);
	/* main, acceptor, MHD's threads (2 workers, or 1 + a thread per
	 * connection): never one per refused connection. */
	ck_assert_uint_le(most, MAXC + 4);
	for (i = 0; i < MAXC; i++)
		get_ok_on(&held[i]);
	ck_assert(srv_warned(&s, "connection limit (8) reached", WAIT_MS));
	/* Room again once one leaves: MHD notices the close, and in
	 * thread-per-connection mode joins the thread, before the slot is
	 * counted free.  Refusals are answered at once, so retry for up to
	 * 2 s rather than a count of tries. */
	tu_close(&held[0]);
	for (i = 0; i < 100; i++) {
		struct timespec nap = {0, 20L * 1000 * 1000};

		ck_assert(tu_connect(&c, s.port) == 0);
		if (close_ms(&c, 100) < 0)
			break;
		tu_close(&c);
		nanosleep(&nap, NULL);
	}
	ck_assert_msg(i < 100, "no room within 2 s after a client left");
	get_ok_on(&c);
	tu_close(&c);
	for (i = 1; i < MAXC; i++)
		tu_close(&held[i]);
	srv_stop(&s);
}
END_TEST

/* Started with "ulimit -n 64", the server lowers its connection limit to
 * fit and refuses the surplus at once instead of failing. */
START_TEST(test_low_nofile)
{
	struct tu_conn held[64], c;
	struct srv s;
	const char *p;
	unsigned limit = 0, i;
	long worst = 0;

	srv_start(&s, _i, 64, NULL);
	p = strstr(s.log, "connection limit lowered from 10000 to ");
	ck_assert_msg(p != NULL && sscanf(p + 39, "%u", &limit) == 1 &&
	              limit > 0 && limit < 64, "stderr: %s", s.log);
	for (i = 0; i < limit; i++) {
		ck_assert(tu_connect(&held[i], s.port) == 0);
		get_ok_on(&held[i]);
	}
	for (i = 0; i < 10; i++) {
		long t;

		ck_assert(tu_connect(&c, s.port) == 0);
		t = close_ms(&c, REFUSE_MS);
		ck_assert_msg(t >= 0, "surplus connection %u still open", i);
		worst = t > worst ? t : worst;
		tu_close(&c);
	}
	fprintf(stderr, "%s: ulimit -n 64: limit %u, surplus closed within "
	        "%ld ms\n", modes[_i], limit, worst);
	for (i = 0; i < limit; i++)
		tu_close(&held[i]);
	sleep_ms(100);
	get_ok(s.port);
	srv_stop(&s);
}
END_TEST

/*
 * Out of descriptors while running (the open-file limit lowered under
 * the server, as another part of the process or the system could use
 * them up): surplus clients are accepted on the spare descriptor and
 * closed at once, never left waiting in the backlog, and the server does
 * not spin on a backlog it cannot take: over 2 s of clients arriving it
 * uses little CPU.  Once descriptors are free it serves again.
 */
START_TEST(test_out_of_fds)
{
	const char *extra[] = {"--timeout=0", NULL};
	struct tu_conn held[40];
	struct rlimit rl;
	struct timespec t0;
	struct srv s;
	unsigned long ticks, n = 0, closed = 0;
	unsigned i, room = 4;
	long worst = 0;

	srv_start(&s, _i, 0, extra);
	rl.rlim_cur = rl.rlim_max = nofile_for(s.pid, room);
	ck_assert_msg(prlimit(s.pid, RLIMIT_NOFILE, &rl, NULL) == 0,
	              "prlimit: %s", strerror(errno));
	/* The first ROOM get a descriptor (and stay: --timeout=0). */
	for (i = 0; i < room; i++) {
		ck_assert(tu_connect(&held[i], s.port) == 0);
		get_ok_on(&held[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ticks = cpu_ticks(s.pid);
	while (ms_since(&t0) < 2000) {
		struct tu_conn c;
		long t;

		ck_assert(tu_connect(&c, s.port) == 0);
		t = close_ms(&c, REFUSE_MS);
		n++;
		if (t >= 0) {
			closed++;
			worst = t > worst ? t : worst;
		}
		tu_close(&c);
		sleep_ms(20);
	}
	ticks = cpu_ticks(s.pid) - ticks;
	fprintf(stderr, "%s: out of descriptors: %lu of %lu clients closed, "
	        "the slowest after %ld ms; server CPU over %ld ms: %lu ticks "
	        "of 1/%ld s\n", modes[_i], closed, n, worst, ms_since(&t0),
	        ticks, sysconf(_SC_CLK_TCK));
	ck_assert_uint_eq(closed, n);
	/* A busy loop would take about 200 ticks. */
	ck_assert_uint_le(ticks, 40);
	ck_assert(srv_warned(&s, "out of file descriptors", WAIT_MS));
	for (i = 0; i < room; i++)
		get_ok_on(&held[i]);
	for (i = 0; i < room; i++)
		tu_close(&held[i]);
	sleep_ms(100);
	get_ok(s.port);
	srv_stop(&s);
}
END_TEST

#ifndef AVATAR_SANITIZERS
/* VmSize of PID in bytes. */
static rlim_t
vm_size(pid_t pid)
{
	return (rlim_t)proc_status(pid, "VmSize") * 1024;
}

/*
 * Thread-per-connection mode when no thread can be started (the
 * address-space limit lowered under the server, as memory or a task
 * limit would): libmicrohttpd closes each new connection at once, logs
 * it (once, through the rate limit), the threads stay as they were, and
 * once threads can be started again the server serves.
 */
START_TEST(test_no_thread)
{
	const char *extra[] = {"--timeout=0", NULL};
	struct tu_conn held[3], c;
	struct rlimit rl, old;
	struct srv s;
	unsigned threads, i;
	long worst = 0;

	srv_start(&s, 1, 0, extra);
	for (i = 0; i < 3; i++) {
		ck_assert(tu_connect(&held[i], s.port) == 0);
		get_ok_on(&held[i]);
	}
	threads = proc_status(s.pid, "Threads");
	ck_assert(prlimit(s.pid, RLIMIT_AS, NULL, &old) == 0);
	/* The soft limit only, so that it can be raised again. */
	rl.rlim_cur = vm_size(s.pid) + 64 * 1024;
	rl.rlim_max = old.rlim_max;
	ck_assert_msg(prlimit(s.pid, RLIMIT_AS, &rl, NULL) == 0,
	              "prlimit: %s", strerror(errno));
	for (i = 0; i < 5; i++) {
		long t;

		ck_assert(tu_connect(&c, s.port) == 0);
		tu_request(&c, "GET", "/v1/user", NULL);
		t = close_ms(&c, REFUSE_MS);
		ck_assert_msg(t >= 0, "client %u still open without a thread",
		              i);
		ck_assert_msg(c.len == 0, "client %u got an answer", i);
		worst = t > worst ? t : worst;
		tu_close(&c);
	}
	ck_assert_uint_eq(proc_status(s.pid, "Threads"), threads);
	fprintf(stderr, "thread-per-connection: no thread: 5 clients closed, "
	        "the slowest after %ld ms; %u threads before and after\n",
	        worst, threads);
	ck_assert(prlimit(s.pid, RLIMIT_AS, &old, NULL) == 0);
	for (i = 0; i < 3; i++)
		get_ok_on(&held[i]);
	get_ok(s.port);
	for (i = 0; i < 3; i++)
		tu_close(&held[i]);
	srv_stop(&s);
	ck_assert_uint_eq(log_lines(s.log, "Failed to create a new thread"), 1);
}
END_TEST
#endif

/*
 * Issue 11, point 1: bursts over --max-connections.  libmicrohttpd
 * 0.9.75's own limit leaves a mutex locked when it is hit; bursts of 80
 * clients against --max-connections 50 used to wedge the server for
 * good (every time in thread-per-connection mode, 2 runs in 6 in epoll
 * mode) and SIGTERM then hung in MHD_stop_daemon.  The server now counts
 * connections itself and answers the surplus 503 with Retry-After.
 *
 * Each round waits until the server holds no connection but the scrape
 * asking it, then opens BURST_CLIENTS connections at once, sending GET
 * /v1/user on each as soon as it is connected, holds them all while it
 * reads every answer (so the first BURST_LIMIT stay counted), closes
 * them, and a new client must then get 200.  Every answer must be the
 * fixture (200) or the JSON 503; /metrics must count as refused exactly
 * the 503s seen; SIGTERM at the end must exit 0 within the drain time.
 */
#define BURST_LIMIT 50
#define BURST_CLIENTS 80
#define BURST_ROUNDS 20
/* Time for one round's answers; a wedged server answers none. */
#define BURST_ANSWER_MS 3000
/* Time for the server to count the previous round's clients out, or to
 * take a new client after a round. */
#define BURST_SETTLE_MS 3000
/* SERVER_DRAIN_MS (5 s) and a second for the rest of the exit. */
#define BURST_EXIT_MS 6000

static const char refused_body[] = "{\"error\":\"too many connections\"}";

/* What a burst saw. */
struct burst_count {
	unsigned ok;       /* 200 with the fixture */
	unsigned busy;     /* the 503 */
	unsigned reset;    /* reset before a whole answer */
	unsigned missing;  /* end of file or timeout before a whole answer */
	unsigned bad;      /* any other answer */
	char why[512];     /* the first bad or missing answer */
};

/* Sort R, the answer to a GET /v1/user or /metrics, into N: the 503 is
 * checked whole (status, Retry-After, Content-Type, body).  Returns
 * 503, 200, or 0 for anything else (described in N->why). */
static int
burst_sort(struct burst_count *n, const struct tu_response *r,
           const char *expect, size_t expect_len)
{
	char ra[16], ct[64];

	if (r->status == 503 &&
	    tu_header(r, "Retry-After", ra, sizeof(ra)) == 1 &&
	    strcmp(ra, "1") == 0 &&
	    tu_header(r, "Content-Type", ct, sizeof(ct)) == 1 &&
	    strcmp(ct, "application/json") == 0 &&
	    strcmp(r->body, refused_body) == 0) {
		n->busy++;
		return 503;
	}
	if (r->status == 200 && (expect == NULL ||
	    (r->body_len == expect_len &&
	     memcmp(r->body, expect, expect_len) == 0))) {
		n->ok++;
		return 200;
	}
	n->bad++;
	if (n->why[0] == '\0')
		tu_say(n->why, sizeof(n->why), "unexpected answer:\n%s%.200s",
		       r->head, r->body);
	return 0;
}

/* Set C's receive timeout to what is left of MS since T0 (at least 1 ms). */
static void
recv_deadline(struct tu_conn *c, const struct timespec *t0, long ms)
{
	long left = ms - ms_since(t0);
	struct timeval tv;

	if (left < 1)
		left = 1;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* GET PATH on a new connection to PORT until it is answered 200 (a 503
 * is counted in N and tried again 20 ms later), for up to MS.  The 200
 * goes to R (free it).  Returns 0, or -1 (a failure, or still 503). */
static int
burst_get(unsigned port, const char *path, const char *expect,
          size_t expect_len, struct burst_count *n, struct tu_response *r,
          long ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct tu_conn c;
		int rc = -1, sorted = 0;

		if (tu_connect(&c, port) == 0) {
			recv_deadline(&c, &t0, ms);
			if (tu_request(&c, "GET", path, NULL) == 0)
				rc = tu_read_response(&c, r, 0);
			tu_close(&c);
		}
		if (rc == 0) {
			sorted = burst_sort(n, r, expect, expect_len);
			if (sorted == 200)
				return 0;
			tu_response_free(r);
		}
		if (sorted != 503 || ms_since(&t0) >= ms)
			return -1;
		sleep_ms(20);
	}
}

/* Wait until the server counts no connection but the scrape asking it
 * (the previous round's clients are counted out asynchronously). */
static void
burst_settle(unsigned port, struct burst_count *total)
{
	struct timespec t0;
	struct tu_response r;
	double open = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < BURST_SETTLE_MS) {
		ck_assert_msg(burst_get(port, "/metrics", NULL, 0, total, &r,
		                        BURST_SETTLE_MS) == 0,
		              "/metrics unanswered: %s", total->why);
		open = tu_metric(r.body, "avatar_api_connections");
		tu_response_free(&r);
		if (open == 1)
			return;
		sleep_ms(10);
	}
	ck_abort_msg("the server still counts %.0f connections %d ms after "
	             "their clients left", open - 1, BURST_SETTLE_MS);
}

/* One round: BURST_CLIENTS at once, each answered, counted in N. */
static void
burst_round(unsigned port, const char *expect, size_t expect_len,
            struct burst_count *n)
{
	static struct tu_conn c[BURST_CLIENTS];
	struct timespec t0;
	unsigned i;

	/* Each sends its request as soon as it is connected: one refused
	 * before its request is in would have the request land on a closed
	 * socket (a reset; see burst_check). */
	for (i = 0; i < BURST_CLIENTS; i++) {
		ck_assert_msg(tu_connect(&c[i], port) == 0, "connect %u: %s",
		              i, strerror(errno));
		/* A refused client may be closed before this is sent. */
		(void)tu_request(&c[i], "GET", "/v1/user", NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < BURST_CLIENTS; i++) {
		struct tu_response r;

		recv_deadline(&c[i], &t0, BURST_ANSWER_MS);
		if (tu_read_response(&c[i], &r, 0) == 0) {
			burst_sort(n, &r, expect, expect_len);
			tu_response_free(&r);
		} else if (errno == ECONNRESET) {
			n->reset++;
		} else {
			n->missing++;
			if (n->why[0] == '\0')
				tu_say(n->why, sizeof(n->why), "client %u: no "
				       "whole answer within %d ms (%s)", i,
				       BURST_ANSWER_MS, c[i].len == 0 ?
				       "nothing" : "part of one");
		}
	}
	for (i = 0; i < BURST_CLIENTS; i++)
		tu_close(&c[i]);
}

START_TEST(test_burst)
{
	const char *extra[] = {"--max-connections=50", NULL};
	struct burst_count total;
	struct tu_response r;
	struct timespec t0, t1;
	struct srv s;
	size_t expect_len;
	char *expect = tu_expected_body(&expect_len);
	double refused;
	unsigned round, burst_ok = 0, burst_busy = 0;
	int status = 0;
	long stop_ms = -1;

	memset(&total, 0, sizeof(total));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	srv_start(&s, _i, 0, extra);
	for (round = 0; round < BURST_ROUNDS; round++) {
		struct burst_count n;

		burst_settle(s.port, &total);
		memset(&n, 0, sizeof(n));
		burst_round(s.port, expect, expect_len, &n);
		/* Resets: a client whose request reached the server after it
		 * was refused and closed.  Each sends its request at once,
		 * and the answer it gets is in its receive queue before the
		 * reset, so none is expected: none is allowed. */
		ck_assert_msg(n.missing == 0 && n.bad == 0 && n.reset == 0,
		              "%s: round %u: %u answered 200, %u 503, %u reset, "
		              "%u unanswered, %u wrong; %s", modes[_i], round + 1,
		              n.ok, n.busy, n.reset, n.missing, n.bad, n.why);
		/* The round began with no connection open (the settling
		 * scrape's own may not be counted out yet). */
		ck_assert_msg(n.ok >= BURST_LIMIT - 1 && n.ok <= BURST_LIMIT &&
		              n.ok + n.busy == BURST_CLIENTS, "%s: round %u: %u "
		              "answered 200, %u 503", modes[_i], round + 1, n.ok,
		              n.busy);
		burst_ok += n.ok;
		burst_busy += n.busy;
		/* The server must still answer a new client. */
		ck_assert_msg(burst_get(s.port, "/v1/user", expect, expect_len,
		                        &total, &r, BURST_SETTLE_MS) == 0,
		              "%s: after round %u, GET /v1/user got no 200 "
		              "within %d ms: %s", modes[_i], round + 1,
		              BURST_SETTLE_MS, total.why);
		tu_response_free(&r);
	}
	ck_assert(burst_get(s.port, "/metrics", NULL, 0, &total, &r,
	                    BURST_SETTLE_MS) == 0);
	refused = tu_metric(r.body, "avatar_api_connections_refused_total"
	                       "{reason=\"limit\"}");
	tu_response_free(&r);
	/* Every 503 seen: the bursts' and any the scrapes and probes
	 * between rounds got. */
	ck_assert_msg(refused == burst_busy + total.busy, "%s: /metrics "
	              "counts %.0f connections refused at the limit; the "
	              "clients saw %u 503s", modes[_i], refused,
	              burst_busy + total.busy);

	/* SIGTERM: exit 0 within the drain time. */
	ck_assert_msg(waitpid(s.pid, &status, WNOHANG) == 0,
	              "the server died; stderr: %s", s.log);
	ck_assert(kill(s.pid, SIGTERM) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	while (ms_since(&t1) < BURST_EXIT_MS) {
		int st;

		if (waitpid(s.pid, &st, WNOHANG) == s.pid) {
			stop_ms = ms_since(&t1);
			status = st;
			break;
		}
		/* Keep its stderr flowing (until s.log is full). */
		(void)srv_log_has(&s, NULL, 20);
		sleep_ms(2);
	}
	if (stop_ms < 0) {
		kill(s.pid, SIGKILL);
		waitpid(s.pid, NULL, 0);
	}
	close(s.errfd);
	ck_assert_msg(stop_ms >= 0, "%s: the server did not exit within %d ms "
	              "of SIGTERM; stderr: %s", modes[_i], BURST_EXIT_MS,
	              s.log);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "%s: exit status 0x%x after SIGTERM; stderr: %s",
	              modes[_i], status, s.log);
	fprintf(stderr, "%s: %d bursts of %d against --max-connections=%d: "
	        "%u answered 200, %u 503, 0 reset; %u more 503 between "
	        "rounds; /metrics: %.0f refused; SIGTERM: exit 0 after %ld "
	        "ms; %ld ms in all\n", modes[_i], BURST_ROUNDS, BURST_CLIENTS,
	        BURST_LIMIT, burst_ok, burst_busy, total.busy, refused,
	        stop_ms, ms_since(&t0));
	free(expect);
}
END_TEST

/*
 * Issue 11, point 3: clients that send their requests and then half-close
 * (shutdown(SHUT_WR), as "nc -N" or a load balancer's health check does)
 * must get every answer and then the end of file, promptly.  Before, in
 * epoll mode 37 to 40 of 40 such clients stayed open for seconds, their
 * sockets in CLOSE-WAIT on the server, some until --timeout.
 *
 * HALF_CLIENTS clients at once, each sending PIPELINE[_i / 2] requests in
 * one write and then SHUT_WR; all are watched together, so that each
 * one's end of file is timed from its own half-close.
 */
#define HALF_CLIENTS 40
/* How soon the server must close a half-closed client after answering. */
#define HALF_CLOSE_MS 1000
/* How long the clients are watched, to report how late the late ones are. */
#define HALF_WATCH_MS 3000

static const unsigned pipeline[] = {1, 2};

START_TEST(test_half_close)
{
	static struct tu_conn c[HALF_CLIENTS];
	static const char req[] = "GET /v1/user HTTP/1.1\r\nHost: x\r\n\r\n";
	unsigned nreq = pipeline[_i / 2];
	struct timespec t0[HALF_CLIENTS], start;
	long eof_ms[HALF_CLIENTS], worst = 0;
	int reset[HALF_CLIENTS];
	struct srv s;
	size_t expect_len;
	char *expect = tu_expected_body(&expect_len);
	char buf[2 * sizeof(req)];
	unsigned i, k, open, late = 0, resets = 0, still_open = 0;

	memcpy(buf, req, sizeof(req) - 1);
	memcpy(buf + sizeof(req) - 1, req, sizeof(req) - 1);
	srv_start(&s, _i % 2, 0, NULL);
	for (i = 0; i < HALF_CLIENTS; i++) {
		ck_assert_msg(tu_connect(&c[i], s.port) == 0, "connect %u: %s",
		              i, strerror(errno));
		ck_assert(tu_send(&c[i], buf, nreq * (sizeof(req) - 1)) == 0);
		ck_assert(shutdown(c[i].fd, SHUT_WR) == 0);
		clock_gettime(CLOCK_MONOTONIC, &t0[i]);
		eof_ms[i] = -1;
		reset[i] = 0;
	}
	/* Read every client until its end of file (or reset). */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (open = HALF_CLIENTS; open > 0 && ms_since(&start) < HALF_WATCH_MS;) {
		struct pollfd pfd[HALF_CLIENTS];
		unsigned map[HALF_CLIENTS], n = 0;

		for (i = 0; i < HALF_CLIENTS; i++)
			if (eof_ms[i] < 0) {
				pfd[n].fd = c[i].fd;
				pfd[n].events = POLLIN;
				map[n++] = i;
			}
		if (poll(pfd, n, 50) <= 0)
			continue;
		for (k = 0; k < n; k++) {
			struct tu_conn *cc = &c[map[k]];
			ssize_t got;

			if (pfd[k].revents == 0)
				continue;
			got = recv(cc->fd, cc->buf + cc->len,
			           sizeof(cc->buf) - cc->len, MSG_DONTWAIT);
			if (got > 0) {
				cc->len += (size_t)got;
				continue;
			}
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			reset[map[k]] = got < 0;
			eof_ms[map[k]] = ms_since(&t0[map[k]]);
			open--;
		}
	}
	/* Each: NREQ whole answers with the fixture, nothing after them,
	 * then the end of file within HALF_CLOSE_MS. */
	for (i = 0; i < HALF_CLIENTS; i++) {
		for (k = 0; k < nreq; k++) {
			struct tu_response r;

			ck_assert_msg(tu_read_response(&c[i], &r, 0) == 0,
			              "%s, %u request(s): client %u: answer %u "
			              "missing or cut short (%zu bytes left)",
			              modes[_i % 2], nreq, i, k + 1, c[i].len);
			ck_assert_msg(r.status == 200 && r.body_len == expect_len &&
			              memcmp(r.body, expect, expect_len) == 0,
			              "%s: client %u: answer %u:\n%s", modes[_i % 2],
			              i, k + 1, r.head);
			tu_response_free(&r);
		}
		ck_assert_msg(c[i].len == 0, "%s: client %u: %zu bytes after "
		              "its answers", modes[_i % 2], i, c[i].len);
		resets += (unsigned)reset[i];
		if (eof_ms[i] < 0 || eof_ms[i] > HALF_CLOSE_MS)
			late++;
		still_open += eof_ms[i] < 0;
		if (eof_ms[i] < 0 || (worst >= 0 && eof_ms[i] > worst))
			worst = eof_ms[i];
		tu_close(&c[i]);
	}
	if (worst >= 0)
		fprintf(stderr, "%s: %d clients, %u request(s) each, then "
		        "SHUT_WR: all answered, all closed, the last after %ld "
		        "ms; %u later than %d ms, %u by a reset\n",
		        modes[_i % 2], HALF_CLIENTS, nreq, worst, late,
		        HALF_CLOSE_MS, resets);
	else
		fprintf(stderr, "%s: %d clients, %u request(s) each, then "
		        "SHUT_WR: all answered; %u not closed within %d ms, of "
		        "which %u still open after %d ms\n", modes[_i % 2],
		        HALF_CLIENTS, nreq, late, HALF_CLOSE_MS, still_open,
		        HALF_WATCH_MS);
	ck_assert_msg(late == 0, "%s: %u of %d half-closed clients not closed "
	              "within %d ms of their half-close", modes[_i % 2], late,
	              HALF_CLIENTS, HALF_CLOSE_MS);
	ck_assert_msg(resets == 0, "%s: %u clients reset", modes[_i % 2],
	              resets);
	get_ok(s.port);
	srv_stop(&s);
	free(expect);
}
END_TEST

static Suite *
slow_suite(void)
{
	Suite *s = suite_create("slow");
	TCase *slow = tcase_create("slow");
	TCase *limits = tcase_create("limits");
	TCase *burst = tcase_create("burst");
	TCase *half_close = tcase_create("half-close");
	int n = (int)(sizeof(modes) / sizeof(modes[0]));

	tcase_set_timeout(slow, 20);
	tcase_add_loop_test(slow, test_idle_closed, 0, n);
	tcase_add_loop_test(slow, test_slow_many, 0, n);
	tcase_add_loop_test(slow, test_slow_relay, 0, n);
	tcase_add_loop_test(slow, test_slow_request, 0,
	                    2 * (int)(sizeof(slow_cases) /
	                              sizeof(slow_cases[0])));
	suite_add_tcase(s, slow);

	tcase_set_timeout(limits, 20);
	tcase_add_loop_test(limits, test_max_connections, 0, n);
	tcase_add_loop_test(limits, test_low_nofile, 0, n);
	tcase_add_loop_test(limits, test_out_of_fds, 0, n);
	tcase_add_loop_test(limits, test_deadline_reconnect, 0, n);
#ifndef AVATAR_SANITIZERS
	/* AddressSanitizer reserves terabytes of address space for its
	 * shadow: no address-space limit can stop only the threads. */
	tcase_add_test(limits, test_no_thread);
#endif
	suite_add_tcase(s, limits);

	/* Issue 11: bursts over the limit (20 rounds each) and half-closed
	 * clients. */
	tcase_set_timeout(burst, 60);
	tcase_add_loop_test(burst, test_burst, 0, n);
	suite_add_tcase(s, burst);
	tcase_set_timeout(half_close, 20);
	tcase_add_loop_test(half_close, test_half_close, 0,
	                    2 * (int)(sizeof(pipeline) / sizeof(pipeline[0])));
	suite_add_tcase(s, half_close);
	return s;
}

int
main(void)
{
	/* A refused client's send must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return tu_run_suite(slow_suite());
}
