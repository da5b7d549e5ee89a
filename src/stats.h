/* stats.h -- per-thread request counters and reader epochs, no shared writes. */
#ifndef AVATAR_STATS_H
#define AVATAR_STATS_H

#include "routes.h"

struct stats;
struct stats_slot;

/* A new, empty registry.  Returns NULL if out of memory. */
struct stats *stats_new(void);

/* Free ST once no thread that used it is alive (after MHD_stop_daemon).
 * ST may be NULL. */
void stats_free(struct stats *st);

/* Mark the calling thread as inside a request and return its slot (one
 * per thread, registered on its first request: the only time a lock is
 * taken).  Until stats_leave, stats_synchronize waits for this thread.
 * If no slot can be allocated, the thread holds ST's lock instead and NULL
 * is returned; pass it on to stats_count and stats_leave all the same. */
struct stats_slot *stats_enter(struct stats *st);

/* Count one answer of ROUTE with STATUS in SLOT: a store to a cache line
 * only this thread writes. */
void stats_count(struct stats *st, struct stats_slot *slot,
                 enum route route, enum route_status status);

/* Mark the end of the request started by stats_enter. */
void stats_leave(struct stats *st, struct stats_slot *slot);

/* Wait until every thread that was inside a request when this was called
 * has left it.  Publish a new pointer first: afterwards no request still
 * uses the old one, and its target may be freed. */
void stats_synchronize(struct stats *st);

/* Sum the counters of every thread, past and present, into OUT. */
void stats_sum(struct stats *st,
               unsigned long out[ROUTE_COUNT][STATUS_COUNT]);

#endif
