/* check_log.c -- unit tests for log.c and relay_report.c: prefixes, formats, one line, truncation, rate limits. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <check.h>
#include <jansson.h>

#include "testutil.h"

#include "log.h"
#include "relay_report.h"

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
	                 "avatar-api: warning: libmicrohttpd: Failed to bind to "
	                 "port 80: Permission denied\n"
	                 "avatar-api: warning: libmicrohttpd: no newline 2\n");
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
	const char *prefix = "avatar-api: warning: libmicrohttpd: ";

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

/* --- text: time and level --- */

/* The seconds since the epoch of the RFC 3339 time at LINE's start. */
static time_t
line_time(const char *line)
{
	struct tm tm;
	int ms;

	memset(&tm, 0, sizeof(tm));
	ck_assert_int_eq(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ",
	                        &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms), 7);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* The text format, its stderr not the journal's. */
static void
setup_text(void)
{
	unsetenv("JOURNAL_STREAM");
	log_setup(LOG_FORMAT_TEXT);
}

START_TEST(test_log_text_levels)
{
	/* The log's clock, CLOCK_REALTIME: time() reads the coarse one,
	 * up to a tick behind, and once said 1796416328 for a line of
	 * ...329 written before it. */
	struct timespec ts;
	time_t before, after;
	const char *line2, *line3;

	clock_gettime(CLOCK_REALTIME, &ts);
	before = ts.tv_sec;
	setup_text();
	capture_begin();
	log_info("x %d", 1);
	log_warn("lowered --max-connections to %u", 1000u);
	log_error("%s: cannot open: %s", "/x.json", "No such file");
	capture_end();
	clock_gettime(CLOCK_REALTIME, &ts);
	after = ts.tv_sec;
	ck_assert_uint_eq(count_newlines(captured, captured_len), 3);
	line2 = strchr(captured, '\n') + 1;
	line3 = strchr(line2, '\n') + 1;
	ck_assert_ptr_nonnull(tu_log_msg(captured, "info"));
	ck_assert(strncmp(tu_log_msg(captured, "info"), "x 1\n", 4) == 0);
	ck_assert_ptr_nonnull(tu_log_msg(line2, "warning"));
	ck_assert(strncmp(tu_log_msg(line2, "warning"),
	                  "lowered --max-connections to 1000\n", 34) == 0);
	ck_assert_ptr_nonnull(tu_log_msg(line3, "error"));
	ck_assert_str_eq(tu_log_msg(line3, "error"),
	                 "/x.json: cannot open: No such file\n");
	/* UTC, to the second of the clock (and its milliseconds). */
	ck_assert_int_ge(line_time(captured), before);
	ck_assert_int_le(line_time(line3), after);
	ck_assert_int_eq(captured[23], 'Z');
}
END_TEST

START_TEST(test_log_text_one_line)
{
	setup_text();
	capture_begin();
	log_info("two\nlines\r\n");
	log_error("a\nb");
	capture_end();
	ck_assert_uint_eq(count_newlines(captured, captured_len), 2);
	ck_assert(strncmp(tu_log_msg(captured, "info"), "two lines \n", 11)
	          == 0);
	ck_assert_str_eq(tu_log_msg(strchr(captured, '\n') + 1, "error"),
	                 "a b\n");
}
END_TEST

START_TEST(test_log_text_long_cut)
{
	char big[5001];
	const char *msg;
	size_t i;

	setup_text();
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_begin();
	log_warn("%s", big);
	capture_end();
	ck_assert_uint_eq(captured_len, LOG_LINE_MAX);
	ck_assert_uint_eq(count_newlines(captured, captured_len), 1);
	msg = tu_log_msg(captured, "warning");
	ck_assert_ptr_nonnull(msg);
	for (i = (size_t)(msg - captured); i < captured_len - 1; i++)
		ck_assert_int_eq(captured[i], 'm');
}
END_TEST

/* --- the journal: <N> and no time --- */

/* Say that stderr (the capture file, after capture_begin) is the
 * journal's stream, as systemd does; or, if OTHER, another stream. */
static void
journal_stream(int other)
{
	struct stat st;
	char v[64];

	ck_assert(fstat(2, &st) == 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino + (other ? 1 : 0));
	setenv("JOURNAL_STREAM", v, 1);
}

START_TEST(test_log_journal_priority)
{
	capture_begin();
	journal_stream(0);
	log_setup(LOG_FORMAT_TEXT);
	log_info("Listening on %s", "x");
	log_warn("refused %d connections", 3);
	log_error("SIGHUP: reload failed");
	capture_end();
	unsetenv("JOURNAL_STREAM");
	ck_assert_str_eq(captured, "<6>info: Listening on x\n"
	                 "<4>warning: refused 3 connections\n"
	                 "<3>error: SIGHUP: reload failed\n");
}
END_TEST

/* A child whose stderr was redirected inherits JOURNAL_STREAM: it must
 * not take its stderr for the journal (sd-daemon compares the inode). */
START_TEST(test_log_journal_other_stream)
{
	static const char *const values[] = {"", "1", "1:", ":2", "x:y",
	                                     "12:34:56"};
	size_t i;

	capture_begin();
	journal_stream(1);
	log_setup(LOG_FORMAT_TEXT);
	log_info("a");
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		setenv("JOURNAL_STREAM", values[i], 1);
		log_setup(LOG_FORMAT_TEXT);
		log_info("a");
	}
	capture_end();
	unsetenv("JOURNAL_STREAM");
	ck_assert_ptr_nonnull(tu_log_find(captured, "info", "a"));
	ck_assert(strchr(captured, '<') == NULL);
	ck_assert_uint_eq(count_newlines(captured, captured_len),
	                  1 + sizeof(values) / sizeof(values[0]));
}
END_TEST

START_TEST(test_log_journal_json)
{
	json_t *o;

	capture_begin();
	journal_stream(0);
	log_setup(LOG_FORMAT_JSON);
	log_warn("w");
	capture_end();
	unsetenv("JOURNAL_STREAM");
	ck_assert(strncmp(captured, "<4>{\"time\":\"", 12) == 0);
	o = json_loads(captured + 3, 0, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")),
	                 "warning");
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(o, "time"))),
	                  24);
	json_decref(o);
}
END_TEST

/* --- JSON --- */

static json_t *
parse_line(const char *line)
{
	json_error_t e;
	json_t *o = json_loadb(line, strcspn(line, "\n"),
	                       JSON_REJECT_DUPLICATES, &e);

	ck_assert_msg(o != NULL, "not JSON (%s): %s", e.text, line);
	ck_assert(json_is_object(o));
	return o;
}

START_TEST(test_log_json_keys)
{
	const struct log_field f[] = {
		{"kind", "connect", 0}, {"count", NULL, 37},
	};
	const char *k[] = {"time", "level", "msg", "kind", "count"};
	json_t *o;
	size_t i;

	unsetenv("JOURNAL_STREAM");
	log_setup(LOG_FORMAT_JSON);
	capture_begin();
	log_event(LOG_LEVEL_WARNING, f, 2, "upstream: %d requests failed", 37);
	capture_end();
	ck_assert_uint_eq(count_newlines(captured, captured_len), 1);
	ck_assert(strncmp(captured, "{\"time\":\"", 9) == 0);
	ck_assert_str_eq(captured + 33, "\",\"level\":\"warning\",\"msg\":"
	                 "\"upstream: 37 requests failed\",\"kind\":\"connect\","
	                 "\"count\":37}\n");
	o = parse_line(captured);
	ck_assert_uint_eq(json_object_size(o), 5);
	for (i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(json_object_get(o, k[i]));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "count")), 37);
	ck_assert_int_le(labs((long)(line_time(json_string_value(
	                 json_object_get(o, "time"))) - time(NULL))), 5);
	json_decref(o);

	capture_begin();
	log_info("i");
	log_error("e");
	capture_end();
	ck_assert(strstr(captured, "\"level\":\"info\",\"msg\":\"i\"}\n") != NULL);
	ck_assert(strstr(captured, "\"level\":\"error\",\"msg\":\"e\"}\n") != NULL);
}
END_TEST

/* Whatever the message holds, the line is one JSON object whose msg is
 * the message (a newline inside it a space, as in text). */
static const struct {
	const char *in, *msg;
} json_cases[] = {
	{"quote \" and backslash \\ and slash /",
	 "quote \" and backslash \\ and slash /"},
	{"tab\there, cr\rthere, nl\nhere", "tab\there, cr there, nl here"},
	{"\x01\x02\x1b[31mred\x1b[0m\x1f\x7f", "\x01\x02\x1b[31mred\x1b[0m\x1f\x7f"},
	{"UTF-8: \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xe4\xb8\xad",
	 "UTF-8: \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xe4\xb8\xad"},
	{"bad UTF-8: \xff \xc3( \xed\xa0\x80 \xc0\xaf end",
	 "bad UTF-8: \xef\xbf\xbd \xef\xbf\xbd( \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	 " \xef\xbf\xbd\xef\xbf\xbd end"},
	{"</script><html>{\"a\":[1]}", "</script><html>{\"a\":[1]}"},
};

START_TEST(test_log_json_escaped)
{
	const struct log_field f[] = {{"reason", json_cases[_i].in, 0}};
	json_t *o;

	unsetenv("JOURNAL_STREAM");
	log_setup(LOG_FORMAT_JSON);
	capture_begin();
	log_event(LOG_LEVEL_INFO, f, 1, "%s", json_cases[_i].in);
	capture_end();
	ck_assert_uint_eq(count_newlines(captured, captured_len), 1);
	o = parse_line(captured);
	ck_assert_str_eq(json_string_value(json_object_get(o, "msg")),
	                 json_cases[_i].msg);
	/* A field is escaped the same way (its newlines kept, escaped). */
	ck_assert_ptr_nonnull(json_string_value(json_object_get(o, "reason")));
	json_decref(o);
}
END_TEST

static const struct {
	const char *in;
	size_t len;
	const char *out;
} escape_cases[] = {
	{"plain", 5, "plain"},
	{"a\"b", 3, "a\\\"b"},
	{"\\", 1, "\\\\"},
	{"\n\r\t", 3, "\\n\\r\\t"},
	{"\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f"},
	{"\b\f", 2, "\\u0008\\u000c"},
	{"nul\0x", 5, "nul\\u0000x"},
	{"\xc3\xa9", 2, "\xc3\xa9"},
	{"\xf0\x9d\x84\x9e", 4, "\xf0\x9d\x84\x9e"},
	{"\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf"},       /* U+10FFFF */
	{"\xf4\x90\x80\x80", 4,                           /* past it */
	 "\\ufffd\\ufffd\\ufffd\\ufffd"},
	{"\xc3", 1, "\\ufffd"},                           /* cut short */
	{"\xe2\x82", 2, "\\ufffd\\ufffd"},
	{"\xc0\xaf", 2, "\\ufffd\\ufffd"},                /* overlong */
	{"\xe0\x80\xaf", 3, "\\ufffd\\ufffd\\ufffd"},
	{"\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd"},     /* surrogate */
	{"\x80", 1, "\\ufffd"},
};

START_TEST(test_log_json_escape_exact)
{
	char out[128];
	size_t n = log_json_escape(out, sizeof(out), escape_cases[_i].in,
	                           escape_cases[_i].len);

	ck_assert_str_eq(out, escape_cases[_i].out);
	ck_assert_uint_eq(n, strlen(escape_cases[_i].out));
}
END_TEST

/* An escape or a UTF-8 sequence is never cut. */
START_TEST(test_log_json_escape_room)
{
	char out[8];

	ck_assert_uint_eq(log_json_escape(out, 4, "ab\"", 3), 2);
	ck_assert_str_eq(out, "ab");
	ck_assert_uint_eq(log_json_escape(out, 6, "\x01", 1), 0);
	ck_assert_uint_eq(log_json_escape(out, 7, "\x01", 1), 6);
	ck_assert_uint_eq(log_json_escape(out, 4, "a\xe2\x82\xac", 4), 1);
	ck_assert_str_eq(out, "a");
	ck_assert_uint_eq(log_json_escape(out, 1, "abc", 3), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

/* A long message is cut, the object kept whole: at most a line, valid
 * JSON, its fields there. */
START_TEST(test_log_json_long_cut)
{
	const struct log_field f[] = {{"kind", "timeout", 0},
	                              {"count", NULL, -5}};
	char big[5001];
	const char *msg;
	json_t *o;
	size_t i;

	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = "q\"\\\x01\xc3\xa9"[i % 6];
	big[sizeof(big) - 1] = '\0';
	unsetenv("JOURNAL_STREAM");
	log_setup(LOG_FORMAT_JSON);
	capture_begin();
	log_event(LOG_LEVEL_ERROR, f, 2, "%s", big);
	capture_end();
	ck_assert_uint_le(captured_len, LOG_LINE_MAX);
	ck_assert_uint_ge(captured_len, LOG_LINE_MAX - 8);
	ck_assert_uint_eq(count_newlines(captured, captured_len), 1);
	o = parse_line(captured);
	msg = json_string_value(json_object_get(o, "msg"));
	ck_assert_ptr_nonnull(msg);
	ck_assert_uint_gt(strlen(msg), 300);
	ck_assert(strncmp(msg, big, strlen(msg)) == 0);
	ck_assert_str_eq(json_string_value(json_object_get(o, "kind")),
	                 "timeout");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "count")), -5);
	json_decref(o);
}
END_TEST

/* --- libmicrohttpd's HTML --- */

/* The pages of libmicrohttpd 0.9.75's error answers (connection.c:
 * REQUEST_TOO_BIG, REQUEST_LACKS_HOST, REQUEST_CONTENTLENGTH_TOOLARGE),
 * which it puts in "Error processing request (HTTP response code is %u
 * ('%s')). Closing connection." */
#define MHD_ERROR_FMT "Error processing request (HTTP response code is " \
	"%u ('%s')). Closing connection.\n"
#define MHD_TOO_BIG "<html><head><title>Request too big</title></head>" \
	"<body>Your HTTP header was too big for the memory constraints of " \
	"this webserver.</body></html>"

static const struct {
	const char *in, *out;
} html_cases[] = {
	{"Error processing request (HTTP response code is 431 ('"
	 MHD_TOO_BIG "')). Closing connection.",
	 "Error processing request (HTTP response code is 431 ('Request too "
	 "big: Your HTTP header was too big for the memory constraints of "
	 "this webserver.')). Closing connection."},
	{"<html><head><title>&quot;Host:&quot; header required</title></head>"
	 "<body>In HTTP 1.1, requests must include a &quot;Host:&quot; header, "
	 "and your HTTP 1.1 request lacked such a header.</body></html>",
	 "\"Host:\" header required: In HTTP 1.1, requests must include a "
	 "\"Host:\" header, and your HTTP 1.1 request lacked such a header."},
	{"<html><head><title>Request content too large</title></head>"
	 "<body>Your HTTP request has too large value for <b>Content-Length</b>"
	 " header.</body></html>",
	 "Request content too large: Your HTTP request has too large value "
	 "for Content-Length header."},
	{"<html><title>Oops!</title><body>More\n  text</body></html>",
	 "Oops! More text"},
	{"<HTML><BODY>x &amp; y &lt;z&gt;</BODY></HTML> tail", "x & y <z> tail"},
	{"unended <html><title>T</title><body>text", "unended T: text"},
	{"a < b and c > d, <b>not a page</b>", "a < b and c > d, <b>not a page</b>"},
	{"two: <html><p>one</p></html> and <html><p>two</p></html>.",
	 "two: one and two."},
	{"", ""},
};

START_TEST(test_log_strip_html)
{
	char buf[1024];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", html_cases[_i].in);
	n = log_strip_html(buf);
	ck_assert_str_eq(buf, html_cases[_i].out);
	ck_assert_uint_eq(n, strlen(html_cases[_i].out));
}
END_TEST

/* What libmicrohttpd logs for a header too big, through log_mhd. */
START_TEST(test_log_mhd_html)
{
	setup_text();
	capture_begin();
	call_mhd(NULL, MHD_ERROR_FMT, 431u, MHD_TOO_BIG);
	capture_end();
	ck_assert_uint_eq(count_newlines(captured, captured_len), 1);
	ck_assert_ptr_nonnull(tu_log_msg(captured, "warning"));
	ck_assert_str_eq(tu_log_msg(captured, "warning"),
	                 "libmicrohttpd: Error processing request (HTTP response "
	                 "code is 431 ('Request too big: Your HTTP header was "
	                 "too big for the memory constraints of this "
	                 "webserver.')). Closing connection.\n");
	ck_assert(strchr(captured, '<') == NULL);
}
END_TEST

/* --- the relay's failures (relay_report.c), on a clock of our own --- */

#define T0 1000000u /* any time but 0 */

static unsigned
lines_with(const char *what)
{
	const char *p = captured;
	unsigned n = 0;

	while ((p = strstr(p, what)) != NULL) {
		n++;
		p += strlen(what);
	}
	return n;
}

/* The first failure is logged at once; the next are counted, and
 * logged when their interval ends, which relay_report_due says. */
START_TEST(test_report_first_then_counted)
{
	struct relay_report r;
	unsigned i;

	setup_text();
	relay_report_init(&r, 2000);
	capture_begin();
	relay_report_failure(&r, RELAY_CONNECT, ECONNREFUSED, T0);
	capture_end();
	ck_assert_str_eq(tu_log_msg(captured, "warning"), "upstream: 1 request "
	                 "failed: connect (connection refused)\n");

	capture_begin();
	for (i = 0; i < 1000; i++)
		relay_report_failure(&r, RELAY_CONNECT, ECONNREFUSED, T0 + i);
	ck_assert_int_eq(relay_report_due(&r, T0 + 1000), 9000);
	capture_end();
	ck_assert_uint_eq(captured_len, 0);

	capture_begin();
	ck_assert_int_eq(relay_report_due(&r, T0 + 10000), -1);
	capture_end();
	ck_assert_str_eq(tu_log_msg(captured, "warning"), "upstream: 1000 "
	                 "requests failed in the last 10 s: connect (last: "
	                 "connection refused)\n");
	ck_assert_int_eq(relay_report_tick(&r), -1);

	/* Still failing: counted again, for 10 s from that line. */
	capture_begin();
	relay_report_failure(&r, RELAY_CONNECT, ETIMEDOUT, T0 + 10001);
	ck_assert_int_eq(relay_report_due(&r, T0 + 10002), 9998);
	capture_end();
	ck_assert_uint_eq(captured_len, 0);

	/* Then quiet for an interval: its count comes out on time, and the
	 * next failure is logged at once again. */
	capture_begin();
	relay_report_due(&r, T0 + 20000);
	relay_report_failure(&r, RELAY_CONNECT, EHOSTUNREACH, T0 + 30000);
	capture_end();
	ck_assert_uint_eq(count_newlines(captured, captured_len), 2);
	ck_assert_ptr_nonnull(tu_log_find(captured, "warning", "upstream: 1 "
	                                  "request failed in the last 10 s: "
	                                  "connect (last: connection timed "
	                                  "out)"));
	ck_assert_ptr_nonnull(tu_log_find(captured, "warning", "upstream: 1 "
	                                  "request failed: connect (no route "
	                                  "to host)"));
}
END_TEST

/* The first success after failures: the counts, then the recovery. */
START_TEST(test_report_recovery)
{
	struct relay_report r;
	unsigned i;

	setup_text();
	relay_report_init(&r, 300);
	relay_report_ok(&r); /* nothing to say */
	capture_begin();
	relay_report_failure(&r, RELAY_TIMEOUT, 0, T0);
	for (i = 0; i < 5; i++)
		relay_report_failure(&r, RELAY_TIMEOUT, 0, T0 + 100);
	relay_report_recovered(&r, T0 + 1500);
	relay_report_ok(&r);
	ck_assert_int_eq(relay_report_tick(&r), -1);
	capture_end();
	ck_assert_uint_eq(count_newlines(captured, captured_len), 3);
	ck_assert_ptr_nonnull(tu_log_find(captured, "warning", "upstream: 1 "
	                                  "request failed: timeout (no whole "
	                                  "answer within 300 ms)\n"));
	ck_assert_ptr_nonnull(tu_log_find(captured, "warning", "upstream: 5 "
	                                  "requests failed in the last 2 s: "
	                                  "timeout (last: no whole answer "
	                                  "within 300 ms)\n"));
	ck_assert_ptr_nonnull(tu_log_find(captured, "info", "upstream: "
	                                  "answering again after 6 failures\n"));
}
END_TEST

/* Each kind has its own line at once. */
START_TEST(test_report_per_kind)
{
	struct relay_report r;

	setup_text();
	relay_report_init(&r, 2000);
	capture_begin();
	relay_report_failure(&r, RELAY_CONNECT, ECONNREFUSED, T0);
	relay_report_failure(&r, RELAY_STATUS, 0, T0 + 1);
	relay_report_failure(&r, RELAY_BODY, 0, T0 + 2);
	relay_report_failure(&r, RELAY_STATUS, 0, T0 + 3);
	capture_end();
	ck_assert_uint_eq(count_newlines(captured, captured_len), 3);
	ck_assert_uint_eq(lines_with(": connect ("), 1);
	ck_assert_uint_eq(lines_with(": status ("), 1);
	ck_assert_uint_eq(lines_with(": body ("), 1);
	capture_begin();
	relay_report_flush(&r, T0 + 4);
	capture_end();
	ck_assert_ptr_nonnull(tu_log_find(captured, "warning", "upstream: 1 "
	                                  "request failed in the last 1 s: "
	                                  "status (last: a status other than "
	                                  "2xx)\n"));
}
END_TEST

/* An upstream failing one request in two for a minute: a few lines per
 * interval (the first failure and the recovery at once, then the count
 * and the held recovery), not one per request, and the recovery at the
 * end. */
START_TEST(test_report_flapping)
{
	struct relay_report r;
	uint64_t t;

	setup_text();
	relay_report_init(&r, 2000);
	capture_begin();
	for (t = T0; t < T0 + 60000; t += 10) {
		relay_report_failure(&r, RELAY_PROTOCOL, 0, t);
		relay_report_recovered(&r, t + 5);
		relay_report_due(&r, t + 6);
	}
	relay_report_flush(&r, t);
	capture_end();
	fprintf(stderr, "flapping for 60 s, 6000 failures: %zu lines\n",
	        count_newlines(captured, captured_len));
	ck_assert_uint_le(count_newlines(captured, captured_len), 2 * 6 + 2);
	/* Each line of failures followed by one of the recovery. */
	ck_assert_uint_eq(lines_with("upstream: answering again"),
	                  lines_with(" failed"));
	ck_assert_uint_eq(r.failures, 0);
}
END_TEST

START_TEST(test_report_json)
{
	struct relay_report r;
	json_t *o;

	unsetenv("JOURNAL_STREAM");
	log_setup(LOG_FORMAT_JSON);
	relay_report_init(&r, 2000);
	capture_begin();
	relay_report_failure(&r, RELAY_CONNECT, ECONNREFUSED, T0);
	relay_report_failure(&r, RELAY_CONNECT, ECONNREFUSED, T0 + 1);
	relay_report_failure(&r, RELAY_CONNECT, ECONNREFUSED, T0 + 2);
	relay_report_recovered(&r, T0 + 3);
	capture_end();
	ck_assert_uint_eq(count_newlines(captured, captured_len), 3);
	o = parse_line(captured);
	ck_assert_str_eq(json_string_value(json_object_get(o, "kind")),
	                 "connect");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "count")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(o, "reason")),
	                 "connection refused");
	json_decref(o);
	o = parse_line(strchr(captured, '\n') + 1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "count")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")),
	                 "warning");
	json_decref(o);
	o = parse_line(strchr(strchr(captured, '\n') + 1, '\n') + 1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "count")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")),
	                 "info");
	json_decref(o);
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

	/* After the command-line style (CK_FORK=no runs them in order). */
	tc = tcase_create("text");
	tcase_add_test(tc, test_log_text_levels);
	tcase_add_test(tc, test_log_text_one_line);
	tcase_add_test(tc, test_log_text_long_cut);
	suite_add_tcase(s, tc);

	tc = tcase_create("journal");
	tcase_add_test(tc, test_log_journal_priority);
	tcase_add_test(tc, test_log_journal_other_stream);
	tcase_add_test(tc, test_log_journal_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, test_log_json_keys);
	tcase_add_loop_test(tc, test_log_json_escaped, 0,
	                    sizeof(json_cases) / sizeof(json_cases[0]));
	tcase_add_loop_test(tc, test_log_json_escape_exact, 0,
	                    sizeof(escape_cases) / sizeof(escape_cases[0]));
	tcase_add_test(tc, test_log_json_escape_room);
	tcase_add_test(tc, test_log_json_long_cut);
	suite_add_tcase(s, tc);

	tc = tcase_create("html");
	tcase_add_loop_test(tc, test_log_strip_html, 0,
	                    sizeof(html_cases) / sizeof(html_cases[0]));
	tcase_add_test(tc, test_log_mhd_html);
	suite_add_tcase(s, tc);

	tc = tcase_create("relay");
	tcase_add_test(tc, test_report_first_then_counted);
	tcase_add_test(tc, test_report_recovery);
	tcase_add_test(tc, test_report_per_kind);
	tcase_add_test(tc, test_report_flapping);
	tcase_add_test(tc, test_report_json);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(log_suite());
}
