/* request.h -- a request's start time, route and status, in its *req_cls.
 *
 * libmicrohttpd 0.9.75 keeps one pointer per request for the handler
 * (the access handler's and the completion notification's *req_cls).
 * Instead of memory to point to, it holds a request word: the tag bit
 * set (so that it is never a valid pointer: a relay job, proxy.c, is
 * aligned), the start time in microseconds of clock_us, and once the
 * request is answered, its route and HTTP status.  No allocation, and
 * the completion notification, which runs on the connection's own
 * thread in both modes (MHD_connection_close_ and the keep-alive reset
 * of connection.c, 0.9.75), reads the whole story of the request from
 * it: the duration histogram (stats.h) is counted there.
 *
 *   bit 0        1: a request word (0: NULL or a relay job)
 *   bits 1-10    the HTTP status answered; 0 while not answered
 *   bits 11-15   enum route, once answered
 *   bits 16-     the start time, clock_us modulo 2^48 (8.9 years; on a
 *                32-bit build 2^16 us, 65 ms: durations wrap there)
 *
 * Pure functions of a word; any thread.
 */
#ifndef AVATAR_REQUEST_H
#define AVATAR_REQUEST_H

#include <stdint.h>
#include <string.h>

#include "stats.h"

#define REQUEST_TIME_SHIFT 16
#define REQUEST_TIME_MASK (UINTPTR_MAX >> REQUEST_TIME_SHIFT)

/* The word W as the pointer that holds it.  Copied, not cast: the
 * pointer is never dereferenced, and an integer-to-pointer cast would
 * tell the compiler it may be (clang-tidy performance-no-int-to-ptr);
 * memcpy compiles to a move. */
static inline void *
request_word(uintptr_t w)
{
	void *p;

	memcpy(&p, &w, sizeof(p));
	return p;
}

/* A request word for a request that started at START_US (clock_us). */
static inline void *
request_begin(uint64_t start_us)
{
	return request_word(((uintptr_t)start_us << REQUEST_TIME_SHIFT) | 1u);
}

/* Non-zero if REQ_CLS is a request word (not NULL, not a relay job). */
static inline int
request_is_word(const void *req_cls)
{
	return ((uintptr_t)req_cls & 1u) != 0;
}

/* WORD, answered on ROUTE with the HTTP status STATUS (100-999). */
static inline void *
request_answered(void *word, enum route route, unsigned status)
{
	uintptr_t w = (uintptr_t)word & ~(uintptr_t)0xfffe;

	return request_word(w | (uintptr_t)status << 1 |
	                    (uintptr_t)route << 11);
}

/* The status WORD was answered with, or 0 if none yet. */
static inline unsigned
request_status(const void *word)
{
	return (unsigned)((uintptr_t)word >> 1 & 0x3ff);
}

/* The route WORD was answered on (once request_status is not 0). */
static inline enum route
request_route(const void *word)
{
	return (enum route)((uintptr_t)word >> 11 & 0x1f);
}

/* When the request of WORD started: the shared accessor for everything
 * that wants its duration (the histogram, an access log). */
static inline uint64_t
request_started_us(const void *word)
{
	return (uint64_t)((uintptr_t)word >> REQUEST_TIME_SHIFT);
}

/* Microseconds from the start of WORD's request to NOW_US (clock_us). */
static inline uint64_t
request_duration_us(const void *word, uint64_t now_us)
{
	return (uint64_t)(((uintptr_t)now_us - ((uintptr_t)word >>
	                   REQUEST_TIME_SHIFT)) & REQUEST_TIME_MASK);
}

#endif
