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

void
log_limit_init(struct log_limit *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
}

void
log_limit_destroy(struct log_limit *l)
{
	pthread_mutex_destroy(&l->lock);
}

void
log_mhd_limited(void *cls, const char *fmt, va_list ap)
{
	struct log_limit *l = cls;
	struct log_seen *e = &l->seen[0];
	time_t now = time(NULL), at = 0;
	unsigned long skipped = 0;
	size_t i;

	pthread_mutex_lock(&l->lock);
	for (i = 0; i < sizeof(l->seen) / sizeof(l->seen[0]); i++) {
		if (l->seen[i].fmt == fmt) {
			e = &l->seen[i];
			break;
		}
		if (l->seen[i].at < e->at)
			e = &l->seen[i]; /* the oldest, if FMT is new */
	}
	if (e->fmt == fmt && now - e->at < LOG_REPORT_SECONDS) {
		e->skipped++;
		pthread_mutex_unlock(&l->lock);
		return;
	}
	if (e->fmt == fmt) {
		skipped = e->skipped;
		at = e->at;
	}
	e->fmt = fmt;
	e->at = now;
	e->skipped = 0;
	pthread_mutex_unlock(&l->lock);
	log_mhd(NULL, fmt, ap);
	if (skipped != 0)
		log_warn("(and %lu more like the libmicrohttpd message above "
		         "in the last %lld s)", skipped, (long long)(now - at));
}
