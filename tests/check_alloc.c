/* check_alloc.c -- proof that the API routes make no heap allocation.
 *
 * The built binary runs with tests/malloc-count.so preloaded, which counts
 * every malloc, calloc, realloc, reallocarray, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc and free of the process in a
 * page shared through a file (see malloc_count.c).  In each mode the test
 * opens CONNS keep-alive connections, warms them up, then for each kind of
 * request reads the counters, sends N requests over those connections,
 * reads them again, sends N more and reads them a third time: both deltas
 * must be 0.  Every kind is checked separately, so a failure names it.
 *
 * What does allocate is measured outside the counted windows and printed:
 * a new connection (MHD's connection structure, a copy of the client
 * address, the memory pool's header and its 8 KiB buffer, all freed at
 * close; the first request on a server thread also gets that thread's
 * counter slot in stats.c, and in thread-per-connection mode the thread
 * itself costs MHD's thread-start helper and, for a fresh stack, glibc's
 * TLS vector), and a /metrics scrape, by design.  The scrapes, and the
 * start-up, are the positive controls that the shim really counts inside
 * the server.  The per-request test runs again with --access-log to a
 * file: a serving thread's first line makes its ring (in the warm-up),
 * none after; the control is that the file has a line per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>

#include "testutil.h"

#include "malloc_count.h"


/* Requests per window (N), spread over CONNS connections. */
#define N 2000u
#define CONNS 4
/* Warm-up requests of each kind on each connection. */
#define WARMUP 8
#define METRICS_SCRAPES 10

/* One kind of request, and what it must get. */
struct kind {
	const char *name;
	const char *method;
	const char *path;
	int id;       /* append an id, 1 to 20, to PATH */
	int status;
	int head;     /* no body to read (HEAD, 204, 304) */
	const char *fields; /* extra header lines, or NULL */
};

static const struct kind kinds[] = {
	{"GET /v1/user", "GET", "/v1/user", 0, 200, 0, NULL},
	{"GET /v1/user/{id}", "GET", "/v1/user/", 1, 200, 0, NULL},
	{"GET /v1/user/{unknown id} (404)", "GET", "/v1/user/x", 1, 404, 0, NULL},
	{"GET /nope (404)", "GET", "/nope/", 1, 404, 0, NULL},
	{"DELETE /v1/user/{id} (405)", "DELETE", "/v1/user/", 1, 405, 0, NULL},
	{"POST /v1/user with a body (405)", "POST", "/v1/user", 0, 405, 0, NULL},
	{"HEAD /v1/user", "HEAD", "/v1/user", 0, 200, 1, NULL},
	{"HEAD /v1/user/{id}", "HEAD", "/v1/user/", 1, 200, 1, NULL},
	{"GET /readyz", "GET", "/readyz", 0, 200, 0, NULL},
	/* Issue 13: all picked from what was built at load. */
	{"GET /v1/user, If-None-Match (304)", "GET", "/v1/user", 0, 304, 1,
	 "If-None-Match: \"a\", W/\"b\"\r\nIf-None-Match: *\r\n"},
	{"GET /v1/user/{id}, If-Match (412)", "GET", "/v1/user/", 1, 412, 0,
	 "If-Match: \"nope\"\r\n"},
	{"GET /v1/user, gzip", "GET", "/v1/user", 0, 200, 0,
	 "Accept-Encoding: br;q=1.0, gzip;q=0.8, *;q=0\r\n"},
	{"GET /v1/user/{id}, gzip, CORS", "GET", "/v1/user/", 1, 200, 0,
	 "Accept-Encoding: gzip\r\nOrigin: http://b.example\r\n"},
	{"OPTIONS /v1/user, CORS preflight (204)", "OPTIONS", "/v1/user", 0,
	 204, 1, "Origin: http://b.example\r\n"
	 "Access-Control-Request-Method: GET\r\n"
	 "Access-Control-Request-Headers: if-none-match\r\n"},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const char *const modes[] = {"epoll", "thread-per-connection"};

static const char *const counter_names[MC_COUNT] = {
	"malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
	"aligned_alloc", "memalign", "valloc", "pvalloc", "free",
	"free(NULL)", "bootstrap"};

struct counts {
	uint64_t allocs;  /* every allocating call */
	uint64_t frees;   /* free of a non-null pointer */
	uint64_t nulls;   /* free(NULL) */
	uint64_t n[MC_COUNT];
};

static const volatile struct mc_page *page;

static struct counts
snapshot(void)
{
	struct counts c;
	int i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < MC_COUNT; i++)
		c.n[i] = __atomic_load_n(&page->n[i], __ATOMIC_RELAXED);
	for (i = MC_MALLOC; i <= MC_PVALLOC; i++)
		c.allocs += c.n[i];
	c.frees = c.n[MC_FREE];
	c.nulls = c.n[MC_FREE_NULL];
	return c;
}

/* Print the allocations and frees from A to B, by function. */
static void
print_delta(const struct counts *a, const struct counts *b)
{
	const char *sep = " (";
	int i;

	printf("%+lld allocations %+lld frees",
	       (long long)(b->allocs - a->allocs),
	       (long long)(b->frees - a->frees));
	for (i = 0; i < MC_COUNT; i++) {
		if (b->n[i] == a->n[i])
			continue;
		printf("%s%s %+lld", sep, counter_names[i],
		       (long long)(b->n[i] - a->n[i]));
		sep = ", ";
	}
	printf("%s\n", *sep == ',' ? ")" : "");
}

/* The counters once the server is idle: a response can reach the client
 * before the server has finished with its request (MHD resets the
 * connection's pool after sending), so wait until they stop moving. */
static struct counts
settle(void)
{
	struct timespec nap = {0, 10 * 1000 * 1000};
	struct counts prev = snapshot();
	int stable = 0, tries;

	for (tries = 0; tries < 300 && stable < 3; tries++) {
		struct counts cur;

		nanosleep(&nap, NULL);
		cur = snapshot();
		if (cur.allocs == prev.allocs && cur.frees == prev.frees &&
		    cur.nulls == prev.nulls)
			stable++;
		else
			stable = 0;
		prev = cur;
	}
	return prev;
}

/* Start the binary with the shim preloaded, counting into COUNTFILE, on
 * a free port in MODE, relaying to UPSTREAM unless it is NULL, with
 * --access-log ACCESSLOG unless it is NULL; wait for its "Listening"
 * line. */
static pid_t
spawn(const char *mode, const char *countfile, const char *upstream,
      const char *accesslog, unsigned *port, int *errfd)
{
	static char preload[4200], countenv[4200];
	char portstr[16], line[1024];
	const char *msg = NULL;
	int pe[2];
	pid_t parent = getpid(), pid;

	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s",
	         tu_env("AVATAR_API_MALLOC_COUNT_SO"));
	snprintf(countenv, sizeof(countenv), "AVATAR_API_MALLOC_COUNT_FILE=%s",
	         countfile);
	*port = tu_free_port();
	snprintf(portstr, sizeof(portstr), "%u", *port);
	ck_assert(pipe2(pe, O_CLOEXEC) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		char *argv[] = {(char *)"avatar-api",
		                (char *)"--address", (char *)"127.0.0.1",
		                (char *)"--port", portstr, (char *)"--mode",
		                (char *)mode, (char *)"--threads", (char *)"2",
		                (char *)"--cors-origin", (char *)"http://a.example",
		                (char *)"--cors-origin", (char *)"http://b.example",
		                NULL, NULL, NULL, NULL, NULL};
		char *envp[] = {preload, countenv, NULL};
		int n = 13;

		/* A relay has no --data: its records are relayed too. */
		if (upstream != NULL) {
			argv[n++] = (char *)"--upstream";
			argv[n++] = (char *)upstream;
		} else {
			argv[n++] = (char *)"--data";
			argv[n++] = (char *)tu_env("AVATAR_API_FIXTURE");
		}
		if (accesslog != NULL) {
			argv[n++] = (char *)"--access-log";
			argv[n++] = (char *)accesslog;
		}

		/* Do not outlive a failed test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(pe[1], 2);
		execve(tu_env("AVATAR_API_BIN"), argv, envp);
		_exit(127);
	}
	close(pe[1]);
	for (;;) {
		size_t got = 0;

		while (got + 1 < sizeof(line)) {
			ssize_t n = read(pe[0], line + got, 1);

			if (n <= 0 || line[got] == '\n')
				break;
			got++;
		}
		line[got] = '\0';
		msg = tu_log_msg(line, "info");
		if (got == 0 || (msg != NULL && strncmp(msg, "Listening", 9) == 0))
			break;
	}
	ck_assert_msg(msg != NULL &&
	              strncmp(msg, "Listening on http://127.0.0.1:", 30) == 0,
	              "unexpected start-up line: '%s'", line);
	*errfd = pe[0];
	return pid;
}

/* Map COUNTFILE, written by the shim in process PID. */
static void
map_counts(const char *countfile, pid_t pid)
{
	struct stat st;
	void *map;
	int fd;

	fd = open(countfile, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s (is the shim preloaded?)", countfile,
	              strerror(errno));
	ck_assert(fstat(fd, &st) == 0);
	ck_assert_msg((size_t)st.st_size >= sizeof(struct mc_page),
	              "%s: %lld bytes", countfile, (long long)st.st_size);
	map = mmap(NULL, sizeof(struct mc_page), PROT_READ, MAP_SHARED, fd, 0);
	ck_assert(map != MAP_FAILED);
	close(fd);
	/* The mapping outlives the name: nothing is left behind, even if an
	 * assertion below fails. */
	unlink(countfile);
	page = map;
	ck_assert_msg(__atomic_load_n(&page->magic, __ATOMIC_ACQUIRE) ==
	              MC_MAGIC, "%s: bad magic", countfile);
	ck_assert_msg(page->count == MC_COUNT, "%s: %llu counters, expected "
	              "%d: malloc_count.c and check_alloc.c differ", countfile,
	              (unsigned long long)page->count, MC_COUNT);
	ck_assert_msg(page->pid == (uint64_t)pid, "%s: written by pid %llu, "
	              "not the server (%d)", countfile,
	              (unsigned long long)page->pid, (int)pid);
}

/* Send request number I of kind K on C. */
static void
send_one(struct tu_conn *c, const struct kind *k, unsigned i)
{
	char path[64];

	if (k->id)
		snprintf(path, sizeof(path), "%s%u", k->path, i % 20 + 1);
	else
		snprintf(path, sizeof(path), "%s", k->path);
	if (strcmp(k->method, "POST") == 0)
		ck_assert(tu_request(c, k->method, path, "Content-Length: 13\r\n"
		                     "Content-Type: application/json\r\n") == 0 &&
		          tu_send(c, "{\"name\":\"x\"}", 13) == 0);
	else
		ck_assert(tu_request(c, k->method, path, k->fields) == 0);
}

static void
read_one(struct tu_conn *c, const struct kind *k)
{
	struct tu_response r;
	char v[32];

	ck_assert_msg(tu_read_response(c, &r, k->head) == 0,
	              "%s: no response", k->name);
	ck_assert_msg(r.status == k->status, "%s: status %d, expected %d",
	              k->name, r.status, k->status);
	ck_assert_msg(k->head || r.body_len > 0, "%s: empty body", k->name);
	ck_assert_msg(tu_header(&r, "Connection", v, sizeof(v)) == 0,
	              "%s: Connection: %s", k->name, v);
	tu_response_free(&r);
}

/* COUNT requests of kind K over the CONNS connections C: one request on
 * each, then the answers, so that the server threads work concurrently. */
static void
run(struct tu_conn *c, const struct kind *k, unsigned count)
{
	unsigned i, j;

	for (i = 0; i < count; i += CONNS) {
		for (j = 0; j < CONNS && i + j < count; j++)
			send_one(&c[j], k, i + j);
		for (j = 0; j < CONNS && i + j < count; j++)
			read_one(&c[j], k);
	}
}

/* Two windows of COUNT requests of kind K over C: the counters before,
 * between and after in W, the allocations of each window in *D1 and *D2,
 * its frees in *F1 and *F2. */
static void
two_windows(struct tu_conn *c, const struct kind *k, unsigned count,
            struct counts w[3], long long *d1, long long *d2,
            long long *f1, long long *f2)
{
	w[0] = settle();
	run(c, k, count);
	w[1] = settle();
	run(c, k, count);
	w[2] = settle();
	*d1 = (long long)(w[1].allocs - w[0].allocs);
	*d2 = (long long)(w[2].allocs - w[1].allocs);
	*f1 = (long long)(w[1].frees - w[0].frees);
	*f2 = (long long)(w[2].frees - w[1].frees);
}

/* _I: the mode (_i % 2), and the access log on (_i / 2), to a file. */
START_TEST(test_alloc_per_request)
{
	const char *mode = modes[_i % 2];
	int logged = _i / 2;
	char logfile[4096];
	struct tu_conn *c = calloc(CONNS + 1, sizeof(*c)), *extra = &c[CONNS];
	struct counts w[3], start, before, after;
	double dropped = 0;
	static const struct kind metrics = {"GET /metrics", "GET", "/metrics",
	                                    0, 200, 0, NULL};
	char countfile[4096];
	unsigned port;
	size_t k;
	int j, errfd, status, total_bad = 0;
	pid_t pid;

	ck_assert(c != NULL);
	snprintf(countfile, sizeof(countfile), "%s/alloc-count.%s.%d",
	         tu_env("AVATAR_API_TMPDIR"), mode, (int)getpid());
	unlink(countfile);
	snprintf(logfile, sizeof(logfile), "%s/alloc-access.%s.%d.log",
	         tu_env("AVATAR_API_TMPDIR"), mode, (int)getpid());
	unlink(logfile);
	if (logged)
		printf("%s: with --access-log\n", mode);
	pid = spawn(mode, countfile, NULL, logged ? logfile : NULL, &port,
	            &errfd);
	map_counts(countfile, pid);
	start = settle();
	/* Positive control of the shim: loading the fixture allocates. */
	ck_assert_msg(start.allocs > 0, "%s: no allocation counted at "
	              "start-up: the shim is not counting", mode);
	memset(&before, 0, sizeof(before));
	printf("%s: start-up: ", mode);
	print_delta(&before, &start);

	/* The connections first, then a warm-up of every kind on each (the
	 * first request on a server thread allocates its counter slot). */
	for (j = 0; j < CONNS; j++)
		ck_assert_msg(tu_connect(&c[j], port) == 0, "connect: %s",
		              strerror(errno));
	for (k = 0; k < NKINDS; k++)
		run(c, &kinds[k], WARMUP * CONNS);

	for (k = 0; k < NKINDS; k++) {
		long long d1, d2, f1, f2;

		two_windows(c, &kinds[k], N, w, &d1, &d2, &f1, &f2);
		printf("%s: %s: N=%u: %+lld allocations %+lld frees, "
		       "2N=%u: %+lld allocations %+lld frees "
		       "(free(NULL): %+lld)\n", mode, kinds[k].name, N, d1, f1,
		       2 * N, d1 + d2, f1 + f2,
		       (long long)(w[2].nulls - w[0].nulls));
		if (d1 != 0 || d2 != 0 || f1 != 0 || f2 != 0) {
			printf("  first N: ");
			print_delta(&w[0], &w[1]);
			printf("  second N: ");
			print_delta(&w[1], &w[2]);
			total_bad++;
		}
	}
	fflush(stdout);

	/* Outside the counted windows: what a new connection costs. */
	before = settle();
	for (j = 0; j < CONNS; j++) {
		ck_assert(tu_connect(extra, port) == 0);
		send_one(extra, &kinds[0], 0);
		read_one(extra, &kinds[0]);
		tu_close(extra);
	}
	after = settle();
	printf("%s: %d new connections, one request each, closed (not "
	       "counted above): ", mode, CONNS);
	print_delta(&before, &after);

	/* /metrics allocates by design; it is the control that the shim
	 * counts inside the server while it serves. */
	before = settle();
	run(c, &metrics, METRICS_SCRAPES);
	after = settle();
	printf("%s: %d /metrics scrapes (not counted above): ", mode,
	       METRICS_SCRAPES);
	print_delta(&before, &after);
	fflush(stdout);
	ck_assert_msg(after.allocs > before.allocs, "%s: /metrics did not "
	              "allocate: the shim is not counting", mode);
	if (logged) {
		/* The access log may drop lines when its writer falls behind
		 * (a loaded machine); it counts them. */
		struct tu_response r;

		tu_get(port, "GET", "/metrics", &r);
		ck_assert_int_eq(r.status, 200);
		dropped = tu_metric(r.body, "avatar_api_access_log_dropped_total");
		ck_assert(dropped >= 0);
		tu_response_free(&r);
	}

	for (j = 0; j < CONNS; j++)
		tu_close(&c[j]);
	free(c);
	/* Stop an idle server: libmicrohttpd 0.9.75 can abort ("Failed to
	 * remove listen FD from epoll set") when MHD_quiesce_daemon races a
	 * busy epoll worker, and that is not what this test is about. */
	settle();
	ck_assert(kill(pid, SIGTERM) == 0);
	ck_assert(waitpid(pid, &status, 0) == pid);
	munmap((void *)page, sizeof(struct mc_page));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		static char err[8192];
		ssize_t n = read(errfd, err, sizeof(err) - 1);

		err[n > 0 ? n : 0] = '\0';
		ck_abort_msg("%s: the server did not exit 0 on SIGTERM: %s %d; "
		             "its stderr after start-up: %s", mode,
		             WIFSIGNALED(status) ? "signal" : "exit status",
		             WIFSIGNALED(status) ? WTERMSIG(status)
		             : WEXITSTATUS(status), err);
	}
	close(errfd);
	ck_assert_msg(total_bad == 0, "%s: %d request kind(s) allocated "
	              "(see the counts above)%s", mode, total_bad,
	              logged ? " with --access-log" : "");
	if (logged) {
		/* The control: the requests were logged, every one of them. */
		size_t len, lines = 0, i;
		char *text = tu_read_file(logfile, &len);

		for (i = 0; i < len; i++)
			lines += text[i] == '\n';
		free(text);
		unlink(logfile);
		ck_assert_uint_eq(lines + (size_t)dropped,
		                  NKINDS * (WARMUP * CONNS + 2 * N) + CONNS +
		                  METRICS_SCRAPES + 1);
		if (dropped > 0)
			printf("%s: %.0f access log lines dropped (the writer "
			       "fell behind)\n", mode, dropped);
	}
}
END_TEST

/*
 * Relay mode through libmicrohttpd allocates per request:
 * libmicrohttpd's response over the slot's body buffer (a calloc) and
 * its header lines (a calloc and two strdups each, libmicrohttpd
 * 0.9.75): a relayed 200 carries Content-Type, Engine, Location, ETag,
 * Cache-Control and Vary (compression is on by default), 19 calls, and
 * Content-Encoding when it passes a gzip body on, 22; a 304 has Engine,
 * ETag, Cache-Control and Vary over a sized response with no body, 13.
 * In epoll mode the relay's front end (front.c) answers a plain GET of
 * the list or a record, gzip or not, itself, with no allocation at all;
 * a conditional GET goes to libmicrohttpd.  The relay's own client
 * allocates nothing per request (slots, body buffers, target and header
 * buffers and connection buffers are reused).  What this proves is that
 * the cost is that constant for each kind, the same over N and 2N
 * requests, and within its count: 0 for the front end's.  Each kind has
 * connections of its own (one that libmicrohttpd was given stays
 * with it).  The upstream is a second avatar-api, not counted.
 */
#define RELAY_N 1000u

static const struct relay_case {
	struct kind k;
	long long max;  /* allocations per request through libmicrohttpd */
	int front;      /* the front end's in epoll mode: none */
} relay_kinds[] = {
	{{"GET /v1/user (relayed)", "GET", "/v1/user", 0, 200, 0, NULL}, 19, 1},
	{{"GET /v1/user/{id} (relayed)", "GET", "/v1/user/", 1, 200, 0, NULL},
	 19, 1},
	{{"GET /v1/user/{id}, If-None-Match: * (relayed 304)", "GET",
	  "/v1/user/", 1, 304, 1, "If-None-Match: *\r\n"}, 13, 0},
	{{"GET /v1/user/{id}, Accept-Encoding: gzip (relayed gzip)", "GET",
	  "/v1/user/", 1, 200, 0, "Accept-Encoding: gzip\r\n"}, 22, 1},
};
#define NRELAY_KINDS (sizeof(relay_kinds) / sizeof(relay_kinds[0]))

START_TEST(test_alloc_relay)
{
	const char *mode = modes[_i];
	char up_port[16], upstream[128], countfile[4096], line[1024] = "";
	char *up_argv[] = {(char *)"avatar-api", (char *)"--data",
	                   (char *)tu_env("AVATAR_API_FIXTURE"),
	                   (char *)"--address", (char *)"127.0.0.1",
	                   (char *)"--port", up_port, (char *)"--threads",
	                   (char *)"1", NULL};
	char *none[] = {NULL};
	struct tu_conn c[CONNS];
	struct counts w[3];
	long long d1, d2, f1, f2;
	unsigned port, up = tu_free_port();
	int j, errfd, up_errfd, status, bad = 0;
	size_t k;
	pid_t pid, up_pid;

	snprintf(up_port, sizeof(up_port), "%u", up);
	up_pid = tu_spawn(tu_env("AVATAR_API_BIN"), up_argv, none, NULL, -1,
	                  &up_errfd);
	ck_assert_msg(tu_read_until(up_errfd, line, sizeof(line), "Listening",
	                            5000) == 0, "upstream: %s", line);
	/* The upstream serves the default /v1/user. */
	snprintf(upstream, sizeof(upstream), "http://127.0.0.1:%u/v1/user", up);
	snprintf(countfile, sizeof(countfile), "%s/alloc-count.relay.%s.%d",
	         tu_env("AVATAR_API_TMPDIR"), mode, (int)getpid());
	unlink(countfile);
	pid = spawn(mode, countfile, upstream, NULL, &port, &errfd);
	map_counts(countfile, pid);
	for (k = 0; k < NRELAY_KINDS; k++) {
		const struct kind *kd = &relay_kinds[k].k;
		int front = relay_kinds[k].front && strcmp(mode, "epoll") == 0;
		long long max = front ? 0 : relay_kinds[k].max;

		for (j = 0; j < CONNS; j++)
			ck_assert_msg(tu_connect(&c[j], port) == 0,
			              "connect: %s", strerror(errno));
		run(c, kd, WARMUP * CONNS);
		two_windows(c, kd, RELAY_N, w, &d1, &d2, &f1, &f2);
		printf("%s: %s: N=%u: %+lld allocations %+lld frees (%.1f per "
		       "request), 2N=%u: %+lld allocations %+lld frees\n", mode,
		       kd->name, RELAY_N, d1, f1, (double)d1 / RELAY_N,
		       2 * RELAY_N, d1 + d2, f1 + f2);
		printf("  by function, first N: ");
		print_delta(&w[0], &w[1]);
		fflush(stdout);
		/* The same cost in both windows: nothing grows with traffic.
		 * (An exact balance of allocations and frees cannot be read
		 * from these counters: a realloc may move a block or allocate
		 * a new one.  The leak check is make valgrind, and
		 * check_relay's RSS test.)  5% of slack: a window may see an
		 * error answer or a new connection. */
		if (llabs(d1 - d2) > RELAY_N / 20 || llabs(f1 - f2) > RELAY_N / 20) {
			printf("  FAIL: %s: relay cost grows: %+lld/%+lld then "
			       "%+lld/%+lld\n", kd->name, d1, f1, d2, f2);
			bad++;
		}
		/* Frees keep up with allocations, reallocs aside. */
		if (llabs(d1 - f1) > (long long)(w[1].n[MC_REALLOC] -
		                                  w[0].n[MC_REALLOC]) +
		    RELAY_N / 20) {
			printf("  FAIL: %s: %+lld allocations but %+lld frees\n",
			       kd->name, d1, f1);
			bad++;
		}
		/* The control: relaying through libmicrohttpd does
		 * allocate, a small constant; the front end nothing (and
		 * the same slack: a slot or a connection buffer made in a
		 * window). */
		if ((!front && d1 <= 0) ||
		    d1 > (long long)RELAY_N * max + RELAY_N / 20 ||
		    d2 > (long long)RELAY_N * max + RELAY_N / 20) {
			printf("  FAIL: %s: not %s%lld allocations per "
			       "request\n", kd->name, front ? "" : "1 to ",
			       max);
			bad++;
		}
		for (j = 0; j < CONNS; j++)
			tu_close(&c[j]);
		settle();
	}
	ck_assert(kill(pid, SIGTERM) == 0);
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(kill(up_pid, SIGTERM) == 0);
	ck_assert(waitpid(up_pid, &status, 0) == up_pid);
	munmap((void *)page, sizeof(struct mc_page));
	close(errfd);
	close(up_errfd);
	ck_assert_msg(bad == 0, "%s: %d relay check(s) failed (see above)",
	              mode, bad);
}
END_TEST

static Suite *
alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("per-request");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_alloc_per_request, 0,
	                    2 * (int)(sizeof(modes) / sizeof(modes[0])));
	tcase_add_loop_test(tc, test_alloc_relay, 0,
	                    sizeof(modes) / sizeof(modes[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
#ifdef AVATAR_SANITIZERS
	/* ./configure --enable-sanitizers: ASan has its own allocator, and
	 * the LD_PRELOAD shim cannot be loaded before it. */
	puts("SKIP: built with --enable-sanitizers: the LD_PRELOAD malloc "
	     "counter cannot run beside AddressSanitizer");
	return 77;
#endif
	return tu_run_suite(alloc_suite());
}
