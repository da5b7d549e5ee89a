/* wire.h -- between a client's socket and libmicrohttpd: the framing
 * check on every byte read, the answers written without libmicrohttpd,
 * and the state kept per client descriptor.
 *
 * libmicrohttpd 0.9.75 reads client sockets with recv(2) and shows the
 * handler only what it has parsed: by then an obsolete fold has been
 * joined, a NUL has cut a value short, and its own error answers (two
 * status lines, HTML) have been sent.  The one place where every raw
 * byte can still be seen is that recv call, so this module defines
 * recv() (libmicrohttpd's calls bind to the executable's definition;
 * wire_recv_hooked says whether they did) and runs each client
 * connection's bytes through guard_feed before libmicrohttpd gets them.
 * Descriptors this module was not told about (wire_attach) pass
 * straight through.  A request that breaks the rule is answered here
 * (400, 413, 414, 431, 501 or 505, JSON, "Connection: close"), after
 * the answers to the requests before it, and the connection is closed:
 * libmicrohttpd reads the end of file.
 *
 * The state of each descriptor lives in a process-wide table, one cache
 * line per descriptor, made by the first wire_new, kept until the process
 * ends, and sized to the hard open-file limit (so that no descriptor is
 * beyond it; it is mapped lazily: only the pages of descriptors in use
 * take memory).
 *
 * Thread rules: wire_attach, wire_peer_closed and wire_close_idle are
 * the acceptor's; wire_detach is libmicrohttpd's close notification;
 * the recv hook and wire_completed run on the thread that serves the
 * connection.  Callers serialise wire_detach with wire_peer_closed and
 * wire_close_idle (one lock), so that these never act on a descriptor
 * number that has been reused. */
#ifndef AVATAR_WIRE_H
#define AVATAR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "guard.h"

struct wire;

/* A new set of answers and counters for a server whose libmicrohttpd
 * pool is POOL_SIZE bytes.  Returns NULL with ERR set (EXIT_OSERR) if
 * out of memory. */
struct wire *wire_new(size_t pool_size, struct error *err);

/* Free W once none of its descriptors is attached (after
 * MHD_stop_daemon).  W may be NULL. */
void wire_free(struct wire *w);

/* How many descriptors the state table covers (after the first
 * wire_new): wire_attach refuses those beyond it. */
size_t wire_fds(void);

/* Non-zero if libmicrohttpd's recv calls come here (they do when the
 * program is linked as the Makefile links it). */
int wire_recv_hooked(void);

/* FD is a new client connection of W: its bytes are checked from now
 * on, and it is marked counted in the server's open connections.
 * Returns the generation of FD's slot (non-zero) for wire_peer_closed,
 * or 0 if FD cannot be watched (beyond the table: refuse it).  *STALE is
 * set if the slot was still counted: a connection that libmicrohttpd
 * closed without telling us (it does so only when it runs out of memory
 * for a new one), whose count the new one takes over. */
uint32_t wire_attach(struct wire *w, int fd, int *stale);

/* Mark FD's connection counted out of the open connections.  Returns 1
 * if it was counted (the caller then lowers its count), 0 if it was
 * already counted out.  A connection is counted out once: when the
 * server shuts it down (a deadline, a half-closed peer, a refusal: its
 * client is told at once, and may connect again before libmicrohttpd has
 * closed the socket), or else when libmicrohttpd closes it. */
int wire_count_out(int fd);

/* FD's connection is closing (before its descriptor is closed). */
void wire_detach(int fd);

/* Non-zero if what was read of FD so far ends with exactly one whole
 * request not yet answered (wire_completed), with no byte of another and
 * no refusal pending: the relay's front end may answer it itself. */
int wire_single(int fd);

/* Make the next recv calls on FD return a copy of BUF (LEN bytes, read
 * from FD and fed to its check already) before anything more of the
 * socket: the relay's front end hands a connection on to libmicrohttpd
 * with what it read of it.  Returns 0, or -1 if out of memory.  Freed
 * once read, or at wire_detach.  Call before the hand-over (which
 * publishes it to the thread that reads FD next). */
int wire_stash(int fd, const char *buf, size_t len);

/* A request on FD has been answered (libmicrohttpd's completion).  If
 * a refusal was waiting for it, write the refusal; if the peer has
 * half-closed and nothing more is pending: then shut FD down, so that
 * libmicrohttpd reads the end of file and closes it, and return 1 (else
 * 0). */
int wire_completed(int fd);

/* The acceptor saw FD's peer half-close (EPOLLRDHUP), for the slot of
 * generation GEN.  If the connection is idle (every request answered,
 * nothing unread), shut it down now; else wire_completed will.  Returns
 * 1 if it shut FD down. */
int wire_peer_closed(int fd, uint32_t gen);

/* The server is stopping: shut down every connection of W that is idle
 * (every request begun answered, not a byte of the next one read) and
 * was idle at the previous call too, with no request between; mark the
 * others.  Called every few milliseconds while the server drains, this
 * closes idle keep-alive connections within one period, and leaves a
 * client that just got an answer sent before the stop (without
 * "Connection: close") that long to send its next request, which is
 * then answered with "Connection: close" rather than cut.  Returns how
 * many it shut down and counted out (wire_count_out: the caller lowers
 * its count by that).  Call it with the lock that serialises
 * wire_detach, as wire_peer_closed.  Costs a few loads per descriptor
 * up to the highest one W was given. */
unsigned wire_close_idle(struct wire *w);

/* Write a "503 Service Unavailable" with Retry-After and a JSON body to
 * FD (a client refused at the connection limit), without blocking, and
 * close it. */
void wire_refuse(int fd);

/* Requests W answered itself, by verdict (index 0 unused). */
void wire_rejected(const struct wire *w,
                   unsigned long out[GUARD_VERDICT_COUNT]);

#endif
