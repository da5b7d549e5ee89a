/* log.c -- one-line diagnostics on stderr, never on the request path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "log.h"

/* Set once by log_setup, before other threads start; read-only after. */
static struct {
	int setup;     /* 0: GNU style, for the command line */
	int journal;   /* stderr is the journal's stream */
	enum log_format format;
} log_conf;

/* Whether stderr is the stream JOURNAL_STREAM ("DEV:INO") names, as
 * sd-daemon(3) tells it: a child whose stderr was redirected inherits
 * the variable but not the stream. */
static int
log_stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	dev = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != ':')
		return 0;
	v = end + 1;
	ino = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void
log_setup(enum log_format format)
{
	log_conf.format = format;
	log_conf.journal = log_stderr_is_journal();
	log_conf.setup = 1;
}

static const char *
level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return "error";
	case LOG_LEVEL_WARNING:
		return "warning";
	default:
		return "info";
	}
}

/* The wall clock in UTC as RFC 3339 with milliseconds, into BUF (at
 * least 96 bytes, which any int fits): "2026-12-04T19:30:01.123Z". */
static void
log_time(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

/* The length of the valid UTF-8 sequence at S (LEN bytes left), or 0
 * (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t
utf8_len(const unsigned char *s, size_t len)
{
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n > len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Write \u00XX for the byte C into ESC (6 bytes). */
static const char *
json_u_escape(char *esc, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	esc[0] = '\\';
	esc[1] = 'u';
	esc[2] = '0';
	esc[3] = '0';
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 0xf];
	return esc;
}

size_t
log_json_escape(char *dst, size_t cap, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, n = 0;

	while (i < len) {
		unsigned char c = s[i];
		char esc[8];
		const char *out = (const char *)s + i;
		size_t k = 2, step = 1;

		if (c == '"')
			out = "\\\"";
		else if (c == '\\')
			out = "\\\\";
		else if (c == '\n')
			out = "\\n";
		else if (c == '\r')
			out = "\\r";
		else if (c == '\t')
			out = "\\t";
		else if (c < 0x20 || c == 0x7f) {
			out = json_u_escape(esc, c);
			k = 6;
		} else if (c < 0x80) {
			k = 1;
		} else if ((step = utf8_len(s + i, len - i)) != 0) {
			k = step;
		} else {
			out = "\\ufffd";
			k = 6;
			step = 1;
		}
		if (n + k > cap - 1)
			break;
		memcpy(dst + n, out, k);
		n += k;
		i += step;
	}
	dst[n] = '\0';
	return n;
}

/* Append the fields to the JSON object in BUF (of SIZE bytes, LEN used);
 * a string is cut to a quarter of a line.  Returns the new length. */
static size_t
json_fields(char *buf, size_t size, size_t len, const struct log_field *f,
            size_t n)
{
	char esc[LOG_LINE_MAX / 4];
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		if (f[i].str != NULL) {
			log_json_escape(esc, sizeof(esc), f[i].str,
			                strlen(f[i].str));
			k = snprintf(buf + len, size - len, ",\"%s\":\"%s\"",
			             f[i].key, esc);
		} else {
			k = snprintf(buf + len, size - len, ",\"%s\":%lld",
			             f[i].key, f[i].num);
		}
		if (k < 0 || (size_t)k >= size - len)
			break; /* this one does not fit: leave it out */
		len += (size_t)k;
	}
	return len;
}

/* Write MSG (LEN bytes, one line, no newline) at LEVEL as one line. */
static void
log_emit(enum log_level level, const struct log_field *fields, size_t n,
         const char *msg, size_t len)
{
	char line[LOG_LINE_MAX], now[96] = "", pri[8] = "";
	size_t used, room, off;
	int k;

	/* The journal stamps each line itself: a text line there has only
	 * the priority; a JSON one keeps its fixed keys. */
	if (log_conf.journal)
		snprintf(pri, sizeof(pri), "<%d>", (int)level);
	if (log_conf.setup && (!log_conf.journal ||
	                       log_conf.format == LOG_FORMAT_JSON))
		log_time(now, sizeof(now));
	if (!log_conf.setup)
		k = snprintf(line, sizeof(line), "%s",
		             level == LOG_LEVEL_ERROR ? "avatar-api: "
		             : level == LOG_LEVEL_WARNING ? "avatar-api: warning: "
		             : "");
	else if (log_conf.format == LOG_FORMAT_TEXT)
		k = snprintf(line, sizeof(line), "%s%s%s%s: ", pri, now,
		             *now != '\0' ? " " : "", level_name(level));
	else
		k = snprintf(line, sizeof(line), "%s{\"time\":\"%s\","
		             "\"level\":\"%s\",\"msg\":\"", pri, now,
		             level_name(level));
	used = k > 0 ? (size_t)k : 0;
	if (log_conf.setup && log_conf.format == LOG_FORMAT_JSON) {
		/* The tail first, so that the message is cut, not the
		 * object: the closing quote, the fields, "}\n". */
		char tail[LOG_LINE_MAX / 2];
		size_t tlen = json_fields(tail, sizeof(tail) - 2, 1, fields, n);

		tail[0] = '"';
		tail[tlen++] = '}';
		tail[tlen++] = '\n';
		room = sizeof(line) - used - tlen;
		used += log_json_escape(line + used, room + 1, msg, len);
		memcpy(line + used, tail, tlen);
		used += tlen;
	} else {
		room = sizeof(line) - 1 - used;
		if (len > room)
			len = room;
		memcpy(line + used, msg, len);
		used += len;
		line[used++] = '\n';
	}
	/* One write(2) per line: a pipe or the journal's socket takes it
	 * whole (at most PIPE_BUF); only a signal may cut it short. */
	for (off = 0; off < used;) {
		ssize_t w = write(STDERR_FILENO, line + off, used - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

/* Format the message into BUF (LOG_LINE_MAX bytes), cut to fit.
 * Returns its length. */
static size_t __attribute__((format(printf, 2, 0)))
log_format_msg(char *buf, const char *fmt, va_list ap)
{
	int m = vsnprintf(buf, LOG_LINE_MAX, fmt, ap);
	size_t n = m < 0 ? 0 : (size_t)m;

	if (n > LOG_LINE_MAX - 1)
		n = LOG_LINE_MAX - 1;
	buf[n] = '\0';
	return n;
}

/* Make BUF (N bytes) one line: the trailing newlines (MHD ends its
 * messages with one) dropped, those inside, and carriage returns, turned
 * into spaces.  Returns the new length. */
static size_t
log_one_line(char *buf, size_t n)
{
	size_t i;

	while (n > 0 && buf[n - 1] == '\n')
		n--;
	for (i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	buf[n] = '\0';
	return n;
}

static void __attribute__((format(printf, 4, 0)))
log_vevent(enum log_level level, const struct log_field *fields, size_t n,
           const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	size_t len = log_format_msg(msg, fmt, ap);

	len = log_one_line(msg, len);

	log_emit(level, fields, n, msg, len);
}

void
log_event(enum log_level level, const struct log_field *fields, size_t n,
          const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(level, fields, n, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(LOG_LEVEL_INFO, NULL, 0, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(LOG_LEVEL_WARNING, NULL, 0, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(LOG_LEVEL_ERROR, NULL, 0, fmt, ap);
	va_end(ap);
}

/* --- libmicrohttpd's messages --- */

/* Whether the tag whose name starts at S (after '<' and any '/') is an
 * inline one, which HTML shows within the text around it. */
static int
tag_inline(const char *s)
{
	static const char *const names[] = {
		"a", "b", "i", "u", "em", "strong", "code", "tt", "span",
		"small", "big", "kbd", "var", "abbr"};
	size_t n = 0, i;

	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
	       (s[n] >= '0' && s[n] <= '9'))
		n++;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0)
			return 1;
	return 0;
}

/* The entities libmicrohttpd 0.9.75 writes, and the other basic ones. */
static const struct {
	const char *name;
	char c;
} entities[] = {
	{"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
	{"&apos;", '\''}, {"&#39;", '\''}, {"&#34;", '"'}, {"&nbsp;", ' '},
};

/* Rewrite the page S[0..END) as text into W (W <= S: the text is never
 * longer than the page).  Returns the end of what was written. */
static char *
strip_page(char *w, const char *s, const char *end)
{
	int text = 0, space = 0, block = 0;
	char last = 0;

	while (s < end) {
		char c = *s;
		const char *gt;
		size_t i;

		if (c == '<' && (gt = memchr(s, '>', (size_t)(end - s))) != NULL) {
			if (!tag_inline(s + 1 + (s[1] == '/')))
				block = text;
			s = gt + 1;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = text;
			s++;
			continue;
		}
		for (i = 0; c == '&' && i < sizeof(entities) / sizeof(entities[0]);
		     i++) {
			size_t n = strlen(entities[i].name);

			if ((size_t)(end - s) >= n &&
			    strncmp(s, entities[i].name, n) == 0) {
				c = entities[i].c;
				s += n - 1;
				break;
			}
		}
		s++;
		if (block && strchr(".!?:;", last) == NULL)
			*w++ = ':';
		if (block || space)
			*w++ = ' ';
		block = space = 0;
		*w++ = c;
		last = c;
		text = 1;
	}
	return w;
}

/* The first "<html" in S, any case, or NULL. */
static char *
find_ci(char *s, const char *what)
{
	size_t n = strlen(what);

	for (; *s != '\0'; s++)
		if (strncasecmp(s, what, n) == 0)
			return s;
	return NULL;
}

size_t
log_strip_html(char *s)
{
	char *p = s, *page, *end, *w;

	while ((page = find_ci(p, "<html")) != NULL) {
		end = find_ci(page, "</html>");
		end = end != NULL ? end + 7 : page + strlen(page);
		w = strip_page(page, page, end);
		memmove(w, end, strlen(end) + 1);
		p = w;
	}
	return strlen(s);
}

void
log_mhd(void *cls, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	size_t n = strlen("libmicrohttpd: "), len;

	(void)cls;
	memcpy(msg, "libmicrohttpd: ", n);
	len = (size_t)vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	if ((int)len < 0)
		len = 0;
	if (len > sizeof(msg) - n - 1)
		len = sizeof(msg) - n - 1;
	msg[n + len] = '\0';
	len = log_strip_html(msg);
	len = log_one_line(msg, len);
	log_emit(LOG_LEVEL_WARNING, NULL, 0, msg, len);
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
