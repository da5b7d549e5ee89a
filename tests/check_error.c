/* check_error.c -- unit tests for error.c: first error wins, truncation. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "testutil.h"

#include "error.h"

/* --- core --- */

START_TEST(test_error_set_records)
{
	struct error err = {0, ""};

	error_set(&err, EXIT_DATAERR, "record %d (id \"%s\"): %s", 3, "7",
	          "bad");
	ck_assert_int_eq(err.code, EXIT_DATAERR);
	ck_assert_str_eq(err.text, "record 3 (id \"7\"): bad");
}
END_TEST

/* Control characters in quoted values cannot split the one line. */
START_TEST(test_error_set_one_line)
{
	struct error err = {0, ""};

	error_set(&err, EXIT_USAGE, "bad '%s'", "a\nb\r\tc\x7f");
	ck_assert_str_eq(err.text, "bad 'a?b??c?'");
}
END_TEST

START_TEST(test_error_set_first_wins)
{
	struct error err = {0, ""};

	error_set(&err, EXIT_NOINPUT, "first %s", "error");
	error_set(&err, EXIT_USAGE, "second");
	ck_assert_int_eq(err.code, EXIT_NOINPUT);
	ck_assert_str_eq(err.text, "first error");
	error_set(&err, EXIT_OSERR, "%s", "third");
	ck_assert_int_eq(err.code, EXIT_NOINPUT);
	ck_assert_str_eq(err.text, "first error");
}
END_TEST

START_TEST(test_error_clear_resets)
{
	struct error err = {0, ""};

	error_set(&err, EXIT_USAGE, "old");
	error_clear(&err);
	ck_assert_int_eq(err.code, 0);
	ck_assert_str_eq(err.text, "");
	error_set(&err, EXIT_UNAVAILABLE, "new %u", 69u);
	ck_assert_int_eq(err.code, EXIT_UNAVAILABLE);
	ck_assert_str_eq(err.text, "new 69");
}
END_TEST

START_TEST(test_error_exit_codes)
{
	/* The values main.c exits with: sysexits(3). */
	ck_assert_int_eq(EXIT_USAGE, 64);
	ck_assert_int_eq(EXIT_DATAERR, 65);
	ck_assert_int_eq(EXIT_NOINPUT, 66);
	ck_assert_int_eq(EXIT_UNAVAILABLE, 69);
	ck_assert_int_eq(EXIT_OSERR, 71);
	ck_assert_int_eq(EXIT_IOERR, 74);
	ck_assert_int_eq(EXIT_NOPERM, 77);
}
END_TEST

/* --- errors --- */

START_TEST(test_error_set_null_is_safe)
{
	error_set(NULL, EXIT_USAGE, "nobody %s", "listens");
	error_clear(NULL);
}
END_TEST

START_TEST(test_error_set_truncates)
{
	char big[2 * ERROR_TEXT_LEN];
	struct error err;

	memset(&err, 'z', sizeof(err));
	err.code = 0;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	error_set(&err, EXIT_DATAERR, "%s", big);
	ck_assert_int_eq(err.code, EXIT_DATAERR);
	ck_assert_uint_eq(strlen(err.text), ERROR_TEXT_LEN - 1);
	ck_assert_int_eq(err.text[ERROR_TEXT_LEN - 1], '\0');
	ck_assert(memcmp(err.text, big, ERROR_TEXT_LEN - 1) == 0);
}
END_TEST

START_TEST(test_error_set_exact_fit)
{
	char text[ERROR_TEXT_LEN];
	struct error err = {0, ""};

	memset(text, 'b', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	error_set(&err, EXIT_IOERR, "%s", text);
	ck_assert_str_eq(err.text, text);
	/* One more character is cut. */
	error_clear(&err);
	error_set(&err, EXIT_IOERR, "%sc", text);
	ck_assert_str_eq(err.text, text);
}
END_TEST

START_TEST(test_error_truncated_then_first_wins)
{
	char big[3 * ERROR_TEXT_LEN];
	struct error err = {0, ""};

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	error_set(&err, EXIT_OSERR, "%s", big);
	error_set(&err, EXIT_USAGE, "short");
	ck_assert_int_eq(err.code, EXIT_OSERR);
	ck_assert_uint_eq(strlen(err.text), ERROR_TEXT_LEN - 1);
	ck_assert_int_eq(err.text[0], 'q');
}
END_TEST

START_TEST(test_error_clear_twice)
{
	struct error err = {0, ""};

	error_clear(&err);
	error_clear(&err);
	ck_assert_int_eq(err.code, 0);
	ck_assert_str_eq(err.text, "");
	error_set(&err, EXIT_NOPERM, "port %d", 80);
	ck_assert_int_eq(err.code, EXIT_NOPERM);
	ck_assert_str_eq(err.text, "port 80");
}
END_TEST

static Suite *
error_suite(void)
{
	Suite *s = suite_create("error");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_error_set_records);
	tcase_add_test(tc, test_error_set_one_line);
	tcase_add_test(tc, test_error_set_first_wins);
	tcase_add_test(tc, test_error_clear_resets);
	tcase_add_test(tc, test_error_exit_codes);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_error_set_null_is_safe);
	tcase_add_test(tc, test_error_set_truncates);
	tcase_add_test(tc, test_error_set_exact_fit);
	tcase_add_test(tc, test_error_truncated_then_first_wins);
	tcase_add_test(tc, test_error_clear_twice);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(error_suite());
}
