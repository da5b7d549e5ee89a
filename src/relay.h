/* relay.h -- the upstream client: GET the upstream's URL, report the outcome. */
#ifndef AVATAR_RELAY_H
#define AVATAR_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

struct relay;
struct relay_job;

/* How an upstream request ended: OK, or the error counted in /metrics
 * (the status the server answers with, proxy.c, in the comment). */
enum relay_kind {
	RELAY_OK,
	RELAY_CONNECT,      /* refused, unreachable, unresolvable: 502 */
	RELAY_TIMEOUT,      /* no whole answer within the timeout: 504 */
	RELAY_STATUS,       /* a status other than 2xx: 502 */
	RELAY_CONTENT_TYPE, /* not application/json (or +json): 502 */
	RELAY_TOO_LARGE,    /* body over --upstream-max-bytes: 502 */
	RELAY_BODY,         /* empty, or not starting with { or [: 502 */
	RELAY_PROTOCOL,     /* reset, garbage, cut short: 502 */
	RELAY_STOPPED,      /* the relay is stopping: 503 */
	RELAY_KIND_COUNT
};

/* How a done job ended.  BODY is the upstream's body (RELAY_OK only,
 * else NULL and LEN 0): the job's own buffer, not copied, valid until
 * relay_release, so that it can be sent as is. */
struct relay_outcome {
	enum relay_kind kind;
	char *body;
	size_t len;
};

/* A job is done: OUT is its outcome (as relay_outcome), ARG what was
 * given to relay_submit.  Runs on the relay thread, or in relay_submit
 * itself when the relay is stopping, right after the job is marked done
 * (relay_done is then true): from its call on the job is the
 * submitter's again.  It must not block; it may release the job. */
typedef void relay_done_fn(void *arg, struct relay_job *job,
                           const struct relay_outcome *out);

/* Upper bounds of the duration histogram's buckets, in microseconds
 * (relay_counters.buckets has one more: over the top). */
#define RELAY_BUCKETS 14
extern const unsigned long relay_bucket_us[RELAY_BUCKETS];

/* The relay's counters, as relay_counters_read copies them. */
struct relay_counters {
	unsigned long requests;                  /* ended, whatever the kind */
	unsigned long connects;                  /* TCP connections opened */
	unsigned long sum_us;                    /* total duration */
	unsigned long errors[RELAY_KIND_COUNT];  /* by kind (RELAY_OK: 0) */
	unsigned long buckets[RELAY_BUCKETS + 1];/* durations, not cumulative */
};

/* Start the relay for CFG->upstream: a thread that drives every upstream
 * request with its own HTTP/1.1 client (epoll, non-blocking sockets)
 * over at most CFG->upstream_connections keep-alive connections, and a
 * pool of at most connections + CFG->upstream_queue request slots.  The
 * upstream's host is resolved here, once (and again later by a thread of
 * its own when connects fail, if it is a name).  BLOCKING (for
 * thread-per-connection mode) makes relay_wait usable.  Returns the
 * relay, or NULL with ERR set: EXIT_USAGE for an https:// or malformed
 * URL, EXIT_UNAVAILABLE for a host that does not resolve, EXIT_OSERR
 * otherwise. */
struct relay *relay_start(const struct config *cfg, int blocking,
                          struct error *err);

/* Take a free request slot.  Returns NULL when every slot is in use
 * (answer at once that the relay is busy) or the relay is stopping.  Any
 * thread (one lock). */
struct relay_job *relay_acquire(struct relay *rl);

/* Forward REQUEST_ID as X-Request-Id and TRACEPARENT as traceparent
 * (either may be NULL) with JOB's upstream request.  A value that is
 * not 1 to ACCESSLOG_ID_MAX (128) bytes of printable ASCII is not
 * forwarded: an id cut short would name another request.  Call after
 * relay_acquire, before relay_submit; without it nothing is added.
 * Copies; allocates nothing. */
void relay_forward(struct relay_job *job, const char *request_id,
                   const char *traceparent);

/* Send JOB's upstream request; DONE (with ARG) is called once it is
 * done.  DONE may be NULL for a submitter that waits with relay_wait
 * (a relay started BLOCKING).  If the relay is stopping, the job is done
 * at once (RELAY_STOPPED) and DONE called before this returns.  Any
 * thread (one lock; one write to wake the relay thread if it sleeps). */
void relay_submit(struct relay_job *job, relay_done_fn *done, void *arg);

/* Non-zero once JOB's upstream request has ended (an acquire load). */
int relay_done(const struct relay_job *job);

/* Block until JOB is done (a relay started BLOCKING). */
void relay_wait(struct relay_job *job);

/* When JOB was submitted (clock_us): for the request's duration. */
uint64_t relay_job_started_us(const struct relay_job *job);

/* The outcome of the done JOB, valid until relay_release. */
const struct relay_outcome *relay_outcome(const struct relay_job *job);

/* Return JOB's slot, its body with it: the job is done and its body no
 * longer used (sent, or the client left).  Any thread (one lock). */
void relay_release(struct relay_job *job);

/* Stop taking requests, end those in flight or waiting (RELAY_STOPPED:
 * their DONE is called, or their waiter woken) and join the relay's
 * threads.  RL may be NULL; a second call does nothing. */
void relay_stop(struct relay *rl);

/* Free RL after relay_stop and after every job was released (their
 * slots are freed here).  RL may be NULL. */
void relay_free(struct relay *rl);

/* Copy RL's counters into OUT: relaxed loads, each counter whole, not
 * one snapshot of them all.  Any thread. */
void relay_counters_read(struct relay *rl, struct relay_counters *out);

/* How long a failed connect counts: see relay_reachable. */
#define RELAY_UNREACHABLE_MS 10000u

/* Non-zero unless the upstream request that ended last failed to connect
 * (refused, unreachable, no address: RELAY_CONNECT), less than
 * RELAY_UNREACHABLE_MS before NOW_MS (clock_ms).  Any answer, even a
 * non-2xx or a bad one, proves the upstream reachable; a timeout changes
 * nothing; with no request yet it is reachable.  One relaxed load: any
 * thread, on the request path (/readyz). */
int relay_reachable(struct relay *rl, uint64_t now_ms);

/* KIND's name in /metrics ("ok", "connect", "timeout", ...). */
const char *relay_kind_name(enum relay_kind kind);

#endif
