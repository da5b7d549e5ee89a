/* check_accesslog.c -- --access-log: the lines of the running binary.
 *
 * Each test runs the built binary in both modes with --access-log to a
 * file in a scratch directory (or "-", standard output), sends requests
 * over raw sockets, stops it with SIGTERM and reads the file: one line
 * per request, every field as sent and answered, in text (matched with
 * a POSIX regular expression) and JSON (parsed with jansson). */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <jansson.h>

#include "testutil.h"

static const char *const modes[] = {"epoll", "thread-per-connection"};

static char dir[4096];

/* Start the binary in MODE with ARGS (then NULL) after the common ones
 * and ENVP; wait for its "Listening" line.  Its stdout is OUT_FD unless
 * it is -1. */
static pid_t
spawn(const char *mode, char *const *args, char *const *envp, int out_fd,
      unsigned *port, int *errfd)
{
	static char portstr[16];
	char *argv[32] = {(char *)"avatar-api", (char *)"--data",
	                  (char *)tu_env("AVATAR_API_FIXTURE"),
	                  (char *)"--address", (char *)"127.0.0.1",
	                  (char *)"--port", portstr, (char *)"--mode",
	                  (char *)mode, (char *)"--threads", (char *)"2"};
	static char *none[] = {NULL};
	char buf[4096] = "";
	int i, n = 11, saved = -1;
	pid_t pid;

	for (i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	*port = tu_free_port();
	snprintf(portstr, sizeof(portstr), "%u", *port);
	if (out_fd >= 0) {
		fflush(stdout);
		saved = dup(1);
		ck_assert(saved >= 0 && dup2(out_fd, 1) == 1);
	}
	pid = tu_spawn(tu_env("AVATAR_API_BIN"), argv,
	               envp != NULL ? envp : none, NULL, -1, errfd);
	if (out_fd >= 0) {
		dup2(saved, 1);
		close(saved);
	}
	ck_assert_msg(tu_read_until(*errfd, buf, sizeof(buf), "Listening",
	                            5000) == 0, "no start-up line: %s", buf);
	return pid;
}

/* One request on C and its answer, which must have STATUS; returns the
 * length of its body (0 for HEAD). */
static size_t
ask(struct tu_conn *c, const char *method, const char *path,
    const char *extra, int status)
{
	struct tu_response r;
	size_t len;

	ck_assert(tu_request(c, method, path, extra) == 0);
	ck_assert(tu_read_response(c, &r, strcmp(method, "HEAD") == 0) == 0);
	ck_assert_msg(r.status == status, "%s %s: %d", method, path, r.status);
	len = r.body_len;
	tu_response_free(&r);
	return len;
}

/* The lines of the file PATH, in a new NULL-terminated array (free the
 * array and its first element). */
static char **
lines_of(const char *path, size_t *count)
{
	char *text = tu_read_file(path, NULL), *p, **v;
	size_t n = 0, i = 0;

	for (p = text; *p != '\0'; p++)
		n += *p == '\n';
	v = calloc(n + 2, sizeof(char *));
	ck_assert(v != NULL);
	v[0] = text;
	for (p = text; *p != '\0' && i < n; i++) {
		char *nl = strchr(p, '\n');

		v[i + 1] = p;
		*nl = '\0';
		p = nl + 1;
	}
	ck_assert_msg(*p == '\0', "the file does not end with a newline");
	*count = n;
	return v;
}

/* The access log PATH has a line for a request of WHAT (a path), and it
 * logs STATUS and LEN body bytes. */
static void
assert_logged(const char *path, const char *what, unsigned status,
              size_t len)
{
	char **lines, want[64];
	size_t n, i;

	lines = lines_of(path, &n);
	snprintf(want, sizeof(want), "\" %u %zu ", status, len);
	for (i = 1; i <= n; i++)
		if (strstr(lines[i], what) != NULL)
			break;
	ck_assert_msg(i <= n, "no %s line", what);
	ck_assert_msg(strstr(lines[i], want) != NULL, "'%s' lacks '%s'",
	              lines[i], want);
	free(lines[0]);
	free(lines);
}

/* The requests of test_accesslog_*; the body length logged must be the
 * one the client got. */
struct req {
	const char *method, *path, *extra;
	int status;
	const char *logged_path;   /* as it appears in a text line */
	const char *json_path;     /* as it is after JSON decoding */
	const char *id;            /* the request id logged, or NULL */
};

static char longid_field[160];
static size_t answered[16];

static const struct req reqs[] = {
	{"GET", "/v1/user", "X-Request-Id: abc-1\r\n", 200, "/v1/user",
	 "/v1/user", "abc-1"},
	{"HEAD", "/v1/user/1", NULL, 200, "/v1/user/1", "/v1/user/1",
	 NULL},
	{"GET", "/v1/user/1", "traceparent: 00-0af7651916cd43dd8448eb211c80319"
	 "c-b7ad6b7169203331-01\r\n", 200, "/v1/user/1", "/v1/user/1",
	 "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	{"DELETE", "/v1/user/1", NULL, 405, "/v1/user/1", "/v1/user/1",
	 NULL},
	{"GET", "/nope", "X-Request-Id: q\"\\x\r\n", 404, "/nope",
	 "/nope", "q\"\\x"},
	/* A forged line: a quote, a newline, a backslash and a fake line. */
	{"GET", "/v1/us%22er%0A127.0.0.1%20-%20-%20%5C%09", NULL, 404,
	 "/v1/us\\x22er\\x0a127.0.0.1 - - \\x5c\\x09",
	 "/v1/us\"er\n127.0.0.1 - - \\\t", NULL},
	/* An over-long id is not logged. */
	{"GET", "/healthz", longid_field, 200, "/healthz", "/healthz",
	 NULL},
};
#define NREQS (sizeof(reqs) / sizeof(reqs[0]))

/* Run every request of REQS against the binary in MODE with FORMAT,
 * then stop it; the lines of the log. */
static char **
run_reqs(const char *mode, const char *format, size_t *count)
{
	char path[4200], *args[] = {(char *)"--access-log", path,
	                            (char *)"--log-format", (char *)format,
	                            NULL};
	struct tu_conn c;
	unsigned port;
	size_t i;
	int errfd;
	pid_t pid;

	snprintf(longid_field, sizeof(longid_field), "X-Request-Id: %0129d\r\n",
	         0);
	tu_tmpdir_make(dir, sizeof(dir), "accesslog");
	snprintf(path, sizeof(path), "%s/access.log", dir);
	pid = spawn(mode, args, NULL, -1, &port, &errfd);
	ck_assert(tu_connect(&c, port) == 0);
	for (i = 0; i < NREQS; i++)
		answered[i] = ask(&c, reqs[i].method, reqs[i].path,
		                  reqs[i].extra, reqs[i].status);
	tu_close(&c);
	tu_stop(pid, errfd);
	return lines_of(path, count);
}

/* Regex-escape S into OUT. */
static void
re_quote(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < size; s++) {
		if (strchr(".[]()*+?{}|^$\\", *s) != NULL)
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o] = '\0';
}

START_TEST(test_accesslog_text)
{
	size_t n, i;
	char **v = run_reqs(modes[_i], "text", &n);

	ck_assert_uint_eq(n, NREQS);
	for (i = 0; i < NREQS; i++) {
		const struct req *q = &reqs[i];
		char re[2048], qp[512], qid[512], bytes[32];
		regex_t rx;
		int rc;

		re_quote(qp, sizeof(qp), q->logged_path);
		if (q->id != NULL) {
			char esc[256];
			size_t o = 0;
			const char *s;

			for (s = q->id; *s != '\0'; s++) {
				if (*s == '"' || *s == '\\') {
					o += (size_t)sprintf(esc + o, "\\x%02x", *s);
				} else {
					esc[o++] = *s;
				}
			}
			esc[o] = '\0';
			re_quote(qid + 1, sizeof(qid) - 2, esc);
			qid[0] = '"';
			strcat(qid, "\"");
		} else {
			strcpy(qid, "-");
		}
		snprintf(bytes, sizeof(bytes), "%zu", answered[i]);
		snprintf(re, sizeof(re), "^127\\.0\\.0\\.1 - - \\[[0-9]{4}-[0-9]{2}"
		         "-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\\] "
		         "\"%s %s HTTP/1\\.1\" %d %s [0-9]+\\.[0-9]{6} %s$",
		         q->method, qp, q->status, bytes, qid);
		ck_assert(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) == 0);
		rc = regexec(&rx, v[i + 1], 0, NULL, 0);
		regfree(&rx);
		ck_assert_msg(rc == 0, "line %zu: '%s' does not match '%s'",
		              i + 1, v[i + 1], re);
	}
	free(v[0]);
	free(v);
	tu_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_accesslog_json)
{
	size_t n, i;
	char **v = run_reqs(modes[_i], "json", &n);

	ck_assert_uint_eq(n, NREQS);
	for (i = 0; i < NREQS; i++) {
		const struct req *q = &reqs[i];
		json_error_t e;
		json_t *o = json_loads(v[i + 1], 0, &e), *id;
		const char *t;

		ck_assert_msg(o != NULL && json_is_object(o), "line %zu: %s: %s",
		              i + 1, e.text, v[i + 1]);
		ck_assert_uint_eq(json_object_size(o), 9);
		t = json_string_value(json_object_get(o, "time"));
		ck_assert_msg(t != NULL && strlen(t) == 24 && t[10] == 'T' &&
		              t[23] == 'Z', "time %s", t);
		ck_assert_str_eq(json_string_value(json_object_get(o, "client")),
		                 "127.0.0.1");
		ck_assert_str_eq(json_string_value(json_object_get(o, "method")),
		                 q->method);
		ck_assert_str_eq(json_string_value(json_object_get(o, "path")),
		                 q->json_path);
		ck_assert_str_eq(json_string_value(json_object_get(o, "protocol")),
		                 "HTTP/1.1");
		ck_assert_int_eq(json_integer_value(json_object_get(o, "status")),
		                 q->status);
		ck_assert_int_eq(json_integer_value(json_object_get(o, "bytes")),
		                 (json_int_t)answered[i]);
		ck_assert(json_is_real(json_object_get(o, "duration")));
		ck_assert(json_real_value(json_object_get(o, "duration")) >= 0 &&
		          json_real_value(json_object_get(o, "duration")) < 5);
		id = json_object_get(o, "request_id");
		if (q->id != NULL)
			ck_assert_str_eq(json_string_value(id), q->id);
		else
			ck_assert_msg(json_is_null(id), "request_id: %s", v[i + 1]);
		json_decref(o);
	}
	free(v[0]);
	free(v);
	tu_tmpdir_remove(dir);
}
END_TEST

/* Many requests, then SIGTERM at once: every one has its line. */
START_TEST(test_accesslog_sigterm_all_lines)
{
	enum { CONNS = 4, PER = 500 };
	char path[4200], *args[] = {(char *)"--access-log", path, NULL};
	struct tu_conn c[CONNS];
	unsigned port, k;
	size_t n;
	char **v;
	int errfd, i;
	pid_t pid;

	tu_tmpdir_make(dir, sizeof(dir), "accesslog");
	snprintf(path, sizeof(path), "%s/access.log", dir);
	pid = spawn(modes[_i], args, NULL, -1, &port, &errfd);
	for (i = 0; i < CONNS; i++)
		ck_assert(tu_connect(&c[i], port) == 0);
	for (k = 0; k < PER; k++)
		for (i = 0; i < CONNS; i++)
			ask(&c[i], "GET", "/healthz", NULL, 200);
	tu_stop(pid, errfd);
	for (i = 0; i < CONNS; i++)
		tu_close(&c[i]);
	v = lines_of(path, &n);
	ck_assert_uint_eq(n, CONNS * PER);
	for (k = 1; k <= n; k++)
		ck_assert_msg(strstr(v[k], "\"GET /healthz HTTP/1.1\" 200 15 ")
		              != NULL, "line %u: %s", k, v[k]);
	free(v[0]);
	free(v);
	tu_tmpdir_remove(dir);
}
END_TEST

/* "-" (here from AVATAR_API_ACCESS_LOG, with AVATAR_API_LOG_FORMAT):
 * the lines go to standard output; /metrics counts no dropped line. */
START_TEST(test_accesslog_stdout)
{
	char path[4200], *args[] = {NULL};
	char *envp[] = {(char *)"AVATAR_API_ACCESS_LOG=-",
	                (char *)"AVATAR_API_LOG_FORMAT=json", NULL};
	struct tu_response r;
	unsigned port;
	size_t n;
	char **v;
	int errfd, out;
	pid_t pid;

	tu_tmpdir_make(dir, sizeof(dir), "accesslog");
	snprintf(path, sizeof(path), "%s/stdout", dir);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert(out >= 0);
	pid = spawn(modes[_i], args, envp, out, &port, &errfd);
	close(out);
	tu_get(port, "GET", "/v1/user", &r);
	tu_response_free(&r);
	tu_get(port, "GET", "/metrics", &r);
	ck_assert_msg(tu_metric(r.body, "avatar_api_access_log_dropped_total")
	              == 0, "%s", r.body);
	tu_response_free(&r);
	tu_stop(pid, errfd);
	v = lines_of(path, &n);
	ck_assert_uint_eq(n, 2);
	/* Two connections, maybe two threads: either order. */
	if (strstr(v[1], "\"path\":\"/metrics\"") != NULL) {
		char *t = v[1];

		v[1] = v[2];
		v[2] = t;
	}
	ck_assert_msg(strncmp(v[1], "{\"time\":\"", 9) == 0 &&
	              strstr(v[1], "\"path\":\"/v1/user\"") != NULL, "%s", v[1]);
	ck_assert_msg(strstr(v[2], "\"path\":\"/metrics\"") != NULL, "%s", v[2]);
	free(v[0]);
	free(v);
	tu_tmpdir_remove(dir);
}
END_TEST

/* A writer that cannot keep up (a FIFO nobody reads): lines are
 * dropped rather than waited for, counted in /metrics and in a warning,
 * and every line is either written or counted. */
START_TEST(test_accesslog_dropped)
{
	enum { REQS = 4000 };
	char path[4200], *args[] = {(char *)"--access-log", path, NULL};
	static char err[65536], buf[65536];
	unsigned long lines = 0, dropped = 0;
	struct tu_response r;
	struct tu_conn c;
	unsigned port, k;
	double shown;
	const char *p;
	ssize_t got;
	int errfd, rfd, status;
	pid_t pid;

	tu_tmpdir_make(dir, sizeof(dir), "accesslog");
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert(mkfifo(path, 0600) == 0);
	rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert(rfd >= 0);
	pid = spawn(modes[_i], args, NULL, -1, &port, &errfd);
	ck_assert(tu_connect(&c, port) == 0);
	for (k = 0; k < REQS; k++)
		ask(&c, "GET", "/healthz", NULL, 200);
	tu_close(&c);
	tu_get(port, "GET", "/metrics", &r);
	shown = tu_metric(r.body, "avatar_api_access_log_dropped_total");
	tu_response_free(&r);
	ck_assert_msg(shown > 0, "dropped: %f", shown);
	/* Stop, and read everything the server still writes. */
	ck_assert(kill(pid, SIGTERM) == 0);
	ck_assert(fcntl(rfd, F_SETFL, 0) == 0);
	while ((got = read(rfd, buf, sizeof(buf))) > 0)
		for (k = 0; k < (unsigned)got; k++)
			lines += buf[k] == '\n';
	close(rfd);
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	err[0] = '\0';
	(void)tu_read_until(errfd, err, sizeof(err), NULL, 5000);
	close(errfd);
	for (p = err; (p = strstr(p, "access log: ")) != NULL; p++)
		dropped += strtoul(p + 12, NULL, 10);
	ck_assert_msg(dropped >= (unsigned long)shown, "%s", err);
	ck_assert_msg(lines + dropped == REQS + 1, "%lu written, %lu dropped: "
	              "%s", lines, dropped, err);
	tu_tmpdir_remove(dir);
}
END_TEST

/* /readyz's 503 is logged with the bytes of its body (it was 0): in
 * relay mode, with the upstream on a closed port, a relayed request
 * fails to connect and /readyz then says "upstream unreachable". */
START_TEST(test_accesslog_not_ready)
{
	char path[4200], upstream[64];
	char *args[] = {(char *)"--access-log", path, (char *)"--upstream",
	                upstream, NULL};
	struct tu_conn c;
	unsigned port;
	size_t len;
	int errfd;
	pid_t pid;

	snprintf(upstream, sizeof(upstream), "http://127.0.0.1:%u/v1/avatar",
	         tu_free_port());
	tu_tmpdir_make(dir, sizeof(dir), "accesslog");
	snprintf(path, sizeof(path), "%s/access.log", dir);
	pid = spawn(modes[_i], args, NULL, -1, &port, &errfd);
	ck_assert(tu_connect(&c, port) == 0);
	(void)ask(&c, "GET", "/v1/user", NULL, 502);
	len = ask(&c, "GET", "/readyz", NULL, 503);
	tu_close(&c);
	tu_stop(pid, errfd);
	ck_assert_uint_gt(len, 0);
	assert_logged(path, "/readyz", 503, len);
	tu_tmpdir_remove(dir);
}
END_TEST

/* With --admin-port, /metrics on the main port is a 404, logged with
 * the bytes of its body (it was 0). */
START_TEST(test_accesslog_metrics_moved)
{
	char path[4200], admin[16];
	char *args[] = {(char *)"--access-log", path, (char *)"--admin-port",
	                admin, NULL};
	struct tu_conn c;
	unsigned port;
	size_t len;
	int errfd;
	pid_t pid;

	snprintf(admin, sizeof(admin), "%u", tu_free_port());
	tu_tmpdir_make(dir, sizeof(dir), "accesslog");
	snprintf(path, sizeof(path), "%s/access.log", dir);
	pid = spawn(modes[_i], args, NULL, -1, &port, &errfd);
	ck_assert(tu_connect(&c, port) == 0);
	len = ask(&c, "GET", "/metrics", NULL, 404);
	tu_close(&c);
	tu_stop(pid, errfd);
	ck_assert_uint_gt(len, 0);
	assert_logged(path, "/metrics", 404, len);
	tu_tmpdir_remove(dir);
}
END_TEST

/* Without --access-log: no line anywhere, no counter. */
START_TEST(test_accesslog_off)
{
	char *args[] = {NULL};
	struct tu_response r;
	unsigned port;
	int errfd;
	pid_t pid;

	pid = spawn(modes[_i], args, NULL, -1, &port, &errfd);
	tu_get(port, "GET", "/metrics", &r);
	ck_assert(tu_metric(r.body, "avatar_api_access_log_dropped_total") < 0);
	tu_response_free(&r);
	tu_stop(pid, errfd);
}
END_TEST

static Suite *
accesslog_suite(void)
{
	Suite *s = suite_create("accesslog");
	TCase *tc = tcase_create("accesslog");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_accesslog_text, 0, 2);
	tcase_add_loop_test(tc, test_accesslog_json, 0, 2);
	tcase_add_loop_test(tc, test_accesslog_sigterm_all_lines, 0, 2);
	tcase_add_loop_test(tc, test_accesslog_stdout, 0, 2);
	tcase_add_loop_test(tc, test_accesslog_not_ready, 0, 2);
	tcase_add_loop_test(tc, test_accesslog_metrics_moved, 0, 2);
	tcase_add_loop_test(tc, test_accesslog_dropped, 0, 2);
	tcase_add_loop_test(tc, test_accesslog_off, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(accesslog_suite());
}
