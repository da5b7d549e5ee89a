/* testutil.h -- helpers shared by the test suites: files, sockets, HTTP. */
#ifndef AVATAR_TESTUTIL_H
#define AVATAR_TESTUTIL_H

#include <stddef.h>
#include <pthread.h>

#include <check.h>
#include <sys/types.h>

/* The value of environment variable NAME; fails the test if unset. */
const char *tu_env(const char *name);

/* Read all of PATH into a new NUL-terminated buffer; fails the test on
 * error.  *LEN (may be NULL) receives the size. */
char *tu_read_file(const char *path, size_t *len);

/* The body the server answers to GET /v1/user for the test fixture
 * (users.body.json in $AVATAR_API_TEST_DATA), in a new buffer; *LEN
 * (may be NULL) receives its size. */
char *tu_expected_body(size_t *len);

/* A client connection to 127.0.0.1 with a read buffer, so that pipelined
 * responses can be read one at a time. */
struct tu_conn {
	int fd;
	size_t len;      /* bytes buffered in buf */
	char buf[65536];
};

/* One parsed HTTP response. */
struct tu_response {
	int status;
	char head[8192];   /* status line and headers, NUL-terminated */
	char *body;        /* Content-Length bytes, NUL-terminated; malloc'd */
	size_t body_len;
};

/* Connect to 127.0.0.1:PORT with 5 s send and receive timeouts.
 * Returns 0, or -1 with errno set. */
int tu_connect(struct tu_conn *c, unsigned port);

/* Close C. */
void tu_close(struct tu_conn *c);

/* Send all LEN bytes of BUF.  Returns 0 or -1. */
int tu_send(struct tu_conn *c, const char *buf, size_t len);

/* Send "METHOD PATH HTTP/1.1" with a Host header and EXTRA (more header
 * lines, each ending in \r\n, or NULL).  Returns 0 or -1. */
int tu_request(struct tu_conn *c, const char *method, const char *path,
               const char *extra);

/* Read one response.  HEAD is non-zero for a response to HEAD (no body
 * whatever Content-Length says).  Returns 0, or -1 if the connection
 * closed or failed before a whole response arrived.  Free with
 * tu_response_free. */
int tu_read_response(struct tu_conn *c, struct tu_response *r, int head);

/* Release R's body. */
void tu_response_free(struct tu_response *r);

/* Copy the value of header NAME (case-insensitive) of R into OUT.
 * Returns 1 if found, 0 if not, 2 if it appears more than once. */
int tu_header(const struct tu_response *r, const char *name, char *out,
              size_t size);

/* One request, METHOD PATH, on a new connection to 127.0.0.1:PORT; the
 * response goes to R (a HEAD response has no body).  Fails the test if
 * the connection or the answer fails.  Returns the milliseconds it took. */
long long tu_get(unsigned port, const char *method, const char *path,
                 struct tu_response *r);

/* Fail the test unless R has exactly one header NAME, with value WANT. */
void tu_assert_header(const struct tu_response *r, const char *name,
                      const char *want);

/* Non-zero if the peer has closed C: waits up to MS milliseconds for
 * end of file (any data read is kept in the buffer). */
int tu_closed(struct tu_conn *c, int ms);

/* Run PROG with ARGV (ARGV[0] included) and exactly the environment ENVP
 * (NULL-terminated "NAME=value" strings).  Standard output and error go
 * to OUT and ERR (each may be NULL, else at least SIZE bytes,
 * NUL-terminated).  Returns the exit status, or 128 + signal. */
int tu_run(const char *prog, char *const argv[], char *const envp[],
           char *out, char *err, size_t size);

/* Start PROG with ARGV (ARGV[0] included) and exactly the environment ENVP
 * (NULL-terminated).  Its standard error goes to a pipe whose read end
 * (close-on-exec) is stored in *ERRFD; standard input and output are
 * inherited.  In the child, before the exec: chdir to DIR unless it is
 * NULL; unless UID is -1, drop the supplementary groups and become group
 * and user UID (e.g. 65534, nobody); and ask for SIGKILL when the test
 * process dies, so that a failed test leaves no server behind.  If a step
 * fails, the child writes the reason on its stderr and exits 127.  Returns
 * the child's pid. */
pid_t tu_spawn(const char *prog, char *const argv[], char *const envp[],
               const char *dir, long uid, int *errfd);

/* Append what FD gives to BUF (SIZE bytes, NUL-terminated; its current
 * content is kept) until BUF contains WANT or, when WANT is NULL, until
 * end of file; wait at most MS milliseconds in all.  Returns 0, or -1 on
 * timeout, error, end of file before WANT, or a full buffer. */
int tu_read_until(int fd, char *buf, size_t size, const char *want, int ms);

/* A load client: one keep-alive connection sending GET PATH.  It stops
 * after REQUESTS requests or, when STOP is set, once *STOP is non-zero or
 * the server answers "Connection: close".  Responses equal to EXPECT
 * (EXPECT_LEN bytes, status 200), or to EXPECT2 if set, count as ok,
 * others as bad; a request that gets no response counts as lost. */
struct tu_load {
	unsigned port;
	const char *path;
	const char *expect;
	size_t expect_len;
	const char *expect2;  /* another accepted body, or NULL */
	size_t expect2_len;
	unsigned requests;
	volatile int *stop;
	unsigned ok, bad, lost, closed, refused;
};

/* Run the client described by ARG (a struct tu_load *): a pthread start
 * routine.  Returns NULL. */
void *tu_load_run(void *arg);

/* Start N load clients in threads T, each a copy of TEMPLATE in CL. */
void tu_load_start(pthread_t *t, struct tu_load *cl, size_t n,
                   const struct tu_load *template);

/* Wait for the N clients started by tu_load_start; their counts, added
 * up, go to SUM. */
void tu_load_join(pthread_t *t, struct tu_load *cl, size_t n,
                  struct tu_load *sum);

/* Write LEN bytes of DATA to PATH (replaced atomically through a
 * temporary file and rename); fails the test on error. */
void tu_write_file(const char *path, const char *data, size_t len);

/* Format a diagnostic into BUF (SIZE bytes), truncated to fit. */
void tu_say(char *buf, size_t size, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* Run every test of suite S with CK_ENV verbosity, free it, and return
 * the exit status for main: EXIT_SUCCESS if nothing failed. */
int tu_run_suite(Suite *s);

/* Start the real server in process on 127.0.0.1, port 0, in MODE with 2
 * threads, serving the bundled fixture; *PORT receives its port.  Fails
 * the test on error.  Stop it with server_stop. */
struct server *tu_server_start(int mode, unsigned *port);

/* Make a fresh scratch directory NAME.XXXXXX under $AVATAR_API_TMPDIR in
 * DIR (SIZE bytes), traversable by other users (mode 0711). */
void tu_tmpdir_make(char *dir, size_t size, const char *name);

/* Remove the scratch directory DIR and everything in it, then empty DIR.
 * Does nothing if DIR is empty. */
void tu_tmpdir_remove(char *dir);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
unsigned tu_free_port(void);

/* The value of the sample NAME (with its labels, as written) in a
 * Prometheus text BODY, or -1 if absent. */
double tu_metric(const char *body, const char *name);

/* The message of the log LINE of the server as it runs (log.h, text
 * format): what follows "TIME LEVEL: ", the time an RFC 3339 UTC one
 * with milliseconds ("2026-12-04T19:30:01.123Z").  NULL if LINE does
 * not start so. */
const char *tu_log_msg(const char *line, const char *level);

/* The message of the first line of BUF (lines of the log) at LEVEL
 * whose message starts with MSG, or NULL. */
const char *tu_log_find(const char *buf, const char *level,
                        const char *msg);

/* Whether the first line of BUF that contains WANT is a LEVEL line. */
int tu_log_has(const char *buf, const char *level, const char *want);

/* SIGTERM PID (a spawned server), wait for it to exit 0, and close
 * ERRFD, its stderr. */
void tu_stop(pid_t pid, int errfd);

#endif
