/* upconn.h -- the relay's upstream connections: a keep-alive pool, HTTP/1.1 on each. */
#ifndef AVATAR_UPCONN_H
#define AVATAR_UPCONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "relay.h"

/*
 * A pool of at most N non-blocking connections to the upstream, each
 * carrying one exchange at a time: the one prebuilt request sent (with
 * the request's own target suffix and header lines spliced in), the
 * answer's head parsed (upstream.c) and checked, its body read into the
 * request's own buffer.  The pool's owner queues the requests and picks
 * the connection for each (upconn_take_idle, upconn_make_room,
 * upconn_start, upconn_open); the pool reports each exchange's end
 * through the END callback given to upconn_pool_new.
 *
 * Threads: a pool belongs to one thread (the relay thread), which makes
 * every call and receives every END callback, except upconn_connects
 * (any thread) and upconn_req_reset (whoever owns the request).
 */

struct upconn;
struct upconn_pool;

/* Room for the forwarded header lines: X-Request-Id and traceparent
 * (ACCESSLOG_ID_MAX bytes each), If-None-Match, If-Match and
 * Accept-Encoding (RELAY_FIELD_MAX each), names and line ends: 1,871
 * bytes (relay.c checks it at compile time). */
#define UPCONN_FWD_MAX 1920

/* Non-2xx statuses that end an exchange as an answer (RELAY_OK, the
 * status in upconn_req.status) rather than as RELAY_STATUS: each is right
 * only for the request that may get it. */
#define UPCONN_ACCEPT_304 1u  /* If-None-Match was sent */
#define UPCONN_ACCEPT_412 2u  /* If-Match was sent */
#define UPCONN_ACCEPT_404 4u  /* a record was asked for */

/* One request's side of an exchange, embedded in the owner's request:
 * the buffer its body is read into (grown by the pool, up to max_bytes
 * and a little slack, and kept between requests) and the connection
 * carrying it, which the pool sets when it starts the exchange and the
 * owner clears when it takes the request back.  Fixed buffers for the
 * rest: nothing is allocated per exchange. */
struct upconn_req {
	char *buf;
	size_t len, cap;
	struct upconn *upc;
	int error;       /* the errno of a failed connect (UPCONN_UNREACHABLE) */
	/* The owner's until the exchange starts (relay_forward,
	 * relay_target write them): header lines sent after the prebuilt
	 * request's own, the bytes sent right after the upstream's path
	 * (a record's "/" and id; empty for the path alone), and the
	 * statuses taken as answers (UPCONN_ACCEPT_*). */
	char fwd[UPCONN_FWD_MAX];
	size_t fwd_len;
	char target[RELAY_ID_MAX + 2];
	size_t target_len;
	unsigned accept;
	/* The answer's, set by the pool: its status (0 if none came), and
	 * when the exchange ends with RELAY_OK its ETag (if an entity-tag
	 * of at most RELAY_ETAG_MAX bytes, else "") and its Content-Encoding
	 * ("" for none or identity), NUL-terminated, and a 304's
	 * Content-Length (its 200's size; 0 if none). */
	unsigned status;
	unsigned long long declared;
	char etag[RELAY_ETAG_MAX + 1];
	char coding[RELAY_CODING_MAX + 1];
};

/* How an exchange ended. */
enum upconn_end {
	UPCONN_DONE,        /* with KIND: the request's result */
	UPCONN_BROKEN,      /* a reused connection broke before any byte of
	                     * the answer (the upstream closed it while idle,
	                     * most likely): the request may be sent once more
	                     * on a fresh connection, else KIND is its result */
	UPCONN_UNREACHABLE  /* the connect failed (KIND is RELAY_CONNECT):
	                     * another address may be tried */
};

/* REQ's exchange ended as HOW says.  Its connection is already back in
 * the pool (idle) or closed; REQ is the owner's again.  Called from
 * within upconn_start, upconn_open and upconn_event. */
typedef void upconn_end_fn(void *owner, struct upconn_req *req,
                           enum upconn_end how, enum relay_kind kind);

/* A pool of N connection slots (none open yet).  Its sockets are added
 * to EPFD with event keys never 0 (the owner may use 0 for its own), to
 * be passed to upconn_event.  REQUEST (REQUEST_LEN bytes, ending with
 * the empty line) is sent on every exchange, with the request's TARGET
 * after its first PATH_END bytes (the end of the request line's path)
 * and the request's FWD lines before its empty line, in one sendmsg;
 * it must outlive the pool.  A body over MAX_BYTES ends its exchange
 * with RELAY_TOO_LARGE.  Returns NULL if out of memory. */
struct upconn_pool *upconn_pool_new(unsigned n, int epfd, const char *request,
                                    size_t request_len, size_t path_end,
                                    size_t max_bytes, upconn_end_fn *end,
                                    void *owner);

/* Close every connection and free P.  P may be NULL. */
void upconn_pool_free(struct upconn_pool *p);

/* The latest idle connection that is still clean (upconn.c:
 * conn_reusable), taken off the idle list; those found not clean are
 * closed on the way.  NULL if none is left. */
struct upconn *upconn_take_idle(struct upconn_pool *p);

/* Whether a new connection may be opened: fewer than N are open, or an
 * idle one could be closed to make room (it is). */
int upconn_make_room(struct upconn_pool *p);

/* Start REQ's exchange on C, from upconn_take_idle. */
void upconn_start(struct upconn_pool *p, struct upconn *c,
                  struct upconn_req *req);

/* Start REQ's exchange on a new connection to SA (LEN bytes), after
 * upconn_make_room said yes.  A connect that fails at once ends it at
 * once. */
void upconn_open(struct upconn_pool *p, struct upconn_req *req,
                 const struct sockaddr_storage *sa, socklen_t len);

/* End REQ's exchange (on REQ->upc) without a callback: its time ran
 * out.  The connection is closed.  Returns 1 if it was still
 * connecting (the address may be gone), else 0. */
int upconn_abort(struct upconn_pool *p, struct upconn_req *req);

/* Go on with the connection whose event key is KEY (not 0), given epoll's
 * EVENTS for it.  An event for a connection closed since is ignored. */
void upconn_event(struct upconn_pool *p, uint64_t key, uint32_t events);

/* Close every open connection, without callbacks (the owner is
 * stopping and has ended every request). */
void upconn_close_all(struct upconn_pool *p);

/* Connections opened so far (a relaxed read: any thread). */
unsigned long upconn_connects(const struct upconn_pool *p);

/* Empty REQ's body for the next request, freeing a buffer grown large
 * so that idle requests keep little memory. */
void upconn_req_reset(struct upconn_req *req);

#endif
