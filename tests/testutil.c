/* testutil.c -- helpers shared by the test suites: files, sockets, HTTP. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <check.h>

#include "config.h"
#include "fixture.h"
#include "server.h"
#include "testutil.h"

const char *
tu_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v != NULL && *v != '\0',
	              "environment variable %s is not set (run via make check)",
	              name);
	return v;
}

char *
tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	ck_assert(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	ck_assert(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert(buf != NULL);
	ck_assert_msg(fread(buf, 1, (size_t)n, f) == (size_t)n,
	              "short read on %s", path);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

char *
tu_expected_body(size_t *len)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/users.body.json",
	         tu_env("AVATAR_API_TEST_DATA"));
	return tu_read_file(path, len);
}

int
tu_connect(struct tu_conn *c, unsigned port)
{
	struct sockaddr_in sa;
	struct timeval tv = {5, 0};
	int one = 1;

	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(c->fd);
		c->fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

void
tu_close(struct tu_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int
tu_send(struct tu_conn *c, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
tu_request(struct tu_conn *c, const char *method, const char *path,
           const char *extra)
{
	char req[16384];
	int n;

	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	             "%s\r\n", method, path, extra != NULL ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		return -1;
	return tu_send(c, req, (size_t)n);
}

/* Read more bytes into C's buffer.  Returns bytes read, 0 at EOF, -1. */
static ssize_t
fill(struct tu_conn *c)
{
	ssize_t n;

	if (c->len >= sizeof(c->buf))
		return -1;
	do
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		c->len += (size_t)n;
	return n;
}

static void
consume(struct tu_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

int
tu_read_response(struct tu_conn *c, struct tu_response *r, int head)
{
	char *end, clen[32];
	size_t hlen, want = 0, got;

	memset(r, 0, sizeof(*r));
	while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
		if (fill(c) <= 0)
			return -1;
	hlen = (size_t)(end - c->buf) + 4;
	if (hlen >= sizeof(r->head))
		return -1;
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = '\0';
	consume(c, hlen);
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	if (!head && tu_header(r, "Content-Length", clen, sizeof(clen)) == 1)
		want = strtoul(clen, NULL, 10);
	r->body = malloc(want + 1);
	if (r->body == NULL)
		return -1;
	for (got = 0; got < want;) {
		size_t take;

		if (c->len == 0 && fill(c) <= 0) {
			tu_response_free(r);
			return -1;
		}
		take = c->len < want - got ? c->len : want - got;
		memcpy(r->body + got, c->buf, take);
		consume(c, take);
		got += take;
	}
	r->body[want] = '\0';
	r->body_len = want;
	return 0;
}

void
tu_response_free(struct tu_response *r)
{
	free(r->body);
	r->body = NULL;
}

int
tu_header(const struct tu_response *r, const char *name, char *out,
          size_t size)
{
	const char *p = strstr(r->head, "\r\n");
	size_t nlen = strlen(name);
	int found = 0;

	while (p != NULL && p[2] != '\r') {
		const char *line = p + 2, *eol = strstr(line, "\r\n");

		if (eol == NULL)
			break;
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			size_t vlen;

			while (*v == ' ')
				v++;
			vlen = (size_t)(eol - v);
			if (vlen >= size)
				vlen = size - 1;
			if (found == 0) {
				memcpy(out, v, vlen);
				out[vlen] = '\0';
			}
			found++;
		}
		p = eol;
	}
	return found > 1 ? 2 : found;
}

long long
tu_get(unsigned port, const char *method, const char *path,
       struct tu_response *r)
{
	struct tu_conn c;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_msg(tu_connect(&c, port) == 0, "connect: %s",
	              strerror(errno));
	ck_assert(tu_request(&c, method, path, NULL) == 0);
	ck_assert_msg(tu_read_response(&c, r, strcmp(method, "HEAD") == 0)
	              == 0, "%s %s: no response", method, path);
	tu_close(&c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
	       (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

void
tu_assert_header(const struct tu_response *r, const char *name,
                 const char *want)
{
	char v[1024];

	ck_assert_msg(tu_header(r, name, v, sizeof(v)) == 1,
	              "header %s missing or repeated in:\n%s", name, r->head);
	ck_assert_str_eq(v, want);
}

int
tu_closed(struct tu_conn *c, int ms)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};

	for (;;) {
		ssize_t n;

		if (poll(&pfd, 1, ms) <= 0)
			return 0;
		n = fill(c);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return 1;
		if (n < 0)
			return 0;
	}
}

/* Drain FD into BUF (SIZE bytes, NUL-terminated); BUF may be NULL. */
static void
drain(int fd, char *buf, size_t size)
{
	size_t got = 0;
	char scratch[4096];

	for (;;) {
		char *dst = buf != NULL && got + 1 < size ? buf + got : scratch;
		size_t room = buf != NULL && got + 1 < size ? size - 1 - got
		              : sizeof(scratch);
		ssize_t n = read(fd, dst, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != scratch)
			got += (size_t)n;
	}
	if (buf != NULL)
		buf[got] = '\0';
}

int
tu_run(const char *prog, char *const argv[], char *const envp[], char *out,
       char *err, size_t size)
{
	int po[2], pe[2], status;
	pid_t pid;

	ck_assert(pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execve(prog, argv, envp);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	/* Outputs here are small: read stdout fully, then stderr. */
	drain(po[0], out, size);
	drain(pe[0], err, size);
	close(po[0]);
	close(pe[0]);
	ck_assert(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* In a child of tu_spawn: report WHAT and errno on stderr and exit 127. */
static void
spawn_fail(const char *what)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "tu_spawn: %s: %s\n", what,
	                 strerror(errno));

	if (n > 0 && write(2, msg, (size_t)n) < 0)
		_exit(127);
	_exit(127);
}

pid_t
tu_spawn(const char *prog, char *const argv[], char *const envp[],
         const char *dir, long uid, int *errfd)
{
	pid_t pid, parent = getpid();
	int pe[2];

	ck_assert(pipe2(pe, O_CLOEXEC) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		if (dup2(pe[1], 2) < 0)
			_exit(127);
		if (dir != NULL && chdir(dir) != 0)
			spawn_fail("chdir");
		if (uid != -1 && (setgroups(0, NULL) != 0 ||
		                  setgid((gid_t)uid) != 0 ||
		                  setuid((uid_t)uid) != 0))
			spawn_fail("cannot drop privileges");
		/* After setuid, which clears it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			spawn_fail("PR_SET_PDEATHSIG");
		execve(prog, argv, envp);
		spawn_fail(prog);
	}
	close(pe[1]);
	*errfd = pe[0];
	return pid;
}

int
tu_read_until(int fd, char *buf, size_t size, const char *want, int ms)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	struct timespec t0, t1;
	size_t got = strlen(buf);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (want == NULL || strstr(buf, want) == NULL) {
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = ms - ((t1.tv_sec - t0.tv_sec) * 1000 +
		             (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || got + 1 >= size)
			return -1;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return want == NULL ? 0 : -1;
		got += (size_t)n;
		buf[got] = '\0';
	}
	return 0;
}

void *
tu_load_run(void *arg)
{
	struct tu_load *l = arg;
	struct tu_conn c;
	unsigned i;

	if (tu_connect(&c, l->port) < 0) {
		l->refused++;
		return NULL;
	}
	for (i = 0; l->stop != NULL ? !*l->stop || i < 1 : i < l->requests;
	     i++) {
		struct tu_response r;
		char v[16];
		int close_asked;

		if (tu_request(&c, "GET", l->path, NULL) < 0 ||
		    tu_read_response(&c, &r, 0) < 0) {
			l->lost++;
			break;
		}
		if (r.status == 200 &&
		    ((r.body_len == l->expect_len &&
		      memcmp(r.body, l->expect, l->expect_len) == 0) ||
		     (l->expect2 != NULL && r.body_len == l->expect2_len &&
		      memcmp(r.body, l->expect2, l->expect2_len) == 0)))
			l->ok++;
		else
			l->bad++;
		close_asked = tu_header(&r, "Connection", v, sizeof(v)) == 1 &&
		              strcmp(v, "close") == 0;
		tu_response_free(&r);
		if (close_asked) {
			l->closed++;
			break;
		}
	}
	tu_close(&c);
	return NULL;
}

void
tu_load_start(pthread_t *t, struct tu_load *cl, size_t n,
              const struct tu_load *template)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cl[i] = *template;
		ck_assert(pthread_create(&t[i], NULL, tu_load_run, &cl[i]) == 0);
	}
}

void
tu_load_join(pthread_t *t, struct tu_load *cl, size_t n, struct tu_load *sum)
{
	size_t i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		sum->ok += cl[i].ok;
		sum->bad += cl[i].bad;
		sum->lost += cl[i].lost;
		sum->closed += cl[i].closed;
		sum->refused += cl[i].refused;
	}
}

void
tu_write_file(const char *path, const char *data, size_t len)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "wb");
	ck_assert_msg(f != NULL, "cannot write %s: %s", tmp, strerror(errno));
	ck_assert(fwrite(data, 1, len, f) == len);
	ck_assert(fclose(f) == 0);
	ck_assert_msg(rename(tmp, path) == 0, "rename %s: %s", path,
	              strerror(errno));
}

void
tu_say(char *buf, size_t size, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vsnprintf(buf, size, format, ap);
	va_end(ap);
}

int
tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

struct server *
tu_server_start(int mode, unsigned *port)
{
	struct config cfg;
	struct error err = {0, ""};
	struct fixture *fx;
	struct server *srv;

	fx = fixture_load(tu_env("AVATAR_API_FIXTURE"), &err);
	ck_assert_msg(fx != NULL, "fixture: %s", err.text);
	config_defaults(&cfg);
	cfg.address = "127.0.0.1";
	cfg.port = 0;
	cfg.mode = (enum config_mode)mode;
	cfg.threads = 2;
	srv = server_start(&cfg, fx, &err);
	ck_assert_msg(srv != NULL, "server_start: %s", err.text);
	*port = server_port(srv);
	ck_assert_uint_ne(*port, 0);
	return srv;
}

void
tu_tmpdir_make(char *dir, size_t size, const char *name)
{
	int n = snprintf(dir, size, "%s/tmp.%s.XXXXXX",
	                 tu_env("AVATAR_API_TMPDIR"), name);

	ck_assert_msg(n > 0 && (size_t)n < size, "tmp path too long");
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir,
	              strerror(errno));
	ck_assert_msg(chmod(dir, 0711) == 0, "chmod %s: %s", dir,
	              strerror(errno));
}

static int
remove_entry(const char *path, const struct stat *st, int type,
             struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

void
tu_tmpdir_remove(char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';
}

unsigned
tu_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	unsigned port;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

double
tu_metric(const char *body, const char *name)
{
	char key[256];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(body, key);
	return p != NULL ? strtod(p + strlen(key), NULL) : -1;
}

const char *
tu_log_msg(const char *line, const char *level)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
	size_t i, n = strlen(level);

	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? line[i] < '0' || line[i] > '9'
		                    : line[i] != shape[i])
			return NULL;
	}
	line += i;
	if (strncmp(line, level, n) != 0 || strncmp(line + n, ": ", 2) != 0)
		return NULL;
	return line + n + 2;
}

const char *
tu_log_find(const char *buf, const char *level, const char *msg)
{
	const char *line = buf;

	while (*line != '\0') {
		const char *m = tu_log_msg(line, level);

		if (m != NULL && strncmp(m, msg, strlen(msg)) == 0)
			return m;
		line = strchr(line, '\n');
		if (line == NULL)
			break;
		line++;
	}
	return NULL;
}

int
tu_log_has(const char *buf, const char *level, const char *want)
{
	const char *p = strstr(buf, want), *line;

	if (p == NULL)
		return 0;
	for (line = p; line > buf && line[-1] != '\n'; line--)
		;
	return tu_log_msg(line, level) != NULL;
}

void
tu_stop(pid_t pid, int errfd)
{
	int status;

	ck_assert(kill(pid, SIGTERM) == 0);
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "exit status %d", status);
	close(errfd);
}
