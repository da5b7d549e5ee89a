/* front.c -- relay mode's front end: the relay thread answers the common
 * request itself, and hands every other connection to libmicrohttpd
 * (see front.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <microhttpd.h>

#include "atomicvar.h"
#include "clock.h"
#include "deadline.h"
#include "front.h"
#include "front_request.h"
#include "proxy.h"
#include "stats.h"
#include "wire.h"

/* A request the front end answers fits in one read of this many bytes
 * (a larger read is handed on).  wrk's is 40 bytes, curl's 80, an
 * avatar-api relay's about 100. */
#define FRONT_READ_MAX 2048

/* The answers by kind: the relay's error kinds, then these. */
#define ANSWER_BUSY RELAY_KIND_COUNT     /* 503 upstream queue full */
#define ANSWER_USER_NOT_FOUND (RELAY_KIND_COUNT + 1)
#define ANSWERS (RELAY_KIND_COUNT + 2)

/* A fixed byte string, made at start. */
struct bytes {
	char *p;
	size_t len;
};

/* One CORS slot's heads: all but the Date's value and, for a 200, what
 * comes from the upstream. */
struct front_slot {
	struct bytes ok_tail;              /* Cache-Control ... and
	                                    * "Content-Length: " */
	struct bytes fixed[ANSWERS];       /* "\r\n" ... the body, of each
	                                    * error answer (RELAY_OK: none) */
};

enum conn_state {
	CONN_IDLE,     /* between requests: reads */
	CONN_WAITING,  /* its job runs upstream */
	CONN_WRITING   /* its answer waits for room in the socket */
};

/* One client connection: malloc'd when taken, freed when closed or
 * handed on (a per-connection cost, as libmicrohttpd's own). */
struct front_conn {
	struct front *f;
	int fd;
	enum conn_state state;
	int readable;               /* input came while not idle */
	int closing;                /* its answer says "Connection: close" */
	unsigned slot;
	enum route route;
	struct relay_job *job;      /* waiting, or a 200 being written (its
	                             * body) */
	struct iovec iov[9];        /* the answer still to write */
	int iov_at, iov_n;
	char date[32];
	char fields[RELAY_ETAG_MAX + RELAY_CODING_MAX + 64];
	char length[32];            /* "N\r\n\r\n" */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct front_conn *prev, *next; /* F's connections, or the queue */
	struct front_conn *ready;   /* F's ready list */
};

struct front {
	struct front_env env;
	unsigned slots;
	struct front_slot *slot;
	struct bytes status_ok;               /* "HTTP/1.1 200 OK\r\nDate: " */
	struct bytes status[ANSWERS];         /* the error answers' */
	struct bytes ok_list, ok_user;        /* "\r\nContent-Type: ...
	                                       * Location: PATH" ("PATH/") */
	char buf[FRONT_READ_MAX];             /* the relay thread's */
	time_t date_at;                       /* the second DATE is of */
	char date[32];
	size_t date_len;
	struct front_conn *conns;             /* relay thread only */
	struct front_conn **by_fd;            /* their event data: the
	                                       * descriptor (wire_fds of
	                                       * them, mapped lazily) */
	size_t nfd;
	struct front_conn *ready;             /* idle again, with input to
	                                       * read (front_drain) */
	/* The acceptor's hand-over. */
	pthread_mutex_t lock;
	struct front_conn *queue;             /* under lock */
	int queued;                           /* atomic: queue not empty */
	unsigned long answered, handed;       /* atomic; the relay
	                                       * thread's writes */
};

/* --- the heads, made once ----------------------------------------- */

/* A growing byte string for the heads.  -1 if out of memory. */
static int
bytes_add(struct bytes *b, const char *s, size_t n)
{
	char *p = realloc(b->p, b->len + n + 1);

	if (p == NULL)
		return -1;
	memcpy(p + b->len, s, n);
	b->len += n;
	p[b->len] = '\0';
	b->p = p;
	return 0;
}

static int
bytes_str(struct bytes *b, const char *s)
{
	return bytes_add(b, s, strlen(s));
}

/* MHD_get_response_headers' iterator: "KEY: VALUE\r\n" onto CLS. */
static enum MHD_Result
head_line(void *cls, enum MHD_ValueKind kind, const char *key,
          const char *value)
{
	struct bytes *b = cls;

	(void)kind;
	if (bytes_str(b, key) < 0 || bytes_add(b, ": ", 2) < 0 ||
	    bytes_str(b, value) < 0 || bytes_add(b, "\r\n", 2) < 0) {
		free(b->p);
		b->p = NULL; /* out of memory: stop, and say so */
		b->len = (size_t)-1;
		return MHD_NO;
	}
	return MHD_YES;
}

/* Append RESP's header lines, in libmicrohttpd's order, to B: the very
 * lines it sends for RESP.  -1 if out of memory. */
static int
bytes_headers(struct bytes *b, struct MHD_Response *resp)
{
	if (resp == NULL)
		return -1;
	MHD_get_response_headers(resp, head_line, b);
	return b->len == (size_t)-1 ? -1 : 0;
}

/* A response with no body to collect header lines from. */
static struct MHD_Response *
proto_new(void)
{
	return MHD_create_response_from_buffer(0, (void *)"",
	                                       MHD_RESPMEM_PERSISTENT);
}

/* "HTTP/1.1 STATUS REASON\r\nDate: " into B. */
static int
status_line(struct bytes *b, unsigned status)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "HTTP/1.1 %u %s\r\nDate: ", status,
	                 MHD_get_reason_phrase_for(status));

	return n > 0 && (size_t)n < sizeof(line) ? bytes_add(b, line, (size_t)n)
	       : -1;
}

/* B = "\r\n", the header lines of HEADS and of TAIL (may be NULL),
 * "Content-Length: " and, with BODY, its length and BODY itself. */
static int
answer_fixed(struct bytes *b, struct MHD_Response *heads,
             struct MHD_Response *tail, const char *body)
{
	char n[32];

	if (bytes_add(b, "\r\n", 2) < 0 || bytes_headers(b, heads) < 0 ||
	    (tail != NULL && bytes_headers(b, tail) < 0) ||
	    bytes_str(b, "Content-Length: ") < 0)
		return -1;
	if (body == NULL)
		return 0;
	snprintf(n, sizeof(n), "%zu\r\n\r\n", strlen(body));
	return bytes_str(b, n) < 0 || bytes_str(b, body) < 0 ? -1 : 0;
}

/* The heads of slot S of R: made from responses built by the very
 * functions proxy.c builds the relay's answers with.  -1 if out of
 * memory. */
static int
slot_make(struct front_slot *s, const struct routes *r, unsigned slot)
{
	struct MHD_Response *common = proto_new(), *data = proto_new(),
	                    *error = proto_new();
	unsigned k;
	int bad = common == NULL || data == NULL || error == NULL ||
	          routes_headers(common, NULL, 0) < 0 ||
	          routes_data_headers(r, data, slot) < 0 ||
	          routes_error_headers(r, error, slot) < 0;

	if (!bad)
		bad = bytes_headers(&s->ok_tail, data) < 0 ||
		      bytes_str(&s->ok_tail, "Content-Length: ") < 0;
	for (k = 0; !bad && k < ANSWERS; k++) {
		if (k == RELAY_OK)
			continue;
		if (k == ANSWER_USER_NOT_FOUND)
			bad = answer_fixed(&s->fixed[k],
			                   routes_user_not_found(r, slot), NULL,
			                   ROUTES_BODY_USER_NOT_FOUND) < 0;
		else
			bad = answer_fixed(&s->fixed[k], common, error,
			                   proxy_error_body(
			                       (enum relay_kind)k)) < 0;
	}
	if (common != NULL)
		MHD_destroy_response(common);
	if (data != NULL)
		MHD_destroy_response(data);
	if (error != NULL)
		MHD_destroy_response(error);
	return bad ? -1 : 0;
}

/* The status of answer K, and its counter. */
static unsigned
answer_status(unsigned k)
{
	return k == ANSWER_USER_NOT_FOUND ? 404
	       : proxy_error_status((enum relay_kind)k);
}

static enum route_status
answer_index(unsigned k)
{
	return k == ANSWER_USER_NOT_FOUND ? STATUS_404
	       : proxy_error_index((enum relay_kind)k);
}

/* "\r\n", the common header lines and "Location: WHERE" into B. */
static int
ok_head(struct bytes *b, const char *where)
{
	struct MHD_Response *common = proto_new();
	int bad = common == NULL || routes_headers(common, NULL, 0) < 0 ||
	          bytes_add(b, "\r\n", 2) < 0 ||
	          bytes_headers(b, common) < 0 ||
	          bytes_str(b, MHD_HTTP_HEADER_LOCATION ": ") < 0 ||
	          bytes_str(b, where) < 0;

	if (common != NULL)
		MHD_destroy_response(common);
	return bad ? -1 : 0;
}

struct front *
front_new(const struct routes *r, struct error *err)
{
	struct front *f = calloc(1, sizeof(*f));
	unsigned k;
	int bad;

	if (f == NULL)
		goto oom;
	pthread_mutex_init(&f->lock, NULL);
	f->nfd = wire_fds();
	f->by_fd = calloc(f->nfd, sizeof(struct front_conn *));
	if (f->by_fd == NULL)
		goto oom;
	f->slots = r->slots;
	f->slot = calloc(r->slots, sizeof(*f->slot));
	bad = f->slot == NULL || status_line(&f->status_ok, 200) < 0 ||
	      ok_head(&f->ok_list, r->path) < 0 ||
	      ok_head(&f->ok_user, r->prefix) < 0;
	for (k = 0; !bad && k < ANSWERS; k++)
		bad = k != RELAY_OK && status_line(&f->status[k],
		                                   answer_status(k)) < 0;
	for (k = 0; !bad && k < r->slots; k++)
		bad = slot_make(&f->slot[k], r, k) < 0;
	if (!bad)
		return f;
oom:
	front_free(f);
	error_set(err, EXIT_OSERR, "cannot build the relay's answers: out of "
	          "memory");
	return NULL;
}

void
front_free(struct front *f)
{
	struct front_conn *c;
	unsigned k, i;

	if (f == NULL)
		return;
	while ((c = f->queue) != NULL) { /* never taken: the relay stopped */
		f->queue = c->next;
		close(c->fd);
		free(c);
	}
	for (k = 0; f->slot != NULL && k < f->slots; k++) {
		free(f->slot[k].ok_tail.p);
		for (i = 0; i < ANSWERS; i++)
			free(f->slot[k].fixed[i].p);
	}
	for (i = 0; i < ANSWERS; i++)
		free(f->status[i].p);
	free(f->slot);
	free(f->by_fd);
	free(f->status_ok.p);
	free(f->ok_list.p);
	free(f->ok_user.p);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void
front_bind(struct front *f, const struct front_env *env)
{
	f->env = *env;
}

void
front_counts(const struct front *f, unsigned long *answered,
             unsigned long *handed)
{
	*answered = atom_load(f->answered);
	*handed = atom_load(f->handed);
}

/* --- connections ---------------------------------------------------- */

void
front_take(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct front *f = arg;
	struct front_conn *c = calloc(1, sizeof(*c));

	if (c == NULL || len > sizeof(c->addr)) {
		/* Out of memory: the client sees a close, and may retry. */
		free(c);
		acceptor_closing(f->env.acceptor, fd);
		close(fd);
		return;
	}
	c->f = f;
	c->fd = fd;
	memcpy(&c->addr, sa, len);
	c->addr_len = len;
	pthread_mutex_lock(&f->lock);
	c->next = f->queue;
	f->queue = c;
	atom_store(f->queued, 1);
	pthread_mutex_unlock(&f->lock);
	relay_wake(f->env.relay);
}

static void
conn_unlink(struct front_conn *c)
{
	struct front *f = c->f;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		f->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	f->by_fd[c->fd] = NULL;
}

/* Close C (not waiting for its job, not linked) and free it. */
static void
conn_free(struct front_conn *c)
{
	if (c->job != NULL)
		relay_release(c->job);
	acceptor_closing(c->f->env.acceptor, c->fd);
	close(c->fd);
	free(c);
}

/* Close C (linked, not waiting for its job) and free it. */
static void
conn_close(struct front_conn *c)
{
	conn_unlink(c);
	conn_free(c);
}

/* Hand C to libmicrohttpd, with the N bytes of BUF read of it, and free
 * C.  libmicrohttpd's close notification counts it out in the end, or
 * if it cannot take it (it then closed the socket), here. */
static void
conn_hand(struct front_conn *c, const char *buf, size_t n)
{
	struct front *f = c->f;
	int fd = c->fd;

	epoll_ctl(relay_epoll(f->env.relay), EPOLL_CTL_DEL, fd, NULL);
	if (n > 0 && wire_stash(fd, buf, n) < 0) {
		conn_close(c);
		return;
	}
	conn_unlink(c);
	atom_bump(f->handed, 1);
	if (MHD_add_connection(f->env.daemon, fd, (struct sockaddr *)&c->addr,
	                       c->addr_len) != MHD_YES)
		acceptor_closing(f->env.acceptor, fd);
	free(c);
}

static void conn_read(struct front_conn *c);

/* The connections the acceptor queued, taken off the queue. */
static struct front_conn *
queue_take(struct front *f)
{
	struct front_conn *c;

	pthread_mutex_lock(&f->lock);
	c = f->queue;
	f->queue = NULL;
	atom_store(f->queued, 0);
	pthread_mutex_unlock(&f->lock);
	return c;
}

/* Read the connections that became idle with input waiting (conn_done).
 * Ends every entry from the relay thread (its events, its completions,
 * its turns), so that the list is empty between them. */
static void
front_drain(struct front *f)
{
	struct front_conn *c;

	while ((c = f->ready) != NULL) {
		f->ready = c->ready;
		c->ready = NULL;
		conn_read(c);
	}
}

/* Take the connections the acceptor queued into the relay's epoll set.
 * The hooks' TURN. */
static void
front_turn(void *arg)
{
	struct front *f = arg;
	struct front_conn *c, *next;
	struct epoll_event ev;

	if (!atom_load(f->queued)) {
		front_drain(f);
		return;
	}
	for (c = queue_take(f); c != NULL; c = next) {
		next = c->next;
		/* Its request deadline, as libmicrohttpd's notification
		 * arms it for a new connection. */
		deadline_arm(f->env.deadlines, c->fd);
		/* Edge-triggered: one event per arrival (conn_read reads
		 * everything there is in one call, or hands it on). */
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.u64 = RELAY_FRONT_TAG | (uint64_t)c->fd;
		if ((size_t)c->fd >= f->nfd) {
			conn_free(c); /* cannot happen: wire_attach refused it */
			continue;
		}
		if (epoll_ctl(relay_epoll(f->env.relay), EPOLL_CTL_ADD, c->fd,
		              &ev) < 0) {
			conn_free(c);
			continue;
		}
		f->by_fd[c->fd] = c;
		c->prev = NULL;
		c->next = f->conns;
		if (f->conns != NULL)
			f->conns->prev = c;
		f->conns = c;
	}
	front_drain(f);
}

/* The relay loop ended (every job done): close what is left.  The
 * hooks' STOPPED. */
static void
front_stopped(void *arg)
{
	struct front *f = arg;
	struct front_conn *c, *next;

	for (c = f->conns; c != NULL; c = next) {
		next = c->next;
		conn_free(c);
	}
	f->conns = NULL;
	f->ready = NULL;
	for (c = queue_take(f); c != NULL; c = next) {
		next = c->next;
		conn_free(c);
	}
}

/* --- the request ------------------------------------------------------ */

/* The Date value libmicrohttpd 0.9.75 sends (RFC 9110 5.6.7), made once
 * a second (time(2) is a vDSO call). */
static const char *
front_date(struct front *f)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu",
	                                "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
	                                   "Jun", "Jul", "Aug", "Sep", "Oct",
	                                   "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (now == f->date_at && f->date_len > 0)
		return f->date;
	if (gmtime_r(&now, &tm) == NULL)
		return f->date;
	n = snprintf(f->date, sizeof(f->date),
	             "%s, %02d %s %04d %02d:%02d:%02d GMT",
	             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	f->date_len = n > 0 && (size_t)n < sizeof(f->date) ? (size_t)n : 0;
	f->date_at = now;
	return f->date;
}

/* C's answer is written (or its client gone): count it, return its
 * job, and read on. */
static void
conn_done(struct front_conn *c)
{
	struct front *f = c->f;

	if (c->job != NULL) {
		relay_release(c->job);
		c->job = NULL;
	}
	c->state = CONN_IDLE;
	if (c->closing) {
		/* As libmicrohttpd ends a connection after "Connection:
		 * close": the FIN, then the close. */
		wire_completed(c->fd);
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
		return;
	}
	/* The next request's deadline clock starts; a peer that has
	 * half-closed is shut down (then read: end of file). */
	deadline_arm(f->env.deadlines, c->fd);
	if (wire_completed(c->fd))
		acceptor_count_out(f->env.acceptor, c->fd);
	if (c->readable) {
		/* Read by front_drain, at the end of this event: no
		 * recursion through a busy answer. */
		c->readable = 0;
		c->ready = f->ready;
		f->ready = c;
	}
}

/* Write what is left of C's answer, without blocking. */
static void
conn_write(struct front_conn *c)
{
	struct msghdr msg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = c->iov + c->iov_at;
	msg.msg_iovlen = (size_t)(c->iov_n - c->iov_at);
	n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			/* A client that does not read gets the deadline's
			 * time to make room (the sweep shuts it down). */
			if (c->state != CONN_WRITING)
				deadline_arm(c->f->env.deadlines, c->fd);
			c->state = CONN_WRITING;
			return;
		}
		conn_close(c);
		return;
	}
	while (c->iov_at < c->iov_n && (size_t)n >= c->iov[c->iov_at].iov_len)
		n -= (ssize_t)c->iov[c->iov_at++].iov_len;
	if (c->iov_at < c->iov_n) {
		c->iov[c->iov_at].iov_base = (char *)c->iov[c->iov_at].iov_base + n;
		c->iov[c->iov_at].iov_len -= (size_t)n;
		if (c->state != CONN_WRITING)
			deadline_arm(c->f->env.deadlines, c->fd);
		c->state = CONN_WRITING;
		return;
	}
	conn_done(c);
}

/* Count C's answer (STATUS, INDEX) in this thread's counters, as the
 * handler and the completion notification do for libmicrohttpd's.
 * Returns non-zero if the answer is to say "Connection: close" (the
 * server is stopping: the published set is closing). */
static int
conn_count(struct front_conn *c, unsigned status, enum route_status index,
           uint64_t start_us)
{
	struct front *f = c->f;
	struct stats *counts = epoch_enter(f->env.epoch);
	int closing = atom_load_acquire(*f->env.active)->closing;

	stats_count(counts, c->route, index);
	stats_observe(counts, c->route, status,
	              (unsigned long)(clock_us() - start_us));
	epoch_leave(f->env.epoch, counts);
	atom_bump(f->answered, 1);
	return closing;
}

static void
iov_set(struct iovec *v, const void *p, size_t len)
{
	v->iov_base = (void *)p;
	v->iov_len = len;
}

/* The iovecs of an answer: its status line, the Date's value, and with
 * CLOSING (when the server stops) "Connection: close" first of the
 * header lines, as libmicrohttpd puts it (add_user_headers). */
static struct iovec *
answer_start(struct front_conn *c, const struct bytes *status, int closing)
{
	static const char close_line[] = "\r\n" MHD_HTTP_HEADER_CONNECTION
	                                 ": close";
	struct front *f = c->f;
	const char *date = front_date(f);
	struct iovec *v = c->iov;

	memcpy(c->date, date, f->date_len);
	iov_set(v++, status->p, status->len);
	iov_set(v++, c->date, f->date_len);
	if (closing)
		iov_set(v++, close_line, sizeof(close_line) - 1);
	c->closing = closing;
	c->iov_at = 0;
	return v;
}

/* Answer C with the fixed answer K (an error, or "user not found"). */
static void
conn_answer_fixed(struct front_conn *c, unsigned k, uint64_t start_us)
{
	struct front *f = c->f;
	const struct bytes *tail = &f->slot[c->slot].fixed[k];
	int closing = conn_count(c, answer_status(k), answer_index(k), start_us);
	struct iovec *v = answer_start(c, &f->status[k], closing);

	iov_set(v++, tail->p, tail->len);
	c->iov_n = (int)(v - c->iov);
	conn_write(c);
}

/* Append "NAME: VALUE\r\n" (and a NUL) at P.  Returns the end. */
static char *
put_field(char *p, const char *name, const char *value)
{
	p = stpcpy(p, name);
	p = stpcpy(p, ": ");
	p = stpcpy(p, value);
	return stpcpy(p, "\r\n");
}

/* The relay's completion (relay_done_fn; ARG is the connection): answer
 * as proxy_response would, from the heads made at start. */
static void
front_done(void *arg, struct relay_job *job, const struct relay_outcome *out)
{
	struct front_conn *c = arg;
	struct front *f = c->f;
	uint64_t start_us = relay_job_started_us(job);
	const char *id = relay_job_id(job);
	const struct bytes *head = id != NULL ? &f->ok_user : &f->ok_list;
	const struct bytes *tail = &f->slot[c->slot].ok_tail;
	char *p = c->fields;
	struct iovec *v;
	int n, closing;

	if (out->kind != RELAY_OK || out->status < 200 || out->status > 299) {
		unsigned k = out->kind == RELAY_OK && out->status == 404 &&
		             id != NULL ? ANSWER_USER_NOT_FOUND
		             : (unsigned)out->kind;

		relay_release(job);
		c->job = NULL;
		conn_answer_fixed(c, k, start_us);
		return;
	}
	/* The 200: its fields in answer_ok's order. */
	closing = conn_count(c, 200, STATUS_200, start_us);
	v = answer_start(c, &f->status_ok, closing);
	p = stpcpy(p, "\r\n");
	if (out->etag != NULL)
		p = put_field(p, MHD_HTTP_HEADER_ETAG, out->etag);
	if (out->encoding != NULL)
		p = put_field(p, MHD_HTTP_HEADER_CONTENT_ENCODING, out->encoding);
	n = snprintf(c->length, sizeof(c->length), "%zu\r\n\r\n", out->len);
	iov_set(v++, head->p, head->len);
	if (id != NULL)
		iov_set(v++, id, strlen(id));
	iov_set(v++, c->fields, (size_t)(p - c->fields));
	iov_set(v++, tail->p, tail->len);
	iov_set(v++, c->length, (size_t)n);
	iov_set(v++, out->body, out->len);
	c->iov_n = (int)(v - c->iov);
	conn_write(c); /* the job (its body) is returned once written */
	front_drain(f);
}

/*
 * Serve the request of N bytes in F's buffer, the whole of what C sent,
 * if it is one the front end answers: send it upstream.  Returns 0, or
 * -1 to hand C on (nothing done yet).
 */
static int
conn_request(struct front_conn *c, size_t n)
{
	struct front *f = c->f;
	struct front_request req;
	struct relay_fields fields = {NULL, NULL, NULL, NULL, NULL};
	struct routes_answer a;
	const struct routes *r;
	struct stats *counts;
	struct relay_job *job;
	const char *id = NULL;

	if (!wire_single(c->fd) || front_request_parse(f->buf, n, &req) < 0)
		return -1;
	counts = epoch_enter(f->env.epoch);
	r = atom_load_acquire(*f->env.active);
	/* Stopping (answers say "Connection: close"), or not a relayed
	 * route: libmicrohttpd's. */
	if (r->closing) {
		epoch_leave(f->env.epoch, counts);
		front_request_restore(&req);
		return -1;
	}
	routes_match(r, req.target, MHD_HTTP_METHOD_GET, NULL, &a);
	if (a.route == ROUTE_USER)
		id = req.target + r->prefix_len;
	epoch_leave(f->env.epoch, counts);
	if (!a.relay || a.slot >= f->slots) {
		front_request_restore(&req);
		return -1;
	}
	c->route = a.route;
	c->slot = a.slot;
	job = relay_acquire(f->env.relay);
	if (job == NULL) {
		deadline_clear(f->env.deadlines, c->fd);
		conn_answer_fixed(c, ANSWER_BUSY, clock_us());
		return 0;
	}
	fields.accept_encoding = req.accept_encoding;
	if ((id != NULL && relay_target(job, id) < 0) ||
	    relay_forward(job, &fields) < 0) {
		relay_release(job);
		front_request_restore(&req);
		return -1;
	}
	/* The request is in: its deadline is off until the answer. */
	deadline_clear(f->env.deadlines, c->fd);
	c->job = job;
	c->state = CONN_WAITING;
	relay_submit_here(job, front_done, c);
	return 0;
}

/* Read C's next request (C is idle): answer it, or hand C on. */
static void
conn_read(struct front_conn *c)
{
	struct front *f = c->f;
	ssize_t n;

	/* recv is wire.c's: the framing check sees the bytes first. */
	n = recv(c->fd, f->buf, sizeof(f->buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	              errno == EINTR))
		return;
	if (n <= 0) {
		/* The end, an error, or a refusal the check answered. */
		conn_close(c);
		return;
	}
	if ((size_t)n == sizeof(f->buf) || conn_request(c, (size_t)n) < 0)
		conn_hand(c, f->buf, (size_t)n);
}

/* An event on a connection.  The hooks' EVENT. */
static void
front_event(void *arg, uint64_t data, uint32_t events)
{
	struct front *f = arg;
	struct front_conn *c = f->by_fd[data];

	/* Closed earlier in this batch (a completion before it). */
	if (c == NULL)
		return;

	if (c->state == CONN_IDLE) {
		if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0)
			conn_read(c);
	} else {
		/* Edge-triggered: remember input for when the answer is
		 * out. */
		if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0)
			c->readable = 1;
		if (c->state == CONN_WRITING &&
		    (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0)
			conn_write(c);
	}
	front_drain(f);
}

void
front_hooks(struct front *f, struct relay_front *hooks)
{
	hooks->event = front_event;
	hooks->turn = front_turn;
	hooks->stopped = front_stopped;
	hooks->arg = f;
}
