/* relay.h -- relay mode: answer GET PATH with an upstream's body. */
#ifndef AVATAR_RELAY_H
#define AVATAR_RELAY_H

#include <stdio.h>

#include "config.h"
#include "error.h"
#include "routes.h"

struct MHD_Connection;
struct MHD_Response;
struct relay;
struct relay_job;

/* How an upstream request ended: OK, or the error counted in /metrics. */
enum relay_kind {
	RELAY_OK,
	RELAY_CONNECT,      /* refused, unreachable, unresolvable: 502 */
	RELAY_TIMEOUT,      /* no whole answer within the timeout: 504 */
	RELAY_STATUS,       /* a status other than 2xx: 502 */
	RELAY_CONTENT_TYPE, /* not application/json (or +json): 502 */
	RELAY_TOO_LARGE,    /* body over --upstream-max-bytes: 502 */
	RELAY_BODY,         /* empty, or not starting with { or [: 502 */
	RELAY_PROTOCOL,     /* reset, garbage, cut short: 502 */
	RELAY_STOPPED,      /* the server is stopping: 503 */
	RELAY_KIND_COUNT
};

/* Start the relay for CFG->upstream: a thread that drives every upstream
 * request with its own HTTP/1.1 client (epoll, non-blocking sockets)
 * over at most CFG->upstream_connections keep-alive connections, and a
 * pool of at most connections + CFG->upstream_queue request slots.  The
 * upstream's host is resolved here, once.  BLOCKING (for
 * thread-per-connection mode) makes relay_wait usable instead of
 * suspending connections.  Returns the relay, or NULL with ERR set:
 * EXIT_USAGE for an https:// or malformed URL, EXIT_UNAVAILABLE for a
 * host that does not resolve, EXIT_OSERR otherwise. */
struct relay *relay_start(const struct config *cfg, int blocking,
                          struct error *err);

/* Take a free request slot.  Returns NULL when every slot is in use
 * (answer 503 at once) or the relay is stopping. */
struct relay_job *relay_acquire(struct relay *rl);

/* Send JOB's upstream request.  In epoll mode CONN must have been
 * suspended by the caller (the handler): it is resumed once the job is
 * done.  If the relay is stopping, the job is done at once
 * (RELAY_STOPPED). */
void relay_submit(struct relay_job *job, struct MHD_Connection *conn);

/* Non-zero once JOB's upstream request has ended. */
int relay_done(const struct relay_job *job);

/* Block until JOB is done (thread-per-connection mode). */
void relay_wait(struct relay_job *job);

/* The answer for the done JOB, to queue then destroy: the upstream body
 * (not copied: the response owns the slot's buffer until libmicrohttpd
 * frees it, which returns the slot) with Content-Type application/json,
 * Engine, Location LOCATION and, if CLOSING, "Connection: close"; or a
 * JSON error (502, 503 or 504), the slot being returned at once.
 * *STATUS and *INDEX receive the HTTP status and its counter.  Returns
 * NULL if out of memory (the slot is returned). */
struct MHD_Response *relay_response(struct relay_job *job,
                                    const char *location, int closing,
                                    unsigned *status,
                                    enum route_status *index);

/* The 503 for a request that found no free slot (relay_acquire gave
 * NULL), with *STATUS and *INDEX set.  Returns NULL if out of memory. */
struct MHD_Response *relay_busy_response(int closing, unsigned *status,
                                         enum route_status *index);

/* Return the done JOB's slot without answering (the client left). */
void relay_release(struct relay_job *job);

/* Stop taking requests, end those in flight (RELAY_STOPPED: their
 * connections are resumed and answered 503) and join the relay thread.
 * Call before MHD_stop_daemon, which must find no suspended connection.
 * RL may be NULL. */
void relay_stop(struct relay *rl);

/* Free RL after relay_stop and after MHD_stop_daemon (responses still
 * holding a slot give it back when libmicrohttpd frees them).  RL may be
 * NULL. */
void relay_free(struct relay *rl);

/* Append the upstream metrics (Prometheus text) to F. */
void relay_metrics(struct relay *rl, FILE *f);

#endif
