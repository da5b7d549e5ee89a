/* slowloris.c -- slow, idle and probing clients for tests/slow.sh. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

/*
 * slowloris -p PORT [-s SLOW] [-i IDLE] [-x PROBES] [-d SECONDS]
 *           [-b MS]
 *
 * Keeps SLOW connections that send an endless request header one byte
 * every MS milliseconds (default 1000) and IDLE keep-alive connections
 * that send one request, read the answer and then say nothing, all to
 * 127.0.0.1:PORT, for SECONDS (default 10; SIGTERM or SIGINT end it
 * early).  A connection the server closes is counted and opened again.
 * PROBES connections are opened once, send nothing and only wait to be
 * closed.  "ready" goes to standard error once every first connection is
 * established; at the end a summary goes to standard output, one line
 * per kind, with how long the server let each connection live (slow:
 * from connect; idle: from the answer; probe: from the connect call) in
 * milliseconds.  Exit status 0, or 2 on a usage or set-up error.
 */

enum kind { SLOW, IDLE, PROBE, KINDS };

static const char *const kind_names[KINDS] = {"slow", "idle", "probe"};

static const char slow_head[] = "GET /v1/user HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "X-Slow: ";
static const char idle_req[] = "GET /v1/user HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "\r\n";

struct conn {
	int fd;               /* -1 when to be opened again */
	enum kind kind;
	int connected;
	int ever;             /* has been connected once */
	int served;           /* idle: the answer has come */
	long start;           /* ms: connect call */
	long ref;             /* ms: slow: connect; idle: answer */
	long next_send;       /* slow: ms of the next byte */
	size_t sent;          /* slow: bytes of the header sent */
};

/* Lifetimes seen for one kind. */
struct stats {
	unsigned long opened;
	unsigned long closed;
	unsigned long served;
	long *ms;
	size_t n, size;
};

static volatile sig_atomic_t stop;
static struct stats stats[KINDS];
static unsigned long connect_errors;
static struct sockaddr_in addr;
static int ep;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
record(enum kind k, long ms)
{
	struct stats *s = &stats[k];

	if (s->n == s->size) {
		size_t size = s->size ? s->size * 2 : 1024;
		long *p = realloc(s->ms, size * sizeof(*p));

		if (p == NULL)
			return;
		s->ms = p;
		s->size = size;
	}
	s->ms[s->n++] = ms;
}

/* Start a non-blocking connect for C.  Returns 0 or -1. */
static int
conn_open(struct conn *c)
{
	struct epoll_event ev;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		connect_errors++;
		return -1;
	}
	c->start = c->ref = now_ms();
	c->connected = c->served = 0;
	c->sent = 0;
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
	    errno != EINPROGRESS) {
		connect_errors++;
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		connect_errors++;
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	stats[c->kind].opened++;
	return 0;
}

/* The server closed C: count it; it is opened again (but a probe). */
static void
conn_closed(struct conn *c, long now)
{
	struct stats *s = &stats[c->kind];

	if (c->connected) {
		s->closed++;
		if (c->kind != IDLE || c->served)
			record(c->kind, now - c->ref);
	} else {
		connect_errors++;
	}
	close(c->fd);
	c->fd = -1;
}

/* Send the next byte of C's endless header. */
static void
slow_send(struct conn *c, long now)
{
	char b = c->sent < sizeof(slow_head) - 1 ? slow_head[c->sent] : 'a';

	if (send(c->fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
		c->sent++;
	else if (errno != EAGAIN)
		conn_closed(c, now);
}

/* Handle EVENTS on C: its connect finished, or data or an end came. */
static void
conn_event(struct conn *c, unsigned events, long now, int interval)
{
	char buf[16384];

	if (!c->connected && (events & EPOLLOUT) &&
	    !(events & (EPOLLERR | EPOLLHUP))) {
		struct epoll_event ev = {EPOLLIN | EPOLLRDHUP, {c}};

		c->connected = c->ever = 1;
		c->ref = now;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		if (c->kind == IDLE &&
		    send(c->fd, idle_req, sizeof(idle_req) - 1,
		         MSG_NOSIGNAL) != (ssize_t)sizeof(idle_req) - 1) {
			conn_closed(c, now);
			return;
		}
		if (c->kind == SLOW) {
			c->next_send = now + interval;
			slow_send(c, now);
		}
		return;
	}
	if (!c->connected) {
		conn_closed(c, now);
		return;
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			if (c->kind == IDLE && !c->served) {
				c->served = 1;
				c->ref = now;
				stats[IDLE].served++;
			}
			continue;
		}
		if (n == 0 || errno != EAGAIN)
			conn_closed(c, now);
		return;
	}
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static void
summary(struct conn *conns, size_t n)
{
	size_t i;
	int k;

	for (k = 0; k < KINDS; k++) {
		struct stats *s = &stats[k];
		unsigned long still = 0;

		for (i = 0; i < n; i++)
			still += conns[i].kind == (enum kind)k &&
			         conns[i].fd >= 0 && conns[i].connected;
		if (s->opened == 0)
			continue;
		qsort(s->ms, s->n, sizeof(long), cmp_long);
		printf("%s: opened=%lu closed=%lu served=%lu open_at_end=%lu",
		       kind_names[k], s->opened, s->closed, s->served, still);
		if (s->n > 0)
			printf(" ms_min=%ld ms_median=%ld ms_p95=%ld ms_max=%ld",
			       s->ms[0], s->ms[s->n / 2], s->ms[s->n * 95 / 100],
			       s->ms[s->n - 1]);
		printf("\n");
	}
	printf("errors: connect=%lu\n", connect_errors);
}

int
main(int argc, char **argv)
{
	unsigned long want[KINDS] = {0, 0, 0};
	struct epoll_event evs[256];
	struct rlimit rl;
	struct conn *conns;
	long seconds = 10, end, now;
	int interval = 1000, opt, ready = 0, port = 0;
	size_t n, i;

	while ((opt = getopt(argc, argv, "p:s:i:x:d:b:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 's': want[SLOW] = strtoul(optarg, NULL, 10); break;
		case 'i': want[IDLE] = strtoul(optarg, NULL, 10); break;
		case 'x': want[PROBE] = strtoul(optarg, NULL, 10); break;
		case 'd': seconds = atol(optarg); break;
		case 'b': interval = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (port <= 0 || port > 65535 || interval <= 0 || seconds <= 0)
		goto usage;
	/* One descriptor per connection, and some. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	n = want[SLOW] + want[IDLE] + want[PROBE];
	conns = calloc(n ? n : 1, sizeof(*conns));
	if (ep < 0 || conns == NULL) {
		perror("slowloris");
		return 2;
	}
	for (i = 0; i < n; i++) {
		conns[i].kind = i < want[SLOW] ? SLOW
		                : i < want[SLOW] + want[IDLE] ? IDLE : PROBE;
		conn_open(&conns[i]);
	}
	end = now_ms() + seconds * 1000;
	while (!stop && (now = now_ms()) < end) {
		int k, got = epoll_wait(ep, evs, 256, 50);
		size_t up = 0;

		now = now_ms();
		for (k = 0; k < got; k++)
			conn_event(evs[k].data.ptr, evs[k].events, now, interval);
		for (i = 0; i < n; i++) {
			struct conn *c = &conns[i];

			if (c->fd < 0 && c->kind != PROBE)
				conn_open(c);
			else if (c->fd >= 0 && c->connected && c->kind == SLOW &&
			         now >= c->next_send) {
				c->next_send += interval;
				slow_send(c, now);
			}
			up += c->ever;
		}
		if (!ready && up == n) {
			ready = 1;
			fprintf(stderr, "ready\n");
		}
	}
	summary(conns, n);
	return 0;

usage:
	fprintf(stderr, "usage: slowloris -p PORT [-s SLOW] [-i IDLE] "
	        "[-x PROBES] [-d SECONDS] [-b MS]\n");
	return 2;
}
