/* relay_report.c -- the relay's failures in the log: at once, then counted, then the recovery. */
#include <stdio.h>
#include <string.h>

#include "relay_report.h"

void
relay_report_init(struct relay_report *r, uint64_t timeout_ms)
{
	memset(r, 0, sizeof(*r));
	r->timeout_ms = timeout_ms;
}

/* Why a request of KIND failed, in words, into BUF. */
static const char *
reason(const struct relay_report *r, enum relay_kind kind, int err,
       char *buf, size_t size)
{
	switch (kind) {
	case RELAY_CONNECT:
		if (err == 0)
			return "unreachable";
		/* strerror's text, lower case as in the rest of the line:
		 * "connection refused". */
		snprintf(buf, size, "%s", strerror(err));
		if (buf[0] >= 'A' && buf[0] <= 'Z')
			buf[0] = (char)(buf[0] - 'A' + 'a');
		return buf;
	case RELAY_TIMEOUT:
		snprintf(buf, size, "no whole answer within %llu ms",
		         (unsigned long long)r->timeout_ms);
		return buf;
	case RELAY_STATUS:
		return "a status other than 2xx";
	case RELAY_CONTENT_TYPE:
		return "not application/json";
	case RELAY_TOO_LARGE:
		return "a body over --upstream-max-bytes";
	case RELAY_BODY:
		return "an empty body, or not JSON";
	default:
		return "reset, garbage or cut short";
	}
}

/* Log KIND's pending count, if any, and start its next interval. */
static void
report_kind(struct relay_report *r, enum relay_kind kind, uint64_t now)
{
	struct relay_report_kind *k = &r->kinds[kind];
	unsigned long long secs = (now - k->line_ms + 999) / 1000;
	char buf[128];
	const char *why;

	if (k->pending == 0)
		return;
	why = reason(r, kind, k->err, buf, sizeof(buf));
	{
		const struct log_field f[] = {
			{"kind", relay_kind_name(kind), 0},
			{"count", NULL, (long long)k->pending},
			{"seconds", NULL, (long long)secs},
			{"reason", why, 0},
		};

		log_event(LOG_LEVEL_WARNING, f, sizeof(f) / sizeof(f[0]),
		          "upstream: %lu request%s failed in the last %llu s: "
		          "%s (last: %s)", k->pending, k->pending == 1 ? "" : "s",
		          secs, relay_kind_name(kind), why);
	}
	r->pending -= k->pending;
	k->pending = 0;
	k->line_ms = now;
	r->down = 1;
}

/* The upstream answers again: say so, after the failures. */
static void
report_recovery(struct relay_report *r)
{
	const struct log_field f[] = {{"count", NULL, (long long)r->failures}};

	log_event(LOG_LEVEL_INFO, f, 1, "upstream: answering again after %lu "
	          "failure%s", r->failures, r->failures == 1 ? "" : "s");
	r->failures = 0;
	r->down = 0;
	r->recovered = 0;
}

void
relay_report_failure(struct relay_report *r, enum relay_kind kind, int err,
                     uint64_t now)
{
	struct relay_report_kind *k = &r->kinds[kind];

	r->failures++;
	r->recovered = 0;
	k->err = err;
	if (k->pending != 0 || (k->line_ms != 0 &&
	                        now - k->line_ms < RELAY_REPORT_MS)) {
		/* Counted; with those before it once their interval has
		 * ended (this failure may come before relay_report_due). */
		k->pending++;
		r->pending++;
		if (now - k->line_ms >= RELAY_REPORT_MS)
			report_kind(r, kind, now);
		return;
	}
	{
		/* The first after a quiet interval: at once. */
		char buf[128];
		const char *why = reason(r, kind, err, buf, sizeof(buf));
		const struct log_field f[] = {
			{"kind", relay_kind_name(kind), 0},
			{"count", NULL, 1},
			{"reason", why, 0},
		};

		log_event(LOG_LEVEL_WARNING, f, sizeof(f) / sizeof(f[0]),
		          "upstream: 1 request failed: %s (%s)",
		          relay_kind_name(kind), why);
		k->line_ms = now;
		r->down = 1;
	}
}

void
relay_report_recovered(struct relay_report *r, uint64_t now)
{
	if (r->failures == 0)
		return;
	if (!r->down) {
		/* Failures since the last recovery line, none logged yet:
		 * hold this one until their counts are. */
		r->recovered = 1;
		return;
	}
	relay_report_flush(r, now);
	report_recovery(r);
}

int64_t
relay_report_due(struct relay_report *r, uint64_t now)
{
	int64_t next = -1;
	int kind;

	for (kind = 0; kind < RELAY_KIND_COUNT; kind++) {
		struct relay_report_kind *k = &r->kinds[kind];
		int64_t left;

		if (k->pending == 0)
			continue;
		if (now - k->line_ms >= RELAY_REPORT_MS) {
			report_kind(r, (enum relay_kind)kind, now);
			continue;
		}
		left = (int64_t)(k->line_ms + RELAY_REPORT_MS - now);
		if (next < 0 || left < next)
			next = left;
	}
	if (r->recovered && r->pending == 0)
		report_recovery(r);
	return next;
}

void
relay_report_flush(struct relay_report *r, uint64_t now)
{
	int kind;

	for (kind = 0; kind < RELAY_KIND_COUNT; kind++)
		report_kind(r, (enum relay_kind)kind, now);
	if (r->recovered)
		report_recovery(r);
}
