/* check_fixture.c -- unit tests for fixture.c: loading, validation, lookup. */
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
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>

#include "fixture.h"
#include "testutil.h"

#define BODY_JSON_LEN 3616 /* size of tests/data/users.body.json */
#define MIN_INVALID_CASES 20

/* Non-zero when each test runs in its own process (CK_FORK is not "no"). */
static int forking = 1;

/* The scratch directory of the "errors" test case. */
static char tmpdir[PATH_MAX];

/* A record as served for the one-record and extra-fields files. */
static const char one_record[] =
	"{\"createdAt\":\"2024-02-29T23:59:59.999Z\",\"name\":\"OnlyOne\","
	"\"avatar\":\"https://example.com/only.png\",\"id\":\"42\"}";

static const char extra_b[] =
	"{\"id\":\"b\",\"age\":42,\"score\":2.5,\"delta\":-7,\"name\":\"Bea\","
	"\"meta\":{\"team\":\"blue\",\"nested\":{\"level\":2,\"list\":[]},"
	"\"empty\":{}},\"avatar\":\"https://example.com/b.png\","
	"\"tags\":[\"x\",1,true,null,{\"k\":\"v\"},[]],\"active\":true,"
	"\"createdAt\":\"2023-02-01T00:00:00.000Z\",\"banned\":false,"
	"\"deleted\":null,"
	"\"note\":\"quote \\\" backslash \\\\ slash / tab \\t\"}";
static const char extra_a[] =
	"{\"createdAt\":\"2023-01-01T00:00:00.000Z\",\"name\":\"Al\","
	"\"avatar\":\"https://example.com/a.png\",\"id\":\"a\",\"zeta\":0,"
	"\"alpha\":\"last\"}";
static const char extra_c[] =
	"{\"name\":\"Cy\",\"avatar\":\"https://example.com/c.png\","
	"\"createdAt\":\"2023-03-01T00:00:00.000Z\",\"id\":\"c\"}";

/* Format into BUF, which must be large enough. */
static void fmt(char *buf, size_t size, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static void
fmt(char *buf, size_t size, const char *format, ...)
{
	va_list ap;
	int n;

	va_start(ap, format);
	n = vsnprintf(buf, size, format, ap);
	va_end(ap);
	ck_assert_msg(n >= 0 && (size_t)n < size, "string too long: %s", buf);
}

/* PATH of file REL under the test data directory. */
static void
data_path(char *path, size_t size, const char *rel)
{
	int n = snprintf(path, size, "%s/%s", tu_env("AVATAR_API_TEST_DATA"),
	                 rel);

	ck_assert_msg(n > 0 && (size_t)n < size, "path too long: %s", rel);
}

/* PATH of file NAME in the scratch directory. */
static void
tmp_path(char *path, size_t size, const char *name)
{
	int n = snprintf(path, size, "%s/%s", tmpdir, name);

	ck_assert_msg(n > 0 && (size_t)n < size, "path too long: %s", name);
}

/* Load PATH, which must be valid. */
static struct fixture *
load_ok(const char *path)
{
	struct error err = {0, ""};
	struct fixture *fx = fixture_load(path, &err);

	ck_assert_msg(fx != NULL, "fixture_load(%s) failed: %d %s", path,
	              err.code, err.text);
	ck_assert_int_eq(err.code, 0);
	ck_assert_uint_eq(fx->body_len, strlen(fx->body));
	return fx;
}

/* Load PATH, which must fail with CODE and exactly TEXT. */
static void
load_fails(const char *path, int code, const char *text)
{
	struct error err = {0, ""};
	struct fixture *fx = fixture_load(path, &err);

	if (fx != NULL) {
		size_t count = fx->count;

		fixture_free(fx);
		ck_abort_msg("fixture_load(%s) succeeded (%zu records), expected "
		             "error %d \"%s\"", path, count, code, text);
	}
	ck_assert_int_eq(err.code, code);
	ck_assert_str_eq(err.text, text);
}

/* Create PATH with CONTENT and MODE. */
static void
write_file(const char *path, const char *content, mode_t mode)
{
	size_t len = strlen(content);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	ck_assert_msg(write(fd, content, len) == (ssize_t)len,
	              "cannot write %s: %s", path, strerror(errno));
	ck_assert_int_eq(close(fd), 0);
	ck_assert_msg(chmod(path, mode) == 0, "cannot chmod %s: %s", path,
	              strerror(errno));
}

/* Non-zero if FX->users is strictly sorted by id, as fixture_find needs. */
static int
users_sorted(const struct fixture *fx)
{
	size_t i;

	for (i = 1; i < fx->count; i++)
		if (strcmp(fx->users[i - 1].id, fx->users[i].id) >= 0)
			return 0;
	return 1;
}

/* Assert that ID is found in FX at position INDEX of the file with
 * exactly BODY. */
static void
assert_user(const struct fixture *fx, const char *id, size_t index,
            const char *body)
{
	const struct fixture_user *u = fixture_find(fx, id);

	ck_assert_msg(u != NULL, "id \"%s\" not found", id);
	ck_assert_str_eq(u->id, id);
	ck_assert_uint_eq(u->index, index);
	ck_assert_str_eq(u->body, body);
	ck_assert_uint_eq(u->body_len, strlen(body));
}

static void
tmp_setup(void)
{
	/* Traversable by the unprivileged users of the tests. */
	tu_tmpdir_make(tmpdir, sizeof(tmpdir), "check_fixture");
}

static void
tmp_teardown(void)
{
	tu_tmpdir_remove(tmpdir);
}

START_TEST(test_fixture_bundled_body)
{
	char path[PATH_MAX];
	struct fixture *fx = load_ok(tu_env("AVATAR_API_FIXTURE"));
	size_t len;
	char *expect;

	data_path(path, sizeof(path), "users.body.json");
	expect = tu_read_file(path, &len);
	ck_assert_uint_eq(len, BODY_JSON_LEN);
	ck_assert_uint_eq(fx->count, 20);
	ck_assert_uint_eq(fx->body_len, len);
	ck_assert_msg(memcmp(fx->body, expect, len) == 0,
	              "body differs from %s", path);
	free(expect);
	fixture_free(fx);
}
END_TEST

START_TEST(test_fixture_bundled_find)
{
	struct fixture *fx = load_ok(tu_env("AVATAR_API_FIXTURE"));
	const struct fixture_user *u = fixture_find(fx, "7");

	ck_assert_ptr_nonnull(u);
	ck_assert_str_eq(u->id, "7");
	ck_assert_uint_eq(u->index, 6);
	ck_assert_ptr_nonnull(strstr(u->body, "\"name\":\"DeloresDoyle\""));
	ck_assert_uint_eq(u->body_len, strlen(u->body));
	fixture_free(fx);
}
END_TEST

/* Each record's body is the exact slice of the list body, records in file
 * order, ids "1".."20". */
START_TEST(test_fixture_bundled_records)
{
	char path[PATH_MAX], id[8], tail[32];
	struct fixture *fx = load_ok(tu_env("AVATAR_API_FIXTURE"));
	size_t len, pos = 1, k;
	char *expect;

	data_path(path, sizeof(path), "users.body.json");
	expect = tu_read_file(path, &len);
	ck_assert_uint_eq(len, BODY_JSON_LEN);
	ck_assert_int_eq(expect[0], '[');
	ck_assert_uint_eq(fx->count, 20);
	ck_assert_msg(users_sorted(fx), "users not sorted by id");
	for (k = 1; k <= 20; k++) {
		const struct fixture_user *u;

		fmt(id, sizeof(id), "%zu", k);
		fmt(tail, sizeof(tail), ",\"id\":\"%zu\"}", k);
		u = fixture_find(fx, id);
		ck_assert_msg(u != NULL, "id \"%s\" not found", id);
		ck_assert_str_eq(u->id, id);
		ck_assert_uint_eq(u->index, k - 1);
		ck_assert_uint_eq(u->body_len, strlen(u->body));
		ck_assert_msg(pos + u->body_len < len &&
		              memcmp(expect + pos, u->body, u->body_len) == 0,
		              "record %s is not the slice at byte %zu of %s", id,
		              pos, path);
		ck_assert_msg(strncmp(u->body, "{\"createdAt\":\"", 14) == 0,
		              "record %s: body does not start with createdAt: %s",
		              id, u->body);
		ck_assert_msg(u->body_len > strlen(tail) &&
		              strcmp(u->body + u->body_len - strlen(tail), tail) == 0,
		              "record %s: body does not end with %s: %s", id, tail,
		              u->body);
		pos += u->body_len;
		ck_assert_int_eq(expect[pos], k < 20 ? ',' : ']');
		pos++;
	}
	ck_assert_uint_eq(pos, len);
	free(expect);
	fixture_free(fx);
}
END_TEST

START_TEST(test_fixture_find_unknown)
{
	static const char *const ids[] = {"0", "21", "", "1 ", " 1", "01",
	                                  "7/", "+7", "DeloresDoyle", "id"};
	struct fixture *fx = load_ok(tu_env("AVATAR_API_FIXTURE"));
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		ck_assert_msg(fixture_find(fx, ids[i]) == NULL,
		              "fixture_find(\"%s\") found a record", ids[i]);
	fixture_free(fx);
}
END_TEST

START_TEST(test_fixture_free_null)
{
	fixture_free(NULL);
}
END_TEST

START_TEST(test_fixture_extra_fields)
{
	char path[PATH_MAX], body[2048];
	struct fixture *fx;

	data_path(path, sizeof(path), "valid/extra-fields.json");
	fx = load_ok(path);
	ck_assert_uint_eq(fx->count, 3);
	fmt(body, sizeof(body), "[%s,%s,%s]", extra_b, extra_a, extra_c);
	ck_assert_str_eq(fx->body, body);
	ck_assert_msg(users_sorted(fx), "users not sorted by id");
	assert_user(fx, "b", 0, extra_b);
	assert_user(fx, "a", 1, extra_a);
	assert_user(fx, "c", 2, extra_c);
	ck_assert_ptr_null(fixture_find(fx, "d"));
	ck_assert_ptr_null(fixture_find(fx, "Bea"));
	fixture_free(fx);
}
END_TEST

START_TEST(test_fixture_empty_array)
{
	char path[PATH_MAX];
	struct fixture *fx;

	data_path(path, sizeof(path), "valid/empty-array.json");
	fx = load_ok(path);
	ck_assert_uint_eq(fx->count, 0);
	ck_assert_str_eq(fx->body, "[]");
	ck_assert_uint_eq(fx->body_len, 2);
	ck_assert_ptr_null(fixture_find(fx, "1"));
	ck_assert_ptr_null(fixture_find(fx, ""));
	fixture_free(fx);
}
END_TEST

START_TEST(test_fixture_unicode)
{
	static const char r1[] =
		"{\"id\":\"\xc3\xa4-1\",\"name\":\"Zo\xc3\xab \xc3\x85gren\","
		"\"avatar\":\"https://example.com/\xc3\xa4.png\","
		"\"createdAt\":\"2023-05-01T00:00:00.000Z\"}";
	static const char r2[] =
		"{\"id\":\"a b\",\"name\":\"\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa"
		"\xe9\x83\x8e\",\"avatar\":\"https://example.com/yamada.png\","
		"\"createdAt\":\"2023-05-02T00:00:00.000Z\"}";
	/* The \u00c5 escape of the file is served as raw UTF-8. */
	static const char r3[] =
		"{\"id\":\"x.y-z_~!$&'()*+,;=:@\",\"name\":\"\xc3\x89mile "
		"\xc3\x85se\",\"avatar\":\"https://example.com/e.png\","
		"\"createdAt\":\"2023-05-03T00:00:00.000Z\"}";
	static const char r4[] =
		"{\"id\":\"\xf0\x9f\x98\x80\",\"name\":\"Smiley \xf0\x9f\x98\x80\","
		"\"avatar\":\"https://example.com/s.png\","
		"\"createdAt\":\"2023-05-04T00:00:00.000Z\"}";
	static const char *const unknown[] = {"a", "\xc3\xa4", "a%20b", "a+b",
	                                      "\xc3\xa4-1 ", "x.y"};
	char path[PATH_MAX], body[2048];
	struct fixture *fx;
	size_t i;

	data_path(path, sizeof(path), "valid/unicode.json");
	fx = load_ok(path);
	ck_assert_uint_eq(fx->count, 4);
	fmt(body, sizeof(body), "[%s,%s,%s,%s]", r1, r2, r3, r4);
	ck_assert_str_eq(fx->body, body);
	ck_assert_msg(users_sorted(fx), "users not sorted by id");
	assert_user(fx, "\xc3\xa4-1", 0, r1);
	assert_user(fx, "a b", 1, r2);
	assert_user(fx, "x.y-z_~!$&'()*+,;=:@", 2, r3);
	assert_user(fx, "\xf0\x9f\x98\x80", 3, r4);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		ck_assert_msg(fixture_find(fx, unknown[i]) == NULL,
		              "fixture_find(\"%s\") found a record", unknown[i]);
	fixture_free(fx);
}
END_TEST

START_TEST(test_fixture_one_record)
{
	char path[PATH_MAX], body[256];
	struct fixture *fx;

	data_path(path, sizeof(path), "valid/one-record.json");
	fx = load_ok(path);
	ck_assert_uint_eq(fx->count, 1);
	fmt(body, sizeof(body), "[%s]", one_record);
	ck_assert_str_eq(fx->body, body);
	assert_user(fx, "42", 0, one_record);
	ck_assert_ptr_eq(fixture_find(fx, "42"), &fx->users[0]);
	ck_assert_ptr_null(fixture_find(fx, "4"));
	ck_assert_ptr_null(fixture_find(fx, "420"));
	fixture_free(fx);
}
END_TEST

/* Check one case of tests/data/invalid: DIR/NAME (a .json file) against
 * the .err file next to it.  Returns 0, or -1 with a reason in WHY. */
static int
check_invalid_case(const char *dir, const char *name, char *why, size_t size)
{
	char path[PATH_MAX], errpath[PATH_MAX], line[2048];
	char expect[2 * ERROR_TEXT_LEN + PATH_MAX];
	struct error err = {0, ""};
	struct fixture *fx;
	const char *msg, *at;
	char *end;
	size_t got, o = 0;
	long code;
	FILE *f;

	fmt(path, sizeof(path), "%s/%s", dir, name);
	fmt(errpath, sizeof(errpath), "%.*s.err",
	    (int)(strlen(path) - strlen(".json")), path);
	f = fopen(errpath, "r");
	if (f == NULL) {
		tu_say(why, size, "cannot open %s: %s", errpath, strerror(errno));
		return -1;
	}
	got = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[got] = '\0';
	/* One line: "CODE MESSAGE\n". */
	code = strtol(line, &end, 10);
	if (end == line || *end != ' ' || got == 0 || line[got - 1] != '\n' ||
	    strchr(line, '\n') != line + got - 1 || strlen(line) != got) {
		tu_say(why, size, "malformed %s: want one line \"CODE MESSAGE\"",
		    errpath);
		return -1;
	}
	line[got - 1] = '\0';
	/* Replace each @FILE@ with PATH. */
	for (msg = end + 1; (at = strstr(msg, "@FILE@")) != NULL &&
	     o < sizeof(expect); msg = at + 6)
		o += (size_t)snprintf(expect + o, sizeof(expect) - o, "%.*s%s",
		                      (int)(at - msg), msg, path);
	if (o >= sizeof(expect) ||
	    (size_t)snprintf(expect + o, sizeof(expect) - o, "%s", msg) >=
	    sizeof(expect) - o) {
		tu_say(why, size, "%s: expected message too long", errpath);
		return -1;
	}

	fx = fixture_load(path, &err);
	if (fx != NULL) {
		tu_say(why, size, "loaded (%zu records), expected %ld \"%s\"",
		    fx->count, code, expect);
		fixture_free(fx);
		return -1;
	}
	if (err.code != code || strcmp(err.text, expect) != 0) {
		tu_say(why, size, "got %d \"%s\", expected %ld \"%s\"", err.code,
		    err.text, code, expect);
		return -1;
	}
	for (msg = err.text; *msg != '\0'; msg++) {
		if ((unsigned char)*msg < 0x20 || *msg == 0x7f) {
			tu_say(why, size, "message contains control byte 0x%02x",
			    (unsigned)(unsigned char)*msg);
			return -1;
		}
	}
	return 0;
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* Every tests/data/invalid/CASE.json is rejected with the code and the
 * exact message of CASE.err. */
START_TEST(test_fixture_invalid_files)
{
	char dir[PATH_MAX], why[4096], report[32768];
	struct dirent **names;
	size_t used = 0;
	int n, i, cases = 0, bad = 0;

	report[0] = '\0';
	data_path(dir, sizeof(dir), "invalid");
	n = scandir(dir, &names, NULL, alphasort);
	ck_assert_msg(n >= 0, "cannot read %s: %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		int failed = 0;

		if (has_suffix(name, ".json")) {
			cases++;
			failed = check_invalid_case(dir, name, why, sizeof(why)) < 0;
		} else if (has_suffix(name, ".err")) {
			char json[PATH_MAX];
			struct stat st;

			fmt(json, sizeof(json), "%s/%.*s.json", dir,
			    (int)(strlen(name) - strlen(".err")), name);
			if (stat(json, &st) != 0) {
				tu_say(why, sizeof(why), "no matching .json file");
				failed = 1;
			}
		}
		if (failed) {
			bad++;
			fprintf(stderr, "check_fixture: invalid/%s: %s\n", name, why);
			if (used < sizeof(report))
				used += (size_t)snprintf(report + used,
				                         sizeof(report) - used,
				                         "\n  %s: %s", name, why);
		}
		free(names[i]);
	}
	free(names);
	ck_assert_msg(bad == 0, "%d invalid case(s) failed:%s", bad, report);
	ck_assert_msg(cases >= MIN_INVALID_CASES,
	              "only %d cases in %s, expected at least %d", cases, dir,
	              MIN_INVALID_CASES);
}
END_TEST

/* Content the loader rejects whose exact message is not pinned yet (see
 * the report of this suite): only the code and location are checked. */
START_TEST(test_fixture_missing_file)
{
	char path[PATH_MAX], text[ERROR_TEXT_LEN];

	tmp_path(path, sizeof(path), "missing.json");
	fmt(text, sizeof(text),
	    "%s: cannot open: No such file or directory", path);
	load_fails(path, EXIT_NOINPUT, text);
}
END_TEST

START_TEST(test_fixture_directory)
{
	char path[PATH_MAX], text[ERROR_TEXT_LEN];

	tmp_path(path, sizeof(path), "dir.json");
	ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s: %s", path,
	              strerror(errno));
	fmt(text, sizeof(text), "%s: is a directory", path);
	load_fails(path, EXIT_NOINPUT, text);
}
END_TEST

START_TEST(test_fixture_dangling_symlink)
{
	char path[PATH_MAX], text[ERROR_TEXT_LEN];

	tmp_path(path, sizeof(path), "dangling.json");
	ck_assert_msg(symlink("no-such-target.json", path) == 0, "symlink %s: %s",
	              path, strerror(errno));
	fmt(text, sizeof(text),
	    "%s: cannot open: No such file or directory", path);
	load_fails(path, EXIT_NOINPUT, text);
}
END_TEST

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A FIFO must be refused at once, not opened: open(2) on a FIFO blocks
 * until a writer appears.  A helper process opens the write end after a
 * second, so that a loader which blocks makes the test fail, not hang. */
START_TEST(test_fixture_fifo)
{
	char path[PATH_MAX], text[ERROR_TEXT_LEN];
	struct error err = {0, ""};
	struct timespec t0;
	struct fixture *fx;
	double secs;
	pid_t pid;

	tmp_path(path, sizeof(path), "fifo.json");
	ck_assert_msg(mkfifo(path, 0644) == 0, "mkfifo %s: %s", path,
	              strerror(errno));
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int i, fd = -1;

		sleep(1);
		for (i = 0; i < 1000 && fd < 0; i++) {
			fd = open(path, O_WRONLY | O_NONBLOCK);
			if (fd < 0)
				usleep(10000);
		}
		if (fd >= 0)
			close(fd);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fx = fixture_load(path, &err);
	secs = elapsed(&t0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fixture_free(fx);
	ck_assert_msg(secs < 0.5, "fixture_load blocked %.1f s in open() on a "
	              "FIFO, until a writer appeared", secs);
	ck_assert_ptr_null(fx);
	ck_assert_int_eq(err.code, EXIT_NOINPUT);
	fmt(text, sizeof(text), "%s: not a regular file", path);
	ck_assert_str_eq(err.text, text);

	load_fails("/dev/null", EXIT_NOINPUT, "/dev/null: not a regular file");
}
END_TEST

START_TEST(test_fixture_unreadable)
{
	char locked[PATH_MAX], readable[PATH_MAX], text[ERROR_TEXT_LEN];
	const char *lpath = locked, *rpath = readable;
	struct fixture *fx;

	tmp_path(locked, sizeof(locked), "locked.json");
	tmp_path(readable, sizeof(readable), "readable.json");
	write_file(locked, "[]", 0000);
	write_file(readable, "[]", 0644);
	if (geteuid() == 0) {
		if (!forking) {
			printf("test_fixture_unreadable: skipped: running as root, "
			       "dropping privileges needs CK_FORK\n");
			return;
		}
		/* This process is the forked test: drop root for good.  Relative
		 * paths from the 0711 scratch directory, so that the parents of
		 * AVATAR_API_TMPDIR need not be searchable by nobody. */
		ck_assert_msg(chdir(tmpdir) == 0, "chdir %s: %s", tmpdir,
		              strerror(errno));
		ck_assert_msg(setgroups(0, NULL) == 0 && setgid(65534) == 0 &&
		              setuid(65534) == 0,
		              "cannot drop privileges: %s", strerror(errno));
		ck_assert_int_eq(geteuid(), 65534);
		lpath = "locked.json";
		rpath = "readable.json";
	}
	/* The same content with read permission loads: the failure below is
	 * due to the file's mode alone. */
	fx = load_ok(rpath);
	ck_assert_uint_eq(fx->count, 0);
	fixture_free(fx);
	fmt(text, sizeof(text), "%s: cannot open: Permission denied", lpath);
	load_fails(lpath, EXIT_NOINPUT, text);
}
END_TEST

/* Sparse files: just over the limit is refused before reading; exactly
 * the limit is read and parsed (and fails as JSON, not for its size). */
START_TEST(test_fixture_too_large)
{
	char path[PATH_MAX], text[ERROR_TEXT_LEN], prefix[PATH_MAX + 16];
	struct error err = {0, ""};
	int fd;

	tmp_path(path, sizeof(path), "large.json");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	ck_assert_int_eq(ftruncate(fd, (off_t)FIXTURE_MAX_BYTES + 1), 0);
	fmt(text, sizeof(text), "%s: file too large (%llu bytes, limit %u)",
	    path, (unsigned long long)FIXTURE_MAX_BYTES + 1,
	    FIXTURE_MAX_BYTES);
	load_fails(path, EXIT_DATAERR, text);

	ck_assert_int_eq(ftruncate(fd, (off_t)FIXTURE_MAX_BYTES), 0);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_ptr_null(fixture_load(path, &err));
	ck_assert_int_eq(err.code, EXIT_DATAERR);
	fmt(prefix, sizeof(prefix), "%s:1:", path);
	ck_assert_msg(strncmp(err.text, prefix, strlen(prefix)) == 0,
	              "at the limit: want a JSON error, got: %s", err.text);
	ck_assert_msg(strstr(err.text, "too large") == NULL,
	              "at the limit: refused for its size: %s", err.text);
}
END_TEST

static Suite *
fixture_suite(void)
{
	Suite *s = suite_create("fixture");
	TCase *core = tcase_create("core");
	TCase *errors = tcase_create("errors");

	tcase_add_test(core, test_fixture_bundled_body);
	tcase_add_test(core, test_fixture_bundled_find);
	tcase_add_test(core, test_fixture_bundled_records);
	tcase_add_test(core, test_fixture_find_unknown);
	tcase_add_test(core, test_fixture_free_null);
	tcase_add_test(core, test_fixture_extra_fields);
	tcase_add_test(core, test_fixture_empty_array);
	tcase_add_test(core, test_fixture_unicode);
	tcase_add_test(core, test_fixture_one_record);
	suite_add_tcase(s, core);

	/* Unchecked: created and removed once by the parent process, so that
	 * a test that fails or drops root does not leak the directory. */
	tcase_add_unchecked_fixture(errors, tmp_setup, tmp_teardown);
	tcase_add_test(errors, test_fixture_invalid_files);
	tcase_add_test(errors, test_fixture_missing_file);
	tcase_add_test(errors, test_fixture_directory);
	tcase_add_test(errors, test_fixture_dangling_symlink);
	tcase_add_test(errors, test_fixture_fifo);
	tcase_add_test(errors, test_fixture_unreadable);
	tcase_add_test(errors, test_fixture_too_large);
	suite_add_tcase(s, errors);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fixture_suite());
	int failed;

	forking = srunner_fork_status(sr) != CK_NOFORK;
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
