/* error.c -- a fixed-size error record: an exit code and one line of text. */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

void
error_set(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (err == NULL || err->code != 0)
		return;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	/* One line, whatever the values quoted in it hold. */
	for (p = err->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void
error_clear(struct error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->text[0] = '\0';
}
