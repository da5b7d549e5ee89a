/* clock.h -- the one clock: monotonic time, for deadlines and durations.
 *
 * clock_ms, for every deadline, reads CLOCK_MONOTONIC_COARSE: the
 * kernel's last tick, read from the vDSO without reading the TSC, so
 * cheaper than CLOCK_MONOTONIC, with a resolution of one tick (1 to
 * 4 ms; clock_getres tells).  Every deadline
 * in this program is a millisecond count of at least tens of
 * milliseconds, so a tick is below what any of them can observe.  A wait
 * computed from it may end a tick early or late; callers loop until the
 * clock says the deadline has passed.  Thread-safe; never fails on Linux.
 */
#ifndef AVATAR_CLOCK_H
#define AVATAR_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Monotonic microseconds, from CLOCK_MONOTONIC (the same clock as
 * clock_ms, read to the microsecond).  For the upstream duration
 * histogram only (relay.c): its sum is in microseconds and its first
 * buckets are 500 us and 1 ms wide, below a tick of the coarse clock,
 * which would put a fast upstream's answers in the wrong buckets.  One
 * read per relayed request at its start and one at its end, as before
 * clock_ms existed.  Thread-safe; never fails on Linux. */
static inline uint64_t
clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
