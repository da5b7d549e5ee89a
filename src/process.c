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
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %llu", &btime) == 1)
			break;
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

int
process_read(struct process_stats *ps)
{
	unsigned long long utime, stime, start, vsize;
	long long rss;
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
	 * the fields start after the last ')'.  From state (field 3):
	 * utime is field 14, stime 15, starttime 22, vsize 23, rss 24. */
	p = strrchr(buf, ')');
	if (p == NULL || ticks <= 0 || page <= 0 || btime == 0 ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	           "%llu %*d %*d %*d %*d %*d %*d %llu %llu %lld", &utime,
	           &stime, &start, &vsize, &rss) != 5)
		return -1;
	fds = open_fds();
	if (fds < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	ps->cpu_seconds = (double)(utime + stime) / (double)ticks;
	ps->rss_bytes = rss > 0 ? (unsigned long long)rss *
	                          (unsigned long long)page : 0;
	ps->vsize_bytes = vsize;
	ps->open_fds = (unsigned long)fds;
	ps->max_fds = (unsigned long long)rl.rlim_cur; /* Linux: <= nr_open */
	ps->start_time = (double)btime + (double)start / (double)ticks;
	return 0;
}
