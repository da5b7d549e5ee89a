/* relay.c -- relay mode: answer GET PATH with an upstream's body. */
/*
 * One relay thread drives every upstream request with its own small
 * HTTP/1.1 client (src/upstream.c parses): one epoll set, non-blocking
 * sockets, at most --upstream-connections keep-alive connections, one
 * prebuilt request.  It sleeps in epoll_wait, until a connection is
 * ready or the next request times out; a request submitted while it
 * sleeps wakes it through an eventfd (a busy relay thread needs no
 * wake-up).  A request slot (a "job": a body buffer, reused) is taken
 * per client request, at most connections + --upstream-queue of them;
 * with none free the request gets 503 at once.  Jobs wait in a FIFO for
 * a connection; an idle connection is reused first (the most recent),
 * else a new one is opened while fewer than the limit are open.  A
 * connection goes back to the idle list only after an answer that was
 * whole and unambiguous with nothing read past it, and is reused only if
 * nothing arrived on it since (conn_reusable); anything else closes it.  In
 * epoll mode the handler suspends the client connection and the relay
 * thread resumes it when the job is done; in thread-per-connection mode
 * the connection's own thread waits on the job.  The response head is
 * read into the connection's buffer; the body is read straight into the
 * slot's buffer (what came with the head is copied there once; chunks
 * are decoded in place), which the MHD response then sends as is; the
 * slot is returned when MHD frees the response.  The upstream counters
 * are written by the relay thread only (one writer, like each slot of
 * stats.c) and read with relaxed loads by a scrape.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"
#include "relay.h"
#include "upstream.h"

/* Room past --upstream-max-bytes: to see that a body delimited by the
 * close goes over, and for the framing of a chunked one. */
#define BUF_SLACK ((size_t)1024)
/* A body buffer grows from this size, and one larger than BUF_KEEP is
 * freed when its slot is returned, so idle slots keep little memory (the
 * slack keeps a 64 KiB cap's buffer). */
#define BUF_MIN ((size_t)16 * 1024)
#define BUF_KEEP ((size_t)64 * 1024 + BUF_SLACK)
/* Addresses of the upstream host tried in turn when a connect fails. */
#define ADDRS_MAX 8

/* The host is looked up again at most this often (microseconds), when
 * connects fail: a container or pod that comes back gets a new address. */
#define RESOLVE_EVERY_US 1000000LL
#define EVENTS_MAX 64

/* Upper bounds of the latency histogram, in microseconds. */
static const unsigned long bucket_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

static const char *const kind_names[RELAY_KIND_COUNT] = {
	"ok", "connect", "timeout", "status", "content_type", "too_large",
	"body", "protocol", "stopped"};

static const char *const kind_bodies[RELAY_KIND_COUNT] = {
	"",
	"{\"error\":\"upstream unreachable\"}",
	"{\"error\":\"upstream timed out\"}",
	"{\"error\":\"upstream answered a non-2xx status\"}",
	"{\"error\":\"upstream answered a non-JSON content type\"}",
	"{\"error\":\"upstream body too large\"}",
	"{\"error\":\"upstream body is not JSON\"}",
	"{\"error\":\"upstream connection failed\"}",
	"{\"error\":\"shutting down\"}"};

static const char body_busy[] = "{\"error\":\"upstream queue full\"}";

struct relay_job {
	struct relay *rl;
	char *buf;                   /* the body; owned by the response
	                              * between relay_response and its free */
	size_t len, cap;
	struct MHD_Connection *conn; /* epoll mode: resumed when done */
	struct timespec start;
	long long deadline_us;       /* monotonic */
	enum relay_kind kind;        /* the result, once done */
	int done;                    /* atomic */
	/* Relay thread only. */
	struct upconn *upc;          /* the connection it runs on */
	int running;                 /* in the in-flight list */
	int retried;                 /* sent again on a fresh connection */
	int fresh;                   /* wants a new connection */
	unsigned tries;              /* failed connects */
	pthread_cond_t cond;         /* thread-per-connection: done */
	struct relay_job *next;      /* free, submitted, waiting, in flight */
	struct relay_job *prev;      /* in flight */
};

enum conn_state {
	CONN_CLOSED,
	CONN_CONNECTING,
	CONN_SENDING,
	CONN_HEAD,
	CONN_BODY,
	CONN_IDLE
};

/* One upstream connection slot (relay thread only). */
struct upconn {
	int fd;
	enum conn_state state;
	uint32_t gen;                /* bumped at each close: stale events */
	uint32_t index;
	int reused;                  /* a response came over it before */
	struct relay_job *job;
	size_t sent;
	char *head;                  /* UPSTREAM_HEAD_MAX bytes, kept */
	size_t hlen, scan;
	struct upstream_head h;
	struct upstream_chunks chunks;
	unsigned long long left;     /* UPSTREAM_LENGTH: body bytes to come */
	struct upconn *next, *prev;  /* idle list, or free list (next) */
};

/* Written only by the relay thread. */
struct relay_stats {
	unsigned long requests;
	unsigned long connects;
	unsigned long sum_us;
	unsigned long errors[RELAY_KIND_COUNT];
	unsigned long buckets[NBUCKETS + 1]; /* the last: over the top */
} __attribute__((aligned(64)));

struct relay {
	struct relay_stats stats;
	long long timeout_us;
	size_t max_bytes;
	int blocking;
	int epfd, wakefd;
	char *request;               /* "GET PATH HTTP/1.1\r\nHost: ..." */
	size_t request_len;
	struct sockaddr_storage addrs[ADDRS_MAX];
	socklen_t addrlens[ADDRS_MAX];
	unsigned naddrs, addr;       /* the one that worked last */
	long long resolve_us;        /* relay thread: the last ask */
	/* A host name (not an address) is looked up again by the resolver
	 * thread when connects fail; it leaves the result in pending. */
	char host[256], port[6];
	pthread_t resolver;
	int resolver_started;
	pthread_cond_t resolve_cond; /* under lock: resolve_wanted, stopping */
	int resolve_wanted;          /* under lock */
	int resolved;                /* under lock: pending is new */
	struct sockaddr_storage pending[ADDRS_MAX]; /* under lock */
	socklen_t pendinglens[ADDRS_MAX];
	unsigned npending;
	/* Relay thread only. */
	struct upconn *conns;        /* connection slots */
	unsigned nconns, nopen;      /* slots, sockets open */
	struct upconn *idle;         /* idle connections, latest first */
	struct upconn *free_conns;   /* closed slots */
	struct relay_job *waiting, *waiting_tail;
	struct relay_job *flight, *flight_tail; /* by deadline */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t lock;        /* everything below */
	struct relay_job *free_jobs;
	struct relay_job *submitted, *submitted_tail;
	struct relay_job **jobs;     /* every slot made, for relay_free */
	unsigned njobs, limit;
	int stopping;
	int sleeping;                /* the relay thread waits in epoll */
};

#define STAT_ADD(field, v) \
	__atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)

/* A Content-Type that is application/json or application/...+json. */
static int
json_type(const char *t, size_t len)
{
	size_t n = 0;

	if (t == NULL)
		return 0;
	while (n < len && t[n] != ';' && t[n] != ' ' && t[n] != '\t')
		n++;
	if (n == 16 && strncasecmp(t, "application/json", 16) == 0)
		return 1;
	return n > 17 && strncasecmp(t, "application/", 12) == 0 &&
	       strncasecmp(t + n - 5, "+json", 5) == 0;
}

/* A cheap check, not a parse: the body's first and last non-blank bytes
 * are { and } or [ and ]. */
static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
json_body(const char *b, size_t n)
{
	size_t first = 0, last = n;

	while (first < n && blank(b[first]))
		first++;
	while (last > first && blank(b[last - 1]))
		last--;
	if (last < first + 2)
		return 0;
	return (b[first] == '{' && b[last - 1] == '}') ||
	       (b[first] == '[' && b[last - 1] == ']');
}

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A new slot.  Called with the lock held; returns NULL if out of
 * memory. */
static struct relay_job *
job_new(struct relay *rl)
{
	struct relay_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->rl = rl;
	if (pthread_cond_init(&job->cond, NULL) != 0) {
		free(job);
		return NULL;
	}
	rl->jobs[rl->njobs++] = job;
	return job;
}

/* Mark JOB done with KIND and wake whoever waits for it.  In epoll mode
 * the connection is resumed after the store: the handler then finds the
 * job done, and the connection cannot go away while suspended. */
static void
job_complete(struct relay_job *job, enum relay_kind kind)
{
	struct relay *rl = job->rl;

	job->kind = kind;
	if (rl->blocking) {
		pthread_mutex_lock(&rl->lock);
		__atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
		pthread_cond_signal(&job->cond);
		pthread_mutex_unlock(&rl->lock);
	} else {
		struct MHD_Connection *conn = job->conn;

		__atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
		MHD_resume_connection(conn);
	}
}

/* Take JOB out of the in-flight list. */
static void
flight_remove(struct relay *rl, struct relay_job *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		rl->flight = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	else
		rl->flight_tail = job->prev;
	job->next = job->prev = NULL;
	job->running = 0;
}

/* Put JOB in the in-flight list, which stays sorted by deadline (jobs
 * start in submission order; only a retried one goes further back). */
static void
flight_add(struct relay *rl, struct relay_job *job)
{
	struct relay_job *after = rl->flight_tail;

	while (after != NULL && after->deadline_us > job->deadline_us)
		after = after->prev;
	job->prev = after;
	job->next = after != NULL ? after->next : rl->flight;
	if (job->next != NULL)
		job->next->prev = job;
	else
		rl->flight_tail = job;
	if (after != NULL)
		after->next = job;
	else
		rl->flight = job;
	job->running = 1;
}

/* Relay thread: count JOB's result and latency, then complete it. */
static void
job_finish(struct relay_job *job, enum relay_kind kind)
{
	struct relay *rl = job->rl;
	struct relay_stats *s = &rl->stats;
	struct timespec now;
	unsigned long us;
	size_t b = 0;

	if (job->running)
		flight_remove(rl, job);
	job->upc = NULL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (unsigned long)((now.tv_sec - job->start.tv_sec) * 1000000L +
	                     (now.tv_nsec - job->start.tv_nsec) / 1000);
	while (b < NBUCKETS && us > bucket_us[b])
		b++;
	STAT_ADD(s->buckets[b], 1);
	STAT_ADD(s->sum_us, us);
	STAT_ADD(s->requests, 1);
	if (kind != RELAY_OK)
		STAT_ADD(s->errors[kind], 1);
	job_complete(job, kind);
}

/* Take the oldest job out of the waiting queue (not empty). */
static struct relay_job *
waiting_pop(struct relay *rl)
{
	struct relay_job *job = rl->waiting;

	rl->waiting = job->next;
	if (rl->waiting == NULL)
		rl->waiting_tail = NULL;
	job->next = NULL;
	return job;
}

/* Put JOB back at the head of the waiting queue (it is the oldest). */
static void
job_requeue(struct relay *rl, struct relay_job *job)
{
	if (job->running)
		flight_remove(rl, job);
	job->upc = NULL;
	job->next = rl->waiting;
	rl->waiting = job;
	if (rl->waiting_tail == NULL)
		rl->waiting_tail = job;
}

/* Take C out of the idle list. */
static void
idle_remove(struct relay *rl, struct upconn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		rl->idle = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

/* Close C and give its slot back; its job, if any, is the caller's. */
static void
conn_close(struct relay *rl, struct upconn *c)
{
	if (c->state == CONN_IDLE)
		idle_remove(rl, c);
	close(c->fd);
	c->fd = -1;
	c->gen++;
	c->state = CONN_CLOSED;
	c->job = NULL;
	rl->nopen--;
	c->prev = NULL;
	c->next = rl->free_conns;
	rl->free_conns = c;
}

/* Make C idle, ready for the next request. */
static void
conn_idle(struct relay *rl, struct upconn *c)
{
	c->state = CONN_IDLE;
	c->job = NULL;
	c->reused = 1;
	c->prev = NULL;
	c->next = rl->idle;
	if (rl->idle != NULL)
		rl->idle->prev = c;
	rl->idle = c;
}

/* C's job ended with KIND: keep the connection if KEEP, then finish. */
static void
conn_end(struct relay *rl, struct upconn *c, enum relay_kind kind, int keep)
{
	struct relay_job *job = c->job;

	if (keep)
		conn_idle(rl, c);
	else
		conn_close(rl, c);
	job_finish(job, kind);
}

/*
 * The connection broke (an error, or the end) before any byte of the
 * answer.  A kept-alive connection the upstream closed while idle looks
 * like this: the request is sent once more on a fresh connection (GET
 * is idempotent), once.  Otherwise the request failed with KIND.
 */
static void
conn_broke(struct relay *rl, struct upconn *c, enum relay_kind kind)
{
	struct relay_job *job = c->job;
	int retry = c->reused && !job->retried;

	conn_close(rl, c);
	if (retry) {
		job->retried = 1;
		job->fresh = 1;
		job_requeue(rl, job);
	} else {
		job_finish(job, kind);
	}
}

/* Connects fail: have the resolver thread look the host up again, at
 * most once every RESOLVE_EVERY_US.  (Relay thread.) */
static void
relay_reresolve(struct relay *rl)
{
	long long now = now_us();

	if (!rl->resolver_started || now - rl->resolve_us < RESOLVE_EVERY_US)
		return;
	rl->resolve_us = now;
	pthread_mutex_lock(&rl->lock);
	rl->resolve_wanted = 1;
	pthread_cond_signal(&rl->resolve_cond);
	pthread_mutex_unlock(&rl->lock);
}

/* A connect for JOB to the current address failed: try the next one, if
 * JOB has not tried them all, else the request is unreachable. */
static void
job_unreachable(struct relay *rl, struct relay_job *job)
{
	if (++job->tries < rl->naddrs) {
		rl->addr = (rl->addr + 1) % rl->naddrs;
		job_requeue(rl, job);
	} else {
		relay_reresolve(rl);
		job_finish(job, RELAY_CONNECT);
	}
}

/* C's connect failed: close it, then as job_unreachable. */
static void
conn_unreachable(struct relay *rl, struct upconn *c)
{
	struct relay_job *job = c->job;

	conn_close(rl, c);
	job_unreachable(rl, job);
}

/* Make room for WANT more body bytes in JOB's buffer (fewer if the cap
 * comes first).  Returns the room, 0 if out of memory. */
static size_t
job_room(struct relay *rl, struct relay_job *job, size_t want)
{
	size_t limit = rl->max_bytes + BUF_SLACK, cap;
	char *buf;

	if (job->cap - job->len >= want || job->cap >= limit)
		return job->cap - job->len;
	cap = job->cap > BUF_MIN ? job->cap : BUF_MIN;
	while (cap < job->len + want && cap < limit)
		cap *= 2;
	if (cap > limit)
		cap = limit;
	buf = realloc(job->buf, cap);
	if (buf == NULL)
		return 0;
	job->buf = buf;
	job->cap = cap;
	return cap - job->len;
}

/* N new body bytes sit at the end of C's job's buffer: take them as the
 * framing says.  Returns 1 when the body is whole, 0 when more is to
 * come, -1 when C's job has ended (with an error). */
static int
body_feed(struct relay *rl, struct upconn *c, size_t n)
{
	struct relay_job *job = c->job;
	size_t out, used;
	int rc;

	switch (c->h.framing) {
	case UPSTREAM_LENGTH:
		if (n > c->left) {
			n = (size_t)c->left; /* more than announced: drop the */
			c->h.close = 1;      /* rest with the connection */
		}
		job->len += n;
		c->left -= n;
		return c->left == 0;
	case UPSTREAM_CHUNKED:
		rc = upstream_chunks_decode(&c->chunks, job->buf + job->len, n,
		                            rl->max_bytes - job->len, &out,
		                            &used);
		job->len += out;
		if (rc == -2) {
			conn_end(rl, c, RELAY_TOO_LARGE, 0);
			return -1;
		}
		if (rc < 0) {
			conn_end(rl, c, RELAY_PROTOCOL, 0);
			return -1;
		}
		if (rc == 1 && used < n)
			c->h.close = 1;
		return rc;
	default: /* UPSTREAM_CLOSE */
		job->len += n;
		if (job->len > rl->max_bytes) {
			conn_end(rl, c, RELAY_TOO_LARGE, 0);
			return -1;
		}
		return 0;
	}
}

/* C's job has its whole body: check it and keep the connection. */
static void
body_done(struct relay *rl, struct upconn *c)
{
	struct relay_job *job = c->job;

	conn_end(rl, c, json_body(job->buf, job->len) ? RELAY_OK : RELAY_BODY,
	         !c->h.close);
}

/*
 * The head of C's answer is complete (c->h): check the status and type,
 * then copy the body bytes that came with the head into the job's buffer
 * (the body's one copy).  Returns 1 when the body is whole, 0 when more
 * is to come, -1 when the job has ended.
 */
static int
head_done(struct relay *rl, struct upconn *c)
{
	struct relay_job *job = c->job;
	const struct upstream_head *h = &c->h;
	enum relay_kind early = RELAY_OK;
	size_t off = h->size;
	int rc = 0;

	if (h->status < 200 || h->status > 299)
		early = RELAY_STATUS;
	else if (!json_type(h->type, h->type_len))
		early = RELAY_CONTENT_TYPE;
	else if (h->framing == UPSTREAM_LENGTH && h->length > rl->max_bytes)
		early = RELAY_TOO_LARGE;
	if (early != RELAY_OK) {
		/* Keep the connection only if the whole (small) answer is in. */
		conn_end(rl, c, early, !h->close &&
		         h->framing == UPSTREAM_LENGTH &&
		         c->hlen - off == h->length);
		return -1;
	}
	c->state = CONN_BODY;
	c->left = h->length;
	if (h->framing == UPSTREAM_CHUNKED)
		upstream_chunks_init(&c->chunks);
	if (h->framing == UPSTREAM_LENGTH && h->length == 0)
		return 1;
	while (off < c->hlen && rc == 0) {
		size_t want = c->hlen - off, n;

		if (h->framing == UPSTREAM_LENGTH)
			want = (size_t)h->length;
		n = job_room(rl, job, want);
		if (n == 0) {
			conn_end(rl, c, RELAY_PROTOCOL, 0); /* out of memory */
			return -1;
		}
		if (n > c->hlen - off)
			n = c->hlen - off;
		memcpy(job->buf + job->len, c->head + off, n);
		off += n;
		rc = body_feed(rl, c, n);
	}
	if (rc == 1 && off < c->hlen)
		c->h.close = 1; /* bytes after the answer: do not reuse */
	return rc;
}

/* Read what C's socket has, as long as it has some.  A read shorter than
 * the room means the socket is drained (the next bytes bring an
 * edge-triggered event), unless HUP: the upstream's end, or an error,
 * came with the event and no other event will tell, so read on until
 * the end or EAGAIN. */
static void
conn_read(struct relay *rl, struct upconn *c, int hup)
{
	for (;;) {
		struct relay_job *job = c->job;
		size_t room;
		ssize_t r;
		int rc;

		if (c->state == CONN_HEAD) {
			room = UPSTREAM_HEAD_MAX - c->hlen;
			if (room == 0) {
				conn_end(rl, c, RELAY_PROTOCOL, 0); /* head too big */
				return;
			}
			r = read(c->fd, c->head + c->hlen, room);
		} else {
			room = c->h.framing == UPSTREAM_LENGTH
			       ? (size_t)c->left : BUF_MIN;
			room = job_room(rl, job, room);
			if (room == 0) {
				conn_end(rl, c, RELAY_PROTOCOL, 0);
				return;
			}
			if (c->h.framing == UPSTREAM_LENGTH && room > c->left)
				room = (size_t)c->left;
			r = read(c->fd, job->buf + job->len, room);
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			if (c->state == CONN_HEAD && c->hlen == 0)
				conn_broke(rl, c, RELAY_PROTOCOL);
			else if (r == 0 && c->state == CONN_BODY &&
			         c->h.framing == UPSTREAM_CLOSE)
				body_done(rl, c);
			else
				conn_end(rl, c, RELAY_PROTOCOL, 0);
			return;
		}
		if (c->state == CONN_HEAD) {
			c->hlen += (size_t)r;
			rc = upstream_head_parse(c->head, c->hlen, &c->scan, &c->h);
			while (rc == 1 && c->h.status < 200) {
				/* An interim answer (100, 103): skip it.  (A 101 is
				 * refused by the parser.) */
				c->hlen -= c->h.size;
				memmove(c->head, c->head + c->h.size, c->hlen);
				c->scan = 0;
				rc = upstream_head_parse(c->head, c->hlen, &c->scan,
				                         &c->h);
			}
			if (rc < 0) {
				conn_end(rl, c, RELAY_PROTOCOL, 0);
				return;
			}
			if (rc == 1)
				rc = head_done(rl, c);
		} else {
			rc = body_feed(rl, c, (size_t)r);
		}
		if (rc < 0)
			return;
		if (rc == 1) {
			if (hup)
				c->h.close = 1; /* its end is in: no event to come */
			body_done(rl, c);
			return;
		}
		if ((size_t)r < room && !hup)
			return;
	}
}

/* Send (the rest of) the request on C, then wait for the answer. */
static void
conn_send(struct relay *rl, struct upconn *c)
{
	while (c->sent < rl->request_len) {
		ssize_t r = send(c->fd, rl->request + c->sent,
		                 rl->request_len - c->sent, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->state = CONN_SENDING;
			return;
		}
		if (r < 0) {
			conn_broke(rl, c, RELAY_PROTOCOL);
			return;
		}
		c->sent += (size_t)r;
	}
	c->state = CONN_HEAD;
	c->hlen = 0;
	c->scan = 0;
}

/* Start JOB on C, an idle or newly connected connection. */
static void
conn_start(struct relay *rl, struct upconn *c, struct relay_job *job)
{
	c->job = job;
	c->sent = 0;
	job->upc = c;
	conn_send(rl, c);
}

/* The event data for C: its index and generation, never 0 (the
 * eventfd's). */
static uint64_t
conn_key(const struct upconn *c)
{
	return ((uint64_t)c->gen << 32) | (uint64_t)(c->index + 1);
}

/* Open a connection for JOB on a free slot (there is one) to the
 * current address.  Returns 0 when connecting or connected, -1 (with
 * the slot given back) when the connect failed at once. */
static int
conn_open(struct relay *rl, struct relay_job *job)
{
	struct upconn *c = rl->free_conns;
	const struct sockaddr_storage *sa = &rl->addrs[rl->addr];
	struct epoll_event ev;
	int one = 1;

	if (c->head == NULL) {
		c->head = malloc(UPSTREAM_HEAD_MAX);
		if (c->head == NULL)
			return -1;
	}
	c->fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	               SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	rl->free_conns = c->next;
	c->next = c->prev = NULL;
	rl->nopen++;
	c->reused = 0;
	c->job = job;
	c->state = CONN_CONNECTING;
	job->upc = c;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = conn_key(c);
	if (epoll_ctl(rl->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0 ||
	    (connect(c->fd, (const struct sockaddr *)sa,
	             rl->addrlens[rl->addr]) < 0 && errno != EINPROGRESS)) {
		int e = errno;

		c->job = NULL;
		job->upc = NULL;
		conn_close(rl, c);
		errno = e;
		return -1;
	}
	return 0;
}

/* An event on C (EVENTS from epoll): go on with whatever it is doing. */
static void
conn_event(struct relay *rl, struct upconn *c, uint32_t events)
{
	int hup = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
	char b[64];
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	ssize_t r;

	switch (c->state) {
	case CONN_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 ||
		    soerr != 0) {
			conn_unreachable(rl, c);
			return;
		}
		STAT_ADD(rl->stats.connects, 1);
		conn_start(rl, c, c->job);
		return;
	case CONN_SENDING:
		conn_send(rl, c);
		if (c->state == CONN_HEAD)
			conn_read(rl, c, hup);
		return;
	case CONN_HEAD:
	case CONN_BODY:
		conn_read(rl, c, hup);
		return;
	case CONN_IDLE:
		/* The upstream closed it, or sent what nobody asked for (as
		 * nginx closes a cached upstream connection whose read event
		 * fires; relay_dispatch looks again before reusing it). */
		r = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		               errno != EINTR))
			conn_close(rl, c);
		return;
	default:
		return;
	}
}

/*
 * Whether the idle connection C may carry another request: nothing to
 * read and no end or error on it.  Bytes there are what the upstream
 * sent after the answer it was kept for (a second, unsolicited answer;
 * one byte past a body read to its Content-Length), and would be taken
 * for the next request's answer.  The idle event handler (conn_event)
 * sees most of them, but not bytes that came with the answer's last
 * read event (edge-triggered: read to the Content-Length, the rest
 * raised no new event) nor those whose event is still queued behind
 * this dispatch.  So look, as h2o's socket pool does before each reuse:
 * one recv(MSG_PEEK | MSG_DONTWAIT) of a byte, only EAGAIN meaning
 * clean.  That is one cheap system call (no copy, no wait) beside the
 * send and reads of the request it guards, and far less than the
 * connect it saves.  Bytes that come only after the request went out
 * cannot be told from its answer (HTTP/1.1 has no request ids): that is
 * why an answer whose end is a guess (204, 304, both framings) never
 * leaves its connection idle at all (upstream_head_parse).
 */
static int
conn_reusable(const struct upconn *c)
{
	char b;
	ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * Start waiting jobs, oldest first: on an idle connection (the latest)
 * that is still clean (conn_reusable; one that is not is closed and the
 * next tried, so the job goes out on a fresh connection rather than
 * being retried), else on a new one while fewer than
 * --upstream-connections are open.  A job to be retried wants a fresh
 * connection: an idle one is closed to make room if need be.
 */
static void
relay_dispatch(struct relay *rl)
{
	struct relay_job *job;

	while ((job = rl->waiting) != NULL) {
		struct upconn *c = NULL;

		if (!job->fresh && rl->idle != NULL) {
			c = rl->idle;
			if (!conn_reusable(c)) {
				conn_close(rl, c); /* takes it off the idle list */
				continue;
			}
			idle_remove(rl, c);
		} else if (rl->nopen >= rl->nconns) {
			if (rl->idle == NULL)
				return;
			conn_close(rl, rl->idle);
		}
		waiting_pop(rl);
		flight_add(rl, job);
		if (c != NULL) {
			conn_start(rl, c, job);
		} else if (conn_open(rl, job) < 0) {
			if (errno == ECONNREFUSED || errno == ENETUNREACH ||
			    errno == EHOSTUNREACH || errno == EADDRNOTAVAIL)
				job_unreachable(rl, job);
			else
				job_finish(job, RELAY_PROTOCOL); /* no fd, no memory */
		}
	}
}

/* End the jobs whose time ran out, in flight or waiting.  Returns the
 * microseconds until the next deadline, or -1. */
static long long
relay_expire(struct relay *rl)
{
	long long now = now_us(), next = -1;
	struct relay_job *job;

	while ((job = rl->flight) != NULL && job->deadline_us <= now) {
		if (job->upc != NULL) {
			/* Still connecting: the address may be gone. */
			if (job->upc->state == CONN_CONNECTING)
				relay_reresolve(rl);
			conn_close(rl, job->upc);
		}
		job_finish(job, RELAY_TIMEOUT);
	}
	while (rl->waiting != NULL && rl->waiting->deadline_us <= now)
		job_finish(waiting_pop(rl), RELAY_TIMEOUT);
	if (rl->flight != NULL)
		next = rl->flight->deadline_us - now;
	if (rl->waiting != NULL &&
	    (next < 0 || rl->waiting->deadline_us - now < next))
		next = rl->waiting->deadline_us - now;
	return next;
}

/* Append the jobs LIST (linked by next) to the waiting queue. */
static void
relay_enqueue(struct relay *rl, struct relay_job *list)
{
	struct relay_job *job;

	if (list == NULL)
		return;
	if (rl->waiting_tail != NULL)
		rl->waiting_tail->next = list;
	else
		rl->waiting = list;
	for (job = list; job->next != NULL; job = job->next)
		;
	rl->waiting_tail = job;
}

/* Reset the wake-up eventfd (its counter; nonblocking). */
static void
relay_drain(struct relay *rl)
{
	uint64_t v;

	if (read(rl->wakefd, &v, sizeof(v)) < 0)
		return; /* already reset: a wake-up raced the last one */
}

static void *
relay_loop(void *arg)
{
	struct relay *rl = arg;
	struct epoll_event ev[EVENTS_MAX];
	struct relay_job *job;
	unsigned i;

	for (;;) {
		struct relay_job *list;
		long long wait_us;
		int stopping, sleep, n, k;

		pthread_mutex_lock(&rl->lock);
		rl->sleeping = 0;
		if (rl->resolved) {
			memcpy(rl->addrs, rl->pending, sizeof(rl->addrs));
			memcpy(rl->addrlens, rl->pendinglens, sizeof(rl->addrlens));
			rl->naddrs = rl->npending;
			rl->addr = 0;
			rl->resolved = 0;
		}
		list = rl->submitted;
		rl->submitted = rl->submitted_tail = NULL;
		stopping = rl->stopping;
		pthread_mutex_unlock(&rl->lock);
		relay_enqueue(rl, list);
		if (stopping)
			break;
		relay_expire(rl);
		relay_dispatch(rl);
		wait_us = relay_expire(rl);
		/* Sleep unless requests came in meanwhile; a submitter wakes
		 * us only while we sleep (a wake-up costs two system calls). */
		pthread_mutex_lock(&rl->lock);
		sleep = rl->submitted == NULL && !rl->stopping;
		rl->sleeping = sleep;
		pthread_mutex_unlock(&rl->lock);
		n = epoll_wait(rl->epfd, ev, EVENTS_MAX,
		               !sleep ? 0
		               : wait_us < 0 ? -1
		               : (int)((wait_us + 999) / 1000 < 3600000
		                       ? (wait_us + 999) / 1000 : 3600000));
		for (k = 0; k < n; k++) {
			uint64_t key = ev[k].data.u64;
			struct upconn *c;

			if (key == 0) {
				relay_drain(rl);
				continue;
			}
			c = &rl->conns[(uint32_t)key - 1];
			if ((uint32_t)(key >> 32) == c->gen &&
			    c->state != CONN_CLOSED)
				conn_event(rl, c, ev[k].events);
		}
	}
	/* Stopping: end what is still in flight or waiting. */
	while (rl->waiting != NULL)
		job_complete(waiting_pop(rl), RELAY_STOPPED);
	while ((job = rl->flight) != NULL)
		job_finish(job, RELAY_STOPPED);
	for (i = 0; i < rl->nconns; i++)
		if (rl->conns[i].state != CONN_CLOSED)
			conn_close(rl, &rl->conns[i]);
	return NULL;
}

/* Look HOST:PORT up into ADDRS and LENS (at most ADDRS_MAX).  Returns
 * the number of addresses (0: none usable), or -1 with *RC set to
 * getaddrinfo's error. */
static int
addrs_lookup(const char *host, const char *port,
             struct sockaddr_storage *addrs, socklen_t *lens, int *rc)
{
	struct addrinfo hints, *res = NULL, *ai;
	int n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	*rc = getaddrinfo(host, port, &hints, &res);
	if (*rc != 0)
		return -1;
	for (ai = res; ai != NULL && n < ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(addrs[0]))
			continue;
		memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
		lens[n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	return n;
}

/* The resolver thread: when the relay thread asks (connects fail), look
 * the host up again, out of the relay thread's way (getaddrinfo blocks),
 * and leave the addresses for it in pending.  A failed lookup keeps the
 * old addresses. */
static void *
relay_resolver(void *arg)
{
	struct relay *rl = arg;
	struct sockaddr_storage addrs[ADDRS_MAX];
	socklen_t lens[ADDRS_MAX];

	memset(addrs, 0, sizeof(addrs));
	memset(lens, 0, sizeof(lens));
	pthread_mutex_lock(&rl->lock);
	for (;;) {
		int n, rc;

		while (!rl->resolve_wanted && !rl->stopping)
			pthread_cond_wait(&rl->resolve_cond, &rl->lock);
		if (rl->stopping)
			break;
		rl->resolve_wanted = 0;
		pthread_mutex_unlock(&rl->lock);
		n = addrs_lookup(rl->host, rl->port, addrs, lens, &rc);
		if (n < 0)
			log_warn("relay: cannot resolve the upstream host '%s' "
			         "again: %s (keeping its old addresses)", rl->host,
			         gai_strerror(rc));
		pthread_mutex_lock(&rl->lock);
		if (n > 0 && (n != (int)rl->npending ||
		              memcmp(addrs, rl->pending, sizeof(addrs)) != 0)) {
			memcpy(rl->pending, addrs, sizeof(addrs));
			memcpy(rl->pendinglens, lens, sizeof(lens));
			rl->npending = (unsigned)n;
			rl->resolved = 1;
			log_info("relay: the upstream host '%s' resolves to "
			         "other addresses now (%d): using them", rl->host,
			         n);
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return NULL;
}

/* Resolve the upstream host of U into RL's addresses, and build the
 * request from URL.  Returns 0, or -1 with ERR set. */
static int
relay_prepare(struct relay *rl, const char *url, const struct upstream_url *u,
              struct error *err)
{
	const char *path = u->path != NULL ? u->path
	                   : url + 7 + u->host_header; /* "?query" */
	size_t plen = strcspn(path, "#");
	int rc, n;

	n = addrs_lookup(u->host, u->port, rl->addrs, rl->addrlens, &rc);
	if (n < 0) {
		error_set(err, EXIT_UNAVAILABLE, "relay: cannot resolve the "
		          "upstream host '%s': %s", u->host, gai_strerror(rc));
		return -1;
	}
	rl->naddrs = (unsigned)n;
	memcpy(rl->pending, rl->addrs, sizeof(rl->addrs));
	rl->npending = rl->naddrs;
	if (rl->naddrs == 0) {
		error_set(err, EXIT_UNAVAILABLE, "relay: the upstream host '%s' "
		          "has no usable address", u->host);
		return -1;
	}
	n = snprintf(NULL, 0, "GET %s%.*s HTTP/1.1\r\nHost: %.*s\r\n"
	             "Accept: application/json\r\nUser-Agent: avatar-api/%s"
	             "\r\n\r\n", u->path != NULL ? "" : "/", (int)plen, path,
	             (int)u->host_header, u->authority, PACKAGE_VERSION);
	rl->request = malloc((size_t)n + 1);
	if (rl->request == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		return -1;
	}
	snprintf(rl->request, (size_t)n + 1, "GET %s%.*s HTTP/1.1\r\n"
	         "Host: %.*s\r\nAccept: application/json\r\n"
	         "User-Agent: avatar-api/%s\r\n\r\n",
	         u->path != NULL ? "" : "/", (int)plen, path,
	         (int)u->host_header, u->authority, PACKAGE_VERSION);
	rl->request_len = (size_t)n;
	return 0;
}

/* Whether HOST is an IPv4 or IPv6 address rather than a name. */
static int
host_is_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

struct relay *
relay_start(const struct config *cfg, int blocking, struct error *err)
{
	struct relay *rl;
	struct upstream_url u;
	struct epoll_event ev;
	unsigned i;

	if (upstream_url_parse(cfg->upstream, &u, err) < 0)
		return NULL;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		return NULL;
	}
	pthread_mutex_init(&rl->lock, NULL);
	pthread_cond_init(&rl->resolve_cond, NULL);
	rl->epfd = rl->wakefd = -1;
	rl->timeout_us = (long long)cfg->upstream_timeout_ms * 1000;
	rl->max_bytes = cfg->upstream_max_bytes;
	rl->blocking = blocking;
	rl->nconns = cfg->upstream_connections;
	rl->limit = cfg->upstream_connections + cfg->upstream_queue;
	rl->jobs = calloc(rl->limit, sizeof(struct relay_job *));
	rl->conns = calloc(rl->nconns, sizeof(struct upconn));
	if (rl->jobs == NULL || rl->conns == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		goto fail;
	}
	for (i = rl->nconns; i-- > 0;) {
		rl->conns[i].fd = -1;
		rl->conns[i].index = i;
		rl->conns[i].next = rl->free_conns;
		rl->free_conns = &rl->conns[i];
	}
	if (relay_prepare(rl, cfg->upstream, &u, err) < 0)
		goto fail;
	rl->epfd = epoll_create1(EPOLL_CLOEXEC);
	rl->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = 0;
	if (rl->epfd < 0 || rl->wakefd < 0 ||
	    epoll_ctl(rl->epfd, EPOLL_CTL_ADD, rl->wakefd, &ev) < 0) {
		error_set(err, EXIT_OSERR, "relay: epoll: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&rl->thread, NULL, relay_loop, rl) != 0) {
		error_set(err, EXIT_OSERR, "relay: cannot start its thread");
		goto fail;
	}
	rl->thread_started = 1;
	/* A host name may move (a container restarted): keep a resolver. */
	snprintf(rl->host, sizeof(rl->host), "%s", u.host);
	snprintf(rl->port, sizeof(rl->port), "%s", u.port);
	if (!host_is_address(rl->host)) {
		if (pthread_create(&rl->resolver, NULL, relay_resolver, rl)
		    != 0) {
			error_set(err, EXIT_OSERR, "relay: cannot start its "
			          "resolver thread");
			goto fail;
		}
		rl->resolver_started = 1;
	}
	return rl;

fail:
	relay_free(rl);
	return NULL;
}

struct relay_job *
relay_acquire(struct relay *rl)
{
	struct relay_job *job = NULL;

	pthread_mutex_lock(&rl->lock);
	if (!rl->stopping) {
		if (rl->free_jobs != NULL) {
			job = rl->free_jobs;
			rl->free_jobs = job->next;
		} else if (rl->njobs < rl->limit) {
			job = job_new(rl);
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return job;
}

/* Wake the relay thread out of epoll_wait. */
static void
relay_wake(struct relay *rl)
{
	uint64_t one = 1;

	if (write(rl->wakefd, &one, sizeof(one)) < 0)
		return; /* the counter is full: it is awake anyway */
}

void
relay_submit(struct relay_job *job, struct MHD_Connection *conn)
{
	struct relay *rl = job->rl;
	int stopping, wake;

	job->conn = conn;
	job->len = 0;
	job->next = job->prev = NULL;
	job->upc = NULL;
	job->running = job->retried = job->fresh = 0;
	job->tries = 0;
	__atomic_store_n(&job->done, 0, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_MONOTONIC, &job->start);
	job->deadline_us = (long long)job->start.tv_sec * 1000000 +
	                   job->start.tv_nsec / 1000 + rl->timeout_us;
	pthread_mutex_lock(&rl->lock);
	stopping = rl->stopping;
	wake = rl->sleeping;
	if (!stopping) {
		if (rl->submitted_tail != NULL)
			rl->submitted_tail->next = job;
		else
			rl->submitted = job;
		rl->submitted_tail = job;
		rl->sleeping = 0; /* one wake-up is enough */
	}
	pthread_mutex_unlock(&rl->lock);
	if (stopping)
		job_complete(job, RELAY_STOPPED);
	else if (wake)
		relay_wake(rl);
}

int
relay_done(const struct relay_job *job)
{
	return __atomic_load_n(&job->done, __ATOMIC_ACQUIRE);
}

void
relay_wait(struct relay_job *job)
{
	struct relay *rl = job->rl;

	pthread_mutex_lock(&rl->lock);
	while (!__atomic_load_n(&job->done, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&job->cond, &rl->lock);
	pthread_mutex_unlock(&rl->lock);
}

void
relay_release(struct relay_job *job)
{
	struct relay *rl = job->rl;
	char *drop = NULL;

	if (job->cap > BUF_KEEP) {
		drop = job->buf;
		job->buf = NULL;
		job->cap = 0;
	}
	job->len = 0;
	pthread_mutex_lock(&rl->lock);
	job->next = rl->free_jobs;
	rl->free_jobs = job;
	pthread_mutex_unlock(&rl->lock);
	free(drop);
}

/* MHD frees a response that owns a slot's buffer: return the slot. */
static void
job_response_freed(void *cls)
{
	relay_release(cls);
}

struct MHD_Response *
relay_response(struct relay_job *job, const char *location, int closing,
               unsigned *status, enum route_status *index)
{
	const char *body;

	if (job->kind == RELAY_OK) {
		struct MHD_Response *resp;

		*status = MHD_HTTP_OK;
		*index = STATUS_200;
		resp = MHD_create_response_from_buffer_with_free_callback_cls(
			job->len, job->buf, job_response_freed, job);
		if (resp == NULL) {
			relay_release(job);
			return NULL;
		}
		/* From here the response owns the slot: destroying it returns
		 * the slot. */
		if (routes_headers(resp, NULL, closing) < 0 ||
		    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
		                            location) != MHD_YES) {
			MHD_destroy_response(resp);
			return NULL;
		}
		return resp;
	}
	switch (job->kind) {
	case RELAY_TIMEOUT:
		*status = MHD_HTTP_GATEWAY_TIMEOUT;
		*index = STATUS_504;
		break;
	case RELAY_STOPPED:
		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		*index = STATUS_503;
		break;
	default:
		*status = MHD_HTTP_BAD_GATEWAY;
		*index = STATUS_502;
		break;
	}
	body = kind_bodies[job->kind];
	relay_release(job);
	return routes_response(body, strlen(body), NULL, closing);
}

struct MHD_Response *
relay_busy_response(int closing, unsigned *status, enum route_status *index)
{
	*status = MHD_HTTP_SERVICE_UNAVAILABLE;
	*index = STATUS_503;
	return routes_response(body_busy, strlen(body_busy), NULL, closing);
}

void
relay_stop(struct relay *rl)
{
	if (rl == NULL || !rl->thread_started)
		return;
	pthread_mutex_lock(&rl->lock);
	rl->stopping = 1;
	pthread_cond_signal(&rl->resolve_cond);
	pthread_mutex_unlock(&rl->lock);
	relay_wake(rl);
	pthread_join(rl->thread, NULL);
	rl->thread_started = 0;
	if (rl->resolver_started) {
		pthread_join(rl->resolver, NULL);
		rl->resolver_started = 0;
	}
}

void
relay_free(struct relay *rl)
{
	unsigned i;

	if (rl == NULL)
		return;
	relay_stop(rl);
	for (i = 0; rl->jobs != NULL && i < rl->njobs; i++) {
		struct relay_job *job = rl->jobs[i];

		if (job == NULL)
			continue;
		pthread_cond_destroy(&job->cond);
		free(job->buf);
		free(job);
	}
	free(rl->jobs);
	for (i = 0; rl->conns != NULL && i < rl->nconns; i++) {
		if (rl->conns[i].fd >= 0)
			close(rl->conns[i].fd);
		free(rl->conns[i].head);
	}
	free(rl->conns);
	free(rl->request);
	if (rl->epfd >= 0)
		close(rl->epfd);
	if (rl->wakefd >= 0)
		close(rl->wakefd);
	pthread_cond_destroy(&rl->resolve_cond);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void
relay_metrics(struct relay *rl, FILE *f)
{
	const struct relay_stats *s = &rl->stats;
	unsigned long cum = 0;
	size_t b;
	int k;

	fprintf(f, "# HELP avatar_api_upstream_requests_total Upstream "
	        "requests that ended, whatever the result.\n"
	        "# TYPE avatar_api_upstream_requests_total counter\n"
	        "avatar_api_upstream_requests_total %lu\n"
	        "# HELP avatar_api_upstream_errors_total Upstream requests "
	        "that failed, by kind.\n"
	        "# TYPE avatar_api_upstream_errors_total counter\n",
	        LOAD(s->requests));
	for (k = 1; k < RELAY_KIND_COUNT; k++)
		fprintf(f, "avatar_api_upstream_errors_total{kind=\"%s\"} %lu\n",
		        kind_names[k], LOAD(s->errors[k]));
	fprintf(f, "# HELP avatar_api_upstream_connections_opened_total TCP "
	        "connections opened to the upstream (kept alive and reused).\n"
	        "# TYPE avatar_api_upstream_connections_opened_total counter\n"
	        "avatar_api_upstream_connections_opened_total %lu\n"
	        "# HELP avatar_api_upstream_duration_seconds Time from a "
	        "request's submission to its upstream answer.\n"
	        "# TYPE avatar_api_upstream_duration_seconds histogram\n",
	        LOAD(s->connects));
	for (b = 0; b <= NBUCKETS; b++) {
		cum += LOAD(s->buckets[b]);
		if (b < NBUCKETS)
			fprintf(f, "avatar_api_upstream_duration_seconds_bucket"
			        "{le=\"%g\"} %lu\n", (double)bucket_us[b] / 1e6, cum);
		else
			fprintf(f, "avatar_api_upstream_duration_seconds_bucket"
			        "{le=\"+Inf\"} %lu\n", cum);
	}
	fprintf(f, "avatar_api_upstream_duration_seconds_sum %.6f\n"
	        "avatar_api_upstream_duration_seconds_count %lu\n",
	        (double)LOAD(s->sum_us) / 1e6, cum);
}
