/* accesslog.h -- the optional access log: one line per request, written
 * in batches by a thread of its own. */
#ifndef AVATAR_ACCESSLOG_H
#define AVATAR_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "log.h"

struct MHD_Connection;

/*
 * --access-log FILE|-: one line per request the access handler saw
 * (requests the framing check refuses are answered by wire.c and not
 * logged), text or JSON by --log-format:
 *
 *   127.0.0.1 - - [2024-05-01T12:34:56.789Z] "GET /v1/user HTTP/1.1" 200 5043 0.000123 "abc-1"
 *   {"time":"2024-05-01T12:34:56.789Z","client":"127.0.0.1","method":"GET",
 *    "path":"/v1/user","protocol":"HTTP/1.1","status":200,"bytes":5043,
 *    "duration":0.000123,"request_id":"abc-1"}
 *
 * The path is the decoded path libmicrohttpd routes on; in quoted fields
 * '"', '\' and every byte outside 0x20-0x7e are escaped (\xHH in text,
 * \" \\ \u00HH in JSON), so no request can forge or cut a line.  The
 * request id is X-Request-Id, else traceparent, when it is 1 to
 * ACCESSLOG_ID_MAX bytes of printable ASCII (else "-", JSON null).  The
 * duration runs from the handler's first call for the request to its
 * completion notification.  bytes is the response body's length (0 for
 * HEAD).
 *
 * No allocation, lock or blocking call per request: each thread that
 * logs appends its lines to a ring of its own (made on its first line:
 * that allocates, once per thread), which the writer thread empties
 * with write(2) at least every second, and as soon as a ring is half
 * full.  A line that does not fit in its ring is dropped and counted
 * (accesslog_dropped; a warning at most every LOG_REPORT_SECONDS).
 * The per-request fields wait between the handler and the completion in
 * a table indexed by descriptor, mapped lazily like wire.c's.
 *
 * Threads: accesslog_open and accesslog_close are main's, once per
 * process, before the server starts and after it stopped; the request
 * calls come from the thread serving the connection.
 */

/* The longest request id logged or forwarded (relay.h). */
#define ACCESSLOG_ID_MAX 128

/* Non-zero while the log is open: the request calls below may be made
 * only then.  Read once per hook, a plain load. */
extern int accesslog_on;

/* Open PATH ("-": standard output) for appending, in FORMAT, start the
 * writer thread, with rings of RING_SIZE bytes (0: the default, 64
 * KiB; a power of two).  Returns 0, or -1 with ERR set (EXIT_IOERR
 * when PATH cannot be opened, EXIT_OSERR otherwise). */
int accesslog_open(const char *path, enum log_format format,
                   size_t ring_size, struct error *err);

/* Stop the writer thread after it has written every line logged so far,
 * and close the file.  Call after the server stopped: no line logged
 * before is lost.  Does nothing if the log is not open. */
void accesslog_close(void);

/* Lines dropped so far because a ring was full or a write failed. */
unsigned long accesslog_dropped(void);

/* The handler's first call for a request on FD: its clock starts, and
 * METHOD, URL and VERSION (libmicrohttpd's strings, valid until the
 * completion) are kept. */
void accesslog_begin(int fd, const char *method, const char *url,
                     const char *version);

/* The request on FD is answered with STATUS and a body of BYTES bytes
 * (the caller gives 0 for HEAD). */
void accesslog_answer(int fd, unsigned status, uint64_t bytes);

/* The request on CONN (descriptor FD) ended: log its line.  A request
 * that accesslog_begin did not see is not logged. */
void accesslog_completed(struct MHD_Connection *conn, int fd);

/* A request id as ACCESSLOG_ID_MAX says, or NULL: S if it is one, else
 * NULL (S may be NULL).  *LEN receives its length. */
const char *accesslog_id(const char *s, size_t *len);

#endif
