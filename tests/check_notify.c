/* check_notify.c -- unit tests for notify.c: the sd_notify datagram. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>

#include "notify.h"
#include "testutil.h"

/* A datagram socket bound to NAME (a path, or '@' for abstract). */
static int
bind_socket(const char *name)
{
	struct sockaddr_un sa;
	size_t len = strlen(name);
	struct timeval tv = {2, 0};
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	ck_assert(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa,
	                   (socklen_t)(sizeof(sa.sun_family) + len)) == 0,
	              "bind %s", name);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
expect_datagram(int fd, const char *want)
{
	char buf[2048];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	ck_assert_msg(n >= 0, "no datagram received");
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

START_TEST(test_notify_path_socket)
{
	char path[108];
	struct error err = {0, ""};
	int fd;

	snprintf(path, sizeof(path), "%s/notify-%d.sock",
	         tu_env("AVATAR_API_TMPDIR"), (int)getpid());
	if (strlen(path) >= 100) /* sun_path is short; use /tmp then */
		snprintf(path, sizeof(path), "/tmp/avatar-notify-%d.sock",
		         (int)getpid());
	unlink(path);
	fd = bind_socket(path);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	ck_assert_int_eq(notify_send(&err, "READY=1\nSTATUS=Serving %d users",
	                             20), 1);
	expect_datagram(fd, "READY=1\nSTATUS=Serving 20 users");
	ck_assert_int_eq(notify_send(&err, "STOPPING=1"), 1);
	expect_datagram(fd, "STOPPING=1");
	ck_assert_int_eq(err.code, 0);
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(test_notify_abstract_socket)
{
	char name[64];
	struct error err = {0, ""};
	int fd;

	snprintf(name, sizeof(name), "@avatar-api-test-%d", (int)getpid());
	fd = bind_socket(name);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	ck_assert_int_eq(notify_send(&err, "RELOADING=1"), 1);
	expect_datagram(fd, "RELOADING=1");
	close(fd);
}
END_TEST

START_TEST(test_notify_unset_does_nothing)
{
	struct error err = {0, ""};

	ck_assert_int_eq(unsetenv("NOTIFY_SOCKET"), 0);
	ck_assert_int_eq(notify_send(&err, "READY=1"), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(notify_send(&err, "READY=1"), 0);
	ck_assert_int_eq(err.code, 0);
}
END_TEST

START_TEST(test_notify_bad_address)
{
	struct error err = {0, ""};

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
	ck_assert_int_eq(notify_send(&err, "READY=1"), -1);
	ck_assert_str_eq(err.text,
	                 "NOTIFY_SOCKET: unsupported address 'relative/path'");
}
END_TEST

START_TEST(test_notify_nobody_listening)
{
	struct error err = {0, ""};

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock",
	                        1), 0);
	ck_assert_int_eq(notify_send(&err, "READY=1"), -1);
	ck_assert_str_eq(err.text, "NOTIFY_SOCKET /nonexistent/notify.sock: "
	                 "No such file or directory");
}
END_TEST

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *core = tcase_create("core");
	TCase *errors = tcase_create("errors");

	tcase_add_test(core, test_notify_path_socket);
	tcase_add_test(core, test_notify_abstract_socket);
	tcase_add_test(core, test_notify_unset_does_nothing);
	suite_add_tcase(s, core);
	tcase_add_test(errors, test_notify_bad_address);
	tcase_add_test(errors, test_notify_nobody_listening);
	suite_add_tcase(s, errors);
	return s;
}

int
main(void)
{
	return tu_run_suite(notify_suite());
}
