/* relay.h -- the upstream client: GET the upstream's URL, report the outcome. */
#ifndef AVATAR_RELAY_H
#define AVATAR_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

struct relay;
struct relay_job;

/* How an upstream request ended: OK (an answer to pass on: a 2xx, or a
 * 304, 412 or 404 the request could get, see relay_outcome), or the
 * error counted in /metrics (the status the server answers with,
 * proxy.c, in the comment). */
enum relay_kind {
	RELAY_OK,
	RELAY_CONNECT,      /* refused, unreachable, unresolvable: 502 */
	RELAY_TIMEOUT,      /* no whole answer within the timeout: 504 */
	RELAY_STATUS,       /* any other status: 502 */
	RELAY_CONTENT_TYPE, /* not application/json (or +json): 502 */
	RELAY_TOO_LARGE,    /* body over --upstream-max-bytes: 502 */
	RELAY_BODY,         /* empty, or not starting with { or [: 502 */
	RELAY_PROTOCOL,     /* reset, garbage, cut short, a 2xx whose
	                     * Content-Encoding cannot be passed on: 502 */
	RELAY_STOPPED,      /* the relay is stopping: 503 */
	RELAY_KIND_COUNT
};

/* The longest record id the relay sends upstream, percent-encoded
 * (target_encode): a 1,024-byte id whose every byte is escaped, the
 * most routes.c makes a Location of. */
#define RELAY_ID_MAX (3u * 1024)
/* A client's If-None-Match, If-Match or Accept-Encoding is forwarded
 * only if it has at most this many bytes (spec 13, section 5). */
#define RELAY_FIELD_MAX 512u
/* The upstream's ETag is passed back only if it has at most this many
 * bytes (as a validator forwarded back must); else it is dropped. */
#define RELAY_ETAG_MAX 512u
/* The upstream's Content-Encoding: a longer one is RELAY_PROTOCOL. */
#define RELAY_CODING_MAX 64u

/*
 * How a done job ended.  With RELAY_OK, STATUS is the upstream's: a 2xx
 * (BODY is its body), or 304 (If-None-Match matched), 412 (If-Match did
 * not) or 404 (the record does not exist), which are answers to pass
 * on, not upstream errors, and come only when the request could get
 * them (see relay_forward, relay_target); BODY is then to be ignored.
 * ETAG is the upstream's ETag (2xx or 304) if it was an entity-tag of at
 * most RELAY_ETAG_MAX bytes, else NULL; ENCODING its Content-Encoding
 * (2xx), NULL for none or identity; DECLARED a 304's Content-Length,
 * the size of its 200 (RFC 9110 8.6; 0 if none).  BODY is the job's own
 * buffer, not copied, and the strings are the job's too: valid until
 * relay_release, so that they can be sent as they are.  Other kinds:
 * STATUS 0 or the refused status, BODY, ETAG and ENCODING NULL, LEN 0.
 */
struct relay_outcome {
	enum relay_kind kind;
	unsigned status;
	char *body;
	size_t len;
	const char *etag;
	const char *encoding;
	unsigned long long declared;
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

/*
 * A front end that serves its clients on the relay thread (front.c), so
 * that a relayed request costs no hand-off between threads: its client
 * descriptors are in the relay's epoll set (relay_epoll) with event data
 * RELAY_FRONT_TAG | a word of its own, which goes to EVENT with the
 * events; TURN runs at every turn of the loop, before waiting jobs are
 * sent (take new clients there); STOPPED once the loop has ended,
 * after every job was done (RELAY_STOPPED for those left).  All three
 * run on the relay thread.  The relay's own event data never has the
 * tag's bit.
 */
#define RELAY_FRONT_TAG ((uint64_t)1 << 63)

struct relay_front {
	void (*event)(void *arg, uint64_t data, uint32_t events);
	void (*turn)(void *arg);
	void (*stopped)(void *arg);
	void *arg;
};

/* Start the relay for CFG->upstream: a thread that drives every upstream
 * request with its own HTTP/1.1 client (epoll, non-blocking sockets)
 * over at most CFG->upstream_connections keep-alive connections, and a
 * pool of at most connections + CFG->upstream_queue request slots.  The
 * upstream's host is resolved here, once (and again later by a thread of
 * its own when connects fail, if it is a name).  BLOCKING (for
 * thread-per-connection mode) makes relay_wait usable.  FRONT (may be
 * NULL) is a front end whose clients the relay thread serves too.  Returns the
 * relay, or NULL with ERR set: EXIT_USAGE for an https:// or malformed
 * URL, EXIT_UNAVAILABLE for a host that does not resolve, EXIT_OSERR
 * otherwise. */
struct relay *relay_start(const struct config *cfg, int blocking,
                          const struct relay_front *front,
                          struct error *err);

/* Take a free request slot.  Returns NULL when every slot is in use
 * (answer at once that the relay is busy) or the relay is stopping.  Any
 * thread (one lock). */
struct relay_job *relay_acquire(struct relay *rl);

/* The client's fields forwarded with a job's upstream request (each
 * NULL when absent). */
struct relay_fields {
	const char *request_id;      /* X-Request-Id */
	const char *traceparent;
	const char *if_none_match;
	const char *if_match;
	const char *accept_encoding;
};

/*
 * Forward F's fields with JOB's upstream request.  X-Request-Id and
 * traceparent: a value that is not 1 to ACCESSLOG_ID_MAX (128) bytes of
 * printable ASCII is not forwarded (an id cut short would name another
 * request).  If-None-Match, If-Match and Accept-Encoding: a value of
 * more than RELAY_FIELD_MAX bytes, or with a byte outside 0x20-0x7e, is
 * not forwarded.  An upstream 304 is an answer only if If-None-Match was
 * forwarded, a 412 only if If-Match was (else they are RELAY_STATUS).
 * Returns 0, or -1 when F has an If-Match that cannot be forwarded: the
 * request must not be made without its precondition (the caller answers
 * 412 itself and releases JOB).  Call after relay_acquire, before
 * relay_submit; without it nothing is added.  Copies; allocates nothing.
 */
int relay_forward(struct relay_job *job, const struct relay_fields *f);

/* Ask for the record ID (NUL-terminated, percent-decoded) instead of the
 * list: the upstream's path, "/" (unless the path ends with one) and ID
 * percent-encoded (target_encode, as Location), before any query of the
 * upstream URL.  An upstream 404 is then an answer (RELAY_OK, status
 * 404).  Returns 0, or -1 if ID is over RELAY_ID_MAX bytes encoded, or
 * empty, "." or ".." (a dot-segment would name the upstream path's own
 * resource or its parent): nothing is set, no record has such an id, the
 * caller answers 404.
 * Call after relay_acquire, before relay_submit; without it the job asks
 * for the list.  Allocates nothing. */
int relay_target(struct relay_job *job, const char *id);

/* The record id JOB asks for, percent-encoded, NUL-terminated (as it
 * ends a Location); NULL for the list.  Valid until relay_release. */
const char *relay_job_id(const struct relay_job *job);

/* A word the submitter keeps with JOB from relay_acquire to
 * relay_release (the relay never reads it): set it, read it. */
void relay_note_set(struct relay_job *job, unsigned note);
unsigned relay_note(const struct relay_job *job);

/* Send JOB's upstream request; DONE (with ARG) is called once it is
 * done.  DONE may be NULL for a submitter that waits with relay_wait
 * (a relay started BLOCKING).  If the relay is stopping, the job is done
 * at once (RELAY_STOPPED) and DONE called before this returns.  Any
 * thread (one lock; one write to wake the relay thread if it sleeps). */
void relay_submit(struct relay_job *job, relay_done_fn *done, void *arg);

/* relay_submit for the relay thread itself (a front end's EVENT): no
 * lock, no wake-up; the job is sent at the loop's next turn.  Relay
 * thread only. */
void relay_submit_here(struct relay_job *job, relay_done_fn *done, void *arg);

/* The relay thread's epoll set, for a front end's descriptors. */
int relay_epoll(const struct relay *rl);

/* Wake the relay thread out of epoll_wait.  Any thread. */
void relay_wake(struct relay *rl);

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
