/* check_semantics.c -- issue 13's HTTP semantics on the built binary, local
 * mode, both threading modes: ETag, If-None-Match and If-Match, gzip,
 * Cache-Control, OPTIONS and 405's Allow, CORS, and that each of these
 * answers keeps the connection.
 *
 * Every exchange goes over a raw socket, so that the header set is exactly
 * what was sent.  ask() sends the request and, in the same write, a
 * pipelined GET /healthz: the /healthz answer must be the next response
 * on the connection, which proves that the first answer carried no body
 * bytes beyond its framing (a 304, a 204 or a HEAD answer: none) and that
 * the connection was kept open.  The server is started with flags (and,
 * where they are tested, environment variables), so the options are
 * tested too.  Issue 13's spec, local mode, is the contract: relay mode
 * is check_relay's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <check.h>
#include <zlib.h>

#include "testutil.h"

#define LOG_SIZE 16384
#define OUT_SIZE 16384
#define START_MS 10000        /* for the "Listening" line */
#define RELOAD_MS 10000       /* for a SIGHUP reload to be counted */
#define NO_TAG "\"0000000000000000-none\""  /* a tag nothing has */
#define ORIGIN_A "https://a.example"
#define ORIGIN_B "https://b.example"
#define ORIGIN_C "https://c.example"
#define EXPOSE "ETag, Location, Engine"
#define ALLOW "GET, HEAD, OPTIONS"

static const char *const modes[] = {"epoll", "thread-per-connection"};

/* The paths whose representations are compared: the list and a record. */
static const char *const data_paths[] = {"/v1/user", "/v1/user/3"};
#define NPATHS (sizeof(data_paths) / sizeof(data_paths[0]))

/* A running server: the built binary, spawned. */
struct srv {
	pid_t pid;
	int errfd;         /* its stderr */
	unsigned port;
	char log[LOG_SIZE];  /* its stderr so far */
};

/* One representation as a 200 gave it. */
struct rep {
	char etag[256];
	char clen[32];
	char *body;
	size_t len;
};

static char out[OUT_SIZE], err[OUT_SIZE];

/* ------------------------------------------------------------------
 * Servers
 * ------------------------------------------------------------------ */

/* Start the binary on a free port in MODE, serving DATA (the bundled
 * fixture if NULL), with the extra flags ARGS and exactly the environment
 * ENV (both NULL-terminated, may be NULL); wait for its "Listening"
 * line. */
static void
srv_start(struct srv *s, const char *mode, const char *data,
          const char *const *args, const char *const *env)
{
	char portstr[16];
	char *argv[48], *envp[16];
	int n = 0, e = 0;

	if (data == NULL)
		data = tu_env("AVATAR_API_FIXTURE");
	s->port = tu_free_port();
	snprintf(portstr, sizeof(portstr), "%u", s->port);
	argv[n++] = (char *)"avatar-api";
	argv[n++] = (char *)"--data";
	argv[n++] = (char *)data;
	argv[n++] = (char *)"--address";
	argv[n++] = (char *)"127.0.0.1";
	argv[n++] = (char *)"--port";
	argv[n++] = portstr;
	argv[n++] = (char *)"--mode";
	argv[n++] = (char *)mode;
	argv[n++] = (char *)"--threads";
	argv[n++] = (char *)"2";
	while (args != NULL && *args != NULL && n < 47)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	while (env != NULL && *env != NULL && e < 15)
		envp[e++] = (char *)*env++;
	envp[e] = NULL;
	s->log[0] = '\0';
	s->pid = tu_spawn(tu_env("AVATAR_API_BIN"), argv, envp, NULL, -1,
	                  &s->errfd);
	ck_assert_msg(tu_read_until(s->errfd, s->log, sizeof(s->log),
	                            "Listening on ", START_MS) == 0,
	              "%s: the server did not start: %s", mode, s->log);
}

/* SIGTERM S and check that it exits 0. */
static void
srv_stop(struct srv *s)
{
	tu_stop(s->pid, s->errfd);
}

/* Run the binary with ARGS (after argv[0]) and exactly ENV (both
 * NULL-terminated, may be NULL), to its exit; out and err get its output.
 * Returns its exit status. */
static int
run(const char *const *args, const char *const *env)
{
	char *argv[48], *envp[16];
	int n = 0, e = 0;

	argv[n++] = (char *)"avatar-api";
	while (args != NULL && *args != NULL && n < 47)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	envp[e++] = (char *)"PATH=/usr/bin:/bin";
	while (env != NULL && *env != NULL && e < 15)
		envp[e++] = (char *)*env++;
	envp[e] = NULL;
	return tu_run(tu_env("AVATAR_API_BIN"), argv, envp, out, err,
	              OUT_SIZE);
}

/* --check on the bundled fixture with the option FLAG VALUE (FLAG NULL:
 * none) and ENV: the exit status. */
static int
check_with(const char *flag, const char *value, const char *const *env)
{
	const char *args[] = {"--check", "--data", tu_env("AVATAR_API_FIXTURE"),
	                      flag, value, NULL};

	return run(args, env);
}

/* Fail unless the last run was a usage error naming NAME in its first
 * line, with nothing on standard output. */
static void
assert_usage_error(int code, const char *name)
{
	const char *nl = strchr(err, '\n');
	const char *at = strstr(err, name);

	ck_assert_msg(code == 64, "exit %d, not 64 (%s): %s", code, name, err);
	ck_assert_str_eq(out, "");
	ck_assert_msg(strncmp(err, "avatar-api: ", 12) == 0 && at != NULL &&
	              nl != NULL && at < nl,
	              "the message does not name %s: %s", name, err);
}

/* ------------------------------------------------------------------
 * Exchanges
 * ------------------------------------------------------------------ */

/* Read the body of R, Content-Length bytes, from C's buffer and socket. */
static void
read_body(struct tu_conn *c, struct tu_response *r)
{
	char v[32];
	size_t want, got = 0;

	ck_assert_msg(tu_header(r, "Content-Length", v, sizeof(v)) == 1,
	              "no single Content-Length in:\n%s", r->head);
	want = strtoul(v, NULL, 10);
	free(r->body);
	r->body = malloc(want + 1);
	ck_assert(r->body != NULL);
	while (got < want) {
		size_t take;

		if (c->len == 0) {
			ssize_t n;

			do
				n = recv(c->fd, c->buf, sizeof(c->buf), 0);
			while (n < 0 && errno == EINTR);
			ck_assert_msg(n > 0, "body cut short after %zu of %zu "
			              "bytes:\n%s", got, want, r->head);
			c->len = (size_t)n;
		}
		take = c->len < want - got ? c->len : want - got;
		memcpy(r->body + got, c->buf, take);
		memmove(c->buf, c->buf + take, c->len - take);
		c->len -= take;
		got += take;
	}
	r->body[want] = '\0';
	r->body_len = want;
}

/* Read the answer to METHOD PATH from C into R: its head, then its body
 * unless it is a HEAD answer, a 204 or a 304, which have none. */
static void
read_answer(struct tu_conn *c, const char *method, const char *path,
            struct tu_response *r)
{
	ck_assert_msg(tu_read_response(c, r, 1) == 0, "%s %s: no answer",
	              method, path);
	if (strcmp(method, "HEAD") != 0 && r->status != 204 &&
	    r->status != 304)
		read_body(c, r);
}

/* Send METHOD PATH with the header lines EXTRA (each ending in \r\n, or
 * NULL) on C and read the answer into R. */
static void
exchange(struct tu_conn *c, const char *method, const char *path,
         const char *extra, struct tu_response *r)
{
	ck_assert(tu_request(c, method, path, extra) == 0);
	read_answer(c, method, path, r);
}

/* The pipelined probe: GET /healthz must be the next answer on C. */
static void
probe(struct tu_conn *c, const char *after)
{
	struct tu_response p;

	ck_assert_msg(tu_read_response(c, &p, 1) == 0,
	              "no answer to the GET /healthz pipelined after %s: the "
	              "connection was closed", after);
	ck_assert_msg(strncmp(p.head, "HTTP/1.1 200 ", 13) == 0,
	              "after %s, the next answer is not GET /healthz's: a "
	              "body was sent where none was due?\n%s", after, p.head);
	read_body(c, &p);
	ck_assert_str_eq(p.body, "{\"status\":\"ok\"}");
	tu_response_free(&p);
}

/* METHOD PATH with EXTRA on a fresh connection to PORT, and GET /healthz
 * pipelined after it in the same write: R gets the first answer, and the
 * second must be /healthz's 200 (see the top of the file). */
static void
ask(unsigned port, const char *method, const char *path, const char *extra,
    struct tu_response *r)
{
	static const char next[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char req[16384], what[512];
	struct tu_conn c;
	int n;

	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	             "%s\r\n%s", method, path, extra != NULL ? extra : "", next);
	ck_assert(n > 0 && (size_t)n < sizeof(req));
	ck_assert_msg(tu_connect(&c, port) == 0, "connect: %s",
	              strerror(errno));
	ck_assert(tu_send(&c, req, (size_t)n) == 0);
	read_answer(&c, method, path, r);
	tu_say(what, sizeof(what), "%s %s (%d)", method, path, r->status);
	probe(&c, what);
	tu_close(&c);
}

/* Raw bytes REQ (LEN bytes) on a fresh connection: the one answer. */
static void
ask_raw(unsigned port, const char *req, size_t len, struct tu_response *r)
{
	struct tu_conn c;

	ck_assert(tu_connect(&c, port) == 0);
	ck_assert(tu_send(&c, req, len) == 0);
	ck_assert_msg(tu_read_response(&c, r, 0) == 0, "no answer to %s", req);
	tu_close(&c);
}

/* "NAME: VALUE\r\n" into BUF. */
static const char *
hdr(char *buf, size_t size, const char *name, const char *value)
{
	tu_say(buf, size, "%s: %s\r\n", name, value);
	return buf;
}

/* ------------------------------------------------------------------
 * Assertions on answers
 * ------------------------------------------------------------------ */

static void
assert_none(const struct tu_response *r, const char *name)
{
	char v[1024];

	ck_assert_msg(tu_header(r, name, v, sizeof(v)) == 0,
	              "unexpected header %s: %s in:\n%s", name, v, r->head);
}

/* Whether R has a header whose name starts with PREFIX (any case). */
static int
has_prefix(const struct tu_response *r, const char *prefix)
{
	const char *p = strstr(r->head, "\r\n");

	while (p != NULL && p[2] != '\r' && p[2] != '\0') {
		if (strncasecmp(p + 2, prefix, strlen(prefix)) == 0)
			return 1;
		p = strstr(p + 2, "\r\n");
	}
	return 0;
}

/* No Access-Control-* header at all. */
static void
assert_no_cors(const struct tu_response *r)
{
	ck_assert_msg(!has_prefix(r, "Access-Control-"),
	              "unexpected CORS headers in:\n%s", r->head);
}

/* The CORS headers of a data-route answer to a request from ORIGIN
 * (the value wanted in Access-Control-Allow-Origin). */
static void
assert_cors(const struct tu_response *r, const char *origin)
{
	tu_assert_header(r, "Access-Control-Allow-Origin", origin);
	tu_assert_header(r, "Access-Control-Expose-Headers", EXPOSE);
}

/* Split the list S into at most MAX trimmed members in M (each up to 63
 * bytes).  Returns how many. */
static size_t
members(const char *s, char m[][64], size_t max)
{
	size_t n = 0;

	while (*s != '\0' && n < max) {
		const char *end = strchr(s, ',');
		size_t len;

		if (end == NULL)
			end = s + strlen(s);
		while (*s == ' ' || *s == '\t')
			s++;
		len = (size_t)(end - s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len > 0) {
			if (len > 63)
				len = 63;
			memcpy(m[n], s, len);
			m[n++][len] = '\0';
		}
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Fail unless R has exactly one Vary field whose members are those of
 * WANT, in any order and case; WANT "" means no Vary at all. */
static void
assert_vary(const struct tu_response *r, const char *want)
{
	char v[1024], got[8][64], exp[8][64];
	size_t ng, ne, i, j;

	if (*want == '\0') {
		assert_none(r, "Vary");
		return;
	}
	ck_assert_msg(tu_header(r, "Vary", v, sizeof(v)) == 1,
	              "no single Vary (want %s) in:\n%s", want, r->head);
	ng = members(v, got, 8);
	ne = members(want, exp, 8);
	ck_assert_msg(ng == ne, "Vary: %s, want %s", v, want);
	for (i = 0; i < ne; i++) {
		for (j = 0; j < ng; j++)
			if (strcasecmp(exp[i], got[j]) == 0)
				break;
		ck_assert_msg(j < ng, "Vary: %s, want %s", v, want);
	}
}

/* Whether R's Vary lists TOKEN. */
static int
vary_has(const struct tu_response *r, const char *token)
{
	char v[1024], m[8][64];
	size_t n, i;

	if (tu_header(r, "Vary", v, sizeof(v)) != 1)
		return 0;
	n = members(v, m, 8);
	for (i = 0; i < n; i++)
		if (strcasecmp(m[i], token) == 0)
			return 1;
	return 0;
}

/* A quoted strong entity-tag (RFC 9110 8.8.3): '"' *etagc '"'. */
static void
assert_strong_tag(const char *t)
{
	size_t n = strlen(t), i;

	ck_assert_msg(n >= 3 && t[0] == '"' && t[n - 1] == '"',
	              "not a quoted strong entity-tag: %s", t);
	for (i = 1; i + 1 < n; i++) {
		unsigned char ch = (unsigned char)t[i];

		ck_assert_msg(ch == 0x21 || (ch >= 0x23 && ch != 0x7f),
		              "bad byte in entity-tag %s", t);
	}
}

/* A JSON error answer: STATUS, BODY exactly, Cache-Control: no-store. */
static void
assert_error(const struct tu_response *r, int status, const char *body)
{
	ck_assert_msg(r->status == status, "status %d, want %d:\n%s",
	              r->status, status, r->head);
	tu_assert_header(r, "Content-Type", "application/json");
	tu_assert_header(r, "Engine", "C/libmicrohttpd");
	tu_assert_header(r, "Cache-Control", "no-store");
	if (body != NULL)
		ck_assert_str_eq(r->body, body);
}

/* A 200 of a data route PATH: the headers every such 200 carries, GZ
 * saying whether it is the gzip form, with Cache-Control CC and Vary
 * VARY. */
static void
assert_200(const struct tu_response *r, const char *path, int gz,
           const char *cc, const char *vary)
{
	char v[256];

	ck_assert_msg(r->status == 200, "status %d, want 200:\n%s", r->status,
	              r->head);
	tu_assert_header(r, "Content-Type", "application/json");
	tu_assert_header(r, "Engine", "C/libmicrohttpd");
	tu_assert_header(r, "Location", path);
	tu_assert_header(r, "Cache-Control", cc);
	assert_vary(r, vary);
	ck_assert_msg(tu_header(r, "ETag", v, sizeof(v)) == 1,
	              "no single ETag in:\n%s", r->head);
	assert_strong_tag(v);
	if (gz)
		tu_assert_header(r, "Content-Encoding", "gzip");
	else
		assert_none(r, "Content-Encoding");
	assert_none(r, "Connection");
}

/* A 304 for the representation REP: no body (ask() checked it), ETag,
 * Cache-Control CC, Vary VARY, Engine; no Content-Type, Location or
 * Content-Encoding; Content-Length, if any, the 200's. */
static void
assert_304(const struct tu_response *r, const struct rep *rep,
           const char *cc, const char *vary)
{
	char v[64];

	ck_assert_msg(strncmp(r->head, "HTTP/1.1 304 ", 13) == 0,
	              "not a 304:\n%s", r->head);
	tu_assert_header(r, "ETag", rep->etag);
	tu_assert_header(r, "Cache-Control", cc);
	assert_vary(r, vary);
	tu_assert_header(r, "Engine", "C/libmicrohttpd");
	assert_none(r, "Content-Type");
	assert_none(r, "Location");
	assert_none(r, "Content-Encoding");
	assert_none(r, "Connection");
	if (tu_header(r, "Content-Length", v, sizeof(v)) != 0)
		tu_assert_header(r, "Content-Length", rep->clen);
}

/* A 204 answer to OPTIONS: Allow, Engine, no body (no Content-Length, or
 * 0), the connection kept. */
static void
assert_204(const struct tu_response *r)
{
	char v[64];

	ck_assert_msg(strncmp(r->head, "HTTP/1.1 204 ", 13) == 0,
	              "not a 204:\n%s", r->head);
	tu_assert_header(r, "Allow", ALLOW);
	tu_assert_header(r, "Engine", "C/libmicrohttpd");
	assert_none(r, "Connection");
	if (tu_header(r, "Content-Length", v, sizeof(v)) != 0)
		tu_assert_header(r, "Content-Length", "0");
}

/* Inflate the gzip member IN (LEN bytes, all of it: nothing may follow
 * the member) into a new buffer; *OUT_LEN receives its size. */
static char *
gunzip(const char *in, size_t len, size_t *out_len)
{
	z_stream z;
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	int rc;

	ck_assert(buf != NULL);
	ck_assert_msg(len >= 18 && (unsigned char)in[0] == 0x1f &&
	              (unsigned char)in[1] == 0x8b, "not a gzip member");
	memset(&z, 0, sizeof(z));
	ck_assert(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	do {
		if (z.total_out == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert(buf != NULL);
		}
		z.next_out = (Bytef *)buf + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		rc = inflate(&z, Z_NO_FLUSH);
	} while (rc == Z_OK);
	ck_assert_msg(rc == Z_STREAM_END, "inflate: %d (%s)", rc,
	              z.msg != NULL ? z.msg : "");
	ck_assert_msg(z.avail_in == 0, "%u bytes after the gzip member",
	              z.avail_in);
	*out_len = z.total_out;
	inflateEnd(&z);
	return buf;
}

/* GET PATH from PORT, the gzip form if GZ, with Cache-Control CC and Vary
 * VARY: its tag, length and body into REP.  The gzip form must inflate to
 * exactly IDENTITY (if not NULL, the identity form's REP). */
static void
fetch(unsigned port, const char *path, int gz, const char *cc,
      const char *vary, const struct rep *identity, struct rep *rep)
{
	struct tu_response r;

	ask(port, "GET", path, gz ? "Accept-Encoding: gzip\r\n" : NULL, &r);
	assert_200(&r, path, gz, cc, vary);
	tu_header(&r, "ETag", rep->etag, sizeof(rep->etag));
	tu_header(&r, "Content-Length", rep->clen, sizeof(rep->clen));
	rep->body = r.body;
	rep->len = r.body_len;
	if (gz && identity != NULL) {
		size_t n;
		char *plain = gunzip(rep->body, rep->len, &n);

		ck_assert_msg(n == identity->len &&
		              memcmp(plain, identity->body, n) == 0,
		              "%s: the gzip form does not inflate to the "
		              "identity body", path);
		free(plain);
	}
}

static void
rep_free(struct rep *rep)
{
	free(rep->body);
	rep->body = NULL;
}

/* The identity and gzip forms of every path of data_paths: ID[i], GZ[i]
 * (default Cache-Control and Vary). */
static void
fetch_all(unsigned port, struct rep *id, struct rep *gz)
{
	size_t i;

	for (i = 0; i < NPATHS; i++) {
		fetch(port, data_paths[i], 0, "no-cache", "Accept-Encoding", NULL,
		      &id[i]);
		fetch(port, data_paths[i], 1, "no-cache", "Accept-Encoding",
		      &id[i], &gz[i]);
	}
}

static void
free_all(struct rep *id, struct rep *gz)
{
	size_t i;

	for (i = 0; i < NPATHS; i++) {
		rep_free(&id[i]);
		rep_free(&gz[i]);
	}
}

/* ------------------------------------------------------------------
 * ETag
 * ------------------------------------------------------------------ */

/* GET and HEAD of the list and of records: one quoted strong tag, the
 * same for GET and HEAD, another for the gzip form; different bytes,
 * different tags. */
START_TEST(test_etag_get_and_head)
{
	static const char *const paths[] = {"/v1/user", "/v1/user/1",
	                                    "/v1/user/3"};
	struct rep id[3], gz[3];
	struct srv s;
	size_t i, j;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	for (i = 0; i < 3; i++) {
		struct tu_response r;
		const char *path = paths[i];

		fetch(s.port, path, 0, "no-cache", "Accept-Encoding", NULL, &id[i]);
		fetch(s.port, path, 1, "no-cache", "Accept-Encoding", &id[i],
		      &gz[i]);
		ck_assert_msg(strcmp(id[i].etag, gz[i].etag) != 0,
		              "%s: identity and gzip share the tag %s", path,
		              id[i].etag);
		ask(s.port, "HEAD", path, NULL, &r);
		assert_200(&r, path, 0, "no-cache", "Accept-Encoding");
		tu_assert_header(&r, "ETag", id[i].etag);
		tu_assert_header(&r, "Content-Length", id[i].clen);
		tu_response_free(&r);
		ask(s.port, "HEAD", path, "Accept-Encoding: gzip\r\n", &r);
		assert_200(&r, path, 1, "no-cache", "Accept-Encoding");
		tu_assert_header(&r, "ETag", gz[i].etag);
		tu_assert_header(&r, "Content-Length", gz[i].clen);
		tu_response_free(&r);
	}
	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++)
			ck_assert_msg(strcmp(id[i].etag, id[j].etag) != 0 &&
			              strcmp(gz[i].etag, gz[j].etag) != 0,
			              "%s and %s share a tag", paths[i], paths[j]);
	for (i = 0; i < 3; i++) {
		rep_free(&id[i]);
		rep_free(&gz[i]);
	}
	srv_stop(&s);
}
END_TEST

/* The tags are the same after a restart. */
START_TEST(test_etag_restart)
{
	struct rep id1[NPATHS], gz1[NPATHS], id2[NPATHS], gz2[NPATHS];
	struct srv s;
	size_t i;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	fetch_all(s.port, id1, gz1);
	srv_stop(&s);
	srv_start(&s, modes[_i], NULL, NULL, NULL);
	fetch_all(s.port, id2, gz2);
	srv_stop(&s);
	for (i = 0; i < NPATHS; i++) {
		ck_assert_str_eq(id1[i].etag, id2[i].etag);
		ck_assert_str_eq(gz1[i].etag, gz2[i].etag);
	}
	free_all(id1, gz1);
	free_all(id2, gz2);
}
END_TEST

/* Wait until S has counted OK good reloads, and no failed one. */
static void
wait_reloads(const struct srv *s, double ok)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct tu_response r;
		double got, failed;
		long ms;

		tu_get(s->port, "GET", "/metrics", &r);
		ck_assert_int_eq(r.status, 200);
		got = tu_metric(r.body, "avatar_api_reloads_total{result=\"ok\"}");
		failed = tu_metric(r.body,
		                   "avatar_api_reloads_total{result=\"failed\"}");
		tu_response_free(&r);
		ck_assert_msg(failed == 0, "a reload failed");
		if (got >= ok)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		     (t1.tv_nsec - t0.tv_nsec) / 1000000;
		ck_assert_msg(ms < RELOAD_MS, "no reload counted after %ld ms",
		              ms);
		usleep(20000);
	}
}

/* A copy of the bundled fixture in a scratch directory: its path into
 * DATA, the directory into DIR. */
static void
copy_fixture(char *dir, size_t dsize, char *data, size_t size)
{
	size_t len;
	char *fx = tu_read_file(tu_env("AVATAR_API_FIXTURE"), &len);

	tu_tmpdir_make(dir, dsize, "sem");
	tu_say(data, size, "%s/users.json", dir);
	tu_write_file(data, fx, len);
	free(fx);
}

/* SIGHUP with the file unchanged: the same tags. */
START_TEST(test_etag_reload_unchanged)
{
	struct rep id1[NPATHS], gz1[NPATHS], id2[NPATHS], gz2[NPATHS];
	char dir[4096], data[4200];
	struct srv s;
	size_t i;

	copy_fixture(dir, sizeof(dir), data, sizeof(data));
	srv_start(&s, modes[_i], data, NULL, NULL);
	fetch_all(s.port, id1, gz1);
	ck_assert(kill(s.pid, SIGHUP) == 0);
	wait_reloads(&s, 1);
	fetch_all(s.port, id2, gz2);
	for (i = 0; i < NPATHS; i++) {
		ck_assert_str_eq(id1[i].etag, id2[i].etag);
		ck_assert_str_eq(gz1[i].etag, gz2[i].etag);
	}
	srv_stop(&s);
	free_all(id1, gz1);
	free_all(id2, gz2);
	tu_tmpdir_remove(dir);
}
END_TEST

/* SIGHUP after one record (3) changed: its tags and the list's change,
 * another record's (1) do not; an If-None-Match with the old tag gets
 * the new body. */
START_TEST(test_etag_reload_changed)
{
	static const char *const paths[] = {"/v1/user", "/v1/user/3",
	                                    "/v1/user/1"};
	struct rep id1[3], gz1[3], id2[3], gz2[3];
	struct tu_response r;
	char dir[4096], data[4200], line[512];
	char *fx, *at;
	size_t len, i;
	struct srv s;

	copy_fixture(dir, sizeof(dir), data, sizeof(data));
	srv_start(&s, modes[_i], data, NULL, NULL);
	for (i = 0; i < 3; i++) {
		fetch(s.port, paths[i], 0, "no-cache", "Accept-Encoding", NULL,
		      &id1[i]);
		fetch(s.port, paths[i], 1, "no-cache", "Accept-Encoding", &id1[i],
		      &gz1[i]);
	}
	/* Record 3's name "AngelKuhlmanIV" becomes "AngelKuhlmanV". */
	fx = tu_read_file(data, &len);
	at = strstr(fx, "\"AngelKuhlmanIV\"");
	ck_assert_ptr_nonnull(at);
	memmove(at + 13, at + 14, len - (size_t)(at + 14 - fx) + 1);
	tu_write_file(data, fx, len - 1);
	free(fx);
	ck_assert(kill(s.pid, SIGHUP) == 0);
	wait_reloads(&s, 1);
	for (i = 0; i < 3; i++) {
		fetch(s.port, paths[i], 0, "no-cache", "Accept-Encoding", NULL,
		      &id2[i]);
		fetch(s.port, paths[i], 1, "no-cache", "Accept-Encoding", &id2[i],
		      &gz2[i]);
		ck_assert_str_ne(id2[i].etag, gz2[i].etag);
	}
	ck_assert_msg(strstr(id2[1].body, "\"AngelKuhlmanV\"") != NULL,
	              "record 3 not reloaded: %s", id2[1].body);
	for (i = 0; i < 2; i++) {
		ck_assert_msg(strcmp(id1[i].etag, id2[i].etag) != 0,
		              "%s: identity tag %s kept after a change", paths[i],
		              id1[i].etag);
		ck_assert_msg(strcmp(gz1[i].etag, gz2[i].etag) != 0,
		              "%s: gzip tag %s kept after a change", paths[i],
		              gz1[i].etag);
		/* The old tag no longer matches: the new body. */
		ask(s.port, "GET", paths[i],
		    hdr(line, sizeof(line), "If-None-Match", id1[i].etag), &r);
		assert_200(&r, paths[i], 0, "no-cache", "Accept-Encoding");
		ck_assert(r.body_len == id2[i].len &&
		          memcmp(r.body, id2[i].body, r.body_len) == 0);
		tu_response_free(&r);
	}
	ck_assert_str_eq(id1[2].etag, id2[2].etag);
	ck_assert_str_eq(gz1[2].etag, gz2[2].etag);
	srv_stop(&s);
	for (i = 0; i < 3; i++) {
		rep_free(&id1[i]);
		rep_free(&gz1[i]);
		rep_free(&id2[i]);
		rep_free(&gz2[i]);
	}
	tu_tmpdir_remove(dir);
}
END_TEST

/* ------------------------------------------------------------------
 * If-None-Match
 * ------------------------------------------------------------------ */

/* What an If-None-Match case expects. */
enum inm_want {
	W_304_ID,    /* 304 for the identity form */
	W_304_GZ,    /* 304 for the gzip form */
	W_200_ID,    /* 200, identity, full body */
	W_200_GZ     /* 200, gzip, full body */
};

/* The header lines of a case: @T@ stands for the identity tag (quotes
 * included), @G@ for the gzip tag, @B@ for the identity tag unquoted. */
static const struct {
	const char *name;
	enum inm_want want;
	const char *tmpl;
} inm_cases[] = {
	{"exact tag", W_304_ID, "If-None-Match: @T@\r\n"},
	{"weak form of the tag", W_304_ID, "If-None-Match: W/@T@\r\n"},
	{"tag in the middle of a list", W_304_ID,
	 "If-None-Match: " NO_TAG ", @T@, W/\"x\"\r\n"},
	{"tag last, no spaces", W_304_ID, "If-None-Match: " NO_TAG ",@T@\r\n"},
	{"star", W_304_ID, "If-None-Match: *\r\n"},
	{"another tag", W_200_ID, "If-None-Match: " NO_TAG "\r\n"},
	{"the gzip tag, identity asked", W_200_ID, "If-None-Match: @G@\r\n"},
	{"the identity tag, gzip asked", W_200_GZ,
	 "If-None-Match: @T@\r\nAccept-Encoding: gzip\r\n"},
	{"the gzip tag, gzip asked", W_304_GZ,
	 "If-None-Match: @G@\r\nAccept-Encoding: gzip\r\n"},
	{"star, gzip asked", W_304_GZ,
	 "Accept-Encoding: gzip\r\nIf-None-Match: *\r\n"},
	{"malformed: the tag unquoted", W_200_ID, "If-None-Match: @B@\r\n"},
	{"malformed: W/ and the tag unquoted", W_200_ID,
	 "If-None-Match: W/@B@\r\n"},
	{"two fields, the tag in the second", W_304_ID,
	 "If-None-Match: " NO_TAG "\r\nIf-None-Match: @T@\r\n"},
	{"two fields, the tag in the first", W_304_ID,
	 "If-None-Match: @T@\r\nIf-None-Match: " NO_TAG "\r\n"},
};

/* TMPL into BUF (SIZE bytes) with @T@, @G@ and @B@ replaced by ID's tag,
 * GZ's tag and ID's tag without its quotes. */
static const char *
fill_tags(char *buf, size_t size, const char *tmpl, const struct rep *id,
          const struct rep *gz)
{
	size_t o = 0;

	while (*tmpl != '\0') {
		const char *v = NULL;
		size_t n;

		if (strncmp(tmpl, "@T@", 3) == 0 || strncmp(tmpl, "@B@", 3) == 0)
			v = id->etag;
		else if (strncmp(tmpl, "@G@", 3) == 0)
			v = gz->etag;
		if (v == NULL) {
			ck_assert(o + 1 < size);
			buf[o++] = *tmpl++;
			continue;
		}
		n = strlen(v);
		if (tmpl[1] == 'B') {
			v++;
			n -= 2;
		}
		ck_assert(o + n < size);
		memcpy(buf + o, v, n);
		o += n;
		tmpl += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* Check R, the answer to a conditional request to PATH that expects WANT
 * against the representations ID and GZ. */
static void
assert_want(const struct tu_response *r, const char *path,
            enum inm_want want, const struct rep *id, const struct rep *gz,
            const char *name)
{
	const struct rep *rep = want == W_304_GZ || want == W_200_GZ ? gz : id;

	if (want == W_304_ID || want == W_304_GZ) {
		ck_assert_msg(r->status == 304, "%s %s: %d, want 304", path,
		              name, r->status);
		assert_304(r, rep, "no-cache", "Accept-Encoding");
		return;
	}
	ck_assert_msg(r->status == 200, "%s %s: %d, want 200", path, name,
	              r->status);
	assert_200(r, path, want == W_200_GZ, "no-cache", "Accept-Encoding");
	tu_assert_header(r, "ETag", rep->etag);
	ck_assert_msg(r->body_len == rep->len &&
	              memcmp(r->body, rep->body, rep->len) == 0,
	              "%s %s: not the full body", path, name);
}

/* Every If-None-Match case on the list and on a record, GET, and HEAD for
 * the exact tag. */
START_TEST(test_if_none_match)
{
	struct rep id[NPATHS], gz[NPATHS];
	struct srv s;
	size_t i, k;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	fetch_all(s.port, id, gz);
	for (i = 0; i < NPATHS; i++) {
		char extra[1024];
		struct tu_response r;

		for (k = 0; k < sizeof(inm_cases) / sizeof(inm_cases[0]); k++) {
			fill_tags(extra, sizeof(extra), inm_cases[k].tmpl, &id[i],
			          &gz[i]);
			ask(s.port, "GET", data_paths[i], extra, &r);
			assert_want(&r, data_paths[i], inm_cases[k].want, &id[i],
			            &gz[i], inm_cases[k].name);
			tu_response_free(&r);
		}
		/* HEAD: as GET, without the body. */
		ask(s.port, "HEAD", data_paths[i],
		    hdr(extra, sizeof(extra), "If-None-Match", id[i].etag), &r);
		assert_304(&r, &id[i], "no-cache", "Accept-Encoding");
		tu_response_free(&r);
		ask(s.port, "HEAD", data_paths[i], "If-None-Match: " NO_TAG "\r\n",
		    &r);
		assert_200(&r, data_paths[i], 0, "no-cache", "Accept-Encoding");
		tu_response_free(&r);
		/* If-Modified-Since is ignored: no Last-Modified is sent. */
		ask(s.port, "GET", data_paths[i],
		    "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n", &r);
		assert_want(&r, data_paths[i], W_200_ID, &id[i], &gz[i],
		            "If-Modified-Since");
		assert_none(&r, "Last-Modified");
		tu_response_free(&r);
	}
	free_all(id, gz);
	srv_stop(&s);
}
END_TEST

/* ------------------------------------------------------------------
 * If-Match
 * ------------------------------------------------------------------ */

enum im_want {
	M_200_ID,
	M_200_GZ,
	M_304_ID,
	M_412
};

static const struct {
	const char *name;
	enum im_want want;
	const char *tmpl;  /* as inm_cases' */
} im_cases[] = {
	{"matching", M_200_ID, "If-Match: @T@\r\n"},
	{"star", M_200_ID, "If-Match: *\r\n"},
	{"in a list", M_200_ID, "If-Match: " NO_TAG ", @T@\r\n"},
	{"two fields, the tag in the second", M_200_ID,
	 "If-Match: " NO_TAG "\r\nIf-Match: @T@\r\n"},
	{"not matching", M_412, "If-Match: " NO_TAG "\r\n"},
	{"weak: strong comparison", M_412, "If-Match: W/@T@\r\n"},
	{"malformed: unquoted", M_412, "If-Match: @B@\r\n"},
	{"the gzip tag, identity asked", M_412, "If-Match: @G@\r\n"},
	{"the gzip tag, gzip asked", M_200_GZ,
	 "If-Match: @G@\r\nAccept-Encoding: gzip\r\n"},
	{"the identity tag, gzip asked", M_412,
	 "If-Match: @T@\r\nAccept-Encoding: gzip\r\n"},
	{"failing beside a matching If-None-Match", M_412,
	 "If-Match: " NO_TAG "\r\nIf-None-Match: @T@\r\n"},
	{"matching beside a matching If-None-Match", M_304_ID,
	 "If-None-Match: @T@\r\nIf-Match: @T@\r\n"},
	{"star beside If-None-Match star", M_304_ID,
	 "If-Match: *\r\nIf-None-Match: *\r\n"},
	{"matching, If-Unmodified-Since in the past is ignored", M_200_ID,
	 "If-Match: @T@\r\n"
	 "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"},
};

START_TEST(test_if_match)
{
	struct rep id[NPATHS], gz[NPATHS];
	struct srv s;
	size_t i, k;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	fetch_all(s.port, id, gz);
	for (i = 0; i < NPATHS; i++) {
		const char *path = data_paths[i];
		char extra[1024];
		struct tu_response r;

		for (k = 0; k < sizeof(im_cases) / sizeof(im_cases[0]); k++) {
			const char *name = im_cases[k].name;

			fill_tags(extra, sizeof(extra), im_cases[k].tmpl, &id[i],
			          &gz[i]);
			ask(s.port, "GET", path, extra, &r);
			switch (im_cases[k].want) {
			case M_200_ID:
				assert_want(&r, path, W_200_ID, &id[i], &gz[i], name);
				break;
			case M_200_GZ:
				assert_want(&r, path, W_200_GZ, &id[i], &gz[i], name);
				break;
			case M_304_ID:
				assert_want(&r, path, W_304_ID, &id[i], &gz[i], name);
				break;
			case M_412:
				ck_assert_msg(r.status == 412, "%s If-Match %s: %d, "
				              "want 412", path, name, r.status);
				assert_error(&r, 412,
				             "{\"error\":\"precondition failed\"}");
				assert_none(&r, "Connection");
				break;
			}
			tu_response_free(&r);
		}
		/* HEAD: the same answers, without a body. */
		ask(s.port, "HEAD", path, "If-Match: " NO_TAG "\r\n", &r);
		ck_assert_int_eq(r.status, 412);
		tu_assert_header(&r, "Cache-Control", "no-store");
		tu_response_free(&r);
		ask(s.port, "HEAD", path,
		    hdr(extra, sizeof(extra), "If-Match", id[i].etag), &r);
		assert_200(&r, path, 0, "no-cache", "Accept-Encoding");
		tu_response_free(&r);
	}
	free_all(id, gz);
	srv_stop(&s);
}
END_TEST

/* An unknown record is 404 whatever the preconditions (RFC 9110 13.2.1). */
START_TEST(test_conditional_unknown_record)
{
	static const char *const extras[] = {
		"If-Match: " NO_TAG "\r\n",
		"If-Match: *\r\n",
		"If-None-Match: *\r\n",
		"If-None-Match: " NO_TAG "\r\n",
		"If-Match: " NO_TAG "\r\nIf-None-Match: *\r\n",
	};
	struct tu_response r;
	struct srv s;
	size_t k;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	for (k = 0; k < sizeof(extras) / sizeof(extras[0]); k++) {
		ask(s.port, "GET", "/v1/user/nope", extras[k], &r);
		assert_error(&r, 404, "{\"error\":\"user not found\"}");
		tu_response_free(&r);
	}
	srv_stop(&s);
}
END_TEST

/* ------------------------------------------------------------------
 * gzip
 * ------------------------------------------------------------------ */

/* Accept-Encoding values and whether the gzip form is due. */
static const struct {
	const char *ae;    /* NULL: no Accept-Encoding field */
	int gz;
} ae_cases[] = {
	{NULL, 0},
	{"", 0},
	{"gzip", 1},
	{"x-gzip", 1},
	{"GZip", 1},
	{"gzip;q=0", 0},
	{"gzip;q=0.000", 0},
	{"*", 1},
	{"*;q=0", 0},
	{"br;q=1, *;q=0.1", 1},
	{"*, gzip;q=0", 0},
	{"*;q=0.5, gzip;q=0", 0},
	{"identity;q=1, gzip;q=0.5", 0},
	{"gzip;q=0.5, identity;q=0.6", 0},
	{"gzip;q=0.5, identity;q=0.5", 1},
	{"gzip, identity;q=0.9", 1},
	{"identity", 0},
	{"identity;q=0, gzip;q=0", 0},
	{"deflate, br", 0},
	{"gzip ; q=0.8 , br", 1},
	{"br,gzip", 1},
	{"gzip;q=0.001", 1},
	{"gzip;q=1", 1},
	{"gzip;q=1.000", 1},
	{"gzip;q=1.0001", 0},    /* malformed: four decimals */
	{"gzip;q=2", 0},         /* malformed */
	{"gzip;q=", 0},          /* malformed */
};

START_TEST(test_gzip)
{
	struct rep id[NPATHS], gz[NPATHS];
	char *expected;
	size_t expected_len, i, k;
	struct srv s;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	/* fetch_all checks the headers and that the gzip form's Content-Length
	 * bytes are one whole gzip member, nothing after it, that inflates to
	 * exactly the identity body: Content-Length is the compressed size. */
	fetch_all(s.port, id, gz);
	expected = tu_expected_body(&expected_len);
	ck_assert(id[0].len == expected_len &&
	          memcmp(id[0].body, expected, expected_len) == 0);
	free(expected);
	ck_assert_msg(gz[0].len < id[0].len, "the list's gzip form is %zu "
	              "bytes, the identity %zu", gz[0].len, id[0].len);
	for (i = 0; i < NPATHS; i++) {
		for (k = 0; k < sizeof(ae_cases) / sizeof(ae_cases[0]); k++) {
			char extra[256];
			struct tu_response r;
			const struct rep *rep = ae_cases[k].gz ? &gz[i] : &id[i];

			if (ae_cases[k].ae != NULL)
				hdr(extra, sizeof(extra), "Accept-Encoding",
				    ae_cases[k].ae);
			ask(s.port, "GET", data_paths[i],
			    ae_cases[k].ae != NULL ? extra : NULL, &r);
			ck_assert_msg(r.status == 200, "Accept-Encoding: %s: %d",
			              ae_cases[k].ae, r.status);
			if (ae_cases[k].gz != (tu_header(&r, "Content-Encoding",
			                                 extra, sizeof(extra)) == 1))
				ck_abort_msg("%s, Accept-Encoding: %s: the %s form "
				             "is due, got:\n%s", data_paths[i],
				             ae_cases[k].ae != NULL ? ae_cases[k].ae
				                                    : "(none)",
				             ae_cases[k].gz ? "gzip" : "identity",
				             r.head);
			assert_200(&r, data_paths[i], ae_cases[k].gz, "no-cache",
			           "Accept-Encoding");
			tu_assert_header(&r, "ETag", rep->etag);
			ck_assert(r.body_len == rep->len &&
			          memcmp(r.body, rep->body, rep->len) == 0);
			tu_response_free(&r);
		}
	}
	free_all(id, gz);
	srv_stop(&s);
}
END_TEST

/* --compression off (and AVATAR_API_COMPRESSION=off): identity whatever
 * is asked, no Vary; the identity tag as with compression on. */
START_TEST(test_compression_off)
{
	static const char *const by_flag[] = {"--compression", "off", NULL};
	static const char *const by_env[] = {"AVATAR_API_COMPRESSION=off", NULL};
	struct rep id[NPATHS], gz[NPATHS];
	struct srv s;
	size_t i, way;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	fetch_all(s.port, id, gz);
	srv_stop(&s);
	for (way = 0; way < 2; way++) {
		srv_start(&s, modes[_i], NULL, way == 0 ? by_flag : NULL,
		          way == 0 ? NULL : by_env);
		for (i = 0; i < NPATHS; i++) {
			static const char *const aes[] = {
				NULL, "Accept-Encoding: gzip\r\n",
				"Accept-Encoding: *\r\n"};
			char extra[512];
			struct tu_response r;
			size_t k;

			for (k = 0; k < 3; k++) {
				ask(s.port, "GET", data_paths[i], aes[k], &r);
				assert_200(&r, data_paths[i], 0, "no-cache", "");
				tu_assert_header(&r, "ETag", id[i].etag);
				ck_assert(r.body_len == id[i].len &&
				          memcmp(r.body, id[i].body, id[i].len) == 0);
				tu_response_free(&r);
			}
			tu_say(extra, sizeof(extra), "If-None-Match: %s\r\n"
			       "Accept-Encoding: gzip\r\n", id[i].etag);
			ask(s.port, "GET", data_paths[i], extra, &r);
			assert_304(&r, &id[i], "no-cache", "");
			tu_response_free(&r);
		}
		srv_stop(&s);
	}
	free_all(id, gz);
}
END_TEST

/* --compression on, given, is the default; a bad value is a usage error,
 * by flag and by variable. */
START_TEST(test_compression_option)
{
	const char *bad_env[] = {"AVATAR_API_COMPRESSION=maybe", NULL};
	const char *good_env[] = {"AVATAR_API_COMPRESSION=on", NULL};

	ck_assert_msg(check_with("--compression", "on", NULL) == 0, "%s", err);
	ck_assert_msg(check_with("--compression", "off", NULL) == 0, "%s", err);
	ck_assert_msg(check_with(NULL, NULL, good_env) == 0, "%s", err);
	assert_usage_error(check_with("--compression", "maybe", NULL),
	                   "--compression");
	assert_usage_error(check_with("--compression", "", NULL),
	                   "--compression");
	assert_usage_error(check_with(NULL, NULL, bad_env),
	                   "AVATAR_API_COMPRESSION");
}
END_TEST

/* ------------------------------------------------------------------
 * Cache-Control
 * ------------------------------------------------------------------ */

/* The default no-cache on the data routes' 200 and 304; no-store on
 * everything else: probes, metrics, 404, 405, 412 and the framing
 * check's own answers. */
START_TEST(test_cache_control_default)
{
	static const char *const no_store[][3] = {
		/* method, path, extra */
		{"GET", "/healthz", NULL},
		{"GET", "/readyz", NULL},
		{"GET", "/metrics", NULL},
		{"HEAD", "/healthz", NULL},
		{"GET", "/nope", NULL},
		{"GET", "/v1/user/nope", NULL},
		{"DELETE", "/v1/user", NULL},
		{"POST", "/v1/user/3", "Content-Length: 0\r\n"},
		{"GET", "/v1/user", "If-Match: " NO_TAG "\r\n"},
	};
	/* The framing check's answers (guard.c): 400, 501 and 505. */
	static const char *const framing[] = {
		"POST /v1/user HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST /v1/user HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
		"\r\n",
		"GET /v1/user HTTP/2.0\r\nHost: x\r\n\r\n",
	};
	static const int framing_status[] = {400, 501, 505};
	struct rep id[NPATHS], gz[NPATHS];
	struct tu_response r;
	struct srv s;
	size_t k;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	/* fetch_all: no-cache on each 200. */
	fetch_all(s.port, id, gz);
	for (k = 0; k < NPATHS; k++) {
		char extra[512];

		ask(s.port, "GET", data_paths[k],
		    hdr(extra, sizeof(extra), "If-None-Match", id[k].etag), &r);
		assert_304(&r, &id[k], "no-cache", "Accept-Encoding");
		tu_response_free(&r);
	}
	for (k = 0; k < sizeof(no_store) / sizeof(no_store[0]); k++) {
		ask(s.port, no_store[k][0], no_store[k][1], no_store[k][2], &r);
		ck_assert_msg(tu_header(&r, "Cache-Control", out, sizeof(out)) == 1
		              && strcmp(out, "no-store") == 0,
		              "%s %s: not Cache-Control: no-store:\n%s",
		              no_store[k][0], no_store[k][1], r.head);
		tu_response_free(&r);
	}
	for (k = 0; k < sizeof(framing) / sizeof(framing[0]); k++) {
		ask_raw(s.port, framing[k], strlen(framing[k]), &r);
		ck_assert_int_eq(r.status, framing_status[k]);
		assert_error(&r, framing_status[k], NULL);
		tu_response_free(&r);
	}
	free_all(id, gz);
	srv_stop(&s);
}
END_TEST

/* --cache-control VALUE (and AVATAR_API_CACHE_CONTROL) on the data
 * routes' 200 and 304; error answers keep no-store. */
START_TEST(test_cache_control_option)
{
	static const char *const by_flag[] = {"--cache-control",
	                                      "max-age=60, public", NULL};
	static const char *const by_env[] = {
		"AVATAR_API_CACHE_CONTROL=private, max-age=5", NULL};
	static const char *const want[] = {"max-age=60, public",
	                                   "private, max-age=5"};
	size_t way;

	for (way = 0; way < 2; way++) {
		struct srv s;
		size_t i;

		srv_start(&s, modes[_i], NULL, way == 0 ? by_flag : NULL,
		          way == 0 ? NULL : by_env);
		for (i = 0; i < NPATHS; i++) {
			struct rep id, gz;
			struct tu_response r;
			char extra[512];

			fetch(s.port, data_paths[i], 0, want[way], "Accept-Encoding",
			      NULL, &id);
			fetch(s.port, data_paths[i], 1, want[way], "Accept-Encoding",
			      &id, &gz);
			ask(s.port, "GET", data_paths[i],
			    hdr(extra, sizeof(extra), "If-None-Match", gz.etag), &r);
			ck_assert_int_eq(r.status, 200);
			tu_response_free(&r);
			tu_say(extra, sizeof(extra), "If-None-Match: %s\r\n"
			       "Accept-Encoding: gzip\r\n", gz.etag);
			ask(s.port, "GET", data_paths[i], extra, &r);
			assert_304(&r, &gz, want[way], "Accept-Encoding");
			tu_response_free(&r);
			ask(s.port, "HEAD", data_paths[i], NULL, &r);
			assert_200(&r, data_paths[i], 0, want[way], "Accept-Encoding");
			tu_response_free(&r);
			rep_free(&id);
			rep_free(&gz);
		}
		{
			struct tu_response r;

			ask(s.port, "GET", "/v1/user/nope", NULL, &r);
			assert_error(&r, 404, NULL);
			tu_response_free(&r);
			ask(s.port, "GET", "/v1/user", "If-Match: " NO_TAG "\r\n",
			    &r);
			assert_error(&r, 412, NULL);
			tu_response_free(&r);
			ask(s.port, "GET", "/healthz", NULL, &r);
			tu_assert_header(&r, "Cache-Control", "no-store");
			tu_response_free(&r);
		}
		srv_stop(&s);
	}
}
END_TEST

/* Bad --cache-control values: each a usage error, after a good value
 * was taken (so that the flag itself is known). */
static const char *const bad_cache_controls[] = {
	"",
	" ",
	" no-cache",
	"no-cache ",
	"no-cache\x01",
	"max-age=1\tpublic",
	"no-cache\r\nX-Injected: 1",
	"no-\x7f" "cache",
	"caf\xc3\xa9",
	NULL,  /* 257 bytes: filled in by the test */
};

START_TEST(test_cache_control_bad)
{
	char big[300];
	const char *value = bad_cache_controls[_i];

	memset(big, 'a', 256);
	big[256] = '\0';
	/* 256 bytes: the longest value taken. */
	ck_assert_msg(check_with("--cache-control", big, NULL) == 0,
	              "a 256-byte --cache-control refused: %s", err);
	ck_assert_msg(check_with("--cache-control", "public, max-age=600",
	                         NULL) == 0, "%s", err);
	if (value == NULL) {
		big[256] = 'a';
		big[257] = '\0';
		value = big;
	}
	assert_usage_error(check_with("--cache-control", value, NULL),
	                   "--cache-control");
	if (*value != '\0') {
		/* An empty variable counts as unset: not tried. */
		char env[400];
		const char *envs[] = {env, NULL};

		tu_say(env, sizeof(env), "AVATAR_API_CACHE_CONTROL=%s", value);
		assert_usage_error(check_with(NULL, NULL, envs),
		                   "AVATAR_API_CACHE_CONTROL");
	}
}
END_TEST

/* ------------------------------------------------------------------
 * OPTIONS and 405
 * ------------------------------------------------------------------ */

START_TEST(test_options)
{
	static const char *const known[] = {
		"/v1/user", "/v1/user/3", "/v1/user/nope", "/healthz", "/readyz",
		"/metrics",
	};
	static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH"};
	static const char *const paths405[] = {"/v1/user", "/v1/user/3",
	                                       "/healthz"};
	struct tu_response r;
	struct srv s;
	size_t i, j;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		ask(s.port, "OPTIONS", known[i], NULL, &r);
		ck_assert_msg(r.status == 204, "OPTIONS %s: %d", known[i],
		              r.status);
		assert_204(&r);
		tu_response_free(&r);
	}
	ask(s.port, "OPTIONS", "/nope", NULL, &r);
	assert_error(&r, 404, "{\"error\":\"not found\"}");
	tu_response_free(&r);
	ask(s.port, "OPTIONS", "/v1/user/3/x", NULL, &r);
	assert_error(&r, 404, "{\"error\":\"not found\"}");
	tu_response_free(&r);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		for (j = 0; j < sizeof(paths405) / sizeof(paths405[0]); j++) {
			ask(s.port, methods[i], paths405[j], "Content-Length: 0\r\n",
			    &r);
			assert_error(&r, 405, "{\"error\":\"method not allowed\"}");
			tu_assert_header(&r, "Allow", ALLOW);
			assert_none(&r, "Connection");
			tu_response_free(&r);
		}
	}
	srv_stop(&s);
}
END_TEST

/* ------------------------------------------------------------------
 * CORS
 * ------------------------------------------------------------------ */

/* Off by default: no Access-Control-* anywhere, no Vary: Origin. */
START_TEST(test_cors_off)
{
	struct tu_response r;
	struct srv s;
	size_t i;

	srv_start(&s, modes[_i], NULL, NULL, NULL);
	for (i = 0; i < NPATHS; i++) {
		ask(s.port, "GET", data_paths[i], "Origin: " ORIGIN_A "\r\n", &r);
		assert_200(&r, data_paths[i], 0, "no-cache", "Accept-Encoding");
		assert_no_cors(&r);
		tu_response_free(&r);
		ask(s.port, "OPTIONS", data_paths[i], "Origin: " ORIGIN_A "\r\n"
		    "Access-Control-Request-Method: GET\r\n", &r);
		assert_204(&r);
		assert_no_cors(&r);
		ck_assert(!vary_has(&r, "Origin"));
		tu_response_free(&r);
	}
	srv_stop(&s);
}
END_TEST

/* The answers of a server with explicit origins A and B, with gzip if
 * COMP (VARY its Vary on a data route's 200 and 304). */
static void
check_cors_explicit(unsigned port, int comp, const char *vary)
{
	struct rep id;
	struct tu_response r;
	char extra[1024];
	size_t i;

	for (i = 0; i < NPATHS; i++) {
		const char *path = data_paths[i];

		fetch(port, path, 0, "no-cache", vary, NULL, &id);
		/* A and B: allowed, each with its own origin. */
		ask(port, "GET", path, "Origin: " ORIGIN_A "\r\n", &r);
		assert_200(&r, path, 0, "no-cache", vary);
		assert_cors(&r, ORIGIN_A);
		tu_response_free(&r);
		ask(port, "HEAD", path, "Origin: " ORIGIN_B "\r\n"
		    "Accept-Encoding: gzip\r\n", &r);
		assert_200(&r, path, comp, "no-cache", vary);
		assert_cors(&r, ORIGIN_B);
		tu_response_free(&r);
		/* C, A in another case, A with a slash, two Origin fields, no
		 * Origin: none, but Vary: Origin all the same. */
		ask(port, "GET", path, "Origin: " ORIGIN_C "\r\n", &r);
		assert_200(&r, path, 0, "no-cache", vary);
		assert_no_cors(&r);
		tu_response_free(&r);
		ask(port, "GET", path, "Origin: https://A.example\r\n", &r);
		assert_200(&r, path, 0, "no-cache", vary);
		assert_no_cors(&r);
		tu_response_free(&r);
		ask(port, "GET", path, "Origin: " ORIGIN_A "/\r\n", &r);
		assert_no_cors(&r);
		tu_response_free(&r);
		ask(port, "GET", path, "Origin: " ORIGIN_A "\r\nOrigin: " ORIGIN_A
		    "\r\n", &r);
		assert_200(&r, path, 0, "no-cache", vary);
		assert_no_cors(&r);
		tu_response_free(&r);
		ask(port, "GET", path, NULL, &r);
		assert_200(&r, path, 0, "no-cache", vary);
		assert_no_cors(&r);
		tu_response_free(&r);
		/* 304 and 412 from A: allowed. */
		tu_say(extra, sizeof(extra), "Origin: " ORIGIN_A "\r\n"
		       "If-None-Match: %s\r\n", id.etag);
		ask(port, "GET", path, extra, &r);
		assert_304(&r, &id, "no-cache", vary);
		assert_cors(&r, ORIGIN_A);
		tu_response_free(&r);
		tu_say(extra, sizeof(extra), "If-None-Match: %s\r\n", id.etag);
		ask(port, "GET", path, extra, &r);
		assert_304(&r, &id, "no-cache", vary);
		assert_no_cors(&r);
		tu_response_free(&r);
		ask(port, "GET", path, "Origin: " ORIGIN_A "\r\n"
		    "If-Match: " NO_TAG "\r\n", &r);
		assert_error(&r, 412, "{\"error\":\"precondition failed\"}");
		assert_cors(&r, ORIGIN_A);
		assert_none(&r, "Connection");
		tu_response_free(&r);
		/* 405 from A: allowed. */
		ask(port, "DELETE", path, "Origin: " ORIGIN_A "\r\n", &r);
		assert_error(&r, 405, NULL);
		assert_cors(&r, ORIGIN_A);
		tu_response_free(&r);
		/* Preflight from A; from C, the plain 204. */
		ask(port, "OPTIONS", path, "Origin: " ORIGIN_A "\r\n"
		    "Access-Control-Request-Method: GET\r\n"
		    "Access-Control-Request-Headers: if-none-match\r\n", &r);
		assert_204(&r);
		tu_assert_header(&r, "Access-Control-Allow-Origin", ORIGIN_A);
		tu_assert_header(&r, "Access-Control-Allow-Methods", ALLOW);
		tu_assert_header(&r, "Access-Control-Allow-Headers",
		                 "If-Match, If-None-Match, X-Request-Id, "
		                 "traceparent");
		tu_assert_header(&r, "Access-Control-Max-Age", "600");
		ck_assert_msg(vary_has(&r, "Origin"), "no Vary: Origin:\n%s",
		              r.head);
		tu_response_free(&r);
		ask(port, "OPTIONS", path, "Origin: " ORIGIN_C "\r\n"
		    "Access-Control-Request-Method: GET\r\n", &r);
		assert_204(&r);
		assert_no_cors(&r);
		tu_response_free(&r);
		rep_free(&id);
	}
	/* The unknown record's 404 from A: allowed; an OPTIONS on it is a
	 * preflight like any record's. */
	ask(port, "GET", "/v1/user/nope", "Origin: " ORIGIN_A "\r\n", &r);
	assert_error(&r, 404, "{\"error\":\"user not found\"}");
	assert_cors(&r, ORIGIN_A);
	assert_none(&r, "Connection");
	tu_response_free(&r);
	ask(port, "OPTIONS", "/v1/user/nope", "Origin: " ORIGIN_B "\r\n"
	    "Access-Control-Request-Method: GET\r\n", &r);
	assert_204(&r);
	tu_assert_header(&r, "Access-Control-Allow-Origin", ORIGIN_B);
	tu_response_free(&r);
	/* Never on /healthz, /readyz, /metrics, nor on an unknown path. */
	for (i = 0; i < 4; i++) {
		static const char *const others[] = {"/healthz", "/readyz",
		                                     "/metrics", "/nope"};

		ask(port, "GET", others[i], "Origin: " ORIGIN_A "\r\n", &r);
		assert_no_cors(&r);
		tu_response_free(&r);
		ask(port, "OPTIONS", others[i], "Origin: " ORIGIN_A "\r\n"
		    "Access-Control-Request-Method: GET\r\n", &r);
		assert_no_cors(&r);
		tu_response_free(&r);
	}
}

START_TEST(test_cors_flags)
{
	static const char *const args[] = {"--cors-origin", ORIGIN_A,
	                                   "--cors-origin", ORIGIN_B, NULL};
	struct srv s;

	srv_start(&s, modes[_i], NULL, args, NULL);
	check_cors_explicit(s.port, 1, "Accept-Encoding, Origin");
	srv_stop(&s);
}
END_TEST

START_TEST(test_cors_env)
{
	static const char *const env[] = {
		"AVATAR_API_CORS_ORIGIN=" ORIGIN_A "," ORIGIN_B, NULL};
	struct srv s;

	srv_start(&s, modes[_i], NULL, NULL, env);
	check_cors_explicit(s.port, 1, "Accept-Encoding, Origin");
	srv_stop(&s);
}
END_TEST

/* With compression off, Vary is Origin alone. */
START_TEST(test_cors_compression_off)
{
	static const char *const args[] = {"--cors-origin", ORIGIN_A,
	                                   "--cors-origin", ORIGIN_B,
	                                   "--compression", "off", NULL};
	struct srv s;

	srv_start(&s, modes[_i], NULL, args, NULL);
	check_cors_explicit(s.port, 0, "Origin");
	srv_stop(&s);
}
END_TEST

/* '*': any Origin gets "*", and Vary does not list Origin; '*' wins over
 * explicit origins given beside it. */
START_TEST(test_cors_star)
{
	static const char *const star[] = {"--cors-origin", "*", NULL};
	static const char *const mixed[] = {"--cors-origin", ORIGIN_A,
	                                    "--cors-origin", "*", NULL};
	size_t way;

	for (way = 0; way < 2; way++) {
		struct tu_response r;
		struct rep id;
		char extra[512];
		struct srv s;
		size_t i;

		srv_start(&s, modes[_i], NULL, way == 0 ? star : mixed, NULL);
		for (i = 0; i < NPATHS; i++) {
			const char *path = data_paths[i];

			fetch(s.port, path, 0, "no-cache", "Accept-Encoding", NULL,
			      &id);
			ask(s.port, "GET", path, "Origin: " ORIGIN_C "\r\n", &r);
			assert_200(&r, path, 0, "no-cache", "Accept-Encoding");
			assert_cors(&r, "*");
			tu_response_free(&r);
			ask(s.port, "GET", path, "Origin: " ORIGIN_A "\r\n", &r);
			assert_200(&r, path, 0, "no-cache", "Accept-Encoding");
			assert_cors(&r, "*");
			tu_response_free(&r);
			ask(s.port, "GET", path, NULL, &r);
			assert_200(&r, path, 0, "no-cache", "Accept-Encoding");
			assert_no_cors(&r);
			tu_response_free(&r);
			tu_say(extra, sizeof(extra), "Origin: " ORIGIN_C "\r\n"
			       "If-None-Match: %s\r\n", id.etag);
			ask(s.port, "GET", path, extra, &r);
			assert_304(&r, &id, "no-cache", "Accept-Encoding");
			assert_cors(&r, "*");
			tu_response_free(&r);
			ask(s.port, "OPTIONS", path, "Origin: " ORIGIN_C "\r\n"
			    "Access-Control-Request-Method: GET\r\n", &r);
			assert_204(&r);
			tu_assert_header(&r, "Access-Control-Allow-Origin", "*");
			tu_assert_header(&r, "Access-Control-Allow-Methods", ALLOW);
			tu_assert_header(&r, "Access-Control-Max-Age", "600");
			ck_assert(!vary_has(&r, "Origin"));
			tu_response_free(&r);
			rep_free(&id);
		}
		ask(s.port, "GET", "/healthz", "Origin: " ORIGIN_C "\r\n", &r);
		assert_no_cors(&r);
		tu_response_free(&r);
		srv_stop(&s);
	}
}
END_TEST

/* Origins refused at start-up: each a usage error, after good ones were
 * taken (so that the flag itself is known). */
static const char *const bad_origins[] = {
	"https://a.example/",
	"ftp://x",
	"HTTPS://A.EXAMPLE",
	"https://A.example",
	"https://a.example/path",
	"a.example",
	"https://",
	"",
	"https://a.example?x",
	"https://a.example, https://b.example",
	"**",
};

START_TEST(test_cors_bad_origin)
{
	const char *args[] = {"--check", "--data", tu_env("AVATAR_API_FIXTURE"),
	                      "--cors-origin", ORIGIN_A, "--cors-origin",
	                      "http://b.example:8080", "--cors-origin",
	                      bad_origins[_i], NULL};
	char env[512];
	const char *envs[] = {env, NULL};

	ck_assert_msg(check_with("--cors-origin", "*", NULL) == 0, "%s", err);
	args[7] = NULL;
	ck_assert_msg(run(args, NULL) == 0, "good origins refused: %s", err);
	args[7] = "--cors-origin";
	assert_usage_error(run(args, NULL), "--cors-origin");
	if (bad_origins[_i][0] != '\0' && strchr(bad_origins[_i], ',') == NULL) {
		tu_say(env, sizeof(env), "AVATAR_API_CORS_ORIGIN=" ORIGIN_A ",%s",
		       bad_origins[_i]);
		assert_usage_error(check_with(NULL, NULL, envs),
		                   "AVATAR_API_CORS_ORIGIN");
	}
}
END_TEST

/* At most 16 origins. */
START_TEST(test_cors_too_many)
{
	const char *args[3 + 2 * 17 + 1];
	char origins[17][64];
	int n = 0, i;

	args[n++] = "--check";
	args[n++] = "--data";
	args[n++] = tu_env("AVATAR_API_FIXTURE");
	for (i = 0; i < 17; i++) {
		tu_say(origins[i], sizeof(origins[i]), "https://o%d.example", i);
		args[n++] = "--cors-origin";
		args[n++] = origins[i];
	}
	args[n] = NULL;
	args[n - 2] = NULL;
	ck_assert_msg(run(args, NULL) == 0, "16 origins refused: %s", err);
	args[n - 2] = "--cors-origin";
	assert_usage_error(run(args, NULL), "--cors-origin");
}
END_TEST

/* ------------------------------------------------------------------
 * Keep-alive
 * ------------------------------------------------------------------ */

/* One connection through 200, 304, 204 (OPTIONS and preflight), 412,
 * 404, 405 and HEAD: none says Connection: close, and each next request
 * is answered. */
START_TEST(test_keepalive)
{
	static const char *const args[] = {"--cors-origin", ORIGIN_A, NULL};
	struct tu_response r;
	struct tu_conn c;
	struct rep id;
	char extra[512];
	struct srv s;
	int k;

	srv_start(&s, modes[_i], NULL, args, NULL);
	fetch(s.port, "/v1/user/3", 0, "no-cache", "Accept-Encoding, Origin",
	      NULL, &id);
	ck_assert(tu_connect(&c, s.port) == 0);
	for (k = 0; k < 2; k++) {
		exchange(&c, "GET", "/v1/user/3", "Accept-Encoding: gzip\r\n", &r);
		ck_assert_int_eq(r.status, 200);
		assert_none(&r, "Connection");
		tu_response_free(&r);
		exchange(&c, "GET", "/v1/user/3",
		         hdr(extra, sizeof(extra), "If-None-Match", id.etag), &r);
		ck_assert_int_eq(r.status, 304);
		assert_none(&r, "Connection");
		tu_response_free(&r);
		exchange(&c, "OPTIONS", "/v1/user", NULL, &r);
		ck_assert_int_eq(r.status, 204);
		assert_none(&r, "Connection");
		tu_response_free(&r);
		exchange(&c, "OPTIONS", "/v1/user/3", "Origin: " ORIGIN_A "\r\n"
		         "Access-Control-Request-Method: GET\r\n", &r);
		ck_assert_int_eq(r.status, 204);
		assert_none(&r, "Connection");
		tu_response_free(&r);
		exchange(&c, "GET", "/v1/user", "If-Match: " NO_TAG "\r\n", &r);
		ck_assert_int_eq(r.status, 412);
		assert_none(&r, "Connection");
		tu_response_free(&r);
		exchange(&c, "GET", "/v1/user/nope", NULL, &r);
		ck_assert_int_eq(r.status, 404);
		assert_none(&r, "Connection");
		tu_response_free(&r);
		exchange(&c, "DELETE", "/v1/user", NULL, &r);
		ck_assert_int_eq(r.status, 405);
		assert_none(&r, "Connection");
		tu_response_free(&r);
		exchange(&c, "HEAD", "/v1/user/3",
		         hdr(extra, sizeof(extra), "If-None-Match", id.etag), &r);
		ck_assert_int_eq(r.status, 304);
		assert_none(&r, "Connection");
		tu_response_free(&r);
	}
	exchange(&c, "GET", "/v1/user/3", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.body_len == id.len && memcmp(r.body, id.body, id.len) == 0);
	tu_response_free(&r);
	tu_close(&c);
	rep_free(&id);
	srv_stop(&s);
}
END_TEST

static Suite *
semantics_suite(void)
{
	Suite *s = suite_create("semantics");
	TCase *etag = tcase_create("etag");
	TCase *cond = tcase_create("conditional");
	TCase *gzip = tcase_create("gzip");
	TCase *cache = tcase_create("cache-control");
	TCase *options = tcase_create("options");
	TCase *cors = tcase_create("cors");

	tcase_set_timeout(etag, 60);
	tcase_add_loop_test(etag, test_etag_get_and_head, 0, 2);
	tcase_add_loop_test(etag, test_etag_restart, 0, 2);
	tcase_add_loop_test(etag, test_etag_reload_unchanged, 0, 2);
	tcase_add_loop_test(etag, test_etag_reload_changed, 0, 2);
	suite_add_tcase(s, etag);

	tcase_set_timeout(cond, 60);
	tcase_add_loop_test(cond, test_if_none_match, 0, 2);
	tcase_add_loop_test(cond, test_if_match, 0, 2);
	tcase_add_loop_test(cond, test_conditional_unknown_record, 0, 2);
	tcase_add_loop_test(cond, test_keepalive, 0, 2);
	suite_add_tcase(s, cond);

	tcase_set_timeout(gzip, 60);
	tcase_add_loop_test(gzip, test_gzip, 0, 2);
	tcase_add_loop_test(gzip, test_compression_off, 0, 2);
	tcase_add_test(gzip, test_compression_option);
	suite_add_tcase(s, gzip);

	tcase_set_timeout(cache, 60);
	tcase_add_loop_test(cache, test_cache_control_default, 0, 2);
	tcase_add_loop_test(cache, test_cache_control_option, 0, 2);
	tcase_add_loop_test(cache, test_cache_control_bad, 0,
	                    (int)(sizeof(bad_cache_controls) /
	                          sizeof(bad_cache_controls[0])));
	suite_add_tcase(s, cache);

	tcase_set_timeout(options, 60);
	tcase_add_loop_test(options, test_options, 0, 2);
	suite_add_tcase(s, options);

	tcase_set_timeout(cors, 60);
	tcase_add_loop_test(cors, test_cors_off, 0, 2);
	tcase_add_loop_test(cors, test_cors_flags, 0, 2);
	tcase_add_loop_test(cors, test_cors_env, 0, 2);
	tcase_add_loop_test(cors, test_cors_compression_off, 0, 2);
	tcase_add_loop_test(cors, test_cors_star, 0, 2);
	tcase_add_loop_test(cors, test_cors_bad_origin, 0,
	                    (int)(sizeof(bad_origins) / sizeof(bad_origins[0])));
	tcase_add_test(cors, test_cors_too_many);
	suite_add_tcase(s, cors);
	return s;
}

int
main(void)
{
	return tu_run_suite(semantics_suite());
}
