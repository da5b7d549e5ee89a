/* epoch.h -- a replaced request set is freed only after every reader left it. */
#ifndef AVATAR_EPOCH_H
#define AVATAR_EPOCH_H

#include "stats.h"

/*
 * The rule.  Requests read the active request set (a struct routes,
 * server.c) without a lock, and a reload or a stop replaces it.  The set
 * it replaces is freed only after every request that may have read it has
 * left.  The protocol:
 *
 *   a request:  counts = epoch_enter(ep);
 *               r = atom_load_acquire(active);      (server_routes)
 *               ... route with r, stats_count(counts, ...) ...
 *               epoch_leave(ep, counts);            (r is not used after)
 *
 *   a writer:   atom_store_sync(active, new);       (server_publish)
 *               epoch_synchronize(ep);
 *               routes_free(old);
 *
 * How: each thread has a reader record holding a sequence number, odd
 * while the thread is inside a request.  epoch_enter makes it odd with a
 * sequentially consistent store, before the request loads the pointer;
 * epoch_synchronize, after the writer's sequentially consistent store of
 * the new pointer, issues a full fence and reads every record.  As in
 * Dekker's algorithm, either it sees the odd number, and waits until the
 * number changes (that request has left), or the request's load comes
 * after the writer's store and returns the new set.  This is the read
 * side of RCU, with one grace period per synchronize.
 *
 * The record also carries its thread's request counters (struct stats):
 * what a request writes -- the enter's store, one counter, the leave's
 * store -- is then on cache lines only that thread writes, found by one
 * pthread_getspecific.  Counters kept apart, in a registry of their own,
 * would cost a second lookup per request.  So epoch_enter returns the
 * thread's counters, and epoch_sum adds up every thread's.
 *
 * Threads.  A record is made on a thread's first request (the only time
 * a request takes EP's lock) and released when the thread exits
 * (thread-per-connection mode); its counts are kept in EP's total.  If no
 * record can be made (out of memory), that request holds EP's lock from
 * enter to leave instead, and counts in the total: epoch_synchronize
 * takes the lock, so it waits for that request too.
 */

struct epoch;

/* A new registry, with no reader.  Returns NULL if out of memory. */
struct epoch *epoch_new(void);

/* Free EP once no thread that used it still runs code of it (after
 * MHD_stop_daemon).  Records of threads still alive are freed; a thread
 * that exits afterwards leaves nothing behind.  EP may be NULL. */
void epoch_free(struct epoch *ep);

/* Enter a request on the calling thread: until epoch_leave, no
 * epoch_synchronize called meanwhile returns, so what the request loads
 * from a published pointer stays valid.  Returns the thread's counters,
 * to count the request in (stats_count) and to hand to epoch_leave.
 * Never fails: out of memory, the thread holds EP's lock until the leave
 * and gets EP's total.  One request at a time per thread, not nested. */
struct stats *epoch_enter(struct epoch *ep);

/* Leave the request that epoch_enter entered and returned COUNTS for.
 * The request must not use what it loaded after this. */
void epoch_leave(struct epoch *ep, struct stats *counts);

/* The calling thread's counters, outside epoch_enter/leave: to count
 * what is known only once a request has ended (its duration, at
 * libmicrohttpd's completion, on the connection's thread).  The same
 * rules as epoch_enter's counters, one pthread_getspecific, and the
 * same fallback: out of memory, EP's lock is held until epoch_counted.
 * Not between epoch_enter and epoch_leave (use what the enter gave). */
struct stats *epoch_counts(struct epoch *ep);

/* Done with COUNTS from epoch_counts. */
void epoch_counted(struct epoch *ep, const struct stats *counts);

/* Wait until every request that was inside when this was called has
 * left.  It reads every thread's number once, first, so a request that
 * enters after that is not waited for.  Call it after publishing a new
 * pointer with atom_store_sync: no request uses the old target
 * afterwards, and it may be freed.  Takes EP's lock (one writer at a
 * time; a thread's first request waits for it), so never call it between
 * epoch_enter and epoch_leave. */
void epoch_synchronize(struct epoch *ep);

/* The counts of every thread, past and present, into SUM.  Takes EP's
 * lock. */
void epoch_sum(struct epoch *ep, struct stats *sum);

#endif
