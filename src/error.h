/* error.h -- a fixed-size error record: an exit code and one line of text. */
#ifndef AVATAR_ERROR_H
#define AVATAR_ERROR_H

#define ERROR_TEXT_LEN 512

/* Exit codes, from sysexits(3).  Only main.c exits; modules put one of
 * these in struct error so that main knows which one to use. */
#define EXIT_USAGE 64       /* EX_USAGE: bad flag or environment value */
#define EXIT_DATAERR 65     /* EX_DATAERR: the fixture is not valid */
#define EXIT_NOINPUT 66     /* EX_NOINPUT: the fixture cannot be read */
#define EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE: address in use or unavailable */
#define EXIT_OSERR 71       /* EX_OSERR: out of memory, threads, ... */
#define EXIT_IOERR 74       /* EX_IOERR: cannot write to stdout */
#define EXIT_NOPERM 77      /* EX_NOPERM: privileged port */

struct error {
	int code;                  /* one of the EXIT_* values, 0 if unset */
	char text[ERROR_TEXT_LEN]; /* one line, no trailing newline */
};

/* Record an error in ERR unless one is recorded already: the first error
 * wins, as in jansson's json_error_t.  ERR may be NULL.  The text is
 * truncated to fit, and control characters in it (a newline in a quoted
 * value, say) become '?', so that it stays one line. */
void error_set(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Forget any recorded error.  ERR may be NULL. */
void error_clear(struct error *err);

#endif
