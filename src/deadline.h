/* deadline.h -- request deadlines: a client must send a whole request
 * within --timeout of connecting or of its previous response.
 *
 * libmicrohttpd's --timeout counts inactivity only, so a client that
 * trickles a header byte a second holds its connection (and in
 * thread-per-connection mode a thread) for ever.  Here, as nginx's
 * client_header_timeout, each connection has a deadline in a slot
 * indexed by its descriptor: libmicrohttpd's notifications arm it when
 * the connection starts and after each response, the handler clears it
 * once the request is in, and the acceptor thread sweeps the slots a few
 * times a second and shuts down the sockets past their deadline
 * (libmicrohttpd then reads the end of file and closes the connection
 * itself).
 *
 * Every function takes NULL (no --timeout) and then does nothing. */
#ifndef AVATAR_DEADLINE_H
#define AVATAR_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct deadlines;

/* Deadlines TIMEOUT_MS (non-zero) after arming, for the descriptors
 * below FDS (those beyond are not watched: libmicrohttpd's inactivity
 * timeout still applies to them).  Returns NULL with ERR set
 * (EXIT_OSERR) if out of memory. */
struct deadlines *deadlines_new(uint64_t timeout_ms, size_t fds,
                                struct error *err);

/* Free D.  D may be NULL. */
void deadlines_free(struct deadlines *d);

/* The timeout in milliseconds; 0 if D is NULL. */
uint64_t deadlines_timeout_ms(const struct deadlines *d);

/* The next request on FD must be in within the timeout from now. */
void deadline_arm(struct deadlines *d, int fd);

/* FD has no deadline: its request is in, or it is closing. */
void deadline_clear(struct deadlines *d, int fd);

/* Shut down every connection past its deadline, and count it out of the
 * open connections (wire_count_out).  Returns how many it shut down;
 * *COUNTED_OUT receives how many of those were counted out here (the
 * caller lowers its count by that).  The caller holds the lock under
 * which libmicrohttpd's close notification forgets a descriptor, so
 * that no descriptor is shut down after it was closed and reused. */
unsigned long deadline_sweep(struct deadlines *d, unsigned *counted_out);

#endif
