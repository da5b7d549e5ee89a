/* relay_report.h -- the relay's failures in the log: at once, then counted, then the recovery. */
#ifndef AVATAR_RELAY_REPORT_H
#define AVATAR_RELAY_REPORT_H

/*
 * Today's only trace of an unreachable upstream would be 502s and a
 * counter; an operator wants a line, but not one per request.  So, per
 * kind of failure (relay.h: connect, timeout, status, ...):
 *
 *   - the first failure of a kind after RELAY_REPORT_MS without a line
 *     for it is logged at once:
 *       warning: upstream: 1 request failed: connect (connection refused)
 *   - later ones are counted, and logged as one line per kind once
 *     RELAY_REPORT_MS has passed since the last line of that kind:
 *       warning: upstream: 37 requests failed in the last 10 s: connect
 *       (last: connection refused)
 *   - the first success after logged failures is logged at once, after
 *     the counts still pending:
 *       info: upstream: answering again after 38 failures
 *     A success that comes again before a new failure line (an upstream
 *     that fails one request in two) is held and logged with the next
 *     counts, so that a flapping upstream writes at most a few lines per
 *     kind every RELAY_REPORT_MS.
 *
 * Threads: the relay thread only (its jobs end there), so no lock and
 * no atomics.  The lines are written on the relay thread; with at most
 * two immediate lines per kind and interval, the relay never blocks on
 * logging per request.  NOW is a clock_ms reading, never 0.
 */

#include <stdint.h>

#include "clock.h"
#include "log.h"
#include "relay.h"

/* The interval between two lines of one kind, in milliseconds. */
#define RELAY_REPORT_MS ((uint64_t)LOG_REPORT_SECONDS * 1000u)

struct relay_report {
	struct relay_report_kind {
		unsigned long pending;  /* failures not logged yet */
		uint64_t line_ms;       /* its last line (0: none yet) */
		int err;                /* the last one's errno (connect) */
	} kinds[RELAY_KIND_COUNT];
	unsigned long pending;      /* the sum of kinds[].pending */
	unsigned long failures;     /* since the last recovery line */
	uint64_t timeout_ms;        /* --upstream-timeout, for the reason */
	int down;                   /* a failure line since the last
	                             * recovery line */
	int recovered;              /* a success after failures, held
	                             * (then pending is not 0) */
};

/* Start R with nothing to report; TIMEOUT_MS is --upstream-timeout. */
void relay_report_init(struct relay_report *r, uint64_t timeout_ms);

/* A request failed with KIND (not RELAY_OK or RELAY_STOPPED); ERR is
 * the errno of a failed connect (RELAY_CONNECT), else ignored. */
void relay_report_failure(struct relay_report *r, enum relay_kind kind,
                          int err, uint64_t now);

/* A request succeeded (after failures, if R->failures is not 0). */
void relay_report_recovered(struct relay_report *r, uint64_t now);

/* A request succeeded: one compare, unless failures came before. */
static inline void
relay_report_ok(struct relay_report *r)
{
	if (r->failures != 0)
		relay_report_recovered(r, clock_ms());
}

/* Log the counts whose interval has ended (and a success held for
 * them).  Returns the milliseconds until the next is due (at least 1),
 * or -1 when nothing is pending: the relay thread sleeps no longer than
 * that, so the counts come out on time even when no request comes. */
int64_t relay_report_due(struct relay_report *r, uint64_t now);

/* relay_report_due, for the relay loop: nothing to do (-1) when nothing
 * is pending, without reading the clock. */
static inline int64_t
relay_report_tick(struct relay_report *r)
{
	return r->pending == 0 ? -1 : relay_report_due(r, clock_ms());
}

/* Log everything pending now, due or not (the relay is stopping). */
void relay_report_flush(struct relay_report *r, uint64_t now);

#endif
