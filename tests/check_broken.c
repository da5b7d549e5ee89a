/* check_broken.c -- broken data on the real binary: at start-up (exit code,
 * message, nothing served) and as a SIGHUP reload (the old data is kept). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>

#include "testutil.h"

#define BODY_LEN 3616         /* tests/data/users.body.json */
#define NOBODY 65534          /* the unprivileged user and group */
#define MIN_KINDS 20          /* distinct kinds of broken data, at least */
#define MAX_CASES 256
#define STDERR_SIZE 16384
#define WAIT_MS 5000

/* One kind of broken data.  Either MAKE creates it at a path, or SRC is a
 * file of tests/data/invalid whose content is used.  The expected message
 * is TMPL with each @FILE@ replaced by the path given to --data. */
struct bcase {
	char name[128];
	void (*make)(const char *path);
	char src[PATH_MAX];
	int code;             /* 0: the .err file could not be read */
	char tmpl[2048];
	int unprivileged;     /* needs a server that is not root */
};

static struct bcase cases[MAX_CASES];
static int ncases;
static int ndir;              /* how many come from tests/data/invalid */

/* The scratch directory (0711: searchable by nobody). */
static char tmpdir[PATH_MAX];

static char errbuf[STDERR_SIZE];

/* The bundled fixture, read on first use. */
static char *good;
static size_t good_len;

static void
load_good(void)
{
	if (good == NULL)
		good = tu_read_file(tu_env("AVATAR_API_FIXTURE"), &good_len);
}

/* Remove whatever is at PATH (file, link, FIFO or empty directory). */
static void
clear_path(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		ck_assert_msg(errno == ENOENT, "lstat %s: %s", path,
		              strerror(errno));
		return;
	}
	ck_assert_msg((S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path)) == 0,
	              "cannot remove %s: %s", path, strerror(errno));
}

/* Create PATH with LEN bytes of DATA, then give it MODE. */
static void
put(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd;

	clear_path(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		ck_assert_msg(n > 0, "cannot write %s: %s", path, strerror(errno));
		data += n;
		len -= (size_t)n;
	}
	ck_assert_int_eq(close(fd), 0);
	ck_assert_msg(chmod(path, mode) == 0, "chmod %s: %s", path,
	              strerror(errno));
}

static void
put_str(const char *path, const char *s)
{
	put(path, s, strlen(s), 0644);
}

/* The makers of the run-time cases: each creates its kind at PATH. */

static void
make_missing(const char *path)
{
	clear_path(path);
}

static void
make_empty(const char *path)
{
	put_str(path, "");
}

static void
make_directory(const char *path)
{
	clear_path(path);
	ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s: %s", path,
	              strerror(errno));
}

/* The good fixture, without read permission. */
static void
make_unreadable(const char *path)
{
	load_good();
	put(path, good, good_len, 0000);
}

static void
make_dangling(const char *path)
{
	clear_path(path);
	ck_assert_msg(symlink("no-such-target.json", path) == 0,
	              "symlink %s: %s", path, strerror(errno));
}

/* A link to itself. */
static void
make_loop(const char *path)
{
	const char *base = strrchr(path, '/');

	clear_path(path);
	ck_assert_msg(symlink(base != NULL ? base + 1 : path, path) == 0,
	              "symlink %s: %s", path, strerror(errno));
}

static void
make_fifo(const char *path)
{
	clear_path(path);
	ck_assert_msg(mkfifo(path, 0644) == 0, "mkfifo %s: %s", path,
	              strerror(errno));
}

static void
make_devnull(const char *path)
{
	clear_path(path);
	ck_assert_msg(symlink("/dev/null", path) == 0, "symlink %s: %s", path,
	              strerror(errno));
}

/* 100 MB, sparse: over the 64 MiB limit. */
static void
make_huge(const char *path)
{
	int fd;

	clear_path(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	ck_assert_int_eq(ftruncate(fd, (off_t)100 * 1000 * 1000), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* 100,000 '[' and as many ']'. */
static void
make_deep(const char *path)
{
	size_t depth = 100000;
	char *s = malloc(2 * depth);

	ck_assert(s != NULL);
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	put(path, s, 2 * depth, 0644);
	free(s);
}

/* 1 KiB of NUL bytes. */
static void
make_nul_bytes(const char *path)
{
	char zeros[1024];

	memset(zeros, 0, sizeof(zeros));
	put(path, zeros, sizeof(zeros), 0644);
}

static void
make_object(const char *path)
{
	put_str(path, "{\"users\":[{\"id\":\"1\",\"name\":\"A\",\"avatar\":\"x\","
	        "\"createdAt\":\"y\"}]}");
}

static void
make_bad_utf8(const char *path)
{
	put_str(path, "[{\"id\":\"1\",\"name\":\"a\xc3(\",\"avatar\":\"x\","
	        "\"createdAt\":\"y\"}]");
}

/* The good fixture after a byte order mark. */
static void
make_bom(const char *path)
{
	char *s;

	load_good();
	s = malloc(good_len + 3);
	ck_assert(s != NULL);
	memcpy(s, "\xef\xbb\xbf", 3);
	memcpy(s + 3, good, good_len);
	put(path, s, good_len + 3, 0644);
	free(s);
}

static void
make_duplicate(const char *path)
{
	put_str(path, "[{\"id\":\"1\",\"name\":\"A\",\"avatar\":\"x\","
	        "\"createdAt\":\"y\"},\n {\"id\":\"1\",\"name\":\"B\","
	        "\"avatar\":\"x\",\"createdAt\":\"y\"}]\n");
}

static void
make_truncated(const char *path)
{
	put_str(path, "[{\"id\":\"1\",\"name\":\"A\",\"avatar\":\"x\","
	        "\"createdAt\":\"y\"},\n {\"id\":\"2\",\"name\":\"B\",\"ava");
}

static const struct {
	const char *name;
	void (*make)(const char *path);
	int code;
	const char *tmpl;
	int unprivileged;
} made[] = {
	{"missing", make_missing, 66,
	 "@FILE@: cannot open: No such file or directory", 0},
	{"empty", make_empty, 65,
	 "@FILE@:1:0: '[' or '{' expected near end of file", 0},
	{"directory", make_directory, 66, "@FILE@: is a directory", 0},
	{"unreadable", make_unreadable, 66,
	 "@FILE@: cannot open: Permission denied", 1},
	{"dangling-symlink", make_dangling, 66,
	 "@FILE@: cannot open: No such file or directory", 0},
	{"symlink-loop", make_loop, 66,
	 "@FILE@: cannot open: Too many levels of symbolic links", 0},
	{"fifo", make_fifo, 66, "@FILE@: not a regular file", 0},
	{"char-device", make_devnull, 66, "@FILE@: not a regular file", 0},
	{"100MB", make_huge, 65,
	 "@FILE@: file too large (100000000 bytes, limit 67108864)", 0},
	{"nesting-100000", make_deep, 65,
	 "@FILE@:1:2049: maximum parsing depth reached near '['", 0},
	{"nul-bytes", make_nul_bytes, 65,
	 "@FILE@:1:1: NUL byte (JSON text cannot contain one)", 0},
	{"object-not-array", make_object, 65,
	 "@FILE@: top level: expected an array of records, got an object", 0},
	{"invalid-utf8", make_bad_utf8, 65,
	 "@FILE@:1:20: unable to decode byte 0xc3 near '\"a'", 0},
	{"bom", make_bom, 65, "@FILE@:1:1: the file starts with a UTF-8 byte "
	 "order mark (BOM); remove it", 0},
	{"duplicate-ids", make_duplicate, 65,
	 "@FILE@: record 2 (id \"1\"): duplicate id, first used by record 1", 0},
	{"truncated", make_truncated, 65,
	 "@FILE@:2:26: premature end of input near '\"ava'", 0},
};

/* TMPL with each @FILE@ replaced by FILE, into OUT. */
static void
expand(const char *tmpl, const char *file, char *out, size_t size)
{
	const char *at;
	size_t o = 0;

	while ((at = strstr(tmpl, "@FILE@")) != NULL) {
		o += (size_t)snprintf(out + o, size - o, "%.*s%s",
		                      (int)(at - tmpl), tmpl, file);
		ck_assert_msg(o < size, "expected message too long");
		tmpl = at + 6;
	}
	o += (size_t)snprintf(out + o, size - o, "%s", tmpl);
	ck_assert_msg(o < size, "expected message too long");
}

/* Non-zero if a child can become nobody and then run the binary; else
 * zero with the reason in WHY.  (Root without CAP_SETUID cannot switch;
 * a build tree below a directory closed to others, such as a mkdtemp
 * copy of the tree, cannot be reached by nobody.) */
static int
can_drop(char *why, size_t size)
{
	const char *bin = tu_env("AVATAR_API_BIN");
	int status;
	pid_t pid = fork();

	ck_assert(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 ||
		    setuid(NOBODY) != 0)
			_exit(1);
		_exit(access(bin, X_OK) == 0 ? 0 : 2);
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 1;
	tu_say(why, size, WIFEXITED(status) && WEXITSTATUS(status) == 2 ?
	    "uid %d cannot run %s" : "cannot switch to uid %d%s", NOBODY,
	    WIFEXITED(status) && WEXITSTATUS(status) == 2 ? bin : "");
	return 0;
}

/* Start the server on a free loopback port with --data DATA, in directory
 * DIR (NULL: here), as UID (-1: unchanged). */
static pid_t
start(const char *dir, const char *data, long uid, unsigned *port, int *fd)
{
	char portstr[16];
	char *argv[] = {(char *)"avatar-api", (char *)"--data", (char *)data,
	                (char *)"--address", (char *)"127.0.0.1",
	                (char *)"--port", portstr, (char *)"--threads",
	                (char *)"1", NULL};
	char *envp[] = {(char *)"PATH=/usr/bin:/bin", NULL};

	*port = tu_free_port();
	snprintf(portstr, sizeof(portstr), "%u", *port);
	errbuf[0] = '\0';
	return tu_spawn(tu_env("AVATAR_API_BIN"), argv, envp, dir, uid, fd);
}

/* Start the server with --data DATA (in DIR, as UID): it must exit with
 * CODE and print exactly one error line, "TIME error: MESSAGE\n",
 * without ever listening. */
static void
expect_refused(const char *dir, const char *data, long uid, int code,
               const char *message)
{
	char want[4096];
	struct tu_conn c;
	unsigned port;
	int fd, status;
	pid_t pid;

	pid = start(dir, data, uid, &port, &fd);
	if (tu_read_until(fd, errbuf, sizeof(errbuf), NULL, WAIT_MS) < 0) {
		int served = tu_connect(&c, port) == 0;

		if (served)
			tu_close(&c);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(fd);
		ck_abort_msg("%s: still running after %d ms (port %u %s); "
		             "stderr: %s", data, WAIT_MS, port,
		             served ? "ACCEPTS CONNECTIONS" : "refuses", errbuf);
	}
	close(fd);
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFEXITED(status), "%s: killed by signal %d; stderr: %s",
	              data, WTERMSIG(status), errbuf);
	snprintf(want, sizeof(want), "%s\n", message);
	ck_assert_msg(WEXITSTATUS(status) == code &&
	              tu_log_msg(errbuf, "error") != NULL &&
	              strcmp(tu_log_msg(errbuf, "error"), want) == 0,
	              "%s: exit %d, stderr \"%s\"; expected exit %d, \"%s\"",
	              data, WEXITSTATUS(status), errbuf, code, want);
	ck_assert(strstr(errbuf, "Listening") == NULL);
	ck_assert_msg(tu_connect(&c, port) < 0 && errno == ECONNREFUSED,
	              "port %u does not refuse connections", port);
}

/* At start-up: case _i must make the server exit before listening. */
START_TEST(test_broken_startup)
{
	const struct bcase *k = &cases[_i];
	char abs[PATH_MAX + 256], rel[256], msg[4096];
	long uid = -1;

	ck_assert_msg(k->code != 0, "%s: %s", k->name, k->tmpl);
	if (k->make == NULL) {
		expand(k->tmpl, k->src, msg, sizeof(msg));
		expect_refused(NULL, k->src, -1, k->code, msg);
		return;
	}
	if (k->unprivileged && geteuid() == 0) {
		char why[PATH_MAX + 64];

		if (!can_drop(why, sizeof(why))) {
			printf("check_broken: startup %s: skipped: running as root "
			       "and %s\n", k->name, why);
			return;
		}
		uid = NOBODY;
	}
	/* Relative to the scratch directory, which nobody can search even
	 * when the parents of AVATAR_API_TMPDIR are closed to it. */
	snprintf(rel, sizeof(rel), "startup-%s.json", k->name);
	snprintf(abs, sizeof(abs), "%s/%s", tmpdir, rel);
	k->make(abs);
	expand(k->tmpl, rel, msg, sizeof(msg));
	expect_refused(tmpdir, rel, uid, k->code, msg);
	clear_path(abs);
}
END_TEST

START_TEST(test_broken_kinds)
{
	ck_assert_msg(ndir >= MIN_KINDS, "only %d cases in tests/data/invalid",
	              ndir);
	ck_assert_msg(ncases >= MIN_KINDS, "only %d kinds", ncases);
}
END_TEST

/* GET PATH from 127.0.0.1:PORT on a new connection. */
static int
get(unsigned port, const char *path, struct tu_response *r)
{
	struct tu_conn c;
	int rc;

	memset(r, 0, sizeof(*r));
	if (tu_connect(&c, port) < 0)
		return -1;
	rc = tu_request(&c, "GET", path, "Connection: close\r\n") < 0 ||
	     tu_read_response(&c, r, 0) < 0 ? -1 : 0;
	tu_close(&c);
	return rc;
}

/* The value of metric line NAME (up to the space) in the body of R, or -1. */
static long
metric(const struct tu_response *r, const char *name)
{
	char key[256];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(r->body, key);
	return p != NULL ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* What the server serves: the original body and the reload counts. */
static int
check_serving(unsigned port, const char *body, long ok, long failed,
              char *why, size_t size)
{
	struct tu_response r;
	long got_ok, got_failed, users;

	if (get(port, "/v1/user", &r) < 0) {
		snprintf(why, size, "GET /v1/user: no answer");
		return -1;
	}
	if (r.status != 200 || r.body_len != BODY_LEN ||
	    memcmp(r.body, body, BODY_LEN) != 0) {
		snprintf(why, size, "GET /v1/user: status %d, %zu bytes, not the "
		         "original body", r.status, r.body_len);
		tu_response_free(&r);
		return -1;
	}
	tu_response_free(&r);
	if (get(port, "/metrics", &r) < 0 || r.status != 200) {
		snprintf(why, size, "GET /metrics failed");
		if (r.body != NULL)
			tu_response_free(&r);
		return -1;
	}
	got_ok = metric(&r, "avatar_api_reloads_total{result=\"ok\"}");
	got_failed = metric(&r, "avatar_api_reloads_total{result=\"failed\"}");
	users = metric(&r, "avatar_api_users");
	tu_response_free(&r);
	if (got_ok != ok || got_failed != failed || users != 20) {
		snprintf(why, size, "/metrics: reloads ok %ld failed %ld users %ld, "
		         "expected %ld %ld 20", got_ok, got_failed, users, ok,
		         failed);
		return -1;
	}
	return 0;
}

/* Put CASE K at PATH: its maker, or a copy of its file. */
static void
make_case(const struct bcase *k, const char *path)
{
	if (k->make != NULL) {
		k->make(path);
	} else {
		size_t len;
		char *s = tu_read_file(k->src, &len);

		put(path, s, len, 0644);
		free(s);
	}
}

/* One server, serving a copy of the good fixture: each kind in turn
 * replaces it, and SIGHUP must fail with the start-up message while the
 * old data stays served.  Then a good reload, and SIGTERM exits 0. */
START_TEST(test_broken_reload)
{
	static const char served[] = "served.json";
	char path[PATH_MAX + 32], msg[4096], want[4200];
	char why[4096], report[32768];
	size_t used = 0, body_len;
	char *body;
	unsigned port;
	long uid = -1, failed = 0;
	int i, fd, status, bad = 0, skip_unprivileged = 0;
	pid_t pid;

	report[0] = '\0';
	body = tu_expected_body(&body_len);
	ck_assert_uint_eq(body_len, BODY_LEN);
	load_good();
	if (geteuid() == 0) {
		if (can_drop(why, sizeof(why))) {
			uid = NOBODY;
		} else {
			skip_unprivileged = 1;
			printf("check_broken: reload unreadable: skipped: running as "
			       "root and %s\n", why);
		}
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, served);
	put(path, good, good_len, 0644);
	pid = start(tmpdir, served, uid, &port, &fd);
	/* Wait for the whole start-up line: a warning may come first (a
	 * low open-file limit, as in a container build). */
	ck_assert_msg(tu_read_until(fd, errbuf, sizeof(errbuf),
	                            " users from served.json)\n",
	                            WAIT_MS) == 0 &&
	              strstr(errbuf, "Listening on ") != NULL &&
	              strstr(errbuf, " 20 users from served.json)\n") != NULL,
	              "the server did not start: %s", errbuf);

	for (i = 0; i < ncases; i++) {
		const struct bcase *k = &cases[i];

		if (k->code == 0 || (k->unprivileged && skip_unprivileged))
			continue;
		make_case(k, path);
		expand(k->tmpl, served, msg, sizeof(msg));
		snprintf(want, sizeof(want), "SIGHUP: reload failed, "
		         "still serving the old data: %s\n", msg);
		errbuf[0] = '\0';
		ck_assert(kill(pid, SIGHUP) == 0);
		failed++;
		if (tu_read_until(fd, errbuf, sizeof(errbuf), "\n", WAIT_MS) < 0)
			tu_say(why, sizeof(why), "no log line after SIGHUP; got "
			         "\"%s\"", errbuf);
		else if (tu_log_msg(errbuf, "error") == NULL ||
		         strcmp(tu_log_msg(errbuf, "error"), want) != 0)
			tu_say(why, sizeof(why), "logged \"%s\", expected \"%s\"",
			         errbuf, want);
		else if (check_serving(port, body, 0, failed, why,
		                       sizeof(why)) == 0)
			why[0] = '\0';
		if (why[0] != '\0') {
			bad++;
			fprintf(stderr, "check_broken: reload %s: %s\n", k->name, why);
			if (used < sizeof(report))
				used += (size_t)snprintf(report + used,
				                         sizeof(report) - used,
				                         "\n  %s: %s", k->name, why);
		}
		clear_path(path);
	}

	/* Good data again: this reload succeeds. */
	put(path, good, good_len, 0644);
	errbuf[0] = '\0';
	ck_assert(kill(pid, SIGHUP) == 0);
	ck_assert_msg(tu_read_until(fd, errbuf, sizeof(errbuf), "\n",
	                            WAIT_MS) == 0 &&
	              tu_log_msg(errbuf, "info") != NULL &&
	              strcmp(tu_log_msg(errbuf, "info"), "SIGHUP: reloaded 20 "
	                     "users from served.json\n") == 0,
	              "good reload: %s", errbuf);
	ck_assert_msg(check_serving(port, body, 1, failed, why,
	                            sizeof(why)) == 0, "after the good reload: %s",
	              why);

	ck_assert(kill(pid, SIGTERM) == 0);
	ck_assert(waitpid(pid, &status, 0) == pid);
	tu_read_until(fd, errbuf, sizeof(errbuf), NULL, WAIT_MS);
	close(fd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "SIGTERM: status %d; stderr: %s", status, errbuf);
	ck_assert_msg(strstr(errbuf, "SIGTERM received") != NULL, "%s", errbuf);
	free(body);
	ck_assert_msg(bad == 0, "%d of %ld reload case(s) failed:%s", bad,
	              failed, report);
	ck_assert_int_ge(failed, MIN_KINDS);
}
END_TEST

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* Fill case K from DIR/NAME (a .json file) and the .err next to it:
 * one line "CODE MESSAGE".  On error K->code stays 0 and K->tmpl says why. */
static void
read_dir_case(struct bcase *k, const char *dir, const char *name)
{
	char errpath[PATH_MAX + 256], line[2048];
	size_t got;
	char *end;
	long code;
	FILE *f;

	tu_say(k->name, sizeof(k->name), "invalid/%s", name);
	tu_say(k->src, sizeof(k->src), "%s/%s", dir, name);
	tu_say(errpath, sizeof(errpath), "%s/%.*s.err", dir,
	    (int)(strlen(name) - strlen(".json")), name);
	f = fopen(errpath, "r");
	if (f == NULL) {
		tu_say(k->tmpl, sizeof(k->tmpl), "cannot open %s: %s", errpath,
		         strerror(errno));
		return;
	}
	got = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[got] = '\0';
	code = strtol(line, &end, 10);
	if (end == line || *end != ' ' || got == 0 || line[got - 1] != '\n' ||
	    strchr(line, '\n') != line + got - 1 || code <= 0 || code > 255) {
		tu_say(k->tmpl, sizeof(k->tmpl), "malformed %s: want one line "
		         "\"CODE MESSAGE\"", errpath);
		return;
	}
	line[got - 1] = '\0';
	snprintf(k->tmpl, sizeof(k->tmpl), "%s", end + 1);
	k->code = (int)code;
}

/* The run-time kinds, then every tests/data/invalid/CASE.json. */
static void
collect_cases(void)
{
	const char *data = getenv("AVATAR_API_TEST_DATA");
	char dir[PATH_MAX];
	struct dirent **names;
	size_t j;
	int n, i;

	for (j = 0; j < sizeof(made) / sizeof(made[0]); j++) {
		struct bcase *k = &cases[ncases++];

		snprintf(k->name, sizeof(k->name), "%s", made[j].name);
		k->make = made[j].make;
		k->code = made[j].code;
		snprintf(k->tmpl, sizeof(k->tmpl), "%s", made[j].tmpl);
		k->unprivileged = made[j].unprivileged;
	}
	if (data == NULL)
		return;  /* test_broken_kinds fails */
	snprintf(dir, sizeof(dir), "%s/invalid", data);
	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (has_suffix(names[i]->d_name, ".json") && ncases < MAX_CASES) {
			read_dir_case(&cases[ncases++], dir, names[i]->d_name);
			ndir++;
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

static void
tmp_setup(void)
{
	/* Traversable by the unprivileged users of the tests. */
	tu_tmpdir_make(tmpdir, sizeof(tmpdir), "check_broken");
}

static void
tmp_teardown(void)
{
	tu_tmpdir_remove(tmpdir);
}

static Suite *
broken_suite(void)
{
	Suite *s = suite_create("broken");
	TCase *startup = tcase_create("startup");
	TCase *reload = tcase_create("reload");

	/* Unchecked: made and removed once by the parent process. */
	tcase_add_unchecked_fixture(startup, tmp_setup, tmp_teardown);
	tcase_set_timeout(startup, 10);
	tcase_add_test(startup, test_broken_kinds);
	tcase_add_loop_test(startup, test_broken_startup, 0, ncases);
	suite_add_tcase(s, startup);

	tcase_add_unchecked_fixture(reload, tmp_setup, tmp_teardown);
	tcase_set_timeout(reload, 60);
	tcase_add_test(reload, test_broken_reload);
	suite_add_tcase(s, reload);
	return s;
}

int
main(void)
{
	int status;

	collect_cases();
	status = tu_run_suite(broken_suite());
	free(good);
	return status;
}
