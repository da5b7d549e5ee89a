/* log.h -- one-line diagnostics on stderr, never on the request path. */
#ifndef AVATAR_LOG_H
#define AVATAR_LOG_H

#include <stdarg.h>

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

#endif
