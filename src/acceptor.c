/* acceptor.c -- the listening socket and the thread that accepts its
 * clients and hands them to libmicrohttpd, within the connection limit
 * (see acceptor.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "acceptor.h"
#include "atomicvar.h"
#include "clock.h"
#include "log.h"

/* Listen backlog; the kernel caps it at net.core.somaxconn. */
#ifndef LISTEN_BACKLOG
#define LISTEN_BACKLOG 4096
#endif

/* The acceptor's epoll tags for the listening and stop descriptors;
 * those of client connections are generation << 32 | descriptor, the
 * generation being non-zero. */
#define TAG_LISTEN 0u
#define TAG_STOP 1u

struct acceptor {
	struct MHD_Daemon *daemon;  /* where connections go */
	acceptor_hand_fn *hand;     /* or there, if set (acceptor_hand_to) */
	void *hand_arg;
	struct wire *wire;          /* framing check, own answers */
	struct deadlines *deadlines;/* NULL without --timeout */
	unsigned max_connections;
	unsigned port;
	int family;
	int fd;                     /* our listening socket */
	int stop_fd;                /* eventfd: tells the acceptor to stop */
	int epfd;                   /* the acceptor's: listen, stop, peers */
	unsigned open;              /* connections handed to MHD and not
	                             * closed yet (atomic): the limit */
	pthread_t thread;
	int started;
	/* Sweeps, half-close checks and closes, not requests: a descriptor
	 * is never shut down by number after MHD closed it. */
	pthread_mutex_t lock;
	/* The acceptor's own: the spare descriptor for when they run out,
	 * what it refused or closed, and what it has logged of that. */
	int spare_fd;
	unsigned long refused_limit;
	unsigned long refused_fds;
	unsigned long closed_slow;
	unsigned long accept_failed;
	int accept_errno;
	unsigned long logged[4];
	time_t logged_at;
};

/* Open, bind and listen on ADDRESS:PORT.  Returns the socket, or -1 with
 * ERR set.  *FAMILY receives the address family. */
static int
listen_open(const char *address, unsigned port, int *family, unsigned *bound,
            struct error *err)
{
	struct addrinfo hints, *res = NULL;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} bound_addr;
	socklen_t sslen = sizeof(bound_addr);
	char service[8];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(address, service, &hints, &res);
	if (rc != 0) {
		error_set(err, EXIT_UNAVAILABLE, "cannot resolve address %s: %s",
		          address, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family,
	            res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, errno == EAFNOSUPPORT ? EXIT_UNAVAILABLE
		          : EXIT_OSERR, "cannot create socket for %s: %s",
		          address, strerror(errno));
		goto fail;
	}
	/* Restart at once even with connections in TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		int e = errno;

		if (e == EACCES)
			error_set(err, EXIT_NOPERM, "cannot listen on %s port %u: "
			          "%s (ports below 1024 need privileges)",
			          address, port, strerror(e));
		else
			error_set(err, EXIT_UNAVAILABLE, "cannot listen on %s "
			          "port %u: %s", address, port, strerror(e));
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		error_set(err, EXIT_UNAVAILABLE, "cannot listen on %s port %u: "
		          "%s", address, port, strerror(errno));
		goto fail;
	}
	memset(&bound_addr, 0, sizeof(bound_addr));
	if (getsockname(fd, &bound_addr.sa, &sslen) < 0) {
		error_set(err, EXIT_OSERR, "getsockname: %s", strerror(errno));
		goto fail;
	}
	*bound = ntohs(bound_addr.sa.sa_family == AF_INET6
	               ? bound_addr.in6.sin6_port : bound_addr.in.sin_port);
	*family = res->ai_family;
	freeaddrinfo(res);
	return fd;

fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

unsigned
acceptor_fit_connections(unsigned wanted, unsigned threads)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)wanted + ACCEPTOR_FD_RESERVE(threads);

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return wanted;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit raised = rl;

		raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		                  rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl = raised;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		unsigned fit = rl.rlim_cur > ACCEPTOR_FD_RESERVE(threads) + 1
		               ? (unsigned)(rl.rlim_cur -
		                            ACCEPTOR_FD_RESERVE(threads)) : 1;

		log_warn("open-file limit is %llu: connection limit lowered "
		         "from %u to %u (raise it with ulimit -n or "
		         "LimitNOFILE=)", (unsigned long long)rl.rlim_cur,
		         wanted, fit);
		return fit;
	}
	return wanted;
}

/*
 * libmicrohttpd's own connection limit must never be reached: in 0.9.75,
 * new_connection_process_ returns from that check with
 * cleanup_connection_mutex still locked (fixed upstream after 0.9.75),
 * and every thread then waits on that mutex for ever, MHD_stop_daemon
 * included.  And with a thread pool it splits the limit between the
 * threads, picking a thread by descriptor number, so that a thread can be
 * full long before the daemon is.  So the limit that counts is ours
 * (acc->open, checked by the acceptor), and MHD's is set where it cannot
 * be reached: each of its connections holds a descriptor until after its
 * count goes down, so no thread can hold more than the open-file limit.
 */
unsigned
acceptor_mhd_limit(unsigned threads)
{
	struct rlimit rl;
	unsigned long long n = 1ull << 20; /* Linux's default fs.nr_open */

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
		n = (unsigned long long)rl.rlim_max;
	n = (n + 64) * threads;
	return n > UINT_MAX / 2 ? UINT_MAX / 2 : (unsigned)n;
}

/*
 * The acceptor thread.  We accept connections ourselves and hand them to
 * libmicrohttpd (MHD_add_connection; the daemon has no listening socket)
 * because MHD 0.9.75's own way to stop accepting, MHD_quiesce_daemon,
 * races its epoll worker threads: both remove the listening socket from
 * the epoll set, and the loser aborts the process ("Failed to remove
 * listen FD from epoll set"), about once in 300 stops under load.  With
 * our own acceptor, stopping is: end this thread, shut the socket.
 */

void
acceptor_count_out(struct acceptor *acc, int fd)
{
	if (wire_count_out(fd))
		atom_sub(acc->open, 1);
}

/* FD is closed, or about to be, and libmicrohttpd will not tell us
 * again: count it out and forget its wire state (under the lock). */
static void
closed_locked(struct acceptor *acc, int fd)
{
	acceptor_count_out(acc, fd);
	wire_detach(fd);
}

void
acceptor_closing(struct acceptor *acc, int fd)
{
	pthread_mutex_lock(&acc->lock);
	deadline_clear(acc->deadlines, fd);
	closed_locked(acc, fd);
	pthread_mutex_unlock(&acc->lock);
}

/* Out of descriptors (EMFILE, ENFILE): free the spare one, accept the
 * next client with it, answer 503 and close, then take the spare back.
 * The client learns at once that it was refused, instead of waiting in
 * the backlog, and epoll stops reporting a backlog that we cannot take
 * (a busy loop).  Returns 0, or -1 with errno set: EAGAIN if the backlog
 * is empty, EMFILE if the spare is gone (taken by another thread). */
static int
accept_refuse(struct acceptor *acc)
{
	int cfd, e;

	if (acc->spare_fd < 0)
		acc->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (acc->spare_fd < 0)
		return -1;
	close(acc->spare_fd);
	cfd = accept4(acc->fd, NULL, NULL, SOCK_CLOEXEC);
	e = errno;
	if (cfd >= 0) {
		wire_refuse(cfd);
		atom_add(acc->refused_fds, 1);
	}
	acc->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	errno = e;
	return cfd >= 0 ? 0 : -1;
}

/* Hand the new client CFD (address SS of LEN bytes) to MHD: check its
 * bytes from now on (wire_attach), count it, and watch for its peer
 * half-closing; at the connection limit, or beyond the descriptors the
 * wire table covers, answer 503 and close it instead. */
static void
accept_one(struct acceptor *acc, int cfd, struct sockaddr_storage *ss,
           socklen_t len)
{
	struct epoll_event ev;
	uint32_t gen;
	int stale;

	if (atom_load(acc->open) >= acc->max_connections) {
		wire_refuse(cfd);
		atom_add(acc->refused_limit, 1);
		return;
	}
	gen = wire_attach(acc->wire, cfd, &stale);
	if (gen == 0) {
		wire_refuse(cfd);
		atom_add(acc->refused_fds, 1);
		return;
	}
	if (!stale)
		atom_add(acc->open, 1);
	/* One-shot: a half-close is reported once.  Failure only loses the
	 * early close of a half-closed peer (the timeout still applies). */
	ev.events = EPOLLRDHUP | EPOLLONESHOT;
	ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)cfd;
	if (acc->epfd >= 0)
		epoll_ctl(acc->epfd, EPOLL_CTL_ADD, cfd, &ev);
	if (acc->hand != NULL) {
		acc->hand(acc->hand_arg, cfd, (struct sockaddr *)ss, len);
		return;
	}
	if (MHD_add_connection(acc->daemon, cfd, (struct sockaddr *)ss, len)
	    != MHD_YES) {
		/* MHD closed CFD and will not notify its close. */
		pthread_mutex_lock(&acc->lock);
		closed_locked(acc, cfd);
		pthread_mutex_unlock(&acc->lock);
	}
}

/* Accept every connection waiting on the listening socket (accept_one).
 * Returns the errno that ended the loop: EAGAIN once the backlog is
 * empty. */
static int
accept_backlog(struct acceptor *acc)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(acc->fd, (struct sockaddr *)&ss, &len,
		                  SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0 && (errno == EMFILE || errno == ENFILE) &&
		    accept_refuse(acc) == 0)
			continue;
		if (cfd >= 0)
			accept_one(acc, cfd, &ss, len);
		else if (errno != EINTR && errno != ECONNABORTED)
			return errno;
	}
}

/* Log what the acceptor refused or closed since it last did, at most
 * every LOG_REPORT_SECONDS: a flood must not flood the log too. */
static void
acceptor_report(struct acceptor *acc)
{
	const unsigned long n[4] = {
		atom_load(acc->refused_limit), atom_load(acc->refused_fds),
		acc->closed_slow, acc->accept_failed};
	unsigned long d[4];
	time_t now = time(NULL);
	int i, any = 0;

	if (now - acc->logged_at < LOG_REPORT_SECONDS)
		return;
	for (i = 0; i < 4; i++) {
		d[i] = n[i] - acc->logged[i];
		acc->logged[i] = n[i];
		any |= d[i] != 0;
	}
	if (d[0] != 0)
		log_warn("refused %lu connection%s: connection limit (%u) "
		         "reached", d[0], d[0] == 1 ? "" : "s",
		         acc->max_connections);
	if (d[1] != 0)
		log_warn("refused %lu connection%s: out of file descriptors "
		         "(raise ulimit -n or LimitNOFILE=)", d[1],
		         d[1] == 1 ? "" : "s");
	if (d[2] != 0)
		log_warn("closed %lu connection%s that sent no whole request "
		         "within %llu s", d[2], d[2] == 1 ? "" : "s",
		         (unsigned long long)(deadlines_timeout_ms(acc->deadlines)
		                              / 1000));
	if (d[3] != 0)
		log_warn("accept failed %lu time%s: %s", d[3],
		         d[3] == 1 ? "" : "s", strerror(acc->accept_errno));
	if (any)
		acc->logged_at = now;
}

/* How often the acceptor sweeps the deadlines: a quarter of --timeout,
 * between 100 ms and 1 s (so a slow client is closed within that much
 * after its deadline); 1 s without a timeout. */
static uint64_t
sweep_ms(uint64_t timeout_ms)
{
	uint64_t ms = timeout_ms / 4;

	return timeout_ms == 0 || ms > 1000 ? 1000 : ms < 100 ? 100 : ms;
}

/* Shut down the connections past their deadline (deadline_sweep). */
static void
acceptor_sweep(struct acceptor *acc)
{
	unsigned out;

	pthread_mutex_lock(&acc->lock);
	/* The acceptor thread's own counter, read by /metrics. */
	atom_bump(acc->closed_slow, deadline_sweep(acc->deadlines, &out));
	if (out != 0)
		atom_sub(acc->open, out);
	pthread_mutex_unlock(&acc->lock);
}

void
acceptor_close_idle(struct acceptor *acc)
{
	unsigned out;

	pthread_mutex_lock(&acc->lock);
	out = wire_close_idle(acc->wire);
	if (out != 0)
		atom_sub(acc->open, out);
	pthread_mutex_unlock(&acc->lock);
}

/* A client's peer half-closed (or reset): see wire_peer_closed.  The
 * lock keeps MHD from closing the descriptor (acceptor_closing) while
 * it is checked. */
static void
acceptor_peer_closed(struct acceptor *acc, uint64_t tag)
{
	pthread_mutex_lock(&acc->lock);
	if (wire_peer_closed((int)(uint32_t)tag, (uint32_t)(tag >> 32)))
		acceptor_count_out(acc, (int)(uint32_t)tag);
	pthread_mutex_unlock(&acc->lock);
}

static void *
acceptor_loop(void *arg)
{
	struct acceptor *acc = arg;
	struct epoll_event ev[64];
	struct timespec nap = {0, 10L * 1000 * 1000};
	uint64_t period = sweep_ms(deadlines_timeout_ms(acc->deadlines));
	uint64_t next_sweep = clock_ms() + period;
	int e, i, listen_ready, stop = 0;

	while (!stop) {
		uint64_t now = clock_ms();
		int n;

		/* Also wakes up to log what it refused (acceptor_report). */
		if (now >= next_sweep) {
			if (acc->deadlines != NULL)
				acceptor_sweep(acc);
			next_sweep = now + period;
		}
		acceptor_report(acc);
		n = epoll_wait(acc->epfd, ev, 64, (int)(next_sweep - now));
		if (n < 0) {
			if (errno != EINTR)
				nanosleep(&nap, NULL);
			continue;
		}
		listen_ready = 0;
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == TAG_STOP)
				stop = 1;
			else if (ev[i].data.u64 == TAG_LISTEN)
				listen_ready = 1;
			else
				acceptor_peer_closed(acc, ev[i].data.u64);
		}
		if (stop || !listen_ready)
			continue;
		e = accept_backlog(acc);
		if (e == EAGAIN || e == EWOULDBLOCK)
			continue;
		/* Out of memory, or of descriptors with the spare gone: leave
		 * the clients in the backlog and try again shortly, rather
		 * than spin. */
		atom_bump(acc->accept_failed, 1);
		acc->accept_errno = e;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

struct acceptor *
acceptor_new(const char *address, unsigned port, unsigned max_connections,
             struct wire *w, struct deadlines *d, struct error *err)
{
	struct epoll_event listen_ev = {EPOLLIN, {.u64 = TAG_LISTEN}};
	struct epoll_event stop_ev = {EPOLLIN, {.u64 = TAG_STOP}};
	struct acceptor *acc = calloc(1, sizeof(*acc));

	if (acc == NULL) {
		error_set(err, EXIT_OSERR, "out of memory");
		return NULL;
	}
	acc->wire = w;
	acc->deadlines = d;
	acc->max_connections = max_connections;
	acc->family = AF_INET;
	acc->stop_fd = -1;
	acc->epfd = -1;
	pthread_mutex_init(&acc->lock, NULL);
	/* Kept for accept_refuse; it works without (failure is harmless). */
	acc->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	acc->fd = listen_open(address, port, &acc->family, &acc->port, err);
	if (acc->fd < 0)
		goto fail;

	acc->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (acc->stop_fd < 0) {
		error_set(err, EXIT_OSERR, "eventfd: %s", strerror(errno));
		goto fail;
	}
	acc->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (acc->epfd < 0) {
		error_set(err, EXIT_OSERR, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	if (epoll_ctl(acc->epfd, EPOLL_CTL_ADD, acc->fd, &listen_ev) < 0 ||
	    epoll_ctl(acc->epfd, EPOLL_CTL_ADD, acc->stop_fd, &stop_ev) < 0) {
		error_set(err, EXIT_OSERR, "epoll_ctl: %s", strerror(errno));
		goto fail;
	}
	return acc;

fail:
	acceptor_free(acc);
	return NULL;
}

int
acceptor_listen(const char *address, unsigned port, int *family,
                unsigned *bound, struct error *err)
{
	return listen_open(address, port, family, bound, err);
}

int
acceptor_family(const struct acceptor *acc)
{
	return acc->family;
}

unsigned
acceptor_port(const struct acceptor *acc)
{
	return acc->port;
}

void
acceptor_hand_to(struct acceptor *acc, acceptor_hand_fn *hand, void *arg)
{
	acc->hand = hand;
	acc->hand_arg = arg;
}

int
acceptor_start(struct acceptor *acc, struct MHD_Daemon *daemon,
               struct error *err)
{
	acc->daemon = daemon;
	if (pthread_create(&acc->thread, NULL, acceptor_loop, acc) != 0) {
		error_set(err, EXIT_OSERR, "cannot start the acceptor thread");
		return -1;
	}
	acc->started = 1;
	return 0;
}

void
acceptor_stop(struct acceptor *acc)
{
	if (acc->started) {
		uint64_t one = 1;

		if (write(acc->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(acc->thread, NULL);
		acc->started = 0;
	}
	accept_backlog(acc);
	shutdown(acc->fd, SHUT_RDWR);
	close(acc->fd);
	close(acc->stop_fd);
	close(acc->epfd);
	acc->fd = acc->stop_fd = acc->epfd = -1;
}

void
acceptor_free(struct acceptor *acc)
{
	if (acc == NULL)
		return;
	if (acc->fd >= 0)
		close(acc->fd);
	if (acc->stop_fd >= 0)
		close(acc->stop_fd);
	if (acc->epfd >= 0)
		close(acc->epfd);
	if (acc->spare_fd >= 0)
		close(acc->spare_fd);
	pthread_mutex_destroy(&acc->lock);
	free(acc);
}

unsigned
acceptor_open(const struct acceptor *acc)
{
	return atom_load(acc->open);
}

void
acceptor_refused(const struct acceptor *acc, unsigned long *limit,
                 unsigned long *fds)
{
	*limit = atom_load(acc->refused_limit);
	*fds = atom_load(acc->refused_fds);
}

void
acceptor_failed(const struct acceptor *acc, unsigned long *timeouts,
                unsigned long *accept_errors)
{
	*timeouts = atom_load(acc->closed_slow);
	*accept_errors = atom_load(acc->accept_failed);
}
