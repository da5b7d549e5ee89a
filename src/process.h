/* process.h -- the standard process metrics, read from /proc at a scrape.
 *
 * What Prometheus's client libraries export as process_*: CPU time,
 * memory, descriptors and the start time, from /proc/self/stat,
 * /proc/self/fd, /proc/stat (btime) and getrlimit.  Any thread; it
 * opens and reads files, so never on the request path (a /metrics
 * scrape only). */
#ifndef AVATAR_PROCESS_H
#define AVATAR_PROCESS_H

struct process_stats {
	double cpu_seconds;          /* user + system */
	unsigned long long rss_bytes;
	unsigned long long vsize_bytes;
	unsigned long open_fds;
	unsigned long long max_fds;  /* the soft RLIMIT_NOFILE */
	double start_time;           /* since the epoch, in seconds */
};

/* Fill PS for this process.  Returns 0, or -1 if /proc/self/stat (or
 * /proc/self/fd, or /proc/stat) could not be read: then render none. */
int process_read(struct process_stats *ps);

#endif
