/* check_log.c -- unit tests for log.c: prefixes, one line, truncation. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "testutil.h"

#include "log.h"

#define CAPTURE_MAX 16384

static char captured[CAPTURE_MAX];
static size_t captured_len;
static FILE *capture_file;
static int saved_stderr = -1;

/* Send stderr to a temporary file until capture_end.  No assertion runs in
 * between, so that stderr is always restored, even with CK_FORK=no. */
static void
capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	ck_assert_ptr_nonnull(capture_file);
	saved_stderr = dup(fileno(stderr));
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(dup2(fileno(capture_file), fileno(stderr)), 0);
}

/* Restore stderr and read what was written into CAPTURED (NUL-terminated,
 * CAPTURED_LEN bytes). */
static void
capture_end(void)
{
	int fd = fileno(capture_file);
	int restored;
	ssize_t r;

	fflush(stderr);
	restored = dup2(saved_stderr, fileno(stderr));
	close(saved_stderr);
	saved_stderr = -1;
	captured_len = 0;
	if (lseek(fd, 0, SEEK_SET) == 0) {
		while (captured_len < sizeof(captured) - 1 &&
		       (r = read(fd, captured + captured_len,
		                 sizeof(captured) - 1 - captured_len)) > 0)
			captured_len += (size_t)r;
	}
	captured[captured_len] = '\0';
	fclose(capture_file);
	capture_file = NULL;
	ck_assert_int_ge(restored, 0);
}

/* Call log_mhd the way libmicrohttpd does: through a va_list. */
static void __attribute__((format(printf, 2, 3)))
call_mhd(void *cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_mhd(cls, fmt, ap);
	va_end(ap);
}

static size_t
count_newlines(const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

/* --- core --- */

START_TEST(test_log_info_plain)
{
	capture_begin();
	log_info("x %d", 1);
	capture_end();
	ck_assert_str_eq(captured, "x 1\n");
	ck_assert_uint_eq(captured_len, 4);
}
END_TEST

/* A newline inside a message becomes a space: one call, one line. */
START_TEST(test_log_inner_newline)
{
	capture_begin();
	log_info("two\nlines\r\n");
	log_error("a\nb");
	capture_end();
	ck_assert_str_eq(captured, "two lines \navatar-api: a b\n");
}
END_TEST

START_TEST(test_log_warn_prefix)
{
	capture_begin();
	log_warn("lowered --max-connections to %u", 1000u);
	capture_end();
	ck_assert_str_eq(captured, "avatar-api: warning: "
	                 "lowered --max-connections to 1000\n");
}
END_TEST

START_TEST(test_log_error_prefix)
{
	capture_begin();
	log_error("%s: cannot open: %s", "/x.json", "No such file");
	capture_end();
	ck_assert_str_eq(captured,
	                 "avatar-api: /x.json: cannot open: No such file\n");
}
END_TEST

START_TEST(test_log_mhd_prefix)
{
	int cls = 0;

	/* MHD ends its messages with a newline: it must not be doubled. */
	capture_begin();
	call_mhd(&cls, "Failed to bind to port %u: %s\n", 80u,
	         "Permission denied");
	call_mhd(NULL, "no newline %d", 2);
	capture_end();
	ck_assert_str_eq(captured,
	                 "avatar-api: libmicrohttpd: Failed to bind to port "
	                 "80: Permission denied\n"
	                 "avatar-api: libmicrohttpd: no newline 2\n");
}
END_TEST

START_TEST(test_log_lines_in_order)
{
	capture_begin();
	log_info("one");
	log_warn("two");
	log_error("three");
	log_info("four");
	capture_end();
	ck_assert_str_eq(captured, "one\navatar-api: warning: two\n"
	                 "avatar-api: three\nfour\n");
}
END_TEST

/* --- errors --- */

static const struct {
	const char *message;
	const char *want;
} newline_cases[] = {
	{"a\n", "a\n"},
	{"a\n\n", "a\n"},
	{"a\n\n\n\n", "a\n"},
	{"\n", "\n"},
	{"", "\n"},
};

START_TEST(test_log_one_trailing_newline)
{
	char want[64];

	capture_begin();
	log_info("%s", newline_cases[_i].message);
	capture_end();
	ck_assert_str_eq(captured, newline_cases[_i].want);

	capture_begin();
	log_warn("%s", newline_cases[_i].message);
	capture_end();
	snprintf(want, sizeof(want), "avatar-api: warning: %s",
	         newline_cases[_i].want);
	ck_assert_str_eq(captured, want);

	capture_begin();
	log_error("%s", newline_cases[_i].message);
	capture_end();
	snprintf(want, sizeof(want), "avatar-api: %s", newline_cases[_i].want);
	ck_assert_str_eq(captured, want);
}
END_TEST

/* A message longer than a line is cut: still one line, ending in a
 * newline, at most 1024 bytes, and the prefix kept. */
static void
check_long(void (*fn)(const char *, ...), const char *prefix,
           const char *tail)
{
	char big[5001];
	size_t plen = strlen(prefix), i;

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_begin();
	fn("%s%s", big, tail);
	capture_end();
	ck_assert_uint_le(captured_len, 1024);
	ck_assert_uint_ge(captured_len, 1000);
	ck_assert_uint_eq(strlen(captured), captured_len);
	ck_assert_int_eq(captured[captured_len - 1], '\n');
	ck_assert_uint_eq(count_newlines(captured, captured_len), 1);
	ck_assert(strncmp(captured, prefix, plen) == 0);
	for (i = plen; i < captured_len - 1; i++)
		ck_assert_int_eq(captured[i], 'm');
}

START_TEST(test_log_long_message_cut)
{
	check_long(log_info, "", "");
	check_long(log_warn, "avatar-api: warning: ", "");
	check_long(log_error, "avatar-api: ", "\n");
}
END_TEST

START_TEST(test_log_mhd_long_message_cut)
{
	char big[5001];
	const char *prefix = "avatar-api: libmicrohttpd: ";

	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_begin();
	call_mhd(NULL, "%s\n", big);
	capture_end();
	ck_assert_uint_le(captured_len, 1024);
	ck_assert_uint_ge(captured_len, 1000);
	ck_assert_int_eq(captured[captured_len - 1], '\n');
	ck_assert_uint_eq(count_newlines(captured, captured_len), 1);
	ck_assert(strncmp(captured, prefix, strlen(prefix)) == 0);
	ck_assert_int_eq(captured[captured_len - 2], 'h');
}
END_TEST

/* Messages around the size of the line buffer: never more than one
 * newline, never more than 1024 bytes, and short ones whole. */
START_TEST(test_log_boundary_lengths)
{
	char msg[1100];
	size_t len;

	for (len = 1015; len < 1030; len++) {
		memset(msg, 'b', len);
		msg[len] = '\0';
		capture_begin();
		log_info("%s", msg);
		capture_end();
		ck_assert_uint_le(captured_len, 1024);
		ck_assert_int_eq(captured[captured_len - 1], '\n');
		ck_assert_uint_eq(count_newlines(captured, captured_len), 1);
		if (len + 1 <= 1023)
			ck_assert_uint_eq(captured_len, len + 1);
	}
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_log_info_plain);
	tcase_add_test(tc, test_log_inner_newline);
	tcase_add_test(tc, test_log_warn_prefix);
	tcase_add_test(tc, test_log_error_prefix);
	tcase_add_test(tc, test_log_mhd_prefix);
	tcase_add_test(tc, test_log_lines_in_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_log_one_trailing_newline, 0,
	                    sizeof(newline_cases) / sizeof(newline_cases[0]));
	tcase_add_test(tc, test_log_long_message_cut);
	tcase_add_test(tc, test_log_mhd_long_message_cut);
	tcase_add_test(tc, test_log_boundary_lengths);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(log_suite());
}
