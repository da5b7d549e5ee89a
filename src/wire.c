/* wire.c -- between a client's socket and libmicrohttpd: the framing
 * check on every byte read, the answers written without libmicrohttpd,
 * and the state kept per client descriptor (see wire.h). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "atomicvar.h"
#include "routes.h"
#include "wire.h"

/* The largest table: descriptors beyond it are refused. */
#define TABLE_MAX ((size_t)1 << 20)

/* What a refused connection may still send that is read and dropped
 * before the close, so that the close sends a FIN, not a reset that
 * could destroy the answer before the client reads it. */
#define DRAIN_BYTES 65536

/* A verdict that has been answered: the connection reads as closed. */
#define VERDICT_DONE 0xff

struct wire {
	struct guard_limits limits;
	unsigned long rejected[GUARD_VERDICT_COUNT]; /* atomic */
	int fd_max;            /* the highest descriptor attached (atomic;
	                        * written by wire_attach only) */
};

/* One descriptor's state, a cache line of its own: only the thread
 * serving the connection writes g, started and verdict. */
struct wire_slot {
	struct guard g;
	struct wire *owner;    /* NULL: not a client connection */
	uint32_t started;      /* g.requests, published for the acceptor */
	uint32_t finished;     /* requests answered */
	uint16_t gen;          /* bumped by each wire_attach */
	uint16_t stop_seen;    /* stopping: seen idle after finished
	                        * (stop_mark); 0: not (acceptor's lock) */
	uint8_t in_recv;       /* the serving thread is in recv */
	uint8_t peer_closed;   /* the peer has half-closed */
	uint8_t verdict;       /* a refusal to answer at the next recv */
	uint8_t counted;       /* counted in the server's open connections */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct wire_slot) == 64, "a slot is a cache line");

/* Made by the first wire_new and kept for the life of the process: a
 * thread may be in recv on some other socket while the last server
 * stops, and must not find it freed under it. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wire_slot *table;  /* read without the lock */
static size_t table_size;

/* Bytes a descriptor's recv returns before its socket's (wire_stash):
 * what the relay's front end read of a connection it handed on. */
struct wire_stash {
	size_t len, off;
	char data[];
};

/* Made by the first wire_stash, sized as TABLE, kept as TABLE is. */
static struct wire_stash **stashes;

static struct wire_slot *
slot_get(int fd)
{
	struct wire_slot *t = atom_load_acquire(table);

	if (t == NULL || fd < 0 || (size_t)fd >= atom_load(table_size))
		return NULL;
	return &t[fd];
}

struct wire *
wire_new(size_t pool_size, struct error *err)
{
	struct wire *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		error_set(err, EXIT_OSERR, "out of memory");
		return NULL;
	}
	guard_limits_init(&w->limits, pool_size);
	pthread_mutex_lock(&table_lock);
	if (table == NULL) {
		struct rlimit rl;
		size_t n = TABLE_MAX;
		struct wire_slot *t;

		/* Sized to the hard limit, so that no descriptor can be
		 * beyond it; calloc maps it lazily, so that only the pages
		 * of descriptors in use take memory. */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_max != RLIM_INFINITY && rl.rlim_max < TABLE_MAX)
			n = (size_t)rl.rlim_max;
		t = calloc(n, sizeof(*t));
		if (t == NULL) {
			pthread_mutex_unlock(&table_lock);
			free(w);
			error_set(err, EXIT_OSERR, "out of memory");
			return NULL;
		}
		atom_store(table_size, n);
		atom_store_release(table, t);
	}
	pthread_mutex_unlock(&table_lock);
	return w;
}

void
wire_free(struct wire *w)
{
	free(w);
}

size_t
wire_fds(void)
{
	return atom_load(table_size);
}

int
wire_recv_hooked(void)
{
	return dlsym(RTLD_DEFAULT, "recv") == (void *)recv;
}

uint32_t
wire_attach(struct wire *w, int fd, int *stale)
{
	struct wire_slot *s = slot_get(fd);

	*stale = 0;
	if (s == NULL)
		return 0;
	/* Still counted: its connection was never counted out. */
	*stale = atom_swap_sync(s->counted, 1);
	guard_reset(&s->g);
	s->started = s->finished = 0;
	s->in_recv = s->peer_closed = 0;
	s->stop_seen = 0;
	s->verdict = GUARD_OK;
	if (++s->gen == 0)
		s->gen = 1;
	if (fd > atom_load(w->fd_max))
		atom_store(w->fd_max, fd);
	/* Published to the serving thread by libmicrohttpd's hand-over. */
	atom_store_release(s->owner, w);
	return s->gen;
}

int
wire_count_out(int fd)
{
	struct wire_slot *s = slot_get(fd);

	return s != NULL && atom_swap_sync(s->counted, 0);
}

/* Free FD's stash, if any.  The thread serving FD, or its close. */
static void
stash_drop(int fd)
{
	struct wire_stash **st = atom_load_acquire(stashes);

	if (st != NULL && st[fd] != NULL) {
		free(st[fd]);
		st[fd] = NULL;
	}
}

void
wire_detach(int fd)
{
	struct wire_slot *s = slot_get(fd);

	if (s != NULL) {
		stash_drop(fd);
		atom_store_release(s->owner, NULL);
	}
}

int
wire_single(int fd)
{
	struct wire_slot *s = slot_get(fd);

	return s != NULL && s->verdict == GUARD_OK && guard_idle(&s->g) &&
	       s->g.done == s->finished + 1;
}

int
wire_stash(int fd, const char *buf, size_t len)
{
	struct wire_stash **st = atom_load_acquire(stashes), *one;

	if (slot_get(fd) == NULL)
		return -1;
	if (st == NULL) {
		pthread_mutex_lock(&table_lock);
		st = stashes;
		if (st == NULL) {
			/* Mapped lazily, as the table. */
			st = calloc(atom_load(table_size),
			            sizeof(struct wire_stash *));
			atom_store_release(stashes, st);
		}
		pthread_mutex_unlock(&table_lock);
		if (st == NULL)
			return -1;
	}
	one = malloc(sizeof(*one) + len);
	if (one == NULL)
		return -1;
	one->len = len;
	one->off = 0;
	memcpy(one->data, buf, len);
	free(st[fd]);
	st[fd] = one;
	return 0;
}

/* Give the next bytes of FD's stash (up to LEN) to BUF.  Returns how
 * many, or 0 if FD has no stash. */
static size_t
stash_take(int fd, char *buf, size_t len)
{
	struct wire_stash **st = atom_load_acquire(stashes), *one;
	size_t n;

	if (st == NULL || (one = st[fd]) == NULL || len == 0)
		return 0;
	n = one->len - one->off < len ? one->len - one->off : len;
	memcpy(buf, one->data + one->off, n);
	one->off += n;
	if (one->off == one->len)
		stash_drop(fd);
	return n;
}

static void answer_verdict(int fd, enum guard_verdict v);

/* Answer the refusal V on FD now; S reads as closed from then on. */
static void
slot_refuse(struct wire_slot *s, int fd, enum guard_verdict v)
{
	answer_verdict(fd, v);
	atom_store_sync(s->verdict, VERDICT_DONE);
}

/* Bytes received on FD and not read yet. */
static int
unread(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 ? n : 1;
}

int
wire_completed(int fd)
{
	struct wire_slot *s = slot_get(fd);
	uint32_t done;

	if (s == NULL || atom_load_acquire(s->owner) == NULL)
		return 0;
	done = atom_add_sync(s->finished, 1);
	if (s->verdict != GUARD_OK && s->verdict != VERDICT_DONE &&
	    done == s->g.done) {
		/* Every request before the bad one is answered: answer it
		 * and shut the connection, which libmicrohttpd then closes
		 * (it would not read again by itself: this socket's bytes
		 * were all consumed, and its epoll is edge-triggered). */
		slot_refuse(s, fd, (enum guard_verdict)s->verdict);
		shutdown(fd, SHUT_RDWR);
		return 1;
	}
	/* Paired with wire_peer_closed: it stores peer_closed then loads
	 * finished, this stores finished then loads peer_closed, so at
	 * least one of the two sees the connection idle and half-closed. */
	if (!atom_load_sync(s->peer_closed))
		return 0;
	/* This thread is the only reader of FD: nothing is in flight. */
	if (s->g.requests != done || unread(fd) != 0)
		return 0;
	shutdown(fd, SHUT_RDWR);
	return 1;
}

/*
 * Non-zero if S (descriptor FD) is idle: not in recv, every request
 * begun has been answered, and nothing unread.  A request counts as
 * begun from the first byte of its request line (guard_feed), so a
 * connection of which libmicrohttpd has read part of the next request
 * is not idle; empty lines before a request line belong to no request
 * (RFC 9112 2.2) and do not count.  The serving thread sets in_recv
 * before it reads and publishes started before it clears it, so a read
 * that overlaps these checks is seen by one of them.  A refusal still
 * to be written (after the answers before it, by wire_completed) or
 * being written is not idle either: the serving thread closes.  The
 * caller holds the acceptor's lock (FD is not closed meanwhile).
 */
static int
slot_idle(struct wire_slot *s, int fd)
{
	uint32_t started;

	if (atom_load_sync(s->in_recv))
		return 0;
	started = atom_load_sync(s->started);
	return started == atom_load_sync(s->finished) &&
	       unread(fd) == 0 &&
	       !atom_load_sync(s->in_recv) &&
	       atom_load_sync(s->started) == started &&
	       atom_load_sync(s->verdict) == GUARD_OK;
}

int
wire_peer_closed(int fd, uint32_t gen)
{
	struct wire_slot *s = slot_get(fd);

	if (s == NULL || atom_load_acquire(s->owner) == NULL || s->gen != gen)
		return 0;
	atom_store_sync(s->peer_closed, 1);
	/* After the peer's FIN nothing more can come: idle is for good. */
	if (!slot_idle(s, fd))
		return 0;
	shutdown(fd, SHUT_RDWR);
	return 1;
}

/* What stop_seen holds for a connection seen idle after FINISHED
 * answers: never 0. */
static uint16_t
stop_mark(uint32_t finished)
{
	return (uint16_t)(finished % 0xffffu + 1u);
}

unsigned
wire_close_idle(struct wire *w)
{
	int fd, max = atom_load(w->fd_max);
	unsigned out = 0;

	for (fd = 0; fd <= max; fd++) {
		struct wire_slot *s = slot_get(fd);
		uint16_t mark;

		/* Another server's (tests run two in one process), not a
		 * client, or counted out already: shut down or closing. */
		if (s == NULL || atom_load_acquire(s->owner) != w ||
		    !atom_load(s->counted))
			continue;
		if (!slot_idle(s, fd)) {
			s->stop_seen = 0;
			continue;
		}
		/* Idle now and at the previous call, no request between. */
		mark = stop_mark(atom_load_sync(s->finished));
		if (s->stop_seen != mark) {
			s->stop_seen = mark;
			continue;
		}
		shutdown(fd, SHUT_RDWR);
		if (wire_count_out(fd))
			out++;
	}
	return out;
}

/* Write a whole answer with STATUS (REASON), the JSON error MESSAGE and
 * the header line EXTRA (may be "") to FD without blocking, then end the
 * sending side and drop what the client still sent.  No allocation: this
 * runs on the request path of a bad request and in the acceptor. */
static void
answer(int fd, unsigned status, const char *reason, const char *message,
       const char *extra)
{
	char head[512], date[64], body[128], drain[4096];
	struct tm tm;
	time_t now = time(NULL);
	int hn, bn;
	size_t dropped = 0;
	ssize_t r;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		date[0] = '\0';
	bn = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", message);
	hn = snprintf(head, sizeof(head),
	              "HTTP/1.1 %u %s\r\n"
	              "Date: %s\r\n"
	              "Content-Type: application/json\r\n"
	              "Engine: " ROUTES_ENGINE "\r\n"
	              "Cache-Control: no-store\r\n"
	              "Connection: close\r\n"
	              "%s"
	              "Content-Length: %d\r\n"
	              "\r\n%s", status, reason, date, extra, bn, body);
	if (hn > 0 && (size_t)hn < sizeof(head) && bn > 0)
		send(fd, head, (size_t)hn, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	do {
		r = recvfrom(fd, drain, sizeof(drain), MSG_DONTWAIT, NULL, NULL);
		dropped += r > 0 ? (size_t)r : 0;
	} while (r > 0 && dropped < DRAIN_BYTES);
}

void
wire_refuse(int fd)
{
	answer(fd, 503, "Service Unavailable", "too many connections",
	       "Retry-After: 1\r\n");
	close(fd);
}

static void
answer_verdict(int fd, enum guard_verdict v)
{
	static const char *const message[GUARD_VERDICT_COUNT] = {
		"", "bad request", "request body too large",
		"request target too long", "request header fields too large",
		"transfer coding not implemented",
		"HTTP version not supported"};

	answer(fd, guard_status(v), guard_reason(v), message[v], "");
}

void
wire_rejected(const struct wire *w, unsigned long out[GUARD_VERDICT_COUNT])
{
	int i;

	for (i = 0; i < GUARD_VERDICT_COUNT; i++)
		out[i] = atom_load(w->rejected[i]);
}

/* recv on a client connection: see wire.h. */
static ssize_t
slot_recv(struct wire_slot *s, int fd, char *buf, size_t len, int flags)
{
	size_t good;
	ssize_t n;

	/* Bytes the front end read, already fed to the guard: whole
	 * requests before any bad one. */
	n = (ssize_t)stash_take(fd, buf, len);
	if (n > 0)
		return n;
	if (s->verdict == VERDICT_DONE)
		return 0;
	if (s->verdict != GUARD_OK) {
		/* The requests before the bad one have been answered:
		 * libmicrohttpd reads again only once they are. */
		slot_refuse(s, fd, (enum guard_verdict)s->verdict);
		return 0;
	}
	atom_store_sync(s->in_recv, 1);
	n = recvfrom(fd, buf, len, flags, NULL, NULL);
	if (n > 0) {
		enum guard_verdict v = guard_feed(&s->g, &s->owner->limits, buf,
		                                  (size_t)n, &good);

		atom_store_sync(s->started, s->g.requests);
		if (v != GUARD_OK) {
			atom_add(s->owner->rejected[v], 1);
			/* Before in_recv is cleared: see slot_idle. */
			atom_store_sync(s->verdict, (uint8_t)v);
			if (good > 0) {
				/* Hand on the whole requests before the bad
				 * one; their answers go first, and the
				 * completion of the last of them answers the
				 * bad one (wire_completed). */
				n = (ssize_t)good;
			} else {
				slot_refuse(s, fd, v);
				n = 0;
			}
		}
	}
	atom_store_sync(s->in_recv, 0);
	return n;
}

/* libmicrohttpd 0.9.75 reads every client socket with recv(s, b, l, 0)
 * (mhd_sockets.h, MHD_recv_); a program's own definition of recv is the
 * one its shared libraries bind to.  Other sockets, and MSG_PEEK, pass
 * straight through to recvfrom. */
ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	struct wire_slot *s = slot_get(fd);

	if (s == NULL || (flags & MSG_PEEK) != 0 ||
	    atom_load_acquire(s->owner) == NULL)
		return recvfrom(fd, buf, len, flags, NULL, NULL);
	return slot_recv(s, fd, buf, len, flags);
}
