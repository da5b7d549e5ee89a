/* log.h -- one-line diagnostics on stderr, never on the request path. */
#ifndef AVATAR_LOG_H
#define AVATAR_LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <time.h>

/* --log-format: how lines are written (the access log's, accesslog.h). */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Write the formatted message as one line on stderr: log_info as is, for
 * normal events; log_warn after "avatar-api: warning: ", for trouble the
 * service survives; log_error after "avatar-api: ", for what stops it.
 * Newlines inside the message become spaces; a line longer than 1023
 * bytes is cut.  Each line is written with a single
 * call, so lines from different threads do not interleave. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A libmicrohttpd MHD_OPTION_EXTERNAL_LOGGER callback: MHD's own messages
 * go through log_warn, without the trailing newline MHD adds. */
void log_mhd(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* How often a repeated report may be logged: MHD's messages here, the
 * acceptor's refusals (acceptor.c). */
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
