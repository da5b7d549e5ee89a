/* stats.h -- request counters by route and status, one block per thread. */
#ifndef AVATAR_STATS_H
#define AVATAR_STATS_H

#include "atomicvar.h"

/*
 * The counters /metrics prints, indexed by what a request asked for and
 * the status it got.  A block is written by one thread only (its owner,
 * with stats_count) and read by any thread with relaxed loads
 * (stats_add): no locked instruction, no shared write.  Each serving
 * thread's block rides in its reader record (epoch.h, which says why),
 * and epoch_sum adds them up with the counts of threads that exited.
 */

/* What a request asked for: the first counter index. */
enum route {
	ROUTE_LIST,    /* PATH */
	ROUTE_USER,    /* PATH/{id} */
	ROUTE_HEALTHZ, /* /healthz */
	ROUTE_METRICS, /* /metrics */
	ROUTE_READYZ,  /* /readyz */
	ROUTE_OTHER,   /* anything else */
	ROUTE_COUNT
};

/* The statuses the handler answers with: the second counter index. */
enum route_status {
	STATUS_200,
	STATUS_400,
	STATUS_404,
	STATUS_405,
	STATUS_500,
	STATUS_502,    /* relay mode: the upstream failed */
	STATUS_503,    /* /readyz: not ready; relay mode: queue full, or
	                * stopping */
	STATUS_504,    /* relay mode: the upstream timed out */
	STATUS_COUNT
};

/* One block of counters. */
struct stats {
	unsigned long n[ROUTE_COUNT][STATUS_COUNT];
};

/* Count one answer of ROUTE with STATUS in ST.  Only ST's owner may call
 * this: a plain add that relaxed readers see whole (atom_bump). */
static inline void
stats_count(struct stats *st, enum route route, enum route_status status)
{
	atom_bump(st->n[route][status], 1);
}

/* Add every counter of ST to SUM.  ST's owner may be counting meanwhile
 * (ST is read with relaxed loads); SUM must be the caller's own. */
void stats_add(struct stats *sum, const struct stats *st);

#endif
