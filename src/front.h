/* front.h -- relay mode's front end: the relay thread answers the common
 * request itself, and hands every other connection to libmicrohttpd.
 *
 * Why (bench/NOTES.md, "Issue 15"): a relayed answer through
 * libmicrohttpd 0.9.75 costs 1.74x what the machine allows (rawrelay,
 * one epoll loop; 1.10x through here): suspending and resuming the connection takes two
 * epoll_ctl calls, waking the relay thread and then the worker two
 * eventfd writes and reads and a context switch or two, and the answer
 * made per request nineteen allocations.  Here the client's socket is in
 * the relay thread's own epoll set, next to the upstream connections: a
 * request is read, sent upstream, and its answer written in one thread,
 * in five system calls (the client's read and answer, the upstream's
 * request and answer, and the relay client's look before it reuses an
 * upstream connection), as nginx's proxy or h2o's does.
 *
 * What it answers itself: a GET of the list or of a record (its id of
 * unreserved characters only), HTTP/1.1, with no field but Host,
 * User-Agent, Accept and one Accept-Encoding (forwarded), read whole in
 * one piece with nothing after it -- what benchmark tools, HTTP client
 * libraries and an avatar-api relay in front send.  Its answers are the
 * bytes libmicrohttpd would send (their heads are made at start from
 * the same libmicrohttpd responses; check_relay compares the two).
 * Anything else -- another method or path, a field that asks something
 * of the answer (conditionals, Origin, Connection, an id, a body),
 * pipelined or partial requests, a refusal of the framing check pending,
 * a stopping server -- hands the connection, with the bytes read so far
 * (wire_stash), to libmicrohttpd, which serves it from then on as in
 * fixture mode.  The framing check (wire.c) sees every byte first, as
 * for libmicrohttpd.
 *
 * Only in epoll mode and without --access-log (server.c decides).
 *
 * Thread rules: front_take runs on the acceptor thread (a lock and a
 * wake-up per connection); everything else on the relay thread, through
 * the hooks of front_hooks. */
#ifndef AVATAR_FRONT_H
#define AVATAR_FRONT_H

#include <sys/socket.h>

#include "acceptor.h"
#include "epoch.h"
#include "error.h"
#include "relay.h"
#include "routes.h"

struct MHD_Daemon;
struct front;

/* What the front end works with, owned by the server: set in
 * front_bind, before the acceptor starts. */
struct front_env {
	struct relay *relay;
	struct acceptor *acceptor;
	struct deadlines *deadlines;   /* NULL without --timeout */
	struct epoch *epoch;
	struct routes *const *active;  /* the published set (an acquire
	                                * load, between epoch_enter and
	                                * epoch_leave) */
	struct MHD_Daemon *daemon;     /* where connections are handed */
};

/* A front end whose answers carry the headers R's answers carry (its
 * options: Cache-Control, Vary, the CORS slots), for the descriptors
 * wire.c covers (call after wire_new).  Returns NULL with ERR set
 * (EXIT_OSERR) if out of memory. */
struct front *front_new(const struct routes *r, struct error *err);

/* The relay hooks to give relay_start. */
void front_hooks(struct front *f, struct relay_front *hooks);

/* Give F what it works with (copied).  Before acceptor_hand_to. */
void front_bind(struct front *f, const struct front_env *env);

/* The acceptor's hand-over (acceptor_hand_fn; ARG is the front end). */
void front_take(void *arg, int fd, const struct sockaddr *sa, socklen_t len);

/* Requests the front end answered, and connections it handed to
 * libmicrohttpd.  Any thread (relaxed loads). */
void front_counts(const struct front *f, unsigned long *answered,
                  unsigned long *handed);

/* Free F, after the relay thread ended (relay_stop).  F may be NULL. */
void front_free(struct front *f);

#endif
