/* acceptor.h -- the listening socket and the thread that accepts its
 * clients and hands them to libmicrohttpd, within the connection limit.
 *
 * The acceptor counts the connections it hands over until they are
 * closed (or shut down early: a deadline, a half-closed peer), refuses
 * those over the limit or beyond the descriptors it can watch with a
 * 503, watches each client for its peer half-closing, and sweeps the
 * request deadlines.  Its lock serialises what shuts a descriptor down
 * by number (the sweep, a half-close) with libmicrohttpd's close
 * notification (acceptor_closing), so that no descriptor is shut down
 * after it was closed and reused. */
#ifndef AVATAR_ACCEPTOR_H
#define AVATAR_ACCEPTOR_H

#include <sys/socket.h>

#include "deadline.h"
#include "error.h"
#include "wire.h"

struct MHD_Daemon;
struct acceptor;

/* File descriptors kept for things other than connections: stdio, the
 * listening socket, each worker's epoll and wake-up descriptors, the
 * acceptor's spare descriptor, ... */
#define ACCEPTOR_FD_RESERVE(threads) (32u + 4u * (threads))

/* The period of acceptor_close_idle: how long a client that got an
 * answer without "Connection: close" just before the stop has to send its
 * next request, which then gets "Connection: close" rather than being
 * cut.  On loopback a client sends it within microseconds; 20 ms leaves
 * room for a client thread not scheduled at once on a busy machine,
 * and idle connections are closed 20 to 25 ms after the stop. */
#define ACCEPTOR_QUIET_MS 20u

/* Fit WANTED connections, served by THREADS threads, into the open-file
 * limit: raise the soft limit towards the hard one if needed, else lower
 * the count with a warning.  Returns the connection limit to use. */
unsigned acceptor_fit_connections(unsigned wanted, unsigned threads);

/* The connection limit to give libmicrohttpd with THREADS threads: one
 * it cannot reach (see acceptor.c). */
unsigned acceptor_mhd_limit(unsigned threads);

/* Open, bind and listen on ADDRESS:PORT (0 picks a free port), for at
 * most MAX_CONNECTIONS connections at a time, whose bytes W checks and
 * whose request deadlines D holds (D may be NULL).  W and D must outlive
 * the acceptor.  Returns the acceptor, not yet accepting, or NULL with
 * ERR set: EXIT_UNAVAILABLE (address in use, not available,
 * unresolvable), EXIT_NOPERM (privileged port) or EXIT_OSERR. */
struct acceptor *acceptor_new(const char *address, unsigned port,
                              unsigned max_connections, struct wire *w,
                              struct deadlines *d, struct error *err);

/* Open, bind and listen on ADDRESS:PORT, non-blocking, as acceptor_new
 * does (another listener: --admin-port).  Returns the socket, *FAMILY
 * and *BOUND (the port) set, or -1 with ERR set as acceptor_new. */
int acceptor_listen(const char *address, unsigned port, int *family,
                    unsigned *bound, struct error *err);

/* The listening socket's address family (AF_INET or AF_INET6). */
int acceptor_family(const struct acceptor *acc);

/* The TCP port the socket listens on. */
unsigned acceptor_port(const struct acceptor *acc);

/* Where clients go instead of libmicrohttpd: HAND (relay mode's front
 * end, front.c) gets each new client FD, attached to the wire and
 * counted as it would be for libmicrohttpd, with its address SA (LEN
 * bytes, valid during the call), and owns FD from then on: it closes it
 * after acceptor_closing, or hands it to libmicrohttpd.  Runs on the
 * acceptor thread.  Set before acceptor_start. */
typedef void acceptor_hand_fn(void *arg, int fd, const struct sockaddr *sa,
                              socklen_t len);
void acceptor_hand_to(struct acceptor *acc, acceptor_hand_fn *hand,
                      void *arg);

/* Start the thread that accepts clients and hands them to DAEMON.
 * Returns 0, or -1 with ERR set (EXIT_OSERR). */
int acceptor_start(struct acceptor *acc, struct MHD_Daemon *daemon,
                   struct error *err);

/* Stop accepting: end the thread, hand over the clients already waiting
 * in the backlog, then shut the listening socket, so that new connects
 * fail at once.  The count of open connections goes on. */
void acceptor_stop(struct acceptor *acc);

/* Stopping: shut down and count out every connection that has had no
 * request in progress since the previous call (wire_close_idle).  Call
 * after acceptor_stop, every ACCEPTOR_QUIET_MS while draining. */
void acceptor_close_idle(struct acceptor *acc);

/* Free ACC, after acceptor_stop (or if never started) and after
 * MHD_stop_daemon.  ACC may be NULL. */
void acceptor_free(struct acceptor *acc);

/* The connections handed over and not closed yet. */
unsigned acceptor_open(const struct acceptor *acc);

/* Connections refused with a 503: at the limit, and for want of
 * descriptors. */
void acceptor_refused(const struct acceptor *acc, unsigned long *limit,
                      unsigned long *fds);

/* Connections the deadline sweep closed for not sending a whole request
 * in time, and accept calls that failed (out of memory, or of
 * descriptors with the spare gone). */
void acceptor_failed(const struct acceptor *acc, unsigned long *timeouts,
                     unsigned long *accept_errors);

/* FD's connection no longer counts against the limit (once; see
 * wire_count_out). */
void acceptor_count_out(struct acceptor *acc, int fd);

/* libmicrohttpd is closing FD's connection (its close notification,
 * before it closes the descriptor): forget its deadline and its wire
 * state and count it out. */
void acceptor_closing(struct acceptor *acc, int fd);

#endif
