/* process.c -- the standard process metrics, read from /proc at a scrape. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "process.h"

/* The boot time in seconds since the epoch ("btime" of /proc/stat), or
 * 0 if it cannot be read. */
static unsigned long long
boot_time(void)
{
	unsigned long long btime = 0;
	char line[256];
	FILE *f = fopen("/proc/stat", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "btime ", 6) == 0) {
			btime = strtoull(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return btime;
}

/* Descriptors open in this process, not counting the one that lists
 * them; -1 if /proc/self/fd cannot be read. */
static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Fields 14 (utime) to 24 (rss) of /proc/self/stat, from state (field
 * 3), which starts at P; indexes 0 to 10 for fields 14 to 24.  Returns 0,
 * or -1 if the line is cut short. */
static int
stat_fields(const char *p, unsigned long long out[11])
{
	int field = 3;
	char *end;

	while (field < 14) { /* skip to field 14 */
		p = strchr(p, ' ');
		if (p == NULL)
			return -1;
		p++;
		field++;
	}
	for (; field <= 24; field++) {
		/* rss (24) is signed in the kernel's format; never below 0 */
		out[field - 14] = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		p = end + (*end == ' ');
	}
	return 0;
}

int
process_read(struct process_stats *ps)
{
	/* utime 14, stime 15, starttime 22, vsize 23, rss 24 */
	unsigned long long v[11];
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds;
	unsigned long long btime = boot_time();
	char buf[1024];
	const char *p;
	struct rlimit rl;
	size_t n;
	FILE *f;

	f = fopen("/proc/self/stat", "re");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ...": comm may hold spaces and parentheses, so
	 * the fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || ticks <= 0 || page <= 0 || btime == 0 ||
	    stat_fields(p + 2, v) < 0)
		return -1;
	fds = open_fds();
	if (fds < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	ps->cpu_seconds = (double)(v[0] + v[1]) / (double)ticks;
	ps->rss_bytes = v[10] * (unsigned long long)page;
	ps->vsize_bytes = v[9];
	ps->open_fds = (unsigned long)fds;
	ps->max_fds = (unsigned long long)rl.rlim_cur; /* Linux: <= nr_open */
	ps->start_time = (double)btime + (double)v[8] / (double)ticks;
	return 0;
}
