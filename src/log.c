/* log.c -- one-line diagnostics on stderr, never on the request path. */
#include <stdio.h>
#include <string.h>

#include "log.h"

#define LOG_LINE_MAX 1024

static void __attribute__((format(printf, 2, 0)))
log_write(const char *level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int n, m;

	n = snprintf(line, sizeof(line), "%s", level);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	/* MHD ends its messages with a newline; keep exactly one, and turn
	 * any inside the message into spaces so that it stays one line. */
	while (n > 0 && line[n - 1] == '\n')
		n--;
	for (m = 0; m < n; m++)
		if (line[m] == '\n' || line[m] == '\r')
			line[m] = ' ';
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write("", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write("avatar-api: warning: ", fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write("avatar-api: ", fmt, ap);
	va_end(ap);
}

void
log_mhd(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_write("avatar-api: libmicrohttpd: ", fmt, ap);
}
