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
	STATUS_204,    /* OPTIONS */
	STATUS_304,    /* If-None-Match matched */
	STATUS_400,
	STATUS_404,
	STATUS_405,
	STATUS_412,    /* If-Match did not match */
	STATUS_500,
	STATUS_502,    /* relay mode: the upstream failed */
	STATUS_503,    /* /readyz: not ready; relay mode: queue full, or
	                * stopping */
	STATUS_504,    /* relay mode: the upstream timed out */
	STATUS_COUNT
};

/* The duration histogram's second index: the status's first digit. */
enum status_class {
	CLASS_2XX,
	CLASS_3XX,
	CLASS_4XX,
	CLASS_5XX,
	CLASS_COUNT
};

/* Upper bounds of the duration buckets, in microseconds, 25 us to 10 s:
 * an answer from memory takes tens of microseconds from the handler's
 * first call to its completion, a relayed one the upstream's time. */
#define STATS_BUCKETS 18
extern const unsigned long stats_bucket_us[STATS_BUCKETS];

/* One block of counters: 320 bytes of requests and 3840 of durations
 * (a thread-per-connection thread has one: 4 KB each). */
struct stats {
	unsigned long n[ROUTE_COUNT][STATUS_COUNT];
	/* Durations by route and class: counts per bucket, not cumulative,
	 * the last one over the top; and their total in microseconds. */
	unsigned long hist[ROUTE_COUNT][CLASS_COUNT][STATS_BUCKETS + 1];
	unsigned long sum_us[ROUTE_COUNT][CLASS_COUNT];
};

/* Count one answer of ROUTE with STATUS in ST.  Only ST's owner may call
 * this: a plain add that relaxed readers see whole (atom_bump). */
static inline void
stats_count(struct stats *st, enum route route, enum route_status status)
{
	atom_bump(st->n[route][status], 1);
}

/* Count one request of ROUTE answered with the HTTP status STATUS
 * (200-599) that took US microseconds, in ST.  Only ST's owner may call
 * this, as stats_count.  The buckets are scanned from the bottom: most
 * answers fall in the first. */
static inline void
stats_observe(struct stats *st, enum route route, unsigned status,
              unsigned long us)
{
	unsigned c = status / 100u - 2u;
	unsigned b = 0;

	if (c >= CLASS_COUNT)
		return;
	while (b < STATS_BUCKETS && us > stats_bucket_us[b])
		b++;
	atom_bump(st->hist[route][c][b], 1);
	atom_bump(st->sum_us[route][c], us);
}

/* Add every counter of ST to SUM.  ST's owner may be counting meanwhile
 * (ST is read with relaxed loads); SUM must be the caller's own. */
void stats_add(struct stats *sum, const struct stats *st);

#endif
