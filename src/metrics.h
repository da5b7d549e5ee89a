/* metrics.h -- /metrics: the counters it is handed, in Prometheus text
 * format 0.0.4. */
#ifndef AVATAR_METRICS_H
#define AVATAR_METRICS_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "guard.h"
#include "process.h"
#include "relay.h"
#include "stats.h"

/* What /metrics shows, gathered by the caller. */
struct metrics_input {
	struct stats requests;         /* epoch_sum */
	unsigned connections;          /* open client connections */
	size_t users;                  /* records being served */
	unsigned long reloads_ok;
	unsigned long reloads_failed;
	time_t last_reload;            /* start-up, then each good reload */
	unsigned long refused_limit;   /* 503 at accept: connection limit */
	unsigned long refused_fds;     /* 503 at accept: out of descriptors */
	unsigned long closed_timeout;  /* closed by the deadline sweep */
	unsigned long accept_errors;   /* accept calls that failed */
	unsigned long rejected[GUARD_VERDICT_COUNT]; /* wire_rejected */
	const struct relay_counters *relay; /* relay mode, else NULL */
	const struct process_stats *process; /* NULL: not readable */
	int access_log;                /* --access-log is on */
	unsigned long access_log_dropped; /* accesslog_dropped */
	const char *mhd_version;       /* MHD_get_version() */
	const char *jansson_version;   /* jansson_version_str() */
};

/* Write IN to F as Prometheus text: in relay mode (IN->relay), the
 * list route's 502, 503 and 504 and the upstream's metrics too; the
 * process_* metrics if IN->process.  `promtool check metrics` passes on
 * it (tests/promtool.sh).  The
 * caller checks F's errors (at fclose). */
void metrics_write(const struct metrics_input *in, FILE *f);

#endif
