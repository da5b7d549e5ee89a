/* log.h -- one-line diagnostics on stderr, never on the request path. */
#ifndef AVATAR_LOG_H
#define AVATAR_LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

/*
 * Every line has a level.  Until log_setup is called (a bad option,
 * --check, --healthcheck: answers to a command someone typed) lines are
 * written as GNU tools write them: "avatar-api: MESSAGE" for an error,
 * "avatar-api: warning: MESSAGE", and an info line as is.  Once the
 * server runs (main calls log_setup), each line is
 *
 *   2026-12-04T19:30:01.123Z info: Listening on ...       (text)
 *   {"time":"2026-12-04T19:30:01.123Z","level":"info","msg":"Listening on ..."}
 *                                                         (json)
 *
 * the time in UTC (RFC 3339, milliseconds).  When stderr is the
 * journal (JOURNAL_STREAM names its device and inode, as sd-daemon(3)
 * checks), a text line has no time (the journal stamps it) and every
 * line starts with the syslog priority, "<3>" to "<7>", which journald
 * takes as the line's priority: journalctl -p warning filters them.
 *
 * Each line is written with one write(2) of at most LOG_LINE_MAX bytes
 * (a longer message is cut), so lines from different threads do not
 * interleave.  Newlines inside a message become spaces.  Any thread,
 * but never the request path: a line costs a system call.
 */

/* The levels, valued as syslog's priorities (the journal's <N>). */
enum log_level {
	LOG_LEVEL_ERROR = 3,   /* what stops the service or fails (a reload) */
	LOG_LEVEL_WARNING = 4, /* trouble the service survives */
	LOG_LEVEL_INFO = 6,    /* normal events: start, reload, stop */
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* The longest line written, its newline included. */
#define LOG_LINE_MAX 1024

/* One field of an event, a JSON key beside time, level and msg: a
 * string when STR is not NULL, else the number NUM.  Text lines do not
 * show them (the message says it in words). */
struct log_field {
	const char *key; /* a fixed ASCII name: not escaped */
	const char *str;
	long long num;
};

/* From now on write lines in FORMAT, with the time, or for the journal
 * with the priority.  Call once, before other threads log (main). */
void log_setup(enum log_format format);

/* Write the formatted message at LEVEL, with the N FIELDS in JSON. */
void log_event(enum log_level level, const struct log_field *fields,
               size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* log_event without fields, at each level. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A libmicrohttpd MHD_OPTION_EXTERNAL_LOGGER callback: MHD's own
 * messages as warnings, after "libmicrohttpd: ", without the trailing
 * newline MHD adds and without the HTML it puts in some (0.9.75's
 * connection.c logs the HTML page of an error answer it makes: see
 * log_strip_html). */
void log_mhd(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Rewrite the HTML pages in the NUL-terminated S (from "<html" to
 * "</html>", any case) as text, in place: a tag that starts or ends a
 * block becomes ": " between two pieces of text (a space after one that
 * ends in punctuation), an inline one (b, i, em, code, ...) nothing;
 * the entities MHD uses are decoded and white space collapsed.  Text
 * outside the pages is left as is.  Returns the new length. */
size_t log_strip_html(char *s);

/* Write SRC (LEN bytes) JSON-escaped into DST, which has room for CAP
 * bytes, and NUL-terminate it: '"', '\\' and control characters
 * escaped, valid UTF-8 copied, each byte of invalid UTF-8 as \ufffd.  An
 * escape is never cut: the output stops before the first that does not
 * fit.  Returns the bytes written (without the NUL).  CAP > 0. */
size_t log_json_escape(char *dst, size_t cap, const char *src, size_t len);

/* How often a repeated report may be logged: MHD's messages here, the
 * acceptor's refusals (acceptor.c), the relay's failures
 * (relay_report.c). */
#define LOG_REPORT_SECONDS 10

/* The messages log_mhd_limited let through, by format string. */
struct log_limit {
	pthread_mutex_t lock;
	struct log_seen {
		const char *fmt;
		time_t at;
		unsigned long skipped;
	} seen[16];
};

/* Set up and tear down L, which the caller owns. */
void log_limit_init(struct log_limit *l);
void log_limit_destroy(struct log_limit *l);

/* log_mhd, but each of MHD's messages at most once every
 * LOG_REPORT_SECONDS (with, when it comes again after that, the count of
 * those left out in between): MHD writes one per connection for some
 * events (a client closed in the middle of its request, by itself or by
 * the deadline sweep; a thread that could not be started), so that a
 * flood of clients would flood the log too.  Messages are told apart by
 * their format string.  CLS is a struct log_limit; any thread (its
 * lock). */
void log_mhd_limited(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif
